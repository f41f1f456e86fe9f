// The agent's backend for its mode: IPVS (kube-ipvs0, IPVS, ipsets and the few rules IPVS mode needs)
// or iptables mode, made from the agent's options and the live views of the node it needs.
import type { LinkClient } from '../link/link.js';
import type { Family } from '../netlink/address.js';
import type { ProxyBackend } from '../backends/backend.js';
import { IpvsBackend } from '../backends/ipvs/backend.js';
import { IptablesBackend, type IptablesModeOptions } from '../backends/iptables/backend.js';
import type { AgentOptions } from './options.js';

/** What the backend reads from the agent while it runs (the Node and its addresses change). */
export interface BackendHooks {
  families: Family[];
  link: LinkClient;
  podCIDRs: () => string[];
  nodePortAddresses: () => string[];
  nodeIPs: () => string[];
  onDrainTimeout: (serviceKey: string, server: string, connections: number) => void;
}

export function makeBackend(o: AgentOptions, h: BackendHooks): ProxyBackend {
  const rules = o.iptables === undefined ? { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: [] } : o.iptables;
  if (o.mode === 'iptables') {
    const mode: IptablesModeOptions = {
      log: o.log,
      masqueradeAll: rules ? rules.masqueradeAll : false,
      masqueradeBit: rules ? rules.masqueradeBit : 14,
      clusterCIDRs: rules ? rules.clusterCIDRs : [],
      localhostNodePorts: rules ? rules.localhostNodePorts ?? true : true,
      ...(rules && rules.detectLocal ? { detectLocal: rules.detectLocal } : {}),
      podCIDRs: h.podCIDRs,
      sync: o.iptablesSync ?? 'partial',
      families: h.families,
      nodePortConfig: o.nodePortAddresses,
      nodePortAddresses: h.nodePortAddresses,
      nodeIPs: h.nodeIPs,
      link: h.link,
    };
    if (o.iptablesBackend) mode.backend = o.iptablesBackend;
    return new IptablesBackend(mode);
  }
  return new IpvsBackend({
    link: h.link,
    log: o.log,
    strictARP: o.strictARP,
    timeouts: o.timeouts,
    excludeCIDRs: o.excludeCIDRs,
    ...(o.vipBinding ? { vipBinding: o.vipBinding } : {}),
    nodeAddresses: h.nodePortAddresses,
    gracefulTerminationTimeoutMs: o.gracefulTerminationTimeoutMs,
    onDrainTimeout: h.onDrainTimeout,
    rules: rules && { ...rules, podCIDRs: h.podCIDRs },
    families: h.families,
  });
}
