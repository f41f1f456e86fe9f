// What the sync loop asks of a backend: turn the model's desired state into kernel state, either for
// what one commit changed or, on a full sync, for everything (reading the kernel back and repairing
// drift). Two backends implement it: ipvs/ (virtual servers, kube-ipvs0, ipsets and a constant rule
// set) and iptables/ (kube-proxy's per-Service chains). The loop (src/sync) and the agent know only
// this interface.
import type { ProxyModel } from '../model/model.js';
import type { ModelChanges } from '../model/types.js';
import type { Family } from '../netlink/address.js';
import type { Steps } from '../loop/pacer.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export type ProxyMode = 'ipvs' | 'iptables';

export interface BackendSyncInput {
  /** Read the kernel back and make all of it right; otherwise only what `changes` names. */
  full: boolean;
  changes: ModelChanges;
  model: ProxyModel;
  /** refreshSteps() has just read the kernel to its end: a full sync plans on that read. */
  refreshed?: boolean;
  /** A Pacer runs syncSteps(): they may wait for kernel work done apart (a Wait); finish() cannot. */
  paced?: boolean;
}

export interface BackendFailure {
  /** The kind of operation that failed (metric label): add-server, bind, ipset, iptables-restore, … */
  op: string;
  message: string;
  /** The IP family it concerned, when one (the ip_family label of kube-proxy's restore failure counters). */
  family?: Family;
}

export interface BackendSyncResult {
  /** What the backend did: a full reconcile or an incremental change. */
  kind: 'full' | 'incremental';
  /** Kernel changes made: netlink operations (IPVS mode) or iptables-restore lines (iptables mode). */
  operations: number;
  /** Operations by kind (add-service, delete-server, bind, ipset-add, restore-lines, …). */
  counts: Record<string, number>;
  failures: BackendFailure[];
  /** Operations that repaired drift a full sync found. */
  repaired: number;
  durationMs: number;
  /** Where the time went (ms), by phase name; the agent logs them. */
  phases: Record<string, number>;
}

/** Counts for the agent's gauges; a backend fills what applies to it. */
export interface BackendStats {
  virtualServices?: number;
  realServers?: number;
  boundAddresses?: number;
  draining?: number;
  ipsetEntries?: number;
  /** iptables rules we hold, by table (iptables mode). */
  iptablesRules?: Record<string, number>;
  /** The same by family and table (kube-proxy's kubeproxy_sync_proxy_rules_iptables_total{ip_family,table}). */
  iptablesRulesByFamily?: { family: Family; table: string; rules: number }[];
}

export interface ProxyBackend {
  readonly mode: ProxyMode;
  /**
   * Open the kernel clients and put the base state in place (links, sysctls, sets, chains), removing
   * what the other proxy mode left behind. Throws on a configuration the kernel refuses.
   */
  start(): void;
  sync(input: BackendSyncInput): BackendSyncResult;
  /**
   * The same sync in pieces, for a Pacer (see loop/pacer.ts): the agent's event loop turns between
   * them. A backend without it syncs in one piece.
   */
  syncSteps?(input: BackendSyncInput): Steps<BackendSyncResult>;
  /**
   * The longest part of a full reconcile that writes nothing (IPVS: the kernel read), run before it
   * so that it can be abandoned at any piece for a waiting change; the full sync that follows uses
   * what it read. A backend without it reads inside its sync.
   */
  refreshSteps?(model: ProxyModel): Steps<void>;
  /**
   * Addresses the first sync will bind, handed over while the model still computes the rest, so that
   * the kernel binds them meanwhile (IPVS: VIPs on kube-ipvs0). The first sync settles them.
   */
  bindAhead?(addresses: Iterable<string>): void;
  /** The next sync must be full: a failure left the kernel state uncertain. */
  readonly dirty: boolean;
  /** refreshSteps() has read the kernel, and that read still stands for the next full sync. */
  readonly freshRead?: boolean;
  /** Forget such a read: the next full sync reads the kernel again. */
  dropRead?(): void;
  /**
   * The sync whose steps are running is in a part that writes nothing (IPVS: a full sync's plan, and
   * its ipset compare when the plan found nothing to do): the agent may abandon those steps for a
   * waiting change and run them again after it.
   */
  readonly abandonable?: boolean;
  /** Work between syncs (IPVS: delete drained real servers). Returns operations made. */
  housekeeping(): number;
  stats(model: ProxyModel): BackendStats;
  close(): void;
}
