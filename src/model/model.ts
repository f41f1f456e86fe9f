// The change tracker: holds the Services, EndpointSlices, the Node and its addresses, and keeps the
// desired IPVS state up to date incrementally. commit() recomputes only the Services touched since the
// previous commit, so a commit after one endpoint change costs O(that Service), not O(all Services).
// It keeps no V1 object: only compact records of what the computation reads (compactService,
// compactSlice), which the computed state may refer to since they never change.
import type { V1Service, V1EndpointSlice, V1Node } from '@kubernetes/client-node';
import type { RealServer, VirtualService } from '../ipvs/types.js';
import { ServerTable } from '../ipvs/server-table.js';
import { canonicalAddress, familyOf, type Family } from '../netlink/address.js';
import { finish, type Steps } from '../loop/pacer.js';
import { computeCompact } from './compute.js';
import { compactService, compactSlice } from './compact.js';
import type { CompactSlice } from './compact.js';
import {
  flat, serviceName, sliceName, usesNodePorts, usesLocalAddresses, hasLabel, labelValue,
  LABEL_SERVICE_NAME, LABEL_PROXY_NAME, LABEL_HEADLESS, LABEL_ZONE,
} from './labels.js';
import { serviceIpsetEntries, type IpsetEntryKey, type IpsetRole } from './ipsets.js';
import { checkNode } from './shape.js';
import { Warnings } from './validate.js';
import type {
  ModelConfig, ModelContext, ModelChanges, ModelWarning, ServiceDesired, DesiredVirtualService, DesiredIpvs,
} from './types.js';

/** What a Service that is not there (before its first commit, after its removal) has. */
const NO_ADDRESSES: readonly string[] = Object.freeze([]);
const NO_ENTRIES: ReadonlySet<IpsetEntryKey> = new Set();
const NO_CONFLICTS: ModelWarning[] = Object.freeze([]) as unknown as ModelWarning[];

function sameServer(a: RealServer, b: RealServer): boolean {
  return a.address === b.address && a.port === b.port && (a.forward ?? 'masq') === (b.forward ?? 'masq')
    && (a.weight ?? 1) === (b.weight ?? 1) && (a.upperThreshold ?? 0) === (b.upperThreshold ?? 0)
    && (a.lowerThreshold ?? 0) === (b.lowerThreshold ?? 0);
}

function sameVs(a: VirtualService, b: VirtualService): boolean {
  const fa = a.schedulerFlags ?? {};
  const fb = b.schedulerFlags ?? {};
  return a.scheduler === b.scheduler && (a.persistent?.timeout ?? 0) === (b.persistent?.timeout ?? 0)
    && (a.persistent?.netmask ?? '') === (b.persistent?.netmask ?? '') && !!a.onePacket === !!b.onePacket
    && !!fa.mhPort === !!fb.mhPort && !!fa.mhFallback === !!fb.mhFallback && !!fa.shPort === !!fb.shPort
    && !!fa.shFallback === !!fb.shFallback && (a.pe ?? '') === (b.pe ?? '');
}

/** Same kernel state (virtual service settings and real servers)? Origins and notes are not compared. */
export function sameDesired(a: { service: VirtualService; servers: ReadonlyMap<string, RealServer> }, b: { service: VirtualService; servers: ReadonlyMap<string, RealServer> }): boolean {
  if (!sameVs(a.service, b.service) || a.servers.size !== b.servers.size) return false;
  // Two tables in the same order (a Service recomputed with the same endpoints): no key made.
  if (a.servers instanceof ServerTable && b.servers instanceof ServerTable) {
    const x = a.servers.list, y = b.servers.list;
    if (x.every((s, i) => sameServer(s, y[i]!))) return true;
  }
  for (const [k, s] of a.servers) {
    const t = b.servers.get(k);
    if (!t || !sameServer(s, t)) return false;
  }
  return true;
}

/** The Service that owns a key: its first claimant. */
function ownerOf(claim: string | string[] | undefined): string | undefined {
  return typeof claim === 'string' ? claim : claim?.[0];
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function canonicalList(list: Iterable<string>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const a of list) {
    if (!familyOf(a) || a.includes('%')) continue;
    const c = canonicalAddress(a);
    if (!seen.has(c)) { seen.add(c); out.push(c); }
  }
  return out;
}

function conflictWarning(name: string, key: string, dvs: DesiredVirtualService, owner: string): ModelWarning {
  return {
    object: `Service ${name}`,
    field: dvs.origin.field ?? 'spec',
    message: `virtual service ${key} (${dvs.origin.kind}) is programmed for Service ${owner}, the older claimant; ignored`,
  };
}

/** A Service's creationTimestamp in ms (a Date from client-node, RFC 3339 text from files); +Infinity when none. */
function createdAt(svc: V1Service | undefined): number {
  const t = svc?.metadata?.creationTimestamp as unknown;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isNaN(ms) ? Infinity : ms;
}

export class ProxyModel {
  /** The live aggregate for the sync engine: updated in place by commit(). */
  readonly desired: DesiredIpvs = { services: new Map(), boundAddresses: new Set() };
  #realServers = 0;

  private readonly config: ModelConfig;
  private zone: string | undefined;
  private nodePortAddrs: string[] = [];
  private localAddrs: Set<string> = new Set();

  /** The Services, trimmed to what computeService reads (compactService). */
  private readonly svcs = new Map<string, V1Service>();
  /** slice "ns/name" → the Service "ns/name" it belongs to. */
  private readonly sliceOwner = new Map<string, string>();
  /**
   * The Service's slices in arrival order (compactSlice; a few per Service, so an array). Copied on
   * change, never changed: computed virtual services keep the array of their commit.
   */
  private readonly slicesBySvc = new Map<string, readonly CompactSlice[]>();
  private readonly computed = new Map<string, ServiceDesired>();
  /**
   * serviceKeyString → the Services that produce it, first claimant first: it owns the key. A single
   * claimant (the usual case) is kept as the name itself.
   */
  private readonly claims = new Map<string, string | string[]>();
  private readonly addressRefs = new Map<string, number>();
  /** ipset entries (see ipsets.ts), reference-counted across Services: two may share a loop-back entry. */
  private readonly ipsetRefs = new Map<IpsetEntryKey, number>();
  /** Distinct entries per "family|set" (which sets are empty: kube-proxy writes no rule for those). */
  private readonly ipsetSizes = new Map<string, number>();
  private readonly withHealthCheck = new Set<string>();
  private readonly dirty = new Set<string>();
  // Which Services depend on what, so that a Node or address change touches only those.
  private readonly nodePortDeps = new Set<string>();
  private readonly localAddrDeps = new Set<string>();
  /** What is wrong with this node's Node object, and whether the next commit is to report it. */
  private nodeWarnings: ModelWarning[] = [];
  private nodeWarningsNew = false;

  constructor(config: ModelConfig) {
    this.config = { ...config, families: [...config.families] };
  }

  private context(): ModelContext {
    return { config: this.config, zone: this.zone, nodePortAddresses: this.nodePortAddrs, localAddresses: this.localAddrs };
  }

  private setDeps(name: string, svc: V1Service | undefined): void {
    const put = (set: Set<string>, on: boolean) => { if (on) set.add(name); else set.delete(name); };
    put(this.nodePortDeps, !!svc && usesNodePorts(svc));
    put(this.localAddrDeps, !!svc && usesLocalAddresses(svc));
  }

  upsertService(svc: V1Service): void {
    const name = serviceName(svc);
    this.svcs.set(name, compactService(svc));
    this.setDeps(name, svc);
    this.dirty.add(name);
  }

  deleteService(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (!this.svcs.delete(key) && !this.computed.has(key)) return;
    this.setDeps(key, undefined);
    this.dirty.add(key);
  }

  upsertEndpointSlice(slice: V1EndpointSlice): void {
    const key = sliceName(slice);
    const labels = slice.metadata?.labels;
    const svcName = labelValue(labels, LABEL_SERVICE_NAME);
    if (!svcName || hasLabel(labels, LABEL_PROXY_NAME) || hasLabel(labels, LABEL_HEADLESS)) {
      // Not (or no longer) one kube-proxy would use.
      this.removeSlice(key);
      return;
    }
    const owner = flat(`${slice.metadata?.namespace ?? 'default'}/${svcName}`);
    const prev = this.sliceOwner.get(key);
    if (prev !== undefined && prev !== owner) this.removeSlice(key);
    this.sliceOwner.set(key, owner);
    const rec = compactSlice(slice, key);
    const list = this.slicesBySvc.get(owner) ?? [];
    const i = list.findIndex((s) => s.name === key);
    this.slicesBySvc.set(owner, i >= 0 ? list.map((s, j) => (j === i ? rec : s)) : [...list, rec]);
    this.touch(owner);
  }

  deleteEndpointSlice(namespace: string, name: string): void {
    this.removeSlice(`${namespace}/${name}`);
  }

  private removeSlice(key: string): void {
    const owner = this.sliceOwner.get(key);
    if (owner === undefined) return;
    this.sliceOwner.delete(key);
    const list = this.slicesBySvc.get(owner);
    if (list) {
      const rest = list.filter((s) => s.name !== key);
      if (rest.length === 0) this.slicesBySvc.delete(owner);
      else this.slicesBySvc.set(owner, rest);
    }
    this.touch(owner);
  }

  /** Marks a Service for recomputation if it exists or has a computed state. */
  private touch(name: string): void {
    if (this.svcs.has(name) || this.computed.has(name)) this.dirty.add(name);
  }

  /** This node (for its zone label); undefined when it is unknown or deleted. */
  setNode(node: V1Node | undefined): void {
    const w = new Warnings();
    if (node !== undefined) checkNode(node, w);
    if (JSON.stringify(w.list) !== JSON.stringify(this.nodeWarnings)) {
      this.nodeWarnings = w.list;
      this.nodeWarningsNew = w.list.length > 0;
    }
    const zone = labelValue(node?.metadata?.labels, LABEL_ZONE) || undefined;
    if (zone === this.zone) return;
    this.zone = zone;
    // Hints are used without any annotation, so the Services with zone-hinted endpoints depend on it.
    for (const [owner, list] of this.slicesBySvc) if (list.some((s) => s.zoneHinted)) this.touch(owner);
  }

  /**
   * `nodePortAddrs`: the addresses NodePorts are served on (see nodePortAddresses()); `localAddrs`: every
   * address on the node's interfaces other than kube-ipvs0.
   */
  setNodeAddresses(nodePortAddrs: string[], localAddrs: string[]): void {
    const np = canonicalList(nodePortAddrs);
    const local = new Set(canonicalList(localAddrs));
    if (!sameSet(new Set(np), new Set(this.nodePortAddrs)) || np.length !== this.nodePortAddrs.length) {
      this.nodePortAddrs = np;
      for (const n of this.nodePortDeps) this.dirty.add(n);
    }
    if (!sameSet(local, this.localAddrs)) {
      this.localAddrs = local;
      for (const n of this.localAddrDeps) this.dirty.add(n);
    }
  }

  /** Services touched since the last commit (not yet recomputed). */
  pending(): number {
    return this.dirty.size;
  }

  commit(): ModelChanges {
    return finish(this.commitSteps());
  }

  /**
   * commit() in pieces of Services (see loop/pacer.ts). Changes that arrive between pieces wait for
   * the next commit: the Services to recompute were taken at the start.
   */
  *commitSteps(): Steps<ModelChanges> {
    const changes: ModelChanges = { changedKeys: new Set(), changedServices: [], addressesChanged: false, warnings: [], ipsetAdded: [], ipsetRemoved: [] };
    if (this.nodeWarningsNew) {
      changes.warnings.push(...this.nodeWarnings);
      this.nodeWarningsNew = false;
    }
    if (this.dirty.size === 0) return changes;
    const ctx = this.context();
    const names = [...this.dirty].sort();
    this.dirty.clear();
    let size = yield 0;
    let left = size ?? Infinity;
    for (const name of names) {
      if (left-- <= 0) {
        size = yield size ?? 0;
        left = (size ?? Infinity) - 1;
      }
      const old = this.computed.get(name);
      const svc = this.svcs.get(name);
      const neu = svc ? computeCompact(svc, this.slicesBySvc.get(name) ?? [], ctx) : undefined;
      if (neu) this.computed.set(name, neu);
      else this.computed.delete(name);
      // Keys the Service no longer produces.
      if (old) {
        for (const key of old.virtualServices.keys()) {
          if (!neu?.virtualServices.has(key)) this.release(name, key, changes);
        }
      }
      // Keys it produces now.
      // forEach, not for-of over entries: until TurboFan takes commitSteps' callees (src/config/tiering.ts)
      // each step of a Map's iterator allocated a result and an entry, for every Service of a first commit.
      if (neu) neu.virtualServices.forEach((dvs, key) => this.claim(name, key, dvs, changes));
      // VIPs, reference-counted across Services.
      const oldAddrs = old?.addresses ?? NO_ADDRESSES;
      const newAddrs = neu?.addresses ?? NO_ADDRESSES;
      for (let i = 0; i < oldAddrs.length; i++) if (!newAddrs.includes(oldAddrs[i]!)) this.unref(oldAddrs[i]!, changes);
      for (let i = 0; i < newAddrs.length; i++) if (!oldAddrs.includes(newAddrs[i]!)) this.ref(newAddrs[i]!, changes);
      this.diffIpsets(old, neu, changes);
      if (neu?.healthCheckNodePort) this.withHealthCheck.add(name);
      else this.withHealthCheck.delete(name);
      changes.changedServices.push(name);
      if (neu) {
        if (neu.warnings.length > 0) changes.warnings.push(...neu.warnings);
        const lost = this.conflicts(name);
        if (lost.length > 0) changes.warnings.push(...lost);
      }
    }
    return changes;
  }

  /**
   * `name` produces `key`. Of several Services producing one key, the oldest owns it (creationTimestamp,
   * then namespace/name): the result does not depend on the order the Services arrived in, so a restart
   * programs what was programmed before, and a new Service cannot take over a VIP and port in use.
   */
  private claim(name: string, key: string, dvs: DesiredVirtualService, changes: ModelChanges): void {
    const claim = this.claims.get(key);
    if (claim === undefined) {
      this.claims.set(key, name);
      this.putDesired(key, dvs);
      changes.changedKeys.add(key);
      return;
    }
    const list = typeof claim === 'string' ? [claim] : claim;
    const before = list[0]!;
    if (!list.includes(name)) list.push(name);
    if (list.length > 1) list.sort(this.byAge);
    this.claims.set(key, list.length === 1 ? list[0]! : list);
    const owner = list[0]!;
    if (owner === name) {
      const cur = this.desired.services.get(key);
      if (before !== name || !cur || !sameDesired(cur, dvs)) changes.changedKeys.add(key);
      this.putDesired(key, dvs);
    } else if (before !== owner) {
      const next = this.computed.get(owner)?.virtualServices.get(key);
      this.putDesired(key, next);
      changes.changedKeys.add(key);
    }
    // The Service that owned the key until now is told it lost it.
    if (before !== owner && before !== name) {
      const lost = this.computed.get(before)?.virtualServices.get(key);
      if (lost) changes.warnings.push(conflictWarning(before, key, lost, owner));
    }
  }

  /** Oldest first (creationTimestamp; none counts as newest), then by "namespace/name". */
  private readonly byAge = (a: string, b: string): number => {
    const ta = createdAt(this.svcs.get(a)), tb = createdAt(this.svcs.get(b));
    if (ta !== tb) return ta < tb ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  };

  /** Sets (or, undefined, deletes) one desired virtual service, keeping the count of real servers. */
  private putDesired(key: string, dvs: DesiredVirtualService | undefined): void {
    const services = this.desired.services;
    this.#realServers -= services.get(key)?.servers.size ?? 0;
    if (dvs) {
      services.set(key, dvs);
      this.#realServers += dvs.servers.size;
    } else services.delete(key);
  }

  /**
   * Real servers wanted over every virtual service, as of the last commit: kept as the desired state
   * changes, because counting them walked 10,000 Services after every sync (2-5 ms in the sandbox, in
   * each one-endpoint change's time, and again on every housekeeping tick).
   */
  get realServerCount(): number {
    return this.#realServers;
  }

  private release(name: string, key: string, changes: ModelChanges): void {
    const claim = this.claims.get(key);
    if (claim === undefined) return;
    const list = typeof claim === 'string' ? [claim] : claim;
    const i = list.indexOf(name);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.claims.delete(key);
    else if (list.length === 1) this.claims.set(key, list[0]!);
    if (i !== 0) return;
    if (list.length === 0) {
      this.putDesired(key, undefined);
      changes.changedKeys.add(key);
      return;
    }
    // The next claimant takes the key over.
    const next = this.computed.get(list[0]!)?.virtualServices.get(key);
    this.putDesired(key, next);
    changes.changedKeys.add(key);
  }

  private diffIpsets(old: ServiceDesired | undefined, neu: ServiceDesired | undefined, changes: ModelChanges): void {
    const before: ReadonlySet<IpsetEntryKey> = old ? serviceIpsetEntries(old) : NO_ENTRIES;
    const after: ReadonlySet<IpsetEntryKey> = neu ? serviceIpsetEntries(neu) : NO_ENTRIES;
    before.forEach((e) => {
      if (after.has(e)) return;
      const n = this.ipsetRefs.get(e) ?? 0;
      if (n <= 1) {
        this.ipsetRefs.delete(e);
        this.resize(e, -1);
        changes.ipsetRemoved.push(e);
      } else {
        this.ipsetRefs.set(e, n - 1);
      }
    });
    after.forEach((e) => {
      if (before.has(e)) return;
      const n = this.ipsetRefs.get(e) ?? 0;
      this.ipsetRefs.set(e, n + 1);
      if (n === 0) {
        this.resize(e, 1);
        changes.ipsetAdded.push(e);
      }
    });
  }

  private resize(e: IpsetEntryKey, by: 1 | -1): void {
    const set = e.slice(0, e.indexOf('|', e.indexOf('|') + 1));
    const n = (this.ipsetSizes.get(set) ?? 0) + by;
    if (n > 0) this.ipsetSizes.set(set, n);
    else this.ipsetSizes.delete(set);
  }

  /** The sets of a family that hold entries, by their IPv4 name ("KUBE-CLUSTER-IP"), as of the last commit. */
  nonEmptyIpsets(family: Family): Set<string> {
    const out = new Set<string>();
    for (const k of this.ipsetSizes.keys()) if (k.startsWith(`${family}|`)) out.add(k.slice(family.length + 1));
    return out;
  }

  /** Entries wanted in one set (a family and the set's IPv4 name), as of the last commit. */
  ipsetSize(family: Family, role: IpsetRole): number {
    return this.ipsetSizes.get(`${family}|${role}`) ?? 0;
  }

  get ipsetEntryCount(): number {
    return this.ipsetRefs.size;
  }

  hasIpsetEntry(key: IpsetEntryKey): boolean {
    return this.ipsetRefs.has(key);
  }

  /** Every ipset entry the Services want, as of the last commit (for a full reconcile). */
  ipsetEntries(): Iterable<IpsetEntryKey> {
    return this.ipsetRefs.keys();
  }

  private ref(a: string, changes: ModelChanges): void {
    const n = this.addressRefs.get(a) ?? 0;
    this.addressRefs.set(a, n + 1);
    if (n === 0) {
      this.desired.boundAddresses.add(a);
      changes.addressesChanged = true;
    }
  }

  private unref(a: string, changes: ModelChanges): void {
    const n = this.addressRefs.get(a) ?? 0;
    if (n <= 1) {
      this.addressRefs.delete(a);
      if (this.desired.boundAddresses.delete(a)) changes.addressesChanged = true;
    } else {
      this.addressRefs.set(a, n - 1);
    }
  }

  /** Warnings for the keys another Service owns. */
  private conflicts(name: string): ModelWarning[] {
    const sd = this.computed.get(name);
    let out: ModelWarning[] | undefined;
    sd?.virtualServices.forEach((dvs, key) => {
      const owner = ownerOf(this.claims.get(key));
      if (owner !== undefined && owner !== name) (out ??= []).push(conflictWarning(name, key, dvs, owner));
    });
    return out ?? NO_CONFLICTS;
  }

  /** What each Service contributes (as of the last commit). */
  services(): Iterable<ServiceDesired> {
    return this.computed.values();
  }

  service(namespace: string, name: string): ServiceDesired | undefined {
    return this.computed.get(`${namespace}/${name}`);
  }

  /** How a programmed virtual service came to be (its owner's view), by serviceKeyString. */
  originOf(vsKey: string): DesiredVirtualService | undefined {
    const owner = ownerOf(this.claims.get(vsKey));
    return owner === undefined ? undefined : this.computed.get(owner)?.virtualServices.get(vsKey);
  }

  /** spec.healthCheckNodePort of externalTrafficPolicy: Local Services, with their local ready endpoint counts. */
  healthCheckNodePorts(): Map<number, { service: string; localEndpoints: number }> {
    const out = new Map<number, { service: string; localEndpoints: number }>();
    for (const name of [...this.withHealthCheck].sort()) {
      const hc = this.computed.get(name)?.healthCheckNodePort;
      if (hc && !out.has(hc.port)) out.set(hc.port, { service: name, localEndpoints: hc.localEndpoints });
    }
    return out;
  }

  /** Every current warning, per object, as of the last commit. */
  warnings(): ModelWarning[] {
    const out: ModelWarning[] = [...this.nodeWarnings];
    for (const [name, sd] of this.computed) out.push(...sd.warnings, ...this.conflicts(name));
    return out;
  }
}
