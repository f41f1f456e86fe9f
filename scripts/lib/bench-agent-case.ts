// One size of the agent benchmark (scripts/bench-agent.ts runs it in a child process, in a fresh
// network namespace): N Services x M endpoints (one port each) fed through an in-memory source into
// the real agent (model, sync engine, netlink, ipsets, iptables):
//   - the agent's initial sync (from "lists received" to the kernel programmed, VIPs bound);
//   - one endpoint added to one Service: the netlink operations it took and the time from the event
//     to the kernel (the backend's return: the endpoint is in the kernel) and to the end of the sync
//     (conntrack cleanup, health checks, metrics, the log line after it); then 20 more, each to another
//     Service: p50/p99 of event to kernel, of the model + engine time of their syncs, and of the ratio
//     of the two, and where the time went;
//   - a no-op periodic reconcile (full kernel dump and compare): wall time and CPU; then `reconciles`
//     in all, the process' RSS after each (no GC forced: what a memory limit sees) and its trend;
//   - the process' RSS now and at its peak (VmHWM);
//   - event-loop lag during the initial sync and the no-op reconcile (delay percentiles and maximum,
//     and GET /healthz polled every second by another process); `lagOnly` measures just that (no endpoint change, no
//     memory figures).
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { Agent } from '../../src/agent/agent.js';
import { IpvsClient } from '../../src/ipvs/client.js';
import { LinkClient } from '../../src/link/link.js';
import { MemorySource, vip, podIP, service as benchService, slice as benchSlice } from './bench-objects.js';
import { LagProbe, type LagFigures } from './loop-lag.js';
import { thousands, type Progress } from './bench-progress.js';
import { pooledSlope } from './slope.js';
import { GcMeter, type GcFigures } from './gc-meter.js';
import { cpuMs, childCpuMs, threadCpuMs, threadCpuSince, type ThreadCpu } from './cpu.js';
import type { HeapMode } from '../../src/config/heap.js';
import type { VipBinding } from '../../src/link/route-codec.js';
import { CpuProfiler, profileSummary } from './cpu-profile.js';

export interface AgentCaseOptions {
  services: number;
  endpoints: number;
  lagOnly: boolean;
  /** How V8 sizes the agent's heap (--heap; the agent's default when absent). */
  heap?: HeapMode;
  /** The agent's --vip-binding (its default when absent). */
  vipBinding?: VipBinding;
  /** undefined: the agent's default pacing; false: unpaced; else the Pacer's slice. */
  pacing: false | { sliceMs: number; minItems: number } | undefined;
  progress: Progress;
  /** Write a V8 CPU profile of the initial sync here (initial-sync-N.cpuprofile), its top functions to stderr. */
  cpuProfileDir?: string;
  /** No-op reconciles in all (the first is the one timed); RSS is read after each. Default RECONCILES. */
  reconciles?: number;
}

/** The agent's warnings and errors on stderr (a failed sync, a refused operation): rare, and they explain a figure. */
const said = (level: string) => (o: object, msg?: string) => process.stderr.write(`[agent ${level}] ${msg ?? ''} ${JSON.stringify(o)}\n`);
const warningsOnly = { info() {}, warn: said('warn'), error: said('error'), debug() {} };
/** Endpoint changes timed after the first, each to another Service (issue 12: p50/p99 over 20). */
const CHANGES = 20;
/** Issue 12: RSS after the reconcile flat over 10 reconciles. */
export const RECONCILES = 10;
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
/** The process' peak RSS so far (VmHWM, what a memory limit and the OOM killer see), MB. */
const peakRssMB = () => Math.round(Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024);

export async function runAgentCase(o: AgentCaseOptions): Promise<Record<string, number>> {
  const { services: N, endpoints: M, lagOnly, progress } = o;
  const service = (i: number) => benchService(i, 8080);
  const slice = (i: number, endpoints: number) => benchSlice(i, endpoints, 8080);
  const out: Record<string, number> = { services: N, endpointsPerService: M };

  // 1. The agent's initial sync.
  const source = new MemorySource();
  const agent = new Agent({
    nodeName: 'node-0', mode: 'ipvs', scheduler: 'rr', strictARP: false, syncPeriodMs: 3_600_000, minSyncPeriodMs: 0,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '127.0.0.1:0', metricsBindAddress: '',
    stateSocket: '', gracefulTerminationTimeoutMs: 60_000, source, log: warningsOnly,
    heap: o.heap,
    ...(o.vipBinding ? { vipBinding: o.vipBinding } : {}),
    pacing: o.pacing,
  });
  await agent.start();
  out.feedMs = Math.round(progress.step(`agent: feeding ${thousands(N)} Services and slices to the model`, () => {
    const t = performance.now();
    for (let i = 0; i < N; i++) {
      source.upsert('Service', service(i));
      source.upsert('EndpointSlice', slice(i, M));
    }
    return performance.now() - t;
  }));
  const lag = (label: string, f: LagFigures) => {
    for (const [k, v] of Object.entries(f)) out[`${label}${k[0]!.toUpperCase()}${k.slice(1)}`] = v;
  };
  const initialProbe = new LagProbe();
  await initialProbe.start(agent.healthzPort);
  const gcMeter = new GcMeter();
  // A sync's or reconcile's CPU by thread (see threadCpuMs): what beyond its wall is V8's helpers or libuv's pool.
  const putThreads = (label: string, t: ThreadCpu) => {
    out[`${label}MainUserMs`] = Math.round(t.mainUser);
    out[`${label}MainSysMs`] = Math.round(t.mainSys);
    out[`${label}OtherUserMs`] = Math.round(t.otherUser);
    out[`${label}OtherSysMs`] = Math.round(t.otherSys);
  };
  const recordGc = (label: string, f: GcFigures) => {
    out[`${label}GcMs`] = Math.round(f.ms);
    out[`${label}GcMajor`] = f.major;
    out[`${label}GcMinor`] = f.minor;
  };
  const gcAtStart = await gcMeter.read();
  const cpu0 = process.cpuUsage(), child0 = childCpuMs(), threads0 = threadCpuMs();
  const profiler = o.cpuProfileDir ? new CpuProfiler() : undefined;
  await profiler?.start();
  const t0 = performance.now();
  await progress.run('agent: initial sync', async () => {
    source.events!.synced();
    await agent.firstSync();
  });
  out.initialSyncMs = Math.round(performance.now() - t0);
  // Syncs that failed before the one that programmed everything (retried by the agent after >= 1 s).
  out.initialSyncFailures = agent.metrics.operationErrors.get({ op: 'sync' });
  // Its CPU, every thread and the iptables children: against the wall and the machine's CPUs, how
  // much of the sync waited on something other than CPU.
  out.initialCpuMs = cpuMs(process.cpuUsage(cpu0));
  out.initialChildCpuMs = childCpuMs() - child0;
  // Which threads: JavaScript and its own system calls on the main one; the netlink sends on libuv's
  // pool and V8's GC and compiles on the others (kernel work shows as their system time).
  putThreads('initial', threadCpuSince(threads0));
  // The profile is stopped and written after the sync's time and CPU are read: its I/O is not the sync's.
  if (profiler) {
    const file = join(o.cpuProfileDir!, `initial-sync-${N}.cpuprofile`);
    const top = profileSummary(await profiler.stop(file));
    process.stderr.write(`CPU profile of the initial sync (main thread, self time): ${file}\n${top.join('\n')}\n`);
  }
  out.cpus = availableParallelism();
  // The sync's wall, by the agent's own clock: the model's commit, the backend, what follows it.
  const timing = agent.lastSyncTiming!;
  out.initialCommitWallMs = Math.round(timing.commitMs);
  out.initialBackendWallMs = Math.round(timing.backendMs);
  out.initialAfterWallMs = Math.round(timing.afterMs);
  out.initialEngineMs = Math.round(agent.lastSync!.phases.ipvsMs ?? 0);
  recordGc('initial', await gcMeter.since(gcAtStart));
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
    // The high-water mark so far: which phase set the peak.
    out[`${label}PeakRssMB`] = peakRssMB();
  };
  heapNow('afterInitial');
  out.ipsetEntries = agent.metrics.ipsetEntries.get({});
  {
    const ipvs = IpvsClient.open();
    const link = LinkClient.open();
    const services = ipvs.services({ stats: false }).length;
    const dummy = link.link('kube-ipvs0');
    // Counted from the kernel, the way the agent binds them.
    const bound = o.vipBinding === 'local-route' ? link.localRoutes().length : dummy ? link.addresses(dummy.index).length : 0;
    if (services !== N || bound !== N) throw new Error(`initial sync: ${services} services, ${bound} VIPs bound; want ${N}`);
    ipvs.close();
    link.close();
  }

  // 2. One endpoint added to one Service: event to kernel.
  if (!lagOnly) {
    const i = Math.floor(N / 2);
    const before = agent.lastSync;
    const t = performance.now();
    source.upsert('EndpointSlice', slice(i, M + 1));
    while (agent.lastSync === before) await new Promise((r) => setImmediate(r));
    out.oneEndpointDoneMs = Math.round((performance.now() - t) * 100) / 100;
    out.oneEndpointMs = Math.round((agent.lastSyncTiming!.kernelAt - t) * 100) / 100;
    out.oneEndpointOperations = agent.lastSync!.operations;
    out.oneEndpointSyncKind = agent.lastSync!.kind === 'incremental' ? 1 : 0;
    out.oneEndpointSyncMs = Math.round(agent.lastSync!.durationMs * 100) / 100;
    out.oneEndpointModelMs = Math.round(agent.lastCommitMs * 100) / 100;
    const ipvs = IpvsClient.open();
    const servers = ipvs.servers({ family: 'inet', protocol: 'tcp', address: vip(i), port: 80 }, { stats: false });
    ipvs.close();
    if (!servers.some((s) => s.address === podIP(i, M))) throw new Error('the added endpoint is not in the kernel');

    // 20 more, each to another Service: event to kernel against the model + engine time of its sync.
    const total: number[] = [];
    const done: number[] = [];
    const ratio: number[] = [];
    const modelEngine: number[] = [];
    // Where each change's time went, as the agent saw it (lastSyncTiming), and the rest: from the
    // agent's end of the sync to this loop noticing it. The change is in the kernel when the backend
    // returns (kernelAt); what follows (conntrack cleanup, health-check ports, metrics, the log line)
    // is timed apart, in "sync done".
    const parts = {
      wait: [] as number[], model: [] as number[], backend: [] as number[], after: [] as number[],
      conntrack: [] as number[], healthCheck: [] as number[], notice: [] as number[],
    };
    for (let k = 0; k < CHANGES; k++) {
      const spread = Math.floor((N * (k + 0.5)) / CHANGES);
      const j = spread === i ? (i + 1) % N : spread; // not the Service of the first change
      const prev = agent.lastSync;
      const t1 = performance.now();
      source.upsert('EndpointSlice', slice(j, M + 1));
      while (agent.lastSync === prev) await new Promise((r) => setImmediate(r));
      const doneMs = performance.now() - t1;
      const tm = agent.lastSyncTiming!;
      const ms = tm.kernelAt - t1;
      const me = agent.lastCommitMs + agent.lastSync!.durationMs;
      total.push(ms);
      done.push(doneMs);
      modelEngine.push(me);
      ratio.push(ms / me);
      parts.wait.push(tm.waitMs);
      parts.model.push(tm.commitMs);
      parts.backend.push(tm.backendMs);
      parts.after.push(tm.afterMs);
      parts.conntrack.push(tm.conntrackMs);
      parts.healthCheck.push(tm.healthCheckMs);
      parts.notice.push(doneMs - tm.waitMs - tm.commitMs - tm.backendMs - tm.afterMs);
    }
    const pct = (xs: number[], q: number) => { const a = [...xs].sort((x, y) => x - y); return a[Math.min(a.length - 1, Math.ceil(q * a.length) - 1)]!; };
    const r2 = (x: number) => Math.round(x * 100) / 100;
    out.changes = CHANGES;
    out.changesP50Ms = r2(pct(total, 0.5));
    out.changesP99Ms = r2(pct(total, 0.99));
    out.changesDoneP50Ms = r2(pct(done, 0.5));
    out.changesDoneP99Ms = r2(pct(done, 0.99));
    out.changesModelEngineP50Ms = r2(pct(modelEngine, 0.5));
    out.changesModelEngineP99Ms = r2(pct(modelEngine, 0.99));
    out.changesRatioP50 = r2(pct(ratio, 0.5));
    out.changesRatioP99 = r2(pct(ratio, 0.99));
    for (const [k, xs] of Object.entries(parts)) out[`changesPart${k[0]!.toUpperCase()}${k.slice(1)}P50Ms`] = r2(pct(xs, 0.5));
  }

  // The agent's full collection after a periodic reconcile runs in the turn after it (heap-keeper.ts):
  // a reconcile's time and CPU count it, and RSS after it is read once it is done.
  const collected = () => new Promise((r) => setImmediate(r));

  // 3. A no-op periodic reconcile.
  await progress.run('agent: no-op periodic reconcile', async () => {
    const probe = new LagProbe();
    await probe.start(agent.healthzPort);
    const cpu = process.cpuUsage(), threadsAt = threadCpuMs();
    const t = performance.now();
    await agent.syncNow('period');
    await collected();
    out.noopReconcileMs = Math.round(performance.now() - t);
    const used = process.cpuUsage(cpu);
    putThreads('noop', threadCpuSince(threadsAt));
    lag('noop', await probe.stop());
    out.noopReconcileCpuMs = Math.round((used.user + used.system) / 1000);
    out.noopReconcileOperations = agent.lastSync?.operations ?? -1;
    phases('noop');
    heapNow('afterReconcile');
  });

  // 4. More no-op reconciles: RSS after each, as the kernel counts it, with no GC forced.
  const reconciles = lagOnly ? 1 : o.reconciles ?? RECONCILES;
  const rssAfter = [process.memoryUsage.rss()];
  // Wall and CPU of each later one: the first pays for compiling the reconcile's code (V8 compiles on
  // other threads, which counts as CPU), the later ones are what a node pays every period.
  const laterWall: number[] = [];
  const laterCpu: number[] = [];
  const gcBeforeLater = await gcMeter.read();
  const threadsBeforeLater = threadCpuMs();
  for (let k = 2; k <= reconciles; k++) {
    await progress.run(`agent: no-op periodic reconcile ${k} of ${reconciles}`, async () => {
      const cpu = process.cpuUsage();
      const t = performance.now();
      await agent.syncNow('period');
      await collected();
      laterWall.push(performance.now() - t);
      const used = process.cpuUsage(cpu);
      laterCpu.push((used.user + used.system) / 1000);
    });
    rssAfter.push(process.memoryUsage.rss());
  }
  if (laterWall.length) {
    // All the later reconciles' collections, per reconcile (a full collection comes every few).
    const th = threadCpuSince(threadsBeforeLater);
    putThreads('laterReconcileEach', { mainUser: th.mainUser / laterWall.length, mainSys: th.mainSys / laterWall.length, otherUser: th.otherUser / laterWall.length, otherSys: th.otherSys / laterWall.length });
    const g = await gcMeter.since(gcBeforeLater);
    recordGc('laterReconcileEach', { ms: g.ms / laterWall.length, major: Math.round(g.major / laterWall.length * 10) / 10, minor: Math.round(g.minor / laterWall.length) });
    const median = (xs: number[]) => { const a = [...xs].sort((x, y) => x - y); return a[(a.length - 1) >> 1]!; };
    out.laterReconcileP50Ms = Math.round(median(laterWall));
    out.laterReconcileCpuP50Ms = Math.round(median(laterCpu));
    out.laterReconcileCpuRatioP50 = Math.round(median(laterCpu.map((c, i) => c / laterWall[i]!)) * 100) / 100;
  }
  out.reconciles = reconciles;
  rssAfter.forEach((b, i) => { out[`reconcileRss${i + 1}MB`] = Math.round(b / 1024 / 1024 * 10) / 10; });
  const trend = rssSlope(rssAfter.map((b) => b / 1024 / 1024));
  if (trend !== undefined) out.reconcileRssSlopeMB = Math.round(trend * 100) / 100;

  gcMeter.stop();
  global.gc?.();
  const mem = process.memoryUsage();
  out.rssMB = mb(mem.rss);
  out.heapUsedMB = mb(mem.heapUsed);
  out.heapTotalMB = mb(mem.heapTotal);
  out.externalMB = mb(mem.external);
  // The peak, which is what a memory limit and the OOM killer see: the kernel's high-water mark.
  out.peakRssMB = peakRssMB();
  await agent.stop();
  {
    const ipvs = IpvsClient.open();
    ipvs.flush();
    ipvs.close();
    const link = LinkClient.open();
    link.deleteLink('kube-ipvs0');
    link.close();
  }
  return out;
}

/**
 * The least-squares slope of RSS per reconcile (MB) from the second reconcile on: the first grows
 * the heap to what a reconcile needs, the later ones show whether it keeps growing. Undefined with
 * fewer than 3 points.
 */
export function rssSlope(mb: readonly number[]): number | undefined {
  return pooledSlope(mb.slice(1).map((y, x) => ({ x, y, group: 0 }))) ?? undefined;
}
