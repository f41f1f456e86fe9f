// The soak's cluster: its Services, its pods (one IP each, never reused), their EndpointSlices, and
// what the kernel should hold for them. Pure: no I/O. The desired kernel state is computed here from
// the Services and pods alone, as kube-proxy's IPVS mode defines it, not by the agent's code: it is
// the oracle the kernel is compared with.
import { service as serviceObject, sliceOf } from '../sandbox/agent-helpers.js';

export const NODE = 'soak-node';
export const OTHER_NODE = 'soak-other';
/** The port every backend pod listens on, TCP (HTTP-ish: answers its own IP) and UDP (echoes its IP). */
export const TCP_TARGET = 8080;
export const UDP_TARGET = 9053;
/** Session affinity's timeout, which IPVS shows as the virtual service's persistence. */
export const AFFINITY_SECONDS = 10800;

export type Proto = 'TCP' | 'UDP';

export interface SoakService {
  name: string;
  protocol: Proto;
  type: 'ClusterIP' | 'NodePort';
  /** externalTrafficPolicy: Local (NodePort only): the NodePort virtual services get local pods only. */
  local: boolean;
  affinity: boolean;
  clusterIP: string;
  port: number;
  targetPort: number;
  nodePort?: number;
  /** Not churned: the hand edits pick their victims here, so that churn does not repair them first. */
  stable: boolean;
}

export type PodState = 'ready' | 'terminating';

export interface Pod {
  ip: string;
  name: string;
  service: string;
  node: string;
  state: PodState;
  /** When it began terminating (it leaves the slice 2 s later). */
  terminatingAt?: number;
}

/** 50 Services by default: every fifth UDP, every other NodePort, a quarter of the NodePorts Local, a third with ClientIP affinity. */
export function makeServices(count = 50, stable = 5): SoakService[] {
  const out: SoakService[] = [];
  for (let i = 0; i < count; i++) {
    const protocol: Proto = i % 5 === 4 ? 'UDP' : 'TCP';
    const nodePort = i % 2 === 1;
    out.push({
      name: `soak-${String(i).padStart(2, '0')}`,
      protocol,
      type: nodePort ? 'NodePort' : 'ClusterIP',
      local: nodePort && i % 4 === 3,
      affinity: i % 3 === 0,
      clusterIP: `10.96.100.${i + 1}`,
      port: protocol === 'TCP' ? 80 : 53,
      targetPort: protocol === 'TCP' ? TCP_TARGET : UDP_TARGET,
      ...(nodePort ? { nodePort: 30000 + i } : {}),
      stable: i < stable,
    });
  }
  return out;
}

/** The Service object as the API server stores it. */
export function serviceManifest(s: SoakService) {
  return serviceObject(s.name, {
    type: s.type, clusterIP: s.clusterIP, clusterIPs: [s.clusterIP], ipFamilies: ['IPv4'],
    ...(s.local ? { externalTrafficPolicy: 'Local' } : {}),
    ...(s.affinity ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: AFFINITY_SECONDS } } } : {}),
    ports: [{ name: 'p', port: s.port, targetPort: s.targetPort, protocol: s.protocol, ...(s.nodePort ? { nodePort: s.nodePort } : {}) }],
  });
}

/** The Service's one EndpointSlice: ready pods ready, terminating ones serving and terminating. */
export function sliceManifest(s: SoakService, pods: Pod[]) {
  return sliceOf(NODE, `${s.name}-1`, s.name, [{ name: 'p', port: s.targetPort, protocol: s.protocol }],
    pods.map((p) => ({ ip: p.ip, node: p.node, pod: p.name, ready: p.state === 'ready', serving: true, terminating: p.state === 'terminating' })));
}

/** Pod IPs from 10.244.0.0/16, handed out once each. */
export class PodIps {
  private next = 0;
  take(): string {
    const n = this.next++;
    if (n >= 250 * 250) throw new Error('soak: pod IP pool exhausted');
    return `10.244.${1 + Math.floor(n / 250)}.${2 + (n % 250)}`;
  }
}

// ---- the desired kernel state ----------------------------------------------------------------------

export interface VirtualService {
  scheduler: string;
  /** Persistence timeout in seconds (session affinity), 0 without. */
  persistent: number;
  /** "ip:port" -> weight */
  servers: Map<string, number>;
}

/** "tcp/10.96.100.1:80" */
export const vsKey = (proto: Proto | 'tcp' | 'udp', address: string, port: number) => `${proto.toLowerCase()}/${address}:${port}`;

/** The servers a virtual service of `s` should have: ready pods (all of them, or this node's for a Local NodePort). */
function servers(s: SoakService, pods: Pod[], nodePortVs: boolean): Map<string, number> {
  let ready = pods.filter((p) => p.state === 'ready');
  if (nodePortVs && s.local) ready = ready.filter((p) => p.node === NODE);
  return new Map(ready.map((p) => [`${p.ip}:${s.targetPort}`, 1]));
}

/** The ClusterIP virtual service, and the NodePort one on `nodeAddress` (the address the client uses). */
export function desiredVirtualServices(s: SoakService, pods: Pod[], nodeAddresses: string[]): Map<string, VirtualService> {
  const out = new Map<string, VirtualService>();
  const persistent = s.affinity ? AFFINITY_SECONDS : 0;
  out.set(vsKey(s.protocol, s.clusterIP, s.port), { scheduler: 'rr', persistent, servers: servers(s, pods, false) });
  if (s.nodePort) {
    for (const a of nodeAddresses) out.set(vsKey(s.protocol, a, s.nodePort), { scheduler: 'rr', persistent, servers: servers(s, pods, true) });
  }
  return out;
}

export interface DesiredKernel {
  virtualServices: Map<string, VirtualService>;
  /** Addresses bound to kube-ipvs0. */
  vips: Set<string>;
  /** ipset name -> entries, for the sets this soak's Services decide alone. */
  ipsets: Map<string, Set<string>>;
}

/** The IPVS sets whose content follows from Services and endpoints alone (the node-address sets do not). */
export const COMPARED_SETS = ['KUBE-CLUSTER-IP', 'KUBE-NODE-PORT-TCP', 'KUBE-NODE-PORT-UDP', 'KUBE-NODE-PORT-LOCAL-TCP', 'KUBE-NODE-PORT-LOCAL-UDP', 'KUBE-LOOP-BACK'];

export function desiredKernel(services: SoakService[], podsOf: (s: SoakService) => Pod[], nodeAddresses: string[]): DesiredKernel {
  const virtualServices = new Map<string, VirtualService>();
  const vips = new Set<string>();
  const ipsets = new Map(COMPARED_SETS.map((n) => [n, new Set<string>()]));
  for (const s of services) {
    const pods = podsOf(s);
    for (const [k, v] of desiredVirtualServices(s, pods, nodeAddresses)) virtualServices.set(k, v);
    vips.add(s.clusterIP);
    const proto = s.protocol.toLowerCase();
    ipsets.get('KUBE-CLUSTER-IP')!.add(`${s.clusterIP},${proto}:${s.port}`);
    if (s.nodePort) {
      ipsets.get(`KUBE-NODE-PORT-${s.protocol}`)!.add(String(s.nodePort));
      if (s.local) ipsets.get(`KUBE-NODE-PORT-LOCAL-${s.protocol}`)!.add(String(s.nodePort));
    }
    // Hairpin: every local endpoint, whatever its readiness.
    for (const p of pods) if (p.node === NODE) ipsets.get('KUBE-LOOP-BACK')!.add(`${p.ip},${proto}:${s.targetPort},${p.ip}`);
  }
  return { virtualServices, vips, ipsets };
}

/** The part of a service's desired state a change is waited for by: its virtual services' weighted servers. */
export function signature(vss: Map<string, VirtualService>): string {
  return [...vss.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${[...v.servers.entries()].filter(([, w]) => w > 0).map(([s]) => s).sort().join(',')}`).join(' ');
}
