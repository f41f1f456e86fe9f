// Compact input records. The model keeps these instead of whole V1 objects: only what computeService
// reads, with the endpoints' conditions already resolved, and repeated strings (node names, zones, Pod
// namespaces) shared. They are never changed once made, so a computed state may keep referring to them.
// Separate because their layout is tuned for memory (the model holds one per Service and EndpointSlice);
// endpoints.ts and compute.ts read the packed endpoints through STRIDE and the flags exported here.
import type { V1Service, V1EndpointSlice, V1Endpoint } from '@kubernetes/client-node';
import {
  LABEL_PROXY_NAME, LABEL_HEADLESS, ANNOTATION_SCHEDULER, sliceName,
} from './labels.js';

export const READY = 1;
export const SERVING = 2;
export const TERMINATING = 4;

/** What an endpoint's rarely present parts hold; `err` is what reading them threw (rethrown where it would have been). */
export interface EndpointExtra {
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
export const STRIDE = 5;
export const NONE = -1;

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
  /** Some endpoint has zone hints: the result then depends on the node's zone label. */
  readonly zoneHinted?: true;
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
    const out: CompactSlice = { name, namespace, addressType: intern(slice.addressType), ports: shared(slice.ports), eps };
    return eps?.some((fx, i) => i % STRIDE === 1 && typeof fx === 'object' && fx !== null && (fx as EndpointExtra).zones !== undefined)
      ? { ...out, zoneHinted: true } : out;
  } catch (err) {
    return { name, namespace, addressType: slice?.addressType, ports: slice?.ports, eps: undefined, err };
  }
}

/**
 * A Service with only what computeService reads, and of that only what can make a difference: the
 * proxy-name and headless labels, the scheduler annotation, the cluster IPs build() uses,
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
      if (ann[ANNOTATION_SCHEDULER] !== undefined) metadata.annotations = { [ANNOTATION_SCHEDULER]: ann[ANNOTATION_SCHEDULER] };
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
