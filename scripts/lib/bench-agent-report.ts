// The agent benchmark's report, pure: the --services list, each size's table, the summary across
// sizes, and the chart specifications (drawn by chart.ts).
import type { ChartSpec } from './chart.js';
import type { FloorResult } from './bench-floor.js';
import { CHANGE_SPACING_MS, type NewNodeResult } from './bench-new-node.js';

/** One size's results: the agent's figures (bench-agent-case.ts) and the floor's (bench-floor.ts). */
export interface SizeResult {
  services: number;
  endpoints: number;
  ok: boolean;
  error?: string;
  agent?: Record<string, number>;
  floor?: FloorResult;
  /** --new-node: the whole agent process over a manifests directory. */
  newNode?: NewNodeResult;
  newNodeError?: string;
}

/** "1000,5000,10_000" → [1000, 5000, 10000]; anything else is an error naming the option and the value. */
export function parseServices(text: string): number[] {
  const sizes = text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const n = Number(s.replace(/_/g, ''));
    // 60,000 keeps the bench objects' addresses distinct (vip() and podIP() use the low 16 bits).
    if (!(Number.isInteger(n) && n >= 1 && n <= 60_000)) throw new Error(`--services: ${JSON.stringify(s)} is not a whole number in 1..60000`);
    return n;
  });
  if (!sizes.length) throw new Error(`--services: no size given in ${JSON.stringify(text)}`);
  return sizes;
}

const n = (v: number | undefined) => (v === undefined ? '—' : v.toLocaleString('en-US'));
const ms = (v: number | undefined) => (v === undefined ? '—' : `${v.toLocaleString('en-US', { maximumFractionDigits: v < 100 ? 1 : 0 })} ms`);
const x = (a: number | undefined, b: number | undefined) => (a === undefined || !b ? '—' : `${(a / b).toFixed(2)}x`);

/** The floor's rows: each part, both ipset ways, the sum. */
export function floorRows(f: FloorResult): [string, string][] {
  return [
    ['floor (fresh namespaces, the fastest way each)', `${ms(f.sumMs)} in all (families ${f.families.join(', ')})`],
    ['  (a) IPVS: batched netlink', `${ms(f.ipvsMs)} (${n(f.ipvsServices)} services, ${n(f.ipvsServers)} real servers${f.ipvsCpuMs === undefined ? '' : `; CPU ${ms(f.ipvsCpuMs)}`})`],
    f.vipRouteMs === undefined
      ? ['  (b) VIPs on kube-ipvs0: batched rtnetlink', `${ms(f.vipMs)} (${n(f.vips)} addresses${f.vipCpuMs === undefined ? '' : `; CPU ${ms(f.vipCpuMs)}`})`]
      : ['  (b) VIPs: addresses on kube-ipvs0 / local routes', `${ms(f.vipAddressMs)} / ${ms(f.vipRouteMs)}: ${f.vipBinding === 'local-route' ? 'local routes count' : 'addresses count'} (--vip-binding; ${n(f.vips)} VIPs; CPU ${ms(f.vipAddressCpuMs)} / ${ms(f.vipRouteCpuMs)})`],
    ['  (c) ipsets: ipset restore / batched client', `${ms(f.ipsetRestoreMs)} / ${ms(f.ipsetClientMs)}: ${f.ipsetWay} counts (${n(f.ipsets)} sets, ${n(f.ipsetEntries)} entries${f.raisedMaxelem.length ? `; maxelem raised for ${f.raisedMaxelem.map((r) => `${r.set} (${n(r.entries)})`).join(', ')}` : ''})`],
    ['  (d) iptables-restore of IPVS mode\'s rules', `${ms(f.iptablesMs)} (${n(f.iptablesLines)} rule lines)`],
  ];
}

/**
 * The shortest the initial sync could have been with its CPU as measured: no schedule on `cpus` CPUs
 * ends sooner than its busiest thread's CPU (the main thread's) or all its CPU spread evenly over
 * them. Against the floor it says whether a target needs less CPU or only more overlap. Undefined
 * without the per-thread figures.
 */
export function initialCpuBoundMs(a: Record<string, number>): number | undefined {
  if (a.initialMainUserMs === undefined || a.initialCpuMs === undefined || !a.cpus) return undefined;
  return Math.max(a.initialMainUserMs + a.initialMainSysMs!, (a.initialCpuMs + (a.initialChildCpuMs ?? 0)) / a.cpus);
}

/** One size's table (the agent's rows as bench-agent printed them, the floor's beside them). */
export function sizeRows(r: SizeResult, lagOnly: boolean): [string, string][] {
  const head: [string, string] = ['services x endpoints', `${n(r.services)} x ${r.endpoints} (${n(r.services * (r.endpoints + 1))} IPVS objects, ${n(r.services)} VIPs)`];
  if (!r.ok || !r.agent) return [head, ['FAILED', r.error ?? 'no result']];
  const a = r.agent;
  const lag = (label: string): [string, string][] => [
    ['  event-loop delay p50 / p99 / max', `${a[`${label}LagP50Ms`]} / ${a[`${label}LagP99Ms`]} / ${a[`${label}LagMaxMs`]} ms`],
    ['  GET /healthz every second: answered, p50 / max latency', `${a[`${label}HealthzPolls`]}, ${a[`${label}HealthzP50Ms`]} / ${a[`${label}HealthzMaxMs`]} ms`],
  ];
  const readFloor = r.floor?.readMs !== undefined ? `; the tools read the same state in ${ms(r.floor.readMs)} (ipvsadm -Sn ${ms(r.floor.readIpvsadmMs)}, ipset save ${ms(r.floor.readIpsetMs)}, iptables-save ${ms(r.floor.readIptablesMs)}): ${x(a.noopReconcileMs, r.floor.readMs)}, target <= 1.0x` : '';
  const noop: [string, string] = ['no-op periodic reconcile', `${ms(a.noopReconcileMs)} wall, ${ms(a.noopReconcileCpuMs)} CPU, ${a.noopReconcileOperations} operations${readFloor}`];
  const failedFirst = a.initialSyncFailures ? `; FAILED ${a.initialSyncFailures} time(s) first, then retried: its phases are the retry's (the agent's errors on stderr)` : '';
  const initialCpu: [string, string][] = [];
  if (a.initialCpuMs !== undefined) {
    initialCpu.push(['  CPU: this process (all threads) + its children; CPUs busy on average, of the machine\'s',
      `${ms(a.initialCpuMs)} + ${ms(a.initialChildCpuMs)}; ${((a.initialCpuMs + a.initialChildCpuMs) / a.initialSyncMs).toFixed(2)} of ${a.cpus}`]);
  }
  if (a.initialMainUserMs !== undefined) {
    initialCpu.push(['    by thread: main user / system, the others (libuv pool, V8 helpers) user / system',
      `${ms(a.initialMainUserMs)} / ${ms(a.initialMainSysMs)}, ${ms(a.initialOtherUserMs)} / ${ms(a.initialOtherSysMs)}`]);
    const bound = initialCpuBoundMs(a);
    initialCpu.push([`    no schedule of that CPU on ${a.cpus} CPUs ends sooner: max(main thread, all ÷ ${a.cpus})`,
      `${ms(bound === undefined ? undefined : Math.round(bound))}${r.floor ? ` (${x(bound, r.floor.sumMs)} the floor's sum)` : ''}`]);
  }
  if (lagOnly) {
    return [head, ['agent: initial sync', `${ms(a.initialSyncMs)} (${n(a.initialOperations)} IPVS operations + ${n(r.services)} VIP binds)${failedFirst}`], ...initialCpu, ...lag('initial'), noop, ...lag('noop')];
  }
  return [
    head,
    ...(r.floor ? floorRows(r.floor) : []),
    ['agent: feeding objects to the model', ms(a.feedMs)],
    ['agent: initial sync', `${ms(a.initialSyncMs)} (${x(a.initialSyncMs, r.floor?.sumMs)} the floor's sum; ${n(a.initialOperations)} IPVS operations + ${n(r.services)} VIP binds)${failedFirst}`],
    ['  of which: model, kernel read, plan, VIP binds, IPVS ops, ipsets, iptables', `${a.initialModelMs} / ${a.initialReadMs} / ${a.initialPlanMs} / ${a.initialBindMs} / ${a.initialApplyMs} / ${a.initialIpsetMs} / ${a.initialIptablesMs} ms (${n(a.ipsetEntries)} ipset entries)`],
    ['  each against its floor part: IPVS ops, VIP binds, ipsets, iptables', r.floor ? `${x(a.initialApplyMs, r.floor.ipvsMs)} / ${x(a.initialBindMs, r.floor.vipMs)} / ${x(a.initialIpsetMs, r.floor.ipsetMs)} / ${x(a.initialIptablesMs, r.floor.iptablesMs)}` : '—'],
    ...(a.initialCommitWallMs !== undefined ? [['  wall by the agent\'s clock: model commit, backend (of which the IPVS pass), after it (conntrack, health checks, metrics)',
      `${a.initialCommitWallMs} / ${a.initialBackendWallMs} (${a.initialEngineMs}) / ${a.initialAfterWallMs} ms`] as [string, string]] : []),
    ...initialCpu,
    ...lag('initial'),
    ...(a.initialGcMs !== undefined ? [['  GC pauses during it: time, full collections, scavenges', `${ms(a.initialGcMs)}, ${a.initialGcMajor}, ${a.initialGcMinor}`] as [string, string]] : []),
    ['one endpoint added: operations', `${a.oneEndpointOperations} (${a.oneEndpointSyncKind ? 'incremental' : 'full'} sync)`],
    ['one endpoint added: event to kernel', `${ms(a.oneEndpointMs)} (model ${a.oneEndpointModelMs} ms, engine ${a.oneEndpointSyncMs} ms; sync done after ${ms(a.oneEndpointDoneMs)})`],
    ...(a.changes ? [[`${a.changes} more, each to another Service: event to kernel p50 / p99`, `${ms(a.changesP50Ms)} / ${ms(a.changesP99Ms)} (model + engine p50 / p99 ${a.changesModelEngineP50Ms} / ${a.changesModelEngineP99Ms} ms; ratio p50 / p99 ${a.changesRatioP50}x / ${a.changesRatioP99}x, target <= 1.5x)`] as [string, string]] : []),
    ...(a.changesDoneP50Ms !== undefined ? [['  event to sync done (conntrack cleanup, health checks, metrics, log) p50 / p99', `${ms(a.changesDoneP50Ms)} / ${ms(a.changesDoneP99Ms)}`] as [string, string]] : []),
    ...(a.changesPartWaitP50Ms !== undefined ? [['  where it went, p50 of each: wait to start, model, backend (in the kernel), after (of which conntrack, health checks), bench notices',
      `${a.changesPartWaitP50Ms} / ${a.changesPartModelP50Ms} / ${a.changesPartBackendP50Ms} / ${a.changesPartAfterP50Ms} (${a.changesPartConntrackP50Ms ?? '?'}, ${a.changesPartHealthCheckP50Ms ?? '?'}) / ${a.changesPartNoticeP50Ms} ms`] as [string, string]] : []),
    noop,
    ['  of which: kernel read (dump), plan, ipsets, iptables (dump and compare)', `${a.noopReadMs} / ${a.noopPlanMs} / ${a.noopIpsetMs} / ${a.noopIptablesMs} ms`],
    ...(a.noopMainUserMs !== undefined ? [['  its CPU by thread: main user / system, other threads (V8 compiling and collecting, libuv\'s pool) user / system',
      `${ms(a.noopMainUserMs)} / ${ms(a.noopMainSysMs)}, ${ms(a.noopOtherUserMs)} / ${ms(a.noopOtherSysMs)}${a.laterReconcileEachMainUserMs !== undefined ? `; each later one ${ms(a.laterReconcileEachMainUserMs)} / ${ms(a.laterReconcileEachMainSysMs)}, ${ms(a.laterReconcileEachOtherUserMs)} / ${ms(a.laterReconcileEachOtherSysMs)}` : ''}`] as [string, string]] : []),
    ...(a.laterReconcileP50Ms !== undefined ? [[`  the ${a.reconciles! - 1} after it, p50: wall, CPU, CPU / wall`,
      `${ms(a.laterReconcileP50Ms)}, ${ms(a.laterReconcileCpuP50Ms)}, ${a.laterReconcileCpuRatioP50}x (target <= 1.2x)${r.floor?.readMs !== undefined ? `; wall ${x(a.laterReconcileP50Ms, r.floor.readMs)} the tools' read` : ''}`] as [string, string]] : []),
    ...(a.laterReconcileEachGcMs !== undefined ? [['  GC pauses per later reconcile: time, full collections, scavenges', `${ms(a.laterReconcileEachGcMs)}, ${a.laterReconcileEachGcMajor}, ${a.laterReconcileEachGcMinor}`] as [string, string]] : []),
    ...lag('noop'),
    ['RSS / heap total after the initial sync, after the reconcile', `${a.afterInitialRssMB} / ${a.afterInitialHeapTotalMB} MB, ${a.afterReconcileRssMB} / ${a.afterReconcileHeapTotalMB} MB`],
    ['agent RSS / heap used / heap total / external', `${a.rssMB} MB / ${a.heapUsedMB} MB / ${a.heapTotalMB} MB / ${a.externalMB} MB`],
    ...(a.reconciles && a.reconciles > 1 ? [[`RSS after each of ${a.reconciles} no-op reconciles (no GC forced)`,
      `${Array.from({ length: a.reconciles }, (_, i) => a[`reconcileRss${i + 1}MB`]).join(', ')} MB; slope from the 2nd on ${a.reconcileRssSlopeMB ?? '?'} MB per reconcile, target flat`] as [string, string]] : []),
    ['agent peak RSS (VmHWM, whole run)', `${a.peakRssMB} MB${a.afterInitialPeakRssMB !== undefined ? ` (its high-water mark after the initial sync ${a.afterInitialPeakRssMB} MB, after the first reconcile ${a.afterReconcilePeakRssMB} MB)` : ''}`],
    ...(r.newNode ? newNodeRows(r.newNode) : []),
    ...(r.newNodeError ? [['new node: FAILED', r.newNodeError] as [string, string]] : []),
  ];
}

/** The first change after the first sync, and every one timed after it (CHANGE_SPACING_MS apart). */
function changeText(c: { fileChangeMs: number; fileChangeOperations: number; fileChangesMs?: number[] }): string {
  const first = `${ms(c.fileChangeMs)} (${c.fileChangeOperations} operations)`;
  const rest = c.fileChangesMs?.slice(1) ?? [];
  if (!rest.length) return first;
  const sorted = [...rest].sort((a, b) => a - b);
  const p50 = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return `${first}; ${rest.length} more, ${CHANGE_SPACING_MS / 1000} s apart: p50 ${ms(p50)}, max ${ms(sorted.at(-1))} (${rest.map((v) => Math.round(v).toLocaleString('en-US')).join(', ')} ms)`;
}

/** The new node's rows: the whole process against ipvsadm -R. */
export function newNodeRows(nn: NewNodeResult): [string, string][] {
  return [
    ['new node: kipvs agent --manifests, process start to all programmed', `${ms(nn.programmedMs)} (${x(nn.programmedMs, nn.ipvsadmRestoreMs)} ipvsadm -R of the same IPVS objects, ${ms(nn.ipvsadmRestoreMs)}; its first sync ${ms(nn.firstSyncMs)}${phaseText(nn.firstSyncPhases)})${startText(nn)}`],
    ['new node: peak RSS (VmHWM)', `${nn.peakRssMB} MB`],
    ['new node: one endpoint added in one file, to the kernel', changeText(nn)],
    ...(nn.api ? [
      ['new node (fake API server, client-node informers): process start to all programmed', `${ms(nn.api.programmedMs)} (${x(nn.api.programmedMs, nn.ipvsadmRestoreMs)} ipvsadm -R; its first sync ${ms(nn.api.firstSyncMs)}${phaseText(nn.api.firstSyncPhases)})${startText(nn.api)}`],
      ['new node (API server): peak RSS (VmHWM)', `${nn.api.peakRssMB} MB`],
      ['new node (API server): one endpoint added (a watch event), to the kernel', changeText(nn.api)],
    ] as [string, string][] : []),
    ...(nn.apiError ? [['new node (API server): FAILED', nn.apiError] as [string, string]] : []),
  ];
}

export function formatRows(rows: [string, string][]): string {
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}\n`).join('');
}

/** The summary across sizes: one line per N. */
export function summaryTable(results: SizeResult[]): string {
  const withNewNode = results.some((r) => r.newNode || r.newNodeError);
  const head = ['N', 'floor: IPVS', 'VIPs', 'ipset (restore / client)', 'iptables', 'sum', 'initial sync', 'x sum', 'peak RSS',
    ...(withNewNode ? ['new node', 'ipvsadm -R', 'x ipvsadm', 'new node RSS'] : [])];
  const failed = new Map<string[], string>();
  const rows = results.map((r) => {
    const f = r.floor, a = r.agent, nn = r.newNode;
    if (!r.ok) {
      // Not a column: the error follows the size, whatever its length.
      const row = [n(r.services)];
      failed.set(row, `FAILED: ${r.error ?? ''}`);
      return row;
    }
    return [n(r.services), ms(f?.ipvsMs), ms(f?.vipMs), f ? `${ms(f.ipsetRestoreMs)} / ${ms(f.ipsetClientMs)}` : '—', ms(f?.iptablesMs), ms(f?.sumMs),
      ms(a?.initialSyncMs), x(a?.initialSyncMs, f?.sumMs), a?.peakRssMB === undefined ? '—' : `${a.peakRssMB} MB`,
      ...(withNewNode ? [ms(nn?.programmedMs), ms(nn?.ipvsadmRestoreMs), x(nn?.programmedMs, nn?.ipvsadmRestoreMs), nn ? `${nn.peakRssMB} MB` : r.newNodeError ? 'failed' : '—'] : [])];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => [...cells.map((c, i) => (i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))), failed.get(cells) ?? ''].join('  ').trimEnd() + '\n';
  return line(head) + rows.map(line).join('');
}

/** The charts: initial sync and the floor's sum vs N; peak RSS vs N. Files named by `file`. */
export function agentCharts(results: SizeResult[], subtitle: string): { file: string; spec: ChartSpec }[] {
  const ok = results.filter((r) => r.ok);
  const pts = (f: (r: SizeResult) => number | undefined): [number, number | null][] => ok.map((r) => [r.services, f(r) ?? null]);
  const charts: { file: string; spec: ChartSpec }[] = [
    { file: 'agent-sync', spec: {
      title: 'Initial sync vs Services', subtitle: `${subtitle}; dashed: the floor (kernel work alone, fastest way)`, xLabel: 'Services', yLabel: 'time (ms)',
      series: [
        { name: 'agent initial sync', points: pts((r) => r.agent?.initialSyncMs), color: '#1f77b4' },
        { name: "floor's sum", points: pts((r) => r.floor?.sumMs), color: '#2ca02c', dashed: true },
        { name: 'new node: process start to programmed', points: pts((r) => r.newNode?.programmedMs), color: '#9467bd' },
        { name: 'new node via the API server', points: pts((r) => r.newNode?.api?.programmedMs), color: '#8c564b' },
        { name: 'ipvsadm -R, same IPVS objects', points: pts((r) => r.newNode?.ipvsadmRestoreMs), color: '#7f7f7f', dashed: true },
      ],
    } },
    { file: 'agent-rss', spec: {
      title: 'Agent peak RSS vs Services', subtitle: `${subtitle}; VmHWM of the whole run`, xLabel: 'Services', yLabel: 'peak RSS (MB)', yScale: 'linear',
      series: [
        { name: 'in-process agent', points: pts((r) => r.agent?.peakRssMB), color: '#d62728' },
        { name: 'new node: agent process', points: pts((r) => r.newNode?.peakRssMB), color: '#9467bd' },
        { name: 'new node via the API server', points: pts((r) => r.newNode?.api?.peakRssMB), color: '#8c564b' },
      ],
    } },
  ];
  // A series with no point (the new node not run, every size failed) is left out; a chart without any, too.
  for (const c of charts) c.spec.series = c.spec.series.filter((s) => s.points.some((p) => p[1] !== null));
  return charts.filter((c) => c.spec.series.length > 0);
}

/** A first sync's logged phases, as ": model / plan / … 2,359 / 120 / … ms" (binds made apart overlap apply). */
function phaseText(phases: Record<string, number> | undefined): string {
  if (!phases) return '';
  const names = ['model', 'plan', 'bind', 'apply', 'ipset', 'iptables'].filter((k) => phases[k] !== undefined);
  return `: ${names.join(' / ')} ${names.map((k) => Math.round(phases[k]!).toLocaleString('en-US')).join(' / ')} ms`;
}

/** Where a new node's start went before its first sync: "; first log line after 1,234 ms, syncing from 5,678 ms". */
function startText(r: { firstLogMs?: number; syncingMs?: number }): string {
  const parts = [
    ...(r.firstLogMs !== undefined ? [`first log line after ${r.firstLogMs.toLocaleString('en-US')} ms (node and the bundle loaded)`] : []),
    ...(r.syncingMs !== undefined ? [`syncing from ${r.syncingMs.toLocaleString('en-US')} ms (its source listed)`] : []),
  ];
  return parts.length ? `; ${parts.join(', ')}` : '';
}
