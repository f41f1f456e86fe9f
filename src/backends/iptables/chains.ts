// Chain names of kube-proxy's iptables mode, computed exactly as kube-proxy computes them (and the fixed
// pieces of its rules: the jumps from built-in chains, pod traffic matches, probabilities), so that chains
// written by kube-proxy and by kipvs are the same chains: a node can switch between the two without
// leaving one side's chains behind, and `iptables-save` reads the same. Pure.
//
// The recipe (pkg/proxy/iptables/proxier.go): SHA-256 of the text, base32 (RFC 4648 standard alphabet,
// upper case), the first 16 characters, after a prefix. For the per-port chains the text is the
// ServicePortName ("ns/name:port", or "ns/name" for an unnamed port) followed by the lower-case protocol;
// for an endpoint chain it is the same followed by the endpoint as "ip:port" ("[ip]:port" for IPv6, as
// Go's net.JoinHostPort writes it).
import { hash as oneShotHash, createHash } from 'node:crypto';
import type { Protocol } from '../../ipvs/types.js';
import type { Family } from '../../netlink/address.js';
import { detectorArgs, type LocalDetector } from '../../iptables/local-detector.js';

export const SVC_PREFIX = 'KUBE-SVC-';
export const SVL_PREFIX = 'KUBE-SVL-';
export const EXT_PREFIX = 'KUBE-EXT-';
export const FW_PREFIX = 'KUBE-FW-';
export const SEP_PREFIX = 'KUBE-SEP-';

/** The per-Service and per-endpoint chain prefixes: chains with these names are ours to delete when unused. */
export const SERVICE_CHAIN_PREFIXES: readonly string[] = [SVC_PREFIX, SVL_PREFIX, SEP_PREFIX, FW_PREFIX, EXT_PREFIX];

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// Sixteen base32 characters carry exactly 80 bits, the digest's first 10 bytes: only those are encoded.
function base32Head(d: Uint8Array): string {
  let out = '';
  for (let g = 0; g < 10; g += 5) {
    const b0 = d[g]!, b1 = d[g + 1]!, b2 = d[g + 2]!, b3 = d[g + 3]!, b4 = d[g + 4]!;
    out +=
      BASE32[b0 >> 3]! +
      BASE32[((b0 & 7) << 2) | (b1 >> 6)]! +
      BASE32[(b1 >> 1) & 31]! +
      BASE32[((b1 & 1) << 4) | (b2 >> 4)]! +
      BASE32[((b2 & 15) << 1) | (b3 >> 7)]! +
      BASE32[(b3 >> 2) & 31]! +
      BASE32[((b3 & 3) << 3) | (b4 >> 5)]! +
      BASE32[b4 & 31]!;
  }
  return out;
}

// crypto.hash (one call, no Hash object) is several times faster for short inputs; older Node lacks it.
const sha256: (text: string) => Uint8Array =
  typeof oneShotHash === 'function'
    ? (text) => oneShotHash('sha256', text, 'buffer')
    : (text) => createHash('sha256').update(text).digest();

/**
 * The 16-character hash kube-proxy puts after a chain prefix. (Not remembered here: the renderer keeps
 * each port's rendered text, names included, for as long as the port is unchanged.)
 */
export function chainHash(text: string): string {
  return base32Head(sha256(text));
}

/** The four chains of one Service port, which share one hash. */
export interface PortChains {
  /** KUBE-SVC-: the Cluster-policy endpoints. */
  svc: string;
  /** KUBE-SVL-: the Local-policy endpoints. */
  svl: string;
  /** KUBE-EXT-: external destinations (NodePort, externalIPs, load balancer IPs). */
  ext: string;
  /** KUBE-FW-: loadBalancerSourceRanges. */
  fw: string;
}

/** The chains of a Service port; `portName` is kube-proxy's ServicePortName string. */
export function portChains(portName: string, protocol: Protocol): PortChains {
  const h = chainHash(portName + protocol);
  return { svc: SVC_PREFIX + h, svl: SVL_PREFIX + h, ext: EXT_PREFIX + h, fw: FW_PREFIX + h };
}

/** An endpoint as kube-proxy prints it (and hashes it): "ip:port", "[ip]:port" for IPv6. */
export function endpointString(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The longest ServicePortName Kubernetes' names allow: namespace and name (63 each), port name (63), "/" and ":". */
const MAX_COMMENT_NAME = 191;

/**
 * A ServicePortName as it goes into a rule's comment: unchanged for Kubernetes' names; anything else
 * (a hostile manifest or API server: the model refuses those, this is the second line) has every
 * character outside [A-Za-z0-9._:/-] replaced by "_" and is cut to the length real names have, so
 * quotes, backslashes, spaces, newlines ("COMMIT", "*nat" lines) and "#" can never reach
 * iptables-restore's input, and every comment stays under xt_comment's 256 bytes.
 */
export function commentName(name: string): string {
  // Some comments are unquoted, as kube-proxy writes them: an empty one would swallow the next argument.
  if (name === '') return '_';
  const safe = /^[A-Za-z0-9._:/-]*$/.test(name) ? name : name.replace(/[^A-Za-z0-9._:/-]/g, '_');
  return safe.length > MAX_COMMENT_NAME ? safe.slice(0, MAX_COMMENT_NAME) : safe;
}

/** The KUBE-SEP- chain of one endpoint of a Service port; `endpoint` as endpointString() gives it. */
export function endpointChain(portName: string, protocol: Protocol, endpoint: string): string {
  return SEP_PREFIX + chainHash(portName + protocol + endpoint);
}

/** A per-Service or per-endpoint chain (one kube-proxy deletes when nothing uses it any more). */
export function isServiceChainName(name: string): boolean {
  // The five prefixes all start "KUBE-" and differ at the sixth character onwards; test cheaply first.
  if (!name.startsWith('KUBE-')) return false;
  for (const p of SERVICE_CHAIN_PREFIXES) if (name.startsWith(p)) return true;
  return false;
}

/** A jump from a built-in chain into one of ours; kube-proxy prepends each if missing, in this order. */
export interface BuiltinJump {
  table: 'filter' | 'nat';
  chain: 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';
  target: string;
  /** The rule after "-A CHAIN ", as iptables-restore takes it. */
  rule: string;
}

const NEW = '-m conntrack --ctstate NEW ';
const jump = (table: BuiltinJump['table'], chain: BuiltinJump['chain'], target: string, pre: string, comment: string): BuiltinJump =>
  ({ table, chain, target, rule: `${pre}${comment ? `-m comment --comment "${comment}" ` : ''}-j ${target}` });

/**
 * kube-proxy's jumps, then the two it copies from kubelet (KUBE-FIREWALL, no comment). Prepending them in
 * this order leaves the last one first in its chain, as on a kube-proxy node.
 */
export const BUILTIN_JUMPS: readonly BuiltinJump[] = [
  jump('filter', 'INPUT', 'KUBE-EXTERNAL-SERVICES', NEW, 'kubernetes externally-visible service portals'),
  jump('filter', 'FORWARD', 'KUBE-EXTERNAL-SERVICES', NEW, 'kubernetes externally-visible service portals'),
  jump('filter', 'INPUT', 'KUBE-NODEPORTS', '', 'kubernetes health check service ports'),
  jump('filter', 'FORWARD', 'KUBE-SERVICES', NEW, 'kubernetes service portals'),
  jump('filter', 'OUTPUT', 'KUBE-SERVICES', NEW, 'kubernetes service portals'),
  jump('filter', 'FORWARD', 'KUBE-FORWARD', '', 'kubernetes forwarding rules'),
  jump('filter', 'INPUT', 'KUBE-PROXY-FIREWALL', NEW, 'kubernetes load balancer firewall'),
  jump('filter', 'OUTPUT', 'KUBE-PROXY-FIREWALL', NEW, 'kubernetes load balancer firewall'),
  jump('filter', 'FORWARD', 'KUBE-PROXY-FIREWALL', NEW, 'kubernetes load balancer firewall'),
  jump('nat', 'OUTPUT', 'KUBE-SERVICES', '', 'kubernetes service portals'),
  jump('nat', 'PREROUTING', 'KUBE-SERVICES', '', 'kubernetes service portals'),
  jump('nat', 'POSTROUTING', 'KUBE-POSTROUTING', '', 'kubernetes postrouting rules'),
  jump('filter', 'INPUT', 'KUBE-FIREWALL', '', ''),
  jump('filter', 'OUTPUT', 'KUBE-FIREWALL', '', ''),
];

/** The chains kube-proxy's iptables mode owns outright (top level; plus every per-Service chain). */
export const TOP_CHAINS = {
  filter: ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL'],
  nat: ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'],
} as const;

/** How kube-proxy tells pod traffic from other traffic (--detect-local-mode); absent: it cannot. */
export type { LocalDetector };

/** The match of pod traffic and of other traffic, as kube-proxy's LocalTrafficDetector writes them. */
export function detector(d: LocalDetector | undefined, family: Family): { ifLocal: string; ifNotLocal: string } | null {
  const a = detectorArgs(d, family);
  return a && { ifLocal: a.ifLocal.join(' '), ifNotLocal: a.ifNotLocal.join(' ') };
}

const probabilities: string[] = [];

/**
 * "--probability" for the i-th of n remaining endpoints: 1/n with ten decimals, as Go's "%0.10f" prints
 * it. toFixed rounds exact ties up where Go rounds them to even; among 1/n the only tie at ten decimals
 * is 1/2048 (0.00048828125, exactly representable), so that one is spelled out.
 */
export function probability(n: number): string {
  let p = probabilities[n];
  if (p === undefined) {
    p = n === 2048 ? '0.0004882812' : (1 / n).toFixed(10);
    if (n <= 100_000) probabilities[n] = p;
  }
  return p;
}
