// How both proxy modes tell traffic from this node's pods from other traffic (kube-proxy's
// detectLocalMode and its LocalTrafficDetector): by the cluster's pod CIDR, by this Node's
// spec.podCIDRs, by the bridge the pods hang on, or by the name prefix of the pods' host-side
// interfaces. The masquerade rules use the negation: traffic to a cluster IP that is not a pod's is
// marked for SNAT (an off-node client routed through this node must get its replies back through it).
// Pure.
import { parseCidr } from '../netlink/cidr.js';
import type { Family } from './names.js';

export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

/** detectLocalMode and detectLocal.*: the mode and the interface settings the interface modes read. */
export interface DetectLocalOptions {
  mode: DetectLocalMode;
  /** detectLocal.bridgeInterface (BridgeInterface mode). */
  bridgeInterface?: string;
  /** detectLocal.interfaceNamePrefix (InterfaceNamePrefix mode). */
  interfaceNamePrefix?: string;
}

/** A detector for one family. */
export type LocalDetector =
  | { kind: 'cidr'; cidr: string }
  | { kind: 'bridge'; interface: string }
  | { kind: 'interfacePrefix'; prefix: string };

/**
 * The detector of one family (ClusterCIDR mode when none is configured): the family's CIDR of the
 * cluster (ClusterCIDR) or of this Node's spec.podCIDRs (NodeCIDR), or the interface (either family).
 * Undefined when the mode has nothing for this family (no CIDR of it configured, or none assigned to
 * the Node yet): the rules then go without, as with kube-proxy's no-op detector.
 */
export function localDetectorFor(
  d: { clusterCIDRs: readonly string[]; detectLocal?: DetectLocalOptions | undefined }, family: Family, nodePodCIDRs: readonly string[] = [],
): LocalDetector | undefined {
  const ofFamily = (cidrs: readonly string[]) => cidrs.find((c) => parseCidr(c)?.family === family);
  const cfg = d.detectLocal ?? { mode: 'ClusterCIDR' };
  switch (cfg.mode) {
    case 'ClusterCIDR': {
      const cidr = ofFamily(d.clusterCIDRs);
      return cidr ? { kind: 'cidr', cidr } : undefined;
    }
    case 'NodeCIDR': {
      const cidr = ofFamily(nodePodCIDRs);
      return cidr ? { kind: 'cidr', cidr } : undefined;
    }
    case 'BridgeInterface':
      return cfg.bridgeInterface ? { kind: 'bridge', interface: cfg.bridgeInterface } : undefined;
    case 'InterfaceNamePrefix':
      return cfg.interfaceNamePrefix ? { kind: 'interfacePrefix', prefix: cfg.interfaceNamePrefix } : undefined;
  }
}

/**
 * The iptables arguments matching pod traffic and other traffic, as kube-proxy's detectors write them:
 * `-s CIDR` / `! -s CIDR`, `-i BRIDGE` / `! -i BRIDGE`, `-i PREFIX+` / `! -i PREFIX+` (iptables' "+"
 * matches any interface name starting with the prefix). Null without a detector, or for a CIDR of the
 * other family.
 */
export function detectorArgs(d: LocalDetector | undefined, family: Family): { ifLocal: string[]; ifNotLocal: string[] } | null {
  if (!d) return null;
  if (d.kind === 'cidr') {
    const c = parseCidr(d.cidr);
    return c && c.family === family ? { ifLocal: ['-s', d.cidr], ifNotLocal: ['!', '-s', d.cidr] } : null;
  }
  const dev = d.kind === 'bridge' ? d.interface : `${d.prefix}+`;
  return { ifLocal: ['-i', dev], ifNotLocal: ['!', '-i', dev] };
}

/** Linux interface names: 1 to 15 characters, no "/", whitespace, or ":" (IFNAMSIZ 16 with the NUL). */
export function badInterfaceName(name: string, prefix = false): string | null {
  if (name === '') return 'empty';
  // A prefix leaves room for at least one more character; iptables takes up to 15 including the "+".
  const max = prefix ? 14 : 15;
  if (name.length > max) return `longer than ${max} characters`;
  if (/[\s/:+]/.test(name) || name === '.' || name === '..') return 'not an interface name';
  return null;
}
