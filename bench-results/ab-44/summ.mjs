// Summarise new-node A/B JSONL lines ("variant #round via {json}") as one line each: start to all programmed, the
// list phase (syncingMs), the first sync, peak RSS (VmHWM) and the slowest of the endpoint changes after it.
import { readFileSync } from 'node:fs';
for (const file of process.argv.slice(2)) {
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const i = line.indexOf('{');
    const [v, r, via] = line.slice(0, i).trim().split(' ');
    const j = JSON.parse(line.slice(i));
    const s = (ms) => (ms / 1000).toFixed(1);
    console.log(`${v.padEnd(7)} ${r} ${via.padEnd(9)} programmed ${s(j.programmedMs)} s (lists ${s(j.syncingMs)}, first sync ${s(j.firstSyncMs)}); peak ${j.peakRssMB} MB; changes max ${Math.round(Math.max(...j.fileChangesMs))} ms`);
  }
}
