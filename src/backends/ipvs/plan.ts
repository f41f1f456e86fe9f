// What to change in the kernel: a pure comparison of the desired IPVS state with a model of what the
// kernel holds. No I/O here; the engine applies the plan and updates its model from the results.
import type { VirtualService, RealServer, ServiceInfo, RealServerInfo, Operation, Protocol } from '../../ipvs/types.js';
import { serviceKeyString, serverKeyString } from '../../ipvs/keys.js';
import { defaultNetmask } from '../../ipvs/validate.js';
import type { DesiredIpvs } from '../../model/types.js';
import { finish, type Steps } from '../../loop/pacer.js';

export type { DesiredIpvs, DesiredService } from '../../model/types.js';

/**
 * A real server as the kernel holds it: as read from a dump, or, after kipvs added or changed it, the
 * very RealServer it sent (shared with the desired state, never modified: at 100,000 real servers a
 * copy of each costs about 13 MB).
 */
export type KernelServer = RealServerInfo | RealServer;

/** What the kernel holds, as last read or as last changed by kipvs. */
export interface KernelService {
  service: ServiceInfo;
  /** A Map of its own, or, while `shared`, the desired state's (a ServerTable, read-only). */
  servers: ReadonlyMap<string, KernelServer>;
  /**
   * `servers` is the desired state's table of them (read-only, perhaps held by other entries too),
   * kept while the kernel holds exactly those real servers: at 10,000 services a Map of its own for
   * each (its table and a key string per server) cost about 10 MB. The engine copies it into a Map of
   * its own before a change (ownServers).
   */
  shared?: boolean;
}

export interface KernelModel {
  services: Map<string, KernelService>;
  boundAddresses: Set<string>;
}

/** A real server being drained: weight 0 until it has no connections, then deleted. */
export interface DrainingServer {
  serviceKey: string;
  service: ServiceInfo;
  server: KernelServer;
  since: number;
}

export interface Plan {
  operations: Operation[];
  bind: string[];
  unbind: string[];
  /** Real servers that this plan sets to weight 0 and that must then drain (TCP). */
  drain: { serviceKey: string; server: KernelServer }[];
  /** Real servers that came back while draining (their weight is restored by `operations`). */
  undrain: { serviceKey: string; serverKey: string }[];
}

export interface PlanOptions {
  /** Is this kernel virtual service kipvs' to delete or change? (Bound VIP, node address, created by kipvs.) */
  owns(key: string, service: ServiceInfo): boolean;
  /** Never deleted, whoever owns them (ipvs.excludeCIDRs). A wanted one is still created and updated, as in kube-proxy. */
  excluded(service: ServiceInfo): boolean;
  /** Services to compare; all when absent (a full reconcile). */
  only?: Iterable<string>;
  /** Real servers already draining, by `${serviceKey}|${serverKey}` (a set, or the engine's map). */
  draining: { has(key: string): boolean; keys(): Iterable<string> };
  /**
   * Compare the VIPs to bind (default true). An incremental sync whose model commit bound or unbound
   * no VIP skips it: two walks over every address, in each one-endpoint change's time (about 40 ms of
   * its 45 at 50,000 Services in the sandbox, where the change took twice as long as at 10,000).
   */
  addresses?: boolean;
}

export function sameService(want: VirtualService, have: ServiceInfo): boolean {
  const wf = want.schedulerFlags ?? {};
  const hf = have.schedulerFlags ?? {};
  return want.scheduler === have.scheduler
    && (want.onePacket ?? false) === have.onePacket
    && (want.persistent?.timeout ?? 0) === (have.persistent?.timeout ?? 0)
    && (want.persistent ? (want.persistent.netmask ?? defaultNetmask(want.family)) === have.persistent?.netmask : true)
    && !!wf.shFallback === !!hf.shFallback && !!wf.shPort === !!hf.shPort
    && !!wf.mhFallback === !!hf.mhFallback && !!wf.mhPort === !!hf.mhPort
    && (want.pe ?? undefined) === (have.pe ?? undefined);
}

export function sameServer(want: RealServer, have: KernelServer): boolean {
  return want === have || ((want.forward ?? 'masq') === (have.forward ?? 'masq')
    && (want.weight ?? 1) === (have.weight ?? 1)
    && (want.upperThreshold ?? 0) === (have.upperThreshold ?? 0)
    && (want.lowerThreshold ?? 0) === (have.lowerThreshold ?? 0));
}

/** Only TCP connections can be drained; UDP and SCTP servers go at once (see expire_nodest_conn). */
function drains(protocol: Protocol | undefined): boolean {
  return protocol === 'tcp';
}

export function plan(desired: DesiredIpvs, kernel: KernelModel, opts: PlanOptions): Plan {
  return finish(planSteps(desired, kernel, opts));
}

/**
 * Every service a full sync compares (wanted, or in the kernel), in slices of `size`: the desired
 * state's order first, then the kernel's services not wanted.
 */
export function sliceKeys(desired: DesiredIpvs, kernel: KernelModel, size: number): string[][] {
  const out: string[][] = [];
  let slice: string[] = [];
  const add = (key: string): void => {
    if (slice.length === size) {
      out.push(slice);
      slice = [];
    }
    slice.push(key);
  };
  for (const key of desired.services.keys()) add(key);
  for (const key of kernel.services.keys()) if (!desired.services.has(key)) add(key);
  out.push(slice);
  return out;
}

/** plan() in pieces (see loop/pacer.ts), each yielding the number of services it compared. */
export function* planSteps(desired: DesiredIpvs, kernel: KernelModel, opts: PlanOptions): Steps<Plan> {
  const out: Plan = { operations: [], bind: [], unbind: [], drain: [], undrain: [] };
  let keys: Set<string>;
  if (opts.only) keys = new Set(opts.only);
  else {
    keys = new Set(desired.services.keys());
    for (const key of kernel.services.keys()) keys.add(key);
  }
  // The services with a real server draining (during a rollout a few): only their servers are looked
  // up by draining key. A no-op reconcile at 10,000 services made one such key per server.
  const drainingIn = new Set<string>();
  for (const k of opts.draining.keys()) drainingIn.add(k.slice(0, k.indexOf('|')));
  let size = yield 0;
  let left = size ?? Infinity;
  for (const key of keys) {
    if (left-- <= 0) {
      size = yield size ?? 0;
      left = (size ?? Infinity) - 1;
    }
    const want = desired.services.get(key);
    const have = kernel.services.get(key);
    // Not wanted: deleted only when it is ours and not excluded.
    if (have && !want && (opts.excluded(have.service) || !opts.owns(key, have.service))) continue;
    if (want && !have) {
      out.operations.push({ op: 'add-service', service: want.service });
      for (const server of want.servers.values()) out.operations.push({ op: 'add-server', service: want.service, server });
      continue;
    }
    if (!want && have) {
      out.operations.push({ op: 'delete-service', service: have.service });
      continue;
    }
    if (!want || !have) continue;
    if (!sameService(want.service, have.service)) out.operations.push({ op: 'update-service', service: want.service });
    // The kernel model shares the desired table while the kernel holds exactly those servers (the
    // steady state): nothing to compare, unless one of them drains.
    const draining = drainingIn.has(key);
    if (want.servers === have.servers && !draining) continue;
    for (const [sk, server] of want.servers) {
      const cur = have.servers.get(sk);
      if (!cur) out.operations.push({ op: 'add-server', service: want.service, server });
      else if (!sameServer(server, cur)) out.operations.push({ op: 'update-server', service: want.service, server });
      if (cur && draining && opts.draining.has(`${key}|${sk}`)) out.undrain.push({ serviceKey: key, serverKey: sk });
    }
    for (const [sk, cur] of have.servers) {
      if (want.servers.has(sk)) continue;
      if (!drains(have.service.protocol)) {
        out.operations.push({ op: 'delete-server', service: have.service, server: cur });
      } else if (!draining || !opts.draining.has(`${key}|${sk}`)) {
        if ((cur.weight ?? 1) !== 0) out.operations.push({ op: 'update-server', service: have.service, server: { ...cur, weight: 0 } });
        out.drain.push({ serviceKey: key, server: cur });
      }
    }
  }
  // Two set walks, and only differences become netlink requests.
  if (opts.addresses ?? true) {
    for (const a of desired.boundAddresses) if (!kernel.boundAddresses.has(a)) out.bind.push(a);
    for (const a of kernel.boundAddresses) if (!desired.boundAddresses.has(a)) out.unbind.push(a);
  }
  return out;
}

export { serviceKeyString, serverKeyString };
