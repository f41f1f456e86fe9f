// The benchmark's "new node" path (--new-node): a whole `kipvs agent` process, in a fresh network
// namespace, from its start to everything programmed (its first "sync" log line, which it writes after
// IPVS, the VIPs, the ipsets and the iptables rules are in), its peak RSS, and one endpoint added, to the
// next "sync" line; twice: fed by a manifests directory (one JSON file per Service: the Service and its
// EndpointSlice, written before the process starts, untimed, on the guest's local /tmp, as a node would
// have them on a local disk; the change: one file rewritten) and by the fake API server through the real
// client-node informers (the objects created before the process starts; the server listens inside the
// agent's namespace, in this process; the change: one EndpointSlice updated, a watch event). Beside them
// `ipvsadm -R` of the same IPVS objects into another fresh namespace.
import { DEFAULT_HEAP, NODE_FLAGS, type HeapMode } from '../../src/config/heap.js';
import type { VipBinding } from '../../src/link/route-codec.js';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { IpvsClient } from '../../src/ipvs/client.js';
import { ProxyModel } from '../../src/model/model.js';
import { feedModel } from '../../src/agent/feed.js';
import type { Operation } from '../../src/ipvs/types.js';
import { service as benchService, slice as benchSlice, vip, podIP } from './bench-objects.js';
import { freshNamespace, deleteNamespaces, timeInNamespace, settle } from './netns.js';
import { enterNetworkNamespace } from '../../src/netlink/netns.js';
import { FakeApiServer } from '../../test/fake-apiserver/server.js';
import { ipvsFloorOperations, round1 } from './bench-floor-plan.js';
import type { Progress } from './bench-progress.js';

const TARGET_PORT = 8080;
/** Endpoint changes timed after the first sync, and the time between them. */
export const CHANGES = 12;
export const CHANGE_SPACING_MS = 3000;

/** One manifest file: Service i and its EndpointSlice, as a List. */
export function manifestFile(i: number, endpoints: number): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [benchService(i, TARGET_PORT), benchSlice(i, endpoints, TARGET_PORT)] }) + '\n';
}

const FORWARD: Record<string, string> = { masq: '-m', route: '-g', tunnel: '-i' };
const PROTO: Record<string, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };

/** ipvsadm -R input for IPVS operations that add services and servers (what a first sync does). */
export function ipvsadmRestoreInput(ops: readonly Operation[]): string {
  const hostPort = (address: string, port: number) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);
  const lines: string[] = [];
  for (const op of ops) {
    if (op.op !== 'add-service' && op.op !== 'add-server') throw new Error(`ipvsadm -R input: operation ${op.op} is not an add`);
    const s = op.service;
    if (s.address === undefined) throw new Error(`ipvsadm -R input: service fwmark ${s.fwmark}: fwmark services are not rendered`);
    const svc = `${PROTO[s.protocol]} ${hostPort(s.address, s.port)}`;
    if (op.op === 'add-service') {
      if (op.service.persistent) throw new Error(`ipvsadm -R input: service ${svc}: persistence is not rendered`);
      lines.push(`-A ${svc} -s ${op.service.scheduler}`);
    } else {
      const fwd = FORWARD[op.server.forward ?? 'masq'];
      if (!fwd) throw new Error(`ipvsadm -R input: server ${op.server.address} of ${svc}: forward ${op.server.forward} is not rendered`);
      lines.push(`-a ${svc} -r ${hostPort(op.server.address, op.server.port)} ${fwd} -w ${op.server.weight ?? 1}`);
    }
  }
  return lines.join('\n') + '\n';
}

export interface NewNodeResult {
  /** Process start to the first sync logged (everything programmed). */
  programmedMs: number;
  /** The first sync's own duration, as the agent logged it. */
  firstSyncMs: number;
  /**
   * Process start to the agent's first log line (node started, the bundle loaded), and to its
   * "initial lists received; syncing" (its source has listed everything: the first sync begins).
   */
  firstLogMs?: number;
  syncingMs?: number;
  /** Its phases as logged (model, read, plan, bind, apply, unbind, ipset, iptables), in ms. */
  firstSyncPhases?: Record<string, number>;
  failures: number;
  peakRssMB: number;
  /** One endpoint added by rewriting one file, to the sync that programmed it. */
  fileChangeMs: number;
  fileChangeOperations: number;
  /** Every change timed (the first is fileChangeMs), CHANGE_SPACING_MS apart. */
  fileChangesMs?: number[];
  ipvsadmRestoreMs: number;
  ipvsServices: number;
  /** The same through the fake API server and client-node's informers (the change: a watch event). */
  api?: AgentProcessResult;
  apiError?: string;
}

type AgentProcessResult = Omit<NewNodeResult, 'ipvsadmRestoreMs' | 'api' | 'apiError'>;

interface SyncLine { at: number; ms: number; operations: number; failures: number; phases?: Record<string, number> }

/** The agent's stderr, one JSON line each: resolves waiters on its "sync" lines. */
export class SyncWatcher {
  readonly lines: SyncLine[] = [];
  /** When each message was first read, by its text (the start-up's milestones). */
  readonly firstSeen = new Map<string, number>();
  #waiters: (() => void)[] = [];
  tail: string[] = [];
  feed(line: string): void {
    this.tail = [...this.tail.slice(-19), line];
    let o: { msg?: string; ms?: number; operations?: number; failures?: number; phases?: Record<string, number> };
    try { o = JSON.parse(line); } catch { return; }
    if (typeof o.msg === 'string' && !this.firstSeen.has(o.msg)) this.firstSeen.set(o.msg, performance.now());
    if (o.msg !== 'sync') return;
    this.lines.push({ at: performance.now(), ms: o.ms ?? 0, operations: o.operations ?? 0, failures: o.failures ?? 0, ...(o.phases ? { phases: o.phases } : {}) });
    for (const w of this.#waiters.splice(0)) w();
  }
  async next(count: number, timeoutMs: number, exited: () => string | undefined): Promise<SyncLine> {
    const t = performance.now();
    while (this.lines.length < count) {
      const why = exited();
      if (why) throw new Error(`kipvs agent ${why}; its last lines: ${this.tail.join(' | ').slice(-800)}`);
      if (performance.now() - t > timeoutMs) throw new Error(`kipvs agent: no sync logged in ${Math.round(timeoutMs / 1000)} s`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 1000);
      });
    }
    return this.lines[count - 1]!;
  }
}

/** From process start (t0): the agent's first log line, and the start of its first sync (see NewNodeResult). */
function milestones(w: SyncWatcher, t0: number): { firstLogMs?: number; syncingMs?: number } {
  const first = Math.min(...w.firstSeen.values());
  const syncing = w.firstSeen.get('initial lists received; syncing');
  return { ...(Number.isFinite(first) ? { firstLogMs: Math.round(first - t0) } : {}), ...(syncing !== undefined ? { syncingMs: Math.round(syncing - t0) } : {}) };
}

/** `heap`: the agent's --v8-heap (its default when absent). */
export async function runNewNode(o: { cli: string; services: number; endpoints: number; progress: Progress; timeoutMs?: number; heap?: HeapMode; vipBinding?: VipBinding }): Promise<NewNodeResult> {
  const agent = await runAgentProcess({ ...o, via: 'manifests' });
  let api: AgentProcessResult | undefined, apiError: string | undefined;
  try {
    api = await runAgentProcess({ ...o, via: 'api' });
  } catch (err) {
    // Reported beside the manifests figures, which stand.
    apiError = String((err as Error).message).split('\n')[0];
    o.progress.note(`new node through the API server FAILED: ${apiError}`);
  }
  const ipvsadmRestoreMs = ipvsadmRestore(o.services, o.endpoints, o.progress);
  await o.progress.run('new node: ipvsadm namespace deleted, waiting for the machine to settle', () => settle());
  return { ...agent, ipvsadmRestoreMs, ...(api ? { api } : {}), ...(apiError ? { apiError } : {}) };
}

async function runAgentProcess(o: { cli: string; services: number; endpoints: number; progress: Progress; timeoutMs?: number; heap?: HeapMode; vipBinding?: VipBinding; via: 'manifests' | 'api' }): Promise<AgentProcessResult> {
  const { services: N, endpoints: M, progress } = o;
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-manifests-'));
  const sockDir = mkdtempSync(join(tmpdir(), 'kipvs-state-'));
  const ns = freshNamespace('kipvs-bench-newnode');
  const timeoutMs = o.timeoutMs ?? 20 * 60_000;
  const what = o.via === 'api' ? 'new node (API server)' : 'new node';
  let api: FakeApiServer | undefined;
  try {
    let sourceArgs: string[];
    if (o.via === 'manifests') {
      progress.step(`new node: writing ${N.toLocaleString('en-US')} manifest files`, () => {
        for (let i = 0; i < N; i++) writeFileSync(join(dir, `svc-${i}.json`), manifestFile(i, M));
      });
      sourceArgs = ['--manifests', dir];
    } else {
      // The server's listening socket is made inside the agent's namespace, whose loopback the agent dials.
      const back = enterNetworkNamespace(`/run/netns/${ns}`);
      try {
        api = new FakeApiServer();
        await api.start();
      } finally {
        back();
      }
      const server = api;
      progress.step(`${what}: creating ${N.toLocaleString('en-US')} Services and EndpointSlices`, () => {
        server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-0' } });
        for (let i = 0; i < N; i++) {
          server.create(benchService(i, TARGET_PORT));
          server.create(benchSlice(i, M, TARGET_PORT));
        }
      });
      server.writeKubeconfig(join(dir, 'kubeconfig'));
      sourceArgs = ['--kubeconfig', join(dir, 'kubeconfig')];
    }
    const watcher = new SyncWatcher();
    const t0 = performance.now();
    // nf_conntrack_max is the initial namespace's alone (EACCES in any other): left alone here, as
    // --conntrack-max-per-core=0 says. The state socket goes beside the manifests, not in the shared /run.
    // As bin/kipvs.js starts it: node with the heap mode's command-line flags.
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...NODE_FLAGS[o.heap ?? DEFAULT_HEAP], o.cli, 'agent', ...sourceArgs, '--hostname-override', 'node-0',
      '--conntrack-max-per-core=0', `--state-socket=${sockDir}/state.sock`, ...(o.heap ? [`--v8-heap=${o.heap}`] : []), ...(o.vipBinding ? [`--vip-binding=${o.vipBinding}`] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    let exit: string | undefined;
    const exited = new Promise<void>((r) => child.once('exit', (code, signal) => {
      exit = `exited (${signal ?? code})`;
      r();
    }));
    createInterface({ input: child.stderr! }).on('line', (l) => watcher.feed(l));
    try {
      const first = await progress.run(`${what}: kipvs agent, start to everything programmed`, () => watcher.next(1, timeoutMs, () => exit));
      const programmedMs = first.at - t0;
      const ipvs = IpvsClient.open({ netns: `/run/netns/${ns}` });
      const ipvsServices = ipvs.services({ stats: false }).length;
      if (first.failures || ipvsServices !== N) throw new Error(`${what}: first sync with ${first.failures} failures, ${ipvsServices} IPVS services; want ${N}`);
      // One endpoint added: the file replaced whole (written aside, renamed), as a config tool would.
      // Other syncs may be logged meanwhile (the source's poll, a retry): the change is timed to the
      // first sync after the write after which the kernel holds the endpoint. The first comes right
      // after the first sync; the others CHANGE_SPACING_MS apart, each on another Service, wherever
      // the agent then is (idle, its source's poll, and, 30 s after the first sync, the first
      // periodic reconcile: the last changes fall in it).
      const changes: SyncLine[] = [];
      const changeMs: number[] = [];
      const count = Math.min(CHANGES, N);
      for (let k = 0; k < count; k++) {
        if (k > 0) await new Promise((r) => setTimeout(r, CHANGE_SPACING_MS));
        // Services spread over the range, each once.
        const i = (Math.floor(N / 2) + k * Math.floor(N / count)) % N;
        const added = () => ipvs.servers({ family: 'inet', protocol: 'tcp', address: vip(i), port: 80 }, { stats: false }).some((s) => s.address === podIP(i, M));
        if (added()) throw new Error(`${what}: the endpoint to add to Service ${i} is in the kernel already`);
        const t1 = performance.now();
        if (api) api.update(benchSlice(i, M + 1, TARGET_PORT));
        else {
          writeFileSync(join(dir, '.next'), manifestFile(i, M + 1));
          renameSync(join(dir, '.next'), join(dir, `svc-${i}.json`));
        }
        const seen = watcher.lines.length;
        const change = await progress.run(`${what}: one endpoint added (${api ? 'an EndpointSlice updated' : 'in one file'}), ${k + 1} of ${count}`, async () => {
          for (let n = seen + 1; ; n++) {
            const line = await watcher.next(n, Math.max(1, 60_000 - (performance.now() - t1)), () => exit);
            if (added()) return line;
          }
        });
        changes.push(change);
        changeMs.push(round1(change.at - t1));
      }
      ipvs.close();
      const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      return {
        programmedMs: Math.round(programmedMs), firstSyncMs: Math.round(first.ms), ...milestones(watcher, t0), ...(first.phases ? { firstSyncPhases: first.phases } : {}), failures: first.failures,
        peakRssMB: Math.round(Number(hwm ?? 0) / 1024),
        fileChangeMs: changeMs[0]!, fileChangeOperations: changes[0]!.operations, fileChangesMs: changeMs, ipvsServices,
      };
    } finally {
      if (!exit) child.kill('SIGTERM');
      await exited;
    }
  } finally {
    await api?.stop();
    deleteNamespaces([ns]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(sockDir, { recursive: true, force: true });
    await progress.run(`${what}: namespace deleted, waiting for the machine to settle`, () => settle());
  }
}

/** `ipvsadm -R` of the same IPVS objects (from the agent's model) into a fresh namespace, timed inside it. */
function ipvsadmRestore(N: number, M: number, progress: Progress): number {
  const model = new ProxyModel({ scheduler: 'rr', nodeName: 'node-0', families: ['inet'], backend: 'ipvs' });
  for (let i = 0; i < N; i++) {
    feedModel(model, 'node-0', 'Service', benchService(i, TARGET_PORT), false);
    feedModel(model, 'node-0', 'EndpointSlice', benchSlice(i, M, TARGET_PORT), false);
  }
  model.commit();
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-ipvsadm-'));
  const file = join(dir, 'ipvsadm.restore');
  writeFileSync(file, ipvsadmRestoreInput(ipvsFloorOperations(model.desired)));
  const ns = freshNamespace('kipvs-bench-ipvsadm');
  try {
    const ms = progress.step('new node: ipvsadm -R of the same IPVS objects', () => timeInNamespace(ns, ':', `ipvsadm -R < ${file}`));
    const ipvs = IpvsClient.open({ netns: `/run/netns/${ns}` });
    const n = ipvs.services({ stats: false }).length;
    ipvs.close();
    if (n !== N) throw new Error(`ipvsadm -R: ${n} services in the kernel, want ${N}`);
    return ms;
  } finally {
    deleteNamespaces([ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
