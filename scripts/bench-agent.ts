// Benchmark: the agent at scale, in one sandbox boot. N Services x M endpoints (one port each) fed
// through an in-memory source into the real agent (model, sync engine, netlink, ipsets, iptables):
//   - the bulk-apply floor: the same virtual and real servers applied by the IPVS client alone;
//   - the agent's initial sync (from "lists received" to the kernel programmed, VIPs bound);
//   - one endpoint added to one Service: the netlink operations it took and the time from the event
//     to the kernel;
//   - a no-op periodic reconcile (full kernel dump and compare): wall time and CPU;
//   - the agent process' RSS now and at its peak (VmHWM);
//   - event-loop lag during the initial sync and the no-op reconcile (delay percentiles and maximum,
//     and GET /healthz polled every second by another process): --lag-only measures just that (no floor, no endpoint
//     change, no memory figures).
//   scripts/sandbox -- node dist/scripts/bench-agent.js [--services N] [--endpoints M] [--no-optimize-for-size] [--lag-only] [--slice-ms MS (0: unpaced)] [--min-items K] [--json]
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Agent } from '../src/agent/agent.js';
import { IpvsClient } from '../src/ipvs/client.js';
import { MemorySource, vip, podIP, service as benchService, slice as benchSlice } from './lib/bench-objects.js';
import { LinkClient } from '../src/link/link.js';
import { LagProbe, type LagFigures } from './lib/loop-lag.js';
import type { Operation } from '../src/ipvs/types.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const N = opt('--services', 10_000);
const M = opt('--endpoints', 10);
const json = args.includes('--json');
const lagOnly = args.includes('--lag-only');
const sliceMs = opt('--slice-ms', 10);
const quiet = { info() {}, warn() {}, error() {}, debug() {} };

const service = (i: number) => benchService(i, 8080);
const slice = (i: number, endpoints: number) => benchSlice(i, endpoints, 8080);

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
const out: Record<string, number> = { services: N, endpointsPerService: M };

// 1. The floor: the IPVS client alone, the same objects, batched, on an empty table. It runs in a
// network namespace of its own (a child process), so that each side starts from a fresh IPVS
// table: after a flush the kernel keeps deleted real servers in its "dest trash" for about two
// minutes and walks that list on every add, which would make whoever runs second pay for the first.
function floor(): number {
  const ipvs = IpvsClient.open();
  const ops: Operation[] = [];
  for (let i = 0; i < N; i++) {
    const s = { family: 'inet' as const, protocol: 'tcp' as const, address: vip(i), port: 80 };
    ops.push({ op: 'add-service', service: { ...s, scheduler: 'rr' } });
    for (let j = 0; j < M; j++) ops.push({ op: 'add-server', service: s, server: { address: podIP(i, j), port: 8080 } });
  }
  const t = performance.now();
  const r = ipvs.apply(ops);
  const ms = Math.round(performance.now() - t);
  if (r.failures.length) throw new Error(`floor: ${r.failures.length} operations failed`);
  ipvs.flush();
  ipvs.close();
  return ms;
}
if (args.includes('--floor-only')) {
  process.stdout.write(JSON.stringify({ floorApplyMs: floor() }) + '\n');
  process.exit(0);
}
if (!lagOnly) {
  const self = fileURLToPath(import.meta.url);
  execFileSync('ip', ['netns', 'add', 'kipvs-bench-floor']);
  // With lo down the kernel rejects masquerading real servers ("address not unicast").
  execFileSync('ip', ['-n', 'kipvs-bench-floor', 'link', 'set', 'lo', 'up']);
  try {
    const text = execFileSync('ip', ['netns', 'exec', 'kipvs-bench-floor', process.execPath, self, '--floor-only', '--services', String(N), '--endpoints', String(M)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    out.floorApplyMs = (JSON.parse(text) as { floorApplyMs: number }).floorApplyMs;
  } finally {
    execFileSync('ip', ['netns', 'del', 'kipvs-bench-floor']);
  }
}

// 2. The agent's initial sync.
const source = new MemorySource();
const agent = new Agent({
  nodeName: 'node-0', mode: 'ipvs', scheduler: 'rr', strictARP: false, syncPeriodMs: 3_600_000, minSyncPeriodMs: 0,
  excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '127.0.0.1:0', metricsBindAddress: '',
  stateSocket: '', gracefulTerminationTimeoutMs: 60_000, source, log: quiet,
  // --no-optimize-for-size: measure what V8's size mode costs and saves.
  optimizeForSize: !args.includes('--no-optimize-for-size'),
  // --slice-ms 0: each sync in one synchronous stretch (the agent before pacing); else the Pacer's slice.
  pacing: args.includes('--slice-ms') ? (sliceMs === 0 ? false : { sliceMs, minItems: opt('--min-items', 16) }) : undefined,
});
await agent.start();
const tFeed = performance.now();
for (let i = 0; i < N; i++) {
  source.upsert('Service', service(i));
  source.upsert('EndpointSlice', slice(i, M));
}
out.feedMs = Math.round(performance.now() - tFeed);
const lag = (label: string, f: LagFigures) => {
  for (const [k, v] of Object.entries(f)) out[`${label}${k[0]!.toUpperCase()}${k.slice(1)}`] = v;
};
const initialProbe = new LagProbe();
await initialProbe.start(agent.healthzPort);
const t0 = performance.now();
source.events!.synced();
await agent.firstSync();
out.initialSyncMs = Math.round(performance.now() - t0);
lag('initial', await initialProbe.stop());
out.initialOperations = agent.lastSync?.operations ?? 0;
const phases = (label: string) => {
  const p = agent.lastSync!.phases;
  out[`${label}ModelMs`] = Math.round(agent.lastCommitMs);
  const ms = (k: string) => Math.round(p[k] ?? 0);
  out[`${label}ReadMs`] = ms('readMs');
  out[`${label}PlanMs`] = ms('planMs');
  out[`${label}BindMs`] = ms('bindMs');
  out[`${label}ApplyMs`] = ms('applyMs');
  out[`${label}IpsetMs`] = ms('ipsetMs');
  out[`${label}IptablesMs`] = ms('iptablesMs');
};
phases('initial');
const heapNow = (label: string) => {
  const m = process.memoryUsage();
  out[`${label}HeapTotalMB`] = mb(m.heapTotal);
  out[`${label}RssMB`] = mb(m.rss);
};
heapNow('afterInitial');
out.ipsetEntries = agent.metrics.ipsetEntries.get({});
{
  const ipvs = IpvsClient.open();
  const link = LinkClient.open();
  const services = ipvs.services({ stats: false }).length;
  const dummy = link.link('kube-ipvs0');
  const bound = dummy ? link.addresses(dummy.index).length : 0;
  if (services !== N || bound !== N) throw new Error(`initial sync: ${services} services, ${bound} VIPs bound; want ${N}`);
  ipvs.close();
  link.close();
}

// 3. One endpoint added to one Service: event to kernel.
if (!lagOnly) {
  const i = Math.floor(N / 2);
  const before = agent.lastSync;
  const t = performance.now();
  source.upsert('EndpointSlice', slice(i, M + 1));
  while (agent.lastSync === before) await new Promise((r) => setImmediate(r));
  out.oneEndpointMs = Math.round((performance.now() - t) * 100) / 100;
  out.oneEndpointOperations = agent.lastSync!.operations;
  out.oneEndpointSyncKind = agent.lastSync!.kind === 'incremental' ? 1 : 0;
  out.oneEndpointSyncMs = Math.round(agent.lastSync!.durationMs * 100) / 100;
  out.oneEndpointModelMs = Math.round(agent.lastCommitMs * 100) / 100;
  const ipvs = IpvsClient.open();
  const servers = ipvs.servers({ family: 'inet', protocol: 'tcp', address: vip(i), port: 80 }, { stats: false });
  ipvs.close();
  if (!servers.some((s) => s.address === podIP(i, M))) throw new Error('the added endpoint is not in the kernel');
}

// 4. A no-op periodic reconcile.
{
  const probe = new LagProbe();
  await probe.start(agent.healthzPort);
  const cpu = process.cpuUsage();
  const t = performance.now();
  await agent.syncNow('period');
  out.noopReconcileMs = Math.round(performance.now() - t);
  const used = process.cpuUsage(cpu);
  lag('noop', await probe.stop());
  out.noopReconcileCpuMs = Math.round((used.user + used.system) / 1000);
  out.noopReconcileOperations = agent.lastSync?.operations ?? -1;
  phases('noop');
  heapNow('afterReconcile');
}

global.gc?.();
const mem = process.memoryUsage();
out.rssMB = mb(mem.rss);
out.heapUsedMB = mb(mem.heapUsed);
out.heapTotalMB = mb(mem.heapTotal);
out.externalMB = mb(mem.external);
// The peak, which is what a memory limit and the OOM killer see: the kernel's high-water mark.
out.peakRssMB = Math.round(Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024);
await agent.stop();
{
  const ipvs = IpvsClient.open();
  ipvs.flush();
  ipvs.close();
  const link = LinkClient.open();
  link.deleteLink('kube-ipvs0');
  link.close();
}

const lagRows = (label: string): [string, string][] => [
  [`  event-loop delay p50 / p99 / max`, `${out[`${label}LagP50Ms`]} / ${out[`${label}LagP99Ms`]} / ${out[`${label}LagMaxMs`]} ms`],
  [`  GET /healthz every second: answered, p50 / max latency`, `${out[`${label}HealthzPolls`]}, ${out[`${label}HealthzP50Ms`]} / ${out[`${label}HealthzMaxMs`]} ms`],
];
if (json) {
  process.stdout.write(JSON.stringify(out) + '\n');
} else if (lagOnly) {
  const rows: [string, string][] = [
    ['services x endpoints', `${N} x ${M} (${N * (M + 1)} IPVS objects, ${N} VIPs)`],
    ['agent: initial sync', `${out.initialSyncMs} ms (${out.initialOperations} IPVS operations + ${N} VIP binds)`],
    ...lagRows('initial'),
    ['no-op periodic reconcile', `${out.noopReconcileMs} ms wall, ${out.noopReconcileCpuMs} ms CPU, ${out.noopReconcileOperations} operations`],
    ...lagRows('noop'),
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
} else {
  const rows: [string, string][] = [
    ['services x endpoints', `${N} x ${M} (${N * (M + 1)} IPVS objects, ${N} VIPs)`],
    ['bulk-apply floor (IPVS client alone)', `${out.floorApplyMs} ms`],
    ['agent: feeding objects to the model', `${out.feedMs} ms`],
    ['agent: initial sync', `${out.initialSyncMs} ms (${(out.initialSyncMs! / out.floorApplyMs!).toFixed(2)}x the floor; ${out.initialOperations} IPVS operations + ${N} VIP binds)`],
    ['  of which: model, kernel read, plan, VIP binds, IPVS ops, ipsets, iptables', `${out.initialModelMs} / ${out.initialReadMs} / ${out.initialPlanMs} / ${out.initialBindMs} / ${out.initialApplyMs} / ${out.initialIpsetMs} / ${out.initialIptablesMs} ms (${out.ipsetEntries} ipset entries)`],
    ...lagRows('initial'),
    ['one endpoint added: operations', `${out.oneEndpointOperations} (${out.oneEndpointSyncKind ? 'incremental' : 'full'} sync)`],
    ['one endpoint added: event to kernel', `${out.oneEndpointMs} ms (model ${out.oneEndpointModelMs} ms, engine ${out.oneEndpointSyncMs} ms)`],
    ['no-op periodic reconcile', `${out.noopReconcileMs} ms wall, ${out.noopReconcileCpuMs} ms CPU, ${out.noopReconcileOperations} operations`],
    ['  of which: kernel read (dump), plan, ipsets, iptables (dump and compare)', `${out.noopReadMs} / ${out.noopPlanMs} / ${out.noopIpsetMs} / ${out.noopIptablesMs} ms`],
    ...lagRows('noop'),
    ['RSS / heap total after the initial sync, after the reconcile', `${out.afterInitialRssMB} / ${out.afterInitialHeapTotalMB} MB, ${out.afterReconcileRssMB} / ${out.afterReconcileHeapTotalMB} MB`],
    ['agent RSS / heap used / heap total / external', `${out.rssMB} MB / ${out.heapUsedMB} MB / ${out.heapTotalMB} MB / ${out.externalMB} MB`],
    ['agent peak RSS (VmHWM, whole run)', `${out.peakRssMB} MB (target <= 200 MB)`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}
