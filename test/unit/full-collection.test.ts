// fullCollection() collects garbage in a node started without --expose-gc, and leaves no gc() behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { fullCollection } from '../../src/agent/full-collection.js';

test('fullCollection frees unreachable objects and exposes no gc() to other contexts', () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'the unit tests run without --expose-gc');
  let junk: { i: number; s: string }[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `entry ${i}` }));
  const before = process.memoryUsage().heapUsed;
  assert.equal(junk.length, 300_000);
  junk = undefined;
  const ms = fullCollection();
  const freed = before - process.memoryUsage().heapUsed;
  assert.ok(freed > 10 * 1024 * 1024, `freed ${Math.round(freed / 1024)} KB`);
  assert.ok(ms >= 0 && ms < 10_000, `${ms} ms`);
  assert.equal(runInNewContext('typeof gc'), 'undefined');
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  // The function is kept: a second call works as well.
  assert.ok(fullCollection() >= 0);
});
