// The soak (issue 11), inside the sandbox: 50 Services, endpoint churn every second, the agent killed
// and restarted, the fake API server misbehaving, hand edits to the kernel, continuous client load;
// then the counts, latencies, repair times, RSS trend and a final kernel-vs-desired comparison.
// The soak itself is test/soak/ (shared with test/sandbox/soak.test.ts, its short CI version).
//   npm run soak                      (10 minutes)
//   scripts/sandbox --timeout 1500 -- node dist/scripts/soak.js [--duration 10m] [--json] [--out DIR] [--seed N]
//     [--vip-binding address|local-route]
// Writes DIR/soak.json, DIR/soak.txt and the charts DIR/soak-rss.{svg,png}, DIR/soak-latency.{svg,png};
// progress lines go to stderr. Exits 1 when a target is missed.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseGoDurationMs } from '../src/config/duration.js';
import { runSoak } from '../test/soak/soak.js';
import { evaluate, table, chartSeries } from '../test/soak/stats.js';
import { targetsMissed } from '../test/soak/targets.js';
import { writeChart } from './lib/chart.js';

const args = process.argv.slice(2);
const value = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] ?? dflt : dflt);
const durationText = value('--duration', '10m');
const durationMs = parseGoDurationMs(durationText);
if (durationMs === null || durationMs <= 0) {
  process.stderr.write(`soak: --duration: "${durationText}" is not a positive duration (e.g. 10m, 90s)\n`);
  process.exit(2);
}
const out = resolve(value('--out', 'bench-results/soak'));
const seed = Number(value('--seed', '11'));
const vipBinding = value('--vip-binding', 'address');
if (vipBinding !== 'address' && vipBinding !== 'local-route') {
  process.stderr.write(`soak: --vip-binding: "${vipBinding}" is not address or local-route\n`);
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const t0 = Date.now();
const SOAK_DIR = '/tmp/kipvs-soak';
const data = await runSoak({
  durationMs, dir: SOAK_DIR, seed, vipBinding,
  progress: (line) => process.stderr.write(`soak ${Math.round((Date.now() - t0) / 1000)}s: ${line}\n`),
});
const report = evaluate(data);
const missed = targetsMissed(report, { repairBoundMs: data.options.repairBoundMs, rssSlopeMBPerMin: 1 });
const series = chartSeries(data);
const subtitle = `${report.services} Services, ${report.durationS} s, ${report.restarts.length} agent restarts, ${report.handEdits.length} hand edits, ${report.apiFaults.length} API faults`;
const charts = [
  await writeChart(`${out}/soak-rss`, { title: 'kipvs soak: agent RSS', subtitle, xLabel: 'time (s)', yLabel: 'RSS (MB)', yScale: 'linear', xScale: 'linear', series: [{ name: 'VmRSS (a gap at each restart)', points: series.rss }] }),
  await writeChart(`${out}/soak-latency`, { title: 'kipvs soak: change (API server event) to kernel', subtitle, xLabel: 'time (s)', yLabel: 'latency (ms), per 10 s', yScale: 'auto', xScale: 'linear', series: [{ name: 'median', points: series.p50 }, { name: 'max', points: series.max, dashed: true }] }),
];
// The raw timeline too (seconds from the start), so a missed target can be looked into without a rerun.
const at = (t: number) => Math.round((t - data.startedAt) / 100) / 10;
const timeline = {
  startedAtMs: data.startedAt,
  rss: data.rss.map((r) => ({ s: at(r.t), mb: Math.round(r.mb * 10) / 10, life: r.life, ...(r.synced !== undefined ? { syncedS: at(r.synced) } : {}) })),
  restarts: data.faults.restarts.map((r) => ({ s: at(r.at), signal: r.signal, stopMs: r.stopMs, startMs: r.startMs })),
  handEdits: data.faults.handEdits.map((h) => ({ s: at(h.at), what: h.what, repairMs: h.repairMs ?? null })),
  apiFaults: data.faults.apiFaults.map((f) => ({ s: at(f.at), what: f.what })),
  failures: data.records.filter((r) => r.err !== undefined).map((r) => ({ s: at(r.t), target: data.targets[r.i]!.vs, err: r.err, kernel: r.kernel })),
};
const full = { ...report, targetsMissed: missed, charts: charts.flatMap((c) => c.files), timeline };
// Every lifetime's log, to look into a failed request without a rerun (the timeline names its second).
if (existsSync(`${SOAK_DIR}/agent.log`)) copyFileSync(`${SOAK_DIR}/agent.log`, `${out}/agent.log`);
writeFileSync(`${out}/soak.json`, JSON.stringify(full, null, 2) + '\n');
const text = `${table(report)}\n\n${missed.length ? `TARGETS MISSED:\n${missed.map((m) => `  ${m}`).join('\n')}` : 'all targets met'}\ncharts: ${full.charts.join(', ')}\n`;
writeFileSync(`${out}/soak.txt`, text);
for (const c of charts) if (c.warning) process.stderr.write(`soak: ${c.warning}\n`);
process.stdout.write(args.includes('--json') ? JSON.stringify(full) + '\n' : text);
process.exit(missed.length ? 1 : 0);
