// The sync engine: keeps a model of what the kernel holds, applies the difference to the desired
// state in batches, drains removed TCP real servers, and repairs drift when asked to reconcile.
// Knows IPVS and kube-ipvs0 (its VIPs: vip-binds.ts), not Kubernetes.
import { IpvsClient, describeOperation } from '../../ipvs/client.js';
import { serviceKeyString, serverKeyString } from '../../ipvs/keys.js';
import type { Operation, ServiceInfo, RealServerInfo, RealServer, ServiceKey } from '../../ipvs/types.js';
import type { LinkClient } from '../../link/link.js';
import { parseCidr, cidrContains, type Cidr } from '../../netlink/cidr.js';
import { NetlinkFaultError } from '../../netlink/faults.js';
import type { Logger } from '../backend.js';
import { finish, Wait, type Steps } from '../../loop/pacer.js';
import { planSteps, sliceKeys, sameServer, type DesiredIpvs, type KernelModel, type KernelServer, type Plan, type DrainingServer } from './plan.js';
import { ownServers, shareIfSame, sameServiceInfo, kernelOrder } from './kernel-model.js';
import { KernelState } from './kernel-state.js';
import { VipBinds, type PendingBinds } from './vip-binds.js';
import { SYNC_ATTEMPTS, BINDS_APART_FROM, OPERATIONS_APART_FROM, FRESH_READ_MS, SYNC_SLICE_SERVICES, type EngineOptions, type SyncResult, type OperationCounts } from './engine-types.js';

export { BINDS_APART_FROM, OPERATIONS_APART_FROM, FRESH_READ_MS, SYNC_SLICE_SERVICES, type EngineOptions, type SyncResult, type OperationCounts } from './engine-types.js';
export type { Logger } from '../backend.js';

export class SyncEngine {
  readonly #ipvs: IpvsClient;
  readonly #link: LinkClient;
  readonly #log: Logger;
  readonly #dummy: string;
  readonly #exclude: Cidr[];
  readonly #nodeAddresses: () => Iterable<string>;
  readonly #gracefulTimeoutMs: number;
  readonly #onDrainTimeout: EngineOptions['onDrainTimeout'];
  readonly #now: () => number;
  readonly #state = new KernelState();
  readonly #binds: VipBinds;
  #dirty = true;
  #started = false;
  /** refreshSteps() has just read the whole kernel: the next full sync plans on that read. */
  #fresh = false;
  /** When that read ended (this.#now()). */
  #freshAt = 0;
  /** A full sync is in its plan (see syncOnce). */
  #planning = false;
  /** How long that read took (reported as the sync's read phase). */
  #freshReadMs = 0;
  /** The last sync was full, planned on refreshSteps()' read and wrote nothing (see keepRead). */
  #quietOnFresh = false;
  /** Counts kernel reads: a refreshSteps() overtaken by a sync's own read is stale. */
  #readGeneration = 0;
  constructor(opts: EngineOptions) {
    this.#ipvs = opts.ipvs;
    this.#link = opts.link;
    this.#log = opts.log;
    this.#dummy = opts.dummyName ?? 'kube-ipvs0';
    this.#exclude = (opts.excludeCIDRs ?? []).map((text) => {
      const c = parseCidr(text);
      if (!c) throw new Error(`invalid CIDR "${text}" in excludeCIDRs`);
      return c;
    });
    this.#nodeAddresses = opts.nodeAddresses ?? (() => []);
    this.#gracefulTimeoutMs = opts.gracefulTimeoutMs ?? 15 * 60_000;
    this.#onDrainTimeout = opts.onDrainTimeout;
    this.#now = opts.now ?? Date.now;
    this.#binds = new VipBinds({
      link: this.#link, log: this.#log, state: this.#state, dummy: this.#dummy, binding: opts.vipBinding ?? 'address',
      doubt: () => { this.#dirty = true; },
    });
  }

  /** What the engine believes the kernel holds (read-only view, for state and inspection). */
  get kernel(): Readonly<KernelModel> {
    return this.#state.model;
  }

  get draining(): ReadonlyMap<string, DrainingServer> {
    return this.#state.draining;
  }

  /** True when the kernel model may be wrong (a failed batch): the next sync re-reads the kernel. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /**
   * refreshSteps() has read the whole kernel, no full sync has used that read yet (or one that wrote
   * nothing gave it back: keepRead), and it is recent (FRESH_READ_MS): a reconcile that gave way plans
   * again on it.
   */
  get freshRead(): boolean {
    return this.#fresh && !this.#dirty && this.#now() - this.#freshAt < FRESH_READ_MS;
  }

  /** Forget a read refreshSteps() made: the next full sync reads the kernel again. */
  dropRead(): void {
    this.#fresh = false;
  }

  /** The last sync was a full one that planned on refreshSteps()' read and wrote nothing. */
  get quietOnFresh(): boolean {
    return this.#quietOnFresh;
  }

  /**
   * After such a sync (else nothing): its read stands again (a reconcile abandoned after its IPVS part,
   * for a waiting change, plans again on it instead of reading the kernel again). Its age still counts
   * from the read (FRESH_READ_MS).
   */
  keepRead(): void {
    if (this.#quietOnFresh && !this.#dirty) this.#fresh = true;
  }

  /** A full sync is planning (writing nothing yet): its steps may be abandoned, and run again later. */
  get planning(): boolean {
    return this.#planning;
  }

  #excluded = (s: ServiceInfo): boolean => s.address !== undefined && this.#exclude.some((c) => cidrContains(c, s.address!));

  #owns = (key: string, s: ServiceInfo): boolean => {
    if (this.#state.owned.has(key)) return true;
    if (s.address === undefined) return false;
    if (this.#state.model.boundAddresses.has(s.address)) return true;
    // On a VIP bound the other way (kube-proxy's address, or the other --vip-binding's route).
    if (this.#binds.isLeftover(s.address)) return true;
    for (const a of this.#nodeAddresses()) if (a === s.address) return true;
    return false;
  };

  /**
   * Read the whole kernel state into the model (start-up adoption and full reconciles). The model is
   * updated in place, service by service as the dump streams in: an entry that still matches the
   * kernel is kept as it is, so a no-op reconcile allocates nothing that outlives one service (at
   * 10,000 services a fresh model per reconcile cost about 30 MB of heap growth). A real server that
   * differs is replaced by the desired RealServer when that equals the kernel's, else by the dumped one.
   */
  *#readKernel(desired?: DesiredIpvs, touched?: ReadonlySet<string>): Steps<void> {
    this.#binds.ensureDummy();
    this.#binds.noteLeftovers();
    const model = this.#state.model.services;
    const seen = new Set<string>();
    // The dump hands on the model's own objects for the services and real servers it shows unchanged
    // (expectService, expect), and gives each service's key; a service's guess is kept from the guess
    // to the hand-over, within one piece of the dump.
    const guessOf = new Map<string, KernelServer[]>();
    const expectService = (key: string): ServiceInfo | undefined => model.get(key)?.service;
    const expect = (service: ServiceInfo, key = serviceKeyString(service)): KernelServer[] | undefined => {
      const entry = model.get(key);
      if (!entry?.servers.size) return undefined;
      const guess = kernelOrder(entry.servers);
      guessOf.set(key, guess);
      return guess;
    };
    yield* this.#ipvs.forEachEntrySteps({ stats: false, skipGone: true }, (service, servers, key = serviceKeyString(service)) => {
      const guess = guessOf.get(key);
      guessOf.delete(key);
      seen.add(key);
      // Written by a sync since this read began: the model already says what the kernel accepted.
      if (touched?.has(key)) return;
      let entry = model.get(key);
      if (!entry) {
        entry = { service, servers: new Map() };
        model.set(key, entry);
      } else if (!sameServiceInfo(entry.service, service)) {
        entry.service = service;
      }
      const want = desired?.services.get(key);
      // Every server the model's own object: nothing differs, and no key needs making.
      if (guess && servers.length === guess.length && servers.every((s, i) => s === guess[i])) {
        shareIfSame(entry, want);
        return;
      }
      // Oldest first (the dump lists the newest first): the model's Map keeps the order servers were
      // added in, which kernelOrder reverses into the next read's guess.
      for (let j = servers.length - 1; j >= 0; j--) {
        const s = servers[j]!;
        const sk = serverKeyString(s);
        const cur = entry.servers.get(sk);
        if (cur && sameServer(s, cur)) continue;
        const w = want?.servers.get(sk);
        ownServers(entry).set(sk, w && sameServer(w, s) ? w : s);
      }
      // Every dumped server is in the map now; more entries means the model has some the kernel
      // no longer does (deleted by hand).
      if (entry.servers.size !== servers.length) {
        const inKernel = new Set(servers.map(serverKeyString));
        const have = ownServers(entry);
        for (const sk of [...have.keys()]) if (!inKernel.has(sk)) have.delete(sk);
      }
      shareIfSame(entry, want);
    }, expect, expectService);
    for (const key of model.keys()) if (!seen.has(key) && !touched?.has(key)) model.delete(key);
    const bound = this.#binds.settledOnDummy();
    const boundSet = this.#state.model.boundAddresses;
    if (bound.length !== boundSet.size || bound.some((a) => !boundSet.has(a))) this.#state.model.boundAddresses = new Set(bound);
    for (const [key, { service }] of model) if (this.#owns(key, service)) this.#state.owned.add(key);
    this.#dirty = false;
  }

  /**
   * Bring the kernel to `desired`. With `changed` (service keys), only those services are compared:
   * an endpoint change costs the netlink operations of that one service. Without it, or when the
   * model may be stale, the kernel is read again first and everything is compared (drift repair).
   */
  sync(desired: DesiredIpvs, changed?: Iterable<string>, addressesChanged = true): SyncResult {
    return finish(this.syncSteps(desired, changed, false, false, addressesChanged));
  }

  /**
   * sync() in pieces (see loop/pacer.ts): the agent runs it with a Pacer, so /healthz answers during
   * a long sync. A netlink fault makes it read the kernel again and retry (SYNC_ATTEMPTS in all).
   * `paced`: a Pacer runs these steps, so they may wait for work done apart (BINDS_APART_FROM).
   * `addressesChanged` false: the model bound and unbound no VIP since the last sync, so an
   * incremental sync does not compare the VIPs (a full one always does). `settleLater`: binds made
   * apart may still be going when this ends; the caller settles them (settleSteps) after its own work.
   */
  *syncSteps(desired: DesiredIpvs, changed?: Iterable<string>, refreshed = false, paced = false, addressesChanged = true, settleLater = false): Steps<SyncResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        // Binds an earlier sync left unsettled (its caller failed before settling them) end first;
        // those bound ahead too, unless this is the first sync they were bound ahead of.
        yield* this.#binds.settle(this.#started);
        const result = yield* this.#syncOnce(desired, attempt === 1 ? changed : undefined, attempt > 1, refreshed, paced, addressesChanged, settleLater);
        result.attempts = attempt;
        return result;
      } catch (err) {
        // Whatever the failed attempt applied is not in the model, and an acknowledgement may have been
        // lost with it: only a fresh read of the kernel says what to do next, so nothing is sent twice
        // blindly (an add whose ack was lost is found in the kernel, not added again) and nothing is lost.
        this.#dirty = true;
        if (!(err instanceof NetlinkFaultError) || attempt >= SYNC_ATTEMPTS) throw err;
        this.#log.warn({ err: err.message, kind: err.kind, attempt }, 'netlink fault during sync; reading the kernel again and retrying');
      }
    }
  }

  /**
   * The end of binds a sync made apart and left to its caller (`settleLater`): waits for them, and the
   * model follows what the kernel accepted. Returns how many were bound and their own time, or
   * undefined when none were left. A transport fault throws (the model is dirty: the next sync reads
   * the kernel). The caller may do other kernel work first (the ipsets, the rules): the binds are
   * often the last of a large first sync's work to end.
   */
  *settleSteps(): Steps<{ bound: number; bindMs: number } | undefined> {
    return yield* this.#binds.settle(true);
  }

  /**
   * VIPs of a first sync, bound apart before it while the model still computes the rest (the agent
   * hands them over as its first commit goes): their kernel work, which grows with the addresses on
   * kube-ipvs0, runs on another CPU while this thread computes, instead of beside the IPVS operations.
   * Those already on kube-ipvs0 (a restart) or handed over before are skipped. The first sync neither
   * waits for them nor binds them again; it settles them with the binds it leaves (settleSteps).
   * Returns how many were started.
   */
  bindAhead(addresses: Iterable<string>): number {
    return this.#binds.ahead(addresses);
  }

  /**
   * The kernel read of a full reconcile on its own, written so that it may stop at any yield and go
   * on later (the agent does, to let a waiting change go first: see Pacer.run's preempt). Syncs that
   * run while it waits change the kernel and this model together; the services they touch are noted
   * and the read leaves them as they are (a service deleted meanwhile is not read back from the list
   * dumped before; one added meanwhile is not dropped as unseen). A full read by a sync meanwhile makes
   * this one stale: it ends without result. When it ends, the next full sync, if told so
   * (`refreshed`), plans on it instead of reading again; incremental syncs before it leave it
   * standing (they record what they change), a full one uses it up. A netlink fault
   * leaves the read to that sync (which retries); other errors throw.
   */
  *refreshSteps(desired?: DesiredIpvs): Steps<void> {
    try {
      yield* this.#binds.settle(true);
    } catch (err) {
      if (!(err instanceof NetlinkFaultError)) throw err;
      this.#log.warn({ err: err.message, kind: err.kind }, 'netlink fault while binding VIPs; the sync reads the kernel again');
      return;
    }
    this.#fresh = false;
    const generation = ++this.#readGeneration;
    // The read's own time, without the pauses and the syncs that ran in them.
    let readMs = 0;
    const touched = new Set<string>();
    this.#state.touched = touched;
    const read = this.#readKernel(desired, touched);
    try {
      let size: number | undefined;
      for (;;) {
        if (generation !== this.#readGeneration) return;
        const t = performance.now();
        const r = read.next(size);
        readMs += performance.now() - t;
        if (r.done) break;
        size = yield r.value;
      }
    } catch (err) {
      this.#dirty = true;
      if (!(err instanceof NetlinkFaultError)) throw err;
      this.#log.warn({ err: err.message, kind: err.kind }, 'netlink fault while reading the kernel; the sync reads it again');
      return;
    } finally {
      read.return();
      if (this.#state.touched === touched) this.#state.touched = undefined;
    }
    this.#fresh = true;
    this.#freshAt = this.#now();
    this.#freshReadMs = readMs;
  }

  *#syncOnce(desired: DesiredIpvs, changed: Iterable<string> | undefined, retry: boolean, refreshed: boolean, paced: boolean, addressesChanged: boolean, settleLater: boolean): Steps<SyncResult> {
    const t0 = performance.now();
    const full = !changed || this.#dirty || !this.#started;
    // A read that refreshSteps() finished stands as long as nothing made the model doubtful since.
    const read = full && !(refreshed && this.freshRead && !retry);
    this.#quietOnFresh = false;
    if (read) {
      this.#fresh = false;
      this.#readGeneration++;
      yield* this.#readKernel(desired);
    }
    const t1 = performance.now();
    const first = !this.#started;
    this.#started = true;
    // A full sync goes a slice of services at a time (SYNC_SLICE_SERVICES), each planned, applied and
    // recorded before the next is planned: a first sync's 110,000 operations at 10,000 Services were
    // ~7 MB of heap alive at once, at a new node's peak.
    const slices: (Iterable<string> | undefined)[] = full ? sliceKeys(desired, this.#state.model, SYNC_SLICE_SERVICES) : [changed];
    let result: SyncResult;
    try {
      result = yield* this.#apply(slices, full, full || addressesChanged, paced, desired, settleLater);
    } catch (err) {
      if (full) this.#fresh = false;
      throw err;
    }
    // A full sync uses up the read it planned on (given up in a plan, before any write, it has not).
    // An incremental one leaves it standing: it records in the model what it changes, as a sync
    // during the read does (and a failure makes it dirty).
    if (full) this.#fresh = false;
    this.#quietOnFresh = full && !read && !this.#binds.pending && result.operations === 0 && result.bound === 0 && result.unbound === 0 && result.drained === 0 && result.failures.length === 0;
    result.phases.readMs = read || !full ? t1 - t0 : this.#freshReadMs;
    result.kind = full ? 'full' : 'incremental';
    // On a full reconcile every operation repairs something the model did not expect (except on
    // the first sync, which builds the table, and on a retry, which finishes the failed attempt's work).
    result.repaired = full && !first && !retry ? result.operations : 0;
    result.durationMs = performance.now() - t0;
    return result;
  }

  /**
   * Plan and apply each slice of services in turn: the first slice's plan also lists the VIPs to bind
   * and unbind (when `addresses`), for the whole sync; VIPs are bound first (or apart, alongside the
   * IPVS operations, when many), then each slice's IPVS operations are sent and recorded and its drains
   * begun, and VIPs are unbound last. A plan writes nothing: a full sync (`full`) may be given up in
   * any slice's plan until something was written (see planning), and loses nothing.
   */
  *#apply(slices: readonly (Iterable<string> | undefined)[], full: boolean, addresses: boolean, paced: boolean, desired: DesiredIpvs, settleLater: boolean): Steps<SyncResult> {
    const counts: OperationCounts = {};
    const result: SyncResult = { kind: 'full', operations: 0, failures: [], bound: 0, unbound: 0, drained: 0, repaired: 0, durationMs: 0, counts, attempts: 1,
      phases: { readMs: 0, planMs: 0, bindMs: 0, applyMs: 0, unbindMs: 0 } };
    let bind: string[] = [];
    let unbind: string[] = [];
    let t = performance.now();
    let apart: PendingBinds | undefined;
    // Whether every slice went through: only then may binds apart be left running for the caller to settle.
    let ended = false;
    const drainedIn = new Set<string>();
    // Operations of the slices before: a failure's index counts from the sync's first operation.
    let before = 0;
    // Whether anything changed the kernel or the drains yet: until then a full sync's plans may be
    // given up.
    let wrote = false;
    try {
      for (let slice = 0; slice < slices.length; slice++) {
        t = performance.now();
        this.#planning = full && !wrote;
        let p: Plan;
        try {
          p = yield* planSteps(desired, this.#state.model, {
            owns: this.#owns,
            excluded: this.#excluded,
            only: slices[slice],
            draining: this.#state.draining,
            addresses: slice === 0 && addresses,
          });
        } finally {
          this.#planning = false;
        }
        result.phases.planMs += performance.now() - t;
        if (slice === 0) {
          ({ bind, unbind } = p);
          // Those bound ahead (still going) are bound already as far as this sync is concerned.
          bind = this.#binds.notAhead(bind);
          wrote = bind.length > 0;
          t = performance.now();
          if (paced && bind.length >= BINDS_APART_FROM && (p.operations.length || slices.length > 1)) {
            apart = this.#binds.apart(bind, false);
          } else if (bind.length) {
            // VIPs first, so a service is reachable the moment IPVS has it.
            counts.bind = result.bound = yield* this.#binds.bindOrUnbind('bind', bind);
            result.phases.bindMs = performance.now() - t;
          }
        }
        const ops = p.operations;
        if (ops.length || p.drain.length || p.undrain.length) wrote = true;
        if (ops.length) {
          t = performance.now();
          const r = yield* this.#ipvs.applySteps(ops, paced && ops.length >= OPERATIONS_APART_FROM);
          result.phases.applyMs += performance.now() - t;
          yield* this.#state.recordSteps(ops, new Set(r.failures.map((f) => f.index)), counts, desired);
          for (const f of r.failures) {
            this.#log.warn({ op: describeOperation(f.operation), err: f.error.message }, 'netlink operation failed');
            result.failures.push({ ...f, index: f.index + before });
          }
          if (r.failures.length) this.#dirty = true;
          result.operations += r.applied;
          before += ops.length;
        }
        for (const u of p.undrain) this.#state.draining.delete(`${u.serviceKey}|${u.serverKey}`);
        for (const d of p.drain) {
          drainedIn.add(d.serviceKey);
          const have = this.#state.model.services.get(d.serviceKey);
          if (!have) continue;
          const sk = serverKeyString(d.server);
          this.#state.draining.set(`${d.serviceKey}|${sk}`, { serviceKey: d.serviceKey, service: have.service, server: d.server, since: this.#now() });
        }
        result.drained += p.drain.length;
      }
      ended = true;
    } finally {
      // However the IPVS operations end, the binds have ended before anything reads the kernel again
      // (or, left to the caller, before this engine's next sync or read: VipBinds.settle).
      if (apart && !(ended && settleLater)) {
        yield new Wait(apart.done);
        // Thrown: what it bound is for the next read to find, not for a settle to record (or rethrow).
        if (!ended) this.#binds.drop(apart);
      }
    }
    if (apart && !settleLater) {
      this.#binds.drop(apart);
      // The binds' own time, which overlapped the IPVS operations.
      result.phases.bindMs = apart.outcome!.endedAt - apart.outcome!.startedAt;
      if (apart.outcome!.fault) throw apart.outcome!.fault;
      counts.bind = result.bound = this.#binds.recorded('bind', bind, apart.outcome!.failures);
    }
    t = performance.now();
    // An address to unbind that is still being bound ahead (removed while the first commit went):
    // those binds end first, so that the unbind is the last word.
    if (this.#binds.anyAhead(unbind)) yield* this.#binds.settle(true);
    // VIPs last, after their services are gone.
    if (unbind.length) counts.unbind = result.unbound = yield* this.#binds.bindOrUnbind('unbind', unbind);
    // VIPs bound the other way, once bound this way (or not wanted): after the binds, so none is without one.
    if (this.#binds.hasLeftovers) {
      const n = yield* this.#binds.retireLeftovers(desired.boundAddresses);
      if (n) counts.retire = n;
    }
    result.phases.unbindMs = performance.now() - t;
    // Draining servers with no connections go now rather than at the next check.
    if (drainedIn.size) {
      const n = this.checkDraining(drainedIn);
      if (n) counts['delete-server'] = (counts['delete-server'] ?? 0) + n;
      result.operations += n;
    }
    return result;
  }

  /**
   * Delete draining real servers that have no connections left, or have drained for longer than the
   * bound. One real-server dump per service concerned. Returns the operations applied.
   */
  checkDraining(only?: Set<string>): number {
    const byService = new Map<string, DrainingServer[]>();
    for (const d of this.#state.draining.values()) {
      if (only && !only.has(d.serviceKey)) continue;
      const list = byService.get(d.serviceKey) ?? [];
      list.push(d);
      byService.set(d.serviceKey, list);
    }
    const ops: Operation[] = [];
    const now = this.#now();
    for (const [key, list] of byService) {
      let current: RealServerInfo[];
      try {
        current = this.#ipvs.servers(list[0]!.service as ServiceKey, { stats: false });
      } catch (err) {
        // A fault says nothing about the service: keep draining, read the kernel at the next sync.
        if (err instanceof NetlinkFaultError) {
          this.#dirty = true;
          throw err;
        }
        // The service itself is gone: nothing left to drain.
        for (const d of list) this.#state.draining.delete(`${key}|${serverKeyString(d.server)}`);
        this.#log.debug({ service: key, err: (err as Error).message }, 'draining: service gone');
        continue;
      }
      const byKey = new Map(current.map((s) => [serverKeyString(s), s]));
      for (const d of list) {
        const sk = serverKeyString(d.server);
        const cur = byKey.get(sk);
        if (!cur) {
          // Gone from the kernel already: the model follows, as after a delete of our own.
          this.#state.record({ op: 'delete-server', service: d.service as ServiceKey, server: d.server }, key);
          continue;
        }
        const idle = cur.activeConns + cur.inactiveConns === 0;
        const expired = now - d.since >= this.#gracefulTimeoutMs;
        if (idle || expired) {
          if (expired && !idle) {
            this.#log.info({ service: key, server: sk, active: cur.activeConns, inactive: cur.inactiveConns }, 'draining: time limit reached, deleting with connections left');
            this.#onDrainTimeout?.(key, sk, cur.activeConns + cur.inactiveConns);
          }
          ops.push({ op: 'delete-server', service: d.service as ServiceKey, server: d.server });
        }
      }
    }
    if (!ops.length) return 0;
    let r;
    try {
      r = this.#ipvs.apply(ops);
    } catch (err) {
      this.#dirty = true;
      throw err;
    }
    const failed = new Set(r.failures.map((f) => f.index));
    ops.forEach((op, i) => {
      if (!failed.has(i)) this.#state.record(op);
      else this.#state.draining.delete(`${serviceKeyString(op.service)}|${serverKeyString((op as { server: RealServer }).server)}`);
    });
    return r.applied;
  }

  /** Remove everything kipvs owns: its virtual services, kube-ipvs0 and its local routes (either --vip-binding). */
  cleanup(): { services: number } {
    finish(this.#readKernel());
    const ops: Operation[] = [];
    for (const [key, { service }] of this.#state.model.services) {
      if (!this.#excluded(service) && this.#owns(key, service)) ops.push({ op: 'delete-service', service });
    }
    const r = ops.length ? this.#ipvs.apply(ops) : { applied: 0, failures: [] };
    for (const f of r.failures) this.#log.warn({ op: describeOperation(f.operation), err: f.error.message }, 'cleanup: operation failed');
    this.#link.deleteLink(this.#dummy);
    const routes = this.#link.localRoutes().map((r) => r.destination);
    for (const f of routes.length ? this.#link.deleteLocalRoutes(routes) : []) this.#log.warn({ address: f.address, err: f.error.message }, 'cleanup: cannot delete local route');
    this.#state.reset();
    return { services: r.applied };
  }
}
