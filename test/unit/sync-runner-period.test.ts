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

test('a full sync other than the periodic one restarts the period; a period due during it is dropped, one due during a change sync is not', async () => {
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const log: { reason: string; at: number }[] = [];
  const t0 = Date.now();
  let workMs = 0;
  let full = false;
  let r!: BoundedFrequencyRunner;
  r = new BoundedFrequencyRunner(async (reason) => {
    log.push({ reason, at: Date.now() - t0 });
    await sleep(workMs);
    if (full && reason === 'change') r.fullSyncDone();
  }, 0, 200);
  // A first sync (full) that runs longer than the period: no periodic run straight after it.
  workMs = 300;
  full = true;
  r.run();
  r.start();
  await sleep(420);
  assert.deepEqual(log.map((x) => x.reason), ['change'], JSON.stringify(log));
  // The period counts from the end of that sync (~300 ms): due at ~500.
  workMs = 0;
  full = false;
  await sleep(200);
  r.stop();
  const periods = log.filter((x) => x.reason === 'period');
  assert.equal(periods.length, 1, JSON.stringify(log));
  assert.ok(periods[0]!.at >= 480, `period at ${periods[0]!.at} ms, want >= 480 (a period after the full sync ended at ~300)`);

  // An incremental change sync that runs over the period's due time: the period runs after it.
  const log2: string[] = [];
  const r2 = new BoundedFrequencyRunner(async (reason) => { log2.push(reason); if (reason === 'change') await sleep(250); }, 0, 100);
  r2.start();
  await sleep(50);
  r2.run();
  await sleep(320);
  r2.stop();
  assert.deepEqual(log2.slice(0, 2), ['change', 'period']);
});

test('a periodic run that gave way to a change runs again straight after that change, not a period later', async () => {
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const log: { reason: string; at: number }[] = [];
  const t0 = Date.now();
  let r!: BoundedFrequencyRunner;
  let preemptions = 0;
  let periodsDone = 0;
  r = new BoundedFrequencyRunner(async (reason) => {
    log.push({ reason, at: Date.now() - t0 });
    if (reason === 'change') return;
    // A reconcile that works 20 x 10 ms, giving way (twice) when a change waits.
    for (let i = 0; i < 20; i++) {
      await sleep(10);
      if (r.changeWaiting && preemptions < 2) {
        preemptions++;
        return 'preempted';
      }
    }
    periodsDone++;
  }, 0, 300);
  r.start();
  // The first period starts at ~300 ms; a change comes 50 ms into it, another 50 ms into the next try.
  await sleep(350);
  r.run();
  const waitFor = async (cond: () => boolean) => { while (!cond()) await sleep(5); };
  await waitFor(() => log.length >= 3);
  await sleep(50);
  r.run();
  await waitFor(() => periodsDone >= 1);
  const ended = Date.now() - t0;
  await waitFor(() => log.filter((x) => x.reason === 'period').length >= 4);
  r.stop();
  const reasons = log.map((x) => x.reason);
  assert.deepEqual(reasons.slice(0, 6), ['period', 'change', 'period', 'change', 'period', 'period'], JSON.stringify(log));
  assert.equal(preemptions, 2);
  // The period after each change starts at once, far sooner than a period (300 ms) after it.
  for (const i of [2, 4]) assert.ok(log[i]!.at - log[i - 1]!.at < 150, `period ${i} ${log[i]!.at - log[i - 1]!.at} ms after its change: ${JSON.stringify(log)}`);
  // Once a reconcile ran to its end, the next comes a whole period after that end.
  assert.ok(log[5]!.at - ended >= 280, `next period ${log[5]!.at - ended} ms after the one that ended: ${JSON.stringify(log)}`);
});

test('under changes that never stop, a periodic run that keeps giving way still gets to its end', async () => {
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  let r!: BoundedFrequencyRunner;
  let progress = 0;
  let periodsDone = 0;
  let changes = 0;
  r = new BoundedFrequencyRunner(async (reason) => {
    if (reason === 'change') {
      changes++;
      // Every change sync brings the next change before it ends: one is always waiting.
      r.run();
      await sleep(2);
      return;
    }
    // A reconcile of 10 pieces that resumes where it stopped and gives way after each piece to a waiting change.
    while (progress < 10) {
      await sleep(5);
      progress++;
      if (progress < 10 && r.changeWaiting) return 'preempted';
    }
    progress = 0;
    periodsDone++;
  }, 0, 50);
  r.start();
  r.run();
  const until = Date.now() + 3000;
  while (periodsDone < 2 && Date.now() < until) await sleep(10);
  r.stop();
  await r.idle();
  assert.ok(periodsDone >= 2, `${periodsDone} reconciles ended among ${changes} change syncs`);
  assert.ok(changes >= 20, `${changes} change syncs`);
});
