// The shape of what the model reads, checked before anything is computed: names Kubernetes would have
// validated (they end up in iptables comments and log lines), the JSON types of the fields, and bounds
// on list sizes. The API server guarantees all of this for objects it stored; a directory of manifests,
// an API server that is not one, or a future field change does not. A field of the wrong type is
// warned about (naming the object and the field) and treated as unset; an element of a list, as
// absent; a Service whose name is not a Kubernetes name or whose lists exceed the bounds is not
// programmed at all. Pure; returns the object itself when nothing is wrong (no copy on the hot path).
import type { V1Service, V1ServicePort, V1LoadBalancerIngress, V1Node } from '@kubernetes/client-node';
import { parseCidr } from '../netlink/cidr.js';
import { show, type Warnings } from './validate.js';

/** Kubernetes' DNS-1123 label: namespaces, Service names (DNS-1035, a subset), Service port names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes' DNS-1123 subdomain: EndpointSlice and Node names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Bounds on what one object may hold. Kubernetes caps an EndpointSlice at 1000 endpoints and 100 ports
 * (its validation's maxEndpoints, maxPorts); Services have no explicit caps, but every port multiplies
 * the virtual services by the Service's addresses, so kipvs sets its own, far above real use.
 */
export const LIMITS = {
  /** spec.ports of a Service. */
  servicePorts: 1000,
  /** spec.clusterIPs, spec.externalIPs, spec.loadBalancerSourceRanges, status.loadBalancer.ingress. */
  serviceAddresses: 256,
  /** endpoints of an EndpointSlice (Kubernetes' own limit). */
  sliceEndpoints: 1000,
  /** ports of an EndpointSlice (Kubernetes' own limit). */
  slicePorts: 100,
  /** addresses of one endpoint (Kubernetes allows 100; the proxy reads the first). */
  endpointAddresses: 100,
} as const;

const SERVICE_TYPES = new Set(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']);
const AFFINITIES = new Set(['None', 'ClientIP']);
const TRAFFIC_POLICIES = new Set(['Cluster', 'Local']);

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why `v` is not a DNS-1123 label (or subdomain), or undefined when it is one. */
export function badName(v: unknown, subdomain = false): string | undefined {
  if (typeof v !== 'string') return `must be a string, not ${show(v)}`;
  const max = subdomain ? 253 : 63;
  if (v.length > max) return `is ${v.length} characters long, more than ${max}`;
  if (!(subdomain ? DNS_SUBDOMAIN : DNS_LABEL).test(v)) return `${show(v)} is not a DNS-1123 ${subdomain ? 'subdomain' : 'label'} (lower-case letters, digits and '-')`;
  return undefined;
}

/** metadata.namespace and metadata.name of a namespaced object; false (with a warning) when either is bad. */
export function checkObjectName(meta: unknown, object: string, w: Warnings, subdomain: boolean): boolean {
  const m = isRecord(meta) ? meta : {};
  const ns = m.namespace ?? 'default';
  const nsBad = badName(ns);
  if (nsBad) w.add(object, 'metadata.namespace', `${nsBad}; ignored`);
  const nameBad = badName(m.name, subdomain);
  if (nameBad) w.add(object, 'metadata.name', `${nameBad}; ignored`);
  return !nsBad && !nameBad;
}

/** A list field: the list, or undefined with a warning when it is not a list or is longer than `max`. */
function list(v: unknown, object: string, field: string, max: number, w: Warnings): unknown[] | undefined | null {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) { w.add(object, field, `must be a list, not ${show(v)}; ignored`); return undefined; }
  if (v.length > max) { w.add(object, field, `has ${v.length} entries, more than kipvs' limit of ${max}; the object is ignored`); return null; }
  return v;
}

function str(v: unknown, object: string, field: string, w: Warnings, allowed?: Set<string>): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') { w.add(object, field, `must be a string, not ${show(v)}; ignored`); return undefined; }
  if (allowed && !allowed.has(v)) { w.add(object, field, `unknown value ${show(v)} (one of ${[...allowed].join(', ')}); ignored`); return undefined; }
  return v;
}

/** Elements of a list that are strings (the others warned about and left out). */
function strings(v: unknown[] | undefined, object: string, field: string, w: Warnings): string[] | undefined {
  if (!v) return v;
  let out: string[] | undefined;
  v.forEach((x, i) => {
    if (typeof x === 'string') { out?.push(x); return; }
    w.add(object, `${field}[${i}]`, `must be a string, not ${show(x)}; ignored`);
    out ??= v.slice(0, i) as string[];
  });
  return out ?? (v as string[]);
}

function checkPort(p: unknown, i: number, object: string, w: Warnings): V1ServicePort | undefined {
  // The field's name is made only for a warning: this runs for every port of every Service at each commit.
  if (!isRecord(p)) { w.add(object, `spec.ports[${i}]`, `must be an object, not ${show(p)}; ignored`); return undefined; }
  if (p.name !== undefined && p.name !== null && p.name !== '') {
    const bad = badName(p.name);
    // Port names reach iptables comments and chain hashes: only Kubernetes' names are accepted.
    if (bad) { w.add(object, `spec.ports[${i}].name`, `${bad}; port ignored`); return undefined; }
  }
  return p as unknown as V1ServicePort;
}

/**
 * The Service as the computation may read it: null when it must not be programmed (bad name, a list
 * over the limits, no spec object), else the Service (a cleaned copy when some field was bad).
 */
export function checkService(svc: V1Service, object: string, w: Warnings): V1Service | null {
  const o: unknown = svc;
  if (!isRecord(o)) { w.add(object, '', `must be an object, not ${show(svc)}; ignored`); return null; }
  if (!checkObjectName(svc.metadata, object, w, false)) return null;
  const spec = svc.spec as unknown;
  if (spec === undefined || spec === null) return svc;
  if (!isRecord(spec)) { w.add(object, 'spec', `must be an object, not ${show(spec)}; ignored`); return null; }
  const s = spec as NonNullable<V1Service['spec']>;
  // Copied only when something is wrong: the usual Service costs the checks and no allocation.
  let out: NonNullable<V1Service['spec']> | undefined;
  const set = <K extends keyof NonNullable<V1Service['spec']>>(k: K, v: NonNullable<V1Service['spec']>[K] | undefined): void => {
    if (v === s[k]) return;
    out ??= { ...s };
    if (v === undefined) delete out[k];
    else out[k] = v;
  };
  set('type', str(s.type, object, 'spec.type', w, SERVICE_TYPES));
  set('clusterIP', str(s.clusterIP, object, 'spec.clusterIP', w));
  set('sessionAffinity', str(s.sessionAffinity, object, 'spec.sessionAffinity', w, AFFINITIES));
  set('externalTrafficPolicy', str(s.externalTrafficPolicy, object, 'spec.externalTrafficPolicy', w, TRAFFIC_POLICIES));
  set('internalTrafficPolicy', str(s.internalTrafficPolicy, object, 'spec.internalTrafficPolicy', w, TRAFFIC_POLICIES));
  const clusterIPs = list(s.clusterIPs, object, 'spec.clusterIPs', LIMITS.serviceAddresses, w);
  const externalIPs = list(s.externalIPs, object, 'spec.externalIPs', LIMITS.serviceAddresses, w);
  const ranges = list(s.loadBalancerSourceRanges, object, 'spec.loadBalancerSourceRanges', LIMITS.serviceAddresses, w);
  const ports = list(s.ports, object, 'spec.ports', LIMITS.servicePorts, w);
  if (clusterIPs === null || externalIPs === null || ranges === null || ports === null) return null;
  set('clusterIPs', strings(clusterIPs, object, 'spec.clusterIPs', w));
  set('externalIPs', strings(externalIPs, object, 'spec.externalIPs', w));
  set('loadBalancerSourceRanges', strings(ranges, object, 'spec.loadBalancerSourceRanges', w));
  if (ports) {
    let checked: (V1ServicePort | undefined)[] | undefined;
    for (let i = 0; i < ports.length; i++) {
      const p = checkPort(ports[i], i, object, w);
      // Bad ports stay in place as null (the computation skips them) so the indexes in later warnings hold.
      if (p !== ports[i]) (checked ??= ports.slice(0, i) as V1ServicePort[])[i] = p;
      else if (checked) checked[i] = p;
    }
    if (checked) set('ports', checked as V1ServicePort[]);
  } else set('ports', undefined);
  const sac = s.sessionAffinityConfig as unknown;
  if (sac !== undefined && sac !== null && (!isRecord(sac) || (sac.clientIP !== undefined && sac.clientIP !== null && !isRecord(sac.clientIP)))) {
    w.add(object, 'spec.sessionAffinityConfig', `must be an object with an object clientIP, not ${show(sac)}; ignored`);
    set('sessionAffinityConfig', undefined);
  }
  let status: V1Service['status'] | null = svc.status;
  const lb = svc.status?.loadBalancer as unknown;
  if (svc.status !== undefined && svc.status !== null && (!isRecord(svc.status) || (lb !== undefined && lb !== null && !isRecord(lb)))) {
    w.add(object, 'status.loadBalancer', `must be an object, not ${show(svc.status)}; ignored`);
    status = undefined;
  } else if (isRecord(lb)) {
    const ingress = list(lb.ingress, object, 'status.loadBalancer.ingress', LIMITS.serviceAddresses, w);
    if (ingress === null) return null;
    const bad = (ingress ?? []).some((g) => !isRecord(g));
    if (bad || (ingress === undefined && lb.ingress !== undefined && lb.ingress !== null)) {
      (ingress ?? []).forEach((g, i) => { if (!isRecord(g)) w.add(object, `status.loadBalancer.ingress[${i}]`, `must be an object, not ${show(g)}; ignored`); });
      status = { loadBalancer: { ingress: (ingress ?? []).map((g) => (isRecord(g) ? g : {})) as V1LoadBalancerIngress[] } };
    }
  }
  const md = svc.metadata!;
  const ann = md.annotations as unknown;
  const labels = md.labels as unknown;
  let metadata = md;
  if ((ann !== undefined && ann !== null && !isRecord(ann)) || (labels !== undefined && labels !== null && !isRecord(labels))) {
    if (!isRecord(ann) && ann !== undefined && ann !== null) w.add(object, 'metadata.annotations', `must be a map, not ${show(ann)}; ignored`);
    if (!isRecord(labels) && labels !== undefined && labels !== null) w.add(object, 'metadata.labels', `must be a map, not ${show(labels)}; ignored`);
    metadata = { namespace: md.namespace, name: md.name, ...(isRecord(ann) ? { annotations: ann as Record<string, string> } : {}), ...(isRecord(labels) ? { labels: labels as Record<string, string> } : {}) };
  }
  if (!out && status === svc.status && metadata === md) return svc;
  const copy: V1Service = { ...svc, metadata, spec: out ?? s };
  if (status === undefined || status === null) delete copy.status;
  else copy.status = status;
  return copy;
}

/**
 * What is wrong with the Node's fields that kipvs reads (its zone label, addresses, pod CIDRs, taints);
 * the readers (nodePrimaryIPs, nodePodCIDRs, nodeEligible) skip what is malformed.
 */
export function checkNode(node: V1Node, w: Warnings): void {
  const o: unknown = node;
  if (!isRecord(o)) { w.add('Node', '', `must be an object, not ${show(node)}`); return; }
  const name = isRecord(o.metadata) ? o.metadata.name : undefined;
  const object = `Node ${typeof name === 'string' ? name : show(name)}`;
  const bad = badName(name, true);
  if (bad) w.add(object, 'metadata.name', bad);
  const labels = node.metadata?.labels as unknown;
  if (labels !== undefined && labels !== null) {
    if (!isRecord(labels)) w.add(object, 'metadata.labels', `must be a map, not ${show(labels)}`);
    else for (const [k, v] of Object.entries(labels)) if (typeof v !== 'string') w.add(object, `metadata.labels[${k}]`, `must be a string, not ${show(v)}`);
  }
  const addresses = node.status?.addresses as unknown;
  if (addresses !== undefined && addresses !== null) {
    if (!Array.isArray(addresses)) w.add(object, 'status.addresses', `must be a list, not ${show(addresses)}`);
    else addresses.forEach((a: unknown, i) => {
      if (!isRecord(a) || typeof a.type !== 'string' || typeof a.address !== 'string') w.add(object, `status.addresses[${i}]`, `must be an object with a string type and address, not ${show(a)}`);
    });
  }
  const cidrs = node.spec?.podCIDRs as unknown;
  if (cidrs !== undefined && cidrs !== null) {
    if (!Array.isArray(cidrs)) w.add(object, 'spec.podCIDRs', `must be a list, not ${show(cidrs)}`);
    else cidrs.forEach((c: unknown, i) => { if (typeof c !== 'string' || !parseCidr(c)) w.add(object, `spec.podCIDRs[${i}]`, `${show(c)} is not a CIDR`); });
  }
  const cidr = node.spec?.podCIDR as unknown;
  if (cidr !== undefined && cidr !== null && cidr !== '' && (typeof cidr !== 'string' || !parseCidr(cidr))) w.add(object, 'spec.podCIDR', `${show(cidr)} is not a CIDR`);
  const taints = node.spec?.taints as unknown;
  if (taints !== undefined && taints !== null && (!Array.isArray(taints) || taints.some((t) => !isRecord(t)))) w.add(object, 'spec.taints', `must be a list of objects, not ${show(taints)}`);
}
