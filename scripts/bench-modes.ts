// Benchmark: IPVS mode against kube-proxy's iptables mode (partial and full syncs), side by side, in one
// sandbox boot. For each N Services x M endpoints and each mode, one case runs the real agent in a
// child process inside fresh network namespaces (scripts/bench-modes-case.ts): after a flush the kernel
// keeps deleted IPVS real servers about two minutes and walks them on every add, and no iptables state
// may leak from one case into the next. Each case measures what the kernel holds (counted by
// iptables-save, ipvsadm and ipset), the initial sync, one endpoint added, one Service added, a no-op
// periodic sync, CPU and peak RSS, and TCP connect latency and rate through the first and the last
// Service to real backends; then this process times the raw tools (iptables-restore, ipvsadm -R)
// restoring the same state into another fresh namespace. Writes a Markdown table, JSON and charts.
//   npm run bench:modes [-- --services 100,1000 --modes ipvs,iptables-partial --endpoints 10 --seed 42 --out DIR --json]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { run, createCaseNamespaces, deleteNamespaces, freshNamespace, timeInNamespace, settle } from './lib/netns.js';
import { writeChart, type Series } from './lib/chart.js';
import { DEFAULT_HEAP, NODE_FLAGS } from '../src/config/heap.js';

const MODES = ['ipvs', 'iptables-partial', 'iptables-full'] as const;
type Mode = (typeof MODES)[number];
const COLORS: Record<Mode, string> = { ipvs: '#1f77b4', 'iptables-partial': '#ff7f0e', 'iptables-full': '#d62728' };

const args = process.argv.slice(2);
const str = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const list = (name: string, dflt: string) => str(name, dflt).split(',').map((s) => s.trim()).filter(Boolean);
const sizes = list('--services', '100,1000,5000,10000').map((s) => Number(s.replace(/_/g, '')));
const modes = list('--modes', MODES.join(',')) as Mode[];
const M = Number(str('--endpoints', '10'));
const seed = Number(str('--seed', '42'));
const outDir = resolve(str('--out', 'bench-results/modes'));
const caseTimeoutS = Number(str('--case-timeout', '2400'));
const json = args.includes('--json');
for (const m of modes) if (!MODES.includes(m)) throw new Error(`--modes: unknown mode ${m} (want ${MODES.join(', ')})`);
for (const n of sizes) if (!(Number.isInteger(n) && n >= 3 && n <= 60_000)) throw new Error(`--services: ${n} is not a whole number in 3..60000`);

const here = dirname(fileURLToPath(import.meta.url));
const caseScript = join(here, 'bench-modes-case.js');
const kernel = run('uname', ['-r']).trim();
const command = ['node', 'dist/scripts/bench-modes.js', ...args].join(' ');
const startedAt = new Date();
const t0 = performance.now();

// ---- progress: which case, k of n, elapsed, and what is left, from a cost model scaled by the cases done ----
type Case = { n: number; mode: Mode };
const cases: Case[] = sizes.flatMap((n) => modes.map((mode) => ({ n, mode })));
// Seconds per case, from runs here: ~95-125 s at 100 in every mode (node start-ups, probes); at 1,000
// ipvs 270 s, iptables (legacy) 130-150 s; at 10,000 IPVS' initial sync alone took 129 s. The ratio
// actual/guessed of the cases done rescales the rest.
const PER_1000: Record<Mode, number> = { ipvs: 30, 'iptables-partial': 60, 'iptables-full': 80 };
const guess = (c: Case) => 90 + (c.n / 1000) * PER_1000[c.mode];
let guessedDone = 0, actualDone = 0;
const fmtDur = (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`);
function progress(k: number, c: Case, note: string, caseStart?: number): void {
  const elapsed = (performance.now() - t0) / 1000;
  const factor = guessedDone ? actualDone / guessedDone : 1;
  // While a case runs it counts in what is left, less the time it has had; once done, not at all.
  const inCase = caseStart ? (performance.now() - caseStart) / 1000 : 0;
  const left = cases.slice(caseStart ? k : k + 1).reduce((a, x) => a + guess(x), 0) * factor - inCase;
  process.stderr.write(`bench-modes: [${k + 1}/${cases.length}] N=${c.n.toLocaleString('en-US')} ${c.mode}: ${note} | elapsed ${fmtDur(elapsed)}, about ${fmtDur(Math.max(0, left))} left\n`);
}

// ---- running one case ----
function spawnIn(ns: string, extra: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, ...NODE_FLAGS[DEFAULT_HEAP], caseScript, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startBackend(ns: string): Promise<ChildProcess> {
  const p = spawnIn(ns, ['--role', 'serve']);
  await new Promise<void>((ok, fail) => {
    let text = '';
    p.stdout!.on('data', (d) => { if ((text += d).includes('ready')) ok(); });
    p.stderr!.on('data', (d) => process.stderr.write(`  backend: ${d}`));
    p.once('exit', (code) => fail(new Error(`backend server exited (${code})`)));
  });
  return p;
}

function runChild(p: ChildProcess, onTick: () => void): Promise<{ code: number | null; stdout: string }> {
  let stdout = '';
  p.stdout!.on('data', (d) => (stdout += d));
  p.stderr!.on('data', (d) => process.stderr.write(String(d)));
  const tick = setInterval(onTick, 30_000);
  const kill = setTimeout(() => p.kill('SIGKILL'), caseTimeoutS * 1000);
  return new Promise((ok) => p.once('exit', (code) => {
    clearInterval(tick);
    clearTimeout(kill);
    ok({ code, stdout });
  }));
}

type Result = Record<string, any>;

/** A baseline that fails is reported as its error, not as a failed case. */
function attempt(f: () => number): number | string {
  try {
    return f();
  } catch (err) {
    return `failed: ${String((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0]}`;
  }
}

/** The raw tools restoring what the agent left in the kernel, each into a fresh namespace. */
function baselines(dumps: Record<string, string>): Result {
  const b: Result = {};
  const ns = 'kbm-base';
  for (const bin of ['iptables-legacy-save', 'iptables-nft-save']) {
    if (!dumps[bin]) continue;
    freshNamespace(ns);
    // IPVS mode's rules match kube-proxy's ipsets: create the (empty) sets first, untimed.
    const setup = dumps.ipset ? `ipset restore < ${dumps.ipset}` : ':';
    const restore = bin.replace('-save', '-restore');
    b[restore] = attempt(() => timeInNamespace(ns, setup, `${restore} < ${dumps[bin]}`));
  }
  if (dumps.ipvsadm) {
    freshNamespace(ns);
    b['ipvsadm -R'] = attempt(() => timeInNamespace(ns, ':', `ipvsadm -R < ${dumps.ipvsadm}`));
  }
  deleteNamespaces([ns]);
  return b;
}

async function runOne(k: number, c: Case): Promise<Result> {
  const caseStart = performance.now();
  progress(k, c, 'starting', caseStart);
  const ns = createCaseNamespaces('kbm');
  const dumpDir = `/tmp/kipvs-bench-modes/${c.mode}-${c.n}`;
  rmSync(dumpDir, { recursive: true, force: true });
  mkdirSync(dumpDir, { recursive: true });
  let backend: ChildProcess | undefined;
  let r: Result = { mode: c.mode, services: c.n, endpoints: M };
  try {
    backend = await startBackend(ns.backend);
    const child = spawnIn(ns.node, ['--mode', c.mode, '--services', String(c.n), '--endpoints', String(M), '--seed', String(seed),
      '--client-ns', ns.client, '--dump-dir', dumpDir, ...passThrough()]);
    const { code, stdout } = await runChild(child, () => progress(k, c, `running for ${fmtDur((performance.now() - caseStart) / 1000)}`, caseStart));
    const line = stdout.trim().split('\n').pop() ?? '';
    if (code !== 0 || !line.startsWith('{')) throw new Error(code === null ? `killed after ${caseTimeoutS} s` : `case exited ${code}`);
    r = JSON.parse(line) as Result;
    // Both iptables modes leave the same rule set: restore it once per N (minutes at 10,000 here).
    const same = c.mode !== 'ipvs' && results.find((x) => x.ok && x.services === c.n && x.mode !== 'ipvs' && x.iptablesBackend === r.iptablesBackend && x.kernel?.iptablesRules === r.kernel?.iptablesRules);
    r.baseline = same ? { ...same.baseline, from: same.mode } : baselines(r.dumps ?? {});
    r.ok = true;
  } catch (err) {
    r.ok = false;
    r.error = (err as Error).message;
    process.stderr.write(`bench-modes: N=${c.n} ${c.mode} failed: ${r.error}\n`);
  } finally {
    backend?.kill('SIGKILL');
    deleteNamespaces(Object.values(ns));
    rmSync(dumpDir, { recursive: true, force: true });
    // The kernel frees a deleted namespace's 100,000 real servers or rules in the background.
    r.settleMs = await settle();
  }
  const secs = (performance.now() - caseStart) / 1000;
  r.caseSeconds = Math.round(secs);
  guessedDone += guess(c);
  actualDone += secs;
  progress(k, c, `done in ${fmtDur(secs)}${r.ok ? '' : ' (FAILED)'}`);
  return r;
}

// iptables mode writes through iptables-legacy unless told otherwise: here iptables-nft-restore took
// 121-142 s for the 42,000 lines of 1,000 Services against legacy's 16-17 s, which would put one
// restore at 10,000 past 20 minutes; legacy is also the faster, so the conservative, side to race.
const iptablesBackend = str('--iptables-backend', 'legacy');
if (!['legacy', 'nft'].includes(iptablesBackend)) throw new Error(`--iptables-backend ${iptablesBackend}: want legacy or nft`);

function passThrough(): string[] {
  const pass = ['--changes', '--change-budget', '--latency-count', '--latency-seconds', '--rate-count', '--rate-seconds', '--concurrency'];
  return ['--iptables-backend', iptablesBackend, ...pass.flatMap((p) => (args.includes(p) ? [p, str(p, '')] : []))];
}

const results: Result[] = [];

// ---- the report: written after every case (a run cut short keeps what it measured), printed at the end ----
async function writeReport(final: boolean): Promise<{ md: string; report: object }> {
  const totalSeconds = Math.round((performance.now() - t0) / 1000);
  const get = (n: number, mode: Mode) => results.find((r) => r.services === n && r.mode === mode && r.ok);
  const num = (v: unknown, digits = 0) => (typeof v === 'number' && Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
  const ms = (v: unknown) => (typeof v === 'number' ? num(v, v < 10 ? 2 : v < 100 ? 1 : 0) : '—');
  const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null);

  interface Target { name: string; value: string; pass: boolean | null }
  const targets: Target[] = [];
  const big = Math.max(...sizes);
  const small = Math.min(...sizes);
  {
    const at = (mode: Mode) => get(10_000, mode);
    const ep = (r?: Result) => r?.endpointChange?.medianMs as number | undefined;
    for (const [mode, want] of [['iptables-full', 100], ['iptables-partial', 10]] as const) {
      const x = ratio(ep(at(mode)), ep(at('ipvs')));
      targets.push({ name: `one endpoint change at 10,000: IPVS >= ${want}x faster than ${mode}`, value: x === null ? 'not run' : `${num(x, 1)}x (${ms(ep(at('ipvs')))} ms vs ${ms(ep(at(mode)))} ms)`, pass: x === null ? null : x >= want });
    }
    const p50 = (r?: Result) => r?.datapath?.last?.p50Ms as number | undefined;
    const base = get(100, 'ipvs');
    const x = ratio(p50(at('ipvs')), p50(base));
    targets.push({ name: 'IPVS connect p50 to the last of 10,000 within 1.2x of its p50 at 100', value: x === null ? 'not run' : `${num(x, 2)}x (${ms(p50(at('ipvs')))} ms vs ${ms(p50(base))} ms)`, pass: x === null ? null : x <= 1.2 });
    for (const mode of ['iptables-partial', 'iptables-full'] as const) {
      const y = ratio(at('ipvs')?.initialSyncMs, at(mode)?.initialSyncMs);
      targets.push({ name: `initial sync at 10,000: IPVS <= ${mode}`, value: y === null ? 'not run' : `${num(at('ipvs')!.initialSyncMs)} ms vs ${num(at(mode)!.initialSyncMs)} ms (${num(y, 2)}x)`, pass: y === null ? null : y <= 1 });
      const rss = at(mode)?.peakRssMB as number | undefined;
      targets.push({ name: `${mode} peak RSS at 10,000 <= 250 MB`, value: rss === undefined ? 'not run' : `${rss} MB`, pass: rss === undefined ? null : rss <= 250 });
    }
  }
  const latencyRatios = sizes.map((n) => {
    const i = get(n, 'ipvs')?.datapath?.last?.p50Ms;
    return { n, ...Object.fromEntries(['iptables-partial', 'iptables-full'].map((m) => [m, ratio(i, get(n, m as Mode)?.datapath?.last?.p50Ms)])) } as Record<string, number | null>;
  });

  const md: string[] = [];
  md.push(`# kipvs: IPVS mode vs iptables mode`, '');
  md.push(`- kernel: \`${kernel}\` (sandbox: qemu software emulation, times 8-20x native); node ${process.version}; iptables mode through iptables-${iptablesBackend}`);
  md.push(`- command: \`${command}\``, `- seed: ${seed}; ${M} endpoints per Service; started ${startedAt.toISOString()}; ${final ? 'took' : 'INCOMPLETE: cases so far took'} ${fmtDur(totalSeconds)}`, '');
  md.push('## Control plane', '');
  md.push('| N | mode | iptables rules / chains | IPVS services / real servers | ipset entries | initial sync ms | raw restore ms | 1 endpoint: ms (ops) | 1 Service: ms (ops) | no-op sync: ms (CPU ms, children) | agent CPU s | peak RSS MB |');
  md.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const head = `| ${num(r.services)} | ${r.mode}${r.iptablesBackend ? ` (${r.iptablesBackend})` : ''}`;
    if (!r.ok) { md.push(`${head} | failed: ${String(r.error).replace(/\|/g, '/')} | | | | | | | | | |`); continue; }
    const k = r.kernel ?? {};
    const raw = Object.entries(r.baseline ?? {}).filter(([t]) => t !== 'from' && (r.mode === 'ipvs') === (t === 'ipvsadm -R')).map(([t, v]) => `${typeof v === 'number' ? ms(v) : 'failed'} (${t.replace('-restore', '')})`).join(', ') || '—';
    const e = r.endpointChange ?? {}, s = r.serviceAdd ?? {}, o = r.noop ?? {};
    const nSamples = e.samples?.length ?? 0;
    md.push(`${head} | ${num(k.iptablesRules)} / ${num(k.iptablesChains)} | ${num(k.ipvsServices)} / ${num(k.ipvsServers)} | ${num(k.ipsetEntries)} | ${num(r.initialSyncMs)} | ${raw} | ${ms(e.medianMs)} (${num(e.medianOperations)})${nSamples && nSamples < 5 ? ` [${nSamples} samples]` : ''} | ${ms(s.ms)} (${num(s.operations)}) | ${num(o.ms)} (${num(o.cpuMs)}, ${num(o.childCpuMs)}) | ${num(r.agentCpuMs / 1000, 1)} | ${num(r.peakRssMB)} |`);
  }
  md.push('', '(nft) / (legacy): the iptables backend that held the rules. ops: netlink operations (IPVS mode) or iptables-restore lines (iptables mode), medians over the changed Services. raw restore: the same state restored by the tool alone into a fresh namespace (`ipvsadm -R` for IPVS mode; `iptables-restore` for iptables mode). children: CPU of iptables-restore/-save the agent ran.', '');
  md.push('## Data path (TCP connect from a client namespace, through the node, to backends)', '');
  md.push('| N | mode | first Service: position, p50 / p99 ms, conn/s | last Service: position, p50 / p99 ms, conn/s | connects (failed) |');
  md.push('|---|---|---|---|---|');
  for (const r of results.filter((x) => x.ok && x.datapath)) {
    const cell = (d: Result) => `${d.position ?? 'hash'}, ${ms(d.p50Ms)} / ${ms(d.p99Ms)}, ${num(d.connectsPerSecond)}`;
    const f = r.datapath.first, l = r.datapath.last;
    md.push(`| ${num(r.services)} | ${r.mode} | ${cell(f)} | ${cell(l)} | ${num(f.connects + l.connects)} (${num(f.failures + l.failures + f.rateFailures + l.rateFailures)}) |`);
  }
  md.push('', 'position: the Service\'s rule in KUBE-SERVICES, which a new connection walks in order (IPVS: a hash lookup). Latency: sequential connects; conn/s: 8 at a time.', '');
  md.push('## Targets', '');
  for (const t of targets) md.push(`- ${t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'FAIL'} ${t.name}: ${t.value}`);
  for (const x of latencyRatios) md.push(`- info: connect p50 to the last Service at N=${num(x.n)}, IPVS / iptables: partial ${x['iptables-partial'] === null ? '—' : num(x['iptables-partial'], 2)}, full ${x['iptables-full'] === null ? '—' : num(x['iptables-full'], 2)}`);
  if (!sizes.includes(10_000)) md.push(`- (the targets are stated at N=10,000; this run's largest N is ${num(big)}, smallest ${num(small)})`);

  // ---- charts: one line per mode, log scales where values span decades ----
  const sub = `kernel ${kernel}, ${M} endpoints per Service, seed ${seed}`;
  const line = (mode: Mode, pick: (r: Result) => unknown, suffix = '', dashed = false): Series => ({
    name: mode + suffix, color: COLORS[mode], dashed,
    points: sizes.map((n) => { const r = get(n, mode); const v = r ? pick(r) : null; return [n, typeof v === 'number' && v > 0 ? v : null]; }),
  });
  const charts: { file: string; spec: Parameters<typeof writeChart>[1] }[] = [
    { file: 'sync-time', spec: { title: 'Initial full sync time vs Services', subtitle: `${sub}; dashed: the raw tool restoring the same state`, xLabel: 'Services', yLabel: 'initial sync (ms)', xScale: 'log', series: [
      ...modes.map((m) => line(m, (r) => r.initialSyncMs)),
      // The raw tools: ipvsadm -R of IPVS mode's state; iptables-restore of iptables mode's rules (the
      // same rule set in both iptables modes: drawn once, from the first iptables mode run).
      ...modes.filter((m) => m === 'ipvs' || m === modes.find((x) => x !== 'ipvs')).map((m) => ({
        ...line(m, (r) => (m === 'ipvs' ? r.baseline?.['ipvsadm -R'] : r.baseline?.['iptables-nft-restore'] ?? r.baseline?.['iptables-legacy-restore']), '', true),
        name: m === 'ipvs' ? 'raw ipvsadm -R' : 'raw iptables-restore',
      })),
    ] } },
    { file: 'endpoint-change', spec: { title: 'One endpoint added: event to kernel vs Services', subtitle: `${sub}; median of 5`, xLabel: 'Services', yLabel: 'event to kernel (ms)', xScale: 'log', series: modes.map((m) => line(m, (r) => r.endpointChange?.medianMs)) } },
    { file: 'connect-latency', spec: { title: 'TCP connect latency to the last Service vs Services', subtitle: `${sub}; solid p50, dashed p99`, xLabel: 'Services', yLabel: 'connect latency (ms)', xScale: 'log', series: [
      ...modes.map((m) => line(m, (r) => r.datapath?.last?.p50Ms, ' p50')),
      ...modes.map((m) => line(m, (r) => r.datapath?.last?.p99Ms, ' p99', true)),
    ] } },
  ];
  const written: string[] = [];
  for (const c of charts) {
    c.spec.series = c.spec.series.filter((s) => s.points.some((p) => p[1] !== null));
    if (!c.spec.series.length) continue;
    const w = await writeChart(join(outDir, c.file), c.spec);
    written.push(...w.files);
    if (w.warning) process.stderr.write(`bench-modes: ${c.file}: ${w.warning}\n`);
  }
  md.push('', `Charts: ${written.map((f) => `[${f.split('/').pop()}](${f.split('/').pop()})`).join(', ') || 'none (no case succeeded)'}`, '');

  const report = { kernel, command, seed, endpoints: M, iptablesBackend, node: process.version, startedAt: startedAt.toISOString(), totalSeconds, complete: final, cases: results, targets, latencyRatios, charts: written };
  writeFileSync(join(outDir, 'results.md'), md.join('\n') + '\n');
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(report, null, 2) + '\n');
  return { md: md.join('\n') + '\n', report };
}

// ---- the run ----
process.stderr.write(`bench-modes: kernel ${kernel}; ${cases.length} cases; seed ${seed}; ${command}\n`);
mkdirSync(outDir, { recursive: true });
for (const [k, c] of cases.entries()) {
  results.push(await runOne(k, c));
  await writeReport(false);
}
const { md, report } = await writeReport(true);
process.stdout.write(json ? JSON.stringify(report) + '\n' : md);
process.stderr.write(`bench-modes: wrote ${join(outDir, 'results.md')}, results.json and the charts in ${fmtDur((performance.now() - t0) / 1000)}\n`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
