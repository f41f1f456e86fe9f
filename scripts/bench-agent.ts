// Benchmark: the agent at scale, in one sandbox boot. For each N of --services (a list runs each in
// turn) and M endpoints per Service:
//   - the floor: all the kernel work an initial sync must do (IPVS objects, VIPs, ipsets, iptables
//     rules), each part the fastest way we know, in fresh network namespaces (lib/bench-floor.ts);
//   - the real agent fed N Services x M endpoints through an in-memory source, as a child process in a
//     fresh network namespace of its own (lib/bench-agent-case.ts): initial sync, one endpoint added,
//     a no-op reconcile, event-loop lag, RSS and its peak;
//   - with --new-node, a new node: a whole `kipvs agent --manifests DIR` process from start to everything
//     programmed, its peak RSS, one endpoint added in one file, beside `ipvsadm -R` of the same IPVS
//     objects (lib/bench-new-node.ts).
// Progress lines go to stderr; the tables (or --json) to stdout; bench-results/agent/agent.{txt,json}
// and the charts agent-sync and agent-rss (SVG and PNG) to --out.
//   scripts/sandbox -- node --expose-gc dist/scripts/bench-agent.js [--services N[,N...]] [--endpoints M]
//     [--heap bounded|size|v8] [--vip-binding address|local-route] [--lag-only] [--reconciles R] [--new-node [--new-node-up-to N]] [--slice-ms MS (0: unpaced)] [--min-items K] [--cpu-profile] [--out DIR] [--json]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SizeResult } from './lib/bench-agent-report.js';
import { Progress, thousands } from './lib/bench-progress.js';
import { DEFAULT_HEAP, HEAP_FLAGS, NODE_FLAGS, isHeapMode } from '../src/config/heap.js';
import { VIP_BINDINGS, type VipBinding } from '../src/link/route-codec.js';
// Each child loads only its own part (await import below): an agent case's RSS is the agent's figure,
// and the parent's modules (the new node's fake API server brings client-node: 17 MB of RSS on Node 24)
// are not in it.

const args = process.argv.slice(2);
const str = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const M = opt('--endpoints', 10);
if (!(Number.isInteger(M) && M >= 1 && M <= 127)) throw new Error(`--endpoints: ${str('--endpoints', '')} is not a whole number in 1..127`);
const json = args.includes('--json');
const lagOnly = args.includes('--lag-only');
// --no-optimize-for-size (older runs' commands) was V8's own defaults: --heap v8.
const heapArg = args.includes('--no-optimize-for-size') ? 'v8' : args.includes('--heap') ? str('--heap', '') : undefined;
if (heapArg !== undefined && !isHeapMode(heapArg)) throw new Error(`--heap: "${heapArg}" is not one of ${Object.keys(HEAP_FLAGS).join(', ')}`);
const heap = heapArg;
/** The agent's --vip-binding (default address); the floor's VIP part is measured both ways, this one counts. */
const vipBinding = str('--vip-binding', 'address');
if (!(VIP_BINDINGS as readonly string[]).includes(vipBinding)) throw new Error(`--vip-binding: "${vipBinding}" is not ${VIP_BINDINGS.join(' or ')}`);
const binding = vipBinding as VipBinding;
const newNode = args.includes('--new-node');
/** The new node's whole-process run only for sizes up to this (it repeats the size's work as a process). */
const newNodeUpTo = opt('--new-node-up-to', Infinity);
const self = fileURLToPath(import.meta.url);

// ---- the children: the floor, and one size of the agent ----
if (args.includes('--floor-only')) {
  const { measureFloor } = await import('./lib/bench-floor.js');
  const N = opt('--services', 10_000);
  const r = measureFloor({ services: N, endpoints: M, ipsetRestoreNs: str('--ipset-restore-ns', ''), progress: new Progress(str('--label', `N=${N}`)), vipBinding: binding });
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}
if (args.includes('--case')) {
  const { runAgentCase } = await import('./lib/bench-agent-case.js');
  const N = opt('--services', 10_000);
  const sliceMs = opt('--slice-ms', 10);
  const r = await runAgentCase({
    services: N, endpoints: M, lagOnly,
    // --heap: how V8 sizes the agent's heap (src/config/heap.ts HEAP_FLAGS); default the agent's.
    heap,
    vipBinding: binding,
    // --slice-ms 0: each sync in one synchronous stretch (the agent before pacing); else the Pacer's slice.
    pacing: args.includes('--slice-ms') ? (sliceMs === 0 ? false : { sliceMs, minItems: opt('--min-items', 16) }) : undefined,
    progress: new Progress(str('--label', `N=${N}`)),
    cpuProfileDir: args.includes('--cpu-profile') ? str('--cpu-profile', '') : undefined,
    // --reconciles R: R no-op reconciles after the first sync, RSS after each (default 10).
    ...(args.includes('--reconciles') ? { reconciles: opt('--reconciles', 10) } : {}),
  });
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}

// ---- the parent: each size in turn ----
const { runFloor } = await import('./lib/bench-floor.js');
const { runNewNode } = await import('./lib/bench-new-node.js');
const { parseServices, sizeRows, formatRows, summaryTable, agentCharts } = await import('./lib/bench-agent-report.js');
const { freshNamespace, deleteNamespaces, settle, run } = await import('./lib/netns.js');
const { writeChart } = await import('./lib/chart.js');
const sizes = parseServices(str('--services', '10000'));
const outDir = resolve(str('--out', 'bench-results/agent'));
const kernel = run('uname', ['-r']).trim();
const command = ['node', ...process.execArgv, 'dist/scripts/bench-agent.js', ...args].join(' ');
const startedAt = new Date();
const t0 = performance.now();
const passThrough = ['--lag-only'].filter((a) => args.includes(a))
  .concat(['--slice-ms', '--min-items', '--reconciles'].flatMap((a) => (args.includes(a) ? [a, str(a, '')] : [])))
  .concat(heap ? ['--heap', heap] : [])
  .concat(binding !== 'address' ? ['--vip-binding', binding] : [])
  // The initial sync's CPU profile goes next to the results.
  .concat(args.includes('--cpu-profile') ? ['--cpu-profile', outDir] : []);

/** The agent for one size, as a child in a fresh namespace; its last stdout line is its JSON. */
async function agentCase(N: number, progress: Progress): Promise<Record<string, number>> {
  const ns = freshNamespace('kipvs-bench-agent');
  try {
    // The flags the heap mode needs on node's command line (bin/kipvs.js gives the agent its default's).
    const text = execFileSync('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, ...NODE_FLAGS[heap ?? DEFAULT_HEAP], self, '--case', '--services', String(N), '--endpoints', String(M),
      '--label', progress.prefix, ...passThrough],
      { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
    return JSON.parse(text.trim().split('\n').pop()!) as Record<string, number>;
  } finally {
    deleteNamespaces([ns]);
    await progress.run('agent: namespace deleted, waiting for the machine to settle', () => settle());
  }
}

const results: SizeResult[] = [];

async function writeReport(final: boolean): Promise<{ text: string; report: object }> {
  mkdirSync(outDir, { recursive: true });
  const sub = `kernel ${kernel}, ${M} endpoints per Service`;
  const charts: string[] = [];
  const warnings: string[] = [];
  for (const c of agentCharts(results, sub)) {
    const w = await writeChart(join(outDir, c.file), c.spec);
    charts.push(...w.files);
    if (w.warning) warnings.push(`${c.file}: ${w.warning}`);
  }
  const secs = Math.round((performance.now() - t0) / 1000);
  const text = [
    `# kipvs agent benchmark${final ? '' : ' (INCOMPLETE: the sizes so far)'}`,
    `kernel ${kernel} (sandbox: qemu, times 8-20x native); node ${process.version} (${process.execPath}); started ${startedAt.toISOString()}, took ${secs} s`,
    `command: ${command}`, '',
    ...results.map((r) => formatRows(sizeRows(r, lagOnly))),
    `summary (the floor: each part in fresh namespaces, the faster ipset way and the VIPs the agent's way, --vip-binding ${binding}, counted in the sum)`,
    summaryTable(results),
    `charts: ${charts.map((f) => f.split('/').pop()).join(', ') || 'none'}`,
    ...warnings.map((w) => `warning: ${w}`), '',
  ].join('\n');
  const report = { kernel, command, vipBinding: binding, node: process.version, startedAt: startedAt.toISOString(), totalSeconds: secs, complete: final, endpoints: M, sizes: results, charts };
  writeFileSync(join(outDir, 'agent.txt'), text);
  writeFileSync(join(outDir, 'agent.json'), JSON.stringify(report, null, 2) + '\n');
  return { text, report };
}

for (const [k, N] of sizes.entries()) {
  const progress = new Progress(`N=${thousands(N)} (${k + 1} of ${sizes.length})`);
  const r: SizeResult = { services: N, endpoints: M, ok: false };
  try {
    if (!lagOnly) r.floor = await runFloor({ script: self, services: N, endpoints: M, progress, label: progress.prefix, vipBinding: binding });
    r.agent = await agentCase(N, progress);
    r.ok = true;
  } catch (err) {
    r.error = String((err as Error).message).split('\n')[0];
    progress.note(`FAILED: ${r.error}`);
  }
  // The new node is reported on its own: its failure leaves the size's other figures standing.
  if (r.ok && newNode && N <= newNodeUpTo) {
    try {
      // The command as a node runs it: the bundle bin/kipvs.js loads (not dist/src's ~200 module files).
      r.newNode = await runNewNode({ cli: join(dirname(self), '../bundle/kipvs.js'), services: N, endpoints: M, progress, ...(heap ? { heap } : {}), vipBinding: binding });
    } catch (err) {
      r.newNodeError = String((err as Error).message).split('\n')[0];
      progress.note(`new node FAILED: ${r.newNodeError}`);
    }
  }
  results.push(r);
  await writeReport(false);
}
const { text, report } = await writeReport(true);
process.stdout.write(json ? JSON.stringify(report) + '\n' : text);
process.stderr.write(`[bench] wrote ${join(outDir, 'agent.txt')}, agent.json and the charts\n`);
process.exit(results.every((r) => r.ok && !r.newNodeError) ? 0 : 1);
