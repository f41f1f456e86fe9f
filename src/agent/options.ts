// What the agent is started with (src/cli/agent.ts builds it from the configuration; tests directly).
import type { HeapMode } from '../config/heap.js';
import type { VipBinding } from '../link/route-codec.js';
import type { DetectLocalOptions } from '../iptables/local-detector.js';
import type { Source } from '../sources/types.js';
import type { Logger } from '../backends/backend.js';
import type { ConntrackSettings } from '../backends/conntrack-sysctls.js';
import type { EventSink } from './events.js';
import type { PacerOptions } from '../loop/pacer.js';

export interface AgentOptions {
  nodeName: string;
  /** Which backend renders the model: IPVS (default) or kube-proxy's iptables mode. */
  mode: 'ipvs' | 'iptables';
  scheduler: string;
  strictARP: boolean;
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  excludeCIDRs: string[];
  /** IPVS mode: addresses on kube-ipvs0 (default) or kipvs' local routes. */
  vipBinding?: VipBinding;
  timeouts: { tcp: number; tcpFin: number; udp: number };
  nodePortAddresses: string[];
  healthzBindAddress: string;
  metricsBindAddress: string;
  stateSocket: string;
  gracefulTerminationTimeoutMs: number;
  /** How often draining real servers are checked for connections (kube-proxy: 1 min). */
  drainCheckMs?: number;
  /**
   * The ipsets and iptables rules of IPVS mode (masquerade, node ports, host-port filter): default on.
   * Off only where something else owns those rules (some tests, the benchmark's IPVS-only floor).
   * In iptables mode only the masquerade settings, cluster CIDRs and local-traffic detector are read.
   */
  iptables?: { masqueradeAll: boolean; masqueradeBit: number; clusterCIDRs: string[]; localhostNodePorts?: boolean; detectLocal?: DetectLocalOptions } | false;
  /** iptables mode: 'partial' (default) writes only changed Services' chains; 'full' rewrites all each sync. */
  iptablesSync?: 'partial' | 'full';
  /** iptables mode: the iptables backend to write with; default: the one the node already uses. */
  iptablesBackend?: 'legacy' | 'nft';
  /** How V8 sizes the agent's heap (HEAP_FLAGS, NODE_FLAGS); default DEFAULT_HEAP. */
  heap?: HeapMode;
  /**
   * How a sync shares the event loop (see loop/pacer.ts); default: new Pacer()'s slices. false runs each
   * sync in one synchronous stretch (benchmarks compare the two).
   */
  pacing?: PacerOptions | false;
  /** kube-proxy's conntrack limits and timeouts, set at start in both modes; absent: left alone. */
  conntrack?: ConntrackSettings;
  /** Address the health-check node port servers listen on (tests); default: the nodePortAddresses, as kube-proxy. */
  healthCheckBindHost?: string;
  /** kube-proxy's bindAddress: when set and not 0.0.0.0 or ::, the node's primary IP (its family must be programmable). */
  bindAddress?: string;
  /** Where Kubernetes Events go (the API server); none with a manifests directory. */
  events?: EventSink;
  /** Append the Node.js process metrics (prom-client) to /metrics: default on. */
  processMetrics?: boolean;
  source: Source;
  log: Logger;
}

export { DEFAULT_HEAP, FIRST_SYNC_HEAP_FLAGS, HEAP_FLAGS, NODE_FLAGS, checkNodeFlags, type HeapMode } from '../config/heap.js';
