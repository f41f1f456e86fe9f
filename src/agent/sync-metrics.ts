// What the agent's per-sync metrics count, kept pure: Service ports with a Local traffic policy and
// no local endpoint (kubeproxy_sync_proxy_rules_no_local_endpoints_total), and the EndpointSlice
// change times behind kubeproxy_network_programming_duration_seconds.
import type { Family } from '../netlink/address.js';
import type { DesiredVirtualService, ServiceDesired } from '../model/types.js';

/** The annotation the EndpointSlice controller sets to when the change it reflects was triggered. */
export const ANNOTATION_LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

export type NoLocalCounts = Record<Family, { internal: number; external: number }>;

/**
 * Per family, the Service ports whose internal (internalTrafficPolicy: Local) or external
 * (externalTrafficPolicy: Local) traffic has no local endpoint, as kube-proxy's proxier counts them on
 * each sync. IPVS mode's model has virtual services rather than ports: a port counts once per family
 * and policy, internal for its ClusterIP virtual service, external for any of its NodePort, externalIP
 * or load balancer ones. (IPVS mode's external virtual services fall back to every endpoint when none
 * is local, so their real servers do not tell; their endpoints do.)
 */
export function noLocalEndpointCounts(services: Iterable<ServiceDesired>): NoLocalCounts {
  const out: NoLocalCounts = { inet: { internal: 0, external: 0 }, inet6: { internal: 0, external: 0 } };
  for (const s of services) {
    for (const p of s.ports) {
      if (p.localEndpoints.length > 0) continue;
      if (p.internalLocal) out[p.family].internal++;
      if (p.externalLocal) out[p.family].external++;
    }
    if (s.virtualServices.size === 0) continue;
    let seen: Set<string> | undefined;
    for (const vs of s.virtualServices.values()) {
      const o = vs.origin;
      if (o.trafficPolicy !== 'Local' || hasLocalEndpoint(vs)) continue;
      const policy = o.kind === 'ClusterIP' ? 'internal' : 'external';
      const family = vs.service.family;
      const key = `${family}|${policy}|${o.protocol}|${o.portName}`;
      seen ??= new Set();
      if (seen.has(key)) continue;
      seen.add(key);
      out[family][policy]++;
    }
  }
  return out;
}

/** Whether a virtual service has a local endpoint that can serve: ready, or serving while terminating. */
function hasLocalEndpoint(vs: DesiredVirtualService): boolean {
  for (const e of vs.endpoints.values()) if (e.local && (e.ready || (e.serving && e.terminating))) return true;
  return false;
}

/** The annotation's time (ms since the epoch), or undefined when absent or not a timestamp. */
export function lastChangeTriggerTime(annotations: Record<string, string> | undefined): number | undefined {
  const text = annotations?.[ANNOTATION_LAST_CHANGE_TRIGGER_TIME];
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** An EndpointSlice's addressType as a family ("IPv4", "IPv6"; FQDN slices are not programmed). */
export function sliceFamily(addressType: unknown): Family | undefined {
  return addressType === 'IPv4' ? 'inet' : addressType === 'IPv6' ? 'inet6' : undefined;
}
