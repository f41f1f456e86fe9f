// IPVS mode as a backend: the model's virtual services go to IPVS and kube-ipvs0 through the sync
// engine, its ipset entries to kube-proxy's 17 sets per family, and the small constant rule set of
// IPVS mode (masquerade, accept, host-port filter) to iptables. The rules match sets, not Services:
// they are rewritten only when the configuration or the load balancers closed to the node change.
import { performance } from 'node:perf_hooks';
import { IpvsClient } from '../../ipvs/client.js';
import type { Timeouts } from '../../ipvs/types.js';
import type { LinkClient, VipBinding } from '../../link/link.js';
import { IpsetClient } from '../../ipset/client.js';
import { execRun, hasRandomFully, type Run } from '../../iptables/iptables.js';
import { ipvsModeRules, type RuleSet } from '../../iptables/rules.js';
import { localDetectorFor, type DetectLocalOptions } from '../../iptables/local-detector.js';
import { IPSETS, type IpsetKey } from '../../iptables/names.js';
import type { Family } from '../../netlink/address.js';
import type { lbClosedToNode } from '../../model/ipsets.js';
import type { ProxyModel } from '../../model/model.js';
import type { BackendStats, BackendSyncInput, BackendSyncResult, Logger, ProxyBackend } from '../backend.js';
import { alternativesBackend, isIptablesModeOnlyChain, removeChains, removeNftTables } from '../leftovers.js';
import { SyncEngine } from './engine.js';
import { RulesSync, type RulesApart } from './rules-sync.js';
import { applySysctls, applyTimeouts } from './sysctls.js';
import { IpsetSync } from './ipsets.js';
import { finish, type Steps } from '../../loop/pacer.js';

type LbPort = ReturnType<typeof lbClosedToNode>[number];

export interface IpvsRulesConfig {
  masqueradeAll: boolean;
  masqueradeBit: number;
  clusterCIDRs: string[];
  /** detectLocalMode and its interface settings; default ClusterCIDR. */
  detectLocal?: DetectLocalOptions;
  /** This Node's spec.podCIDRs as the agent last read them (NodeCIDR mode's detector). */
  podCIDRs?: () => readonly string[];
}

export interface IpvsBackendOptions {
  link: LinkClient;
  log: Logger;
  strictARP: boolean;
  timeouts: Partial<Timeouts>;
  excludeCIDRs: string[];
  /** How VIPs are made local (default: addresses on kube-ipvs0). */
  vipBinding?: VipBinding;
  /** This node's NodePort addresses, as the agent last read them. */
  nodeAddresses: () => Iterable<string>;
  gracefulTerminationTimeoutMs: number;
  /** A draining server was deleted at the time limit with connections left (for an Event). */
  onDrainTimeout?: (serviceKey: string, server: string, connections: number) => void;
  /**
   * The ipsets and iptables rules of IPVS mode: default on. Off only where something else owns
   * those rules (some tests, the benchmark's IPVS-only floor).
   */
  rules: IpvsRulesConfig | false;
  /** The IP families the node programs (default both): no sets and no rules for the others. */
  families?: readonly Family[];
}

const FAMILIES: readonly Family[] = ['inet', 'inet6'];

export class IpvsBackend implements ProxyBackend {
  readonly mode = 'ipvs' as const;
  readonly #o: IpvsBackendOptions;
  #ipvs!: IpvsClient;
  #engine!: SyncEngine;
  #ipsetClient?: IpsetClient;
  #ipsets?: IpsetSync;
  #rules: RulesSync;
  /** iptables mode's chains are looked for once, after the first full sync has taken the traffic over. */
  #leftoversChecked = false;
  /** Which backend the plain `iptables` command writes with, from the `iptables --version` read at start. */
  #alternatives: 'legacy' | 'nft' = 'nft';

  constructor(opts: IpvsBackendOptions) {
    this.#o = opts;
    this.#rules = new RulesSync(opts.log);
  }

  start(): void {
    const o = this.#o;
    this.#ipvs = IpvsClient.open();
    applySysctls({ strictARP: o.strictARP, log: o.log });
    applyTimeouts(this.#ipvs, o.timeouts, o.log);
    this.#engine = new SyncEngine({
      ipvs: this.#ipvs,
      link: o.link,
      log: o.log,
      excludeCIDRs: o.excludeCIDRs,
      ...(o.vipBinding ? { vipBinding: o.vipBinding } : {}),
      nodeAddresses: o.nodeAddresses,
      gracefulTimeoutMs: o.gracefulTerminationTimeoutMs,
      ...(o.onDrainTimeout ? { onDrainTimeout: o.onDrainTimeout } : {}),
    });
    if (o.rules !== false) this.#startRules(o.rules);
  }

  /**
   * The sets and rule sets of each family the node programs. The rules depend on the configuration, plus one DROP
   * rule per load balancer closed to the node (`make` rebuilds them when that list changes). A bad
   * configuration (masquerade bit, cluster CIDR) throws here, at start, naming the field.
   */
  #startRules(cfg: IpvsRulesConfig): void {
    this.#ipsetClient = IpsetClient.open();
    const families = this.#o.families ?? FAMILIES;
    this.#ipsets = new IpsetSync({ client: this.#ipsetClient, families: [...families], log: this.#o.log });
    this.#ipsets.ensureSets();
    // One `iptables --version` answers both questions (a process start each: ~0.1 s in the sandbox,
    // and the alternatives one was on the first sync's path).
    let version: string | Error;
    try {
      version = execRun('iptables', ['--version']);
    } catch (err) {
      version = err as Error;
    }
    const answer: Run = () => {
      if (version instanceof Error) throw version;
      return version;
    };
    const randomFully = hasRandomFully('iptables', answer);
    this.#alternatives = alternativesBackend(answer);
    for (const family of families) {
      const make = (closed: LbPort[], sets: IpsetKey[], podCIDRs: readonly string[]) => ipvsRuleSet(cfg, family, { randomFully, closed, sets, podCIDRs });
      this.#rules.add(family, make);
    }
  }

  get engine(): SyncEngine {
    return this.#engine;
  }

  get dirty(): boolean {
    return this.#failed || this.#engine.dirty;
  }

  bindAhead(addresses: Iterable<string>): void {
    this.#engine.bindAhead(addresses);
  }

  /** The last sync threw midway (a netlink fault, …): what it applied is unknown, so the next one is full. */
  #failed = false;

  sync(input: BackendSyncInput): BackendSyncResult {
    return finish(this.syncSteps(input));
  }

  /** sync() in pieces (see loop/pacer.ts): IPVS, VIPs and ipsets; the iptables rules a piece per family. */
  *syncSteps(input: BackendSyncInput): Steps<BackendSyncResult> {
    let ended = false;
    try {
      const r = yield* this.#syncOnce({ ...input, full: input.full || this.#failed });
      this.#failed = false;
      ended = true;
      return r;
    } catch (err) {
      this.#failed = true;
      ended = true;
      throw err;
    } finally {
      // Abandoned (return() at a yield) while it compared the ipsets: its IPVS part wrote nothing, so
      // the kernel read it planned on stands for the reconcile that runs again after the change
      // (keepRead does nothing after any other engine pass).
      if (!ended) this.#engine.keepRead();
      if (!ended && this.#apart) this.#rules.abandoned(this.#apart);
      this.#apart = undefined;
    }
  }

  /** This sync's iptables writes apart, while it runs. */
  #apart: RulesApart | undefined;

  get freshRead(): boolean {
    return this.#engine.freshRead;
  }

  dropRead(): void {
    this.#engine.dropRead();
  }

  /**
   * A full sync's IPVS plan; and, when its IPVS part wrote nothing (a reconcile that found no drift),
   * its ipset read-back and compare (at 50,000 Services 2.8 s in the sandbox, which a waiting change
   * would otherwise wait for).
   */
  get abandonable(): boolean {
    // Only a reconcile of this sync compares the ipsets, after its engine pass: quietOnFresh is that pass'.
    return this.#engine.planning || (this.#engine.quietOnFresh && (this.#afterIpvsPass || this.#ipsets?.comparing === true));
  }

  /** A full sync has ended its engine pass and not yet started its ipset sync (see #syncOnce). */
  #afterIpvsPass = false;

  /** A yield between the engine pass and the ipset sync, where a no-op reconcile may give way (abandonable). */
  *#mayGiveWay(): Steps<void> {
    this.#afterIpvsPass = true;
    try {
      yield 0;
    } finally {
      this.#afterIpvsPass = false;
    }
  }

  refreshSteps(model: ProxyModel): Steps<void> {
    return this.#engine.refreshSteps(model.desired);
  }

  *#syncOnce({ full, changes, model, refreshed, paced }: BackendSyncInput): Steps<BackendSyncResult> {
    const t0 = performance.now();
    // A large first sync's VIP binds (apart, beside the IPVS operations) often end last: the ipsets
    // and rules below go while they finish, and settleSteps waits for them at the end.
    const r = yield* this.#engine.syncSteps(model.desired, full ? undefined : changes.changedKeys, refreshed === true, paced === true, changes.addressesChanged, true);
    const counts = { ...r.counts };
    const failures = r.failures.map((f) => ({ op: f.operation.op, message: f.error.message }));
    // A turn here, and one after the rules are started: a reconcile whose engine pass wrote nothing may
    // give way at either (see abandonable). Not between them: the rules due record their inputs as written.
    yield* this.#mayGiveWay();
    // Paced, the rules are written apart, beside the ipset sync (see rules-sync.ts): not beside the
    // IPVS work, whose netlink batches and encoding keep both CPUs of a small node busy already (A/B in
    // the sandbox at 5,000 Services: the IPVS operations took 0.5 s longer). The sets they match were
    // made at start; a sync the engine made full (after a failure) checks every family's rules.
    const due = this.#ipsets ? this.#rulesDue(full || r.kind === 'full', changes.ipsetAdded, changes.ipsetRemoved, model) : [];
    const apart = paced === true ? this.#rules.start(due) : undefined;
    this.#apart = apart;
    yield* this.#mayGiveWay();
    const sets = yield* this.#syncSets(full || r.kind === 'full', changes.ipsetAdded, changes.ipsetRemoved, model, failures);
    const iptablesMs = yield* this.#rules.finish(due, apart, failures);
    const binds = yield* this.#engine.settleSteps();
    if (binds?.bound) counts.bind = (counts.bind ?? 0) + binds.bound;
    if (sets.added) counts['ipset-add'] = sets.added;
    if (sets.removed) counts['ipset-del'] = sets.removed;
    if (sets.grown) counts['ipset-grow'] = sets.grown;
    if (!this.#leftoversChecked && this.#rules.size > 0 && failures.length === 0) {
      // Our KUBE-SERVICES has replaced iptables mode's, so its per-Service chains are unreachable now;
      // nftables mode's tables are not replaced by anything of ours and would go on shadowing IPVS.
      this.#leftoversChecked = true;
      yield 0;
      // A full sync has just read every family's chains (its rules' iptables-save, in the backend
      // `iptables` writes with): no more saves there where none of iptables mode's was among them
      // (two process starts, 0.3 s of a first sync in the sandbox).
      const clean = full || r.kind === 'full' ? (f: Family) => this.#rules.sawNone(f, isIptablesModeOnlyChain) === true : undefined;
      const n = removeChains(isIptablesModeOnlyChain, this.#o.log, "iptables mode's chains", this.#alternatives, clean);
      if (n) counts['delete-chain'] = n;
      yield 0;
      const t = removeNftTables(this.#o.log).length;
      if (t) counts['delete-nft-table'] = t;
    }
    return {
      kind: r.kind,
      operations: r.operations,
      counts,
      failures,
      repaired: r.repaired,
      durationMs: performance.now() - t0,
      // ipvsMs: the engine's pass (read, plan, VIPs, IPVS operations, recording), before the ipsets and rules.
      phases: { ...r.phases, ...(binds ? { bindMs: binds.bindMs } : {}), ipvsMs: r.durationMs, ipsetMs: sets.ipsetMs, iptablesMs },
    };
  }

  /** The ipsets: the whole of them on a full sync, the model's changes otherwise. */
  *#syncSets(full: boolean, added: string[], removed: string[], model: ProxyModel, failures: BackendSyncResult['failures']): Steps<{ added: number; removed: number; grown: number; ipsetMs: number }> {
    if (!this.#ipsets) return { added: 0, removed: 0, grown: 0, ipsetMs: 0 };
    const r = full
      ? yield* this.#ipsets.reconcileSteps(model.ipsetEntries())
      : yield* this.#ipsets.applyChangesSteps(added, removed, (k) => model.hasIpsetEntry(k), model);
    for (const f of r.failures) failures.push({ op: 'ipset', message: f });
    return { added: r.added, removed: r.removed, grown: r.grown, ipsetMs: r.ms };
  }

  /** The families whose rules a sync writes (see RulesSync.due). */
  #rulesDue(full: boolean, added: readonly string[], removed: readonly string[], model: ProxyModel) {
    const cfg = this.#o.rules === false ? undefined : this.#o.rules;
    // NodeCIDR mode: the masquerade rule follows the Node's podCIDRs, read at each sync (a Node update
    // triggers one); the other modes never change after start.
    const podCIDRs = cfg?.detectLocal?.mode === 'NodeCIDR' ? cfg.podCIDRs?.() ?? [] : [];
    return this.#rules.due(full, added, removed, model, podCIDRs, (f) => nonEmptySetKeys(model, f));
  }

  housekeeping(): number {
    if (!this.#engine?.draining.size) return 0;
    const n = this.#engine.checkDraining();
    if (n) this.#o.log.info({ deleted: n, draining: this.#engine.draining.size }, 'drained real servers deleted');
    return n;
  }

  stats(model: ProxyModel): BackendStats {
    const d = model.desired;
    return {
      virtualServices: d.services.size,
      realServers: model.realServerCount,
      boundAddresses: d.boundAddresses.size,
      draining: this.#engine.draining.size,
      ipsetEntries: this.#ipsets ? model.ipsetEntryCount : 0,
    };
  }

  close(): void {
    this.#ipvs?.close();
    this.#ipsetClient?.close();
  }
}

/** The sets of `family` that hold entries, as the rule generator names them. */
export function nonEmptySetKeys(model: ProxyModel, family: Family): IpsetKey[] {
  const names = model.nonEmptyIpsets(family);
  return IPSETS.filter((i) => names.has(i.name('inet'))).map((i) => i.key);
}

/** IPVS mode's rules for one family: the configuration, the load balancers closed to the node, the sets with entries. */
export function ipvsRuleSet(cfg: IpvsRulesConfig, family: Family, d: { randomFully: boolean; closed: LbPort[]; sets: IpsetKey[]; podCIDRs?: readonly string[] }): RuleSet {
  const localDetector = localDetectorFor(cfg, family, d.podCIDRs ?? cfg.podCIDRs?.() ?? []);
  return ipvsModeRules({
    family, masqueradeAll: cfg.masqueradeAll, masqueradeBit: cfg.masqueradeBit, randomFully: d.randomFully, nonEmptySets: d.sets,
    ...(localDetector ? { localDetector } : {}),
    ...(d.closed.length ? { lbOutFilter: d.closed } : {}),
  });
}
