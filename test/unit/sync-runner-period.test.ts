// The periodic full reconcile keeps its period under steady change requests (found by the soak: with a
// change every second and a 10 s period, hand edits of the kernel were never repaired).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedFrequencyRunner } from '../../src/sync/runner.js';

test('periodic runs still happen while changes arrive more often than the period', async () => {
  const reasons: string[] = [];
  const r = new BoundedFrequencyRunner((reason) => { reasons.push(reason); }, 0, 150);
  r.start();
  const end = Date.now() + 700;
  while (Date.now() < end) {
    r.run();
    await new Promise((res) => setTimeout(res, 30));
  }
  r.stop();
  assert.ok(reasons.filter((x) => x === 'period').length >= 3, reasons.join(','));
  assert.ok(reasons.filter((x) => x === 'change').length >= 10);
});
