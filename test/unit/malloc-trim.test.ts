// The malloc_trim binding (native-bindings/malloc.ts) against glibc itself: C memory freed inside an
// arena stays resident until trimmed, and a trim hands it back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
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
