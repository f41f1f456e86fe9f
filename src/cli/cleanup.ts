// `kipvs cleanup`: remove what any proxy mode programmed, kipvs' or kube-proxy's — virtual services
// on kube-ipvs0 VIPs and node addresses, kube-ipvs0, the chains of IPVS mode and of iptables mode and
// the jumps to them (through both iptables backends), the ipsets, and kube-proxy's nftables-mode
// tables. Virtual services an operator added elsewhere, and other iptables rules and nftables tables, stay.
import { LinkClient } from '../link/link.js';
import type { Logger } from '../backends/backend.js';
import { removeIpvsMode } from '../backends/ipvs/cleanup.js';
import { alternativesBackend, isProxyChain, removeNftTables } from '../backends/leftovers.js';
import { createLogger } from './log.js';

export function cleanup(log: Logger): number {
  const link = LinkClient.open();
  try {
    // Both backends, every proxy chain: `active` only says which one the narrower filter would apply to.
    const r = removeIpvsMode({ link, log, chains: isProxyChain, active: alternativesBackend() });
    const tables = removeNftTables(log);
    log.info({ ...r, nftTables: tables }, 'cleanup done: virtual services, kube-ipvs0, iptables chains, ipsets and nftables tables removed');
    const s = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    process.stdout.write(`removed ${s(r.services, 'virtual service')}, kube-ipvs0, ${s(r.chains, 'iptables chain')}, ${s(r.sets, 'ipset')} and ${s(tables.length, 'nftables table')}${tables.length ? ` (${tables.join(', ')})` : ''}\n`);
    return 0;
  } finally {
    link.close();
  }
}

export function main(argv: string[]): number {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: kipvs cleanup\n\nRemove what kipvs or kube-proxy programmed in any proxy mode: the IPVS virtual services on kube-ipvs0\nVIPs and node addresses, the kube-ipvs0 link, the iptables chains of IPVS and iptables mode (legacy and nft)\nwith the jumps to them, the ipsets, and the nftables tables of kube-proxy\'s nftables mode (ip and ip6\nkube-proxy). Anything else stays.\n');
    return 0;
  }
  return cleanup(createLogger(process.env.KIPVS_LOG_LEVEL ?? 'warn'));
}
