// The soak, run by `npm run soak` (scripts/soak.ts) and, shortened, by test/sandbox/soak.test.ts:
// 50 Services fed by the fake API server to a real `kipvs agent` process, backends and a client in
// network namespaces, endpoints churned every second while faults happen one after another
// (faults.ts). It records what it did and what the kernel and the client saw; stats.ts judges.
import type { VipBinding } from '../../src/link/route-codec.js';
import { mkdirSync, rmSync } from 'node:fs';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { resetKernel } from '../sandbox/helpers.js';
import {
  NODE, OTHER_NODE, TCP_TARGET, UDP_TARGET, PodIps, makeServices, serviceManifest, sliceManifest, desiredKernel, desiredVirtualServices,
  signature, vsKey, type Pod, type SoakService, type VirtualService,
} from './cluster.js';
import { readIpvs, readKernel, compareKernel, connectionsOf } from './kernel.js';
import { AgentProcess, Backends, ClientLoad, NODE_ADDRESS, setupNetwork, teardownNetwork, type ClientRecord } from './processes.js';
import { runFaults, type FaultLog } from './faults.js';

export interface SoakOptions {
  durationMs: number;
  dir: string;
  services?: number;
  /** Client loops, each pausing `pauseMs` between requests: the sandbox has 2 emulated CPUs to share. */
  workers?: number;
  pauseMs?: number;
  /** Kill and restart the agent (SIGKILL, SIGTERM): each start costs the sandbox a minute or more. */
  restarts?: boolean;
  churnEveryMs?: number;
  /** The agent's --ipvs-sync-period (the periodic reconcile that repairs hand edits). */
  syncPeriod?: string;
  gracefulTermination?: string;
  /** How long a 500s or stall fault lasts, and how long the API server is away. */
  faultMs?: number;
  awayMs?: number;
  gapMs?: number;
  repairBoundMs?: number;
  metricsPort?: number;
  /** The agent's --vip-binding: the kernel's VIPs are read, and a hand edit deletes one, that way. */
  vipBinding?: VipBinding;
  seed?: number;
  progress?: (line: string) => void;
}

export interface Target { proto: 'TCP' | 'UDP'; host: string; port: number; service: string; vs: string }
export interface Change { service: string; at: number; phase: string; sig: string; seenAt?: number }
/**
 * A real server that must go. `change`: the change that removed it from the desired state; the removal
 * counts as programmed only once the kernel has shown that change (so a server the kernel never had
 * yet, which an agent catching up could still add, is not taken as removed).
 */
export interface Removal { vs: string; server: string; ip: string; desiredAt: number; programmedAt?: number; change?: Change }

export interface SoakData {
  options: Required<Omit<SoakOptions, 'progress' | 'seed'>>;
  startedAt: number;
  endedAt: number;
  targets: Target[];
  /** Every pod IP each Service ever had. */
  podsEver: Map<string, Set<string>>;
  records: ClientRecord[];
  changes: Change[];
  removals: Removal[];
  faults: FaultLog;
  /** VmRSS samples; `synced`: when that lifetime's first sync was done (absent while it started up). */
  rss: { t: number; mb: number; life: number; synced?: number }[];
  lag: { t: number; p99: number; max: number }[];
  dumps: number;
  /** What was being done when: each phase from its start to the next one's. */
  phases: { name: string; from: number; to: number }[];
  final: { diffs: string[]; waitedMs: number };
  agentErrors: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small deterministic generator (mulberry32), so a soak can be replayed with the same seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runSoak(opts: SoakOptions): Promise<SoakData> {
  const o: SoakData['options'] = {
    durationMs: opts.durationMs, dir: opts.dir, services: opts.services ?? 50, workers: opts.workers ?? 2, pauseMs: opts.pauseMs ?? 50, restarts: opts.restarts ?? true, churnEveryMs: opts.churnEveryMs ?? 1000,
    syncPeriod: opts.syncPeriod ?? '10s', gracefulTermination: opts.gracefulTermination ?? '10s', faultMs: opts.faultMs ?? 10_000,
    awayMs: opts.awayMs ?? 30_000, gapMs: opts.gapMs ?? 5000, repairBoundMs: opts.repairBoundMs ?? 60_000, metricsPort: opts.metricsPort ?? 19_349,
    vipBinding: opts.vipBinding ?? 'address',
  };
  const progress = opts.progress ?? (() => {});
  const rnd = random(opts.seed ?? 11);
  mkdirSync(o.dir, { recursive: true });
  rmSync(`${o.dir}/agent.log`, { force: true });
  resetKernel();
  setupNetwork();

  const services = makeServices(o.services);
  const ips = new PodIps();
  const pods = new Map<string, Pod[]>(services.map((s) => [s.name, []]));
  const podsEver = new Map<string, Set<string>>(services.map((s) => [s.name, new Set()]));
  const targets: Target[] = services.flatMap((s) => [
    { proto: s.protocol, host: s.clusterIP, port: s.port, service: s.name, vs: vsKey(s.protocol, s.clusterIP, s.port) },
    ...(s.nodePort ? [{ proto: s.protocol, host: NODE_ADDRESS, port: s.nodePort, service: s.name, vs: vsKey(s.protocol, NODE_ADDRESS, s.nodePort) }] : []),
  ]);
  const records: ClientRecord[] = [];
  const changes: Change[] = [];
  const pending = new Map<string, Change[]>();
  const removals = new Map<string, Removal>();
  const lastSig = new Map<string, string>();
  const gone: { pod: Pod; at: number }[] = [];
  const faults: FaultLog = { handEdits: [], restarts: [], apiFaults: [] };
  const rss: SoakData['rss'] = [];
  const lag: SoakData['lag'] = [];
  let phase = 'setting up', dumps = 0;
  const phases: SoakData['phases'] = [{ name: phase, from: Date.now(), to: Infinity }];
  const setPhase = (p: string) => { const now = Date.now(); phases.at(-1)!.to = now; phases.push({ name: p, from: now, to: Infinity }); phase = p; };

  const newPod = (s: SoakService, node: string): Pod => {
    const ip = ips.take();
    podsEver.get(s.name)!.add(ip);
    return { ip, name: `${s.name}-${ip.split('.').slice(2).join('-')}`, service: s.name, node, state: 'ready' };
  };
  const readyLocal = (s: SoakService) => pods.get(s.name)!.filter((p) => p.state === 'ready' && p.node === NODE).length;

  const api = new FakeApiServer();
  await api.start();
  api.writeKubeconfig(`${o.dir}/kubeconfig`);
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
  const backends = new Backends(TCP_TARGET, UDP_TARGET);
  await backends.ready;
  for (const s of services) {
    const list = pods.get(s.name)!;
    list.push(newPod(s, NODE), newPod(s, s.local ? NODE : OTHER_NODE));
    if (!s.stable && rnd() < 0.5) list.push(newPod(s, rnd() < 0.5 ? NODE : OTHER_NODE));
  }
  await backends.up([...pods.values()].flat().map((p) => p.ip));
  for (const s of services) {
    api.create(serviceManifest(s));
    api.create(sliceManifest(s, pods.get(s.name)!));
    lastSig.set(s.name, signature(desiredVirtualServices(s, pods.get(s.name)!, [NODE_ADDRESS])));
  }

  /** The slice as it is now goes to the API server; the change is timed until the kernel shows it. */
  const publish = (s: SoakService) => {
    const list = pods.get(s.name)!;
    api.update(sliceManifest(s, list));
    const at = Date.now();
    const vss = desiredVirtualServices(s, list, [NODE_ADDRESS]);
    const sig = signature(vss);
    // Timed only when the kernel has something to show: a pod that leaves the slice after terminating
    // changes no weighted server (it is at weight 0 or gone already).
    let change: Change | undefined;
    if (sig !== lastSig.get(s.name)) {
      change = { service: s.name, at, phase, sig };
      changes.push(change);
      pending.set(s.name, [...(pending.get(s.name) ?? []), change]);
      lastSig.set(s.name, sig);
    }
    for (const p of list) {
      if (p.state === 'ready') continue;
      for (const [vs] of vss) {
        const server = `${p.ip}:${s.targetPort}`;
        if (!removals.has(`${vs}|${server}`)) removals.set(`${vs}|${server}`, { vs, server, ip: p.ip, desiredAt: at, ...(change ? { change } : {}) });
      }
    }
  };

  const agent = new AgentProcess({ dir: o.dir, logFile: `${o.dir}/agent.log`, kubeconfig: `${o.dir}/kubeconfig`, nodeName: NODE, metricsPort: o.metricsPort, syncPeriod: o.syncPeriod, gracefulTermination: o.gracefulTermination, vipBinding: o.vipBinding });
  const stops: (() => Promise<void>)[] = [];
  let client: ClientLoad | undefined;
  let final: SoakData['final'] = { diffs: ['the soak did not get to the final comparison'], waitedMs: 0 };
  const startedAt = Date.now();
  try {
    progress(`starting the agent (${services.length} Services, ${[...pods.values()].flat().length} pods, ${targets.length} client targets)`);
    const firstMs = await agent.start();
    progress(`agent synced in ${firstMs} ms`);

    const observe = (ipvs: Map<string, VirtualService>, seenAt: number) => {
      for (const [name, list] of pending) {
        const s = services.find((x) => x.name === name)!;
        const keys = [...desiredVirtualServices(s, [], [NODE_ADDRESS]).keys()];
        const have = signature(new Map(keys.map((k) => [k, ipvs.get(k) ?? { scheduler: '', persistent: 0, servers: new Map() }])));
        let j = -1;
        list.forEach((c, i) => { if (c.sig === have) j = i; });
        if (j < 0) continue;
        for (const c of list.slice(0, j + 1)) c.seenAt = seenAt;
        if (j === list.length - 1) pending.delete(name); else pending.set(name, list.slice(j + 1));
      }
      for (const r of removals.values()) {
        if (r.programmedAt !== undefined || (r.change && r.change.seenAt === undefined)) continue;
        const w = ipvs.get(r.vs)?.servers.get(r.server);
        if (w === undefined || w === 0) r.programmedAt = seenAt;
      }
    };
    // The kernel observer: ipvsadm -Sn over and over; each dump resolves the changes and removals it shows.
    let observing = true;
    let lastDump: Map<string, VirtualService> | undefined;
    const recentDumps: { at: number; ipvs: Map<string, VirtualService> }[] = [];
    const observer = (async () => {
      while (observing) {
        const ipvs = await readIpvs().catch(() => undefined);
        const seenAt = Date.now();
        if (ipvs) {
          dumps++;
          observe(ipvs, seenAt);
          lastDump = ipvs;
          recentDumps.push({ at: seenAt, ipvs });
          // A failure is reported up to a few seconds after its request was sent: keep ~6 s of dumps.
          if (recentDumps.length > 30) recentDumps.shift();
        }
        await sleep(200);
      }
    })();
    stops.push(async () => { observing = false; await observer; });

    // Wait for the kernel to match before loading it; take the agent's nat jumps as they are then.
    const nodePorts = new Set(services.flatMap((s) => (s.nodePort ? [s.nodePort] : [])));
    const want = () => desiredKernel(services, (s) => pods.get(s.name)!, [NODE_ADDRESS]);
    let kernel = await readKernel(o.vipBinding);
    for (let i = 0; compareKernel(want(), kernel, nodePorts, []).length && i < 600; i++) { await sleep(100); kernel = await readKernel(o.vipBinding); }
    const initialDiffs = compareKernel(want(), kernel, nodePorts, []);
    if (initialDiffs.length) throw new Error(`the agent's first sync does not match the desired state:\n${initialDiffs.slice(0, 20).join('\n')}`);
    const jumps = kernel.natJumps;
    const natJump = jumps.find((j) => /-j KUBE-POSTROUTING$/.test(j)) ?? jumps[0];
    if (!natJump) throw new Error('the agent programmed no nat jumps');

    const onRecord = (r: ClientRecord) => {
      if (r.err !== undefined) {
        const servers = (vs: VirtualService | undefined) => (vs ? [...vs.servers].map(([server, w]) => `${server}=${w}${backends.serving.has(server.split(':')[0]!) ? '' : '!'}`) : ['(no virtual service in that dump)']);
        r.kernel = servers(lastDump?.get(targets[r.i]!.vs));
        const before = recentDumps.filter((d) => d.at <= r.t).at(-1);
        if (before) r.kernelAtSend = [`${r.t - before.at} ms before sending:`, ...servers(before.ipvs.get(targets[r.i]!.vs))];
        const t = targets[r.i]!;
        const localPort = /local port (\d+)/.exec(r.err)?.[1];
        void connectionsOf(t.proto === 'UDP' ? 'udp' : 'tcp', t.host, t.port, localPort ? Number(localPort) : undefined).then((c) => { r.conns = c; });
      }
      records.push(r);
    };
    client = new ClientLoad(o.dir, targets.map(({ proto, host, port }) => ({ proto, host, port })), o.workers, o.pauseMs, onRecord);
    await Promise.race([client.started, sleep(60_000)]);
    const loadFrom = Date.now();
    progress(`client load on (${o.workers} workers)`);

    // Samplers: RSS every second, event-loop lag every 5 s.
    let sampling = true;
    const sampler = (async () => {
      for (let k = 0; sampling; k++) {
        const mb = agent.rssMB();
        if (mb !== undefined) rss.push({ t: Date.now(), mb, life: agent.starts, ...(agent.syncedAt !== undefined ? { synced: agent.syncedAt } : {}) });
        if (k % 5 === 0) { const l = await agent.eventLoopLag(); if (l) lag.push({ t: Date.now(), ...l }); }
        await sleep(1000);
      }
    })();
    stops.push(async () => { sampling = false; await sampler; });

    // Churn: every tick one Service scales up, down, or replaces a pod; terminating pods go after 2 s;
    // gone pods stop existing once the kernel has shown their removal for 3 s.
    let churning = true;
    const churnable = services.filter((s) => !s.stable);
    const churn = (async () => {
      while (churning) {
        const tick = Date.now();
        const s = churnable[Math.floor(rnd() * churnable.length)]!;
        const list = pods.get(s.name)!;
        const ready = list.filter((p) => p.state === 'ready');
        const r = rnd();
        const add = ready.length < 2 || (ready.length < 4 && r < 0.4);
        const replace = !add && r > 0.7;
        if (add || replace) {
          const p = newPod(s, s.local && readyLocal(s) < 2 ? NODE : rnd() < 0.5 ? NODE : OTHER_NODE);
          await backends.up([p.ip]);
          list.push(p);
        }
        if (!add) {
          const canGo = ready.filter((p) => !(s.local && p.node === NODE && readyLocal(s) <= 1));
          const victim = canGo[Math.floor(rnd() * canGo.length)];
          if (victim) { victim.state = 'terminating'; victim.terminatingAt = Date.now(); }
        }
        publish(s);
        for (const t of churnable) {
          const l = pods.get(t.name)!;
          const old = l.filter((p) => p.state === 'terminating' && p.terminatingAt! <= Date.now() - 2000);
          if (!old.length) continue;
          pods.set(t.name, l.filter((p) => !old.includes(p)));
          publish(t);
          for (const p of old) gone.push({ pod: p, at: Date.now() });
        }
        const down: string[] = [];
        for (const g of [...gone]) {
          const rs = [...removals.values()].filter((x) => x.ip === g.pod.ip);
          if (rs.every((x) => x.programmedAt !== undefined && x.programmedAt <= Date.now() - 3000)) { down.push(g.pod.ip); gone.splice(gone.indexOf(g), 1); }
        }
        await backends.down(down);
        await sleep(Math.max(0, o.churnEveryMs - (Date.now() - tick)));
      }
    })();
    stops.push(async () => { churning = false; await churn; });

    // Progress every 10 s.
    const report = setInterval(() => {
      const failed = records.filter((r) => r.err !== undefined).length;
      const el = Math.round((Date.now() - loadFrom) / 1000);
      progress(`[${phase}] ${el}/${Math.round(o.durationMs / 1000)} s  requests ${records.length}  failed ${failed}  changes ${changes.length} (${[...pending.values()].flat().length} pending)  restarts ${faults.restarts.length}  hand edits ${faults.handEdits.length}  rss ${rss.at(-1)?.mb.toFixed(0) ?? '-'} MB`);
    }, 10_000);
    stops.push(async () => clearInterval(report));

    const victimService = services.find((s) => s.stable && s.protocol === 'TCP' && s.type === 'ClusterIP' && !s.affinity)!;
    await runFaults({
      api, agent, natJump, vipBinding: o.vipBinding, faultMs: o.faultMs, awayMs: o.awayMs, repairBoundMs: o.repairBoundMs, log: faults,
      victim: () => ({ vip: victimService.clusterIP, port: victimService.port, server: `${pods.get(victimService.name)![0]!.ip}:${victimService.targetPort}` }),
      setPhase,
    }, o.gapMs, () => Date.now() - loadFrom >= o.durationMs, () => o.restarts && Date.now() - loadFrom < o.durationMs * 0.6, o.restarts);
    // The last stretch without faults, until the duration is up.
    setPhase('steady');
    while (Date.now() - loadFrom < o.durationMs) await sleep(200);

    // Wind down: churn stops, terminating pods go, the load stops; then the kernel must equal the desired state.
    setPhase('final');
    churning = false;
    await churn;
    for (const s of churnable) {
      const l = pods.get(s.name)!;
      if (l.some((p) => p.state !== 'ready')) { pods.set(s.name, l.filter((p) => p.state === 'ready')); publish(s); }
    }
    await client.stop();
    client = undefined;
    const t0 = Date.now();
    let diffs = compareKernel(want(), await readKernel(o.vipBinding), nodePorts, jumps);
    while (diffs.length && Date.now() - t0 < 60_000) { await sleep(1000); diffs = compareKernel(want(), await readKernel(o.vipBinding), nodePorts, jumps); }
    final = { diffs, waitedMs: Date.now() - t0 };
    progress(`final comparison: ${diffs.length ? `${diffs.length} differences` : 'kernel equals the desired state'} (after ${final.waitedMs} ms)`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await client?.stop().catch(() => {});
    await agent.stop('SIGTERM').catch(() => {});
    backends.stop();
    await api.stop();
    teardownNetwork();
    resetKernel();
  }
  return {
    options: o, startedAt, endedAt: Date.now(), targets, podsEver, records, changes, removals: [...removals.values()], faults, rss, lag, dumps, phases, final,
    agentErrors: agent.errors,
  };
}
