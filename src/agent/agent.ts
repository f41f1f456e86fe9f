// The node agent: sources feed the model, the model says what should be, the sync engine makes the
// kernel so. Wiring, timing and reporting live here; the rules live in src/model and src/sync.
import http from 'node:http';
import v8 from 'node:v8';
import { IpvsClient } from '../ipvs/client.js';
import { LinkClient } from '../link/link.js';
import { SyncEngine, applySysctls, applyTimeouts, type Logger, type SyncResult } from '../sync/engine.js';
import { BoundedFrequencyRunner, type RunReason } from '../sync/runner.js';
import { ProxyModel } from '../model/model.js';
import { nodePortAddresses, nodePrimaryIPs } from '../model/nodeports.js';
import type { ModelWarning, V1Node } from '../model/types.js';
import type { Source, Kind, KubeObject } from '../sources/types.js';
import { ProxierHealth, HealthCheckNodePorts, listen, nodeEligible } from './health.js';
import { agentMetrics, type AgentMetrics } from './metrics.js';
import { StateServer, type AgentState } from './state.js';
import { serverKeyString } from '../ipvs/keys.js';
import { IpsetClient } from '../ipset/client.js';
import { IpsetSync, type IpsetSyncResult } from '../sync/ipsets.js';
import { Iptables } from '../iptables/iptables.js';
import { ipvsModeRules, type RuleSet } from '../iptables/rules.js';
import { affectsNodeFirewall, lbClosedToNode } from '../model/ipsets.js';
import { parseCidr } from '../netlink/cidr.js';

type LbPort = ReturnType<typeof lbClosedToNode>[number];

export interface AgentOptions {
  nodeName: string;
  mode: 'ipvs';
  scheduler: string;
  strictARP: boolean;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  excludeCIDRs: string[];
  timeouts: { tcp: number; tcpFin: number; udp: number };
  nodePortAddresses: string[];
  healthzBindAddress: string;
  metricsBindAddress: string;
  stateSocket: string;
  gracefulTerminationTimeoutMs: number;
  /** How often draining real servers are checked for connections (kube-proxy: 1 min). */
  drainCheckMs?: number;
  /**
   * The ipsets and iptables rules of IPVS mode (masquerade, node ports, host-port filter): default on.
   * Off only where something else owns those rules (some tests, the benchmark's IPVS-only floor).
   */
  iptables?: { masqueradeAll: boolean; masqueradeBit: number; clusterCIDRs: string[] } | false;
  /** V8's --optimize-for-size (default on): about half the RSS at 10,000 Services, for some GC time. */
  optimizeForSize?: boolean;
  /** Address the health-check node port servers listen on. */
  healthCheckBindHost?: string;
  source: Source;
  log: Logger;
}

const r1 = (ms: number) => Math.round(ms * 10) / 10;

export class Agent {
  readonly metrics: AgentMetrics = agentMetrics();
  readonly health: ProxierHealth;
  readonly #o: AgentOptions;
  readonly #log: Logger;
  #ipvs!: IpvsClient;
  #link!: LinkClient;
  #engine!: SyncEngine;
  readonly #model: ProxyModel;
  #runner!: BoundedFrequencyRunner;
  #hc!: HealthCheckNodePorts;
  #ipsets?: IpsetSync;
  #ipsetClient?: IpsetClient;
  #iptables: { family: 'inet' | 'inet6'; client: Iptables; rules: RuleSet; make: (closed: LbPort[]) => RuleSet; closed: string }[] = [];
  #servers: http.Server[] = [];
  #state?: StateServer;
  #drainTimer?: NodeJS.Timeout;
  #synced = false;
  #startedAt = new Date();
  #lastSync?: { at: Date; result: SyncResult };
  /** Earliest unsynced change per Service ("namespace/name"), for network programming latency. */
  readonly #pendingSince = new Map<string, number>();
  /** Service and EndpointSlice events since the last sync, for kube-proxy's *_changes_pending gauges. */
  #pendingServiceChanges = 0;
  #pendingEndpointChanges = 0;
  #localAddresses: string[] = [];
  #node: V1Node | undefined;
  #nodePortAddrs: string[] = [];
  #syncedWaiters: (() => void)[] = [];
  #stopping = false;
  /** How long the last sync's ipset and iptables part took (ms), and the ipset part alone. */
  lastIptablesMs = 0;
  lastIpsetMs = 0;
  /** How long the last model commit took (ms): the "what should be" part of a sync. */
  lastCommitMs = 0;
  healthzPort = 0;
  metricsPort = 0;

  constructor(opts: AgentOptions) {
    this.#o = opts;
    this.#log = opts.log;
    this.health = new ProxierHealth(2 * opts.syncPeriodMs);
    this.#model = new ProxyModel({ scheduler: opts.scheduler, nodeName: opts.nodeName, families: ['inet', 'inet6'] });
  }

  async start(): Promise<void> {
    const o = this.#o;
    // A node agent runs on every node, next to the workloads, with a heap that is mostly one large,
    // long-lived model: trade some GC time for a heap that stays near its live size. V8 reads this
    // at each collection, so setting it now applies to everything the agent allocates from here on.
    if (o.optimizeForSize ?? true) v8.setFlagsFromString('--optimize-for-size');
    this.#ipvs = IpvsClient.open();
    this.#link = LinkClient.open();
    applySysctls({ strictARP: o.strictARP, log: this.#log });
    applyTimeouts(this.#ipvs, o.timeouts, this.#log);
    this.#engine = new SyncEngine({
      ipvs: this.#ipvs,
      link: this.#link,
      log: this.#log,
      excludeCIDRs: o.excludeCIDRs,
      nodeAddresses: () => this.#nodePortAddrs,
      gracefulTimeoutMs: o.gracefulTerminationTimeoutMs,
    });
    if (o.iptables !== false) this.#startIptables(o.iptables ?? { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: [] });
    this.#hc = new HealthCheckNodePorts(o.healthCheckBindHost ?? '0.0.0.0', this.#log);
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
    });
    this.#drainTimer = setInterval(() => this.#checkDraining(), o.drainCheckMs ?? 10_000);
    this.#drainTimer.unref();
  }

  /**
   * The sets and rule sets of both families. The rules match sets, not Services: they depend on the
   * configuration, plus one DROP rule per load balancer closed to the node (`make` rebuilds them when
   * that list changes). A bad configuration (masquerade bit, cluster CIDR) throws here, at start,
   * naming the field.
   */
  #startIptables(cfg: { masqueradeAll: boolean; masqueradeBit: number; clusterCIDRs: string[] }): void {
    this.#ipsetClient = IpsetClient.open();
    this.#ipsets = new IpsetSync({ client: this.#ipsetClient, families: ['inet', 'inet6'], log: this.#log });
    this.#ipsets.ensureSets();
    for (const family of ['inet', 'inet6'] as const) {
      const cidr = cfg.clusterCIDRs.find((c) => parseCidr(c)?.family === family);
      const make = (closed: LbPort[]) => ipvsModeRules({
        family, masqueradeAll: cfg.masqueradeAll, masqueradeBit: cfg.masqueradeBit,
        ...(cidr ? { localDetector: { kind: 'cidr' as const, cidr } } : {}),
        ...(closed.length ? { lbOutFilter: closed } : {}),
      });
      this.#iptables.push({ family, client: new Iptables({ family, log: this.#log }), rules: make([]), make, closed: '[]' });
    }
  }

  /** ipsets first (the rules match them), then the rules, which a no-op checks with one iptables-save. */
  #syncIptables(full: boolean, added: string[], removed: string[]): IpsetSyncResult | undefined {
    if (!this.#ipsets) return undefined;
    const r = full
      ? this.#ipsets.reconcile(this.#model.ipsetEntries())
      : this.#ipsets.applyChanges(added, removed, (k) => this.#model.hasIpsetEntry(k));
    this.lastIpsetMs = r.ms;
    for (const f of r.failures) this.metrics.operationErrors.inc({ op: 'ipset' });
    if (r.added) this.metrics.operations.inc({ op: 'ipset-add' }, r.added);
    if (r.removed) this.metrics.operations.inc({ op: 'ipset-del' }, r.removed);
    // The rules depend on the configuration, and on the load balancers whose source ranges keep the
    // node out (one DROP rule each): those are looked up again only when their entries changed.
    const firewall = full || added.some(affectsNodeFirewall) || removed.some(affectsNodeFirewall);
    for (const t of this.#iptables) {
      let write = full;
      if (firewall) {
        const closed = lbClosedToNode(this.#model.ipsetEntries(), t.family);
        const text = JSON.stringify(closed);
        if (text !== t.closed) {
          t.rules = t.make(closed);
          t.closed = text;
          write = true;
        }
      }
      if (write) {
        try {
          const a = t.client.apply(t.rules);
          if (a.changed) this.#log.info({ family: t.family, ms: r1(a.ms) }, 'iptables rules written');
        } catch (err) {
          this.metrics.iptablesRestoreFailures.inc();
          this.#log.warn({ family: t.family, err: (err as Error).message }, 'cannot write iptables rules (retried at the next full sync)');
        }
      }
    }
    return r;
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
      const s = http.createServer((req, res) => {
        if ((req.url ?? '').split('?')[0] !== '/metrics') return void res.writeHead(404).end();
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(this.metrics.registry.render());
      });
      this.metricsPort = await listen(s, o.metricsBindAddress);
      this.#servers.push(s);
    }
    if (o.stateSocket) {
      this.#state = new StateServer(o.stateSocket, () => this.state());
      await this.#state.listen();
    }
  }

  #onChange(kind: Kind, obj: KubeObject, removed: boolean): void {
    const meta = obj.metadata ?? {};
    const ns = meta.namespace ?? '';
    const name = meta.name ?? '';
    switch (kind) {
      case 'Service': {
        if (removed) this.#model.deleteService(ns, name);
        else this.#model.upsertService(obj as never);
        this.#mark(`${ns}/${name}`);
        this.metrics.serviceChangesTotal.inc();
        this.metrics.serviceChangesPending.set(++this.#pendingServiceChanges);
        break;
      }
      case 'EndpointSlice': {
        if (removed) this.#model.deleteEndpointSlice(ns, name);
        else this.#model.upsertEndpointSlice(obj as never);
        const svc = meta.labels?.['kubernetes.io/service-name'];
        if (svc) this.#mark(`${ns}/${svc}`);
        this.metrics.endpointChangesTotal.inc();
        this.metrics.endpointChangesPending.set(++this.#pendingEndpointChanges);
        break;
      }
      case 'Node': {
        if (meta.name !== this.#o.nodeName) return;
        const node = removed ? undefined : (obj as V1Node);
        this.#model.setNode(node);
        this.#node = node;
        this.health.setNodeEligible(nodeEligible(node));
        break;
      }
    }
    this.health.queued();
    this.metrics.lastQueued.set(Date.now() / 1000);
    if (this.#synced) this.#runner.run();
  }

  #mark(service: string): void {
    if (!this.#pendingSince.has(service)) this.#pendingSince.set(service, Date.now());
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

  async #sync(reason: RunReason): Promise<void> {
    if (!this.#synced || this.#stopping) return;
    const t0 = performance.now();
    const full = reason === 'period' || !this.#lastSync || this.#engine.dirty;
    let result: SyncResult;
    let changedServices: string[] = [];
    let ipsets: IpsetSyncResult | undefined;
    try {
      if (full) this.#refreshNodeAddresses();
      const tc = performance.now();
      const changes = this.#model.commit();
      this.lastCommitMs = performance.now() - tc;
      changedServices = changes.changedServices;
      this.#report(changes.warnings);
      result = this.#engine.sync(this.#model.desired, full ? undefined : changes.changedKeys);
      const ti = performance.now();
      ipsets = this.#syncIptables(full, changes.ipsetAdded, changes.ipsetRemoved);
      this.lastIptablesMs = performance.now() - ti;
      await this.#hc.update(this.#model.healthCheckNodePorts());
    } catch (err) {
      this.#log.error({ err: (err as Error).message, reason }, 'sync failed; will retry');
      this.metrics.operationErrors.inc({ op: 'sync' });
      setTimeout(() => this.#runner.run(), Math.max(1000, this.#o.minSyncPeriodMs)).unref();
      return;
    }
    const seconds = (performance.now() - t0) / 1000;
    const m = this.metrics;
    m.syncDuration.observe(seconds);
    (result.kind === 'full' ? m.syncFullDuration : m.syncPartialDuration).observe(seconds);
    m.syncs.inc({ kind: result.kind });
    for (const [op, n] of Object.entries(result.counts)) m.operations.inc({ op }, n);
    for (const f of result.failures) m.operationErrors.inc({ op: f.operation.op });
    if (result.repaired) m.driftRepaired.inc({}, result.repaired);
    const now = Date.now();
    for (const s of changedServices) {
      const since = this.#pendingSince.get(s);
      if (since !== undefined) m.programming.observe((now - since) / 1000);
    }
    this.#pendingSince.clear();
    this.#pendingServiceChanges = this.#pendingEndpointChanges = 0;
    m.serviceChangesPending.set(0);
    m.endpointChangesPending.set(0);
    m.lastSync.set(now / 1000);
    this.#gauges(result.kind === 'full');
    if (!result.failures.length && !ipsets?.failures.length) this.health.updated();
    this.#lastSync = { at: new Date(), result };
    this.#log.info({
      reason, kind: result.kind, services: changedServices.length, operations: result.operations, counts: result.counts,
      failures: result.failures.length + (ipsets?.failures.length ?? 0), repaired: result.repaired, draining: this.#engine.draining.size,
      ...(ipsets && (ipsets.added || ipsets.removed) ? { ipset: { added: ipsets.added, removed: ipsets.removed } } : {}),
      ms: Math.round(seconds * 1000 * 10) / 10,
      phases: { model: r1(this.lastCommitMs), read: r1(result.phases.readMs), plan: r1(result.phases.planMs), bind: r1(result.phases.bindMs), apply: r1(result.phases.applyMs), unbind: r1(result.phases.unbindMs), ipset: r1(this.lastIptablesMs) },
    }, 'sync');
    for (const w of this.#syncedWaiters.splice(0)) w();
  }

  #report(warnings: ModelWarning[]): void {
    for (const w of warnings) {
      this.#log.warn({ object: w.object, field: w.field }, w.message);
      this.metrics.warnings.inc({ kind: w.object.split(' ')[0] ?? 'unknown' });
    }
  }

  /** Gauges: counts after every sync; the one that looks into every Service's origin on full syncs only. */
  #gauges(full: boolean): void {
    const d = this.#model.desired;
    this.metrics.virtualServices.set(d.services.size);
    this.metrics.ipsetEntries.set(this.#ipsets ? this.#model.ipsetEntryCount : 0);
    this.metrics.boundAddresses.set(d.boundAddresses.size);
    this.metrics.drainingServers.set(this.#engine.draining.size);
    let servers = 0;
    for (const s of d.services.values()) servers += s.servers.size;
    this.metrics.realServers.set(servers);
    if (!full) return;
    let noLocal = 0;
    for (const s of this.#model.services()) {
      for (const vs of s.virtualServices.values()) {
        if (vs.origin.trafficPolicy === 'Local' && vs.servers.size === 0) { noLocal++; break; }
      }
    }
    this.metrics.noLocalEndpoints.set(noLocal);
  }

  #checkDraining(): void {
    if (!this.#engine || !this.#engine.draining.size || this.#stopping) return;
    try {
      const n = this.#engine.checkDraining();
      if (n) {
        this.metrics.operations.inc({ op: 'delete-server' }, n);
        this.#log.info({ deleted: n, draining: this.#engine.draining.size }, 'drained real servers deleted');
      }
      this.metrics.drainingServers.set(this.#engine.draining.size);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'draining check failed');
    }
  }

  /** Trigger a sync now and wait for it (tests and benchmarks). */
  async syncNow(reason: RunReason = 'change'): Promise<void> {
    await this.#runner.idle();
    await this.#sync(reason);
  }

  get engine(): SyncEngine {
    return this.#engine;
  }

  get model(): ProxyModel {
    return this.#model;
  }

  get lastSync(): SyncResult | undefined {
    return this.#lastSync?.result;
  }

  state(): AgentState {
    const draining = [...this.#engine.draining.values()].map((d) => ({
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
    this.#hc?.close();
    for (const s of this.#servers) s.close();
    this.#state?.close();
    this.#ipvs?.close();
    this.#link?.close();
    this.#ipsetClient?.close();
  }
}
