// Benchmark of the ipvsadm-compatible CLI.
//  1. On the host: start-up of `kipvsadm --version` and `kipvsadm -h` as whole processes (median of N);
//     they must need no kernel, koffi or logger (target <= 150 ms).
//  2. In the sandbox (started by this script, one boot): 1,000 services x 10 real servers; kipvs'
//     `-Ln` listing timed in-process (open, dump, sort, format) against `ipvsadm -Ln` as a process,
//     median of R runs, and the two outputs compared byte for byte. Also `-Ln --stats`.
//   node dist/scripts/bench-ipvsadm.js [--json] [--runs R] [--startup-runs N] [--services N] [--servers M]
//                                     [--no-sandbox] [--in-sandbox]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const json = args.includes('--json');
const runs = opt('--runs', 3);
const startupRuns = opt('--startup-runs', 10);
const services = opt('--services', 1000);
const servers = opt('--servers', 10);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Listing {
  services: number; serversPerService: number; runs: number;
  lnMs: { kipvs: number; ipvsadm: number; ratio: number };
  statsMs: { kipvs: number; ipvsadm: number; ratio: number };
  identical: boolean; raw: Record<string, number[]>;
}

async function listingBench(): Promise<Listing> {
  const { IpvsClient } = await import('../src/ipvs/client.js');
  const { run } = await import('../src/cli/ipvsadm/main.js');
  const vip = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  const rip = (i: number, j: number) => `10.${200 + (j >> 8)}.${(i >> 8) & 255}.${i & 255}`;
  const client = IpvsClient.open();
  client.flush();
  const ops = [];
  for (let i = 0; i < services; i++) {
    const service = { family: 'inet' as const, protocol: 'tcp' as const, address: vip(i), port: 80 };
    ops.push({ op: 'add-service' as const, service: { ...service, scheduler: 'rr' } });
    for (let j = 0; j < servers; j++) ops.push({ op: 'add-server' as const, service, server: { address: rip(i, j), port: 8080 + j } });
  }
  const r = client.apply(ops);
  if (r.failures.length) throw new Error(`${r.failures.length} operations failed`);
  const raw: Record<string, number[]> = { kipvsLn: [], ipvsadmLn: [], kipvsStats: [], ipvsadmStats: [] };
  let identical = true;
  const kipvs = async (argv: string[]) => {
    let out = '';
    const t = performance.now();
    const code = await run(argv, { out: (s) => { out += s; }, err: (s) => process.stderr.write(s), prog: 'ipvsadm' });
    const ms = performance.now() - t;
    if (code !== 0) throw new Error(`kipvs ${argv.join(' ')}: exit ${code}`);
    return { ms, out };
  };
  const ipvsadm = (argv: string[]) => {
    const t = performance.now();
    const out = execFileSync('ipvsadm', argv, { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
    return { ms: performance.now() - t, out };
  };
  await kipvs(['-Ln']); // load the modules once, as a running CLI process would have them
  for (let i = 0; i < runs; i++) {
    const k = await kipvs(['-Ln']);
    const a = ipvsadm(['-Ln']);
    raw.kipvsLn!.push(k.ms);
    raw.ipvsadmLn!.push(a.ms);
    identical &&= k.out === a.out;
    const ks = await kipvs(['-Ln', '--stats']);
    const as = ipvsadm(['-Ln', '--stats']);
    raw.kipvsStats!.push(ks.ms);
    raw.ipvsadmStats!.push(as.ms);
    identical &&= ks.out === as.out;
  }
  client.flush();
  client.close();
  const pair = (k: number[], a: number[]) => ({ kipvs: median(k), ipvsadm: median(a), ratio: median(k) / median(a) });
  return {
    services, serversPerService: servers, runs,
    lnMs: pair(raw.kipvsLn!, raw.ipvsadmLn!), statsMs: pair(raw.kipvsStats!, raw.ipvsadmStats!), identical, raw,
  };
}

function startupBench() {
  const bin = join(root, 'bin', 'kipvsadm.js');
  const one = (argv: string[]) => {
    const t = performance.now();
    const r = spawnSync(process.execPath, [bin, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = performance.now() - t;
    if (r.status !== 0) throw new Error(`kipvsadm ${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return ms;
  };
  const measure = (argv: string[]) => {
    one(argv); // warm the file cache
    const xs = Array.from({ length: startupRuns }, () => one(argv));
    return { medianMs: median(xs), maxMs: Math.max(...xs), raw: xs };
  };
  const bare = Array.from({ length: startupRuns }, () => {
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    return performance.now() - t;
  });
  return { version: measure(['--version']), help: measure(['-h']), bareNodeMs: median(bare), targetMs: 150 };
}

if (args.includes('--in-sandbox')) {
  console.log(JSON.stringify(await listingBench()));
} else {
  const startup = startupBench();
  let listing: Listing | null = null;
  if (!args.includes('--no-sandbox')) {
    const sandbox = process.env.KIPVS_SANDBOX_SCRIPT ?? join(root, 'scripts', 'sandbox');
    if (!existsSync(sandbox)) throw new Error(`no sandbox script at ${sandbox}`);
    const out = execFileSync(sandbox, ['--', process.execPath, fileURLToPath(import.meta.url), '--in-sandbox', '--runs', String(runs), '--services', String(services), '--servers', String(servers)], {
      encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
    if (!line) throw new Error(`no result from the sandbox:\n${out}`);
    listing = JSON.parse(line) as Listing;
  }
  if (json) {
    console.log(JSON.stringify({ startup, listing }));
  } else {
    const f = (n: number) => n.toFixed(1).padStart(8);
    console.log('kipvsadm start-up on the host (whole process, median of', startupRuns, 'runs; target <= 150 ms)');
    console.log(`  --version ${f(startup.version.medianMs)} ms (max ${startup.version.maxMs.toFixed(1)})`);
    console.log(`  -h        ${f(startup.help.medianMs)} ms (max ${startup.help.maxMs.toFixed(1)})`);
    console.log(`  (node -e 0: ${startup.bareNodeMs.toFixed(1)} ms)`);
    if (listing) {
      console.log(`listing ${listing.services} services x ${listing.serversPerService} real servers in the sandbox, median of ${listing.runs}`);
      console.log('                      kipvs (in-process)   ipvsadm (process)   ratio   target');
      console.log(`  -Ln          (ms) ${f(listing.lnMs.kipvs)}             ${f(listing.lnMs.ipvsadm)}          ${listing.lnMs.ratio.toFixed(2)}    <= 1`);
      console.log(`  -Ln --stats  (ms) ${f(listing.statsMs.kipvs)}             ${f(listing.statsMs.ipvsadm)}          ${listing.statsMs.ratio.toFixed(2)}`);
      console.log(`  outputs identical: ${listing.identical}`);
    }
  }
}
