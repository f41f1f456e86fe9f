#!/usr/bin/env node
// Inside the sandbox: runs the sandbox test files in lanes, each lane one node process running
// dist/test/sandbox-entry.js over its files (each file in a network namespace of its own, so two lanes
// do not see each other's IPVS tables, links, ipsets or rules; each lane in its own mount namespace),
// then the files that must run alone.
// One lane ran the guest's two virtual CPUs at about one host core; two keep both busy.
//   node scripts/sandbox-lanes.js --lane A.test.js,B.test.js --lane C.test.js ... [--alone D.test.js,...]
// Each line of a lane's output is prefixed "[lane N] " (the files run alone: "[alone] "); the exit
// status is the first non-zero one. scripts/test.js counts every lane's summary lines.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const lanes = [];
let alone = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--lane') lanes.push(args[++i].split(',').filter(Boolean));
  else if (args[i] === '--alone') alone = args[++i].split(',').filter(Boolean);
  else throw new Error(`sandbox-lanes: unknown argument ${args[i]}`);
}

function runFiles(files, prefix) {
  return new Promise((resolve) => {
    // Each lane in a mount namespace of its own: a file's bind mounts (ipvsadm-cli's over /etc/hosts and
    // friends) stay in its lane.
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, '--test-reporter=spec', join(root, 'dist/test/sandbox-entry.js'), ...files], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
      let tail = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (tail + chunk).split('\n');
        tail = lines.pop();
        for (const l of lines) out.write(`${prefix}${l}\n`);
      });
      stream.on('end', () => { if (tail) out.write(`${prefix}${tail}\n`); });
    }
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const t0 = Date.now();
const codes = await Promise.all(lanes.filter((l) => l.length).map((files, i) => runFiles(files, `[lane ${i + 1}] `)));
process.stdout.write(`[lanes] ${lanes.length} lanes done in ${Math.round((Date.now() - t0) / 1000)} s\n`);
if (alone.length) codes.push(await runFiles(alone, '[alone] '));
process.exit(codes.find((c) => c !== 0) ?? 0);
