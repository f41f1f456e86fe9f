#!/usr/bin/env node
// Runs kipvs' whole test suite: host tests (encoding, model, CLI parsing; no kernel needed) with node's
// test runner, then every sandbox test in ONE boot of the sandbox kernel and ONE node process (node
// starts slowly there). Prints one closing "N passed, N failed, N skipped" line over both; a phase that
// was asked for and did not run (no test file, no test reported, the sandbox did not boot) fails the run.
//   node scripts/test.js [--host-only | --sandbox-only] [--only PATTERN]
import { spawn } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

function testFiles(dir) {
  const abs = join(root, 'dist', 'test', dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs)
    .filter((f) => f.endsWith('.test.js') && (!only || f.includes(only)))
    .sort()
    .map((f) => join('dist', 'test', dir, f));
}

/** Run a command, stream its output, and count node:test's summary lines. */
function run(cmd, argv) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let pass = 0, fail = 0, skip = 0, tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail += chunk.toString();
      const lines = tail.split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^ℹ (pass|fail|skipped) (\d+)\s*$/.exec(line.trim()) ?? /^# (pass|fail|skip) (\d+)\s*$/.exec(line.trim());
        if (m) {
          const n = Number(m[2]);
          if (m[1] === 'pass') pass += n; else if (m[1] === 'fail') fail += n; else skip += n;
        }
      }
    });
    child.on('close', (code) => resolve({ code: code ?? 1, pass, fail, skip }));
  });
}

let pass = 0, fail = 0, skip = 0, failedRuns = 0;
/** Phases that were asked for and did not run, each with why: any of them fails the run. */
const missing = [];

/**
 * A phase with no file to run is a failure, never a silent green line: the build is missing or stale
 * (no dist/test/DIR), or --only matched nothing there (then pass --host-only or --sandbox-only).
 */
function selectFiles(dir, phase) {
  const files = testFiles(dir);
  if (files.length === 0) {
    const why = !existsSync(join(root, 'dist', 'test', dir))
      ? `dist/test/${dir} does not exist (run npm run build)`
      : only ? `no test file in dist/test/${dir} matches --only ${only} (pass --${phase === 'host' ? 'sandbox' : 'host'}-only to skip the ${phase} phase)`
        : `dist/test/${dir} holds no test file`;
    missing.push(`${phase} phase did not run: ${why}`);
  }
  return files;
}

if (!args.includes('--sandbox-only')) {
  const files = selectFiles('unit', 'host');
  if (files.length) {
    console.log(`== host tests (${files.length} files)`);
    const r = await run(process.execPath, ['--test', '--test-reporter=spec', ...files]);
    pass += r.pass; fail += r.fail; skip += r.skip; if (r.code !== 0) failedRuns++;
    if (r.pass + r.fail + r.skip === 0) missing.push('host phase reported no test');
  }
}
if (!args.includes('--host-only')) {
  const files = selectFiles('sandbox', 'sandbox');
  if (files.length) {
    console.log(`== sandbox tests (${files.length} files, one kernel boot)`);
    const r = await run(join(root, 'scripts', 'sandbox'), [
      '--', process.execPath, '--test-reporter=spec', 'dist/test/sandbox-entry.js', ...files.map((f) => join(root, f)),
    ]);
    pass += r.pass; fail += r.fail; skip += r.skip; if (r.code !== 0) failedRuns++;
    // No test reported: the sandbox did not boot (qemu or the kernel missing, a timeout) or node failed
    // before running any; scripts/sandbox's own message is above.
    if (r.pass + r.fail + r.skip === 0) missing.push(`sandbox phase reported no test (scripts/sandbox exited ${r.code})`);
  }
}
for (const m of missing) console.log(`\n${m}`);
console.log(`\ntests: ${pass} passed, ${fail} failed, ${skip} skipped${missing.length ? `; ${missing.length} phase(s) did not run` : ''}`);
process.exit(failedRuns || fail || missing.length ? 1 : 0);
