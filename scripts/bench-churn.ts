// Endpoint changes while periodic reconciles run (sandbox only): the agent, in-process and paced as it
// runs on a node, over N Services x M endpoints, reconciling every --period-ms; --changes endpoint
// additions, each to another Service, at random moments 0.1-1.5 s apart (a fixed seed: the same
// moments on every run), each timed from the event to the real server in the kernel (read back over
// netlink every 5 ms). A change that lands in a reconcile's kernel read or plan, or in the ipset
// read-back of one that found nothing to do, goes first (the reconcile gives way); anywhere else it
// waits for the rest of the reconcile. The bench-agent's 20 changes run with no reconcile around.
//   scripts/sandbox -- node dist/scripts/bench-churn.js --services 10000 --runs 2 [--out DIR]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Agent } from '../src/agent/agent.js';
import { IpvsClient } from '../src/ipvs/client.js';
import { DEFAULT_HEAP, NODE_FLAGS } from '../src/config/heap.js';
import { MemorySource, vip, podIP, service, slice } from './lib/bench-objects.js';
import { Progress, thousands } from './lib/bench-progress.js';
import { freshNamespace, deleteNamespaces, run } from './lib/netns.js';

const args = process.argv.slice(2);
const str = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const opt = (name: string, dflt: number) => {
  const v = Number(str(name, String(dflt)));
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: ${str(name, '')} is not a whole number above 0`);
  return v;
};
const N = opt('--services', 10_000);
const M = opt('--endpoints', 10);
const CHANGES = opt('--changes', 60);
const PERIOD_MS = opt('--period-ms', 2000);
const PORT = 8080;

interface ChurnCase {
  services: number;
  firstSyncMs: number;
  reconciles: number;
  /** Debug lines of the agent: the reconcile paused its read / gave way after it, for a change. */
  pausedRead: number;
  gaveWay: number;
  latenciesMs: number[];
}

const round = (x: number) => Math.round(x * 10) / 10;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function runCase(progress: Progress): Promise<ChurnCase> {
  const source = new MemorySource();
  let reconciles = 0, pausedRead = 0, gaveWay = 0;
  const log = {
    info(o: unknown, msg?: string) { if (msg === 'sync' && (o as { reason?: string }).reason === 'period') reconciles++; },
    debug(_o: unknown, msg?: string) {
      if (msg?.includes('paused its kernel read')) pausedRead++;
      else if (msg?.includes('gave way')) gaveWay++;
    },
    warn() {}, error() {},
  };
  const agent = new Agent({
    nodeName: 'node-0', mode: 'ipvs', scheduler: 'rr', strictARP: false, syncPeriodMs: PERIOD_MS, minSyncPeriodMs: 0,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '127.0.0.1:0', metricsBindAddress: '',
    stateSocket: '', gracefulTerminationTimeoutMs: 60_000, source, log, heap: DEFAULT_HEAP,
  });
  await agent.start();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    source.upsert('Service', service(i, PORT));
    source.upsert('EndpointSlice', slice(i, M, PORT));
  }
  source.events!.synced();
  await progress.run(`first sync of ${thousands(N)} Services`, () => agent.firstSync());
  const firstSyncMs = performance.now() - t0;
  reconciles = 0;
  const ipvs = IpvsClient.open();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const inKernel = (i: number, address: string) =>
    ipvs.servers({ family: 'inet', protocol: 'tcp', address: vip(i), port: 80 }, { stats: false }).some((s) => s.address === address);
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const latenciesMs: number[] = [];
  try {
    await progress.run('changes during reconciles', async () => {
      for (let k = 0; k < CHANGES; k++) {
        await sleep(100 + random() * 1400);
        const i = (k * 241 + 11) % N;
        const t = performance.now();
        source.upsert('EndpointSlice', slice(i, M + 1, PORT));
        while (!inKernel(i, podIP(i, M))) {
          if (performance.now() - t > 60_000) throw new Error(`change ${k + 1} (Service ${i}): endpoint ${podIP(i, M)} not in the kernel after 60 s`);
          await sleep(5);
        }
        latenciesMs.push(performance.now() - t);
      }
    }, { everyMs: 5000, count: () => ({ done: latenciesMs.length, total: CHANGES }) });
  } finally {
    ipvs.close();
    await agent.stop();
  }
  return { services: N, firstSyncMs, reconciles, pausedRead, gaveWay, latenciesMs };
}

if (args.includes('--case')) {
  const r = await runCase(new Progress(str('--label', `N=${thousands(N)}`)));
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}

// The parent: each run in a fresh network namespace, with the node flags the agent starts with.
const runs = opt('--runs', 1);
const self = fileURLToPath(import.meta.url);
const results: ChurnCase[] = [];
for (let r = 1; r <= runs; r++) {
  const label = `N=${thousands(N)} run ${r} of ${runs}`;
  const ns = freshNamespace('kipvs-bench-churn');
  try {
    const text = execFileSync('ip', ['netns', 'exec', ns, process.execPath, ...NODE_FLAGS[DEFAULT_HEAP], self, '--case', '--label', label, ...args],
      { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
    results.push(JSON.parse(text.trim().split('\n').pop()!) as ChurnCase);
  } finally {
    deleteNamespaces([ns]);
  }
}
const rows = results.map((c, i) => {
  const s = [...c.latenciesMs].sort((a, b) => a - b);
  return {
    run: i + 1, services: c.services, firstSyncS: round(c.firstSyncMs / 1000), reconciles: c.reconciles, pausedRead: c.pausedRead, gaveWayAfterRead: c.gaveWay,
    changes: s.length, p50Ms: round(percentile(s, 0.5)), p90Ms: round(percentile(s, 0.9)), p99Ms: round(percentile(s, 0.99)), maxMs: round(s[s.length - 1]!),
    over1s: s.filter((x) => x > 1000).length,
  };
});
const header = Object.keys(rows[0]!);
const text = [
  `# endpoint changes during periodic reconciles (kernel ${run('uname', ['-r']).trim()}, ${M} endpoints per Service, reconcile every ${PERIOD_MS} ms)`,
  `command: node dist/scripts/bench-churn.js ${args.join(' ')}`,
  header.join('\t'),
  ...rows.map((r) => header.map((h) => String(r[h as keyof typeof r])).join('\t')),
].join('\n');
process.stdout.write(text + '\n');
if (args.includes('--out')) {
  const dir = resolve(str('--out', 'bench-results/churn'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'churn.txt'), text + '\n');
  writeFileSync(join(dir, 'churn.json'), JSON.stringify({ services: N, endpoints: M, periodMs: PERIOD_MS, changes: CHANGES, rows, latenciesMs: results.map((c) => c.latenciesMs.map(round)) }, null, 1) + '\n');
}
