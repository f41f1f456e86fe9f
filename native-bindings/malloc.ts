// The FFI surface for glibc's allocator: malloc_trim(3), through koffi. Nothing but the binding lives
// here; when the agent trims is src/agent/heap-keeper.ts' business.
import koffi from 'koffi';

/** undefined: not looked up yet; null: this libc has no malloc_trim (musl, say). */
let trimFn: ((pad: number) => number) | null | undefined;

function trimFunction(): ((pad: number) => number) | null {
  if (trimFn !== undefined) return trimFn;
  try {
    trimFn = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
  } catch {
    trimFn = null;
  }
  return trimFn;
}

/** Whether this process's C library can trim (glibc's malloc_trim). */
export function canTrimMalloc(): boolean {
  return trimFunction() !== null;
}

/**
 * glibc's malloc_trim(0), on the calling thread: hand the free pages of every malloc arena back to the
 * system, those in the middle of an arena too (glibc by itself returns only an arena's free top, past a
 * threshold). Returns whether any memory was released; false where unavailable.
 */
export function trimMalloc(): boolean {
  const trim = trimFunction();
  return trim ? trim(0) === 1 : false;
}

/** mallopt(3)'s M_MMAP_THRESHOLD (malloc.h). */
const M_MMAP_THRESHOLD = -3;
let malloptFn: ((param: number, value: number) => number) | null | undefined;

/**
 * Fix glibc's mmap threshold at `bytes`: every block at least that large gets its own mapping, given
 * back to the system when freed. Left alone, glibc raises the threshold to the size of each mapped block
 * freed (up to 32 MB), and blocks under it come from the arenas, where freeing them leaves the pages
 * resident. Returns whether glibc took it; false where unavailable.
 */
export function fixMmapThreshold(bytes: number): boolean {
  if (malloptFn === undefined) {
    try {
      malloptFn = koffi.load('libc.so.6').func('int mallopt(int param, int value)') as (param: number, value: number) => number;
    } catch {
      malloptFn = null;
    }
  }
  return malloptFn ? malloptFn(M_MMAP_THRESHOLD, bytes) === 1 : false;
}
