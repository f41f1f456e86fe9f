// The agent benchmark's pure parts: what the floor programs (derived from the agent's model and
// renderers), the ipset restore input, the one iptables-restore, the totals, the progress line, the
// --services list, the summary and the charts' data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyModel } from '../../src/model/model.js';
import { feedModel } from '../../src/agent/feed.js';
import { Iptables } from '../../src/iptables/iptables.js';
import { ipvsRuleSet, nonEmptySetKeys } from '../../src/backends/ipvs/backend.js';
import { entryKey } from '../../src/model/ipsets.js';
import { service, slice, vip, podIP } from '../../scripts/lib/bench-objects.js';
import { ipsetFloorPlan, ipsetRestoreInput, ipvsFloorOperations, initialRestoreInput, floorTotals, IPSET_DEFAULT_MAXELEM } from '../../scripts/lib/bench-floor-plan.js';
import { progressLine } from '../../scripts/lib/bench-progress.js';
import { rssSlope } from '../../scripts/lib/bench-agent-case.js';
import { parseServices, summaryTable, agentCharts, sizeRows, newNodeRows, initialCpuBoundMs, type SizeResult } from '../../scripts/lib/bench-agent-report.js';
import { ipvsadmRestoreInput, manifestFile, SyncWatcher } from '../../scripts/lib/bench-new-node.js';
import { parseManifestText } from '../../src/sources/manifests.js';
import type { FloorResult } from '../../scripts/lib/bench-floor.js';
import { fakeRun } from './fake-iptables.js';

/** The model the agent would build for N bench Services x M endpoints on node-0. */
function benchModel(N: number, M: number, families: ('inet' | 'inet6')[] = ['inet', 'inet6']): ProxyModel {
  const m = new ProxyModel({ scheduler: 'rr', nodeName: 'node-0', families, backend: 'ipvs' });
  for (let i = 0; i < N; i++) {
    feedModel(m, 'node-0', 'Service', service(i, 8080), false);
    feedModel(m, 'node-0', 'EndpointSlice', slice(i, M, 8080), false);
  }
  m.commit();
  return m;
}

test('floor ipsets: every set of both families, and per bench Service its cluster IP, its VIP and its local endpoints', () => {
  const N = 3, M = 10;
  const plan = ipsetFloorPlan(benchModel(N, M).ipsetEntries(), ['inet', 'inet6']);
  assert.equal(plan.sets.length, 34);
  assert.ok(plan.sets.some((s) => s.name === 'KUBE-6-CLUSTER-IP' && s.family === 'inet6'));
  assert.deepEqual(plan.sets.find((s) => s.name === 'KUBE-NODE-PORT-TCP'), { name: 'KUBE-NODE-PORT-TCP', type: 'bitmap:port', family: 'inet', range: { from: 0, to: 65535 } });
  // One endpoint in 100 is on node-0 (Service i's endpoint j is number i*M+j): of 30 here, only the first (0, 0).
  const want: string[] = [`KUBE-LOOP-BACK ${podIP(0, 0)},tcp:8080,${podIP(0, 0)}`];
  for (let i = 0; i < N; i++) want.push(`KUBE-CLUSTER-IP ${vip(i)},tcp:80`, `KUBE-IPVS-IPS ${vip(i)}`);
  assert.deepEqual(plan.ops.map((o) => `${o.set} ${o.entry}`).sort(), want.sort());
  assert.ok(plan.ops.every((o) => o.op === 'add'));
  assert.deepEqual(plan.raised, []);
});

test('floor ipsets: entries of a family not programmed are left out; a hash set past the default maxelem gets room', () => {
  const big = Array.from({ length: IPSET_DEFAULT_MAXELEM + 5 }, (_, i) => entryKey('inet', 'KUBE-LOOP-BACK', `10.128.${i >> 8 & 255}.${i & 255},tcp:${1000 + (i >> 16)},10.1.1.1`));
  const plan = ipsetFloorPlan([...big, entryKey('inet6', 'KUBE-CLUSTER-IP', 'fd00::1,tcp:80'), entryKey('inet', 'KUBE-IPVS-IPS', '10.96.0.1')], ['inet']);
  assert.equal(plan.sets.length, 17);
  assert.equal(plan.ops.length, IPSET_DEFAULT_MAXELEM + 6);
  assert.deepEqual(plan.raised, [{ set: 'KUBE-LOOP-BACK', entries: IPSET_DEFAULT_MAXELEM + 5 }]);
  assert.equal(plan.sets.find((s) => s.name === 'KUBE-LOOP-BACK')!.maxElem, IPSET_DEFAULT_MAXELEM + 5);
  assert.equal(plan.sets.find((s) => s.name === 'KUBE-IPVS-IPS')!.maxElem, undefined);
});

test('ipset restore input: create lines as ipset takes them, then one add per entry', () => {
  const text = ipsetRestoreInput({
    sets: [
      { name: 'KUBE-LOOP-BACK', type: 'hash:ip,port,ip', family: 'inet', maxElem: 70000 },
      { name: 'KUBE-6-CLUSTER-IP', type: 'hash:ip,port', family: 'inet6' },
      { name: 'KUBE-NODE-PORT-TCP', type: 'bitmap:port', family: 'inet', range: { from: 0, to: 65535 } },
    ],
    ops: [{ op: 'add', set: 'KUBE-LOOP-BACK', entry: '10.128.0.1,tcp:8080,10.128.0.1' }, { op: 'add', set: 'KUBE-NODE-PORT-TCP', entry: '30080' }],
    raised: [],
  });
  assert.equal(text, [
    'create KUBE-LOOP-BACK hash:ip,port,ip family inet maxelem 70000',
    'create KUBE-6-CLUSTER-IP hash:ip,port family inet6',
    'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
    'add KUBE-LOOP-BACK 10.128.0.1,tcp:8080,10.128.0.1',
    'add KUBE-NODE-PORT-TCP 30080',
    '',
  ].join('\n'));
});

test('floor IPVS operations: each virtual service, then its real servers, N x (M + 1) in all', () => {
  const ops = ipvsFloorOperations(benchModel(4, 3, ['inet']).desired);
  assert.equal(ops.length, 4 * 4);
  assert.equal(ops.filter((o) => o.op === 'add-service').length, 4);
  for (let k = 0; k < ops.length; k += 4) {
    const head = ops[k]!;
    assert.equal(head.op, 'add-service');
    for (const o of ops.slice(k + 1, k + 4)) {
      assert.equal(o.op, 'add-server');
      assert.deepEqual((o as { service: unknown }).service, (head as { service: unknown }).service);
    }
  }
  const first = ops.find((o) => o.op === 'add-service' && o.service.address === vip(2))!;
  assert.equal((first as { service: { port: number; scheduler: string } }).service.port, 80);
  assert.equal((first as { service: { scheduler: string } }).service.scheduler, 'rr');
});

test('the floor\'s iptables-restore input is what the agent\'s applier writes into empty tables', () => {
  const model = benchModel(2, 4, ['inet']);
  const rs = ipvsRuleSet({ masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: [] }, 'inet', { randomFully: true, closed: [], sets: nonEmptySetKeys(model, 'inet'), podCIDRs: [] });
  const state = { save: '*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', restores: [] as string[], calls: [] as string[] };
  assert.equal(new Iptables({ family: 'inet', run: fakeRun(state) }).apply(rs).changed, true);
  assert.equal(state.restores.length, 1);
  const mine = initialRestoreInput(rs);
  assert.equal(mine, state.restores[0]);
  // The rules match the sets the bench Services fill: cluster IPs and hairpin entries.
  assert.match(mine, /--match-set KUBE-CLUSTER-IP/);
  assert.match(mine, /--match-set KUBE-LOOP-BACK/);
  assert.match(mine, /^-I PREROUTING 1 /m);
});

test('floor totals: the faster ipset way counts, and the sum adds the four parts', () => {
  const parts = { ipvsMs: 100, vipMs: 20, ipsetRestoreMs: 50, ipsetClientMs: 30, iptablesMs: 5 };
  assert.deepEqual(floorTotals(parts), { ipsetMs: 30, ipsetWay: 'client', sumMs: 155 });
  assert.deepEqual(floorTotals({ ...parts, ipsetClientMs: 80 }), { ipsetMs: 50, ipsetWay: 'ipset restore', sumMs: 175 });
});

test('progress line: phase, how many of how many, elapsed', () => {
  assert.equal(progressLine('N=1,000 (1 of 2)', 'floor: ipset restore', 12_345, 'running'), '[bench] N=1,000 (1 of 2) floor: ipset restore ... 12.3 s\n');
  assert.equal(progressLine('', 'agent: feeding', 0, 'running', { done: 500, total: 1000 }), '[bench] agent: feeding 500 of 1,000 ... 0.0 s\n');
  assert.equal(progressLine('N=5', 'floor: IPVS', 2500, 'done'), '[bench] N=5 floor: IPVS done in 2.5 s\n');
  assert.equal(progressLine('N=5', 'floor: IPVS', 0, 'start'), '[bench] N=5 floor: IPVS ...\n');
});

test('--services: a list of whole numbers; anything else names the option and the value', () => {
  assert.deepEqual(parseServices('1000,5000, 10_000'), [1000, 5000, 10_000]);
  assert.deepEqual(parseServices('500'), [500]);
  assert.throws(() => parseServices('1000,abc'), /--services: "abc" is not a whole number/);
  assert.throws(() => parseServices('70000'), /--services: "70000"/);
  assert.throws(() => parseServices(','), /--services: no size given/);
});

function floor(sumParts: { ipvsMs: number; ipsetRestoreMs: number; ipsetClientMs: number }): FloorResult {
  const p = { vipMs: 10, iptablesMs: 5, ...sumParts };
  return { ...p, ...floorTotals(p), ipvsServices: 1, ipvsServers: 10, vips: 1, ipsets: 34, ipsetEntries: 6, ipsetEntriesRestored: 6, iptablesLines: 20, families: ['inet'], raisedMaxelem: [], readMs: 60, readIpvsadmMs: 40, readIpsetMs: 15, readIptablesMs: 5 };
}

const results: SizeResult[] = [
  { services: 500, endpoints: 10, ok: true, floor: floor({ ipvsMs: 100, ipsetRestoreMs: 400, ipsetClientMs: 40 }), agent: { initialSyncMs: 310, peakRssMB: 90 } },
  { services: 1000, endpoints: 10, ok: false, error: 'case exited 1' },
  { services: 2000, endpoints: 10, ok: true, floor: floor({ ipvsMs: 400, ipsetRestoreMs: 100, ipsetClientMs: 160 }), agent: { initialSyncMs: 1030, peakRssMB: 120 } },
];

test('summary: one line per size, the sum and the agent against it, a failed size named', () => {
  const lines = summaryTable(results).trimEnd().split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[1]!, /^\s*500 .*400 ms \/ 40 ms .*155 ms .*310 ms .*2\.00x .*90 MB$/);
  assert.match(lines[2]!, /1,000 .*FAILED: case exited 1/);
  // At 2,000 ipset restore (100 ms) was the faster: 400 + 10 + 100 + 5.
  assert.match(lines[3]!, /515 ms .*1,030 ms .*2\.00x/);
});

test('charts: initial sync and the floor\'s sum vs N, peak RSS vs N; failed sizes are not drawn', () => {
  const [sync, rss] = agentCharts(results, 'kernel x');
  assert.equal(sync!.file, 'agent-sync');
  assert.deepEqual(sync!.spec.series.map((s) => s.points), [[[500, 310], [2000, 1030]], [[500, 155], [2000, 515]]]);
  assert.equal(rss!.file, 'agent-rss');
  assert.deepEqual(rss!.spec.series[0]!.points, [[500, 90], [2000, 120]]);
});

test('a size\'s table has the floor\'s parts and the agent against the sum', () => {
  const text = sizeRows(results[0]!, false).map((r) => r.join(' ')).join('\n');
  assert.match(text, /\(c\) ipsets: ipset restore \/ batched client 400 ms \/ 40 ms: client counts/);
  assert.match(text, /agent: initial sync 310 ms \(2\.00x the floor's sum/);
  // The no-op reconcile against the tools' read of the same state (issue 12's target).
  const withNoop = { ...results[0]!, agent: { ...results[0]!.agent, noopReconcileMs: 90, noopReconcileCpuMs: 80, noopReconcileOperations: 0 } } as SizeResult;
  assert.match(sizeRows(withNoop, false).map((r) => r.join(' ')).join('\n'), /no-op periodic reconcile 90 ms wall, 80 ms CPU, 0 operations; the tools read the same state in 60 ms \(ipvsadm -Sn 40 ms, ipset save 15 ms, iptables-save 5 ms\): 1\.50x, target <= 1\.0x/);
  assert.deepEqual(sizeRows(results[1]!, false)[1], ['FAILED', 'case exited 1']);
  // RSS after each of the repeated reconciles, and its trend from the second on.
  const rss = [120, 131, 131.5, 132, 132.5];
  const withRss = { ...results[0]!, agent: { ...results[0]!.agent, reconciles: 5, reconcileRssSlopeMB: rssSlope(rss), ...Object.fromEntries(rss.map((v, i) => [`reconcileRss${i + 1}MB`, v])) } } as SizeResult;
  assert.match(sizeRows(withRss, false).map((r) => r.join(' ')).join('\n'), /RSS after each of 5 no-op reconciles \(no GC forced\) 120, 131, 131\.5, 132, 132\.5 MB; slope from the 2nd on 0\.5 MB per reconcile, target flat/);
});

test('the initial sync\'s CPU bound: the main thread\'s CPU or all of it over the CPUs, whichever is longer; shown against the floor', () => {
  const threads = { initialMainUserMs: 5000, initialMainSysMs: 600, initialOtherUserMs: 3000, initialOtherSysMs: 1000, initialCpuMs: 10_000, initialChildCpuMs: 500, cpus: 2 };
  // The main thread (5.6 s) is longer than 10.5 s over 2 CPUs (5.25 s).
  assert.equal(initialCpuBoundMs(threads), 5600);
  // More CPU elsewhere: 11 s over 2 CPUs (5.5 s) beats the main thread's 4.5 s; over 4 CPUs the main thread again.
  assert.equal(initialCpuBoundMs({ ...threads, initialMainUserMs: 4000, initialMainSysMs: 500, initialChildCpuMs: 1000 }), 5500);
  assert.equal(initialCpuBoundMs({ ...threads, initialMainUserMs: 4000, initialMainSysMs: 500, initialChildCpuMs: 1000, cpus: 4 }), 4500);
  assert.equal(initialCpuBoundMs({ initialCpuMs: 10_000, cpus: 2 }), undefined);
  const withThreads = { ...results[0]!, agent: { ...results[0]!.agent, ...threads } } as SizeResult;
  // The floor's sum at 500 is 155 ms: 5,600 / 155.
  assert.match(sizeRows(withThreads, false).map((r) => r.join(' ')).join('\n'), /no schedule of that CPU on 2 CPUs ends sooner: max\(main thread, all ÷ 2\) 5,600 ms \(36\.13x the floor's sum\)/);
});

test('RSS slope over reconciles: the first reconcile\'s growth left out; flat is 0, steady growth its step; too few points, none', () => {
  assert.equal(rssSlope([100, 150, 150, 150]), 0);
  assert.equal(rssSlope([100, 150, 152, 154, 156]), 2);
  assert.equal(rssSlope([100, 150]), undefined);
});

test('ipvsadm -R input: each service with its scheduler, each real server masqueraded with its weight', () => {
  const text = ipvsadmRestoreInput(ipvsFloorOperations(benchModel(2, 2, ['inet']).desired));
  const want = [0, 1].flatMap((i) => [`-A -t ${vip(i)}:80 -s rr`, ...[0, 1].map((j) => `-a -t ${vip(i)}:80 -r ${podIP(i, j)}:8080 -m -w 1`)]);
  assert.deepEqual(text.trimEnd().split('\n').sort(), want.sort());
  const v6 = { family: 'inet6' as const, protocol: 'udp' as const, address: 'fd00::1', port: 53 };
  assert.equal(ipvsadmRestoreInput([{ op: 'add-service', service: { ...v6, scheduler: 'wrr' } }, { op: 'add-server', service: v6, server: { address: 'fd00::2', port: 5353, weight: 3 } }]),
    '-A -u [fd00::1]:53 -s wrr\n-a -u [fd00::1]:53 -r [fd00::2]:5353 -m -w 3\n');
  assert.throws(() => ipvsadmRestoreInput([{ op: 'delete-service', service: v6 }]), /operation delete-service is not an add/);
});

test('a manifest file holds the Service and its slice, as the manifests source reads them', () => {
  const parsed = parseManifestText(manifestFile(7, 3), 'svc-7.json', 'node-0');
  assert.equal(parsed.error, undefined);
  assert.deepEqual(parsed.entries.map((e) => e.key), ['Service/bench/svc-7', 'EndpointSlice/bench/svc-7-abcde']);
  const slice7 = parsed.entries[1]!.obj as unknown as { endpoints: { addresses: string[] }[] };
  assert.deepEqual(slice7.endpoints.map((e) => e.addresses[0]), [podIP(7, 0), podIP(7, 1), podIP(7, 2)]);
});

test('the new node\'s rows and chart series: the process against ipvsadm -R', () => {
  const withNode: SizeResult = { ...results[0]!, newNode: { programmedMs: 3000, firstSyncMs: 2000, failures: 0, peakRssMB: 150, fileChangeMs: 900, fileChangeOperations: 1, fileChangesMs: [900, 300, 1250.5], ipvsadmRestoreMs: 1500, ipvsServices: 500 } };
  const text = newNodeRows(withNode.newNode!).map((r) => r.join(' ')).join('\n');
  assert.match(text, /process start to all programmed 3,000 ms \(2\.00x ipvsadm -R of the same IPVS objects, 1,500 ms/);
  assert.match(text, /one endpoint added in one file, to the kernel 900 ms \(1 operations\); 2 more, 3 s apart: p50 300 ms, max 1,251 ms \(300, 1,251 ms\)/);
  const [sync, rss] = agentCharts([withNode, results[2]!], 'k');
  assert.deepEqual(sync!.spec.series.find((s) => s.name.startsWith('new node'))!.points, [[500, 3000], [2000, null]]);
  assert.deepEqual(rss!.spec.series.map((s) => s.name), ['in-process agent', 'new node: agent process']);
  assert.match(summaryTable([withNode]), /new node .*ipvsadm -R[\s\S]*3,000 ms\s+1,500 ms\s+2\.00x\s+150 MB/);
});

test('summary: a long error follows its size without widening the columns; a failed new node is its own row', () => {
  const long: SizeResult = { services: 700, endpoints: 10, ok: false, error: 'x'.repeat(300) };
  const lines = summaryTable([results[0]!, long]).split('\n');
  assert.ok(lines[0]!.length < 200, lines[0]);
  assert.match(lines[2]!, /^\s*700  FAILED: x{300}$/);
  const nodeFailed: SizeResult = { ...results[0]!, newNodeError: 'kipvs agent exited (1)' };
  assert.deepEqual(sizeRows(nodeFailed, false).at(-1), ['new node: FAILED', 'kipvs agent exited (1)']);
  assert.match(summaryTable([nodeFailed]), /new node[\s\S]*failed$/m);
});

test('sync watcher: counts the agent\'s "sync" log lines, waits for the k-th, fails when the agent exits', async () => {
  const w = new SyncWatcher();
  w.feed('{"msg":"kipvs starting"}');
  w.feed('not json');
  w.feed('{"msg":"sync","ms":12.5,"operations":3,"failures":0}');
  assert.deepEqual({ ...(await w.next(1, 1000, () => undefined)), at: 0 }, { at: 0, ms: 12.5, operations: 3, failures: 0 });
  const second = w.next(2, 5000, () => undefined);
  setTimeout(() => w.feed('{"msg":"sync","ms":1,"operations":1,"failures":0}'), 20);
  assert.equal((await second).operations, 1);
  await assert.rejects(w.next(3, 5000, () => 'exited (1)'), /kipvs agent exited \(1\); its last lines: .*kipvs starting/);
});
