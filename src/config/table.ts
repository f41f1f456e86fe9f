// Every KubeProxyConfiguration field (kubeproxy.config.k8s.io/v1alpha1) and every kube-proxy flag, and
// what kipvs does with it. This one table drives the file's schema, the flag parser, the warnings and
// refusals, `kipvs agent --help` and docs/configuration.md (scripts/config-docs.ts writes it; a host
// test checks it is current). A row's status:
//   honoured  kipvs does what kube-proxy does with it (the note says where kipvs differs);
//   warn      accepted; a value other than the neutral ones logs "<field>: has no effect in kipvs: <note>";
//   refused   a value other than the neutral ones is a configuration error, with the note as the reason;
//   kipvs     kipvs' own flag (no kube-proxy equivalent).
// Neutral values ask for nothing (a kubeadm ConfigMap writes every field, mostly with defaults):
// null/absent always is; a row lists the others.
import { SCHEDULERS } from '../ipvs/types.js';

export type Status = 'honoured' | 'warn' | 'refused' | 'kipvs';
/** How a value is written. 'any' is checked by resolve (or not at all, for warn rows). */
export type ValueType = 'string' | 'bool' | 'int' | 'float' | 'duration' | 'strings' | 'boolMap' | 'any';

export interface Setting {
  /** Dotted path in KubeProxyConfiguration, when the file has it. */
  field?: string;
  /** Flag name without dashes, when there is one. */
  flag?: string;
  /** One-letter alias (-v, -h). */
  short?: string;
  type: ValueType;
  /** The default, as text for the docs. */
  default: string;
  status: Status;
  /** honoured/kipvs: what it does (and how kipvs differs); warn/refused: why it has no effect. */
  note: string;
  /** warn/refused rows: values that ask for nothing, besides null. */
  neutral?: readonly unknown[];
  /** For --help: the argument's name. */
  arg?: string;
  /** Not a kube-proxy field: one it dropped; kept so old ConfigMaps are not refused for it. */
  removed?: true;
}

const NO_NFTABLES = 'read only by the nftables mode, which kipvs does not implement';
const WINDOWS = 'Windows (kernelspace mode) only; kipvs runs on Linux';
const KLOG = "a klog output option; kipvs logs to stderr through pino (--logging-format json or text)";
const NO_LIMITER = 'kipvs\' API client has no client-side rate limiter: it lists each kind once, then watches';
const LOG_OPTION = 'a klog output option; kipvs writes every line to stderr as it happens, unbuffered';

export const SETTINGS: readonly Setting[] = [
  // ---- the document
  { field: 'apiVersion', type: 'string', default: 'kubeproxy.config.k8s.io/v1alpha1', status: 'honoured', note: 'must be kubeproxy.config.k8s.io/v1alpha1' },
  { field: 'kind', type: 'string', default: 'KubeProxyConfiguration', status: 'honoured', note: 'must be KubeProxyConfiguration' },
  { flag: 'config', type: 'string', arg: 'PATH', default: '', status: 'honoured', note: 'the KubeProxyConfiguration file (YAML or JSON). kube-proxy ignores most flags when --config is given; kipvs applies every flag over the file' },
  { flag: 'write-config-to', type: 'string', arg: 'PATH', default: '', status: 'refused', neutral: [''], note: 'kipvs does not write configuration files; docs/configuration.md lists every default' },
  { field: 'featureGates', flag: 'feature-gates', type: 'boolMap', arg: 'A=true,B=false', default: '{}', status: 'warn', neutral: [{}, ''], note: "kipvs has no feature gates: it implements the behaviour of kube-proxy's GA features" },

  // ---- the API server
  { field: 'clientConnection.kubeconfig', flag: 'kubeconfig', type: 'string', arg: 'PATH', default: 'in-cluster configuration', status: 'honoured', note: 'the kubeconfig file' },
  { flag: 'master', type: 'string', arg: 'URL', default: '', status: 'honoured', note: "the API server's URL, over the kubeconfig's" },
  { field: 'clientConnection.acceptContentTypes', type: 'string', default: '""', status: 'warn', neutral: [''], note: "kipvs' client (client-node) chooses its own Accept header" },
  { field: 'clientConnection.contentType', flag: 'kube-api-content-type', type: 'string', arg: 'TYPE', default: 'application/vnd.kubernetes.protobuf', status: 'warn', neutral: ['', 'application/vnd.kubernetes.protobuf', 'application/json'], note: "kipvs' client (client-node) speaks JSON" },
  { field: 'clientConnection.qps', flag: 'kube-api-qps', type: 'float', arg: 'N', default: '5', status: 'warn', neutral: [0, 5], note: NO_LIMITER },
  { field: 'clientConnection.burst', flag: 'kube-api-burst', type: 'int', arg: 'N', default: '10', status: 'warn', neutral: [0, 10], note: NO_LIMITER },
  { field: 'configSyncPeriod', flag: 'config-sync-period', type: 'duration', arg: 'DURATION', default: '15m0s', status: 'warn', neutral: ['0s', '15m0s'], note: "kipvs' informers do not relist on a timer; the periodic full sync (syncPeriod) re-applies everything" },

  // ---- the node and its servers
  { field: 'hostnameOverride', flag: 'hostname-override', type: 'string', arg: 'NAME', default: 'the host name', status: 'honoured', note: "this node's name (trimmed, lower-cased)" },
  { field: 'bindAddress', flag: 'bind-address', type: 'string', arg: 'IP', default: '0.0.0.0', status: 'honoured', note: "override of the node's primary IP: its family is the primary IP family, and an IPv6 one makes the default server addresses IPv6" },
  { field: 'healthzBindAddress', flag: 'healthz-bind-address', type: 'string', arg: 'HOST:PORT', default: '127.0.0.1:10256', status: 'honoured', note: "/healthz and /livez; a bare IP gets port 10256; empty disables. kube-proxy's default is 0.0.0.0:10256; kipvs listens on loopback ([::1] with an IPv6 bindAddress) unless told otherwise: set 0.0.0.0:10256 where load balancers probe nodes (the deploy manifests do)" },
  { flag: 'healthz-port', type: 'int', arg: 'PORT', default: '10256', status: 'honoured', note: "deprecated in kube-proxy: the health server's port; 0 disables it" },
  { field: 'metricsBindAddress', flag: 'metrics-bind-address', type: 'string', arg: 'HOST:PORT', default: '127.0.0.1:10249', status: 'honoured', note: '/metrics; a bare IP gets port 10249; empty disables' },
  { flag: 'metrics-port', type: 'int', arg: 'PORT', default: '10249', status: 'honoured', note: "deprecated in kube-proxy: the metrics server's port; 0 disables it" },
  { field: 'bindAddressHardFail', flag: 'bind-address-hard-fail', type: 'bool', default: 'false', status: 'warn', neutral: [true], note: 'kipvs always stops when it cannot bind its health or metrics server (as with true)' },
  { field: 'enableProfiling', flag: 'profiling', type: 'bool', default: 'false', status: 'warn', neutral: [false], note: "kipvs serves no /debug/pprof; profile it with node's --cpu-prof or --inspect" },
  { field: 'showHiddenMetricsForVersion', flag: 'show-hidden-metrics-for-version', type: 'string', arg: 'X.Y', default: '""', status: 'warn', neutral: [''], note: 'kipvs hides no metrics' },
  { field: 'oomScoreAdj', flag: 'oom-score-adj', type: 'int', arg: 'N', default: '-999', status: 'honoured', note: "written to /proc/self/oom_score_adj at start, -1000 to 1000 (a failure is logged, as kube-proxy's)" },

  // ---- the proxy
  { field: 'mode', flag: 'proxy-mode', type: 'string', arg: 'MODE', default: 'ipvs', status: 'honoured', note: 'ipvs or iptables; nftables and kernelspace are refused. kube-proxy defaults to iptables, kipvs to ipvs' },
  { field: 'iptables.masqueradeBit', flag: 'iptables-masquerade-bit', type: 'int', arg: 'BIT', default: '14', status: 'honoured', note: 'the fwmark bit that marks packets for SNAT, 0-31' },
  { field: 'iptables.masqueradeAll', flag: 'masquerade-all', type: 'bool', default: 'false', status: 'honoured', note: 'SNAT all traffic to Service cluster IPs' },
  { field: 'iptables.localhostNodePorts', flag: 'iptables-localhost-nodeports', type: 'bool', default: 'true', status: 'honoured', note: 'iptables mode: NodePorts answer on 127.0.0.1 (sets route_localnet)' },
  { field: 'iptables.snatNodeInternalIP', type: 'bool', default: 'false', status: 'refused', neutral: [false], note: "kipvs does not SNAT to the node's InternalIP" },
  { field: 'iptables.syncPeriod', flag: 'iptables-sync-period', type: 'duration', arg: 'DURATION', default: '30s', status: 'honoured', note: 'iptables mode: the full resync period' },
  { field: 'iptables.minSyncPeriod', flag: 'iptables-min-sync-period', type: 'duration', arg: 'DURATION', default: '1s', status: 'honoured', note: 'iptables mode: the least time between syncs' },
  { field: 'ipvs.syncPeriod', flag: 'ipvs-sync-period', type: 'duration', arg: 'DURATION', default: '30s', status: 'honoured', note: 'IPVS mode: the full resync period' },
  { field: 'ipvs.minSyncPeriod', flag: 'ipvs-min-sync-period', type: 'duration', arg: 'DURATION', default: '0s', status: 'honoured', note: 'IPVS mode: the least time between syncs (0: sync on every change)' },
  { field: 'ipvs.scheduler', flag: 'ipvs-scheduler', type: 'string', arg: 'NAME', default: 'rr', status: 'honoured', note: `the IPVS scheduler: ${SCHEDULERS.join(', ')}` },
  { field: 'ipvs.excludeCIDRs', flag: 'ipvs-exclude-cidrs', type: 'strings', arg: 'CIDRS', default: '[]', status: 'honoured', note: 'virtual services in these CIDRs are never touched' },
  { field: 'ipvs.strictARP', flag: 'ipvs-strict-arp', type: 'bool', default: 'false', status: 'honoured', note: 'sets arp_ignore=1 and arp_announce=2' },
  { field: 'ipvs.tcpTimeout', flag: 'ipvs-tcp-timeout', type: 'duration', arg: 'DURATION', default: '0s', status: 'honoured', note: "IPVS idle TCP timeout (0 keeps the kernel's)" },
  { field: 'ipvs.tcpFinTimeout', flag: 'ipvs-tcpfin-timeout', type: 'duration', arg: 'DURATION', default: '0s', status: 'honoured', note: "IPVS TCP timeout after FIN (0 keeps the kernel's)" },
  { field: 'ipvs.udpTimeout', flag: 'ipvs-udp-timeout', type: 'duration', arg: 'DURATION', default: '0s', status: 'honoured', note: "IPVS UDP timeout (0 keeps the kernel's)" },
  { field: 'nftables.masqueradeBit', type: 'int', default: '14', status: 'warn', neutral: [14], note: NO_NFTABLES },
  { field: 'nftables.masqueradeAll', type: 'bool', default: 'false', status: 'warn', neutral: [false], note: NO_NFTABLES },
  { field: 'nftables.syncPeriod', type: 'duration', default: '30s', status: 'warn', neutral: ['0s', '30s'], note: NO_NFTABLES },
  { field: 'nftables.minSyncPeriod', type: 'duration', default: '1s', status: 'warn', neutral: ['0s', '1s'], note: NO_NFTABLES },
  { field: 'detectLocalMode', flag: 'detect-local-mode', type: 'string', arg: 'MODE', default: 'ClusterCIDR', status: 'honoured', note: 'how traffic from local pods is told apart: ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix' },
  { field: 'detectLocal.bridgeInterface', flag: 'pod-bridge-interface', type: 'string', arg: 'NAME', default: '""', status: 'honoured', note: 'detectLocalMode BridgeInterface: the pods\' bridge' },
  { field: 'detectLocal.interfaceNamePrefix', flag: 'pod-interface-name-prefix', type: 'string', arg: 'PREFIX', default: '""', status: 'honoured', note: 'detectLocalMode InterfaceNamePrefix: the pods\' interface name prefix' },
  { field: 'clusterCIDR', flag: 'cluster-cidr', type: 'string', arg: 'CIDRS', default: '""', status: 'honoured', note: 'the pod CIDR(s), comma-separated for dual-stack' },
  { field: 'nodePortAddresses', flag: 'nodeport-addresses', type: 'strings', arg: 'CIDRS', default: 'all node addresses', status: 'honoured', note: 'CIDRs (or "primary") of the node addresses that serve NodePorts' },
  { flag: 'cleanup', type: 'bool', default: 'false', status: 'honoured', note: 'remove what the proxy programmed, then exit. kipvs deletes only what it owns: virtual services, chains and sets of other programs stay' },
  { flag: 'init-only', type: 'bool', default: 'false', status: 'refused', neutral: [false], note: 'kipvs sets its kernel parameters when it starts and needs CAP_NET_ADMIN all along; run it without --init-only' },

  // ---- conntrack
  { field: 'conntrack.maxPerCore', flag: 'conntrack-max-per-core', type: 'int', arg: 'N', default: '32768', status: 'honoured', note: 'nf_conntrack_max = N × CPUs (at least conntrack.min); 0 leaves the limit and min alone. hashsize is raised to max/4 when smaller' },
  { field: 'conntrack.min', flag: 'conntrack-min', type: 'int', arg: 'N', default: '131072', status: 'honoured', note: 'the least nf_conntrack_max' },
  { field: 'conntrack.tcpEstablishedTimeout', flag: 'conntrack-tcp-timeout-established', type: 'duration', arg: 'DURATION', default: '24h0m0s', status: 'honoured', note: "nf_conntrack_tcp_timeout_established (0 keeps the kernel's)" },
  { field: 'conntrack.tcpCloseWaitTimeout', flag: 'conntrack-tcp-timeout-close-wait', type: 'duration', arg: 'DURATION', default: '1h0m0s', status: 'honoured', note: "nf_conntrack_tcp_timeout_close_wait (0 keeps the kernel's)" },
  { field: 'conntrack.tcpBeLiberal', flag: 'conntrack-tcp-be-liberal', type: 'bool', default: 'false', status: 'honoured', note: 'true sets nf_conntrack_tcp_be_liberal=1 (false leaves it)' },
  { field: 'conntrack.udpTimeout', flag: 'conntrack-udp-timeout', type: 'duration', arg: 'DURATION', default: '0s', status: 'honoured', note: "nf_conntrack_udp_timeout (0 keeps the kernel's)" },
  { field: 'conntrack.udpStreamTimeout', flag: 'conntrack-udp-timeout-stream', type: 'duration', arg: 'DURATION', default: '0s', status: 'honoured', note: "nf_conntrack_udp_timeout_stream (0 keeps the kernel's)" },
  { field: 'conntrack.max', type: 'int', default: '-', status: 'warn', neutral: [0], removed: true, note: 'removed from KubeProxyConfiguration (kube-proxy ignores it too); use conntrack.maxPerCore and conntrack.min' },
  { field: 'udpIdleTimeout', type: 'duration', default: '-', status: 'warn', neutral: [], removed: true, note: 'removed from KubeProxyConfiguration with the userspace mode (kube-proxy ignores it too)' },
  { field: 'portRange', type: 'string', default: '""', status: 'warn', neutral: [''], note: 'unused by kube-proxy too (it served the removed userspace mode)' },

  // ---- Windows
  { field: 'winkernel.networkName', flag: 'network-name', type: 'string', default: '""', status: 'refused', neutral: [''], note: WINDOWS },
  { field: 'winkernel.sourceVip', flag: 'source-vip', type: 'string', default: '""', status: 'refused', neutral: [''], note: WINDOWS },
  { field: 'winkernel.enableDSR', flag: 'enable-dsr', type: 'bool', default: 'false', status: 'refused', neutral: [false], note: WINDOWS },
  { field: 'winkernel.rootHnsEndpointName', flag: 'root-hnsendpoint-name', type: 'string', default: '""', status: 'refused', neutral: [''], note: WINDOWS },
  { field: 'winkernel.forwardHealthCheckVip', flag: 'forward-healthcheck-vip', type: 'bool', default: 'false', status: 'refused', neutral: [false], note: WINDOWS },
  { field: 'windowsRunAsService', flag: 'windows-service', type: 'bool', default: 'false', status: 'refused', neutral: [false], note: WINDOWS },

  // ---- logging (component-base)
  { field: 'logging.verbosity', flag: 'v', short: 'v', type: 'int', arg: 'N', default: '0', status: 'honoured', note: 'klog verbosity as a log level: 4 and above debug, 6 and above trace (--log-level wins)' },
  { field: 'logging.format', flag: 'logging-format', type: 'string', arg: 'FORMAT', default: 'json', status: 'honoured', note: 'json: one JSON object a line (pino, level names, ISO times); text: one readable line each. kipvs defaults to json, kube-proxy to text' },
  { field: 'logging.flushFrequency', flag: 'log-flush-frequency', type: 'any', arg: 'DURATION', default: '5s', status: 'warn', neutral: [0, '0s', '5s', 5_000_000_000], note: LOG_OPTION },
  { field: 'logging.vmodule', flag: 'vmodule', type: 'any', arg: 'PATTERN=N,...', default: '""', status: 'warn', neutral: ['', []], note: 'per-file verbosity is klog\'s; kipvs has one logger' },
  { field: 'logging.options.json.splitStream', flag: 'log-json-split-stream', type: 'bool', default: 'false', status: 'warn', neutral: [false], note: LOG_OPTION },
  { field: 'logging.options.json.infoBufferSize', flag: 'log-json-info-buffer-size', type: 'any', arg: 'SIZE', default: '0', status: 'warn', neutral: [0, '0'], note: LOG_OPTION },
  { field: 'logging.options.text.splitStream', flag: 'log-text-split-stream', type: 'bool', default: 'false', status: 'warn', neutral: [false], note: LOG_OPTION },
  { field: 'logging.options.text.infoBufferSize', flag: 'log-text-info-buffer-size', type: 'any', arg: 'SIZE', default: '0', status: 'warn', neutral: [0, '0'], note: LOG_OPTION },
  ...['add-dir-header', 'alsologtostderr', 'log-backtrace-at', 'log-dir', 'log-file', 'log-file-max-size', 'logtostderr', 'one-output', 'skip-headers', 'skip-log-headers', 'stderrthreshold']
    .map((flag): Setting => ({ flag, type: 'any', arg: 'VALUE', default: '-', status: 'warn', note: KLOG })),
  { flag: 'boot-id-file', type: 'any', arg: 'PATHS', default: '/proc/sys/kernel/random/boot_id', status: 'warn', note: 'kipvs reads no boot ID' },
  { flag: 'machine-id-file', type: 'any', arg: 'PATHS', default: '/etc/machine-id,/var/lib/dbus/machine-id', status: 'warn', note: 'kipvs reads no machine ID' },
  { flag: 'help', short: 'h', type: 'bool', default: 'false', status: 'honoured', note: 'print the flags and exit' },
  { flag: 'version', type: 'bool', default: 'false', status: 'honoured', note: "print kipvs' version and exit" },

  // ---- kipvs' own
  { flag: 'manifests', type: 'string', arg: 'DIR', default: '', status: 'kipvs', note: 'read Services and EndpointSlices from YAML/JSON files in DIR instead of the API server' },
  { flag: 'state-socket', type: 'string', arg: 'PATH', default: '/run/kipvs/state.sock', status: 'kipvs', note: 'read-only state socket for "kipvs list"/"explain"; empty disables' },
  { flag: 'graceful-termination-timeout', type: 'duration', arg: 'DURATION', default: '15m', status: 'kipvs', note: 'longest a removed TCP real server drains at weight 0 (0: no limit). kube-proxy waits for the last connection however long it takes; kipvs bounds the wait' },
  { flag: 'log-level', type: 'string', arg: 'LEVEL', default: 'info', status: 'kipvs', note: 'trace, debug, info, warn, error, fatal or silent' },
  { flag: 'iptables-sync', type: 'string', arg: 'partial|full', default: 'partial', status: 'kipvs', note: "iptables mode: restore only changed Services' chains, or every chain on every sync" },
  { flag: 'iptables-backend', type: 'string', arg: 'legacy|nft', default: 'the one the node uses', status: 'kipvs', note: 'iptables mode: the iptables backend to write with' },
  { flag: 'vip-binding', type: 'string', arg: 'address|local-route', default: 'address', status: 'kipvs', note: "IPVS mode: how a Service's VIP is made local to the node. address: an address on kube-ipvs0, as kube-proxy does (the kernel walks the link's address list at every add: 116 s for 50,000 in the sandbox); local-route: a host route in the local routing table through lo, protocol 107, one each (6 s for 50,000), and kube-ipvs0 holds no address. Traffic is handled the same; a switch either way retires the other kind once each VIP is bound the new way" },
  { flag: 'v8-heap', type: 'string', arg: 'bounded|size|v8', default: 'bounded', status: 'kipvs', note: "how V8 sizes the agent's heap: bounded caps the young generation, collects the old one at 1.2x its live size and hands freed C memory back during the first sync; size (--optimize-for-size) as small, slower code; v8, V8's own sizing, more memory" },
];

export const BY_FIELD: ReadonlyMap<string, Setting> = new Map(SETTINGS.filter((s) => s.field).map((s) => [s.field!, s]));
export const BY_FLAG: ReadonlyMap<string, Setting> = new Map(SETTINGS.filter((s) => s.flag).map((s) => [s.flag!, s]));
export const BY_SHORT: ReadonlyMap<string, Setting> = new Map(SETTINGS.filter((s) => s.short).map((s) => [s.short!, s]));

/** Objects in the file (every proper prefix of a field path). */
export const OBJECT_FIELDS: ReadonlySet<string> = new Set(
  [...BY_FIELD.keys()].flatMap((f) => f.split('.').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('.'))),
);
