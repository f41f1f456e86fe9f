// What kube-proxy's IPVS mode would program for one Service: its virtual services (per port, per IP
// family, per address kind), their real servers, the VIPs to bind and the health-check node port.
// Pure: the Service, its EndpointSlices and a context in, data out; bad input becomes a warning and the
// rest is still computed. Never throws.
import type { V1Service, V1EndpointSlice, V1Endpoint, V1ServicePort } from '@kubernetes/client-node';
import { SCHEDULERS } from '../ipvs/types.js';
import type { Family, Protocol, RealServer, VirtualService } from '../ipvs/types.js';
import { serviceKeyString, serverKeyString } from '../ipvs/keys.js';
import { parseAddress, formatAddress, familyOf } from '../netlink/address.js';
import { parseCidr, cidrContains, type Cidr } from '../netlink/cidr.js';
import type {
  ModelContext, ModelWarning, ServiceDesired, DesiredVirtualService, EndpointInfo, VsOrigin, ServicePortDesired, PortEndpoint,
} from './types.js';

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';
export const ANNOTATION_TOPOLOGY_MODE = 'service.kubernetes.io/topology-mode';
export const ANNOTATION_TOPOLOGY_HINTS = 'service.kubernetes.io/topology-aware-hints';
export const ANNOTATION_SCHEDULER = 'kipvs.io/scheduler';
export const DEFAULT_AFFINITY_TIMEOUT = 10800;
const MAX_AFFINITY_TIMEOUT = 86400;

const PROTOCOLS: Record<string, Protocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const ADDRESS_TYPES: Record<string, Family> = { IPv4: 'inet', IPv6: 'inet6' };

/**
 * The same text as one flat string. Strings made by concatenation are ropes (a node per part); a key kept
 * in several maps for as long as the object lives is better flat. (NFC leaves these ASCII keys as they are.)
 */
export function flat(s: string): string {
  return s.length < 13 ? s : s.normalize('NFC');
}

export function serviceName(svc: V1Service): string {
  return flat(`${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`);
}

export function sliceName(slice: V1EndpointSlice): string {
  return flat(`${slice.metadata?.namespace ?? 'default'}/${slice.metadata?.name ?? ''}`);
}

/** Services kube-proxy does not handle at all: another proxy's, or labelled headless. */
export function isIgnoredService(svc: V1Service): boolean {
  const labels = svc.metadata?.labels ?? {};
  return LABEL_PROXY_NAME in labels || LABEL_HEADLESS in labels;
}

/** Does this Service's result depend on the node's zone label? */
export function usesTopology(svc: V1Service): boolean {
  return topologyRequested(svc) !== undefined;
}

/** Does it depend on the node's NodePort addresses? */
export function usesNodePorts(svc: V1Service): boolean {
  return (svc.spec?.ports ?? []).some((p) => !!p?.nodePort);
}

/** Does it depend on the node's local addresses (externalIPs, LoadBalancer IPs: bound or not)? */
export function usesLocalAddresses(svc: V1Service): boolean {
  return (svc.spec?.externalIPs?.length ?? 0) > 0 || (svc.status?.loadBalancer?.ingress?.length ?? 0) > 0;
}

/** The annotation or field that asks for topology-aware routing, or undefined. */
function topologyRequested(svc: V1Service): string | undefined {
  const ann = svc.metadata?.annotations ?? {};
  const mode = ann[ANNOTATION_TOPOLOGY_MODE] ?? ann[ANNOTATION_TOPOLOGY_HINTS];
  if (mode === 'Auto' || mode === 'auto') {
    return ann[ANNOTATION_TOPOLOGY_MODE] !== undefined ? `${ANNOTATION_TOPOLOGY_MODE}: ${mode}` : `${ANNOTATION_TOPOLOGY_HINTS}: ${mode}`;
  }
  const td = svc.spec?.trafficDistribution;
  if (td === 'PreferClose' || td === 'PreferSameZone' || td === 'PreferSameNode') return `trafficDistribution: ${td}`;
  return undefined;
}

// ---- Compact input records. The model keeps these instead of whole V1 objects: only what computeService
// reads, with the endpoints' conditions already resolved, and repeated strings (node names, zones, Pod
// namespaces) shared. They are never changed once made, so a computed state may keep referring to them.

const READY = 1;
const SERVING = 2;
const TERMINATING = 4;

/** What an endpoint's rarely present parts hold; `err` is what reading them threw (rethrown where it would have been). */
interface EndpointExtra {
  /** READY | SERVING | TERMINATING */
  f: number;
  zones?: string[] | undefined;
  nodeHints?: string[] | undefined;
  /** targetRef.namespace ("" when absent) when it is not the slice's namespace. */
  podNs?: string | undefined;
  err?: unknown;
}

// A slice's endpoints are packed in one array, STRIDE entries each: addresses[0] as given (validated where
// it is used); flags (READY | SERVING | TERMINATING, or NONE for a null entry), or an EndpointExtra holding
// them when there is more; nodeName; zone; the targetRef name when it is a Pod.
const STRIDE = 5;
const NONE = -1;

/** An EndpointSlice as the model keeps it. */
export interface CompactSlice {
  /** "namespace/name" */
  readonly name: string;
  readonly namespace: string;
  readonly addressType: unknown;
  /** The slice's own ports array (small objects). */
  readonly ports: V1EndpointSlice['ports'];
  /** Packed endpoints (see STRIDE); undefined when the slice has none. */
  readonly eps: readonly unknown[] | undefined;
  /** What reading the endpoints threw, if anything (rethrown where it would have been). */
  readonly err?: unknown;
}

const internTable = new Map<string, string>();
/** One string object per distinct node name, zone, namespace (bounded: the table starts over when large). */
function intern<T>(s: T): T {
  if (typeof s !== 'string') return s;
  const have = internTable.get(s);
  if (have !== undefined) return have as T;
  if (internTable.size >= 65536) internTable.clear();
  internTable.set(s, s);
  return s;
}

const sharedTable = new Map<string, unknown>();
/**
 * One object for equal port lists (most slices, and many Services, have the same few): JSON-equal values
 * share the first one seen (bounded like intern). Never changed by the model.
 */
function shared<T>(value: T): T {
  if (!Array.isArray(value)) return value;
  let key: string;
  try {
    key = JSON.stringify(value);
  } catch {
    return value;
  }
  const have = sharedTable.get(key);
  if (have !== undefined) return have as T;
  if (sharedTable.size >= 4096) sharedTable.clear();
  sharedTable.set(key, value);
  return value;
}

function names(list: unknown): string[] | undefined {
  const l = list as { name?: unknown }[] | undefined;
  if (!l || l.length === 0) return undefined;
  const out: string[] = [];
  for (const z of l) if (z && typeof z.name === 'string' && z.name !== '') out.push(intern(z.name));
  return out.length === 0 ? undefined : out;
}

function put(out: unknown[], i: number, a: unknown, fx: number | EndpointExtra, node: unknown, zone: unknown, podName: unknown): void {
  out[i] = a;
  out[i + 1] = fx;
  out[i + 2] = node;
  out[i + 3] = zone;
  out[i + 4] = podName;
}

function packEndpoint(out: unknown[], i: number, ep: V1Endpoint | null | undefined, namespace: string): void {
  if (!ep) { put(out, i, undefined, NONE, undefined, undefined, undefined); return; }
  const a = ep.addresses?.[0];
  try {
    const c = ep.conditions;
    const ready = c?.ready ?? true;
    const serving = c?.serving ?? ready;
    const f = (ready ? READY : 0) | (serving ? SERVING : 0) | (c?.terminating === true ? TERMINATING : 0);
    const zones = names(ep.hints?.forZones);
    const nodeHints = names(ep.hints?.forNodes);
    const ref = ep.targetRef;
    const isPod = ref?.kind === 'Pod' && !!ref.name;
    const podNs = isPod && (ref!.namespace ?? '') !== namespace ? intern(ref!.namespace ?? '') : undefined;
    const fx = zones || nodeHints || podNs !== undefined ? { f, zones, nodeHints, podNs } : f;
    put(out, i, a, fx, intern(ep.nodeName), intern(ep.zone), isPod ? ref!.name : undefined);
  } catch (err) {
    put(out, i, a, { f: 0, err }, undefined, undefined, undefined);
  }
}

/** The compact form of a slice; `name` is sliceName(slice) when the caller has it. Never throws. */
export function compactSlice(slice: V1EndpointSlice, name?: string): CompactSlice {
  try {
    name ??= sliceName(slice);
  } catch (err) {
    return { name: 'default/', namespace: 'default', addressType: undefined, ports: undefined, eps: undefined, err };
  }
  const namespace = intern(name.slice(0, name.indexOf('/')));
  try {
    const list = slice.endpoints;
    let eps: unknown[] | undefined;
    if (list) {
      if (!Array.isArray(list)) throw new TypeError('endpoints is not an array');
      // Made at its final size. Holes and null entries alike are skipped where they are read.
      eps = new Array<unknown>(list.length * STRIDE);
      for (let k = 0; k < list.length; k++) packEndpoint(eps, k * STRIDE, list[k], namespace);
    }
    return { name, namespace, addressType: intern(slice.addressType), ports: shared(slice.ports), eps };
  } catch (err) {
    return { name, namespace, addressType: slice?.addressType, ports: slice?.ports, eps: undefined, err };
  }
}

/**
 * A Service with only what computeService reads, and of that only what can make a difference: the
 * proxy-name and headless labels, the topology and scheduler annotations, the cluster IPs build() uses,
 * ports, externalIPs, affinity and traffic policies when not the defaults, trafficDistribution,
 * healthCheckNodePort, the load balancer ingress. Arrays are the Service's own. Never throws: a Service too
 * odd to trim is kept whole.
 */
export function compactService(svc: V1Service): V1Service {
  try {
    const md = svc.metadata;
    const metadata: NonNullable<V1Service['metadata']> = {};
    if (md?.namespace !== undefined) metadata.namespace = md.namespace;
    if (md?.name !== undefined) metadata.name = md.name;
    const labels = md?.labels;
    if (labels && (LABEL_PROXY_NAME in labels || LABEL_HEADLESS in labels)) {
      metadata.labels = {};
      for (const k of [LABEL_PROXY_NAME, LABEL_HEADLESS]) if (k in labels) metadata.labels[k] = labels[k]!;
    }
    const ann = md?.annotations;
    if (ann) {
      for (const k of [ANNOTATION_TOPOLOGY_MODE, ANNOTATION_TOPOLOGY_HINTS, ANNOTATION_SCHEDULER]) {
        if (ann[k] !== undefined) (metadata.annotations ??= {})[k] = ann[k]!;
      }
    }
    const spec = svc.spec;
    let trimmed: V1Service['spec'];
    if (spec) {
      const s: NonNullable<V1Service['spec']> = {};
      if (spec.type !== undefined && spec.type !== 'ClusterIP') s.type = spec.type;
      // build() takes clusterIPs when not empty, else clusterIP.
      if (spec.clusterIPs && spec.clusterIPs.length > 0) s.clusterIPs = spec.clusterIPs;
      else if (spec.clusterIP !== undefined) s.clusterIP = spec.clusterIP;
      if (spec.ports !== undefined) s.ports = shared(spec.ports);
      if (spec.externalIPs !== undefined) s.externalIPs = spec.externalIPs;
      if (spec.sessionAffinity === 'ClientIP') {
        s.sessionAffinity = spec.sessionAffinity;
        if (spec.sessionAffinityConfig !== undefined) s.sessionAffinityConfig = spec.sessionAffinityConfig;
      }
      if (spec.externalTrafficPolicy === 'Local') s.externalTrafficPolicy = spec.externalTrafficPolicy;
      if (spec.internalTrafficPolicy === 'Local') s.internalTrafficPolicy = spec.internalTrafficPolicy;
      if (spec.trafficDistribution !== undefined) s.trafficDistribution = spec.trafficDistribution;
      if (spec.healthCheckNodePort !== undefined) s.healthCheckNodePort = spec.healthCheckNodePort;
      if (spec.loadBalancerSourceRanges !== undefined && spec.loadBalancerSourceRanges.length > 0) s.loadBalancerSourceRanges = spec.loadBalancerSourceRanges;
      trimmed = s;
    }
    const ingress = svc.status?.loadBalancer?.ingress;
    // Whole literals: properties added later would live in a separate backing store.
    if (ingress !== undefined) return trimmed ? { metadata, spec: trimmed, status: { loadBalancer: { ingress } } } : { metadata, status: { loadBalancer: { ingress } } };
    return trimmed ? { metadata, spec: trimmed } : { metadata };
  } catch {
    return svc;
  }
}

/** An endpoint while computing (not kept). */
interface Ep {
  address: string;
  port: number;
  key: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  local: boolean;
  zones: string[] | undefined;
  nodeHints: string[] | undefined;
  /** Where it is packed: slice.eps[i...]. */
  slice: CompactSlice;
  i: number;
}

const NO_NOTES: string[] = Object.freeze([]) as unknown as string[];
const NO_WARNINGS: ModelWarning[] = Object.freeze([]) as unknown as ModelWarning[];
const NO_PORTS: ServicePortDesired[] = Object.freeze([]) as unknown as ServicePortDesired[];

class Warnings {
  readonly list: ModelWarning[] = [];
  private seen = new Set<string>();
  add(object: string, field: string, message: string): void {
    const k = `${object}\0${field}\0${message}`;
    if (this.seen.has(k)) return;
    this.seen.add(k);
    this.list.push({ object, field, message });
  }
}

function validIp(text: unknown): { address: string; family: Family } | null {
  if (typeof text !== 'string' || text.includes('%')) return null;
  const bytes = parseAddress(text);
  if (!bytes) return null;
  // Dotted quads that parse are already canonical (no leading zeros); IPv6 text is reformatted.
  return bytes.length === 4 ? { address: text, family: 'inet' } : { address: formatAddress(bytes), family: 'inet6' };
}

const validPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;

function readEndpoint(slice: CompactSlice, i: number, address: string, key: string, port: number, nodeName: string): Ep {
  const eps = slice.eps!;
  const fx = eps[i + 1] as number | EndpointExtra;
  const x = typeof fx === 'number' ? undefined : fx;
  const f = x ? x.f : fx as number;
  const node = eps[i + 2];
  if (x?.err !== undefined) throw x.err;
  return {
    address,
    port,
    key,
    ready: (f & READY) !== 0,
    serving: (f & SERVING) !== 0,
    terminating: (f & TERMINATING) !== 0,
    local: node !== undefined && node === nodeName,
    zones: x?.zones,
    nodeHints: x?.nodeHints,
    slice,
    i,
  };
}

interface Choice {
  servers: Ep[];
  policy: 'Cluster' | 'Local';
  zone?: string | undefined;
  node?: string | undefined;
  notes: string[];
  /** Why an endpoint not chosen was left out (besides not serving), when there is a particular reason. */
  why: (ep: Ep) => string | undefined;
  /** The real servers map, made once and shared by the virtual services with this choice. */
  serverMap?: Map<string, RealServer>;
}

function notChosenReason(ep: Ep, chosen: Set<string>, why: (ep: Ep) => string | undefined): string | undefined {
  if (chosen.has(ep.key)) return undefined;
  if (!ep.serving) return ep.terminating ? 'terminating and not serving' : 'not ready';
  return why(ep) ?? (ep.ready ? 'not chosen' : 'not ready (ready endpoints exist)');
}

/**
 * kube-proxy's categorisation: the cluster set (topology-filtered when hints are usable), the local set,
 * each preferring ready endpoints and falling back to serving-and-terminating ones.
 */
function categorize(eps: Ep[], topology: string | undefined, zone: string | undefined, nodeName: string) {
  const ready = eps.filter((e) => e.ready);
  const notes: string[] = [];
  let cluster: Ep[];
  let usedZone: string | undefined;
  let usedNode: string | undefined;
  if (topology !== undefined && ready.length > 0) {
    // Same node first (hints.forNodes, trafficDistribution PreferSameNode), then same zone (hints.forZones).
    if (ready.some((e) => e.nodeHints)) {
      if (ready.some((e) => !e.nodeHints)) notes.push(`node hints ignored (${topology}): some ready endpoints have none`);
      else if (!ready.some((e) => e.nodeHints!.includes(nodeName))) notes.push(`node hints ignored (${topology}): no endpoint is hinted for node ${nodeName}`);
      else usedNode = nodeName;
    }
    if (usedNode === undefined) {
      const noHints = ready.find((e) => !e.zones);
      if (noHints) notes.push(`topology hints ignored (${topology}): endpoint ${noHints.address} has no zone hints`);
      else if (!zone) notes.push(`topology hints ignored (${topology}): the node has no ${LABEL_ZONE} label`);
      else if (!ready.some((e) => e.zones!.includes(zone))) notes.push(`topology hints ignored (${topology}): no endpoint is hinted for zone ${zone}`);
      else usedZone = zone;
    }
  }
  let clusterNote: string | undefined;
  if (usedNode !== undefined) {
    cluster = ready.filter((e) => e.nodeHints!.includes(usedNode!));
  } else if (usedZone !== undefined) {
    cluster = ready.filter((e) => e.zones!.includes(usedZone!));
  } else if (ready.length > 0) {
    cluster = ready;
  } else {
    cluster = eps.filter((e) => e.serving && e.terminating);
    if (cluster.length > 0) clusterNote = 'no ready endpoints: using serving terminating endpoints';
  }
  const readyLocal = ready.filter((e) => e.local);
  let local: Ep[];
  let localNote: string | undefined;
  if (readyLocal.length > 0) local = readyLocal;
  else {
    local = eps.filter((e) => e.local && e.serving && e.terminating);
    if (local.length > 0) localNote = 'no ready local endpoints: using serving terminating local endpoints';
  }
  return { cluster, local, usedZone, usedNode, notes, clusterNote, localNote };
}

function choose(eps: Ep[], which: 'cluster' | 'local-internal' | 'local-external', cat: ReturnType<typeof categorize>): Choice {
  const notes = [...cat.notes];
  let servers: Ep[];
  let policy: 'Cluster' | 'Local' = 'Cluster';
  let zone: string | undefined;
  let node: string | undefined;
  let why: (ep: Ep) => string | undefined = () => undefined;
  if (which === 'cluster') {
    servers = cat.cluster;
    zone = cat.usedZone;
    node = cat.usedNode;
    if (cat.clusterNote) notes.push(cat.clusterNote);
    if (zone !== undefined) why = (ep) => (ep.ready && !ep.zones?.includes(zone!) ? `not hinted for zone ${zone}` : undefined);
    if (node !== undefined) why = (ep) => (ep.ready && !ep.nodeHints?.includes(node!) ? `not hinted for node ${node}` : undefined);
  } else {
    policy = 'Local';
    // Topology does not apply to the local path.
    notes.length = 0;
    if (cat.local.length > 0) {
      servers = cat.local;
      if (cat.localNote) notes.push(cat.localNote);
      why = (ep) => (!ep.local ? `not on this node (${which === 'local-internal' ? 'internal' : 'external'}TrafficPolicy: Local)` : undefined);
    } else if (which === 'local-internal') {
      servers = [];
      notes.push('internalTrafficPolicy Local: no local endpoints, so no real servers');
      why = () => 'not on this node (internalTrafficPolicy: Local)';
    } else {
      servers = cat.cluster;
      zone = cat.usedZone;
      node = cat.usedNode;
      notes.push(...cat.notes, 'externalTrafficPolicy Local: no local endpoints, falling back to all endpoints');
      if (cat.clusterNote) notes.push(cat.clusterNote);
    }
  }
  return { servers, policy, zone, node, notes, why };
}

/** What of the context a Service's endpoints were chosen with (one per computed Service). */
interface ChoiceContext {
  nodeName: string;
  topology: string | undefined;
  zone: string | undefined;
}

type Which = 'cluster' | 'local-internal' | 'local-external';
const WHICH: readonly Which[] = ['cluster', 'local-internal', 'local-external'];
const BOUND = 4;

/**
 * A computed virtual service. `endpoints` (only `kipvs list`/`explain` read them) is not kept: it is
 * computed again on each read from the compact slices of the commit, which do not change, with the port
 * name and protocol of its origin and the family of its service.
 */
class ComputedVs implements DesiredVirtualService {
  readonly #slices: readonly CompactSlice[];
  readonly #cc: ChoiceContext;
  /** Index in WHICH, | BOUND when its address is bound on kube-ipvs0. */
  readonly #flags: number;
  constructor(
    readonly service: VirtualService,
    readonly servers: Map<string, RealServer>,
    readonly origin: VsOrigin,
    slices: readonly CompactSlice[],
    cc: ChoiceContext,
    which: Which,
    bound: boolean,
  ) {
    this.#slices = slices;
    this.#cc = cc;
    this.#flags = WHICH.indexOf(which) | (bound ? BOUND : 0);
  }

  get bound(): boolean {
    return (this.#flags & BOUND) !== 0;
  }

  /** The endpoints of this virtual service's slice port, collected again from its commit's slices. */
  #collect(): Ep[] {
    return collectEndpoints(this.#slices, this.origin.portName, this.origin.protocol, this.service.family, this.#cc.nodeName, new Warnings());
  }

  localEndpoints(): { address: string; port: number }[] {
    try {
      return this.#collect().filter((e) => e.local);
    } catch {
      return [];
    }
  }

  get endpoints(): Map<string, EndpointInfo> {
    const out = new Map<string, EndpointInfo>();
    const c = this.#cc;
    try {
      const eps = this.#collect();
      const choice = choose(eps, WHICH[this.#flags & 3]!, categorize(eps, c.topology, c.zone, c.nodeName));
      const chosen = new Set(choice.servers.map((e) => e.key));
      for (const e of eps) {
        const used = chosen.has(e.key);
        const info: EndpointInfo = {
          address: e.address, port: e.port, ready: e.ready, serving: e.serving, terminating: e.terminating, local: e.local, used,
        };
        const packed = e.slice.eps!;
        const podName = packed[e.i + 4] as string | undefined;
        const node = packed[e.i + 2] as string | undefined;
        const zone = packed[e.i + 3] as string | undefined;
        const fx = packed[e.i + 1] as number | EndpointExtra;
        if (podName !== undefined) info.pod = `${(typeof fx === 'number' ? undefined : fx.podNs) ?? e.slice.namespace}/${podName}`;
        if (node !== undefined) info.node = node;
        if (zone !== undefined) info.zone = zone;
        const reason = notChosenReason(e, chosen, choice.why);
        if (reason !== undefined && !used) info.reason = reason;
        out.set(e.key, info);
      }
    } catch {
      // The same inputs computed without error at commit; nothing to add.
    }
    return out;
  }
}

/** One Service's contribution; its `addresses` are those of its virtual services that are bound. */
class ComputedService implements ServiceDesired {
  readonly virtualServices = new Map<string, ComputedVs>();
  ports: ServicePortDesired[] = NO_PORTS;
  declare healthCheckNodePort?: { port: number; localEndpoints: number };
  constructor(readonly name: string, public warnings: ModelWarning[]) {}

  get addresses(): Set<string> {
    const out = new Set<string>();
    for (const d of this.virtualServices.values()) if (d.bound) out.add(d.service.address!);
    return out;
  }
}

/** Computes one Service's contribution. `slices` are the Service's EndpointSlices (any family). */
export function computeService(svc: V1Service, slices: Iterable<V1EndpointSlice>, ctx: ModelContext): ServiceDesired {
  return computeCompact(svc, [...slices].map((s) => compactSlice(s)), ctx);
}

/** computeService on the compact records the model keeps (see compactService, compactSlice). */
export function computeCompact(svc: V1Service, slices: readonly CompactSlice[], ctx: ModelContext): ServiceDesired {
  const name = serviceName(svc);
  const object = `Service ${name}`;
  const w = new Warnings();
  const out = new ComputedService(name, w.list);
  try {
    build(svc, slices, ctx, out, w);
  } catch (err) {
    // Defensive: malformed objects of shapes the types do not allow must not stop the model.
    w.add(object, 'spec', `could not be processed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (out.warnings.length === 0) out.warnings = NO_WARNINGS;
  return out;
}

function build(svc: V1Service, slices: readonly CompactSlice[], ctx: ModelContext, out: ComputedService, w: Warnings): void {
  const name = out.name;
  const object = `Service ${name}`;
  const spec = svc.spec;
  if (!spec || isIgnoredService(svc)) return;
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName') return;
  const clusterIPs = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const ipsField = spec.clusterIPs && spec.clusterIPs.length > 0 ? 'spec.clusterIPs' : 'spec.clusterIP';
  if (clusterIPs.length === 0 || clusterIPs[0] === 'None' || clusterIPs[0] === '') return;

  // Scheduler: the per-Service annotation, else the configured one (default rr).
  const dflt = ctx.config.scheduler || 'rr';
  let scheduler = dflt;
  const ann = svc.metadata?.annotations?.[ANNOTATION_SCHEDULER];
  if (ann !== undefined) {
    if ((SCHEDULERS as readonly string[]).includes(ann)) scheduler = ann;
    else w.add(object, `metadata.annotations[${ANNOTATION_SCHEDULER}]`, `unknown scheduler "${ann}" (one of ${SCHEDULERS.join(' ')}); using ${dflt}`);
  }
  // Session affinity.
  let persistent: VirtualService['persistent'];
  if (spec.sessionAffinity === 'ClientIP') {
    let timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_AFFINITY_TIMEOUT) {
      w.add(object, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', `${timeout} is not from 1 to ${MAX_AFFINITY_TIMEOUT}; using ${DEFAULT_AFFINITY_TIMEOUT}`);
      timeout = DEFAULT_AFFINITY_TIMEOUT;
    }
    persistent = { timeout };
  }
  const externallyAccessible = type === 'NodePort' || type === 'LoadBalancer' || (spec.externalIPs?.length ?? 0) > 0;
  const eLocal = spec.externalTrafficPolicy === 'Local' && externallyAccessible;
  const iLocal = spec.internalTrafficPolicy === 'Local';
  const topology = topologyRequested(svc);
  const cc: ChoiceContext = { nodeName: ctx.config.nodeName, topology, zone: ctx.zone || undefined };

  // Cluster IPs by family (the first of each family, as kube-proxy takes).
  const cipByFamily = new Map<Family, { address: string; field: string }>();
  clusterIPs.forEach((ip, i) => {
    const v = validIp(ip);
    const field = ipsField === 'spec.clusterIPs' ? `spec.clusterIPs[${i}]` : 'spec.clusterIP';
    if (!v) { w.add(object, field, `"${ip}" is not an IP address`); return; }
    if (!cipByFamily.has(v.family)) cipByFamily.set(v.family, { address: v.address, field });
  });

  // Validate the ports once.
  const ports: { port: V1ServicePort; index: number; protocol: Protocol; portName: string }[] = [];
  const seenPorts = new Set<string>();
  (spec.ports ?? []).forEach((port, i) => {
    const protoText = port?.protocol ?? 'TCP';
    const protocol = PROTOCOLS[protoText];
    if (!protocol) { w.add(object, `spec.ports[${i}].protocol`, `unknown protocol "${protoText}" (TCP, UDP or SCTP)`); return; }
    if (!validPort(port.port)) { w.add(object, `spec.ports[${i}].port`, `${String(port.port)} is not from 1 to 65535`); return; }
    const dup = `${protocol}/${port.port}`;
    if (seenPorts.has(dup)) { w.add(object, `spec.ports[${i}]`, `duplicate port ${port.port}/${protoText}; ignored`); return; }
    seenPorts.add(dup);
    ports.push({ port, index: i, protocol, portName: port.name ?? '' });
  });

  // External addresses by family, validated once.
  const externalIPs: { address: string; family: Family; field: string }[] = [];
  (spec.externalIPs ?? []).forEach((ip, i) => {
    const v = validIp(ip);
    if (!v) { w.add(object, `spec.externalIPs[${i}]`, `"${ip}" is not an IP address`); return; }
    externalIPs.push({ ...v, field: `spec.externalIPs[${i}]` });
  });
  const lbIPs: { address: string; family: Family; field: string }[] = [];
  (svc.status?.loadBalancer?.ingress ?? []).forEach((ing, i) => {
    if (!ing || ing.ip === undefined || ing.ip === '') return; // hostname-only ingress: nothing to program
    const v = validIp(ing.ip);
    if (!v) { w.add(object, `status.loadBalancer.ingress[${i}].ip`, `"${ing.ip}" is not an IP address`); return; }
    if (ing.ipMode === 'Proxy') return;
    lbIPs.push({ ...v, field: `status.loadBalancer.ingress[${i}].ip` });
  });

  // loadBalancerSourceRanges: who may reach the load balancer IPs (KUBE-LOAD-BALANCER-FW and its
  // source sets). A range that contains a node address also lets the node itself in.
  const sourceRanges: Cidr[] = [];
  (spec.loadBalancerSourceRanges ?? []).forEach((text, i) => {
    const c = typeof text === 'string' ? parseCidr(text.trim()) : null;
    if (!c) { w.add(object, `spec.loadBalancerSourceRanges[${i}]`, `"${String(text)}" is not a CIDR`); return; }
    sourceRanges.push(c);
  });

  // Slices by family (FQDN slices are not for proxies). The computed virtual services keep these arrays:
  // `slices` itself when it is all of one family (the model never changes an array it passed in).
  const sliceFamily = (s: CompactSlice) => ADDRESS_TYPES[s.addressType as string];
  const slicesOf = (family: Family): readonly CompactSlice[] =>
    slices.every((s) => sliceFamily(s) === family) ? slices : slices.filter((s) => sliceFamily(s) === family);

  const localReady = new Set<string>();
  for (const family of ctx.config.families) {
    const cip = cipByFamily.get(family);
    if (!cip) continue;
    const famSlices = slicesOf(family);
    for (const { port, index, protocol, portName } of ports) {
      const eps = collectEndpoints(famSlices, portName, protocol, family, ctx.config.nodeName, w);
      for (const e of eps) if (e.local && e.ready) localReady.add(e.address);
      const cat = categorize(eps, topology, ctx.zone || undefined, ctx.config.nodeName);
      if (ctx.config.backend === 'iptables') {
        const nodePort = checkedNodePort(port, index, object, w);
        const ranges = sourceRanges.filter((c) => c.family === family);
        const sp: ServicePortDesired = {
          name: portName === '' ? name : flat(`${name}:${portName}`),
          service: name, portName, family, protocol, port: port.port, clusterIP: cip.address,
          externalIPs: externalIPs.filter((e) => e.family === family).map((e) => e.address),
          loadBalancerIPs: lbIPs.filter((e) => e.family === family).map((e) => e.address),
          // A range of every address restricts nothing.
          sourceRanges: ranges.some((c) => c.prefix === 0) ? [] : ranges.map((c) => c.text),
          internalLocal: iLocal, externalLocal: eLocal,
          clusterEndpoints: cat.cluster.map(portEndpoint),
          localEndpoints: cat.local.map(portEndpoint),
          hasEndpoints: eps.some((e) => e.ready || (e.serving && e.terminating)),
          notes: [...cat.notes, ...(cat.clusterNote ? [cat.clusterNote] : []), ...(eps.length === 0 ? ['no endpoints'] : [])],
        };
        if (nodePort !== undefined) sp.nodePort = nodePort;
        if (persistent) sp.affinitySeconds = persistent.timeout;
        if (out.ports === NO_PORTS) out.ports = [];
        out.ports.push(sp);
        continue;
      }
      const internal = choose(eps, iLocal ? 'local-internal' : 'cluster', cat);
      const internalWhich = iLocal ? 'local-internal' : 'cluster';
      const externalWhich = eLocal ? 'local-external' : 'cluster';
      const external = eLocal ? choose(eps, 'local-external', cat) : internal.policy === 'Cluster' ? internal : choose(eps, 'cluster', cat);
      const add = (kind: VsOrigin['kind'], address: string, vport: number, choice: Choice, field: string, bind: boolean) => {
        const vs: VirtualService = { family, protocol, address, port: vport, scheduler };
        if (persistent) vs.persistent = { ...persistent };
        if (scheduler === 'mh') vs.schedulerFlags = { mhPort: true };
        const key = flat(serviceKeyString(vs));
        if (out.virtualServices.has(key)) {
          const prev = out.virtualServices.get(key)!.origin;
          w.add(object, field, `${kind} ${describeVs(vs)} duplicates the ${prev.kind} virtual service from ${prev.field ?? 'spec'}; ignored`);
          return;
        }
        let servers = choice.serverMap;
        if (!servers) {
          servers = new Map<string, RealServer>();
          for (const e of choice.servers) servers.set(e.key, { address: e.address, port: e.port, forward: 'masq', weight: 1 });
          choice.serverMap = servers;
        }
        const notes = eps.length === 0 ? [...choice.notes, 'no endpoints'] : choice.notes.length > 0 ? [...choice.notes] : NO_NOTES;
        const origin: VsOrigin = {
          service: name, portName, servicePort: port.port, protocol, kind, trafficPolicy: choice.policy, notes, field,
        };
        if (choice.zone !== undefined) origin.topologyZone = choice.zone;
        if (choice.node !== undefined) origin.topologyNode = choice.node;
        const which = choice === internal ? internalWhich : externalWhich;
        out.virtualServices.set(key, new ComputedVs(vs, servers, origin, famSlices, cc, which, bind));
      };
      add('ClusterIP', cip.address, port.port, internal, cip.field, true);
      for (const ext of externalIPs) {
        if (ext.family !== family) continue;
        add('ExternalIP', ext.address, port.port, external, ext.field, !ctx.localAddresses.has(ext.address));
      }
      for (const lb of lbIPs) {
        if (lb.family !== family) continue;
        add('LoadBalancer', lb.address, port.port, external, lb.field, !ctx.localAddresses.has(lb.address));
        const ranges = sourceRanges.filter((c) => c.family === family);
        // A range of every address (0.0.0.0/0, ::/0) restricts nothing, and ipset cannot hold it.
        if (ranges.length > 0 && !ranges.some((c) => c.prefix === 0)) {
          const origin = out.virtualServices.get(flat(serviceKeyString({ family, protocol, address: lb.address, port: port.port })))?.origin;
          if (origin?.kind === 'LoadBalancer') {
            origin.sourceRanges = ranges.map((c) => c.text);
            origin.allowFromNode = [...ctx.localAddresses].some((a) => ranges.some((c) => cidrContains(c, a)));
          }
        }
      }
      const nodePort = checkedNodePort(port, index, object, w);
      if (nodePort !== undefined) {
        for (const nodeIp of ctx.nodePortAddresses) {
          if (familyOf(nodeIp) !== family) continue;
          add('NodePort', nodeIp, nodePort, external, `spec.ports[${index}].nodePort`, false);
        }
      }
    }
  }
  if (eLocal && spec.healthCheckNodePort) {
    if (!validPort(spec.healthCheckNodePort)) w.add(object, 'spec.healthCheckNodePort', `${String(spec.healthCheckNodePort)} is not from 1 to 65535`);
    else out.healthCheckNodePort = { port: spec.healthCheckNodePort, localEndpoints: localReady.size };
  }
}

/** The port's nodePort when it has a valid one (a bad one is a warning). */
function checkedNodePort(port: V1ServicePort, index: number, object: string, w: Warnings): number | undefined {
  if (port.nodePort === undefined || port.nodePort === null || port.nodePort === 0) return undefined;
  if (validPort(port.nodePort)) return port.nodePort;
  w.add(object, `spec.ports[${index}].nodePort`, `${String(port.nodePort)} is not from 1 to 65535`);
  return undefined;
}

const portEndpoint = (e: Ep): PortEndpoint => ({ address: e.address, port: e.port, local: e.local });

function describeVs(vs: VirtualService): string {
  const host = vs.family === 'inet6' ? `[${vs.address}]` : vs.address;
  return `${vs.protocol!.toUpperCase()} ${host}:${vs.port}`;
}

/** Endpoints of the slice ports that match the Service port by name and protocol, deduplicated by address/port. */
function collectEndpoints(slices: readonly CompactSlice[], portName: string, protocol: Protocol, family: Family, nodeName: string, w: Warnings): Ep[] {
  const out: Ep[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    const sobj = `EndpointSlice ${slice.name}`;
    (slice.ports ?? []).forEach((sp, j) => {
      if (!sp) return;
      const spProto = PROTOCOLS[sp.protocol ?? 'TCP'];
      if (!spProto) { w.add(sobj, `ports[${j}].protocol`, `unknown protocol "${sp.protocol}" (TCP, UDP or SCTP)`); return; }
      if ((sp.name ?? '') !== portName || spProto !== protocol) return;
      if (!validPort(sp.port)) { w.add(sobj, `ports[${j}].port`, `${String(sp.port)} is not from 1 to 65535`); return; }
      if (slice.err !== undefined) throw slice.err;
      const eps = slice.eps ?? [];
      for (let i = 0, k = 0; i < eps.length; i += STRIDE, k++) {
        if (eps[i + 1] === NONE) continue;
        const raw = eps[i];
        const v = validIp(raw);
        if (!v) { w.add(sobj, `endpoints[${k}].addresses[0]`, `"${String(raw)}" is not an IP address`); continue; }
        if (v.family !== family) {
          w.add(sobj, `endpoints[${k}].addresses[0]`, `${v.address} is not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address (addressType ${String(slice.addressType)})`);
          continue;
        }
        const key = flat(serverKeyString({ address: v.address, port: sp.port! }));
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(readEndpoint(slice, i, v.address, key, sp.port!, nodeName));
      }
    });
  }
  return out;
}
