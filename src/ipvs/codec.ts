// Encoding of IPVS requests and decoding of IPVS replies (generic netlink attributes from
// linux/ip_vs.h). Pure: a MessageWriter in, attributes out; inputs are already validated.
import { MessageWriter, parseAttrs, forEachAttr, attrOf, attr, NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, type Attrs } from '../netlink/message.js';
import { readAddress, readAddressAt, parseAddress, formatAddress, familyOf, writeIPv4 } from '../netlink/address.js';
import { serviceKeyString } from './keys.js';
import {
  Cmd, CmdAttr, SvcAttr, DestAttr, StatsAttr, InfoAttr, DaemonAttr, SvcFlag, FwdMethod, FWD_MASK, TunType, TunFlag,
  AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPVS_GENL_VERSION, IPVS_STATE_MASTER,
} from './constants.js';
import type {
  Family, Protocol, ServiceKey, VirtualService, RealServer, RealServerKey, ServiceEntry, RealServerEntry,
  Stats, ForwardMethod, TunnelType, ServiceInfo, RealServerInfo, Timeouts, IpvsInfo, SchedulerFlags, SyncDaemon,
} from './types.js';

export const afOf = (f: Family) => (f === 'inet' ? AF_INET : AF_INET6);
export const familyOfAf = (af: number): Family => (af === AF_INET6 ? 'inet6' : 'inet');
const PROTO_NUM: Record<Protocol, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };
export function protocolOf(n: number): Protocol {
  return n === IPPROTO_UDP ? 'udp' : n === IPPROTO_SCTP ? 'sctp' : 'tcp';
}
const FWD_NUM: Record<ForwardMethod, number> = {
  masq: FwdMethod.MASQ, local: FwdMethod.LOCALNODE, tunnel: FwdMethod.TUNNEL, route: FwdMethod.DROUTE, bypass: FwdMethod.BYPASS,
};
const FWD_NAME: ForwardMethod[] = ['masq', 'local', 'tunnel', 'route', 'bypass'];
const TUN_NUM: Record<TunnelType, number> = { ipip: TunType.IPIP, gue: TunType.GUE, gre: TunType.GRE };
const TUN_NAME: TunnelType[] = ['ipip', 'gue', 'gre'];

/** Begin an IPVS generic netlink message. */
export function beginIpvs(w: MessageWriter, family: number, cmd: number, seq: number, dump = false): MessageWriter {
  return w.begin(family, NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK), seq).genl(cmd, IPVS_GENL_VERSION);
}

/** The attributes that identify a service (inside IPVS_CMD_ATTR_SERVICE). */
function putServiceKey(w: MessageWriter, key: ServiceKey): void {
  w.u16(SvcAttr.AF, afOf(key.family));
  if (key.fwmark !== undefined) {
    w.u32(SvcAttr.FWMARK, key.fwmark);
  } else {
    w.u16(SvcAttr.PROTOCOL, PROTO_NUM[key.protocol]);
    w.inetAddr(SvcAttr.ADDR, key.address);
    w.be16(SvcAttr.PORT, key.port);
  }
}

export function serviceFlags(svc: VirtualService): number {
  const f: SchedulerFlags = svc.schedulerFlags ?? {};
  let flags = 0;
  if (svc.persistent) flags |= SvcFlag.PERSISTENT;
  if (svc.onePacket) flags |= SvcFlag.ONEPACKET;
  if (f.shFallback || f.mhFallback) flags |= SvcFlag.SCHED1;
  if (f.shPort || f.mhPort) flags |= SvcFlag.SCHED2;
  return flags;
}

const HOST_MASK_V4 = Uint8Array.of(255, 255, 255, 255);

/**
 * IPVS_CMD_ATTR_SERVICE with the key only, as bytes to copy (MessageWriter.raw): every request
 * about a real server names its service, and a batch names each service once per server.
 */
export function serviceKeyNest(key: ServiceKey): Buffer {
  const w = new MessageWriter(64);
  putService(w, key, false);
  return w.contents();
}

/** IPVS_CMD_ATTR_SERVICE with key only, or with the full configuration (new/set). */
export function putService(w: MessageWriter, svc: ServiceKey | VirtualService, full: boolean): void {
  w.beginNested(CmdAttr.SERVICE);
  putServiceKey(w, svc);
  if (full) {
    const s = svc as VirtualService;
    w.string(SvcAttr.SCHED_NAME, s.scheduler);
    if (s.pe) w.string(SvcAttr.PE_NAME, s.pe);
    // struct ip_vs_flags { flags, mask }: the mask says every flag is being set.
    w.u32Pair(SvcAttr.FLAGS, serviceFlags(s), 0xffffffff);
    w.u32(SvcAttr.TIMEOUT, s.persistent ? s.persistent.timeout : 0);
    // Netmask: IPv4 as a be32 mask, IPv6 as a prefix length, as ipvsadm sends them.
    if (svc.family === 'inet') {
      const mask = s.persistent?.netmask;
      w.bytes(SvcAttr.NETMASK, mask === undefined ? HOST_MASK_V4 : parseAddress(mask)!);
    } else {
      w.u32(SvcAttr.NETMASK, Number(s.persistent?.netmask ?? 128));
    }
  }
  w.endNested();
}

/** IPVS_CMD_ATTR_DEST with key only, or with the full configuration (new/set). */
export function putServer(w: MessageWriter, svcFamily: Family, server: RealServerKey | RealServer, full: boolean, known?: Family): void {
  const s = server as RealServer;
  // `known`: the caller has checked the address' family already (isPlainValidServer).
  const family = known ?? s.family ?? familyOf(server.address) ?? svcFamily;
  w.beginNested(CmdAttr.DEST);
  w.inetAddr(DestAttr.ADDR, server.address);
  w.be16(DestAttr.PORT, server.port);
  w.u16(DestAttr.ADDR_FAMILY, afOf(family));
  if (full) {
    w.u32(DestAttr.FWD_METHOD, FWD_NUM[s.forward ?? 'masq']);
    w.u32(DestAttr.WEIGHT, s.weight ?? 1);
    w.u32(DestAttr.U_THRESH, s.upperThreshold ?? 0);
    w.u32(DestAttr.L_THRESH, s.lowerThreshold ?? 0);
    if (s.tunnel) {
      w.u8(DestAttr.TUN_TYPE, TUN_NUM[s.tunnel.type]);
      w.be16(DestAttr.TUN_PORT, s.tunnel.port ?? 0);
      const c = s.tunnel.checksum;
      w.u16(DestAttr.TUN_FLAGS, c === 'csum' ? TunFlag.CSUM : c === 'remcsum' ? TunFlag.REMCSUM : 0);
    }
  }
  w.endNested();
}

/**
 * putServer(full) of a plain IPv4 real server (isPlainValidServer: no tunnel, values in range), from
 * a copy of that layout encoded once by putServer itself, its address, port, forwarding, weight and
 * thresholds patched in. Per server the attribute calls were most of a first sync's encoding (about
 * 0.9 s of the main thread at 10,000 Services in the sandbox); test/unit/ipvs-codec.test.ts checks
 * the bytes against putServer's for any such server.
 */
export function putPlainServer(w: MessageWriter, s: RealServer): void {
  const at = w.template(PLAIN_DEST.bytes);
  const o = PLAIN_DEST.offsets;
  if (!w.patchIPv4(at + o.address, s.address)) throw new Error(`not a plain IPv4 real server: ${s.address}`);
  w.patch16be(at + o.port, s.port, 'real server port');
  w.patch32(at + o.forward, FWD_NUM[s.forward ?? 'masq']);
  w.patch32(at + o.weight, s.weight ?? 1);
  w.patch32(at + o.upper, s.upperThreshold ?? 0);
  w.patch32(at + o.lower, s.lowerThreshold ?? 0);
}

/** putPlainServer's template, and where in it each patched field's bytes start. */
const PLAIN_DEST = (() => {
  const w = new MessageWriter(128);
  putServer(w, 'inet', { address: '0.0.0.0', port: 0 }, true, 'inet');
  const bytes = Buffer.from(w.contents());
  // The nest's attributes start after its own header.
  const offset = (type: number): number => {
    const v = attrOf(bytes, 4, bytes.length, type);
    if (!v) throw new Error(`IPVS real server template: no attribute ${type}`);
    return v.byteOffset - bytes.byteOffset;
  };
  return {
    bytes,
    offsets: {
      address: offset(DestAttr.ADDR), port: offset(DestAttr.PORT), forward: offset(DestAttr.FWD_METHOD),
      weight: offset(DestAttr.WEIGHT), upper: offset(DestAttr.U_THRESH), lower: offset(DestAttr.L_THRESH),
    },
  };
})();

export function putTimeouts(w: MessageWriter, t: Partial<Timeouts>): void {
  if (t.tcp !== undefined) w.u32(CmdAttr.TIMEOUT_TCP, t.tcp);
  if (t.tcpFin !== undefined) w.u32(CmdAttr.TIMEOUT_TCP_FIN, t.tcpFin);
  if (t.udp !== undefined) w.u32(CmdAttr.TIMEOUT_UDP, t.udp);
}

/**
 * Statistics from a stats nest: the 64-bit one (kernel 4.x+) holds u64 counters; the legacy one holds
 * u32 counters and u64 byte counts. Read in place, in one pass: dumps decode thousands of these.
 */
function decodeStats(buf: Buffer, start: number, end: number, wide: boolean): Stats {
  const v = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  let at = start;
  while (at + 4 <= end) {
    const len = buf.readUInt16LE(at);
    if (len < 4 || at + len > end) break;
    const type = buf.readUInt16LE(at + 2) & 0x3fff;
    if (type >= 1 && type <= 10) {
      const off = at + 4;
      const wideField = wide || type === StatsAttr.INBYTES || type === StatsAttr.OUTBYTES;
      if (wideField ? len >= 12 : len >= 8) v[type] = wideField ? buf.readBigUInt64LE(off) : BigInt(buf.readUInt32LE(off));
    }
    at += (len + 3) & ~3;
  }
  return {
    conns: v[1]!, inPackets: v[2]!, outPackets: v[3]!, inBytes: v[4]!, outBytes: v[5]!,
    cps: v[6]!, inPps: v[7]!, outPps: v[8]!, inBps: v[9]!, outBps: v[10]!,
  };
}

// Attribute positions of the nest being decoded: [offset, length] per type, -1 where absent. One
// shared array: decoding is synchronous and never nested, and a dump decodes thousands of nests.
const POS = new Int32Array(64).fill(-1);

/** Where each attribute of `buf` up to type `max` starts and how long it is, in POS (no closure per call: a dump decodes one per entry). */
let indexMax = 0;
const indexOne = (type: number, off: number, len: number): void => {
  if (type <= indexMax) {
    POS[type * 2] = off;
    POS[type * 2 + 1] = len;
  }
};
function indexAttrs(buf: Buffer, max: number, start = 0, end = buf.length): void {
  POS.fill(-1, 0, (max + 1) * 2);
  indexMax = max;
  forEachAttr(buf, start, end, indexOne);
}
const has = (t: number, n: number) => POS[t * 2]! >= 0 && POS[t * 2 + 1]! >= n;
const at = (t: number) => POS[t * 2]!;
// Indexed attributes' values, `d` when absent or short (module functions: a closure per decoded entry was garbage per entry).
const u16Of = (buf: Buffer, t: number, d = 0) => (has(t, 2) ? buf.readUInt16LE(at(t)) : d);
const u32Of = (buf: Buffer, t: number, d = 0) => (has(t, 4) ? buf.readUInt32LE(at(t)) : d);
const read = (buf: Buffer, t: number) => (POS[t * 2]! >= 0 ? buf.subarray(POS[t * 2]!, POS[t * 2]! + POS[t * 2 + 1]!) : undefined);

/** The entry's statistics: the 64-bit nest when the kernel sent one, else the legacy nest. */
function statsOf(nest: Buffer, stats64: number, stats32: number): Stats {
  if (POS[stats64 * 2]! >= 0) return decodeStats(nest, at(stats64), at(stats64) + POS[stats64 * 2 + 1]!, true);
  if (POS[stats32 * 2]! >= 0) return decodeStats(nest, at(stats32), at(stats32) + POS[stats32 * 2 + 1]!, false);
  return decodeStats(nest, 0, 0, true);
}

/** The attributes after the genl header of a reply. */
export function genlAttrs(payload: Buffer): Attrs {
  return parseAttrs(payload, 4);
}

export function decodeService(nest: Buffer, withStats = true): ServiceEntry | ServiceInfo {
  indexAttrs(nest, SvcAttr.STATS64);
  const family = familyOfAf(u16Of(nest, SvcAttr.AF));
  const fwmark = u32Of(nest, SvcAttr.FWMARK);
  const flags = u32Of(nest, SvcAttr.FLAGS) & ~SvcFlag.HASHED;
  const scheduler = attr.string(read(nest, SvcAttr.SCHED_NAME));
  const timeout = u32Of(nest, SvcAttr.TIMEOUT);
  // Netmask: IPv4 as a be32 mask, IPv6 as a prefix length (read only for a persistent service).
  const netmask = !(flags & SvcFlag.PERSISTENT) ? '' : family === 'inet'
    ? (has(SvcAttr.NETMASK, 4) ? readAddressAt(nest, at(SvcAttr.NETMASK), 'inet') : '255.255.255.255')
    : String(u32Of(nest, SvcAttr.NETMASK, 128));
  const schedulerFlags: SchedulerFlags = {};
  if (scheduler === 'sh') {
    if (flags & SvcFlag.SCHED1) schedulerFlags.shFallback = true;
    if (flags & SvcFlag.SCHED2) schedulerFlags.shPort = true;
  } else if (scheduler === 'mh') {
    if (flags & SvcFlag.SCHED1) schedulerFlags.mhFallback = true;
    if (flags & SvcFlag.SCHED2) schedulerFlags.mhPort = true;
  }
  const pe = attr.string(read(nest, SvcAttr.PE_NAME)) || undefined;
  const persistent = flags & SvcFlag.PERSISTENT ? { timeout, netmask } : undefined;
  const onePacket = (flags & SvcFlag.ONEPACKET) !== 0;
  // Literals, not the key spread into the entry: V8 builds a spread object some 30 times slower, and
  // a reconcile decodes every service.
  const out: ServiceEntry | ServiceInfo = fwmark
    ? { family, fwmark, scheduler, flags, persistent, onePacket, schedulerFlags, pe }
    : {
      family,
      protocol: protocolOf(u16Of(nest, SvcAttr.PROTOCOL)),
      address: readAddress(read(nest, SvcAttr.ADDR), family),
      port: has(SvcAttr.PORT, 2) ? nest.readUInt16BE(at(SvcAttr.PORT)) : 0,
      scheduler, flags, persistent, onePacket, schedulerFlags, pe,
    };
  if (withStats) (out as ServiceEntry).stats = statsOf(nest, SvcAttr.STATS64, SvcAttr.STATS);
  return out;
}

export function decodeServer(nest: Buffer, svcFamily: Family, withStats = true): RealServerEntry | RealServerInfo {
  indexAttrs(nest, DestAttr.TUN_FLAGS);
  const family = has(DestAttr.ADDR_FAMILY, 2) ? familyOfAf(nest.readUInt16LE(at(DestAttr.ADDR_FAMILY))) : svcFamily;
  const forward = FWD_NAME[u32Of(nest, DestAttr.FWD_METHOD) & FWD_MASK] ?? 'masq';
  const tunFlags = has(DestAttr.TUN_FLAGS, 2) ? nest.readUInt16LE(at(DestAttr.TUN_FLAGS)) : 0;
  return {
    address: has(DestAttr.ADDR, family === 'inet' ? 4 : 16) ? readAddressAt(nest, at(DestAttr.ADDR), family) : readAddress(read(nest, DestAttr.ADDR), family),
    port: has(DestAttr.PORT, 2) ? nest.readUInt16BE(at(DestAttr.PORT)) : 0,
    family,
    forward,
    weight: u32Of(nest, DestAttr.WEIGHT) | 0,
    upperThreshold: u32Of(nest, DestAttr.U_THRESH),
    lowerThreshold: u32Of(nest, DestAttr.L_THRESH),
    activeConns: u32Of(nest, DestAttr.ACTIVE_CONNS),
    inactiveConns: u32Of(nest, DestAttr.INACT_CONNS),
    persistentConns: u32Of(nest, DestAttr.PERSIST_CONNS),
    tunnel: forward === 'tunnel' && has(DestAttr.TUN_TYPE, 1)
      ? {
        type: TUN_NAME[nest.readUInt8(at(DestAttr.TUN_TYPE))] ?? 'ipip',
        port: has(DestAttr.TUN_PORT, 2) ? nest.readUInt16BE(at(DestAttr.TUN_PORT)) : 0,
        checksum: tunFlags & TunFlag.REMCSUM ? 'remcsum' as const : tunFlags & TunFlag.CSUM ? 'csum' as const : 'none' as const,
      }
      : undefined,
    ...(withStats ? { stats: statsOf(nest, DestAttr.STATS64, DestAttr.STATS) } : {}),
  };
}

/** Whether the indexed string attribute `t` of buf reads as `s` (attr.string: up to its NUL), in place; ASCII only. */
function stringIs(buf: Buffer, t: number, s: string): boolean {
  if (POS[t * 2]! < 0) return s === '';
  const a = at(t);
  const len = POS[t * 2 + 1]!;
  let n = 0;
  while (n < len && buf[a + n] !== 0) n++;
  if (n !== s.length) return false;
  // A byte above 0x7f is not the character of that code once decoded as UTF-8: never a match.
  for (let i = 0; i < n; i++) if (buf[a + i] !== s.charCodeAt(i) || buf[a + i]! > 0x7f) return false;
  return true;
}

/** serviceKeyString of the service in an IPVS_CMD_ATTR_SERVICE nest, without decoding the rest of it. */
export function serviceKeyOfNest(nest: Buffer): string {
  indexAttrs(nest, SvcAttr.STATS64);
  const family = familyOfAf(u16Of(nest, SvcAttr.AF));
  const fwmark = u32Of(nest, SvcAttr.FWMARK);
  // The key's text is serviceKeyString's own (a short-lived key object rather than a second format).
  if (fwmark) return serviceKeyString({ family, fwmark });
  const address = has(SvcAttr.ADDR, family === 'inet' ? 4 : 16) ? readAddressAt(nest, at(SvcAttr.ADDR), family) : readAddress(read(nest, SvcAttr.ADDR), family);
  return serviceKeyString({ family, protocol: protocolOf(u16Of(nest, SvcAttr.PROTOCOL)), address, port: has(SvcAttr.PORT, 2) ? nest.readUInt16BE(at(SvcAttr.PORT)) : 0 });
}

/**
 * Whether the service in an IPVS_CMD_ATTR_SERVICE nest has `info`'s scheduler, flags, persistence,
 * one-packet and scheduler flags and persistence engine, read in place: with the same key (the caller
 * found `info` by serviceKeyOfNest), decodeService would give an equal service. A reconcile's service
 * list lives through its whole dump, so a decoded copy of each service was promoted to the old
 * generation on every reconcile only to be found equal.
 */
export function serviceMatches(nest: Buffer, info: ServiceInfo): boolean {
  indexAttrs(nest, SvcAttr.STATS64);
  const flags = u32Of(nest, SvcAttr.FLAGS) & ~SvcFlag.HASHED;
  if (flags !== info.flags || !stringIs(nest, SvcAttr.SCHED_NAME, info.scheduler) || !stringIs(nest, SvcAttr.PE_NAME, info.pe ?? '')) return false;
  if (info.onePacket !== ((flags & SvcFlag.ONEPACKET) !== 0)) return false;
  const f = info.schedulerFlags;
  const one = (flags & SvcFlag.SCHED1) !== 0;
  const two = (flags & SvcFlag.SCHED2) !== 0;
  const sh = info.scheduler === 'sh';
  const mh = info.scheduler === 'mh';
  if (!!f.shFallback !== (sh && one) || !!f.shPort !== (sh && two) || !!f.mhFallback !== (mh && one) || !!f.mhPort !== (mh && two)) return false;
  if (!(flags & SvcFlag.PERSISTENT)) return info.persistent === undefined;
  if (info.persistent?.timeout !== u32Of(nest, SvcAttr.TIMEOUT)) return false;
  // Rare (persistent services only): decoded as decodeService does.
  return info.persistent.netmask === (decodeService(nest, false).persistent?.netmask ?? '');
}

const wantAddr = new Uint8Array(16);

/**
 * Whether the real server dumped in buf[start..end) (an IPVS_CMD_ATTR_DEST nest) has `server`'s address,
 * port, family, forwarding method, weight and thresholds, read in place: a reader that already holds
 * `server` keeps it rather than decode the entry into a new object and strings only to find them
 * equal (a no-op reconcile at 10,000 services decoded 100,000 of them). A tunnel entry never matches
 * (its tunnel settings are left to decodeServer); an IPv4 address is compared without allocating.
 */
export function destMatches(buf: Buffer, start: number, end: number, svcFamily: Family, server: RealServer): boolean {
  indexAttrs(buf, DestAttr.TUN_FLAGS, start, end);
  const family = has(DestAttr.ADDR_FAMILY, 2) ? familyOfAf(buf.readUInt16LE(at(DestAttr.ADDR_FAMILY))) : svcFamily;
  const forward = FWD_NAME[u32Of(buf, DestAttr.FWD_METHOD) & FWD_MASK] ?? 'masq';
  if (family !== (server.family ?? svcFamily) || forward === 'tunnel' || forward !== (server.forward ?? 'masq')) return false;
  if ((u32Of(buf, DestAttr.WEIGHT) | 0) !== (server.weight ?? 1) || u32Of(buf, DestAttr.U_THRESH) !== (server.upperThreshold ?? 0)
    || u32Of(buf, DestAttr.L_THRESH) !== (server.lowerThreshold ?? 0)) return false;
  if ((has(DestAttr.PORT, 2) ? buf.readUInt16BE(at(DestAttr.PORT)) : 0) !== server.port) return false;
  const size = family === 'inet' ? 4 : 16;
  if (!has(DestAttr.ADDR, size)) return false;
  // The guess' text in the entry's family only (IPv4 text is no IPv6 entry's, though its bytes may be).
  if (family === 'inet') {
    if (!writeIPv4(server.address, wantAddr, 0)) return false;
  } else {
    const raw = parseAddress(server.address);
    if (raw?.length !== 16) return false;
    wantAddr.set(raw, 0);
  }
  const a = at(DestAttr.ADDR);
  for (let i = 0; i < size; i++) if (buf[a + i] !== wantAddr[i]) return false;
  return true;
}

export function decodeInfo(payload: Buffer): IpvsInfo {
  const a = genlAttrs(payload);
  const code = attr.u32(a[InfoAttr.VERSION]);
  return {
    versionCode: code,
    version: `${(code >> 16) & 0xff}.${(code >> 8) & 0xff}.${code & 0xff}`,
    connTableSize: attr.u32(a[InfoAttr.CONN_TAB_SIZE]),
  };
}

export function decodeTimeouts(payload: Buffer): Timeouts {
  const a = genlAttrs(payload);
  return { tcp: attr.u32(a[CmdAttr.TIMEOUT_TCP]), tcpFin: attr.u32(a[CmdAttr.TIMEOUT_TCP_FIN]), udp: attr.u32(a[CmdAttr.TIMEOUT_UDP]) };
}

export function decodeDaemon(nest: Buffer): SyncDaemon {
  const a = parseAttrs(nest);
  const g4 = a[DaemonAttr.MCAST_GROUP];
  const g6 = a[DaemonAttr.MCAST_GROUP6];
  return {
    state: attr.u32(a[DaemonAttr.STATE]) === IPVS_STATE_MASTER ? 'master' : 'backup',
    mcastInterface: attr.string(a[DaemonAttr.MCAST_IFN]),
    syncId: attr.u32(a[DaemonAttr.SYNC_ID]),
    syncMaxLen: a[DaemonAttr.SYNC_MAXLEN] ? attr.u16(a[DaemonAttr.SYNC_MAXLEN]) : undefined,
    mcastGroup: g4 ? formatAddress(g4.subarray(0, 4), 'inet') : g6 ? formatAddress(g6.subarray(0, 16), 'inet6') : undefined,
    // Host byte order (nla_put_u16 of the configured port), unlike the service and server ports.
    mcastPort: a[DaemonAttr.MCAST_PORT] ? attr.u16(a[DaemonAttr.MCAST_PORT]) : undefined,
    mcastTtl: a[DaemonAttr.MCAST_TTL] ? attr.u8(a[DaemonAttr.MCAST_TTL]) : undefined,
  };
}

export { Cmd };
