// Which UDP flows are stale, as kube-proxy's conntrack reconciler decides: a flow whose original
// destination is a frontend of a UDP Service port (cluster IP, external IP or load-balancer IP with
// the port, or any address with its node port) and whose reply comes from no serving endpoint of that
// port. A port with no serving endpoint has an empty set: every flow to it is stale. Pure: the model's
// ports in, a matcher out; the reconciler runs it over the kernel's flows.
import type { Family } from '../../netlink/address.js';
import type { ServiceDesired, ServicePortDesired } from '../../model/types.js';

/** One UDP Service port of one family, as far as conntrack cleanup cares. */
export interface UdpServicePort {
  /** "namespace/name:port" (or "namespace/name"), for logs. */
  name: string;
  /** "namespace/name": which Service it belongs to (incremental syncs clean changed Services only). */
  service: string;
  family: Family;
  port: number;
  /** Cluster IP, external IPs, load-balancer IPs: canonical text. */
  frontends: readonly string[];
  nodePort?: number;
  /** Addresses of every serving endpoint (any node, zone or termination state). */
  serving: readonly string[];
}

export interface StaleMatcher {
  /** Cheap first test on the hot path: could a flow to this destination port be stale at all? */
  watches(dstPort: number): boolean;
  /** Whether the flow (original destination, its port, reply source) points nowhere it should. */
  stale(origDst: string, origDstPort: number, replySrc: string): boolean;
  /** Frontends (address:port and *:nodePort) the matcher covers. */
  readonly size: number;
}

/**
 * A matcher over `ports` of `family` (others are ignored). Two ports sharing a frontend (two Services
 * claiming one external IP and port) keep the flows to either's endpoints.
 */
export function staleMatcher(ports: Iterable<UdpServicePort>, family: Family): StaleMatcher {
  const byFrontend = new Map<string, Set<string>>();
  const byNodePort = new Map<number, Set<string>>();
  const watched = new Set<number>();
  const add = <K>(m: Map<K, Set<string>>, k: K, serving: readonly string[]) => {
    let s = m.get(k);
    if (!s) m.set(k, (s = new Set()));
    for (const a of serving) s.add(a);
  };
  for (const p of ports) {
    if (p.family !== family) continue;
    for (const f of p.frontends) add(byFrontend, `${f}|${p.port}`, p.serving);
    watched.add(p.port);
    if (p.nodePort !== undefined) {
      add(byNodePort, p.nodePort, p.serving);
      watched.add(p.nodePort);
    }
  }
  return {
    size: byFrontend.size + byNodePort.size,
    watches: (dstPort) => watched.has(dstPort),
    stale(origDst, origDstPort, replySrc) {
      const viaFrontend = byFrontend.get(`${origDst}|${origDstPort}`);
      if (viaFrontend && !viaFrontend.has(replySrc)) return true;
      const viaNodePort = byNodePort.get(origDstPort);
      return viaNodePort !== undefined && !viaNodePort.has(replySrc);
    },
  };
}

/** iptables mode: the model's per-port view, UDP ports only. */
export function udpPortsFromPorts(ports: Iterable<ServicePortDesired>): UdpServicePort[] {
  const out: UdpServicePort[] = [];
  for (const p of ports) {
    if (p.protocol !== 'udp') continue;
    const serving = p.servingAddresses ?? [...new Set([...p.clusterEndpoints, ...p.localEndpoints].map((e) => e.address))];
    const u: UdpServicePort = {
      name: p.name, service: p.service, family: p.family, port: p.port,
      frontends: [p.clusterIP, ...p.externalIPs, ...p.loadBalancerIPs], serving,
    };
    if (p.nodePort !== undefined) u.nodePort = p.nodePort;
    out.push(u);
  }
  return out;
}

/**
 * IPVS mode: the Services' virtual services, grouped back into ports (one per Service, port name and
 * family). NodePort virtual services give the node port; the others their address as a frontend.
 * The serving endpoints are those of the port's slices (the same for each of its virtual services).
 */
export function udpPortsFromVirtualServices(services: Iterable<ServiceDesired>): UdpServicePort[] {
  const out: UdpServicePort[] = [];
  for (const s of services) {
    // Made at a Service's first UDP port: a full sync asks this of every Service, most TCP only.
    let byPort: Map<string, UdpServicePort & { frontends: string[] }> | undefined;
    for (const vs of s.virtualServices.values()) {
      const o = vs.origin;
      if (o.protocol !== 'udp' || vs.service.address === undefined || vs.service.port === undefined) continue;
      const key = `${vs.service.family}|${o.portName}`;
      byPort ??= new Map();
      let p = byPort.get(key);
      if (!p) {
        const serving = new Set<string>();
        for (const e of vs.endpoints.values()) if (e.serving) serving.add(e.address);
        p = { name: o.portName ? `${o.service}:${o.portName}` : o.service, service: o.service, family: vs.service.family, port: o.servicePort, frontends: [], serving: [...serving] };
        byPort.set(key, p);
      }
      if (o.kind === 'NodePort') p.nodePort = vs.service.port;
      else p.frontends.push(vs.service.address);
    }
    if (byPort) out.push(...byPort.values());
  }
  return out;
}
