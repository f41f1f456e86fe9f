// `kipvs cleanup`: remove every virtual service kipvs owns (those on addresses bound to kube-ipvs0 and
// on this node's addresses) and kube-ipvs0 itself. Services an operator added elsewhere stay.
import { IpvsClient } from '../ipvs/client.js';
import { LinkClient } from '../link/link.js';
import { SyncEngine, type Logger } from '../sync/engine.js';
import { createLogger } from './log.js';

export function cleanup(log: Logger): number {
  const ipvs = IpvsClient.open();
  const link = LinkClient.open();
  try {
    const nodeAddresses = link.addressesExcept('kube-ipvs0');
    const engine = new SyncEngine({ ipvs, link, log, nodeAddresses: () => nodeAddresses });
    const r = engine.cleanup();
    log.info({ services: r.services }, 'cleanup done: kipvs virtual services and kube-ipvs0 removed');
    process.stdout.write(`removed ${r.services} virtual service${r.services === 1 ? '' : 's'} and kube-ipvs0\n`);
    return 0;
  } finally {
    ipvs.close();
    link.close();
  }
}

export function main(argv: string[]): number {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: kipvs cleanup\n\nRemove every IPVS virtual service kipvs owns (on kube-ipvs0 VIPs and node addresses) and the kube-ipvs0 link.\n');
    return 0;
  }
  return cleanup(createLogger(process.env.KIPVS_LOG_LEVEL ?? 'warn'));
}
