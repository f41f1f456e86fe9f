// rtnetlink's encoding for links and addresses (linux/rtnetlink.h, if_link.h, if_addr.h): the fixed
// headers, a host address request, and decoding of link and address replies. Pure.
import { MessageWriter, parseAttrs, attrOf, attr } from '../netlink/message.js';
import { readAddressAt, type Family } from '../netlink/address.js';

// rtnetlink.h (RTM_*, RT_SCOPE_*), if_link.h (IFLA_*), if_addr.h (IFA_*), if.h (IFF_*).
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const IFLA_IFNAME = 3;
export const IFLA_LINKINFO = 18;
export const IFLA_INFO_KIND = 1;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const IFA_F_PERMANENT = 0x80;
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_HOST = 254;
export const IFF_UP = 0x1;
export const IFF_NOARP = 0x80;

export interface LinkInfo {
  index: number;
  name: string;
  flags: number;
  kind?: string | undefined;
}

export interface InterfaceAddress {
  family: Family;
  address: string;
  prefixLength: number;
  linkIndex: number;
  scope: number;
}

/** struct ifinfomsg: family, pad, type, index, flags, change. */
export function ifinfomsg(family: number, index: number): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  return b;
}

/** struct ifaddrmsg: family, prefix length, flags, scope, index. */
export function ifaddrmsg(family: number, prefixLen: number, flags: number, scope: number, index = 0): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLen, 1);
  b.writeUInt8(flags, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}

/** putHostAddress' ifaddrmsg by link index and family (a node has a handful of links). */
const hostHeaders = new Map<number, Uint8Array>();

/**
 * One RTM_NEWADDR or RTM_DELADDR message for a host address (/32 or /128) on link `linkIndex`: the
 * address as IFA_LOCAL and IFA_ADDRESS, IPv6 without duplicate address detection and permanent.
 */
export function putHostAddress(w: MessageWriter, type: number, flags: number, seq: number, linkIndex: number, bytes: Uint8Array): void {
  const v6 = bytes.length === 16;
  w.begin(type, flags, seq);
  // The same header for every address of a family on one link (10,000 VIPs at a first sync): made once.
  const key = linkIndex * 2 + (v6 ? 1 : 0);
  let header = hostHeaders.get(key);
  if (!header) {
    header = ifaddrmsg(v6 ? AF_INET6 : AF_INET, v6 ? 128 : 32, v6 ? IFA_F_NODAD : 0, RT_SCOPE_UNIVERSE, linkIndex);
    hostHeaders.set(key, header);
  }
  w.raw(header);
  w.bytes(IFA_LOCAL, bytes).bytes(IFA_ADDRESS, bytes);
  if (v6) w.u32(IFA_FLAGS, IFA_F_NODAD | IFA_F_PERMANENT);
  w.end();
}

/** An RTM_NEWLINK reply: index, flags, name and kind (IFLA_LINKINFO's IFLA_INFO_KIND). */
export function decodeLink(payload: Buffer): LinkInfo {
  const a = parseAttrs(payload, 16);
  const info = a[IFLA_LINKINFO] ? parseAttrs(a[IFLA_LINKINFO]) : [];
  return {
    index: payload.readInt32LE(4),
    flags: payload.readUInt32LE(8),
    name: attr.string(a[IFLA_IFNAME]),
    kind: info[IFLA_INFO_KIND] ? attr.string(info[IFLA_INFO_KIND]) : undefined,
  };
}

/** An RTM_NEWADDR reply; null for a family other than IPv4 and IPv6 or without an address. */
export function decodeAddress(payload: Buffer): InterfaceAddress | null {
  const af = payload.readUInt8(0);
  if (af !== AF_INET && af !== AF_INET6) return null;
  // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links). Read
  // in place: a reconcile lists every VIP on kube-ipvs0 (10,000 and more).
  const raw = attrOf(payload, 8, payload.length, IFA_LOCAL) ?? attrOf(payload, 8, payload.length, IFA_ADDRESS);
  const family: Family = af === AF_INET ? 'inet' : 'inet6';
  if (!raw || raw.length < (family === 'inet' ? 4 : 16)) return null;
  return {
    family,
    address: readAddressAt(raw, 0, family),
    prefixLength: payload.readUInt8(1),
    scope: payload.readUInt8(3),
    linkIndex: payload.readUInt32LE(4),
  };
}
