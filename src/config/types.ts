// What the configuration resolves to: the agent's settings, kube-proxy's defaults filled in.
import type { HeapMode } from './heap.js';
import type { VipBinding } from '../link/route-codec.js';
import type { ConfigWarning } from './errors.js';

export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

export interface AgentConfig {
  mode: 'ipvs' | 'iptables';
  configFile?: string;
  kubeconfig?: string;
  /** --master: the API server's URL, over the kubeconfig's. */
  master?: string;
  manifests?: string;
  /** hostnameOverride, else os.hostname(); lower-cased and trimmed as kube-proxy does. */
  nodeName: string;
  /** Pod CIDRs (at most one per family), canonical. */
  clusterCIDR: string[];
  masqueradeAll: boolean;
  masqueradeBit: number;
  /** CIDRs (canonical) and/or the keyword "primary"; empty means every node address. */
  nodePortAddresses: string[];
  /** "host:port"; "" disables the server. */
  healthzBindAddress: string;
  metricsBindAddress: string;
  ipvs: {
    scheduler: string;
    strictARP: boolean;
    syncPeriodMs: number;
    minSyncPeriodMs: number;
    excludeCIDRs: string[];
    tcpTimeoutS: number;
    tcpFinTimeoutS: number;
    udpTimeoutS: number;
  };
  /** iptables mode: its sync periods, how each sync restores, and which iptables backend writes. */
  iptables: {
    syncPeriodMs: number;
    minSyncPeriodMs: number;
    /** 'partial': only changed Services' chains (kube-proxy today); 'full': everything every sync. */
    sync: 'partial' | 'full';
    /** undefined: the backend the node already uses (as kube-proxy's image chooses). */
    backend?: 'legacy' | 'nft';
    /** iptables.localhostNodePorts: NodePorts on 127.0.0.1 (IPv4). */
    localhostNodePorts: boolean;
  };
  /** kube-proxy's conntrack settings (seconds; 0 keeps the kernel's value; maxPerCore 0 keeps the limit). */
  conntrack: {
    maxPerCore: number;
    min: number;
    tcpEstablishedTimeoutS: number;
    tcpCloseWaitTimeoutS: number;
    tcpBeLiberal: boolean;
    udpTimeoutS: number;
    udpStreamTimeoutS: number;
  };
  /** Written to /proc/self/oom_score_adj at start. */
  oomScoreAdj: number;
  /** --vip-binding: addresses on kube-ipvs0 (kube-proxy's way) or kipvs' local routes. */
  vipBinding: VipBinding;
  /** --v8-heap: how V8 sizes the agent's heap (heap.ts HeapMode). */
  v8Heap: HeapMode;
  cleanup: boolean;
  stateSocket: string;
  gracefulTerminationTimeoutMs: number;
  logLevel: string;
  /** logging.format / --logging-format: json (default) or text. */
  logFormat: 'json' | 'text';
  /** kube-proxy's --v (klog verbosity). */
  verbosity: number;
  /** bindAddress (kube-proxy's historical name for the node's primary IP override); "" when unset. */
  bindAddress: string;
  detectLocalMode: DetectLocalMode;
  detectLocal: { bridgeInterface: string; interfaceNamePrefix: string };
  /** --help / -h was given: print usage() and exit. */
  help: boolean;
  /** --version was given: print the version and exit. */
  version: boolean;
  /** Settings accepted without effect, to be logged once the logger exists. */
  warnings: ConfigWarning[];
}
