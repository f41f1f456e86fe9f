// The soak's short version (npm run soak is the long one): about a minute of endpoint churn every
// second under client load, with every fault once — the agent killed (SIGKILL, SIGTERM) and restarted,
// the fake API server dropping watches, answering 410 and 500s, stalling and going away, and hand
// edits of a real server, a VIP, an ipset entry and an iptables rule — then the targets: no failed
// request while every endpoint served, none reaching an endpoint after the kernel showed it removed,
// hand edits repaired, the agent's RSS flat, and the kernel equal to the desired state at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from '../soak/soak.js';
import { evaluate, table } from '../soak/stats.js';
import { targetsMissed } from '../soak/targets.js';

test('soak: churn, agent restarts, API server faults and hand edits under load; every target met', async () => {
  const data = await runSoak({
    durationMs: 60_000, dir: '/tmp/kipvs-soak-test', syncPeriod: '3s', gracefulTermination: '5s',
    faultMs: 3000, awayMs: 6000, gapMs: 1000, repairBoundMs: 20_000, seed: 7,
  });
  const r = evaluate(data);
  const text = table(r);
  // Something happened: load, churn, and every kind of fault.
  assert.ok(r.requests.answered > 200, `only ${r.requests.answered} requests answered\n${text}`);
  assert.ok(r.udp.datagrams > 20, text);
  assert.ok(r.changeToKernelMs.count > 30, `only ${r.changeToKernelMs.count} changes timed\n${text}`);
  assert.deepEqual(r.restarts.map((x) => x.signal).sort(), ['SIGKILL', 'SIGTERM'], text);
  assert.equal(r.restarts.find((x) => x.signal === 'SIGTERM')!.exitCode, 0, 'SIGTERM is a clean exit');
  assert.equal(r.handEdits.length, 4, text);
  assert.equal(r.apiFaults.length, 5, text);
  assert.ok(r.rss.samples > 30 && r.eventLoopLagMs.windows > 5, text);
  assert.deepEqual(targetsMissed(r, { repairBoundMs: 20_000, rssSlopeMBPerMin: 2 }), [], text);
  console.log(text);
});
