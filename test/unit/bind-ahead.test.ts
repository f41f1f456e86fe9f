// bindingAhead: a first commit's steps pass through unchanged while the addresses it adds are handed
// over in batches, and the rest at its end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindingAhead } from '../../src/agent/bind-ahead.js';
import type { Steps } from '../../src/loop/pacer.js';

/** A commit that adds `per` addresses to `bound` per step, `steps` times; it returns "done" and records the sizes it was sent. */
function* fakeCommit(bound: Set<string>, steps: number, per: number, sent: unknown[]): Steps<string> {
  for (let i = 0; i < steps; i++) {
    for (let j = 0; j < per; j++) bound.add(`10.96.${i}.${j}`);
    sent.push(yield per);
  }
  return 'done';
}

test('addresses are handed over in batches as the commit adds them, the rest at its end; steps and result pass through', () => {
  const bound = new Set<string>();
  const handed: string[][] = [];
  const sent: unknown[] = [];
  const steps = bindingAhead(fakeCommit(bound, 7, 40, sent), bound, (a) => handed.push(a), 100);
  const yielded: unknown[] = [];
  let r = steps.next();
  let k = 0;
  while (!r.done) {
    yielded.push(r.value);
    r = steps.next(1000 + k++);
  }
  assert.equal(r.value, 'done');
  assert.deepEqual(yielded, [40, 40, 40, 40, 40, 40, 40]);
  // The sizes the driver answered reach the commit as they were.
  assert.deepEqual(sent, [1000, 1001, 1002, 1003, 1004, 1005, 1006]);
  // 40 per step, batches of at least 100: after the 3rd step (120) and the 6th (120 more), then the last 40.
  assert.deepEqual(handed.map((b) => b.length), [120, 120, 40]);
  assert.deepEqual(handed.flat(), [...bound], 'each address once, in the order the commit added them');
});

test('a commit that fails stops the hand-over and throws as it did', () => {
  const bound = new Set<string>();
  const handed: string[][] = [];
  function* failing(): Steps<string> {
    bound.add('10.96.0.1');
    yield 1;
    throw new Error('model broke');
  }
  const steps = bindingAhead(failing(), bound, (a) => handed.push(a), 1);
  steps.next();
  assert.throws(() => steps.next(), /model broke/);
  assert.deepEqual(handed, [['10.96.0.1']]);
});

test('an address removed from the set while the commit goes: the rest are still handed over, each once', () => {
  const bound = new Set<string>();
  const handed: string[][] = [];
  function* churning(): Steps<void> {
    for (let i = 0; i < 6; i++) bound.add(`10.96.0.${i}`);
    yield 6;
    // One handed over already, and one not yet, go away; more come.
    bound.delete('10.96.0.1');
    for (let i = 6; i < 9; i++) bound.add(`10.96.0.${i}`);
    yield 3;
    bound.delete('10.96.0.7');
    bound.add('10.96.0.9');
    yield 1;
  }
  const steps = bindingAhead(churning(), bound, (a) => handed.push(a), 2);
  for (let r = steps.next(); !r.done; r = steps.next()) { /* the driver */ }
  const all = handed.flat();
  assert.equal(new Set(all).size, all.length, 'none twice');
  for (const a of bound) assert.ok(all.includes(a), `${a} handed over`);
});
