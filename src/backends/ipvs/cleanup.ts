// Taking IPVS mode away: kipvs' (and kube-proxy's) virtual services on kube-ipvs0 VIPs and node
// addresses, kube-ipvs0 itself, the IPVS-mode chains and the jumps to them, and the 34 ipsets. Used by
// `kipvs cleanup` and by iptables mode once its own rules carry the traffic. Sets go after the rules
// (a set a rule still matches cannot be destroyed); virtual services go last.
import { existsSync } from 'node:fs';
import { IpvsClient } from '../../ipvs/client.js';
import { IpsetClient } from '../../ipset/client.js';
import type { LinkClient } from '../../link/link.js';
import type { ChainFilter } from '../../iptables/iptables.js';
import type { Logger } from '../backend.js';
import { removeChains } from '../leftovers.js';
import { SyncEngine } from './engine.js';
import { IpsetSync } from './ipsets.js';

export interface IpvsModeRemoved {
  services: number;
  chains: number;
  sets: number;
}

/**
 * Remove IPVS mode's state. `chains` selects the chains to remove (IPVS mode's own for `kipvs cleanup`,
 * only those iptables mode does not rewrite when switching modes). IPVS itself is looked at only when
 * the kernel already has it loaded: iptables mode must not load ip_vs on a node that never used it.
 */
export function removeIpvsMode(opts: { link: LinkClient; log: Logger; chains: ChainFilter; active: 'legacy' | 'nft' }): IpvsModeRemoved {
  const { link, log } = opts;
  const out: IpvsModeRemoved = { services: 0, chains: 0, sets: 0 };
  out.chains = removeChains(opts.chains, log, "IPVS mode's chains", opts.active);
  try {
    const client = IpsetClient.open();
    try {
      out.sets = new IpsetSync({ client, families: ['inet', 'inet6'], log }).destroy();
    } finally {
      client.close();
    }
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cannot remove the ipsets of IPVS mode');
  }
  if (existsSync('/proc/net/ip_vs') || link.link('kube-ipvs0') !== null) {
    const ipvs = IpvsClient.open();
    try {
      const nodeAddresses = link.addressesExcept('kube-ipvs0');
      out.services = new SyncEngine({ ipvs, link, log, nodeAddresses: () => nodeAddresses }).cleanup().services;
    } finally {
      ipvs.close();
    }
  }
  return out;
}
