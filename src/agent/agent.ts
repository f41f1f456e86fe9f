// The node agent: sources feed the model, the model says what should be, the sync engine makes the
// kernel so. Wiring, timing and reporting live here; the rules live in src/model and src/sync.
import v8 from 'node:v8';
import type { Server } from 'node:http';
import { http } from '../runtime/http.js';
import { LinkClient } from '../link/link.js';
import { BoundedFrequencyRunner, type RunReason, type RunOutcome } from '../sync/runner.js';
import { ProxyModel } from '../model/model.js';
import { nodePodCIDRs, nodePortAddresses, nodePrimaryIPs } from '../model/nodeports.js';
import type { ModelChanges, ModelWarning, V1Node } from '../model/types.js';
import type { Kind, KubeObject } from '../sources/types.js';
import type { Logger, ProxyBackend, BackendSyncResult } from '../backends/backend.js';
import { IpvsBackend } from '../backends/ipvs/backend.js';
import type { SyncEngine } from '../backends/ipvs/engine.js';
import { IptablesBackend } from '../backends/iptables/backend.js';
import { makeBackend } from './backend-factory.js';
import { ProxierHealth, HealthCheckNodePorts, healthCheckHosts, listen, nodeEligible } from './health.js';
import { FAMILY_NAME, familiesToProgram, primaryFamily } from './families.js';
import { lastChangeTriggerTime, noLocalEndpointCounts, sliceFamily } from './sync-metrics.js';
import type { Family } from '../netlink/address.js';
import { agentMetrics, type AgentMetrics } from './metrics.js';
import { StateServer, agentStateOf, type AgentState } from './state.js';
import { feedModel } from './feed.js';
import { bindingAhead } from './bind-ahead.js';
import { applyConntrackSysctls } from '../backends/conntrack-sysctls.js';
import { EventRecorder, REASONS, type EventObject } from './events.js';
import { processMetrics, type ProcessMetrics } from './process-metrics.js';
import { metricsServer } from './metrics-server.js';
import { DEFAULT_HEAP, checkNodeFlags, type AgentOptions } from './options.js';
import { UdpConntrackReconciler } from '../backends/conntrack/reconciler.js';
import { Pacer, Preempted, finish, type Steps } from '../loop/pacer.js';
import { recordSync, syncLogFields, type SyncTiming } from './sync-report.js';
import { HeapKeeper } from './heap-keeper.js';
import { tieringFlags } from '../config/tiering.js';

export type { AgentOptions } from './options.js';
export type { SyncTiming } from './sync-report.js';

/** A periodic reconcile gives way to waiting changes this many times at most (after its read: see Backend.abandonable). */
const GIVE_WAY_AT_MOST = 4;

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
  #servers: Server[] = [];
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
  /** The heap mode's growth flags and the collections after the first sync and reconciles. */
  readonly #heap: HeapKeeper;
  /** How long the last model commit took (ms): the "what should be" part of a sync. */
  lastCommitMs = 0;
  /** Where the last sync's time went (the benchmark's one-change latency: what is not model or kernel work). */
  lastSyncTiming: SyncTiming | undefined;
  /** When the first change not yet taken by a sync arrived (performance.now()). */
  #firstChangeAt: number | undefined;
  /** A periodic reconcile's kernel read, paused for a change (see #readKernel). */
  #pausedRead: Steps<void> | undefined;
  /** How many times the current periodic reconcile has given way to a change after its read (see #syncPaced). */
  #gaveWay = 0;
  /** The model changes committed by a reconcile that then gave way, for the sync after it. */
  #carried: ModelChanges | undefined;
  healthzPort = 0;
  metricsPort = 0;

  constructor(opts: AgentOptions) {
    this.#o = opts;
    this.#log = opts.log;
    // Its full collections wait while a change waits or a sync runs.
    this.#heap = new HeapKeeper(opts.heap ?? DEFAULT_HEAP, opts.log, () => this.#syncing || this.#runner?.changeWaiting === true);
    this.health = new ProxierHealth(2 * opts.syncPeriodMs, Date.now, []);
    this.health.onReport = (endpoint, code) => (endpoint === 'healthz' ? this.metrics.healthzTotal : this.metrics.livezTotal).inc({ code: String(code) });
    this.events = new EventRecorder({ sink: opts.events, nodeName: opts.nodeName, log: opts.log });
  }

  async start(): Promise<void> {
    const o = this.#o;
    // When V8 compiles with TurboFan (config/tiering.ts): read as it runs, so in force from here on.
    for (const flag of tieringFlags(process.versions.v8)) v8.setFlagsFromString(flag);
    // A node agent runs on every node, next to the workloads, with a heap that is mostly one large,
    // long-lived model: by default its heap is kept near the live size (see HeapMode). V8 reads these
    // flags as it runs, so setting them now applies to everything the agent allocates from here on.
    // The first sync's own flags until it has ended, the steady ones after (heap-keeper.ts).
    const heap = o.heap ?? DEFAULT_HEAP;
    this.#heap.firstSyncStarts();
    void this.firstSync().then(() => this.#heap.firstSyncEnded());
    const { missing, unasked } = checkNodeFlags(heap, process.execArgv, process.env.NODE_OPTIONS);
    if (missing.length > 0) this.#log.warn({ heap, missing }, `node was started without ${missing.join(' ')} (bin/kipvs.js passes ${missing.length > 1 ? 'them' : 'it'}): the ${heap} heap mode is not wholly in force (a larger heap, or V8's own memory-reducing collections at times the agent did not choose)`);
    if (unasked.length > 0) this.#log.info({ heap, unasked }, `node was started with ${unasked.join(' ')} (bin/kipvs.js passes ${unasked.length > 1 ? 'them' : 'it'} for the default heap mode): ${unasked.length > 1 ? 'they stay' : 'it stays'} in force in the ${heap} heap mode`);
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
    return makeBackend(this.#o, {
      families: this.families, link: this.#link,
      podCIDRs: () => this.#podCIDRs(),
      nodePortAddresses: () => this.#nodePortAddrs,
      nodeIPs: () => (this.#node ? nodePrimaryIPs(this.#node) : []),
      onDrainTimeout: (serviceKey, server, connections) => {
        const service = this.#model.originOf(serviceKey)?.origin.service;
        this.events.record(service ? serviceObject(service) : this.#nodeObject(), 'Warning', REASONS.drainGaveUp,
          `real server ${server} of ${serviceKey} deleted after the graceful termination limit with ${connections} connections left`);
      },
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
  #sync(reason: RunReason, preemptible = true): Promise<RunOutcome> {
    const run = this.#syncQueue.then(() => this.#syncOnce(reason, preemptible));
    this.#syncQueue = run.then(() => {}, () => {});
    return run;
  }

  async #syncOnce(reason: RunReason, preemptible: boolean): Promise<RunOutcome> {
    if (!this.#synced || this.#stopping) return;
    this.#syncing = true;
    try {
      return await this.#syncPaced(reason, preemptible);
    } finally {
      this.#syncing = false;
      this.#heap.syncEnded();
    }
  }

  async #syncPaced(reason: RunReason, preemptible: boolean): Promise<RunOutcome> {
    const t0 = performance.now();
    const pendingSince = this.#firstChangeAt;
    const firstChangeAt = pendingSince ?? t0;
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
      if (this.#backend.dirty) this.#dropPausedRead();
      let refreshed = false;
      if (reason === 'period' && preemptible && pacer && this.#backend.refreshSteps && this.#lastSync && !this.#backend.dirty) {
        // A read that finished before a plan gave way still stands (see below).
        if (!this.#backend.freshRead && (await this.#readKernel(pacer)) === 'preempted') {
          this.#firstChangeAt = pendingSince ?? this.#firstChangeAt;
          return 'preempted';
        }
        refreshed = true;
      }
      if (full) this.#refreshNodeAddresses();
      const tc = performance.now();
      // The first commit hands its VIPs to the backend as it goes (bind-ahead.ts).
      const commit = this.#model.commitSteps();
      // Paced only: the sync settles those binds with a Wait, which finish() cannot.
      const bindAhead = !this.#lastSync && pacer && this.#backend.bindAhead ? (a: string[]) => {
        // Only a head start: what cannot start here the sync binds itself (a batch that fails later
        // fails the sync, which is retried, reading the kernel again).
        try {
          this.#backend.bindAhead!(a);
        } catch (err) {
          this.#log.warn({ err: (err as Error).message, addresses: a.length }, 'cannot bind VIPs ahead of the first sync; the sync binds them');
        }
      } : undefined;
      const changes = await run(bindAhead ? bindingAhead(commit, this.#model.desired.boundAddresses, bindAhead) : commit);
      this.lastCommitMs = performance.now() - tc;
      // What a reconcile that gave way had committed: its IPVS part goes with this sync (so that its
      // VIPs, which every sync binds and unbinds as the whole desired state says, never get ahead of
      // its virtual services); its ipset entries wait for the reconcile, which comes straight after.
      const carried = this.#carried;
      if (carried) {
        for (const k of carried.changedKeys) changes.changedKeys.add(k);
        changes.addressesChanged ||= carried.addressesChanged;
        changes.changedServices = [...new Set([...carried.changedServices, ...changes.changedServices])];
      }
      changedServices = changes.changedServices;
      this.#report(changes.warnings);
      const input = { full, changes, model: this.#model, refreshed, paced: pacer !== undefined };
      const tb = performance.now();
      if (refreshed && pacer && this.#backend.syncSteps) {
        // The reconcile's plan (a second at 10,000 Services in the sandbox) writes nothing, nor, when
        // the plan found nothing to do, does its ipset read-back (0.6 s at 10,000, 2.8 s at 50,000): a
        // change that comes meanwhile goes first, and the reconcile plans again after it on the same
        // read. A few times per reconcile at most, so that it ends under any churn.
        const steps = this.#backend.syncSteps(input);
        const giveWay = () => this.#gaveWay < GIVE_WAY_AT_MOST && this.#backend.abandonable === true && this.#runner.changeWaiting;
        try {
          result = await pacer.run(steps, giveWay);
        } catch (err) {
          if (!(err instanceof Preempted)) throw err;
          steps.return(undefined as never);
          this.#carried = changes;
          this.#gaveWay++;
          this.metrics.reconcilePreemptions.inc();
          this.#log.debug({ turns: err.turns }, 'periodic reconcile gave way to a waiting change before its writes');
          this.#firstChangeAt = pendingSince ?? this.#firstChangeAt;
          return 'preempted';
        }
      } else result = this.#backend.syncSteps ? await run(this.#backend.syncSteps(input)) : this.#backend.sync(input);
      kernelAt = performance.now();
      backendMs = kernelAt - tb;
      this.#cleanConntrack(result.kind === 'full', changedServices);
      const th = performance.now();
      conntrackMs = th - kernelAt;
      const hosts = this.#o.healthCheckBindHost ? [this.#o.healthCheckBindHost] : healthCheckHosts(this.#o.nodePortAddresses, this.#nodePortAddrs, this.families);
      await this.#hc.update(this.#model.healthCheckNodePorts(), hosts);
      healthCheckMs = performance.now() - th;
    } catch (err) {
      // A read kept for a reconcile that gave way is not trusted past a failure.
      this.#backend.dropRead?.();
      if (reason === 'period') this.#gaveWay = 0;
      this.#log.error({ err: (err as Error).message, reason }, 'sync failed; will retry');
      this.events.record(this.#nodeObject(), 'Warning', REASONS.syncFailed, `sync failed (will retry): ${(err as Error).message}`);
      this.metrics.operationErrors.inc({ op: 'sync' });
      setTimeout(() => this.#runner.run(), Math.max(1000, this.#o.minSyncPeriodMs)).unref();
      return;
    }
    // A full sync has read the kernel: a paused reconcile read is moot.
    if (result.kind === 'full') this.#dropPausedRead();
    this.#carried = undefined;
    if (reason === 'period') this.#gaveWay = 0;
    const seconds = (performance.now() - t0) / 1000;
    const m = this.metrics;
    recordSync(m, this.families, result, seconds, (type, why, note) => this.events.record(this.#nodeObject(), type, why, note));
    const now = Date.now();
    for (const t of this.#triggerTimes) m.programming.observe(Math.max(0, now - t.at) / 1000, { ip_family: FAMILY_NAME[t.family] });
    this.#triggerTimes = [];
    this.#pendingServiceChanges = this.#pendingEndpointChanges = 0;
    m.serviceChangesPending.set(0);
    m.endpointChangesPending.set(0);
    this.#gauges(result.kind === 'full');
    if (!result.failures.length) {
      // Changes that came while this sync ran (it had taken the model's changes by then) wait for the next.
      const pendingSince = this.#firstChangeAt === undefined ? undefined : now - (performance.now() - this.#firstChangeAt);
      for (const f of this.families) {
        m.lastSync.set(now / 1000, { ip_family: FAMILY_NAME[f] });
        this.health.updated(FAMILY_NAME[f], pendingSince);
      }
    }
    this.#lastSync = { at: new Date(), result };
    if (reason === 'period' && result.kind === 'full') this.#heap.reconciled();
    if (result.kind === 'full' && reason !== 'period') this.#runner.fullSyncDone();
    // Unpaced, the whole sync held the loop in one stretch.
    const loop = { turns: pacer?.turns ?? 0, longestMs: pacer?.longestMs ?? seconds * 1000 };
    this.#log.info(syncLogFields({
      reason, mode: this.#backend.mode, result, services: changedServices.length, ms: seconds * 1000, commitMs: this.lastCommitMs, loop,
    }), 'sync');
    this.lastSyncLoop = loop;
    this.lastSyncTiming = {
      waitMs: Math.max(0, t0 - firstChangeAt), commitMs: this.lastCommitMs, backendMs, afterMs: performance.now() - t0 - this.lastCommitMs - backendMs,
      conntrackMs, healthCheckMs, kernelAt,
    };
    for (const w of this.#syncedWaiters.splice(0)) w();
  }

  /**
   * A periodic reconcile's kernel read (seconds at 10,000 Services), run first and paused at the next
   * turn of the event loop when a change is waiting: the change goes first (the runner sees
   * 'preempted' and runs the period again straight after it), and the read goes on where it stopped.
   * Every resumption reads at least one slice, so the read ends under any churn; a change waits for at
   * most one slice of it, plus the reconcile's own compare and write once the read is done.
   */
  async #readKernel(pacer: Pacer): Promise<RunOutcome> {
    const read = this.#pausedRead ?? this.#backend.refreshSteps!(this.#model);
    this.#pausedRead = undefined;
    try {
      await pacer.run(read, () => this.#runner.changeWaiting);
    } catch (err) {
      if (!(err instanceof Preempted)) throw err;
      this.#pausedRead = read;
      this.metrics.reconcilePreemptions.inc();
      this.#log.debug({ turns: err.turns }, 'periodic reconcile paused its kernel read for a waiting change');
      return 'preempted';
    }
  }

  /** Drop a paused reconcile read: a full sync has read the kernel since, or the model is in doubt. */
  #dropPausedRead(): void {
    this.#pausedRead?.return();
    this.#pausedRead = undefined;
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

  /** Trigger a sync now and wait for it (tests and benchmarks): a periodic one here does not give way to changes. */
  async syncNow(reason: RunReason = 'change'): Promise<void> {
    await this.#runner.idle();
    await this.#sync(reason, false);
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
    const last = this.#lastSync;
    return agentStateOf({
      node: this.#o.nodeName, mode: this.#o.mode, source: this.#o.source.describe(), startedAt: this.#startedAt, synced: this.#synced,
      vipBinding: this.#o.vipBinding ?? 'address',
      ...(last ? { lastSync: { at: last.at, result: last.result } } : {}),
      model: this.#model,
      draining: this.#backend instanceof IpvsBackend ? this.#backend.engine.draining.values() : [],
      ...(this.#backend instanceof IptablesBackend ? { iptablesBackend: this.#backend.backend } : {}),
    });
  }

  /** Stop watching and serving. The kernel keeps what was programmed: no window without rules. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#runner?.stop();
    this.#dropPausedRead();
    clearInterval(this.#drainTimer);
    this.#heap.stop();
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
