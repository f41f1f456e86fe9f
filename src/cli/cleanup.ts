// `kipvs cleanup`: remove every virtual service kipvs owns (those on addresses bound to kube-ipvs0 and
// on this node's addresses), kube-ipvs0 itself, the iptables chains and jumps of IPVS mode and its
// ipsets. Services an operator added elsewhere, and other iptables rules, stay.
import { IpvsClient } from '../ipvs/client.js';
import { LinkClient } from '../link/link.js';
import { SyncEngine, type Logger } from '../backends/ipvs/engine.js';
import { IpsetClient } from '../ipset/client.js';
import { IpsetSync } from '../backends/ipvs/ipsets.js';
import { Iptables } from '../iptables/iptables.js';
import { createLogger } from './log.js';

export function cleanup(log: Logger): number {
  const ipvs = IpvsClient.open();
  const link = LinkClient.open();
  try {
    const nodeAddresses = link.addressesExcept('kube-ipvs0');
    const engine = new SyncEngine({ ipvs, link, log, nodeAddresses: () => nodeAddresses });
    const r = engine.cleanup();
    // The rules first: a set an iptables rule still matches cannot be destroyed.
    for (const family of ['inet', 'inet6'] as const) {
      try {
        new Iptables({ family, log }).cleanup();
      } catch (err) {
        log.warn({ family, err: (err as Error).message }, 'cleanup: cannot remove iptables rules');
      }
    }
    let sets = 0;
    try {
      const client = IpsetClient.open();
      try {
        sets = new IpsetSync({ client, families: ['inet', 'inet6'], log }).destroy();
      } finally {
        client.close();
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cleanup: cannot remove ipsets');
    }
    log.info({ services: r.services, ipsets: sets }, 'cleanup done: kipvs virtual services, kube-ipvs0, iptables chains and ipsets removed');
    process.stdout.write(`removed ${r.services} virtual service${r.services === 1 ? '' : 's'}, kube-ipvs0, the iptables chains and ${sets} ipset${sets === 1 ? '' : 's'}\n`);
    return 0;
  } finally {
    ipvs.close();
    link.close();
  }
}

export function main(argv: string[]): number {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: kipvs cleanup\n\nRemove every IPVS virtual service kipvs owns (on kube-ipvs0 VIPs and node addresses), the kube-ipvs0 link,\nthe iptables chains of IPVS mode (and the jumps to them) and its ipsets.\n');
    return 0;
  }
  return cleanup(createLogger(process.env.KIPVS_LOG_LEVEL ?? 'warn'));
}
