// rtnetlink's encoding for the local routes that make VIPs local without an address each (linux/
// rtnetlink.h: struct rtmsg, RTA_*, RTN_*, RT_TABLE_*): one host route request, and decoding of route
// replies. Pure.
import type { MessageWriter } from '../netlink/message.js';
import { attrOf } from '../netlink/message.js';
import { readAddressAt, type Family } from '../netlink/address.js';
import { AF_INET, AF_INET6, RT_SCOPE_HOST } from './codec.js';

export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_TABLE = 15;
export const RTN_LOCAL = 2;
export const RT_TABLE_LOCAL = 255;
/**
 * The routing protocol number kipvs' local routes carry (rtm_protocol: who made the route). It tells
 * them from every other local route (the kernel's own, made for each address, are protocol 2) and from
 * each other's: a dump keeps only these. Not among the numbers iproute2's rt_protos assigns.
 */
export const RTPROT_KIPVS = 107;

/** A local route of kipvs' to `address` as `ip route` takes it (kipvs diff prints it so). */
export function localRouteText(address: string): string {
  return `local ${address}/${address.includes(':') ? 128 : 32} dev lo table local proto ${RTPROT_KIPVS}`;
}

/** How a VIP is made local: an address on kube-ipvs0 (kube-proxy's way), or a local route of kipvs'. */
export type VipBinding = 'address' | 'local-route';
export const VIP_BINDINGS: readonly VipBinding[] = ['address', 'local-route'];

export interface LocalRoute {
  family: Family;
  destination: string;
  prefixLength: number;
  outputIndex: number;
}

/** struct rtmsg for a host route of kipvs in the local table: family, destination length, table, protocol, scope, type. */
function rtmsg(v6: boolean): Uint8Array {
  const b = new Uint8Array(12);
  b[0] = v6 ? AF_INET6 : AF_INET;
  b[1] = v6 ? 128 : 32;
  b[4] = RT_TABLE_LOCAL;
  b[5] = RTPROT_KIPVS;
  b[6] = RT_SCOPE_HOST;
  b[7] = RTN_LOCAL;
  return b;
}
const V4 = rtmsg(false);
const V6 = rtmsg(true);

/**
 * One RTM_NEWROUTE or RTM_DELROUTE message for a local host route (/32 or /128) to `bytes` through
 * link `outputIndex`: the kernel delivers what is sent to that address to this host (IPVS sees it in
 * LOCAL_IN), as it does for an address of the host, without adding one to a link's address list.
 */
export function putLocalRoute(w: MessageWriter, type: number, flags: number, seq: number, outputIndex: number, bytes: Uint8Array): void {
  w.begin(type, flags, seq);
  w.raw(bytes.length === 16 ? V6 : V4);
  w.bytes(RTA_DST, bytes).u32(RTA_OIF, outputIndex);
  w.end();
}

/**
 * An RTM_NEWROUTE reply, if it is a host route of kipvs in the local table (null for every other
 * route: a dump lists the node's whole routing state).
 */
export function decodeKipvsRoute(payload: Buffer): LocalRoute | null {
  if (payload.length < 12) return null;
  const af = payload.readUInt8(0);
  if (af !== AF_INET && af !== AF_INET6) return null;
  if (payload.readUInt8(5) !== RTPROT_KIPVS || payload.readUInt8(7) !== RTN_LOCAL) return null;
  // rtm_table holds the table when it is under 256; RTA_TABLE always does.
  const tableAttr = attrOf(payload, 12, payload.length, RTA_TABLE);
  const table = tableAttr && tableAttr.length >= 4 ? tableAttr.readUInt32LE(0) : payload.readUInt8(4);
  if (table !== RT_TABLE_LOCAL) return null;
  const family: Family = af === AF_INET ? 'inet' : 'inet6';
  const dst = attrOf(payload, 12, payload.length, RTA_DST);
  if (!dst || dst.length < (family === 'inet' ? 4 : 16)) return null;
  const oif = attrOf(payload, 12, payload.length, RTA_OIF);
  return {
    family,
    destination: readAddressAt(dst, 0, family),
    prefixLength: payload.readUInt8(1),
    outputIndex: oif && oif.length >= 4 ? oif.readUInt32LE(0) : 0,
  };
}
