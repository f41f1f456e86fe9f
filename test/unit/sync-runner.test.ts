// The bounded-frequency runner (src/sync/runner.ts) on real timers with short intervals: requests
// coalesce, runs keep the minimum interval and never overlap, and the period runs with no request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedFrequencyRunner, type RunReason } from '../../src/sync/runner.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('requests made while a run is due coalesce into one run', async () => {
  const runs: RunReason[] = [];
  const r = new BoundedFrequencyRunner((why) => { runs.push(why); }, 50, 60_000);
  for (let i = 0; i < 10; i++) r.run();
  await r.idle();
  assert.deepEqual(runs, ['change']);
  r.stop();
});

test('runs keep at least the minimum interval between their starts', async () => {
  const starts: number[] = [];
  const r = new BoundedFrequencyRunner(() => { starts.push(Date.now()); }, 80, 60_000);
  r.run();
  await r.idle();
  r.run(); // due 80 ms after the first
  await r.idle();
  r.run();
  await r.idle();
  assert.equal(starts.length, 3);
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= 75, `gap ${starts[i]! - starts[i - 1]!} ms`);
  r.stop();
});

test('runs never overlap; a request during a run gets a run after it', async () => {
  let running = 0, overlapped = false;
  const runs: RunReason[] = [];
  const r = new BoundedFrequencyRunner(async (why) => {
    running++;
    if (running > 1) overlapped = true;
    runs.push(why);
    await sleep(60);
    running--;
  }, 0, 60_000);
  r.run();
  await sleep(10);
  r.run(); // while the first runs
  r.run();
  await sleep(5);
  await r.idle();
  await r.idle();
  assert.equal(overlapped, false);
  assert.deepEqual(runs, ['change', 'change']);
  r.stop();
});

test('with no request the period runs, again and again; stop() ends it', async () => {
  const runs: RunReason[] = [];
  const r = new BoundedFrequencyRunner((why) => { runs.push(why); }, 0, 40);
  r.start();
  await sleep(300);
  r.stop();
  const n = runs.length;
  assert.ok(n >= 2, `${n} periodic runs in 300 ms at a 40 ms period`);
  assert.ok(runs.every((w) => w === 'period'));
  await sleep(100);
  assert.equal(runs.length, n, 'no run after stop()');
  r.run();
  await sleep(20);
  assert.equal(runs.length, n, 'a request after stop() is ignored');
});

test('a change run leaves the periodic run where it was (see sync-runner-period.test.ts)', async () => {
  const runs: [RunReason, number][] = [];
  const t0 = Date.now();
  const r = new BoundedFrequencyRunner((why) => { runs.push([why, Date.now() - t0]); }, 0, 300);
  r.start();
  await sleep(100);
  r.run();
  await r.idle();
  // The period counts from the start (300 ms), not from the change run at ~100 ms (which would be ~400 ms).
  while (Date.now() - t0 < 380) await sleep(10);
  assert.deepEqual(runs.map(([w]) => w), ['change', 'period']);
  assert.ok(runs[1]![1] < 370, `periodic run at ${runs[1]![1]} ms, a period from the start is 300 ms`);
  r.stop();
});

test('with no wait due, a request runs in this turn of the event loop (setImmediate), not after a 1-ms timer; requests of the turn go together', async () => {
  const reasons: string[] = [];
  const r = new BoundedFrequencyRunner((reason) => { reasons.push(reason); }, 0, 3_600_000);
  r.run();
  r.run();
  // Queued after the runner's: it runs after the runner has started its work. A setTimeout(0), which
  // Node makes 1 ms, would not be due yet when the loop next looks at its timers.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(reasons, ['change']);
  await r.idle();
  assert.deepEqual(reasons, ['change']);
  r.stop();
});
