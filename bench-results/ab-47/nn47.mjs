// New-node A/B: one kipvs agent process per variant and source, alternating; JSONL lines "variant #round via {json}".
import { appendFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
const [variants, rounds, N, vias] = [process.argv[2].split(' '), Number(process.argv[3]), Number(process.argv[4]), (process.argv[5] ?? 'manifests api').split(' ')];
for (let r = 1; r <= rounds; r++) for (const via of vias) for (const v of variants) {
  const { runAgentProcess } = await import(`/work/ab47/${v}/dist/scripts/lib/bench-new-node.js`);
  const { Progress } = await import(`/work/ab47/${v}/dist/scripts/lib/bench-progress.js`);
  const { settle } = await import(`/work/ab47/${v}/dist/scripts/lib/netns.js`);
  const { existsSync, readFileSync } = await import('node:fs');
  const envFile = `/work/ab47/${v}/env`;
  const envs = existsSync(envFile) ? readFileSync(envFile, 'utf8').trim().split(/\s+/).map((w) => w.split('=')) : [];
  for (const [k, val] of envs) process.env[k] = val;
  process.env.AGENT_LOG = `/work/ab47/agent-${v}-${r}-${via}-${N}.log`; process.env.AGENT_STDOUT = `/work/ab47/gc-${v}-${r}-${via}-${N}.log`;
  try {
    const res = await runAgentProcess({ cli: `/work/ab47/${v}/dist/bundle/kipvs.js`, services: N, endpoints: 10, progress: new Progress(`${v} #${r} ${via}`), vipBinding: 'local-route', via });
    const line = `${v} #${r} ${via} ${JSON.stringify(res)}`;
    if (process.env.JSONL) appendFileSync(process.env.JSONL, line + '\n');
    console.log(`${v} #${r} ${via}: programmed ${res.programmedMs} first sync ${res.firstSyncMs} peak ${res.peakRssMB} MB changes ${JSON.stringify(res.fileChangesMs)}`);
  } catch (err) { console.log(`${v} #${r} ${via} FAILED ${err.message.slice(0, 300)}`); }
  for (const [k] of envs) delete process.env[k];
  await settle();
}
