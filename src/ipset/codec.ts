// Encoding of ipset requests and decoding of ipset replies (nfnetlink, subsystem IPSET), and the
// text form of set members exactly as `ipset list` prints them. Pure: no sockets.
import { MessageWriter, forEachAttr, NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP } from '../netlink/message.js';
import { parseAddress, formatAddress, writeIPv4, isIPv4Text } from '../netlink/address.js';
import {
  NFNL_SUBSYS_IPSET, NFNETLINK_V0, Attr, DataAttr, IpAttr, NLA_F_NET_BYTEORDER, NFPROTO_IPV4, NFPROTO_IPV6,
  IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPSET_ERR, IPSET_ERR_HASH, IPSET_ERR_BITMAP, IPSET_ERR_TYPE_SPECIFIC,
  IPSET_MAXNAMELEN,
} from './constants.js';
import { SET_TYPES, type SetType, type Family, type SetSpec, type ParsedEntry, type Protocol, type Entry } from './types.js';

const NBO = NLA_F_NET_BYTEORDER;
const PROTO_NUM: Record<Protocol, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };
/** How ipset prints protocols it can meet in a set (tcp, udp, sctp are what kipvs writes). */
const PROTO_NAME: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 136: 'udplite', 1: 'icmp', 58: 'icmpv6' };

export const nfprotoOf = (f: Family) => (f === 'inet6' ? NFPROTO_IPV6 : NFPROTO_IPV4);
export const familyOfNfproto = (n: number): Family => (n === NFPROTO_IPV6 ? 'inet6' : 'inet');
export const isSetType = (t: string): t is SetType => (SET_TYPES as readonly string[]).includes(t);

/** Begin an ipset message: nlmsghdr, nfgenmsg, then the protocol attribute every request carries. */
export function beginIpset(w: MessageWriter, cmd: number, seq: number, opts: { dump?: boolean; protocol: number }): MessageWriter {
  w.begin((NFNL_SUBSYS_IPSET << 8) | cmd, NLM_F_REQUEST | (opts.dump ? NLM_F_DUMP : NLM_F_ACK), seq);
  // struct nfgenmsg { family, version, res_id (be16) }: ipset reads the family from its own attribute.
  w.raw(Uint8Array.of(NFPROTO_IPV4, NFNETLINK_V0, 0, 0));
  return w.u8(Attr.PROTOCOL, opts.protocol);
}

/** Throws unless `name` is a set name the kernel can hold. */
export function validateSetName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new Error('ipset: a set name must not be empty');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes >= IPSET_MAXNAMELEN) throw new Error(`ipset ${name}: a set name has at most ${IPSET_MAXNAMELEN - 1} bytes (this one has ${bytes})`);
  if (name.includes('\0')) throw new Error(`ipset ${JSON.stringify(name)}: a set name cannot contain NUL`);
  return name;
}

/** Throws unless `spec` describes a set kipvs can create. */
export function validateSpec(spec: SetSpec): void {
  validateSetName(spec.name);
  const where = `ipset ${spec.name}`;
  if (!isSetType(spec.type)) throw new Error(`${where}: unsupported set type ${JSON.stringify(spec.type)} (one of ${SET_TYPES.join(', ')})`);
  if (spec.family !== 'inet' && spec.family !== 'inet6') throw new Error(`${where}: family must be inet or inet6, not ${JSON.stringify(spec.family)}`);
  const u32 = (v: number | undefined, what: string, min: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= 0xffffffff)) throw new Error(`${where}: ${what} ${v} is not an integer from ${min} to 4294967295`);
  };
  if (spec.type === 'bitmap:port') {
    if (spec.family !== 'inet') throw new Error(`${where}: bitmap:port sets are family inet only`);
    const r = spec.range;
    if (!r) throw new Error(`${where}: bitmap:port needs a port range`);
    const port = (p: number) => Number.isInteger(p) && p >= 0 && p <= 65535;
    if (!port(r.from) || !port(r.to) || r.from > r.to) throw new Error(`${where}: invalid port range ${r.from}-${r.to}`);
    if (spec.hashSize !== undefined || spec.maxElem !== undefined) throw new Error(`${where}: hashSize and maxElem are for hash types, not bitmap:port`);
  } else {
    if (spec.range) throw new Error(`${where}: a port range is for bitmap:port, not ${spec.type}`);
    u32(spec.hashSize, 'hashSize', 1);
    u32(spec.maxElem, 'maxElem', 1);
  }
}

/** IPSET_CMD_CREATE's attributes after the protocol. */
export function putCreate(w: MessageWriter, spec: SetSpec, revision: number): void {
  w.string(Attr.SETNAME, spec.name);
  w.string(Attr.TYPENAME, spec.type);
  w.u8(Attr.REVISION, revision);
  w.u8(Attr.FAMILY, nfprotoOf(spec.family));
  w.beginNested(Attr.DATA);
  if (spec.type === 'bitmap:port') {
    w.be16(DataAttr.PORT | NBO, spec.range!.from);
    w.be16(DataAttr.PORT_TO | NBO, spec.range!.to);
  } else {
    if (spec.hashSize !== undefined) w.be32(DataAttr.HASHSIZE | NBO, spec.hashSize);
    if (spec.maxElem !== undefined) w.be32(DataAttr.MAXELEM | NBO, spec.maxElem);
  }
  w.endNested();
}

/**
 * IPSET_CMD_SWAP's attributes after the protocol, as `ipset swap FROM TO` sends them: the two names.
 * The kernel exchanges the sets' names and their places in its set table, so a rule that matches TO
 * by name matches the set that was FROM afterwards.
 */
export function putSwap(w: MessageWriter, from: string, to: string): void {
  w.string(Attr.SETNAME, validateSetName(from));
  w.string(Attr.SETNAME2, validateSetName(to));
}

// ---- entries -------------------------------------------------------------------------------------

class EntryError extends Error {
  override name = 'EntryError';
}

function bad(type: SetType, family: Family, text: string, why: string): never {
  throw new EntryError(`invalid ${type} (${family}) entry ${JSON.stringify(text)}: ${why}`);
}

function parseIp(type: SetType, family: Family, text: string, part: string): Uint8Array {
  if (family === 'inet') {
    // The common case, a dotted quad without leading zeros, read in one pass.
    const v4 = new Uint8Array(4);
    if (writeIPv4(part, v4, 0)) return v4;
  }
  const bytes = part.includes('%') ? null : parseAddress(part);
  if (!bytes) bad(type, family, text, `${JSON.stringify(part)} is not an IP address`);
  const want = family === 'inet' ? 4 : 16;
  if (bytes.length !== want) bad(type, family, text, `${part} is not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address (the set is family ${family})`);
  return bytes;
}

function parsePort(type: SetType, family: Family, text: string, part: string): number {
  if (!/^[0-9]{1,5}$/.test(part) || Number(part) > 65535) bad(type, family, text, `${JSON.stringify(part)} is not a port number (0-65535)`);
  return Number(part);
}

function parseProtoPort(type: SetType, family: Family, text: string, part: string): { protocol: Protocol; port: number } {
  const colon = part.indexOf(':');
  if (colon < 0) bad(type, family, text, `${JSON.stringify(part)} must be protocol:port (tcp, udp or sctp)`);
  const name = part.slice(0, colon).toLowerCase();
  if (name !== 'tcp' && name !== 'udp' && name !== 'sctp') bad(type, family, text, `protocol ${JSON.stringify(part.slice(0, colon))} is not tcp, udp or sctp`);
  return { protocol: name, port: parsePort(type, family, text, part.slice(colon + 1)) };
}

/** Zero the bits of `addr` past `prefix`; true if any were set. */
function hostBitsSet(addr: Uint8Array, prefix: number): boolean {
  for (let i = 0; i < addr.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    if (addr[i]! & ~mask & 0xff) return true;
  }
  return false;
}

const protoPort = (protocol: string, port: number) => `${protocol}:${port}`;
/** How many digits `port` is written with (no leading zeros). */
const digitsOf = (port: number) => (port < 10 ? 1 : port < 100 ? 2 : port < 1000 ? 3 : port < 10000 ? 4 : 5);

/**
 * Validate an entry for a set of `type` and `family` and take it apart; `text` of the result is the
 * entry as `ipset list` would print it. Throws an Error naming the entry and what is wrong with it.
 */
export function parseEntry(type: SetType, family: Family, text: Entry): ParsedEntry {
  if (typeof text !== 'string') throw new EntryError(`invalid ${type} entry ${String(text)}: not a string`);
  if (!isSetType(type)) throw new EntryError(`invalid entry ${JSON.stringify(text)}: unsupported set type ${JSON.stringify(type)}`);
  const parts = text.split(',');
  const arity = type === 'hash:ip' || type === 'bitmap:port' ? 1 : type === 'hash:ip,port' ? 2 : 3;
  if (parts.length !== arity) {
    const shape = { 'hash:ip': 'IP', 'bitmap:port': 'PORT', 'hash:ip,port': 'IP,PROTO:PORT', 'hash:ip,port,ip': 'IP,PROTO:PORT,IP', 'hash:ip,port,net': 'IP,PROTO:PORT,NET[/CIDR]' }[type];
    bad(type, family, text, `expected ${shape}`);
  }
  if (type === 'bitmap:port') {
    if (family !== 'inet') bad(type, family, text, 'bitmap:port sets are family inet only');
    const port = parsePort(type, family, text, parts[0]!);
    return { text: String(port), port };
  }
  const ip = parseIp(type, family, text, parts[0]!);
  // An IPv4 address parsed by writeIPv4 is canonical as written: no text made again for it.
  const ipText = ip.length === 4 && isIPv4Text(parts[0]!) ? parts[0]! : formatAddress(ip);
  if (type === 'hash:ip') return { text: ipText, ip };
  const { protocol, port } = parseProtoPort(type, family, text, parts[1]!);
  // The entry as given, when it is already the canonical text (the model's entries are): a first
  // sync at 10,000 Services parses some 21,000 of them.
  if (type === 'hash:ip,port' && ipText === parts[0] && parts[1]!.length === protocol.length + 1 + digitsOf(port) && parts[1]!.startsWith(protocol)) {
    return { text, ip, protocol, port };
  }
  const head = `${ipText},${protoPort(protocol, port)}`;
  if (type === 'hash:ip,port') return { text: head, ip, protocol, port };
  if (type === 'hash:ip,port,ip') {
    const ip2 = parseIp(type, family, text, parts[2]!);
    return { text: `${head},${formatAddress(ip2)}`, ip, protocol, port, ip2 };
  }
  // hash:ip,port,net
  const hostLen = family === 'inet' ? 32 : 128;
  const [net, cidrText, ...rest] = parts[2]!.split('/');
  if (rest.length) bad(type, family, text, `${JSON.stringify(parts[2])} is not a network`);
  let cidr2 = hostLen;
  if (cidrText !== undefined) {
    if (!/^[0-9]{1,3}$/.test(cidrText) || Number(cidrText) < 1 || Number(cidrText) > hostLen) {
      bad(type, family, text, `prefix length ${JSON.stringify(cidrText)} is not 1-${hostLen}`);
    }
    cidr2 = Number(cidrText);
  }
  const ip2 = parseIp(type, family, text, net!);
  // The kernel would mask the host bits off, and list the entry in a form other than this one.
  if (hostBitsSet(ip2, cidr2)) bad(type, family, text, `${net}/${cidr2} has host bits set`);
  const netText = cidr2 === hostLen ? formatAddress(ip2) : `${formatAddress(ip2)}/${cidr2}`;
  return { text: `${head},${netText}`, ip, protocol, port, ip2, cidr2 };
}

function putAddr(w: MessageWriter, type: number, addr: Uint8Array): void {
  w.beginNested(type);
  w.bytes((addr.length === 4 ? IpAttr.IPV4 : IpAttr.IPV6) | NBO, addr);
  w.endNested();
}

/**
 * IPSET_ATTR_DATA holding one parsed entry (add, del, test). `lineno` (from 1) numbers the entry in a
 * packed add/del, so that the kernel can say which one it refused.
 */
export function putEntry(w: MessageWriter, e: ParsedEntry, lineno?: number): void {
  w.beginNested(Attr.DATA);
  if (e.ip) putAddr(w, DataAttr.IP, e.ip);
  if (e.port !== undefined) w.be16(DataAttr.PORT | NBO, e.port);
  if (e.protocol) w.u8(DataAttr.PROTO, PROTO_NUM[e.protocol]);
  if (e.ip2) putAddr(w, DataAttr.IP2, e.ip2);
  if (e.cidr2 !== undefined) w.u8(DataAttr.CIDR2, e.cidr2);
  if (lineno !== undefined) w.u32(DataAttr.LINENO, lineno);
  w.endNested();
}

/**
 * The attributes after the protocol of one add or del of many entries of one set, as `ipset restore`
 * sends them: the set name, IPSET_ATTR_LINENO, and IPSET_ATTR_ADT holding one IPSET_ATTR_DATA per
 * entry, numbered from 1 (its index in `entries` plus one). The kernel applies them in order and stops
 * at the first it refuses: those before it stay applied, it and those after it are not, and its
 * error reply (the whole request echoed back) carries its number in IPSET_ATTR_LINENO.
 */
export function putEntries(w: MessageWriter, set: string, entries: readonly ParsedEntry[]): void {
  w.string(Attr.SETNAME, set);
  // Its presence (any value) asks for the failing entry's number; the kernel needs it with ADT.
  w.u32(Attr.LINENO, 0);
  w.beginNested(Attr.ADT);
  entries.forEach((e, i) => putEntry(w, e, i + 1));
  w.endNested();
}

/** The most bytes putEntry writes for one entry (hash:ip,port,net of IPv6 with a line number). */
export const MAX_ENTRY_BYTES = 4 + 24 + 8 + 8 + 24 + 8 + 8;

function readAddr(buf: Buffer, start: number, end: number): string {
  let out = '';
  forEachAttr(buf, start, end, (type, off, len) => {
    if ((type === IpAttr.IPV4 && len >= 4) || (type === IpAttr.IPV6 && len >= 16)) out = formatAddress(buf.subarray(off, off + (type === IpAttr.IPV4 ? 4 : 16)));
  });
  return out;
}

/** One member (an IPSET_ATTR_DATA nest of a list reply, in buf[start, end)) in ipset's text form. */
export function formatMember(type: string, buf: Buffer, start: number, end: number): Entry {
  let ip = '';
  let ip2 = '';
  let port = -1;
  let proto = -1;
  let cidr = -1;
  let cidr2 = -1;
  forEachAttr(buf, start, end, (t, off, len) => {
    switch (t) {
      case DataAttr.IP: ip = readAddr(buf, off, off + len); break;
      case DataAttr.IP2: ip2 = readAddr(buf, off, off + len); break;
      case DataAttr.PORT: if (len >= 2) port = buf.readUInt16BE(off); break;
      case DataAttr.PROTO: if (len >= 1) proto = buf.readUInt8(off); break;
      case DataAttr.CIDR: if (len >= 1) cidr = buf.readUInt8(off); break;
      case DataAttr.CIDR2: if (len >= 1) cidr2 = buf.readUInt8(off); break;
    }
  });
  const withCidr = (addr: string, c: number) => (c < 0 || c === (addr.includes(':') ? 128 : 32) ? addr : `${addr}/${c}`);
  if (type === 'bitmap:port') return String(port);
  let text = withCidr(ip, cidr);
  if (type === 'hash:ip') return text;
  text += `,${protoPort(PROTO_NAME[proto] ?? String(proto), port)}`;
  if (type === 'hash:ip,port') return text;
  return `${text},${withCidr(ip2, cidr2)}`;
}

/** What a set's list (or header) reply message says about the set. */
export interface SetMessage {
  name: string;
  typeName?: string;
  family?: Family;
  revision?: number;
  /** From the header's data: elements, references, hashsize, maxelem, port range. */
  elements?: number;
  references?: number;
  hashSize?: number;
  maxElem?: number;
  range?: { from: number; to: number };
  /** Offsets [start, end) of each member's IPSET_ATTR_DATA nest in `buf`. */
  members: [number, number][];
  buf: Buffer;
}

/** Decode one ipset reply message's payload (nfgenmsg, then attributes). */
export function decodeSetMessage(payload: Buffer): SetMessage {
  const m: SetMessage = { name: '', members: [], buf: payload };
  forEachAttr(payload, 4, payload.length, (t, off, len) => {
    switch (t) {
      case Attr.SETNAME: m.name = cstring(payload, off, len); break;
      case Attr.TYPENAME: m.typeName = cstring(payload, off, len); break;
      case Attr.FAMILY: if (len >= 1) m.family = familyOfNfproto(payload.readUInt8(off)); break;
      case Attr.REVISION: if (len >= 1) m.revision = payload.readUInt8(off); break;
      case Attr.DATA:
        forEachAttr(payload, off, off + len, (d, doff, dlen) => {
          const be32 = () => (dlen >= 4 ? payload.readUInt32BE(doff) : 0);
          if (d === DataAttr.ELEMENTS) m.elements = be32();
          else if (d === DataAttr.REFERENCES) m.references = be32();
          else if (d === DataAttr.HASHSIZE) m.hashSize = be32();
          else if (d === DataAttr.MAXELEM) m.maxElem = be32();
          else if (d === DataAttr.PORT && dlen >= 2) m.range = { from: payload.readUInt16BE(doff), to: m.range?.to ?? 0 };
          else if (d === DataAttr.PORT_TO && dlen >= 2) m.range = { from: m.range?.from ?? 0, to: payload.readUInt16BE(doff) };
        });
        break;
      case Attr.ADT:
        forEachAttr(payload, off, off + len, (d, doff, dlen) => {
          if (d === Attr.DATA) m.members.push([doff, doff + dlen]);
        });
        break;
    }
  });
  return m;
}

function cstring(buf: Buffer, off: number, len: number): string {
  const nul = buf.indexOf(0, off);
  return buf.toString('utf8', off, nul >= 0 && nul < off + len ? nul : off + len);
}

/** ipset's name and meaning of an error code above the errno range, or undefined for plain errnos. */
export function ipsetError(errno: number, type?: string): { code: string; text: string } | undefined {
  if (errno >= IPSET_ERR_TYPE_SPECIFIC) {
    const table = type?.startsWith('bitmap:') ? IPSET_ERR_BITMAP : IPSET_ERR_HASH;
    return table[errno] ?? { code: `IPSET_ERR ${errno}`, text: 'set type specific error' };
  }
  return IPSET_ERR[errno];
}
