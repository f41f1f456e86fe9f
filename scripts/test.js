#!/usr/bin/env node
// Runs kipvs' whole test suite: host tests (encoding, model, CLI parsing; no kernel needed) with node's
// test runner, then every sandbox test in ONE boot of the sandbox kernel and ONE node process (node
// starts slowly there). Prints one closing "N passed, N failed" line over both.
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
if (!args.includes('--sandbox-only')) {
  const files = testFiles('unit');
  if (files.length) {
    console.log(`== host tests (${files.length} files)`);
    const r = await run(process.execPath, ['--test', '--test-reporter=spec', ...files]);
    pass += r.pass; fail += r.fail; skip += r.skip; if (r.code !== 0) failedRuns++;
  }
}
if (!args.includes('--host-only')) {
  const files = testFiles('sandbox');
  if (files.length) {
    console.log(`== sandbox tests (${files.length} files, one kernel boot)`);
    const r = await run(join(root, 'scripts', 'sandbox'), [
      '--', process.execPath, '--test-reporter=spec', 'dist/test/sandbox-entry.js', ...files.map((f) => join(root, f)),
    ]);
    pass += r.pass; fail += r.fail; skip += r.skip; if (r.code !== 0) failedRuns++;
    if (r.code !== 0 && r.pass + r.fail === 0) fail++; // the sandbox itself failed
  }
}
console.log(`\ntests: ${pass} passed, ${fail} failed, ${skip} skipped`);
process.exit(failedRuns || fail ? 1 : 0);
