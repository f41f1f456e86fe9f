// One line per case of an ab.sh JSONL: initial sync, its CPU, commit, reconcile RSS 1..R, peak.
import { readFileSync } from 'node:fs';
for (const line of readFileSync(process.argv[2], 'utf8').trim().split('\n')) {
  const [v, r, ...rest] = line.split(' ');
  const j = JSON.parse(rest.join(' '));
  const rss = []; for (let i = 1; j[`reconcileRss${i}MB`] !== undefined; i++) rss.push(j[`reconcileRss${i}MB`]);
  console.log(`${v.padEnd(5)} ${r} sync ${(j.initialSyncMs / 1000).toFixed(1)} s (commit ${(j.initialCommitWallMs / 1000).toFixed(1)}, cpu ${(j.initialCpuMs / 1000).toFixed(1)}, main user ${(j.initialMainUserMs / 1000).toFixed(1)}, gc ${(j.initialGcMs / 1000).toFixed(1)} s ${j.initialGcMajor}/${j.initialGcMinor}); reconcile ${(j.noopReconcileMs / 1000).toFixed(1)} s ${(j.noopReconcileCpuMs / j.noopReconcileMs).toFixed(2)}, later p50 ${(j.laterReconcileP50Ms / 1000).toFixed(1)} s ${j.laterReconcileCpuRatioP50 ?? ''}; RSS after reconciles ${rss.join(' ')} (slope ${j.reconcileRssSlopeMB}); peak ${j.peakRssMB} (${j.afterInitialPeakRssMB} by the first sync's end)`);
}
