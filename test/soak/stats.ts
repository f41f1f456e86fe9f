// The soak's verdict: what the recorded data (soak.ts) says about the targets, as a report object
// (--json), a table, and charts of the agent's RSS and the change-to-kernel latency over time.
import { TCP_TARGET, UDP_TARGET } from './cluster.js';
import type { SoakData } from './soak.js';
import { brokenByHandEdit } from './faults.js';
import { pooledSlope } from '../../scripts/lib/slope.js';

export interface Quantiles { count: number; p50: number | null; p99: number | null; max: number | null }

export interface SoakReport {
  durationS: number;
  services: number;
  targets: number;
  requests: {
    sent: number; answered: number;
    /** Failed requests (UDP: lost after the retry too) while every endpoint of the Service was serving. */
    failedReady: number;
    /** Failed requests to the virtual service a hand edit had broken (every one for the nat jump), until it was repaired (+3 s). */
    failedDuringHandEdits: number;
    /** TCP answers that came after the usual 3-s timeout on a connection made in time (the pod's process was starved), and the latest. */
    answeredLate: number; answeredLateMaxMs: number | null;
    /** Answers from an address that was never a pod of the Service. */
    misrouted: number;
    /** New connections/datagrams sent after the kernel showed their endpoint removed, answered by it anyway. */
    afterRemoval: number;
    examples: string[];
  };
  udp: { datagrams: number; firstTryFailed: number; lostAfterRetry: number };
  changeToKernelMs: Quantiles & { unresolved: number; steady: Quantiles };
  handEdits: { what: string; repairMs: number | null }[];
  restarts: { signal: string; exitCode: number | null; stopMs: number; startMs: number }[];
  apiFaults: string[];
  rss: { samples: number; firstMB: number | null; lastMB: number | null; maxMB: number | null; slopeMBPerMin: number | null; lastLifetimeSlopeMBPerMin: number | null; lastLifetimeS: number };
  eventLoopLagMs: { worstWindowP99: number | null; max: number | null; windows: number };
  final: { equal: boolean; differences: string[]; waitedMs: number };
  kernelDumps: number;
  agentErrors: number;
}

export function quantiles(values: number[]): Quantiles {
  const s = [...values].sort((a, b) => a - b);
  const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! : null);
  return { count: s.length, p50: q(0.5), p99: q(0.99), max: s.length ? s[s.length - 1]! : null };
}

export { pooledSlope };

/**
 * RSS samples before this long after a lifetime's first sync are left out of the slope: start-up
 * (module loading, the first sync) is not a leak. Counted from the sync, not the process start, which
 * takes up to two minutes in the emulated guest (in the first 10-minute soak, counting 20 s from the
 * start put the start-up ramp, 20 -> 100 MB, into the slope).
 */
const WARMUP_MS = 20_000;
const round = (v: number | null, d = 1) => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);

/**
 * The RSS trend: the least-squares slope (MB/min) over every lifetime's samples from WARMUP_MS after
 * its first sync, each lifetime with its own intercept, and the same over the last lifetime alone.
 */
export function rssTrend(rss: SoakData['rss']): { slopeMBPerMin: number | null; lastLifetimeSlopeMBPerMin: number | null; lastLifetimeS: number } {
  const settled = rss.filter((p) => p.synced !== undefined && p.t - p.synced >= WARMUP_MS);
  const slope = (pts: typeof settled) => round(pooledSlope(pts.map((p) => ({ x: p.t / 60_000, y: p.mb, group: p.life }))), 3);
  const lastLife = rss.at(-1)?.life;
  const last = settled.filter((p) => p.life === lastLife);
  return {
    slopeMBPerMin: slope(settled), lastLifetimeSlopeMBPerMin: slope(last),
    lastLifetimeS: last.length ? Math.round((last.at(-1)!.t - last[0]!.t) / 1000) : 0,
  };
}

/**
 * A change was made and reached the kernel with no fault in force at any time in between (a change made
 * in the gap before a restart waits for the restarted agent: that wait is the restart's, not the sync's).
 */
export function steadyThroughout(phases: SoakData['phases'], c: { at: number; seenAt?: number }): boolean {
  if (c.seenAt === undefined) return false;
  return phases.every((p) => p.name === 'steady' || p.to <= c.at || p.from >= c.seenAt!);
}

export function evaluate(d: SoakData): SoakReport {
  const examples: string[] = [];
  const note = (s: string) => { if (examples.length < 20) examples.push(s); };
  const removal = new Map(d.removals.map((r) => [`${r.vs}|${r.server}`, r]));
  const broken = (vs: string, t: number) => brokenByHandEdit(d.faults.handEdits, vs, t, d.options.repairBoundMs);
  let answeredLate = 0, answeredLateMaxMs: number | null = null;
  let answered = 0, failedReady = 0, failedDuringHandEdits = 0, misrouted = 0, afterRemoval = 0, datagrams = 0, firstTryFailed = 0, lost = 0;
  for (const r of d.records) {
    const target = d.targets[r.i]!;
    const udp = target.proto === 'UDP';
    if (udp) { datagrams++; if (r.retry || r.lost) firstTryFailed++; if (r.lost) lost++; }
    if (r.ep === undefined) {
      // A UDP datagram that got no answer at the first try but did at the retry is not a failed request.
      if (broken(target.vs, r.t)) failedDuringHandEdits++;
      else { failedReady++; note(`failed: ${target.vs} at +${((r.t - d.startedAt) / 1000).toFixed(1)} s: ${r.err}${r.kernelAtSend ? `; kernel at send (dump ${r.kernelAtSend.join(' ')})` : ''}${r.kernel ? `; kernel had ${r.kernel.join(' ') || 'no servers'}` : ''}${r.conns ? `; connections: ${r.conns.join(' | ') || 'none'}` : ''}`); }
      continue;
    }
    answered++;
    if (r.lateMs !== undefined) { answeredLate++; answeredLateMaxMs = Math.max(answeredLateMaxMs ?? 0, r.lateMs); }
    if (!d.podsEver.get(target.service)!.has(r.ep)) { misrouted++; note(`misrouted: ${target.vs} answered by ${r.ep}`); continue; }
    const rm = removal.get(`${target.vs}|${r.ep}:${udp ? UDP_TARGET : TCP_TARGET}`);
    if (rm?.programmedAt !== undefined && r.t > rm.programmedAt) {
      afterRemoval++;
      note(`after removal: ${target.vs} -> ${r.ep} sent ${r.t - rm.programmedAt} ms after the kernel showed it removed`);
    }
  }
  const latency = (cs: typeof d.changes) => quantiles(cs.filter((c) => c.seenAt !== undefined).map((c) => c.seenAt! - c.at));
  return {
    durationS: Math.round((d.endedAt - d.startedAt) / 1000),
    services: new Set(d.targets.map((t) => t.service)).size,
    targets: d.targets.length,
    requests: { sent: d.records.length, answered, answeredLate, answeredLateMaxMs, failedReady, failedDuringHandEdits, misrouted, afterRemoval, examples },
    udp: { datagrams, firstTryFailed, lostAfterRetry: lost },
    changeToKernelMs: { ...latency(d.changes), unresolved: d.changes.filter((c) => c.seenAt === undefined).length, steady: latency(d.changes.filter((c) => steadyThroughout(d.phases, c))) },
    handEdits: d.faults.handEdits.map((h) => ({ what: h.what, repairMs: h.repairMs ?? null })),
    restarts: d.faults.restarts.map(({ signal, exitCode, stopMs, startMs }) => ({ signal, exitCode, stopMs, startMs })),
    apiFaults: d.faults.apiFaults.map((f) => f.what),
    rss: {
      samples: d.rss.length, firstMB: round(d.rss[0]?.mb ?? null), lastMB: round(d.rss.at(-1)?.mb ?? null),
      maxMB: round(d.rss.length ? Math.max(...d.rss.map((s) => s.mb)) : null),
      ...rssTrend(d.rss),
    },
    eventLoopLagMs: { worstWindowP99: round(d.lag.length ? Math.max(...d.lag.map((l) => l.p99)) : null), max: round(d.lag.length ? Math.max(...d.lag.map((l) => l.max)) : null), windows: d.lag.length },
    final: { equal: d.final.diffs.length === 0, differences: d.final.diffs.slice(0, 50), waitedMs: d.final.waitedMs },
    kernelDumps: d.dumps,
    agentErrors: d.agentErrors,
  };
}

/** Each kind of API server fault once, with how many times it happened: "watches dropped ×8; ...". */
export function apiFaultSummary(faults: string[]): string {
  const counts = new Map<string, number>();
  for (const f of faults) counts.set(f, (counts.get(f) ?? 0) + 1);
  return [...counts].map(([f, n]) => (n > 1 ? `${f} ×${n}` : f)).join('; ') || '-';
}

const q = (x: Quantiles) => `${x.p50 ?? '-'} / ${x.p99 ?? '-'} / ${x.max ?? '-'} ms (${x.count})`;

export function table(r: SoakReport): string {
  const rows: [string, string, string][] = [
    ['duration, Services, client targets', `${r.durationS} s, ${r.services}, ${r.targets}`, ''],
    ['requests sent / answered', `${r.requests.sent} / ${r.requests.answered}`, ''],
    ['failed requests, all endpoints serving', String(r.requests.failedReady), '0'],
    ['TCP answered late (connected in time; the pod process was slow)', r.requests.answeredLate ? `${r.requests.answeredLate}, up to ${r.requests.answeredLateMaxMs} ms over 3 s` : '0', ''],
    ['failed while a hand edit broke the path', String(r.requests.failedDuringHandEdits), '(expected)'],
    ['answered by an endpoint after its removal was programmed', String(r.requests.afterRemoval), '0'],
    ['answered by a non-endpoint', String(r.requests.misrouted), '0'],
    ['UDP datagrams / first try failed / lost after the retry', `${r.udp.datagrams} / ${r.udp.firstTryFailed} / ${r.udp.lostAfterRetry}`, 'lost 0'],
    ['change to kernel p50 / p99 / max (all)', q(r.changeToKernelMs), ''],
    ['change to kernel p50 / p99 / max (no fault in force)', q(r.changeToKernelMs.steady), ''],
    ['changes never seen in the kernel', String(r.changeToKernelMs.unresolved), '0'],
    ...r.handEdits.map((h): [string, string, string] => [`repair: ${h.what}`, h.repairMs === null ? 'NOT REPAIRED' : `${h.repairMs} ms`, 'repaired']),
    ...r.restarts.map((x): [string, string, string] => [`restart after ${x.signal}`, `exit ${x.exitCode ?? 'by signal'} in ${x.stopMs} ms, synced again in ${x.startMs} ms`, '']),
    ['API server faults', apiFaultSummary(r.apiFaults), ''],
    ['agent RSS first / last / max', `${r.rss.firstMB} / ${r.rss.lastMB} / ${r.rss.maxMB} MB (${r.rss.samples} samples)`, ''],
    ['agent RSS slope (within lifetimes; last lifetime)', `${r.rss.slopeMBPerMin} MB/min; ${r.rss.lastLifetimeSlopeMBPerMin} MB/min over ${r.rss.lastLifetimeS} s`, 'flat'],
    ['agent event-loop lag: worst 5-s window p99 / max', `${r.eventLoopLagMs.worstWindowP99} / ${r.eventLoopLagMs.max} ms (${r.eventLoopLagMs.windows} windows)`, ''],
    ['final kernel vs desired state', r.final.equal ? `equal (after ${r.final.waitedMs} ms)` : `${r.final.differences.length} differences`, 'equal'],
    ['agent error log lines; kernel dumps taken', `${r.agentErrors}; ${r.kernelDumps}`, ''],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length)), w1 = Math.max(...rows.map((x) => x[1].length));
  const lines = rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c ? `target: ${c}` : ''}`.trimEnd());
  if (!r.final.equal) lines.push('', 'final differences:', ...r.final.differences.map((x) => `  ${x}`));
  if (r.requests.examples.length) lines.push('', 'examples:', ...r.requests.examples.map((x) => `  ${x}`));
  return lines.join('\n');
}

/** RSS over time (a gap at each restart) and change-to-kernel latency (per 10 s: median and max). */
export function chartSeries(d: SoakData) {
  const x = (t: number) => Math.round((t - d.startedAt) / 100) / 10;
  const rss: [number, number | null][] = [];
  d.rss.forEach((s, i) => { if (i > 0 && d.rss[i - 1]!.life !== s.life) rss.push([x(s.t) - 0.01, null]); rss.push([x(s.t), Math.round(s.mb * 10) / 10]); });
  const buckets = new Map<number, number[]>();
  for (const c of d.changes) if (c.seenAt !== undefined) { const b = Math.floor(x(c.at) / 10) * 10; buckets.set(b, [...(buckets.get(b) ?? []), c.seenAt - c.at]); }
  const keys = [...buckets.keys()].sort((a, b) => a - b);
  return {
    rss,
    p50: keys.map((k): [number, number | null] => [k + 5, quantiles(buckets.get(k)!).p50]),
    max: keys.map((k): [number, number | null] => [k + 5, quantiles(buckets.get(k)!).max]),
  };
}
