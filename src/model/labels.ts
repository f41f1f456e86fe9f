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

/** Does it depend on the node's NodePort addresses? */
export function usesNodePorts(svc: V1Service): boolean {
  return (svc.spec?.ports ?? []).some((p) => !!p?.nodePort);
}

/** Does it depend on the node's local addresses (externalIPs, LoadBalancer IPs: bound or not)? */
export function usesLocalAddresses(svc: V1Service): boolean {
  return (svc.spec?.externalIPs?.length ?? 0) > 0 || (svc.status?.loadBalancer?.ingress?.length ?? 0) > 0;
}

