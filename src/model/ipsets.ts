// The ipset entries kube-proxy's IPVS mode keeps for one Service: what its iptables rules match to
// masquerade, accept or filter traffic to the Service's addresses. Pure: the model diffs a Service's
// entries before and after a change, and the sync engine applies the difference.
import type { Family } from '../ipvs/types.js';
import { familyOf } from '../netlink/address.js';
import type { ServiceDesired } from './types.js';

/**
 * Sets by their IPv4 name (kube-proxy's, as in src/iptables/names.ts IPSETS); the IPv6 set of the same
 * role is named by ipsetNameFor().
 */
export type IpsetRole =
  | 'KUBE-LOOP-BACK' | 'KUBE-CLUSTER-IP' | 'KUBE-EXTERNAL-IP' | 'KUBE-EXTERNAL-IP-LOCAL'
  | 'KUBE-LOAD-BALANCER' | 'KUBE-LOAD-BALANCER-LOCAL'
  | 'KUBE-LOAD-BALANCER-FW' | 'KUBE-LOAD-BALANCER-SOURCE-CIDR' | 'KUBE-LOAD-BALANCER-SOURCE-IP'
  | 'KUBE-NODE-PORT-TCP' | 'KUBE-NODE-PORT-LOCAL-TCP' | 'KUBE-NODE-PORT-UDP' | 'KUBE-NODE-PORT-LOCAL-UDP'
  | 'KUBE-NODE-PORT-SCTP-HASH' | 'KUBE-NODE-PORT-LOCAL-SCTP-HASH'
  | 'KUBE-HEALTH-CHECK-NODE-PORT' | 'KUBE-IPVS-IPS';

/**
 * One entry of one set, as one string: "inet|KUBE-CLUSTER-IP|10.96.0.10,tcp:53". The entry part is in
 * ipset's own text form (what `ipset list` prints), so the kernel's dump compares directly.
 */
export type IpsetEntryKey = string;

export function entryKey(family: Family, role: IpsetRole, entry: string): IpsetEntryKey {
  return `${family}|${role}|${entry}`;
}

export function splitEntryKey(key: IpsetEntryKey): { family: Family; role: IpsetRole; entry: string } {
  const a = key.indexOf('|');
  const b = key.indexOf('|', a + 1);
  return { family: key.slice(0, a) as Family, role: key.slice(a + 1, b) as IpsetRole, entry: key.slice(b + 1) };
}

/** A network as `ipset list` prints it: a host route (/32, /128) without its prefix. */
function netText(cidr: string): string {
  return cidr.endsWith('/32') || cidr.endsWith('/128') ? cidr.slice(0, cidr.lastIndexOf('/')) : cidr;
}

/**
 * The entries a Service contributes, as kube-proxy's IPVS proxier makes them:
 * - ClusterIP `cip,proto:port` in KUBE-CLUSTER-IP;
 * - externalIP `ip,proto:port` in KUBE-EXTERNAL-IP, or KUBE-EXTERNAL-IP-LOCAL with externalTrafficPolicy Local;
 * - LoadBalancer `ip,proto:port` in KUBE-LOAD-BALANCER, and also in -LOCAL with Local policy; with
 *   loadBalancerSourceRanges also in -FW, with `ip,proto:port,range` per range in -SOURCE-CIDR and, when
 *   a range holds a node address, `ip,proto:port,ip` in -SOURCE-IP (the node's own connections);
 * - NodePort: the port in KUBE-NODE-PORT-{TCP,UDP} (bitmap:port; -LOCAL- too with Local policy),
 *   for SCTP `nodeIP,sctp:port` per node address in the -SCTP-HASH sets;
 * - healthCheckNodePort in KUBE-HEALTH-CHECK-NODE-PORT;
 * - every VIP bound on kube-ipvs0 in KUBE-IPVS-IPS;
 * - every local endpoint, whatever its readiness, as `ep,proto:port,ep` in KUBE-LOOP-BACK (hairpin:
 *   a pod that reaches itself through a Service is masqueraded so the reply comes back through IPVS).
 */
export function serviceIpsetEntries(sd: ServiceDesired): Set<IpsetEntryKey> {
  const out = new Set<IpsetEntryKey>();
  // Small arrays, not Sets: this runs for every Service at each commit, with one or two of each.
  const families: Family[] = [];
  // Endpoints are the same for every virtual service of one Service port: read them once per port.
  const loopbackDone: string[] = [];
  for (const vs of sd.virtualServices.values()) {
    const s = vs.service;
    if (s.address === undefined || s.protocol === undefined || s.port === undefined) continue;
    const f = s.family;
    if (!families.includes(f)) families.push(f);
    const proto = s.protocol;
    const ipPort = `${s.address},${proto}:${s.port}`;
    const local = vs.origin.trafficPolicy === 'Local';
    switch (vs.origin.kind) {
      case 'ClusterIP':
        out.add(entryKey(f, 'KUBE-CLUSTER-IP', ipPort));
        break;
      case 'ExternalIP':
        out.add(entryKey(f, local ? 'KUBE-EXTERNAL-IP-LOCAL' : 'KUBE-EXTERNAL-IP', ipPort));
        break;
      case 'LoadBalancer':
        out.add(entryKey(f, 'KUBE-LOAD-BALANCER', ipPort));
        if (local) out.add(entryKey(f, 'KUBE-LOAD-BALANCER-LOCAL', ipPort));
        if (vs.origin.sourceRanges?.length) {
          out.add(entryKey(f, 'KUBE-LOAD-BALANCER-FW', ipPort));
          for (const c of vs.origin.sourceRanges) out.add(entryKey(f, 'KUBE-LOAD-BALANCER-SOURCE-CIDR', `${ipPort},${netText(c)}`));
          if (vs.origin.allowFromNode) out.add(entryKey(f, 'KUBE-LOAD-BALANCER-SOURCE-IP', `${ipPort},${s.address}`));
        }
        break;
      case 'NodePort':
        if (proto === 'sctp') {
          out.add(entryKey(f, 'KUBE-NODE-PORT-SCTP-HASH', ipPort));
          if (local) out.add(entryKey(f, 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', ipPort));
        } else {
          const tcp = proto === 'tcp';
          out.add(entryKey(f, tcp ? 'KUBE-NODE-PORT-TCP' : 'KUBE-NODE-PORT-UDP', String(s.port)));
          if (local) out.add(entryKey(f, tcp ? 'KUBE-NODE-PORT-LOCAL-TCP' : 'KUBE-NODE-PORT-LOCAL-UDP', String(s.port)));
        }
        break;
    }
    const port = `${f}/${vs.origin.portName}/${proto}`;
    if (!loopbackDone.includes(port)) {
      loopbackDone.push(port);
      for (const ep of vs.localEndpoints()) out.add(entryKey(f, 'KUBE-LOOP-BACK', `${ep.address},${proto}:${ep.port},${ep.address}`));
    }
  }
  // The model's addresses are valid and canonical: familyOf always has an answer.
  const addresses = sd.addresses;
  for (let i = 0; i < addresses.length; i++) out.add(entryKey(familyOf(addresses[i]!)!, 'KUBE-IPVS-IPS', addresses[i]!));
  if (sd.healthCheckNodePort) {
    for (const f of families) out.add(entryKey(f, 'KUBE-HEALTH-CHECK-NODE-PORT', String(sd.healthCheckNodePort.port)));
  }
  return out;
}

/** Does this entry change which load balancers the node itself may reach (lbOutFilter)? */
export function affectsNodeFirewall(key: IpsetEntryKey): boolean {
  return key.includes('|KUBE-LOAD-BALANCER-FW|') || key.includes('|KUBE-LOAD-BALANCER-SOURCE-IP|');
}

/**
 * The load balancer ip:ports of a family whose loadBalancerSourceRanges hold no node address: the
 * node's own connections to them are dropped (kube-proxy's KUBE-IPVS-OUT-FILTER, #119656). Read from
 * the entries: in -FW with no -SOURCE-IP entry for the node. Sorted, so equal lists compare equal.
 */
export function lbClosedToNode(entries: Iterable<IpsetEntryKey>, family: Family): { address: string; protocol: 'tcp' | 'udp' | 'sctp'; port: number }[] {
  const fw: string[] = [];
  const open = new Set<string>();
  for (const key of entries) {
    if (!affectsNodeFirewall(key)) continue;
    const { family: f, role, entry } = splitEntryKey(key);
    if (f !== family) continue;
    if (role === 'KUBE-LOAD-BALANCER-FW') fw.push(entry);
    else open.add(entry.slice(0, entry.lastIndexOf(',')));
  }
  return fw.filter((e) => !open.has(e)).sort().map((e) => {
    const [address, pp] = e.split(',') as [string, string];
    const [protocol, port] = pp.split(':') as ['tcp' | 'udp' | 'sctp', string];
    return { address, protocol, port: Number(port) };
  });
}
