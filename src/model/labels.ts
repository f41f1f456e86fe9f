// The labels and annotations kipvs reads on Services, and what they say about a Service: whether kube-proxy
// handles it at all, and which parts of the node's context (zone, NodePort addresses, local addresses) its
// result depends on. Separate from the computation because the change tracker (model.ts) asks these
// questions without computing anything; also the "namespace/name" keys both use.
import type { V1Service, V1EndpointSlice } from '@kubernetes/client-node';

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';
export const ANNOTATION_SCHEDULER = 'kipvs.io/scheduler';
export const DEFAULT_AFFINITY_TIMEOUT = 10800;

/** Written by flat() so that the conversion it makes is not dropped as unused. */
let flattened = 0;

/**
 * The same text, flattened. Strings made by concatenation are ropes (a node per part); a key kept in
 * several maps for as long as the object lives is better flat. Converting a rope to a number flattens
 * it in place, and the GC then points every holder at the flat text (same heap as normalize('NFC')
 * gave, at a quarter of its cost: 200,000 keys in a first sync at 10,000 Services).
 */
export function flat(s: string): string {
  if (s.length >= 13) flattened ^= (s as unknown as number) | 0;
  return s;
}

export function serviceName(svc: V1Service): string {
  return flat(`${part(svc?.metadata?.namespace, 'default')}/${part(svc?.metadata?.name, '')}`);
}

export function sliceName(slice: V1EndpointSlice): string {
  return flat(`${part(slice?.metadata?.namespace, 'default')}/${part(slice?.metadata?.name, '')}`);
}

/** A name as text; one of another type (which the model warns about) as its JSON, so that nothing throws. */
function part(v: unknown, dflt: string): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return dflt;
  return JSON.stringify(v) ?? '';
}

/** Services kube-proxy does not handle at all: another proxy's, or labelled headless. */
export function isIgnoredService(svc: V1Service): boolean {
  return hasLabel(svc.metadata?.labels, LABEL_PROXY_NAME) || hasLabel(svc.metadata?.labels, LABEL_HEADLESS);
}

/** Whether a labels map has `key` (false for a "map" of the wrong type, which the model warns about). */
export function hasLabel(labels: unknown, key: string): boolean {
  return typeof labels === 'object' && labels !== null && Object.hasOwn(labels, key);
}

/** A label's value when it is a string. */
export function labelValue(labels: unknown, key: string): string | undefined {
  if (typeof labels !== 'object' || labels === null || !Object.hasOwn(labels, key)) return undefined;
  const v = (labels as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : undefined;
}

/** Does it depend on the node's NodePort addresses? (Read before any check: any shape is accepted.) */
export function usesNodePorts(svc: V1Service): boolean {
  const ports = svc.spec?.ports as unknown;
  return Array.isArray(ports) && ports.some((p) => !!(p as { nodePort?: unknown } | null)?.nodePort);
}

/** Does it depend on the node's local addresses (externalIPs, LoadBalancer IPs: bound or not)? */
export function usesLocalAddresses(svc: V1Service): boolean {
  const ips = svc.spec?.externalIPs as unknown;
  const ingress = svc.status?.loadBalancer?.ingress as unknown;
  return (Array.isArray(ips) && ips.length > 0) || (Array.isArray(ingress) && ingress.length > 0);
}

