// The soak's targets, checked the same way by `npm run soak` and the CI test: each missed one is a line.
import type { SoakReport } from './stats.js';

export interface Bounds {
  /** Longest acceptable time to repair a hand edit. */
  repairBoundMs: number;
  /** Largest acceptable RSS growth within the agent's lifetimes (a leak shows as a steady slope). */
  rssSlopeMBPerMin: number;
}

export function targetsMissed(r: SoakReport, b: Bounds): string[] {
  const missed: string[] = [];
  if (r.requests.failedReady) missed.push(`${r.requests.failedReady} requests failed while every endpoint was serving`);
  if (r.requests.afterRemoval) missed.push(`${r.requests.afterRemoval} requests reached an endpoint after its removal was programmed`);
  if (r.requests.misrouted) missed.push(`${r.requests.misrouted} answers from addresses that were not endpoints`);
  if (r.udp.lostAfterRetry) missed.push(`${r.udp.lostAfterRetry} UDP datagrams lost after the retry`);
  if (r.changeToKernelMs.unresolved) missed.push(`${r.changeToKernelMs.unresolved} changes never reached the kernel`);
  for (const h of r.handEdits) if (h.repairMs === null || h.repairMs > b.repairBoundMs) missed.push(`${h.what}: ${h.repairMs === null ? 'not repaired' : `repaired in ${h.repairMs} ms`} (bound ${b.repairBoundMs} ms)`);
  if (r.rss.slopeMBPerMin === null) missed.push('no RSS slope: too few samples');
  else if (r.rss.slopeMBPerMin > b.rssSlopeMBPerMin) missed.push(`agent RSS grows ${r.rss.slopeMBPerMin} MB/min (bound ${b.rssSlopeMBPerMin})`);
  if (!r.final.equal) missed.push(`the final kernel differs from the desired state in ${r.final.differences.length} objects`);
  return missed;
}
