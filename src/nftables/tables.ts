// The nftables tables of this network namespace, listed over nfnetlink (NETLINK_NETFILTER, subsystem
// NFTABLES; linux/netfilter/nf_tables.h) as `nft list tables` names them ("ip kube-proxy"). Only the
// list: kipvs looks for kube-proxy's nftables-mode tables at start, and a netlink dump costs a
// millisecond where running `nft` forks the agent (a fifth of a second each in the sandbox, on the
// first sync's path).
import { NetlinkConnection } from '../netlink/connection.js';
import { MessageWriter, attrOf, NLM_F_REQUEST, NLM_F_DUMP } from '../netlink/message.js';
import type { NamespaceOption } from '../netlink/netns.js';

export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETTABLE = 1;
export const NFTA_TABLE_NAME = 1;
const NFNETLINK_V0 = 0;
/** struct nfgenmsg: family, version, res_id (be16). */
const NFGENMSG_LEN = 4;

/** nftables' family names (nft's own words) by NFPROTO_* number. */
const FAMILY_NAMES: Record<number, string> = { 1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ip6' };

/** The dump request for every table of every family (NFPROTO_UNSPEC). */
export function encodeListTables(seq: number): MessageWriter {
  const w = new MessageWriter(64).begin((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  return w.raw(Uint8Array.of(0, NFNETLINK_V0, 0, 0)).end();
}

/** One NFT_MSG_NEWTABLE reply as "family name"; undefined for any other message or one without a name. */
export function decodeTable(type: number, payload: Buffer): string | undefined {
  if (type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE) || payload.length < NFGENMSG_LEN) return undefined;
  const name = attrOf(payload, NFGENMSG_LEN, payload.length, NFTA_TABLE_NAME);
  if (!name) return undefined;
  const family = FAMILY_NAMES[payload[0]!] ?? String(payload[0]);
  // NLA_STRING: NUL-terminated.
  const end = name.indexOf(0);
  return `${family} ${name.toString('utf8', 0, end < 0 ? name.length : end)}`;
}

/** Every nftables table, as "family name". Throws KernelError when the kernel refuses the dump. */
export function listTables(options: NamespaceOption = {}): string[] {
  const conn = new NetlinkConnection(NETLINK_NETFILTER, { ...options, name: 'nftables' });
  try {
    const out: string[] = [];
    conn.dumpStream(encodeListTables, 'list nftables tables', (type, payload) => {
      const t = decodeTable(type, payload);
      if (t !== undefined) out.push(t);
    }, () => { out.length = 0; });
    return out;
  } finally {
    conn.close();
  }
}
