// The desired-state model's contract: what it takes (Kubernetes objects, this node, configuration) and
// what it gives the sync engine (virtual services with real servers, VIPs to bind) plus the "why" that
// `kipvs list` and `kipvs explain` show. Pure data; no I/O anywhere in src/model.
import type { V1Service, V1EndpointSlice, V1Node } from '@kubernetes/client-node';
import type { VirtualService, RealServer, Family, Protocol } from '../ipvs/types.js';
export type { V1Service, V1EndpointSlice, V1Node };
/** A virtual service as kipvs wants it, with its real servers by serverKeyString (read-only). */
export interface DesiredService {
  service: VirtualService;
  servers: ReadonlyMap<string, RealServer>;
}

/** Everything kipvs wants in IPVS and on kube-ipvs0. Keys are serviceKeyString. */
export interface DesiredIpvs {
  services: Map<string, DesiredService>;
  /** VIPs to bind on kube-ipvs0 (canonical text). */
  boundAddresses: Set<string>;
}

/** What of the configuration the model needs (the agent maps KubeProxyConfiguration onto this). */
export interface ModelConfig {
  /** ipvs.scheduler; "" means kube-proxy's default, rr. */
  scheduler: string;
  /** This node's name (hostnameOverride or the host name). */
  nodeName: string;
  /** IP families this proxier programs (dual-stack: both). */
  families: Family[];
  /**
   * What the model renders besides the neutral per-port view: 'ipvs' (default) also computes virtual
   * services, real servers, VIPs and ipset entries; 'iptables' computes the per-port view alone
   * (ServiceDesired.ports), which the iptables backend turns into chains.
   */
  backend?: 'ipvs' | 'iptables';
}

/** What the model knows of this node and its addresses besides the configuration (all pure data). */
export interface ModelContext {
  config: ModelConfig;
  /** This node's topology.kubernetes.io/zone label ("" or absent: none). */
  zone?: string | undefined;
  /** Node addresses that serve NodePorts, both families, canonical (see nodePortAddresses()). */
  nodePortAddresses: readonly string[];
  /**
   * Addresses on the node's interfaces other than kube-ipvs0, canonical. An externalIP or LoadBalancer IP
   * found here is not bound on kube-ipvs0 (kube-proxy's shouldBind).
   */
  localAddresses: ReadonlySet<string>;
}

/** How a virtual service came to be: which Service, which port, which kind of address. */
export interface VsOrigin {
  /** "namespace/name" */
  service: string;
  /** The Service port's name ("" when unnamed). */
  portName: string;
  servicePort: number;
  protocol: Protocol;
  kind: 'ClusterIP' | 'NodePort' | 'ExternalIP' | 'LoadBalancer';
  /** The traffic policy that chose the real servers for this virtual service. */
  trafficPolicy: 'Cluster' | 'Local';
  /** Set when zone hints (hints.forZones) chose the real servers. */
  topologyZone?: string;
  /** Set when node hints (hints.forNodes, trafficDistribution PreferSameNode) chose the real servers. */
  topologyNode?: string;
  /** Human-readable reasons for the choice of real servers (fallbacks, hints ignored, …). */
  notes: string[];
  /** The field of the Service that produced the address, e.g. "spec.externalIPs[0]", "spec.ports[1].nodePort". */
  field?: string;
  /** LoadBalancer only: spec.loadBalancerSourceRanges of this family (canonical CIDRs), when they restrict. */
  sourceRanges?: string[];
  /** LoadBalancer with sourceRanges: whether a range holds a node address (the node may connect). */
  allowFromNode?: boolean;
}

/** An endpoint as the model saw it, whether or not it became a real server. */
export interface EndpointInfo {
  address: string;
  port: number;
  pod?: string;        // "namespace/name" from targetRef
  node?: string;       // nodeName
  zone?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  local: boolean;
  /** Whether it is a real server of this virtual service, and if not why not. */
  used: boolean;
  reason?: string;
}

/**
 * Treat as read-only: the model shares these objects (the desired state holds them as they are; virtual
 * services with the same choice of real servers share one `servers` table; empty `origin.notes` are one
 * frozen array).
 */
export interface DesiredVirtualService {
  service: VirtualService;
  /** By serverKeyString (address/port); a ServerTable (src/ipvs/server-table.ts). */
  servers: ReadonlyMap<string, RealServer>;
  origin: VsOrigin;
  /**
   * Every endpoint of the matching slice port, by serverKeyString, as of the commit that computed this
   * virtual service. The model computes it on each read (a new Map each time; nothing kept per endpoint).
   */
  readonly endpoints: Map<string, EndpointInfo>;
  /** The endpoints of the matching slice port on this node, whatever their condition (KUBE-LOOP-BACK). */
  localEndpoints(): { address: string; port: number }[];
}

/** A warning about bad input, naming the object and the field. */
export interface ModelWarning {
  /** e.g. "Service default/web" or "EndpointSlice default/web-abc12" */
  object: string;
  /** e.g. "spec.ports[1].port" */
  field: string;
  message: string;
}

/** An endpoint chosen to serve a Service port: its address and port, and whether it runs on this node. */
export interface PortEndpoint {
  readonly address: string;
  readonly port: number;
  readonly local: boolean;
}

/**
 * One Service port in one IP family, backend-neutral: its frontends (cluster IP, node port, external and
 * load-balancer IPs) and the endpoints that serve it, chosen as kube-proxy's CategorizeEndpoints chooses
 * them. Computed only for the iptables backend (ModelConfig.backend); the IPVS backend's virtual services
 * are made from the same choice.
 */
export interface ServicePortDesired {
  /** kube-proxy's ServicePortName: "namespace/name:portName", or "namespace/name" when the port is unnamed. */
  name: string;
  /** "namespace/name" */
  service: string;
  portName: string;
  family: Family;
  protocol: Protocol;
  port: number;
  clusterIP: string;
  /** spec.ports[i].nodePort when valid. */
  nodePort?: number;
  externalIPs: string[];
  /** Load balancer ingress IPs (not ipMode Proxy). */
  loadBalancerIPs: string[];
  /** spec.loadBalancerSourceRanges of this family, canonical; empty when unrestricted. */
  sourceRanges: string[];
  /** ClientIP session affinity timeout (seconds), when set. */
  affinitySeconds?: number;
  internalLocal: boolean;
  /** externalTrafficPolicy: Local on an externally reachable Service. */
  externalLocal: boolean;
  /** Ready endpoints (topology-filtered when hints apply), else serving-and-terminating ones. */
  clusterEndpoints: readonly PortEndpoint[];
  /** Ready local endpoints, else serving-and-terminating local ones. */
  localEndpoints: readonly PortEndpoint[];
  /** Whether any endpoint anywhere is ready or serving-and-terminating (no: reject at once). */
  hasEndpoints: boolean;
  /**
   * Addresses of every serving endpoint, whatever its node, zone or termination (kube-proxy's IsServing):
   * UDP flows to this port's frontends that reply from elsewhere are stale. The model sets it, for UDP
   * ports only (empty for the others).
   */
  servingAddresses?: readonly string[];
  /** Why the endpoints were chosen as they were (hints, fallbacks). */
  notes: readonly string[];
}

/** What one Service contributes. */
export interface ServiceDesired {
  /** "namespace/name" */
  name: string;
  /** By serviceKeyString. */
  virtualServices: Map<string, DesiredVirtualService>;
  /**
   * VIPs to bind on kube-ipvs0 (ClusterIPs, externalIPs, LoadBalancer ingress IPs), each once; a new
   * array on each read (an array, not a Set: read for every Service at each commit, and nearly always
   * one address).
   */
  readonly addresses: readonly string[];
  /** spec.healthCheckNodePort for externalTrafficPolicy: Local, with the local ready endpoint count. */
  healthCheckNodePort?: { port: number; localEndpoints: number };
  /** Read-only (an empty list is one frozen array). */
  warnings: ModelWarning[];
  /** The backend-neutral per-port view (iptables backend only; empty for the IPVS backend). */
  ports: readonly ServicePortDesired[];
}

/** What `ProxyModel.commit()` reports: enough for the engine to sync only what changed. */
export interface ModelChanges {
  /** serviceKeyStrings whose desired state changed (added, removed, altered). */
  changedKeys: Set<string>;
  /** "namespace/name" of the Services that were recomputed. */
  changedServices: string[];
  /** Whether the set of VIPs to bind changed. */
  addressesChanged: boolean;
  /** Warnings produced by this commit (bad input). */
  warnings: ModelWarning[];
  /** ipset entries (ipsets.ts IpsetEntryKey) no Service had before this commit, and those no Service has now. */
  ipsetAdded: string[];
  ipsetRemoved: string[];
}
