#!/usr/bin/env node
// Runs kipvs' whole test suite: host tests (encoding, model, CLI parsing; no kernel needed) with node's
// test runner, then the sandbox test files in ONE boot of the sandbox kernel, in KIPVS_SANDBOX_LANES
// (default 2) node processes at once, each taking its files in turn (node starts slowly there), and
// the RUN_ALONE files after them (scripts/sandbox-lanes.js). KIPVS_SANDBOX_GUESTS=N splits the files over N sandboxes booted at once (longest
// first, by SANDBOX_SECONDS), each guest's lines prefixed with its number: only for machines with cores
// to spare. On this 2-core machine two guests made every file about 3 times slower (52 s instead of 16
// for one detect-local case; an agent process took minutes to start and timed out), so one is the
// default. Prints one closing "N passed, N failed, N skipped" line over everything; a phase that was
// asked for and did not run (no test file, no test reported, a sandbox that did not boot) fails the run.
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

/**
 * Roughly how long each sandbox file takes (seconds in a lane of one guest on a 2-core machine losing
 * about a fifth of its CPU to steal, from a run of 2026-12-03 before the command was bundled: lanes
 * 1,331 s, ipvsadm-cli among them):
 * only their order matters, for splitting the files evenly between lanes (and guests). A file not listed counts 60.
 */
const SANDBOX_SECONDS = {
  'agent-e2e': 330, 'other-modes': 274, 'detect-local': 253, 'takeover': 249,
  'iptables-mode': 178, 'health-family': 178, 'agent-iptables': 151, 'udp-conntrack': 148,
  'iptables': 134, 'ipvs-client': 112, 'ipset-client': 61, 'link': 39, 'vip-binding': 90, 'netlink-faults': 28, 'ipset-grow': 24,
  'netns': 17,
  // run alone after the lanes
  'soak': 150, 'sync-engine': 158, 'conntrack-sysctls': 91, 'ipvsadm-cli': 60, 'loop-lag': 53, 'no-ipvs': 24,
};

/**
 * Files that run alone, after the lanes (KIPVS_SANDBOX_LANES): conntrack-sysctls changes the global
 * conntrack limits (an agent starting in another lane meanwhile would fail to write them back, which
 * stops its start); no-ipvs unloads the IPVS modules and shadows the module loader (rmmod fails while
 * another lane holds IPVS services); soak and loop-lag hold timing targets (no failed request,
 * event-loop lag) that a second lane's load would blur. ipvsadm-cli compares kipvs' listings with
 * ipvsadm's line for line, and the kernel's service dump resumes each datagram at a position counted
 * over every network namespace's services (ip_vs_genl_dump_services: one global table): services
 * another lane adds or deletes meanwhile shift it, so one reader can skip or repeat a service (seen
 * once: kipvs' listing without one service ipvsadm's had). (Its bind mounts over /etc would stay in
 * its lane anyway: each lane has its own mount namespace, scripts/sandbox-lanes.js.) sync-engine reads
 * tables of 1,500 services back with `ipvsadm -Sn`, many datagrams, and compares them exactly: in a lane
 * it saw one service and its two real servers twice (4,503 lines for 4,500, twice in CI runs).
 */
const RUN_ALONE = ['conntrack-sysctls', 'no-ipvs', 'soak', 'ipvsadm-cli', 'loop-lag', 'sync-engine'];

/** Split files over n guests (or lanes): longest first, each to the one with the least work so far. */
function shard(files, n) {
  const seconds = (f) => SANDBOX_SECONDS[f.replace(/^.*\//, '').replace(/\.test\.js$/, '')] ?? 60;
  const guests = Array.from({ length: Math.min(n, files.length) }, () => ({ files: [], seconds: 0 }));
  for (const f of [...files].sort((a, b) => seconds(b) - seconds(a))) {
    const g = guests.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    g.files.push(f);
    g.seconds += seconds(f);
  }
  return guests.map((g) => g.files.sort());
}

/** Run a command, stream its output (each line after `prefix`), and count node:test's summary lines. */
function run(cmd, argv, prefix = '') {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let pass = 0, fail = 0, skip = 0, tail = '';
    // node:test's spec reporter ends with a "✖ failing tests:" section (each failed test and its error)
    // after its "ℹ" summary (Node 20; before it in later versions), up to its run's end or next summary:
    // kept without stack frames, per lane, to be printed again at the very end (CI shows the tail).
    const inFailures = new Set();
    child.stdout.on('data', (chunk) => {
      if (!prefix) process.stdout.write(chunk);
      tail += chunk.toString();
      const lines = tail.split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        if (prefix) process.stdout.write(`${prefix}${line}\n`);
        // A lane's lines come prefixed ("[lane 2] ", scripts/sandbox-lanes.js): each lane's summary counts.
        const lane = /^\[[^\]]*\] /.exec(line)?.[0] ?? '';
        const bare = line.slice(lane.length).trim();
        if (bare === '✖ failing tests:') inFailures.add(lane);
        else if (/^ℹ tests \d+$/.test(bare)) inFailures.delete(lane);
        else if (inFailures.has(lane) && !/^at /.test(bare) && failures.length < 400) failures.push(`${prefix}${line}`);
        const m = /^ℹ (pass|fail|skipped) (\d+)\s*$/.exec(bare) ?? /^# (pass|fail|skip) (\d+)\s*$/.exec(bare);
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
/** The failing tests' names and errors, as the reporters printed them (at most 400 lines in all). */
const failures = [];
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
    const sandbox = join(root, 'scripts', 'sandbox');
    // Once, before the guests start: the first use downloads the kernel and installs the tools.
    const prepared = await run(sandbox, ['--prepare']);
    const guests = prepared.code === 0 ? shard(files, Math.max(1, Number(process.env.KIPVS_SANDBOX_GUESTS ?? 1) || 1)) : [];
    if (prepared.code !== 0) missing.push(`sandbox phase did not run: scripts/sandbox --prepare exited ${prepared.code}`);
    const t0 = Date.now();
    console.log(`== sandbox tests (${files.length} files, ${guests.length === 1 ? 'one kernel boot' : `${guests.length} guests at once, one kernel boot each`})`);
    guests.forEach((g, i) => console.log(`   guest ${i + 1}: ${g.map((f) => f.replace(/^.*\//, '').replace(/\.test\.js$/, '')).join(', ')}`));
    const lanes = Math.max(1, Number(process.env.KIPVS_SANDBOX_LANES ?? 2) || 1);
    const guestCommand = (g) => {
      const abs = g.map((f) => join(root, f));
      if (lanes === 1) return [process.execPath, '--test-reporter=spec', 'dist/test/sandbox-entry.js', ...abs];
      const alone = abs.filter((f) => RUN_ALONE.includes(f.replace(/^.*\//, '').replace(/\.test\.js$/, '')));
      const laned = shard(abs.filter((f) => !alone.includes(f)), lanes);
      return [process.execPath, 'scripts/sandbox-lanes.js', ...laned.flatMap((l) => ['--lane', l.join(',')]), ...(alone.length ? ['--alone', alone.join(',')] : [])];
    };
    if (lanes > 1) console.log(`   in each guest: ${lanes} lanes at once, then ${RUN_ALONE.join(', ')} alone (KIPVS_SANDBOX_LANES=1: one file at a time)`);
    const results = await Promise.all(guests.map((g, i) => run(sandbox, ['--', ...guestCommand(g)], guests.length > 1 ? `[${i + 1}] ` : '')));
    results.forEach((r, i) => {
      pass += r.pass; fail += r.fail; skip += r.skip; if (r.code !== 0) failedRuns++;
      // No test reported: the sandbox did not boot (qemu or the kernel missing, a timeout) or node failed
      // before running any; scripts/sandbox's own message is above.
      if (r.pass + r.fail + r.skip === 0) missing.push(`sandbox guest ${i + 1} reported no test (scripts/sandbox exited ${r.code})`);
    });
    console.log(`== sandbox tests done in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
}
if (failures.length) console.log(`\n== failing tests (again, from above)\n${failures.join('\n')}`);
for (const m of missing) console.log(`\n${m}`);
console.log(`\ntests: ${pass} passed, ${fail} failed, ${skip} skipped${missing.length ? `; ${missing.length} phase(s) did not run` : ''}`);
process.exit(failedRuns || fail || missing.length ? 1 : 0);
