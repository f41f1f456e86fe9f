// The glibc bindings (native-bindings/malloc.ts) against glibc itself: C memory freed inside an arena
// stays resident until trimmed, and a trim hands it back; a fixed mmap threshold keeps large blocks mapped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canTrimMalloc, trimMalloc } from '../../native-bindings/malloc.js';

const libc = koffi.load('libc.so.6');
const malloc = libc.func('void *malloc(size_t size)') as (n: number) => unknown;
const memset = libc.func('void *memset(void *s, int c, size_t n)') as (p: unknown, c: number, n: number) => unknown;
const free = libc.func('void free(void *p)') as (p: unknown) => void;

/** Resident pages of this process, in bytes (/proc/self/statm's second field). */
function rss(): number {
  return Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
}

/**
 * 48 MB in 16 KB blocks (under glibc's mmap threshold: they come from the arena), written so that
 * their pages are resident, then all freed but the last, which holds the arena's top in place: glibc
 * gives nothing back by itself then.
 */
function freedInsideArena(): unknown {
  const blocks: unknown[] = [];
  for (let i = 0; i < 3072; i++) {
    const p = malloc(16384);
    assert.ok(p !== null, 'malloc failed');
    memset(p, 1, 16384);
    blocks.push(p);
  }
  const last = blocks.pop();
  for (const p of blocks) free(p);
  return last;
}

test('this libc (glibc) has malloc_trim', () => {
  assert.equal(canTrimMalloc(), true);
});

test('memory freed inside an arena stays resident until trimmed; a trim gives it back', () => {
  const last = freedInsideArena();
  try {
    const before = rss();
    assert.equal(trimMalloc(), true, 'malloc_trim says it released nothing');
    const released = before - rss();
    assert.ok(released > 32 * 1048576, `a trim released ${(released / 1048576).toFixed(1)} MB of ~48 MB freed`);
  } finally {
    free(last);
  }
});

/**
 * In a child process (the threshold is the whole process's): an 8 MB block, mapped, is freed; then a
 * 6 MB block is written and freed. Prints how much RSS the 6 MB block left behind. `fix`: the threshold
 * fixed first, through the binding under test.
 */
const CHILD = `
import koffi from 'koffi';
import { readFileSync } from 'node:fs';
import { fixMmapThreshold } from './dist/native-bindings/malloc.js';
const libc = koffi.load('libc.so.6');
const malloc = libc.func('void *malloc(size_t size)');
const memset = libc.func('void *memset(void *s, int c, size_t n)');
const free = libc.func('void free(void *p)');
if (process.argv[1] === 'fix' && !fixMmapThreshold(128 * 1024)) throw new Error('mallopt refused');
const rss = () => Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
const big = malloc(8 << 20); memset(big, 1, 8 << 20); free(big);
const before = rss();
const next = malloc(6 << 20); memset(next, 1, 6 << 20);
const pin = malloc(64);
free(next);
console.log(rss() - before);
free(pin);
`;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function leftBehind(mode: 'fix' | 'default'): number {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, mode], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

test("glibc's mmap threshold: raised by a freed mapping, the next large block stays resident when freed; fixed, it is given back", () => {
  const MB = 1048576;
  const dflt = leftBehind('default');
  assert.ok(dflt > 4 * MB, `default threshold: ${(dflt / MB).toFixed(1)} MB left behind (the effect the fix is for)`);
  const fixed = leftBehind('fix');
  assert.ok(fixed < 1 * MB, `fixed threshold: ${(fixed / MB).toFixed(1)} MB left behind`);
});
