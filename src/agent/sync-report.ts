// What the agent says about a finished sync: kube-proxy's and kipvs' metrics, the Events an operator
// sees on the Node, the fields of the "sync" log line, and where the sync's time went. Kept apart
// from the agent's wiring so that what is reported reads in one place.
import type { BackendSyncResult } from '../backends/backend.js';
import type { EventType } from '../sources/types.js';
import type { Family } from '../netlink/address.js';
import { FAMILY_NAME } from './families.js';
import { REASONS } from './events.js';
import type { AgentMetrics } from './metrics.js';

const r1 = (ms: number) => Math.round(ms * 10) / 10;

/** Where one sync's time went (ms), from the first change it carries. */
export interface SyncTiming {
  /** Waiting to start: the runner's timer, a sync in progress. */
  waitMs: number;
  commitMs: number;
  /** The backend: the kernel work. */
  backendMs: number;
  /** What follows the kernel work: conntrack cleanup, health-check ports, metrics, events, the log line. */
  afterMs: number;
  conntrackMs: number;
  healthCheckMs: number;
  /** performance.now() when the backend returned: the change is in the kernel from then on. */
  kernelAt: number;
}

/**
 * The sync's metrics and Events. One sync programs every family: each family's series sees it, as
 * each of kube-proxy's per-family proxiers would.
 */
export function recordSync(m: AgentMetrics, families: readonly Family[], result: BackendSyncResult, seconds: number,
  event: (type: EventType, reason: string, note: string) => void): void {
  for (const f of families) {
    const ip_family = FAMILY_NAME[f];
    m.syncDuration.observe(seconds, { ip_family });
    (result.kind === 'full' ? m.syncFullDuration : m.syncPartialDuration).observe(seconds, { ip_family });
  }
  m.syncs.inc({ kind: result.kind });
  for (const [op, n] of Object.entries(result.counts)) m.operations.inc({ op }, n);
  for (const f of result.failures) {
    m.operationErrors.inc({ op: f.op });
    const byFamily: Record<string, string> = f.family ? { ip_family: FAMILY_NAME[f.family] } : {};
    if (f.op === 'iptables-restore') m.iptablesRestoreFailures.inc(byFamily);
    if (f.op === 'iptables-partial-restore') m.iptablesPartialRestoreFailures.inc(byFamily);
  }
  if (result.repaired) {
    m.driftRepaired.inc({}, result.repaired);
    event('Normal', REASONS.driftRepaired,
      `put back ${result.repaired} kernel object${result.repaired === 1 ? '' : 's'} changed behind kipvs' back (${Object.entries(result.counts).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  }
  if (result.failures.length) {
    const f = result.failures[0]!;
    event('Warning', REASONS.syncFailed,
      `${result.failures.length} kernel operation${result.failures.length === 1 ? '' : 's'} failed, e.g. ${f.op}: ${f.message}`);
  }
}

/** The "sync" log line: what ran, what it did, its phases (ms) and how it shared the event loop. */
export function syncLogFields(o: {
  reason: string; mode: string; result: BackendSyncResult; services: number; ms: number; commitMs: number;
  loop: { turns: number; longestMs: number };
}): Record<string, unknown> {
  const { result } = o;
  const phases: Record<string, number> = { model: r1(o.commitMs) };
  for (const [k, v] of Object.entries(result.phases)) phases[k.replace(/Ms$/, '')] = r1(v);
  return {
    reason: o.reason, mode: o.mode, kind: result.kind, services: o.services, operations: result.operations, counts: result.counts,
    failures: result.failures.length, repaired: result.repaired, ms: r1(o.ms), phases,
    loop: { turns: o.loop.turns, longestMs: r1(o.loop.longestMs) },
  };
}
