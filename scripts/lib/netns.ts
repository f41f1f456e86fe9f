// Network namespaces for the mode benchmark (scripts/bench-modes.ts), inside the sandbox only:
//   client (10.250.0.2) --veth-- node (the agent; 10.250.0.1, 10.251.0.1) --veth-- backend (10.251.0.2)
// The backend namespace takes every pod IP of the benchmark (10.128.0.0/11) as its own through one
// "local" route (AnyIP), so one TCP listener on 0.0.0.0 answers for every endpoint of every Service:
// whichever Service turns out to be last in iptables' KUBE-SERVICES has real backends, with no
// per-address set-up. Also: fresh namespaces for the raw restore baselines, a timer that runs a
// shell command inside a namespace, and the TCP server and probe the data-path measurement runs.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';

export const POD_CIDR = '10.128.0.0/11';
export const BACKEND_PORT = 8080;

export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 30, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
}

const inNs = (ns: string, ...cmd: string[]) => run('ip', ['netns', 'exec', ns, ...cmd]);

export interface CaseNamespaces {
  node: string;
  client: string;
  backend: string;
}

/** Create the three namespaces and their links; anything left from an earlier run is removed first. */
export function createCaseNamespaces(prefix: string): CaseNamespaces {
  const ns: CaseNamespaces = { node: `${prefix}-node`, client: `${prefix}-client`, backend: `${prefix}-backend` };
  deleteNamespaces(Object.values(ns));
  for (const n of Object.values(ns)) {
    run('ip', ['netns', 'add', n]);
    // With lo down the kernel refuses masquerading IPVS real servers ("address not unicast").
    run('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
  }
  const link = (a: string, aIf: string, aAddr: string, b: string, bIf: string, bAddr: string) => {
    run('ip', ['link', 'add', aIf, 'netns', a, 'type', 'veth', 'peer', 'name', bIf, 'netns', b]);
    run('ip', ['-n', a, 'addr', 'add', aAddr, 'dev', aIf]);
    run('ip', ['-n', b, 'addr', 'add', bAddr, 'dev', bIf]);
    run('ip', ['-n', a, 'link', 'set', aIf, 'up']);
    run('ip', ['-n', b, 'link', 'set', bIf, 'up']);
  };
  link(ns.node, 'to-client', '10.250.0.1/30', ns.client, 'eth0', '10.250.0.2/30');
  link(ns.node, 'to-backend', '10.251.0.1/30', ns.backend, 'eth0', '10.251.0.2/30');
  // The client reaches every VIP through the node; replies from backends go back through the node
  // too (their default route), where IPVS or conntrack undoes the DNAT.
  run('ip', ['-n', ns.client, 'route', 'add', 'default', 'via', '10.250.0.1']);
  run('ip', ['-n', ns.backend, 'route', 'add', 'default', 'via', '10.251.0.1']);
  run('ip', ['-n', ns.backend, 'route', 'add', 'local', POD_CIDR, 'dev', 'lo']);
  run('ip', ['-n', ns.node, 'route', 'add', POD_CIDR, 'via', '10.251.0.2']);
  // A new namespace starts with forwarding off; both modes forward to the backends.
  inNs(ns.node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  return ns;
}

export function deleteNamespaces(names: string[]): void {
  const have = new Set(run('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]));
  for (const n of names) if (have.has(n)) run('ip', ['netns', 'del', n]);
}

/** A namespace with nothing in it but lo (up), for a restore baseline. */
export function freshNamespace(name: string): string {
  deleteNamespaces([name]);
  run('ip', ['netns', 'add', name]);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/**
 * Run `script` (bash) in namespace `ns` and return how long `timed` (a part of it) took, measured
 * inside by bash's $EPOCHREALTIME: the restore tool's own run, without `ip netns exec`'s start-up.
 */
export function timeInNamespace(ns: string, setup: string, timed: string): number {
  const script = `set -e\n${setup}\nt0=$EPOCHREALTIME\n${timed}\nt1=$EPOCHREALTIME\necho "$t0 $t1"`;
  const out = inNs(ns, 'bash', '-c', script).trim().split('\n').pop()!;
  const [a, b] = out.split(' ').map((s) => Number(s.replace(',', '.')));
  return Math.round((b! - a!) * 1000 * 10) / 10;
}

/**
 * Wait until the machine is idle (both CPUs at least `idlePct` idle over a second), at most `maxMs`:
 * deleting a namespace that held 100,000 IPVS real servers or 300,000 rules is finished by the kernel
 * in the background, and the next case must not pay for it.
 */
export async function settle(maxMs = 60_000, idlePct = 85): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3]! + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
  };
  const start = performance.now();
  while (performance.now() - start < maxMs) {
    const a = read();
    await new Promise((r) => setTimeout(r, 1000));
    const b = read();
    if (b.total > a.total && ((b.idle - a.idle) / (b.total - a.total)) * 100 >= idlePct) break;
  }
  return Math.round(performance.now() - start);
}

// ---- the data path: a TCP listener for the backends, a connect probe for the client ----

/** Accept connections and close each when the client does; runs until killed. */
export function serve(port = BACKEND_PORT): void {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.on('end', () => s.destroy());
    s.resume();
  });
  server.listen({ port, host: '0.0.0.0', backlog: 4096 }, () => process.stdout.write('ready\n'));
}

export interface ProbeLimits {
  /** Sequential connects for the latency figures, at most this many or `latencySeconds`. */
  latencyCount: number;
  latencySeconds: number;
  /** Connects `concurrency` at a time for the rate, at most this many or `rateSeconds`. */
  rateCount: number;
  rateSeconds: number;
  concurrency: number;
  timeoutMs: number;
}

export interface ProbeResult {
  target: string;
  connects: number;
  failures: number;
  p50Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  connectsPerSecond: number | null;
  rateFailures: number;
}

/** Time from connect() to the handshake done (the 'connect' event); the socket is then closed by us. */
function connectOnce(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('timeout'));
    }, timeoutMs);
    s.once('connect', () => {
      const ms = performance.now() - t;
      clearTimeout(timer);
      // We close first, so TIME_WAIT is ours and keeps the port from being reused during the run
      // (a reused port could meet an old IPVS or conntrack entry and measure that instead).
      s.destroy();
      resolve(ms);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : null);
const r3 = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);

/**
 * Latency first: sequential connects alternating between the targets (so that a slow moment of this
 * shared, emulated machine falls on all of them alike), after a warm-up; then each target's rate
 * with `concurrency` connects in flight.
 */
export async function probe(targets: string[], lim: ProbeLimits): Promise<ProbeResult[]> {
  const dest = targets.map((t) => ({ host: t.split(':')[0]!, port: Number(t.split(':')[1]) }));
  for (const d of dest) for (let i = 0; i < 10; i++) await connectOnce(d.host, d.port, lim.timeoutMs).catch(() => 0);
  const times = dest.map(() => [] as number[]);
  const failures = dest.map(() => 0);
  const t0 = performance.now();
  for (let i = 0; times.reduce((a, t) => a + t.length, 0) + failures.reduce((a, b) => a + b, 0) < lim.latencyCount * dest.length; i++) {
    if (performance.now() - t0 > lim.latencySeconds * 1000 * dest.length) break;
    const k = i % dest.length;
    try {
      times[k]!.push(await connectOnce(dest[k]!.host, dest[k]!.port, lim.timeoutMs));
    } catch {
      failures[k]!++;
    }
  }
  const results: ProbeResult[] = [];
  for (const [k, d] of dest.entries()) {
    const sorted = times[k]!.sort((a, b) => a - b);
    let done = 0, rateFailures = 0, started = 0;
    const t1 = performance.now();
    const worker = async () => {
      while (started < lim.rateCount && performance.now() - t1 < lim.rateSeconds * 1000) {
        started++;
        try {
          await connectOnce(d.host, d.port, lim.timeoutMs);
          done++;
        } catch {
          rateFailures++;
        }
      }
    };
    await Promise.all(Array.from({ length: lim.concurrency }, worker));
    const secs = (performance.now() - t1) / 1000;
    results.push({
      target: targets[k]!, connects: sorted.length, failures: failures[k]!,
      p50Ms: r3(quantile(sorted, 0.5)), p99Ms: r3(quantile(sorted, 0.99)),
      meanMs: r3(sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : null),
      connectsPerSecond: done ? Math.round(done / secs) : null, rateFailures,
    });
  }
  return results;
}
