// The soak's short version (npm run soak is the long one): about a minute of endpoint churn every
// second under client load, with every fault once — the fake API server dropping watches, answering
// 410 and 500s, stalling and going away, and hand edits of a real server, a VIP, an ipset entry and an
// iptables rule — then the targets: no failed
// request while every endpoint served, none reaching an endpoint after the kernel showed it removed,
// hand edits repaired, the agent's RSS flat, and the kernel equal to the desired state at the end.
// Agent restarts (SIGKILL, SIGTERM) are left to npm run soak: one start of the agent process takes
// 90 s or more in the sandbox (its modules load over 9p under emulation), too much for the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from '../soak/soak.js';
import { evaluate, table } from '../soak/stats.js';
import { targetsMissed } from '../soak/targets.js';

test('soak: churn, API server faults and hand edits under load; every target met', async () => {
  const t0 = Date.now();
  const data = await runSoak({
    progress: (line) => console.log(`# soak ${Math.round((Date.now() - t0) / 1000)} s: ${line}`),
    durationMs: 45_000, dir: '/tmp/kipvs-soak-test', restarts: false, gracefulTermination: '5s',
    faultMs: 3000, awayMs: 6000, gapMs: 1000, repairBoundMs: 40_000, seed: 7,
  });
  const r = evaluate(data);
  const text = table(r);
  // Something happened: load, churn, and every kind of fault.
  assert.ok(r.requests.answered > 100, `only ${r.requests.answered} requests answered\n${text}`);
  assert.ok(r.udp.datagrams > 10, text);
  assert.ok(r.changeToKernelMs.count > 20, `only ${r.changeToKernelMs.count} changes timed\n${text}`);
  assert.equal(r.handEdits.length, 4, text);
  assert.equal(r.apiFaults.length, 5, text);
  assert.ok(r.rss.samples > 30 && r.eventLoopLagMs.windows > 3, text);
  // The RSS bound is loose here: 90 s of one agent lifetime mostly show V8's heap settling after the
  // start (4.6 MB/min in one run), not a leak; a leak of one object per change or request would still
  // show. npm run soak holds 10 minutes to 1 MB/min.
  assert.deepEqual(targetsMissed(r, { repairBoundMs: 40_000, rssSlopeMBPerMin: 15 }), [], text);
  console.log(text);
});
