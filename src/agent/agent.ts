// The node agent: sources feed the model, the model says what should be, the sync engine makes the
// kernel so. Wiring, timing and reporting live here; the rules live in src/model and src/sync.
import http from 'node:http';
import v8 from 'node:v8';
import { LinkClient } from '../link/link.js';
import { BoundedFrequencyRunner, type RunReason } from '../sync/runner.js';
import { ProxyModel } from '../model/model.js';
import { nodePodCIDRs, nodePortAddresses, nodePrimaryIPs } from '../model/nodeports.js';
import type { ModelWarning, V1Node } from '../model/types.js';
import type { Kind, KubeObject } from '../sources/types.js';
import type { Logger, ProxyBackend, BackendSyncResult } from '../backends/backend.js';
import { IpvsBackend } from '../backends/ipvs/backend.js';
import type { SyncEngine } from '../backends/ipvs/engine.js';
import { IptablesBackend, type IptablesModeOptions } from '../backends/iptables/backend.js';
import { ProxierHealth, HealthCheckNodePorts, healthCheckHosts, listen, nodeEligible } from './health.js';
import { FAMILY_NAME, familiesToProgram, primaryFamily } from './families.js';
import { lastChangeTriggerTime, noLocalEndpointCounts, sliceFamily } from './sync-metrics.js';
import type { Family } from '../netlink/address.js';
import { agentMetrics, type AgentMetrics } from './metrics.js';
import { StateServer, type AgentState } from './state.js';
import { serverKeyString } from '../ipvs/keys.js';
import { feedModel } from './feed.js';
import { applyConntrackSysctls } from '../backends/conntrack-sysctls.js';
import { EventRecorder, REASONS, type EventObject } from './events.js';
import { processMetrics, type ProcessMetrics } from './process-metrics.js';
import { metricsServer } from './metrics-server.js';
import type { AgentOptions } from './options.js';
import { UdpConntrackReconciler } from '../backends/conntrack/reconciler.js';
import { Pacer, finish, type Steps } from '../loop/pacer.js';

export type { AgentOptions } from './options.js';

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

/** "namespace/name" as the object of an Event. */
function serviceObject(name: string): EventObject {
  const i = name.indexOf('/');
  return { kind: 'Service', namespace: name.slice(0, i), name: name.slice(i + 1) };
}

export class Agent {
  readonly metrics: AgentMetrics = agentMetrics();
  readonly health: ProxierHealth;
  /** The IP families this node programs (decided at start from what the host supports). */
  families: Family[] = [];
  readonly #o: AgentOptions;
  readonly #log: Logger;
  #link!: LinkClient;
  #backend!: ProxyBackend;
  #conntrack!: UdpConntrackReconciler;
  #model!: ProxyModel;
  #runner!: BoundedFrequencyRunner;
  #hc!: HealthCheckNodePorts;
  #servers: http.Server[] = [];
  #state?: StateServer;
  #drainTimer?: NodeJS.Timeout;
  #synced = false;
  #startedAt = new Date();
  #lastSync?: { at: Date; result: BackendSyncResult };
  /** last-change-trigger-time of the EndpointSlice changes since the last sync, for network programming latency. */
  #triggerTimes: { family: Family; at: number }[] = [];
  /** Whether the Node's primary family was found unprogrammable (logged once). */
  #primaryReported = false;
  /** Service and EndpointSlice events since the last sync, for kube-proxy's *_changes_pending gauges. */
  #pendingServiceChanges = 0;
  #pendingEndpointChanges = 0;
  #localAddresses: string[] = [];
  #node: V1Node | undefined;
  #nodePortAddrs: string[] = [];
  #syncedWaiters: (() => void)[] = [];
  #warnedNoPodCIDRs = false;
  #stopping = false;
  #syncQueue: Promise<void> = Promise.resolve();
  #syncing = false;
  /** The last sync's turns of the event loop and its longest stretch without one (ms). */
  lastSyncLoop: { turns: number; longestMs: number } | undefined;
  readonly events: EventRecorder;
  #process?: ProcessMetrics;
  /** How long the last model commit took (ms): the "what should be" part of a sync. */
  lastCommitMs = 0;
  /** Where the last sync's time went (the benchmark's one-change latency: what is not model or kernel work). */
  lastSyncTiming: SyncTiming | undefined;
  /** When the first change not yet taken by a sync arrived (performance.now()). */
  #firstChangeAt: number | undefined;
  healthzPort = 0;
  metricsPort = 0;

  constructor(opts: AgentOptions) {
    this.#o = opts;
    this.#log = opts.log;
    this.health = new ProxierHealth(2 * opts.syncPeriodMs, Date.now, []);
    this.health.onReport = (endpoint, code) => (endpoint === 'healthz' ? this.metrics.healthzTotal : this.metrics.livezTotal).inc({ code: String(code) });
    this.events = new EventRecorder({ sink: opts.events, nodeName: opts.nodeName, log: opts.log });
  }

  async start(): Promise<void> {
    const o = this.#o;
    // A node agent runs on every node, next to the workloads, with a heap that is mostly one large,
    // long-lived model: trade some GC time for a heap that stays near its live size. V8 reads this
    // at each collection, so setting it now applies to everything the agent allocates from here on.
    if (o.optimizeForSize ?? true) v8.setFlagsFromString('--optimize-for-size');
    this.families = familiesToProgram({ iptables: o.mode === 'iptables' || o.iptables !== false, bindAddress: o.bindAddress ?? '', log: this.#log });
    this.#model = new ProxyModel({ scheduler: o.scheduler, nodeName: o.nodeName, families: [...this.families], backend: o.mode });
    this.health.track(this.families.map((f) => FAMILY_NAME[f]));
    this.#link = LinkClient.open();
    this.#backend = this.#makeBackend();
    this.#backend.start();
    // After the backend: its kernel modules (ip_vs, the iptables matches) pull in nf_conntrack.
    // Before the first sync, and fatal, as in kube-proxy.
    if (o.conntrack) applyConntrackSysctls(o.conntrack, this.#log);
    this.#conntrack = new UdpConntrackReconciler({ mode: o.mode, log: this.#log });
    this.#hc = new HealthCheckNodePorts(() => this.health.healthy(), this.#log);
    this.#runner = new BoundedFrequencyRunner((reason) => this.#sync(reason), o.minSyncPeriodMs, o.syncPeriodMs);
    await this.#serve();
    await o.source.start({
      upsert: (kind, obj) => this.#onChange(kind, obj, false),
      remove: (kind, obj) => this.#onChange(kind, obj, true),
      synced: () => {
        if (this.#synced) return;
        this.#synced = true;
        this.#log.info({ source: o.source.describe() }, 'initial lists received; syncing');
        this.#runner.run();
        this.#runner.start();
      },
      error: (kind, err) => this.#log.warn({ kind, err: err.message }, 'source error (retrying)'),
      watchRestarted: (kind, reason) => this.metrics.watchRestarts.inc({ kind, reason }),
    });
    this.#drainTimer = setInterval(() => this.#housekeeping(), o.drainCheckMs ?? 10_000);
    this.#drainTimer.unref();
  }

  #makeBackend(): ProxyBackend {
    const o = this.#o;
    const rules = o.iptables === undefined ? { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: [] } : o.iptables;
    if (o.mode === 'iptables') {
      const mode: IptablesModeOptions = {
        log: this.#log,
        masqueradeAll: rules ? rules.masqueradeAll : false,
        masqueradeBit: rules ? rules.masqueradeBit : 14,
        clusterCIDRs: rules ? rules.clusterCIDRs : [],
        localhostNodePorts: rules ? rules.localhostNodePorts ?? true : true,
        ...(rules && rules.detectLocal ? { detectLocal: rules.detectLocal } : {}),
        podCIDRs: () => this.#podCIDRs(),
        sync: o.iptablesSync ?? 'partial',
        families: this.families,
        nodePortConfig: o.nodePortAddresses,
        nodePortAddresses: () => this.#nodePortAddrs,
        nodeIPs: () => (this.#node ? nodePrimaryIPs(this.#node) : []),
        link: this.#link,
      };
      if (o.iptablesBackend) mode.backend = o.iptablesBackend;
      return new IptablesBackend(mode);
    }
    return new IpvsBackend({
      link: this.#link,
      log: this.#log,
      strictARP: o.strictARP,
      timeouts: o.timeouts,
      excludeCIDRs: o.excludeCIDRs,
      nodeAddresses: () => this.#nodePortAddrs,
      gracefulTerminationTimeoutMs: o.gracefulTerminationTimeoutMs,
      onDrainTimeout: (serviceKey, server, connections) => {
        const service = this.#model.originOf(serviceKey)?.origin.service;
        this.events.record(service ? serviceObject(service) : this.#nodeObject(), 'Warning', REASONS.drainGaveUp,
          `real server ${server} of ${serviceKey} deleted after the graceful termination limit with ${connections} connections left`);
      },
      rules: rules && { ...rules, podCIDRs: () => this.#podCIDRs() },
      families: this.families,
    });
  }

  /** This node, as the object of an Event. */
  #nodeObject(): EventObject {
    const uid = this.#node?.metadata?.uid;
    return { kind: 'Node', name: this.#o.nodeName, ...(uid ? { uid } : {}) };
  }

  /**
   * The Node's podCIDRs, for detectLocalMode NodeCIDR. kube-proxy waits for them at start (up to 5 min,
   * then exits) and exits when they change. kipvs does neither: Services are served at once, the
   * masquerade rules go without a detector until the Node has pod CIDRs (a warning says so), and they
   * are rewritten when the CIDRs arrive or change.
   */
  #podCIDRs(): string[] {
    const cidrs = nodePodCIDRs(this.#node);
    const o = this.#o.iptables;
    if (cidrs.length === 0 && o && o.detectLocal?.mode === 'NodeCIDR' && !this.#warnedNoPodCIDRs) {
      this.#warnedNoPodCIDRs = true;
      this.#log.warn({ node: this.#o.nodeName }, 'detectLocalMode NodeCIDR: the Node has no spec.podCIDRs yet; traffic to cluster IPs is not told apart by source until it has');
    }
    if (cidrs.length) this.#warnedNoPodCIDRs = false;
    return cidrs;
  }

  /** Resolves after the first sync that follows the initial lists. */
  firstSync(): Promise<void> {
    if (this.#lastSync) return Promise.resolve();
    return new Promise((r) => this.#syncedWaiters.push(r));
  }

  async #serve(): Promise<void> {
    const o = this.#o;
    if (o.healthzBindAddress) {
      const s = http.createServer(this.health.handler());
      this.healthzPort = await listen(s, o.healthzBindAddress);
      this.#servers.push(s);
    }
    if (o.metricsBindAddress) {
      if (o.processMetrics !== false) this.#process = await processMetrics();
      const s = metricsServer(o.mode, () => this.metrics.registry.render(), this.#process);
      this.metricsPort = await listen(s, o.metricsBindAddress);
      this.#servers.push(s);
    }
    if (o.stateSocket) {
      this.#state = new StateServer(o.stateSocket, () => this.state());
      await this.#state.listen();
    }
  }

  #onChange(kind: Kind, obj: KubeObject, removed: boolean): void {
    const r = feedModel(this.#model, this.#o.nodeName, kind, obj, removed);
    if (kind === 'Node') {
      if (r.node === undefined) return; // another node
      this.#node = r.node ?? undefined;
      // A removed Node is judged by its last state, as kube-proxy's (a deletionTimestamp makes it ineligible).
      this.health.setNodeEligible(nodeEligible(this.#node ?? (obj as V1Node)));
      this.#checkPrimaryFamily();
    } else if (kind === 'Service') {
      this.metrics.serviceChangesTotal.inc();
      this.metrics.serviceChangesPending.set(++this.#pendingServiceChanges);
    } else {
      this.metrics.endpointChangesTotal.inc();
      this.metrics.endpointChangesPending.set(++this.#pendingEndpointChanges);
      if (!removed) this.#noteTriggerTime(obj);
    }
    const now = Date.now();
    for (const f of this.families) {
      this.health.queued(FAMILY_NAME[f]);
      this.metrics.lastQueued.set(now / 1000, { ip_family: FAMILY_NAME[f] });
    }
    this.#firstChangeAt ??= performance.now();
    if (this.#synced) this.#runner.run();
  }

  /**
   * An EndpointSlice change's trigger time, for the network programming latency: only when the
   * annotation is there, later than the agent's start (the initial list is not a change) and for a
   * family this node programs. Bounded: a stalled agent does not grow the list without end.
   */
  #noteTriggerTime(obj: KubeObject): void {
    const at = lastChangeTriggerTime(obj.metadata?.annotations);
    if (at === undefined || at <= this.#startedAt.getTime()) return;
    const family = sliceFamily((obj as { addressType?: unknown }).addressType);
    if (family && this.families.includes(family) && this.#triggerTimes.length < 100_000) this.#triggerTimes.push({ family, at });
  }

  /** kube-proxy refuses to run when the primary family is unsupported; the Node comes later here, so it is logged. */
  #checkPrimaryFamily(): void {
    if (this.#primaryReported || !this.#node) return;
    const primary = primaryFamily(this.#o.bindAddress ?? '', nodePrimaryIPs(this.#node));
    if (primary.from !== 'node' || this.families.includes(primary.family)) return;
    this.#primaryReported = true;
    this.#log.error({ family: FAMILY_NAME[primary.family], programmed: this.families.map((f) => FAMILY_NAME[f]) },
      'the Node\'s primary IP family is not supported on this node; only the supported family is programmed');
  }

  /** This node's addresses, minus kube-ipvs0's: where NodePort services listen. */
  #refreshNodeAddresses(): void {
    // Before the first sync the engine has not read kube-ipvs0 yet: counting its VIPs as node
    // addresses would put NodePorts on them, so the link is looked up by name.
    const all = this.#link.addressesExcept('kube-ipvs0');
    const nodePorts = nodePortAddresses(all, this.#o.nodePortAddresses, this.#node ? nodePrimaryIPs(this.#node) : []);
    if (nodePorts.join() !== this.#nodePortAddrs.join() || all.join() !== this.#localAddresses.join()) {
      this.#nodePortAddrs = nodePorts;
      this.#localAddresses = all;
      this.#model.setNodeAddresses(nodePorts, all);
    }
  }

  /**
   * Syncs run one at a time (the runner's and syncNow()'s alike): a sync gives the event loop turns
   * (see loop/pacer.ts), and another must not start in one of them.
   */
  #sync(reason: RunReason): Promise<void> {
    const run = this.#syncQueue.then(() => this.#syncOnce(reason));
    this.#syncQueue = run.catch(() => {});
    return run;
  }

  async #syncOnce(reason: RunReason): Promise<void> {
    if (!this.#synced || this.#stopping) return;
    this.#syncing = true;
    try {
      await this.#syncPaced(reason);
    } finally {
      this.#syncing = false;
    }
  }

  async #syncPaced(reason: RunReason): Promise<void> {
    const t0 = performance.now();
    const firstChangeAt = this.#firstChangeAt ?? t0;
    this.#firstChangeAt = undefined;
    let backendMs = 0;
    let kernelAt = 0;
    let conntrackMs = 0;
    let healthCheckMs = 0;
    const pacing = this.#o.pacing;
    const pacer = pacing === false ? undefined : new Pacer(pacing);
    const run = <T>(steps: Steps<T>): T | Promise<T> => (pacer ? pacer.run(steps) : finish(steps));
    const full = reason === 'period' || !this.#lastSync || this.#backend.dirty;
    let result: BackendSyncResult;
    let changedServices: string[] = [];
    try {
      if (full) this.#refreshNodeAddresses();
      const tc = performance.now();
      const changes = await run(this.#model.commitSteps());
      this.lastCommitMs = performance.now() - tc;
      changedServices = changes.changedServices;
      this.#report(changes.warnings);
      const input = { full, changes, model: this.#model };
      const tb = performance.now();
      result = this.#backend.syncSteps ? await run(this.#backend.syncSteps(input)) : this.#backend.sync(input);
      kernelAt = performance.now();
      backendMs = kernelAt - tb;
      this.#cleanConntrack(result.kind === 'full', changedServices);
      const th = performance.now();
      conntrackMs = th - kernelAt;
      const hosts = this.#o.healthCheckBindHost ? [this.#o.healthCheckBindHost] : healthCheckHosts(this.#o.nodePortAddresses, this.#nodePortAddrs, this.families);
      await this.#hc.update(this.#model.healthCheckNodePorts(), hosts);
      healthCheckMs = performance.now() - th;
    } catch (err) {
      this.#log.error({ err: (err as Error).message, reason }, 'sync failed; will retry');
      this.events.record(this.#nodeObject(), 'Warning', REASONS.syncFailed, `sync failed (will retry): ${(err as Error).message}`);
      this.metrics.operationErrors.inc({ op: 'sync' });
      setTimeout(() => this.#runner.run(), Math.max(1000, this.#o.minSyncPeriodMs)).unref();
      return;
    }
    const seconds = (performance.now() - t0) / 1000;
    const m = this.metrics;
    // One sync programs every family: each family's series sees it, as each of kube-proxy's per-family proxiers would.
    for (const f of this.families) {
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
      this.events.record(this.#nodeObject(), 'Normal', REASONS.driftRepaired,
        `put back ${result.repaired} kernel object${result.repaired === 1 ? '' : 's'} changed behind kipvs' back (${Object.entries(result.counts).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    }
    if (result.failures.length) {
      const f = result.failures[0]!;
      this.events.record(this.#nodeObject(), 'Warning', REASONS.syncFailed,
        `${result.failures.length} kernel operation${result.failures.length === 1 ? '' : 's'} failed, e.g. ${f.op}: ${f.message}`);
    }
    const now = Date.now();
    for (const t of this.#triggerTimes) m.programming.observe(Math.max(0, now - t.at) / 1000, { ip_family: FAMILY_NAME[t.family] });
    this.#triggerTimes = [];
    this.#pendingServiceChanges = this.#pendingEndpointChanges = 0;
    m.serviceChangesPending.set(0);
    m.endpointChangesPending.set(0);
    this.#gauges(result.kind === 'full');
    if (!result.failures.length) {
      for (const f of this.families) {
        m.lastSync.set(now / 1000, { ip_family: FAMILY_NAME[f] });
        this.health.updated(FAMILY_NAME[f]);
      }
    }
    this.#lastSync = { at: new Date(), result };
    if (result.kind === 'full' && reason !== 'period') this.#runner.fullSyncDone();
    // Unpaced, the whole sync held the loop in one stretch.
    const loop = { turns: pacer?.turns ?? 0, longestMs: pacer?.longestMs ?? seconds * 1000 };
    const phases: Record<string, number> = { model: r1(this.lastCommitMs) };
    for (const [k, v] of Object.entries(result.phases)) phases[k.replace(/Ms$/, '')] = r1(v);
    this.#log.info({
      reason, mode: this.#backend.mode, kind: result.kind, services: changedServices.length, operations: result.operations, counts: result.counts,
      failures: result.failures.length, repaired: result.repaired, ms: r1(seconds * 1000), phases,
      loop: { turns: loop.turns, longestMs: r1(loop.longestMs) },
    }, 'sync');
    this.lastSyncLoop = loop;
    this.lastSyncTiming = {
      waitMs: t0 - firstChangeAt, commitMs: this.lastCommitMs, backendMs, afterMs: performance.now() - t0 - this.lastCommitMs - backendMs,
      conntrackMs, healthCheckMs, kernelAt,
    };
    for (const w of this.#syncedWaiters.splice(0)) w();
  }

  /** Stale UDP flows, once the new rules are in (kube-proxy's conntrack reconciler and its metrics). */
  #cleanConntrack(full: boolean, changedServices: string[]): void {
    for (const p of this.#conntrack.reconcile(this.#model, full, changedServices)) {
      this.metrics.conntrackSyncDuration.observe(p.seconds, { ip_family: p.ipFamily });
      this.metrics.conntrackDeletedEntries.inc({ ip_family: p.ipFamily }, p.deleted);
      if (p.error) this.metrics.operationErrors.inc({ op: 'conntrack' });
    }
  }

  #report(warnings: ModelWarning[]): void {
    for (const w of warnings) {
      this.#log.warn({ object: w.object, field: w.field }, w.message);
      // "Service ns/name": the Event goes on the Service (EndpointSlice warnings stay in the log).
      if (w.object.startsWith('Service ')) this.events.record(serviceObject(w.object.slice('Service '.length)), 'Warning', REASONS.invalidService, `${w.field}: ${w.message}`);
      this.metrics.warnings.inc({ kind: w.object.split(' ')[0] ?? 'unknown' });
    }
  }

  /** Gauges: counts after every sync; the one that looks into every Service on full syncs only. */
  #gauges(full: boolean): void {
    const st = this.#backend.stats(this.#model);
    const m = this.metrics;
    m.virtualServices.set(st.virtualServices ?? 0);
    m.realServers.set(st.realServers ?? 0);
    m.ipsetEntries.set(st.ipsetEntries ?? 0);
    m.boundAddresses.set(st.boundAddresses ?? 0);
    m.drainingServers.set(st.draining ?? 0);
    for (const r of st.iptablesRulesByFamily ?? []) m.iptablesRules.set(r.rules, { ip_family: FAMILY_NAME[r.family], table: r.table });
    // This one walks every Service: recounted on full syncs (periodic, or after a failure) only.
    if (!full) return;
    const counts = noLocalEndpointCounts(this.#model.services());
    for (const f of this.families) {
      for (const policy of ['internal', 'external'] as const) m.noLocalEndpoints.set(counts[f][policy], { ip_family: FAMILY_NAME[f], traffic_policy: policy });
    }
  }

  #housekeeping(): void {
    // Not inside a sync (between its pieces): the sync's plan stands on the kernel model it read.
    if (!this.#backend || this.#stopping || this.#syncing) return;
    try {
      const n = this.#backend.housekeeping();
      if (n) this.metrics.operations.inc({ op: 'delete-server' }, n);
      this.metrics.drainingServers.set(this.#backend.stats(this.#model).draining ?? 0);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'housekeeping failed');
    }
  }

  /** Trigger a sync now and wait for it (tests and benchmarks). */
  async syncNow(reason: RunReason = 'change'): Promise<void> {
    await this.#runner.idle();
    await this.#sync(reason);
  }

  get backend(): ProxyBackend {
    return this.#backend;
  }

  /** The IPVS backend's sync engine (IPVS mode only; tests look into its kernel model). */
  get engine(): SyncEngine {
    if (!(this.#backend instanceof IpvsBackend)) throw new Error(`no IPVS sync engine in ${this.#backend.mode} mode`);
    return this.#backend.engine;
  }

  get model(): ProxyModel {
    return this.#model;
  }

  get lastSync(): BackendSyncResult | undefined {
    return this.#lastSync?.result;
  }

  state(): AgentState {
    const engine = this.#backend instanceof IpvsBackend ? this.#backend.engine : undefined;
    const draining = [...(engine?.draining.values() ?? [])].map((d) => ({
      serviceKey: d.serviceKey, server: serverKeyString(d.server), since: new Date(d.since).toISOString(),
    }));
    const virtualServices: AgentState['virtualServices'] = [];
    for (const s of this.#model.services()) {
      for (const [key, vs] of s.virtualServices) {
        virtualServices.push({ key, service: vs.service, origin: vs.origin, servers: [...vs.servers.values()], endpoints: [...vs.endpoints.values()] });
      }
    }
    const last = this.#lastSync;
    return {
      node: this.#o.nodeName,
      mode: this.#o.mode,
      source: this.#o.source.describe(),
      startedAt: this.#startedAt.toISOString(),
      synced: this.#synced,
      lastSync: last ? { at: last.at.toISOString(), kind: last.result.kind, operations: last.result.operations, durationMs: last.result.durationMs, failures: last.result.failures.length } : undefined,
      virtualServices,
      ...(this.#backend instanceof IptablesBackend
        ? { servicePorts: [...this.#model.services()].flatMap((s) => [...s.ports]), iptablesBackend: this.#backend.backend }
        : {}),
      boundAddresses: [...this.#model.desired.boundAddresses],
      draining,
      // The model's own list: per-Service warnings plus virtual services claimed by two Services.
      warnings: this.#model.warnings(),
      healthCheckNodePorts: [...this.#model.healthCheckNodePorts()].map(([port, h]) => ({ port, service: h.service, localEndpoints: h.localEndpoints })),
    };
  }

  /** Stop watching and serving. The kernel keeps what was programmed: no window without rules. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#runner?.stop();
    clearInterval(this.#drainTimer);
    await this.#o.source.stop();
    await this.#runner?.idle();
    await this.#syncQueue;
    this.#hc?.close();
    for (const s of this.#servers) s.close();
    this.#state?.close();
    this.#backend?.close();
    this.#conntrack?.close();
    this.#link?.close();
  }
}
