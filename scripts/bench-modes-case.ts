// One case of the mode benchmark (scripts/bench-modes.ts runs it): N Services x M endpoints through an
// in-memory source into the real agent in one proxy mode, in the node namespace the orchestrator made
// (`ip netns exec <node> node dist/scripts/bench-modes-case.js …`), so that the process, its RSS and
// its CPU are this case's alone and no kernel state is left from another case. Prints one JSON line.
//   --mode ipvs|iptables-partial|iptables-full --services N --endpoints M --seed S --client-ns NS
//   --dump-dir DIR [--iptables-backend legacy|nft] [--changes 5]
// Two helper roles run in the other namespaces: `--role serve` (the backends' TCP listener) and
// `--role probe --targets ip:port,…` (the client's connect timing).
import { performance } from 'node:perf_hooks';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Agent, type AgentOptions } from '../src/agent/agent.js';
import { IpvsClient } from '../src/ipvs/client.js';
import { MemorySource, vip, podIP, service as benchService, slice as benchSlice } from './lib/bench-objects.js';
import { run, serve, probe, BACKEND_PORT, type ProbeLimits, type ProbeResult } from './lib/netns.js';
import { cpuMs, childCpuMs } from './lib/cpu.js';

const args = process.argv.slice(2);
const str = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const num = (name: string, dflt: number) => Number(str(name, String(dflt)));

// ---- the objects ----
const service = (i: number) => benchService(i, BACKEND_PORT);
const slice = (i: number, endpoints: number) => benchSlice(i, endpoints, BACKEND_PORT);

/** mulberry32: a small seeded generator, so that a seed names the same Services in every mode. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- reading the kernel with its own tools ----
// The dumps go from the tools into files and are counted by awk/grep, never read into this process:
// at 10,000 Services iptables-save prints 300,000+ lines, and holding them here would count in the
// agent's peak RSS, which is what this case reports.
const SAVE_BINS = ['iptables-legacy-save', 'iptables-nft-save'] as const;
const sh = (script: string) => run('bash', ['-c', script]);

/**
 * One iptables backend's nat and filter tables into `file`; user-defined chains and rules counted;
 * nat KUBE-SERVICES' destination addresses, in order, into `file`.order. A backend without
 * tables writes an empty file (legacy is read whole: naming a table would make the kernel create it).
 */
function saveIptables(bin: string, file: string): { rules: number; chains: number } {
  const awk = `/^\\*/ { t = $1 }
t == "*nat" || t == "*filter" { print > out; if ($0 ~ /^-A /) r++; else if ($0 ~ /^:[^ ]+ - /) c++ }
t == "*nat" && /^-A KUBE-SERVICES / { for (i = 1; i < NF; i++) if ($i == "-d") print $(i + 1) > order }
END { print r + 0, c + 0 }`;
  const out = sh(`: > ${file}; : > ${file}.order; { ${bin} 2>/dev/null || true; } | awk -v out=${file} -v order=${file}.order '${awk}'`);
  const [rules, chains] = out.trim().split(' ').map(Number);
  return { rules: rules!, chains: chains! };
}

/**
 * The sets and their entry counts from `ipset list -t` (headers only), and their create lines into
 * `file` (what IPVS mode's rules need to restore). Not `ipset save`: it looks each entry's protocol
 * up in /etc/protocols, which took 357 s for 60,000 entries here (the root filesystem is 9p).
 */
function ipsetHeaders(file: string): { sets: number; entries: number } {
  let text = '';
  try { text = run('ipset', ['list', '-t']); } catch { /* no sets */ }
  const creates: string[] = [];
  let entries = 0;
  for (const block of text.split(/^(?=Name: )/m)) {
    const f = (k: string) => new RegExp(`^${k}: ?(.*)$`, 'm').exec(block)?.[1]?.trim();
    const name = f('Name');
    if (!name) continue;
    // "initval" is the kernel's random seed for the hash; a create line takes the rest of the header.
    creates.push(`create ${name} ${f('Type')} ${(f('Header') ?? '').replace(/\s*initval \S+/, '')}`.trim());
    entries += Number(f('Number of entries') ?? 0);
  }
  writeFileSync(file, creates.map((l) => l + '\n').join(''));
  return { sets: creates.length, entries };
}

/** Lines of `file` starting with each prefix. */
function countLines(file: string, prefixes: string[]): number[] {
  return prefixes.map((p) => Number(sh(`grep -c -- '^${p}' ${file} || true`).trim()));
}

/** Whether each address appears in `file` as a whole address (10.1.2.3, not 10.1.2.30). */
function addressesIn(file: string, ips: string[]): boolean[] {
  return ips.map((ip) => sh(`grep -qE '(^|[^0-9.])${ip.replace(/\./g, '\\.')}([^0-9]|$)' ${file} && echo yes || echo no`).trim() === 'yes');
}

/** VIPs in KUBE-SERVICES' order (the order a new connection's first packet walks them in iptables mode). */
function kubeServicesOrder(orderFile: string): string[] {
  const seen = new Set<string>();
  for (const l of readFileSync(orderFile, 'utf8').split('\n')) {
    const m = /^(\d+\.\d+\.\d+\.\d+)(\/32)?$/.exec(l.trim());
    if (m) seen.add(m[1]!);
  }
  return [...seen];
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : null;
};
const r2 = (v: number) => Math.round(v * 100) / 100;
const log = (msg: string) => process.stderr.write(`  case ${(performance.now() / 1000).toFixed(0).padStart(4)}s: ${msg}\n`);

async function runCase(): Promise<Record<string, unknown>> {
  const mode = str('--mode', 'ipvs');
  const N = num('--services', 100);
  const M = num('--endpoints', 10);
  const seed = num('--seed', 42);
  const changes = num('--changes', 5);
  const dumpDir = str('--dump-dir', '/tmp');
  const clientNs = str('--client-ns', '');
  if (!['ipvs', 'iptables-partial', 'iptables-full'].includes(mode)) throw new Error(`--mode ${mode}: want ipvs, iptables-partial or iptables-full`);
  const iptablesMode = mode !== 'ipvs';
  const out: Record<string, unknown> = { mode, services: N, endpoints: M, seed };
  const quiet = { info() {}, warn() {}, error() {}, debug() {} };
  const source = new MemorySource();
  // The iptables-mode fields are the lead's AgentOptions additions; built as a plain object so this
  // file compiles whether or not they have landed (an agent without them runs IPVS mode).
  const modeOptions: Record<string, unknown> = iptablesMode
    ? { mode: 'iptables', iptablesSync: mode === 'iptables-partial' ? 'partial' : 'full', ...(args.includes('--iptables-backend') ? { iptablesBackend: str('--iptables-backend', 'nft') } : {}) }
    : { mode: 'ipvs' };
  const options = {
    nodeName: 'node-0', scheduler: 'rr', strictARP: false, syncPeriodMs: 3_600_000, minSyncPeriodMs: 0,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '', metricsBindAddress: '',
    stateSocket: '', gracefulTerminationTimeoutMs: 60_000, source, log: quiet, ...modeOptions,
  } as unknown as AgentOptions;
  const cpu0 = process.cpuUsage();
  const agent = new Agent(options);
  await agent.start();
  for (let i = 0; i < N; i++) {
    source.upsert('Service', service(i));
    source.upsert('EndpointSlice', slice(i, M));
  }

  // 1. The initial full sync: from "lists received" to the kernel programmed.
  const c0 = process.cpuUsage(), k0 = childCpuMs();
  const t0 = performance.now();
  source.events!.synced();
  await agent.firstSync();
  out.initialSyncMs = Math.round(performance.now() - t0);
  out.initialCpuMs = cpuMs(process.cpuUsage(c0));
  out.initialChildCpuMs = childCpuMs() - k0;
  out.initialOperations = agent.lastSync?.operations ?? null;
  out.initialPhases = agent.lastSync?.phases ?? null;
  log(`initial sync ${out.initialSyncMs} ms, ${out.initialOperations} operations`);

  // 2. What the kernel holds, counted by its own tools; the dumps feed the raw restore baselines.
  const dumps: Record<string, string> = {};
  let rules = 0, chains = 0, saveBin = '';
  const ts = performance.now();
  for (const bin of SAVE_BINS) {
    const file = join(dumpDir, `${bin}.txt`);
    const c = saveIptables(bin, file);
    rules += c.rules;
    chains += c.chains;
    if (c.rules) dumps[bin] = file;
    if (c.rules && readFileSync(`${file}.order`, 'utf8').trim()) saveBin = bin;
  }
  dumps.ipvsadm = join(dumpDir, 'ipvsadm-S.txt');
  dumps.ipset = join(dumpDir, 'ipset-save.txt');
  const iptablesSaveMs = performance.now() - ts;
  let t = performance.now();
  sh(`{ ipvsadm -Sn 2>/dev/null || true; } > ${dumps.ipvsadm}`);
  const ipvsadmMs = performance.now() - t;
  t = performance.now();
  const sets = ipsetHeaders(dumps.ipset);
  log(`read back: iptables-save ${Math.round(iptablesSaveMs)} ms, ipvsadm -Sn ${Math.round(ipvsadmMs)} ms, ipset list -t ${Math.round(performance.now() - t)} ms`);
  const [ipvsServices, ipvsServers] = countLines(dumps.ipvsadm, ['-A ', '-a ']);
  const { sets: ipsets, entries: ipsetEntries } = sets;
  if (!ipvsServices) delete dumps.ipvsadm;
  if (!ipsets) delete dumps.ipset;
  // Which iptables backend holds the rules: --iptables-backend in iptables mode, the `iptables`
  // alternative (nft on Debian 12) for IPVS mode's few rules.
  out.iptablesBackend = Object.keys(dumps).find((b) => b.startsWith('iptables-'))?.replace(/^iptables-(\w+)-save$/, '$1') ?? null;
  out.kernel = { iptablesRules: rules, iptablesChains: chains, ipvsServices, ipvsServers, ipsets, ipsetEntries };
  out.dumps = dumps;
  log(`kernel: ${JSON.stringify(out.kernel)}`);
  if (iptablesMode && !saveBin) throw new Error('iptables mode: no KUBE-SERVICES rules after the initial sync (has the agent an iptables mode?)');

  // 3. The data path, before any change: the first and the last Service. In iptables mode "last" is
  // the last VIP in KUBE-SERVICES (what a new connection walks linearly); IPVS looks VIPs up in a hash.
  {
    const order = iptablesMode ? kubeServicesOrder(join(dumpDir, `${saveBin}.txt.order`)) : [];
    const first = order[0] ?? vip(0);
    const last = order[order.length - 1] ?? vip(N - 1);
    out.kubeServicesVips = iptablesMode ? order.length : null;
    if (clientNs) {
      const self = fileURLToPath(import.meta.url);
      const text = run('ip', ['netns', 'exec', clientNs, process.execPath, self, '--role', 'probe', '--targets', `${first}:80,${last}:80`, ...probeArgs()]);
      const [pf, pl] = JSON.parse(text.trim().split('\n').pop()!) as ProbeResult[];
      out.datapath = {
        first: { vip: first, position: iptablesMode ? order.indexOf(first) + 1 : null, ...pf },
        last: { vip: last, position: iptablesMode ? order.indexOf(last) + 1 : null, ...pl },
      };
      log(`connect p50 first ${pf!.p50Ms} ms, last ${pl!.p50Ms} ms (${pl!.connects} connects, ${pl!.failures} failed; ${pl!.connectsPerSecond}/s)`);
    }
  }

  // Wait for the sync that follows an event; the event-to-kernel time ends when the agent's sync returns.
  const waitSync = async (before: unknown, t: number, limitMs = 900_000) => {
    while (agent.lastSync === before) {
      if (performance.now() - t > limitMs) throw new Error(`no sync within ${limitMs} ms`);
      await new Promise((r) => setImmediate(r));
    }
    return performance.now() - t;
  };
  // Read back after each change. iptables mode reads the whole table (iptables-save; at 10,000
  // Services that is 300,000+ lines and seconds here), so it checks every change at once at the end.
  const toCheck: string[] = [];
  const inKernel = (address: string, service?: string): boolean => {
    if (iptablesMode) return toCheck.push(address) > 0;
    const ipvs = IpvsClient.open();
    try {
      if (service) return ipvs.servers({ family: 'inet', protocol: 'tcp', address: service, port: 80 }, { stats: false }).some((s) => s.address === address);
      return ipvs.services({ stats: false }).some((s) => 'address' in s && s.address === address);
    } finally {
      ipvs.close();
    }
  };

  // 4. One endpoint added to one Service, `changes` times over different Services (seeded; never the
  // first or the last, whose backends the data path used).
  {
    const pick = rng(seed);
    const chosen = new Set<number>();
    while (chosen.size < Math.min(changes, Math.max(0, N - 2))) chosen.add(1 + Math.floor(pick() * (N - 2)));
    const samples: Record<string, unknown>[] = [];
    // A full iptables restore per change costs minutes at 10,000 Services here: past the budget,
    // stop at 3 samples (a full restore varies little).
    const budgetMs = num('--change-budget', 120) * 1000;
    const tc = performance.now();
    for (const i of chosen) {
      if (samples.length >= 3 && performance.now() - tc > budgetMs) break;
      const before = agent.lastSync;
      const t = performance.now();
      source.upsert('EndpointSlice', slice(i, M + 1));
      const ms = await waitSync(before, t);
      const s = agent.lastSync!;
      if (!inKernel(podIP(i, M), vip(i))) throw new Error(`endpoint ${podIP(i, M)} of svc-${i} is not in the kernel after the sync`);
      samples.push({ service: i, ms: r2(ms), syncMs: r2(s.durationMs), operations: s.operations, kind: s.kind });
    }
    out.endpointChange = {
      samples,
      medianMs: median(samples.map((s) => s.ms as number)),
      medianOperations: median(samples.map((s) => s.operations as number)),
    };
    log(`one endpoint added: median ${(out.endpointChange as { medianMs: number }).medianMs} ms over ${samples.length}`);
  }

  // 5. One Service (with its M endpoints) added.
  {
    const before = agent.lastSync;
    const t = performance.now();
    source.upsert('Service', service(N));
    source.upsert('EndpointSlice', slice(N, M));
    const ms = await waitSync(before, t);
    const s = agent.lastSync!;
    if (!inKernel(vip(N))) throw new Error(`Service VIP ${vip(N)} is not in the kernel after the sync`);
    out.serviceAdd = { ms: r2(ms), syncMs: r2(s.durationMs), operations: s.operations, kind: s.kind };
    log(`one Service added: ${r2(ms)} ms, ${s.operations} operations`);
  }

  if (toCheck.length) {
    const file = join(dumpDir, 'readback.txt');
    saveIptables(saveBin, file);
    const found = addressesIn(file, toCheck);
    const missing = toCheck.filter((_, i) => !found[i]);
    if (missing.length) throw new Error(`not in the kernel after their syncs: ${missing.join(', ')}`);
  }

  // 6. A periodic sync with nothing to change.
  {
    const c = process.cpuUsage(), k = childCpuMs();
    const t = performance.now();
    await agent.syncNow('period');
    out.noop = { ms: Math.round(performance.now() - t), cpuMs: cpuMs(process.cpuUsage(c)), childCpuMs: childCpuMs() - k, operations: agent.lastSync?.operations ?? null, kind: agent.lastSync?.kind ?? null };
    log(`no-op periodic sync: ${JSON.stringify(out.noop)}`);
  }

  out.agentCpuMs = cpuMs(process.cpuUsage(cpu0));
  out.peakRssMB = Math.round(Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024);
  await agent.stop();
  return out;
}

function probeArgs(): string[] {
  const pass = ['--latency-count', '--latency-seconds', '--rate-count', '--rate-seconds', '--concurrency'];
  return pass.flatMap((p) => (args.includes(p) ? [p, str(p, '')] : []));
}

// Dispatch last: the constants above must be initialised before a top-level await runs them.
const role = str('--role', 'case');
if (role === 'serve') {
  serve(BACKEND_PORT);
} else if (role === 'probe') {
  const lim: ProbeLimits = {
    latencyCount: num('--latency-count', 1000), latencySeconds: num('--latency-seconds', 4),
    rateCount: num('--rate-count', 2000), rateSeconds: num('--rate-seconds', 4), concurrency: num('--concurrency', 8), timeoutMs: 3000,
  };
  process.stdout.write(JSON.stringify(await probe(str('--targets', '').split(',').filter(Boolean), lim)) + '\n');
} else {
  process.stdout.write(JSON.stringify(await runCase()) + '\n');
  // The agent's informer-less source and timers are stopped, but koffi handles may keep the loop alive.
  process.exit(0);
}
