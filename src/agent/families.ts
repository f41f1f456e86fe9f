// Which IP families this node programs, as kube-proxy decides it: every family the node supports
// (dual-stack when both are), and the primary family from bindAddress or the Node's first address.
// The decision is pure (decideFamilies, primaryFamily); probeFamilySupport is the thin part that
// looks at the host.
import { existsSync, readFileSync } from 'node:fs';
import { canonicalAddress, familyOf, FAMILY_NAME, type Family } from '../netlink/address.js';
import { execRun, type Run } from '../iptables/iptables.js';

export { FAMILY_NAME };

export interface FamilySupport {
  supported: boolean;
  /** Why not, when not supported. */
  reason?: string;
}

export interface PrimaryFamily {
  family: Family;
  /** Where it came from: bindAddress, the Node's first InternalIP/ExternalIP, or the default (IPv4). */
  from: 'bindAddress' | 'node' | 'default';
}

/**
 * The primary family: bindAddress when set and not unspecified ("0.0.0.0", "::"), else the family of
 * `nodeIPs[0]` (the Node's first InternalIP, else ExternalIP; see nodePrimaryIPs), else IPv4.
 */
export function primaryFamily(bindAddress: string, nodeIPs: readonly string[]): PrimaryFamily {
  const bind = bindAddress === '' ? null : familyOf(bindAddress);
  if (bind && !['0.0.0.0', '::'].includes(canonicalAddress(bindAddress))) return { family: bind, from: 'bindAddress' };
  const node = nodeIPs.length > 0 ? familyOf(nodeIPs[0]!) : null;
  if (node) return { family: node, from: 'node' };
  return { family: 'inet', from: 'default' };
}

export interface FamilyDecision {
  /** The families to program, IPv4 first. */
  families: Family[];
  /** The families left out and why (logged once at start). */
  skipped: { family: Family; reason: string }[];
  /** Set when the primary family is one the node cannot program (kube-proxy refuses to start then). */
  problem?: string;
}

/**
 * Program every supported family (kube-proxy runs dual-stack whenever the node can, whatever the
 * cluster's configuration). Throws when neither family is usable. A primary family the node does not
 * support is reported in `problem`: the caller decides whether that is fatal (bindAddress, known at
 * start) or an error to log (the Node's address, learnt later).
 */
export function decideFamilies(support: Record<Family, FamilySupport>, primary: PrimaryFamily): FamilyDecision {
  const families: Family[] = [];
  const skipped: FamilyDecision['skipped'] = [];
  for (const f of ['inet', 'inet6'] as const) {
    if (support[f].supported) families.push(f);
    else skipped.push({ family: f, reason: support[f].reason ?? 'not supported' });
  }
  if (families.length === 0) {
    throw new Error(`no IP family can be programmed on this node: ${skipped.map((s) => `${FAMILY_NAME[s.family]}: ${s.reason}`).join('; ')}`);
  }
  const out: FamilyDecision = { families, skipped };
  if (!families.includes(primary.family)) {
    const why = skipped.find((s) => s.family === primary.family)!.reason;
    out.problem = `the primary IP family ${FAMILY_NAME[primary.family]} (from ${primary.from}) is not supported on this node: ${why}`;
  }
  return out;
}

/**
 * The families to program on this host, logging once why a family is left out. A bindAddress of a family
 * the node cannot program is fatal, as in kube-proxy.
 */
export function familiesToProgram(o: { iptables: boolean; bindAddress: string; log: { warn(o: object, m?: string): void } }): Family[] {
  const primary = primaryFamily(o.bindAddress, []);
  const d = decideFamilies(probeFamilySupport({ iptables: o.iptables }), primary);
  if (d.problem && primary.from === 'bindAddress') throw new Error(`bindAddress ${o.bindAddress}: ${d.problem}`);
  for (const s of d.skipped) {
    o.log.warn({ family: FAMILY_NAME[s.family], reason: s.reason }, 'single-stack node: this family is not programmed (no ipsets, iptables rules or virtual services)');
  }
  return d.families;
}

export interface ProbeOptions {
  /** Whether the mode writes iptables rules (then iptables/ip6tables must work for the family). */
  iptables: boolean;
  /** Where /proc is (tests). */
  proc?: string;
  run?: Run;
}

/**
 * What the host supports, per family. IPv6: the kernel has it (/proc/net/if_inet6 exists), it is not
 * switched off (net.ipv6.conf.all.disable_ipv6 is not 1, read in this network namespace) and, when
 * rules are written, ip6tables works. IPv4: iptables works when rules are written.
 */
export function probeFamilySupport(o: ProbeOptions): Record<Family, FamilySupport> {
  const proc = o.proc ?? '/proc';
  const run = o.run ?? execRun;
  const tables = (command: string): FamilySupport => {
    if (!o.iptables) return { supported: true };
    try {
      run(command, ['-w', '-t', 'nat', '-S', 'POSTROUTING']);
      return { supported: true };
    } catch (err) {
      return { supported: false, reason: `${command} does not work: ${(err as Error).message.split('\n')[0]}` };
    }
  };
  let inet6: FamilySupport;
  if (!existsSync(`${proc}/net/if_inet6`)) {
    inet6 = { supported: false, reason: 'the kernel has no IPv6 (no /proc/net/if_inet6)' };
  } else if (readSysctl(`${proc}/sys/net/ipv6/conf/all/disable_ipv6`) === '1') {
    inet6 = { supported: false, reason: 'IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)' };
  } else {
    inet6 = tables('ip6tables');
  }
  return { inet: tables('iptables'), inet6 };
}

function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
