// The ipsets and iptables chains of kube-proxy's IPVS mode, by name. Pure.
//
// The names are kube-proxy's, so a node can switch between kube-proxy and kipvs: IPv4 sets keep the plain
// "KUBE-" names; IPv6 sets get "KUBE-6-" instead (both families live side by side on a dual-stack node),
// cut to ipset's 31-character limit as kube-proxy cuts them.

import type { Family } from '../netlink/address.js';
export type { Family };

export type IpsetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

export type IpsetKey =
  | 'loopBack'
  | 'clusterIP'
  | 'externalIP'
  | 'externalIPLocal'
  | 'loadBalancer'
  | 'loadBalancerLocal'
  | 'loadBalancerFW'
  | 'loadBalancerSourceIP'
  | 'loadBalancerSourceCIDR'
  | 'nodePortTCP'
  | 'nodePortLocalTCP'
  | 'nodePortUDP'
  | 'nodePortLocalUDP'
  | 'nodePortSCTP'
  | 'nodePortLocalSCTP'
  | 'healthCheckNodePort'
  | 'ipvsIPs';

export interface IpsetInfo {
  key: IpsetKey;
  /** The set's name for a family ("KUBE-CLUSTER-IP", "KUBE-6-CLUSTER-IP"). */
  name(family: Family): string;
  type: IpsetType;
  /** What the set holds; also the comment of the iptables rules that match it. */
  comment: string;
}

/** ipset's limit on a set name (IPSET_MAXNAMELEN - 1). */
export const IPSET_NAME_MAX = 31;

/** kube-proxy's name for a set in a family: IPv6 swaps the leading "KUBE-" for "KUBE-6-", then cuts to 31. */
export function ipsetNameFor(v4Name: string, family: Family): string {
  if (family === 'inet' || !v4Name.startsWith('KUBE-')) return v4Name;
  return ('KUBE-6-' + v4Name.slice('KUBE-'.length)).slice(0, IPSET_NAME_MAX);
}

function info(key: IpsetKey, v4Name: string, type: IpsetType, comment: string): IpsetInfo {
  return { key, name: (family) => ipsetNameFor(v4Name, family), type, comment };
}

/** The 17 sets, in kube-proxy's order. bitmap:port sets span ports 0-65535 and have no family. */
export const IPSETS: readonly IpsetInfo[] = [
  info('loopBack', 'KUBE-LOOP-BACK', 'hash:ip,port,ip', 'hairpin: endpoint ip,port and its own ip as source'),
  info('clusterIP', 'KUBE-CLUSTER-IP', 'hash:ip,port', 'service cluster ip,port'),
  info('externalIP', 'KUBE-EXTERNAL-IP', 'hash:ip,port', 'service external ip,port'),
  info('externalIPLocal', 'KUBE-EXTERNAL-IP-LOCAL', 'hash:ip,port', 'service external ip,port with traffic policy Local'),
  info('loadBalancer', 'KUBE-LOAD-BALANCER', 'hash:ip,port', 'service load balancer ip,port'),
  info('loadBalancerLocal', 'KUBE-LOAD-BALANCER-LOCAL', 'hash:ip,port', 'service load balancer ip,port with traffic policy Local'),
  info('loadBalancerFW', 'KUBE-LOAD-BALANCER-FW', 'hash:ip,port', 'service load balancer ip,port with source ranges'),
  info('loadBalancerSourceIP', 'KUBE-LOAD-BALANCER-SOURCE-IP', 'hash:ip,port,ip', 'load balancer ip,port and an allowed source ip'),
  info('loadBalancerSourceCIDR', 'KUBE-LOAD-BALANCER-SOURCE-CIDR', 'hash:ip,port,net', 'load balancer ip,port and an allowed source range'),
  info('nodePortTCP', 'KUBE-NODE-PORT-TCP', 'bitmap:port', 'TCP node ports'),
  info('nodePortLocalTCP', 'KUBE-NODE-PORT-LOCAL-TCP', 'bitmap:port', 'TCP node ports with traffic policy Local'),
  info('nodePortUDP', 'KUBE-NODE-PORT-UDP', 'bitmap:port', 'UDP node ports'),
  info('nodePortLocalUDP', 'KUBE-NODE-PORT-LOCAL-UDP', 'bitmap:port', 'UDP node ports with traffic policy Local'),
  info('nodePortSCTP', 'KUBE-NODE-PORT-SCTP-HASH', 'hash:ip,port', 'SCTP node ip,port'),
  info('nodePortLocalSCTP', 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', 'hash:ip,port', 'SCTP node ip,port with traffic policy Local'),
  info('healthCheckNodePort', 'KUBE-HEALTH-CHECK-NODE-PORT', 'bitmap:port', 'health check node ports'),
  info('ipvsIPs', 'KUBE-IPVS-IPS', 'hash:ip', 'addresses bound on kube-ipvs0'),
];

const BY_KEY = new Map(IPSETS.map((s) => [s.key, s]));

export function ipsetInfo(key: IpsetKey): IpsetInfo {
  return BY_KEY.get(key)!;
}

export function ipsetName(key: IpsetKey, family: Family): string {
  return ipsetInfo(key).name(family);
}

/** Chains kipvs owns, per table: it flushes and rewrites them on every change and deletes them on cleanup. */
export const NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ'] as const;
export const FILTER_CHAINS = [
  'KUBE-FORWARD',
  'KUBE-NODE-PORT',
  'KUBE-PROXY-FIREWALL',
  'KUBE-SOURCE-RANGES-FIREWALL',
  'KUBE-IPVS-FILTER',
  'KUBE-IPVS-OUT-FILTER',
] as const;

export type Table = 'nat' | 'filter';

export const OWNED_CHAINS: Readonly<Record<Table, readonly string[]>> = { nat: NAT_CHAINS, filter: FILTER_CHAINS };
