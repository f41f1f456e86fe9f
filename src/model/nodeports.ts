// Which node addresses serve NodePorts, by kube-proxy's IPVS rules. Pure: the agent reads the local
// addresses (every interface except kube-ipvs0) and passes them in.
import { canonicalAddress, familyOf } from '../netlink/address.js';
import type { Family } from '../ipvs/types.js';
import { parseCidr, cidrContains, isLoopback, isIPv6LinkLocal, isZeroCidr } from '../netlink/cidr.js';
import type { Cidr } from '../netlink/cidr.js';

/**
 * `allLocalAddresses`: the node's addresses on every interface but kube-ipvs0 (any text form; invalid
 * ones are skipped). `cidrs`: nodePortAddresses from the configuration, CIDRs and/or "primary" (which
 * stands for `primaryIPs`, the Node's primary address of each family).
 *
 * Per family, as kube-proxy builds one proxier per family: only the CIDRs of that family count; with
 * none, or with a zero CIDR ("0.0.0.0/0", "::/0"), every address of the family is used except loopback
 * and IPv6 link-local ones. Otherwise the addresses inside those CIDRs are used, minus loopback (IPVS
 * mode never serves NodePorts on loopback). The result is canonical, without duplicates, in input order.
 */
export function nodePortAddresses(allLocalAddresses: Iterable<string>, cidrs: readonly string[], primaryIPs: readonly string[] = []): string[] {
  const byFamily: Record<Family, Cidr[]> = { inet: [], inet6: [] };
  for (const text of cidrs) {
    if (text === 'primary') {
      for (const ip of primaryIPs) {
        const fam = familyOf(ip);
        if (fam) byFamily[fam].push(parseCidr(`${ip}/${fam === 'inet' ? 32 : 128}`)!);
      }
      continue;
    }
    const c = parseCidr(text);
    if (c) byFamily[c.family].push(c);
  }
  const matchAll: Record<Family, boolean> = {
    inet: byFamily.inet.length === 0 || byFamily.inet.some(isZeroCidr),
    inet6: byFamily.inet6.length === 0 || byFamily.inet6.some(isZeroCidr),
  };
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of allLocalAddresses) {
    const fam = familyOf(raw);
    if (!fam) continue;
    const addr = canonicalAddress(raw);
    if (seen.has(addr) || isLoopback(addr)) continue;
    if (matchAll[fam]) {
      if (fam === 'inet6' && isIPv6LinkLocal(addr)) continue;
    } else if (!byFamily[fam].some((c) => cidrContains(c, addr))) {
      continue;
    }
    seen.add(addr);
    out.push(addr);
  }
  return out;
}

/**
 * The Node's primary address of each family, as kube-proxy picks it for "primary": the first InternalIP
 * of the family, else the first ExternalIP. Canonical; at most one per family.
 */
export function nodePrimaryIPs(node: { status?: { addresses?: { type?: string; address?: string }[] } } | undefined): string[] {
  const list = node?.status?.addresses as unknown;
  // Any shape is accepted (the model warns about a malformed Node): what is not a list is none.
  const addrs = Array.isArray(list) ? (list as { type?: unknown; address?: unknown }[]) : [];
  const out = new Map<Family, string>();
  for (const type of ['InternalIP', 'ExternalIP']) {
    for (const a of addrs) {
      if (a?.type !== type || typeof a.address !== 'string') continue;
      const fam = familyOf(a.address);
      if (fam && !a.address.includes('%') && !out.has(fam)) out.set(fam, canonicalAddress(a.address));
    }
  }
  return [...out.values()];
}

/**
 * The Node's pod CIDRs (spec.podCIDRs, one per family; spec.podCIDR on objects that only carry the
 * older field), for detectLocalMode NodeCIDR. Empty until the Node has been assigned them.
 */
export function nodePodCIDRs(node: { spec?: { podCIDRs?: string[]; podCIDR?: string } } | undefined): string[] {
  const many = node?.spec?.podCIDRs as unknown;
  const one = node?.spec?.podCIDR as unknown;
  const list: unknown[] = Array.isArray(many) && many.length > 0 ? many : typeof one === 'string' && one !== '' ? [one] : [];
  return list.filter((c): c is string => typeof c === 'string' && c !== '');
}
