// Compact input records. The model keeps these instead of whole V1 objects: only what computeService
// reads, with the endpoints' conditions already resolved, and repeated strings (node names, zones, Pod
// namespaces) shared. They are never changed once made, so a computed state may keep referring to them.
// Separate because their layout is tuned for memory (the model holds one per Service and EndpointSlice);
// endpoints.ts and compute.ts read the packed endpoints through STRIDE and the flags exported here.
import type { V1Service, V1EndpointSlice, V1Endpoint } from '@kubernetes/client-node';
import {
  LABEL_PROXY_NAME, LABEL_HEADLESS, ANNOTATION_SCHEDULER, sliceName,
} from './labels.js';
import { LIMITS, badName, isRecord } from './shape.js';
import { show } from './validate.js';

export const READY = 1;
export const SERVING = 2;
export const TERMINATING = 4;

/** A field of an object that is wrong, and why (the model warns, naming the object and the field). */
export interface Problem {
  field: string;
  message: string;
}

/** What an endpoint's rarely present parts hold; `bad` says why the endpoint is not usable at all. */
export interface EndpointExtra {
  /** READY | SERVING | TERMINATING */
  f: number;
  zones?: string[] | undefined;
  nodeHints?: string[] | undefined;
  /** targetRef.namespace ("" when absent) when it is not the slice's namespace. */
  podNs?: string | undefined;
  bad?: Problem;
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
  /** Why the whole slice is not usable (a bad name, endpoints that are not a list or too many): it is ignored. */
  readonly problem?: Problem;
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
  // Long lists are not worth a key of their whole text.
  if (!Array.isArray(value) || value.length > 16) return value;
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

/** The names of hints.forZones / forNodes; null when the list is not a list of objects. */
function names(list: unknown): string[] | undefined | null {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) return null;
  if (list.length === 0) return undefined;
  const out: string[] = [];
  for (const z of list as unknown[]) {
    if (!isRecord(z)) return null;
    if (typeof z.name === 'string' && z.name !== '') out.push(intern(z.name));
  }
  return out.length === 0 ? undefined : out;
}


/** Why an endpoint's fields are not of Kubernetes' types (field relative to the endpoint), if they are not. */
function endpointProblem(ep: Record<string, unknown>): Problem | undefined {
  const a = ep.addresses;
  if (!Array.isArray(a) || a.length === 0) return { field: 'addresses', message: `must be a non-empty list, not ${show(a)}` };
  if (a.length > LIMITS.endpointAddresses) return { field: 'addresses', message: `has ${a.length} entries, more than ${LIMITS.endpointAddresses}` };
  const c = ep.conditions;
  if (c !== undefined && c !== null) {
    if (!isRecord(c)) return { field: 'conditions', message: `must be an object, not ${show(c)}` };
    for (const k of ['ready', 'serving', 'terminating']) {
      const v = c[k];
      if (v !== undefined && v !== null && typeof v !== 'boolean') return { field: `conditions.${k}`, message: `must be true or false, not ${show(v)}` };
    }
  }
  for (const k of ['nodeName', 'zone']) {
    const v = ep[k];
    if (v !== undefined && v !== null && typeof v !== 'string') return { field: k, message: `must be a string, not ${show(v)}` };
  }
  const h = ep.hints;
  if (h !== undefined && h !== null) {
    if (!isRecord(h)) return { field: 'hints', message: `must be an object, not ${show(h)}` };
    for (const k of ['forZones', 'forNodes']) {
      if (names(h[k]) === null) return { field: `hints.${k}`, message: `must be a list of objects with a name, not ${show(h[k])}` };
    }
  }
  const r = ep.targetRef;
  if (r !== undefined && r !== null && !isRecord(r)) return { field: 'targetRef', message: `must be an object, not ${show(r)}` };
  return undefined;
}

function put(out: unknown[], i: number, a: unknown, fx: number | EndpointExtra, node: unknown, zone: unknown, podName: unknown): void {
  out[i] = a;
  out[i + 1] = fx;
  out[i + 2] = node;
  out[i + 3] = zone;
  out[i + 4] = podName;
}

function packEndpoint(out: unknown[], i: number, ep: V1Endpoint | null | undefined, namespace: string): void {
  if (!isRecord(ep)) {
    put(out, i, undefined, { f: 0, bad: { field: '', message: `must be an object, not ${show(ep)}` } }, undefined, undefined, undefined);
    return;
  }
  const bad = endpointProblem(ep as Record<string, unknown>);
  if (bad) { put(out, i, undefined, { f: 0, bad }, undefined, undefined, undefined); return; }
  const a = ep.addresses[0];
  const c = ep.conditions;
  const ready = c?.ready ?? true;
  const serving = c?.serving ?? ready;
  const f = (ready ? READY : 0) | (serving ? SERVING : 0) | (c?.terminating === true ? TERMINATING : 0);
  const zones = names(ep.hints?.forZones) ?? undefined;
  const nodeHints = names(ep.hints?.forNodes) ?? undefined;
  const ref = ep.targetRef;
  const isPod = ref?.kind === 'Pod' && typeof ref.name === 'string' && ref.name !== '';
  const podNs = isPod && (ref!.namespace ?? '') !== namespace ? intern(String(ref!.namespace ?? '')) : undefined;
  const fx = zones || nodeHints || podNs !== undefined ? { f, zones, nodeHints, podNs } : f;
  put(out, i, a, fx, intern(ep.nodeName ?? undefined), intern(ep.zone ?? undefined), isPod ? ref!.name : undefined);
}

/** Why a whole slice is not usable, if it is not. */
function sliceProblem(slice: V1EndpointSlice): Problem | undefined {
  const nameBad = badName(slice.metadata?.name, true);
  if (nameBad) return { field: 'metadata.name', message: nameBad };
  const nsBad = badName(slice.metadata?.namespace ?? 'default');
  if (nsBad) return { field: 'metadata.namespace', message: nsBad };
  const list = slice.endpoints as unknown;
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list)) return { field: 'endpoints', message: `must be a list, not ${show(list)}` };
    if (list.length > LIMITS.sliceEndpoints) return { field: 'endpoints', message: `has ${list.length} entries, more than the limit of ${LIMITS.sliceEndpoints} (Kubernetes' own)` };
  }
  const ports = slice.ports as unknown;
  if (ports !== undefined && ports !== null) {
    if (!Array.isArray(ports)) return { field: 'ports', message: `must be a list, not ${show(ports)}` };
    if (ports.length > LIMITS.slicePorts) return { field: 'ports', message: `has ${ports.length} entries, more than the limit of ${LIMITS.slicePorts} (Kubernetes' own)` };
  }
  return undefined;
}

/** The compact form of a slice; `name` is sliceName(slice) when the caller has it. Never throws. */
export function compactSlice(slice: V1EndpointSlice, name?: string): CompactSlice {
  name ??= sliceName(slice);
  const namespace = intern(name.slice(0, name.indexOf('/')));
  const problem = isRecord(slice) ? sliceProblem(slice) : { field: '', message: `must be an object, not ${show(slice)}` };
  if (problem) return { name, namespace, addressType: undefined, ports: undefined, eps: undefined, problem };
  const list = slice.endpoints;
  let eps: unknown[] | undefined;
  if (list) {
    // Made at its final size. Holes (sparse arrays) are skipped where they are read.
    eps = new Array<unknown>(list.length * STRIDE);
    for (let k = 0; k < list.length; k++) if (k in list) packEndpoint(eps, k * STRIDE, list[k], namespace);
    else put(eps, k * STRIDE, undefined, NONE, undefined, undefined, undefined);
  }
  const out: CompactSlice = { name, namespace, addressType: intern(slice.addressType), ports: shared(slice.ports), eps };
  return eps?.some((fx, i) => i % STRIDE === 1 && typeof fx === 'object' && fx !== null && (fx as EndpointExtra).zones !== undefined)
    ? { ...out, zoneHinted: true } : out;
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
    // Not an object where one belongs: kept whole, for checkService to warn about.
    const o: unknown = svc;
    if (!isRecord(o) || !isRecord(o.metadata ?? {}) || !isRecord(o.spec ?? {})) return svc;
    const md = svc.metadata;
    const metadata: NonNullable<V1Service['metadata']> = {};
    if (md?.namespace !== undefined) metadata.namespace = md.namespace;
    if (md?.name !== undefined) metadata.name = md.name;
    // Which of two Services claiming one virtual service owns it (model.ts).
    if (md?.creationTimestamp !== undefined) metadata.creationTimestamp = md.creationTimestamp;
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
      // (A clusterIPs that is not a list is kept for checkService to warn about.)
      if (spec.clusterIPs !== undefined && spec.clusterIPs !== null && (!Array.isArray(spec.clusterIPs) || spec.clusterIPs.length > 0)) s.clusterIPs = spec.clusterIPs;
      else if (spec.clusterIP !== undefined) s.clusterIP = spec.clusterIP;
      if (spec.ports !== undefined) s.ports = shared(spec.ports);
      if (spec.externalIPs !== undefined) s.externalIPs = spec.externalIPs;
      // Values other than the defaults are kept, bad ones included: checkService warns about those.
      if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== 'None') {
        s.sessionAffinity = spec.sessionAffinity;
        if (spec.sessionAffinityConfig !== undefined) s.sessionAffinityConfig = spec.sessionAffinityConfig;
      }
      if (spec.externalTrafficPolicy !== undefined && spec.externalTrafficPolicy !== 'Cluster') s.externalTrafficPolicy = spec.externalTrafficPolicy;
      if (spec.internalTrafficPolicy !== undefined && spec.internalTrafficPolicy !== 'Cluster') s.internalTrafficPolicy = spec.internalTrafficPolicy;
      if (spec.trafficDistribution !== undefined) s.trafficDistribution = spec.trafficDistribution;
      if (spec.healthCheckNodePort !== undefined) s.healthCheckNodePort = spec.healthCheckNodePort;
      if (spec.loadBalancerSourceRanges !== undefined && spec.loadBalancerSourceRanges !== null && spec.loadBalancerSourceRanges.length !== 0) s.loadBalancerSourceRanges = spec.loadBalancerSourceRanges;
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
