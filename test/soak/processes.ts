// The soak's moving parts outside its own process: the network namespaces, the backend pods, the
// client load and the agent (`kipvs agent`, a real process that can be killed).
//   client ns soak-cl 10.252.0.2 --veth-- node (root ns: the agent; 10.252.0.1, 10.253.0.1) --veth-- soak-be 10.253.0.2 (pods 10.244.0.0/16)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEAP, NODE_FLAGS } from '../../src/config/heap.js';
import type { VipBinding } from '../../src/link/route-codec.js';

export const CLIENT_NS = 'soak-cl';
export const BACKEND_NS = 'soak-be';
/** The node address the client reaches NodePorts on. */
export const NODE_ADDRESS = '10.252.0.1';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const sh = (script: string) => execFileSync('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

export function setupNetwork(): void {
  teardownNetwork();
  sh(`set -e
    ip netns add ${CLIENT_NS}; ip netns add ${BACKEND_NS}
    ip link add v-soak-cl type veth peer name eth0 netns ${CLIENT_NS}
    ip link add v-soak-be type veth peer name eth0 netns ${BACKEND_NS}
    ip addr add ${NODE_ADDRESS}/24 dev v-soak-cl; ip link set v-soak-cl up
    ip addr add 10.253.0.1/24 dev v-soak-be; ip link set v-soak-be up
    ip -n ${CLIENT_NS} link set lo up; ip -n ${CLIENT_NS} addr add 10.252.0.2/24 dev eth0; ip -n ${CLIENT_NS} link set eth0 up
    ip -n ${CLIENT_NS} route add default via ${NODE_ADDRESS}
    ip -n ${BACKEND_NS} link set lo up; ip -n ${BACKEND_NS} addr add 10.253.0.2/24 dev eth0; ip -n ${BACKEND_NS} link set eth0 up
    ip -n ${BACKEND_NS} route add default via 10.253.0.1
    ip route add 10.244.0.0/16 via 10.253.0.2
    sysctl -qw net.ipv4.ip_forward=1`);
}

export function teardownNetwork(): void {
  sh(`ip netns del ${CLIENT_NS} 2>/dev/null; ip netns del ${BACKEND_NS} 2>/dev/null; ip link del v-soak-cl 2>/dev/null; ip link del v-soak-be 2>/dev/null; ip route del 10.244.0.0/16 2>/dev/null; true`);
}

/** The backend pods' process (backend-proc.ts) in the backend namespace. */
export class Backends {
  private child: ChildProcess;
  private seq = 0;
  private waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;

  constructor(tcpPort: number, udpPort: number) {
    this.child = spawn('ip', ['netns', 'exec', BACKEND_NS, process.execPath, here('./backend-proc.js'), String(tcpPort), String(udpPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let first: () => void = () => {};
    this.ready = new Promise((r) => (first = r));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (line === 'ready') { first(); return; }
      const [seq, status, ...msg] = line.split(' ');
      const w = this.waiting.get(seq!);
      this.waiting.delete(seq!);
      if (status === 'ok') w?.resolve(); else w?.reject(new Error(`backend: ${msg.join(' ')}`));
    });
  }

  private command(cmd: 'up' | 'down', ips: string[]): Promise<void> {
    if (!ips.length) return Promise.resolve();
    const seq = String(++this.seq);
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.child.stdin!.write(`${seq} ${cmd} ${ips.join(' ')}\n`);
    });
  }

  /** The addresses serving now (asked for up, not yet down). */
  readonly serving = new Set<string>();

  /** The pods start serving on these addresses. */
  async up(ips: string[]): Promise<void> { await this.command('up', ips); for (const ip of ips) this.serving.add(ip); }
  /** The pods are gone: their addresses no longer exist. */
  async down(ips: string[]): Promise<void> { for (const ip of ips) this.serving.delete(ip); await this.command('down', ips); }

  stop(): void { this.child.kill('SIGKILL'); }
}

export interface ClientRecord {
  t: number; i: number; ep?: string; retry?: 1; err?: string; lost?: 1;
  /** TCP: connected in time, answered this long after the usual 3-s timeout (client-proc.ts). */
  lateMs?: number;
  /** A failure only: the target's real servers in the kernel's last dump before it ("ip:port=weight", "!" when not serving). */
  kernel?: string[];
  /** A failure only: the same from the last dump taken before the request was sent (what it met). */
  kernelAtSend?: string[];
  /** A failure only: the kernel's connection entries for it, read when it was reported (kernel.ts connectionsOf). */
  conns?: string[];
}

/** The client load (client-proc.ts) in the client namespace; every answer goes to `onRecord`. */
export class ClientLoad {
  private child: ChildProcess;
  private exited: Promise<unknown>;
  readonly started: Promise<void>;

  constructor(dir: string, targets: { proto: string; host: string; port: number }[], workers: number, pauseMs: number, onRecord: (r: ClientRecord) => void) {
    const file = `${dir}/targets.json`;
    writeFileSync(file, JSON.stringify(targets));
    this.child = spawn('ip', ['netns', 'exec', CLIENT_NS, process.execPath, here('./client-proc.js'), file, String(workers), String(pauseMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((r) => this.child.once('exit', r));
    let first: () => void = () => {};
    this.started = new Promise((r) => (first = r));
    createInterface({ input: this.child.stdout! }).on('line', (line) => { first(); onRecord(JSON.parse(line) as ClientRecord); });
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

export interface AgentSettings {
  dir: string;
  kubeconfig: string;
  nodeName: string;
  metricsPort: number;
  syncPeriod: string;
  vipBinding: VipBinding;
  gracefulTermination: string;
  /** Every lifetime's log lines are appended here (a line `=== start N` before each), for looking into a failure afterwards. */
  logFile?: string;
}

/** `kipvs agent` as a node runs it; started, killed and restarted by the soak. */
export class AgentProcess {
  child: ChildProcess | undefined;
  private logTail: string[] = [];
  errors = 0;
  /** How many times it was started: each start is a lifetime of its own for the RSS trend. */
  starts = 0;
  /** When the current lifetime's first sync was done (undefined while it starts up). */
  syncedAt: number | undefined;

  constructor(private readonly s: AgentSettings) {}

  get pid(): number | undefined { return this.child?.pid; }
  get running(): boolean { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; }

  /** Starts it and resolves once its first sync is done (its "sync" log line); returns how long that took. */
  async start(timeoutMs = 360_000): Promise<number> {
    const t0 = Date.now();
    const bin = here('../../../bin/kipvs.js');
    const child = spawn(process.execPath, [...NODE_FLAGS[DEFAULT_HEAP], bin, 'agent', `--kubeconfig=${this.s.kubeconfig}`, `--hostname-override=${this.s.nodeName}`,
      `--ipvs-sync-period=${this.s.syncPeriod}`, `--graceful-termination-timeout=${this.s.gracefulTermination}`,
      `--metrics-bind-address=127.0.0.1:${this.s.metricsPort}`, '--healthz-bind-address=', `--state-socket=${this.s.dir}/agent.sock`, `--vip-binding=${this.s.vipBinding}`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.starts++;
    this.syncedAt = undefined;
    const logFile = this.s.logFile;
    if (logFile) appendFileSync(logFile, `=== start ${this.starts} at ${new Date(t0).toISOString()}\n`);
    let synced: () => void = () => {};
    const firstSync = new Promise<void>((r) => (synced = r));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.logTail.push(line);
      if (this.logTail.length > 50) this.logTail.shift();
      if (logFile) appendFileSync(logFile, line + '\n');
      if (line.includes('"msg":"sync"')) synced();
      if (/"level":(50|60)|"level":"(error|fatal)"/.test(line)) this.errors++;
    });
    const exited = new Promise<never>((_, reject) => child.once('exit', (code, sig) => reject(new Error(`the agent exited (${code ?? sig}) before its first sync:\n${this.logTail.join('\n')}`))));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the agent did not sync in ${timeoutMs} ms:\n${this.logTail.join('\n')}`)), timeoutMs); });
    try {
      await Promise.race([firstSync, exited, timeout]);
      this.syncedAt = Date.now();
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    } finally {
      clearTimeout(timer);
      exited.catch(() => {});
    }
    return Date.now() - t0;
  }

  /** Sends `signal` and waits for the exit; returns the exit code (null when killed by the signal) and how long it took. */
  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<{ code: number | null; ms: number }> {
    const child = this.child;
    if (!child || !this.running) return { code: child?.exitCode ?? null, ms: 0 };
    const t0 = Date.now();
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill(signal);
    const hard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exit;
    clearTimeout(hard);
    return { code, ms: Date.now() - t0 };
  }

  /** VmRSS of the agent process, in MB (undefined when it is not running). */
  rssMB(): number | undefined {
    if (!this.running) return undefined;
    try {
      const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.child!.pid}/status`, 'utf8'))?.[1]);
      return Number.isFinite(kb) ? kb / 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /** The event-loop lag since the last scrape (prom-client resets its histogram on each), in ms. */
  async eventLoopLag(): Promise<{ p99: number; max: number } | undefined> {
    if (!this.running) return undefined;
    try {
      const res = await fetch(`http://127.0.0.1:${this.s.metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) });
      const text = await res.text();
      const get = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      const p99 = get('nodejs_eventloop_lag_p99_seconds') * 1000, max = get('nodejs_eventloop_lag_max_seconds') * 1000;
      return Number.isFinite(p99) && Number.isFinite(max) ? { p99, max } : undefined;
    } catch {
      return undefined;
    }
  }

  get recentLog(): string { return this.logTail.join('\n'); }
}
