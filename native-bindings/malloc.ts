// The FFI surface for glibc's allocator: malloc_trim(3) and mallopt(3), through koffi. Nothing but the
// bindings live here; when the agent uses them is src/agent/heap-keeper.ts' business.
import koffi from 'koffi';

interface Glibc {
  mallocTrim: (pad: number) => number;
  mallopt: (param: number, value: number) => number;
}

/** undefined: not looked up yet; null: this libc is not glibc (musl, say). */
let glibcFns: Glibc | null | undefined;

function glibc(): Glibc | null {
  if (glibcFns !== undefined) return glibcFns;
  try {
    const lib = koffi.load('libc.so.6');
    glibcFns = {
      mallocTrim: lib.func('int malloc_trim(size_t pad)') as Glibc['mallocTrim'],
      mallopt: lib.func('int mallopt(int param, int value)') as Glibc['mallopt'],
    };
  } catch {
    glibcFns = null;
  }
  return glibcFns;
}

/** Whether this process's C library can trim (glibc's malloc_trim). */
export function canTrimMalloc(): boolean {
  return glibc() !== null;
}

/**
 * glibc's malloc_trim(0), on the calling thread: hand the free pages of every malloc arena back to the
 * system, those in the middle of an arena too (glibc by itself returns only an arena's free top, past a
 * threshold). Returns whether any memory was released; false where unavailable.
 */
export function trimMalloc(): boolean {
  return glibc()?.mallocTrim(0) === 1;
}

/** mallopt(3)'s M_MMAP_THRESHOLD (malloc.h). */
const M_MMAP_THRESHOLD = -3;

/**
 * Fix glibc's mmap threshold at `bytes`: every block at least that large gets its own mapping, given
 * back to the system when freed. Left alone, glibc raises the threshold to the size of each mapped block
 * freed (up to 32 MB), and blocks under it come from the arenas, where freeing them leaves the pages
 * resident. Returns whether glibc took it; false where unavailable.
 */
export function fixMmapThreshold(bytes: number): boolean {
  return glibc()?.mallopt(M_MMAP_THRESHOLD, bytes) === 1;
}
