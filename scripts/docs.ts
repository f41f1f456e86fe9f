// Writes the generated references in docs/ from the code they describe, so that they cannot drift:
//   docs/cli.md      every command's --help text (and kipvsadm's -h)
//   docs/metrics.md  every metric the agent serves: name, type, help
//   node dist/scripts/docs.js [--check]     (--check: exit 1 and name the stale files instead of writing)
// test/unit/docs.test.ts runs the same comparison.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentMetrics } from '../src/agent/metrics.js';
import { Registry, collectDefaultMetrics } from 'prom-client';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The commands in the order `kipvs --help` lists them. */
function commands(): string[] {
  const help = execFileSync(process.execPath, [join(root, 'bin', 'kipvs.js'), '--help'], { encoding: 'utf8' });
  return [...help.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]!);
}

function helpOf(args: string[], bin = 'kipvs.js'): string {
  return execFileSync(process.execPath, [join(root, 'bin', bin), ...args], { encoding: 'utf8' }).trimEnd();
}

export function cliReference(): string {
  const out = [
    '# Command-line reference',
    '',
    'Generated from the commands\' own `--help` by `node dist/scripts/docs.js`; `test/unit/docs.test.ts` fails',
    'when this file and the code disagree. `kipvs --version` (or `--version` after any command but',
    '`ipvsadm`) prints the same line as `kipvs version`.',
    '',
    '## kipvs',
    '',
    '```text',
    helpOf(['--help']),
    '```',
  ];
  for (const c of commands()) {
    const text = c === 'ipvsadm' ? helpOf(['-h'], 'kipvsadm.js') : helpOf([c, '--help']);
    out.push('', `## kipvs ${c}`, '', c === 'ipvsadm' ? 'Also installed as `kipvsadm`. Its text is ipvsadm 1.31\'s, then kipvs\' additions.\n' : '', '```text', text, '```');
  }
  return out.filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n') + '\n';
}

export function metricsReference(): string {
  const text = agentMetrics().registry.render();
  const rows: string[] = [];
  let help = '';
  for (const line of text.split('\n')) {
    const h = /^# HELP (\S+) (.*)$/.exec(line);
    if (h) { help = h[2]!; continue; }
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) rows.push(`| \`${t[1]}\` | ${t[2]} | ${help.replace(/\|/g, '\\|')} |`);
  }
  return [
    '# Metrics reference',
    '',
    'Served on `metricsBindAddress` (default 127.0.0.1:10249) at `/metrics`, in Prometheus\' text format.',
    'kube-proxy\'s names where kube-proxy has the metric (dashboards and alerts made for kube-proxy keep',
    'working), `kipvs_` for the rest. Generated from the agent\'s registry by `node dist/scripts/docs.js`;',
    '`test/unit/docs.test.ts` fails when this file and the code disagree.',
    '',
    '| name | type | meaning |',
    '|---|---|---|',
    ...rows,
    '',
    '## Process metrics',
    '',
    'Appended to the same page by prom-client\'s default collectors (`src/agent/process-metrics.ts`). The',
    'event-loop lag is the agent\'s own health signal: syncs run on the event loop.',
    '',
    '| name | type | meaning |',
    '|---|---|---|',
    ...processRows(),
    '',
  ].join('\n');
}

function processRows(): string[] {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const rows = registry.getMetricsAsArray().map((m) => `| \`${m.name}\` | ${m.type} | ${m.help.replace(/\|/g, '\\|')} |`);
  registry.clear();
  return rows;
}

export const GENERATED: Record<string, () => string> = {
  'docs/cli.md': cliReference,
  'docs/metrics.md': metricsReference,
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  const stale: string[] = [];
  for (const [file, make] of Object.entries(GENERATED)) {
    const want = make();
    let have = '';
    try { have = readFileSync(join(root, file), 'utf8'); } catch { /* missing */ }
    if (have === want) continue;
    if (check) stale.push(file);
    else { writeFileSync(join(root, file), want); console.log(`wrote ${file}`); }
  }
  if (stale.length) {
    console.error(`stale: ${stale.join(', ')} (run: npm run build && node dist/scripts/docs.js)`);
    process.exit(1);
  }
}
