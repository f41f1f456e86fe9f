// Benchmark: bulk apply and dump of 1,000 virtual services x 10 real servers (11,000 objects), kipvs
// (in-process, batched netlink) against ipvsadm -R / ipvsadm -Sn (whole processes), in one sandbox boot.
//   scripts/sandbox -- node dist/scripts/bench-ipvs.js [--services N] [--servers M] [--runs R] [--json]
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { IpvsClient } from '../src/ipvs/client.js';
import type { Operation } from '../src/ipvs/types.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const services = opt('--services', 1000);
const servers = opt('--servers', 10);
const runs = opt('--runs', 3);
const json = args.includes('--json');

const vip = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const rip = (i: number, j: number) => `10.${200 + (j >> 8)}.${(i >> 8) & 255}.${i & 255}`;

function operations(): Operation[] {
  const ops: Operation[] = [];
  for (let i = 0; i < services; i++) {
    const service = { family: 'inet' as const, protocol: 'tcp' as const, address: vip(i), port: 80 };
    ops.push({ op: 'add-service', service: { ...service, scheduler: 'rr' } });
    for (let j = 0; j < servers; j++) ops.push({ op: 'add-server', service, server: { address: rip(i, j), port: 8080 + j } });
  }
  return ops;
}

function ipvsadmRules(): string {
  const lines: string[] = [];
  for (let i = 0; i < services; i++) {
    lines.push(`-A -t ${vip(i)}:80 -s rr`);
    for (let j = 0; j < servers; j++) lines.push(`-a -t ${vip(i)}:80 -r ${rip(i, j)}:${8080 + j} -m -w 1`);
  }
  return lines.join('\n') + '\n';
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = (fn: () => void) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};
const ipvsadm = (argv: string[], input?: string) =>
  execFileSync('ipvsadm', argv, { input, maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'inherit'] });

const client = IpvsClient.open();
const objects = services * (1 + servers);
const rules = ipvsadmRules();
const result = {
  kipvsApplyMs: [] as number[], ipvsadmRestoreMs: [] as number[], kipvsDumpMs: [] as number[], kipvsDumpStatsMs: [] as number[], ipvsadmSaveMs: [] as number[],
};

for (let r = 0; r < runs; r++) {
  client.flush();
  const ops = operations();
  let failures = 0;
  result.kipvsApplyMs.push(time(() => { failures = client.apply(ops).failures.length; }));
  if (failures) throw new Error(`${failures} operations failed`);
  let dumped = 0;
  // Like ipvsadm -Sn: every field of every service and server, but not the counters.
  result.kipvsDumpMs.push(time(() => { dumped = client.dump({ stats: false }).reduce((n, s) => n + 1 + s.servers.length, 0); }));
  if (dumped !== objects) throw new Error(`kipvs dumped ${dumped} objects, expected ${objects}`);
  result.kipvsDumpStatsMs.push(time(() => { dumped = client.dump().reduce((n, s) => n + 1 + s.servers.length, 0); }));
  client.flush();
  result.ipvsadmRestoreMs.push(time(() => ipvsadm(['-R'], rules)));
  let lines = 0;
  result.ipvsadmSaveMs.push(time(() => { lines = ipvsadm(['-Sn']).toString().split('\n').length - 1; }));
  if (lines !== objects) throw new Error(`ipvsadm -Sn printed ${lines} lines, expected ${objects}`);
}
client.flush();
client.close();

const summary = {
  services, serversPerService: servers, objects, runs,
  applyMs: { kipvs: median(result.kipvsApplyMs), ipvsadmRestore: median(result.ipvsadmRestoreMs) },
  dumpMs: { kipvs: median(result.kipvsDumpMs), kipvsWithStats: median(result.kipvsDumpStatsMs), ipvsadmSave: median(result.ipvsadmSaveMs) },
  applyRatio: median(result.kipvsApplyMs) / median(result.ipvsadmRestoreMs),
  dumpRatio: median(result.kipvsDumpMs) / median(result.ipvsadmSaveMs),
  targets: { applyRatio: 0.8, dumpRatio: 1.0 },
  rssMB: Math.round(process.memoryUsage().rss / 1048576),
  raw: result,
};
if (json) {
  console.log(JSON.stringify(summary));
} else {
  const f = (n: number) => n.toFixed(1).padStart(9);
  console.log(`IPVS bulk apply and dump: ${services} services x ${servers} real servers = ${objects} objects, median of ${runs}`);
  console.log(`                         kipvs (in-process)   ipvsadm (process)   ratio   target`);
  console.log(`apply   (ms)          ${f(summary.applyMs.kipvs)}          ${f(summary.applyMs.ipvsadmRestore)} (-R)   ${summary.applyRatio.toFixed(2)}   <= ${summary.targets.applyRatio}`);
  console.log(`dump    (ms)          ${f(summary.dumpMs.kipvs)}          ${f(summary.dumpMs.ipvsadmSave)} (-Sn)  ${summary.dumpRatio.toFixed(2)}   <= ${summary.targets.dumpRatio}`);
  console.log(`dump with statistics decoded too: ${summary.dumpMs.kipvsWithStats.toFixed(1)} ms`);
  console.log(`kipvs RSS: ${summary.rssMB} MB`);
}
