// What the agent is started with (src/cli/agent.ts builds it from the configuration; tests directly).
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
  /** How V8 sizes the agent's heap (HEAP_FLAGS); default 'size'. */
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

/**
 * How V8 sizes the agent's heap. 'size' (the default): V8's --optimize-for-size, a heap kept near its
 * live size; 'v8': V8's own sizing, faster syncs for more memory. In the sandbox at 10,000 Services x
 * 10 endpoints (the agent benchmark's process, one boot, 2026-12-04): 'size' peaked at 156 MB with a
 * 23.4 s initial sync, 'v8' at 231 MB with 17.5 s. A GC-only middle way (a young generation that
 * never grows, the old generation collected at 1.2x its live size) cost as much time as 'size' and
 * saved the same memory (153-161 MB, 21.8-24.9 s): not kept.
 */
export type HeapMode = 'size' | 'v8';

/** The V8 flags of each heap mode. */
export const HEAP_FLAGS: Record<HeapMode, readonly string[]> = {
  size: ['--optimize-for-size'],
  v8: [],
};
