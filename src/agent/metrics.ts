// A small Prometheus registry and text exposition (format 0.0.4): counters, gauges and histograms
// with labels. kipvs needs a dozen metrics; a dependency would cost more start-up than this file.
import { netlinkFaultCounts } from '../netlink/faults.js';

export type Labels = Record<string, string>;

const NEEDS_ESCAPE = /[\\\n"]/;
const esc = (v: string) => (NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v);

// Called for every change event (a few per object at 10,000 Services' initial list), hence the
// one-label case without sorting and escapes only where a value needs one.
function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (!keys.length) return '';
  if (keys.length === 1) return `{${keys[0]}="${esc(labels[keys[0]!]!)}"}`;
  return `{${keys.sort().map((k) => `${k}="${esc(labels[k]!)}"`).join(',')}}`;
}

function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge' | 'histogram') {}
  abstract lines(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join('\n');
  }
}

export class Counter extends Metric {
  readonly #values = new Map<string, number>();
  constructor(name: string, help: string, type: 'counter' | 'gauge' = 'counter') {
    super(name, help, type);
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  protected setText(k: string, value: number): void {
    this.#values.set(k, value);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }
  lines(): string[] {
    if (!this.#values.size) return this.type === 'counter' ? [`${this.name} 0`] : [];
    return [...this.#values].map(([k, v]) => `${this.name}${k} ${num(v)}`);
  }
}

/** A counter kept elsewhere (a lower layer's tally), read when the metrics are rendered. */
export class SampledCounter extends Metric {
  constructor(name: string, help: string, readonly sample: () => { labels: Labels; value: number }[]) {
    super(name, help, 'counter');
  }
  lines(): string[] {
    const series = this.sample();
    if (!series.length) return [`${this.name} 0`];
    return series.map((s) => `${this.name}${labelText(s.labels)} ${num(s.value)}`);
  }
}

export class Gauge extends Counter {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(value: number, labels: Labels = {}): void {
    this.setText(labelText(labels), value);
  }
}

/** Exponential buckets, as client_golang's ExponentialBuckets(start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

export class Histogram extends Metric {
  readonly #buckets: number[];
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number; labels: Labels }>();
  constructor(name: string, help: string, buckets: number[]) {
    super(name, help, 'histogram');
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(value: number, labels: Labels = {}): void {
    const k = labelText(labels);
    let s = this.#series.get(k);
    if (!s) this.#series.set(k, (s = { counts: this.#buckets.map(() => 0), sum: 0, count: 0, labels }));
    for (let i = 0; i < this.#buckets.length; i++) if (value <= this.#buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  count(labels: Labels = {}): number {
    return this.#series.get(labelText(labels))?.count ?? 0;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.#series.values()) {
      this.#buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  readonly #metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.#metrics.push(m);
    return m;
  }
  render(): string {
    return this.#metrics.map((m) => m.render()).join('\n') + '\n';
  }
}

/**
 * kube-proxy's network programming latency buckets: 0.25 s and 0.5 s, each second to 59 s, every 5 s to
 * 115 s, every 30 s from 2 to 5 minutes.
 */
export function programmingBuckets(): number[] {
  const linear = (start: number, width: number, count: number) => Array.from({ length: count }, (_, i) => start + width * i);
  return [...linear(0.25, 0.25, 2), ...linear(1, 1, 59), ...linear(60, 5, 12), ...linear(120, 30, 7)];
}

/** The agent's metrics: kube-proxy's names where kube-proxy has the metric, kipvs_* for the rest. */
export function agentMetrics() {
  const r = new Registry();
  const syncBuckets = exponentialBuckets(0.001, 2, 15);
  return {
    registry: r,
    syncDuration: r.add(new Histogram('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds', syncBuckets)),
    syncFullDuration: r.add(new Histogram('kubeproxy_sync_full_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for full resyncs', syncBuckets)),
    syncPartialDuration: r.add(new Histogram('kubeproxy_sync_partial_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for partial resyncs', syncBuckets)),
    lastSync: r.add(new Gauge('kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'The last time proxy rules were successfully synced')),
    lastQueued: r.add(new Gauge('kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', 'The last time a sync of proxy rules was queued')),
    // Labelled by ip_family ("IPv4", "IPv6"): kipvs syncs both families at once, so a sync is observed once per family it programs.
    programming: r.add(new Histogram('kubeproxy_network_programming_duration_seconds', 'In Cluster Network Programming Latency in seconds', programmingBuckets())),
    endpointChangesPending: r.add(new Gauge('kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'Pending proxy rules Endpoint changes')),
    endpointChangesTotal: r.add(new Counter('kubeproxy_sync_proxy_rules_endpoint_changes_total', 'Cumulative proxy rules Endpoint changes')),
    serviceChangesPending: r.add(new Gauge('kubeproxy_sync_proxy_rules_service_changes_pending', 'Pending proxy rules Service changes')),
    serviceChangesTotal: r.add(new Counter('kubeproxy_sync_proxy_rules_service_changes_total', 'Cumulative proxy rules Service changes')),
    noLocalEndpoints: r.add(new Gauge('kubeproxy_sync_proxy_rules_no_local_endpoints_total', 'Number of services with a Local traffic policy and no endpoints')),
    healthzTotal: r.add(new Counter('kubeproxy_proxy_healthz_total', 'Cumulative proxy healthz HTTP status')),
    livezTotal: r.add(new Counter('kubeproxy_proxy_livez_total', 'Cumulative proxy livez HTTP status')),
    operations: r.add(new Counter('kipvs_netlink_operations_total', 'Netlink operations applied to the kernel, by kind (add-service, delete-server, bind, …)')),
    operationErrors: r.add(new Counter('kipvs_netlink_operation_errors_total', 'Netlink operations the kernel refused, by kind')),
    netlinkErrors: r.add(new SampledCounter('kipvs_netlink_errors_total', 'Netlink transport faults (timeout, enobufs, dump_interrupted, eintr, eagain), by connection and call (op) and kind',
      () => netlinkFaultCounts().map(({ op, kind, count }) => ({ labels: { op, kind }, value: count })))),
    conntrackSyncDuration: r.add(new Histogram('kubeproxy_conntrack_reconciler_sync_duration_seconds', 'ReconcileConntrackFlowsLatency latency in seconds', syncBuckets)),
    conntrackDeletedEntries: r.add(new Counter('kubeproxy_conntrack_reconciler_deleted_entries_total', 'Cumulative conntrack flows deleted by conntrack reconciler')),
    iptablesRestoreFailures: r.add(new Counter('kubeproxy_sync_proxy_rules_iptables_restore_failures_total', 'Cumulative proxy iptables restore failures')),
    iptablesPartialRestoreFailures: r.add(new Counter('kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total', 'Cumulative proxy iptables partial restore failures (iptables mode; each is followed by a full restore)')),
    iptablesRules: r.add(new Gauge('kubeproxy_sync_proxy_rules_iptables_total', 'Total number of iptables rules owned by kube-proxy (iptables mode; by ip_family and table)')),
    ipsetEntries: r.add(new Gauge('kipvs_ipset_entries', 'Entries kipvs wants in its ipsets (all sets, both families)')),
    syncs: r.add(new Counter('kipvs_syncs_total', 'Syncs, by kind (full or incremental)')),
    reconcilePreemptions: r.add(new Counter('kipvs_reconcile_preemptions_total', 'Periodic reconciles that stopped reading the kernel to let a waiting change go first')),
    driftRepaired: r.add(new Counter('kipvs_drift_repaired_total', 'Operations a full reconcile made to repair changes made behind kipvs\' back')),
    drainingServers: r.add(new Gauge('kipvs_graceful_termination_queue_size', 'Real servers at weight 0 waiting for their connections to end')),
    virtualServices: r.add(new Gauge('kipvs_virtual_services', 'Virtual services kipvs wants in the kernel')),
    realServers: r.add(new Gauge('kipvs_real_servers', 'Real servers kipvs wants in the kernel')),
    boundAddresses: r.add(new Gauge('kipvs_bound_addresses', 'VIPs bound: addresses on kube-ipvs0, or local routes with --vip-binding local-route')),
    warnings: r.add(new Counter('kipvs_invalid_objects_total', 'Warnings about invalid Services and EndpointSlices, by kind')),
    watchRestarts: r.add(new Counter('kipvs_watch_restarts_total', 'Watches the source restarted by itself, by kind and reason (stalled: no event and no bookmark for too long)')),
    buildInfo: r.add(new Gauge('kipvs_build_info', 'Always 1; the labels say which kipvs runs: version, commit, node (Node.js) and kernel')),
  };
}
export type AgentMetrics = ReturnType<typeof agentMetrics>;
