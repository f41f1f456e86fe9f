// Encoding of IPVS requests and decoding of IPVS replies (generic netlink attributes from
// linux/ip_vs.h). Pure: a MessageWriter in, attributes out; inputs are already validated.
import { MessageWriter, parseAttrs, attr, NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, type Attrs } from '../netlink/message.js';
import { inetAddrBytes, readAddress, parseAddress, formatAddress, familyOf } from '../netlink/address.js';
import {
  Cmd, CmdAttr, SvcAttr, DestAttr, StatsAttr, InfoAttr, DaemonAttr, SvcFlag, FwdMethod, FWD_MASK, TunType, TunFlag,
  AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPVS_GENL_VERSION, IPVS_STATE_MASTER,
} from './constants.js';
import type {
  Family, Protocol, ServiceKey, VirtualService, RealServer, RealServerKey, ServiceEntry, RealServerEntry,
  Stats, ForwardMethod, TunnelType, Timeouts, IpvsInfo, SchedulerFlags, SyncDaemon,
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
    w.bytes(SvcAttr.ADDR, inetAddrBytes(key.address));
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

/** IPVS_CMD_ATTR_SERVICE with key only, or with the full configuration (new/set). */
export function putService(w: MessageWriter, svc: ServiceKey | VirtualService, full: boolean): void {
  w.beginNested(CmdAttr.SERVICE);
  putServiceKey(w, svc);
  if (full) {
    const s = svc as VirtualService;
    w.string(SvcAttr.SCHED_NAME, s.scheduler);
    if (s.pe) w.string(SvcAttr.PE_NAME, s.pe);
    // struct ip_vs_flags { flags, mask }: the mask says every flag is being set.
    const flags = Buffer.alloc(8);
    flags.writeUInt32LE(serviceFlags(s), 0);
    flags.writeUInt32LE(0xffffffff, 4);
    w.bytes(SvcAttr.FLAGS, flags);
    w.u32(SvcAttr.TIMEOUT, s.persistent ? s.persistent.timeout : 0);
    // Netmask: IPv4 as a be32 mask, IPv6 as a prefix length, as ipvsadm sends them.
    if (svc.family === 'inet') {
      w.bytes(SvcAttr.NETMASK, parseAddress(s.persistent?.netmask ?? '255.255.255.255')!);
    } else {
      w.u32(SvcAttr.NETMASK, Number(s.persistent?.netmask ?? 128));
    }
  }
  w.endNested();
}

/** IPVS_CMD_ATTR_DEST with key only, or with the full configuration (new/set). */
export function putServer(w: MessageWriter, svcFamily: Family, server: RealServerKey | RealServer, full: boolean): void {
  const s = server as RealServer;
  const family = s.family ?? familyOf(server.address) ?? svcFamily;
  w.beginNested(CmdAttr.DEST);
  w.bytes(DestAttr.ADDR, inetAddrBytes(server.address));
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

export function putTimeouts(w: MessageWriter, t: Partial<Timeouts>): void {
  if (t.tcp !== undefined) w.u32(CmdAttr.TIMEOUT_TCP, t.tcp);
  if (t.tcpFin !== undefined) w.u32(CmdAttr.TIMEOUT_TCP_FIN, t.tcpFin);
  if (t.udp !== undefined) w.u32(CmdAttr.TIMEOUT_UDP, t.udp);
}

const ZERO_STATS: Stats = {
  conns: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n,
};

/** Statistics: the 64-bit nest when the kernel sends it (4.x+), else the legacy one. */
function decodeStats(stats64: Buffer | undefined, stats32: Buffer | undefined): Stats {
  if (stats64) {
    const a = parseAttrs(stats64);
    const g = (t: number) => attr.u64(a[t]);
    return {
      conns: g(StatsAttr.CONNS), inPackets: g(StatsAttr.INPKTS), outPackets: g(StatsAttr.OUTPKTS),
      inBytes: g(StatsAttr.INBYTES), outBytes: g(StatsAttr.OUTBYTES), cps: g(StatsAttr.CPS),
      inPps: g(StatsAttr.INPPS), outPps: g(StatsAttr.OUTPPS), inBps: g(StatsAttr.INBPS), outBps: g(StatsAttr.OUTBPS),
    };
  }
  if (stats32) {
    const a = parseAttrs(stats32);
    const g = (t: number) => BigInt(attr.u32(a[t]));
    return {
      conns: g(StatsAttr.CONNS), inPackets: g(StatsAttr.INPKTS), outPackets: g(StatsAttr.OUTPKTS),
      inBytes: attr.u64(a[StatsAttr.INBYTES]), outBytes: attr.u64(a[StatsAttr.OUTBYTES]), cps: g(StatsAttr.CPS),
      inPps: g(StatsAttr.INPPS), outPps: g(StatsAttr.OUTPPS), inBps: g(StatsAttr.INBPS), outBps: g(StatsAttr.OUTBPS),
    };
  }
  return { ...ZERO_STATS };
}

/** The attributes after the genl header of a reply. */
export function genlAttrs(payload: Buffer): Attrs {
  return parseAttrs(payload, 4);
}

export function decodeService(nest: Buffer): ServiceEntry {
  const a = parseAttrs(nest);
  const family = familyOfAf(attr.u16(a[SvcAttr.AF]));
  const fwmark = attr.u32(a[SvcAttr.FWMARK]);
  const flagsBuf = a[SvcAttr.FLAGS];
  const flags = (flagsBuf ? flagsBuf.readUInt32LE(0) : 0) & ~SvcFlag.HASHED;
  const scheduler = attr.string(a[SvcAttr.SCHED_NAME]);
  const timeout = attr.u32(a[SvcAttr.TIMEOUT]);
  const nm = a[SvcAttr.NETMASK];
  const netmask = family === 'inet' ? (nm ? formatAddress(nm.subarray(0, 4), 'inet') : '255.255.255.255') : String(attr.u32(nm, 128));
  const schedulerFlags: SchedulerFlags = {};
  if (scheduler === 'sh') {
    if (flags & SvcFlag.SCHED1) schedulerFlags.shFallback = true;
    if (flags & SvcFlag.SCHED2) schedulerFlags.shPort = true;
  } else if (scheduler === 'mh') {
    if (flags & SvcFlag.SCHED1) schedulerFlags.mhFallback = true;
    if (flags & SvcFlag.SCHED2) schedulerFlags.mhPort = true;
  }
  const pe = a[SvcAttr.PE_NAME] ? attr.string(a[SvcAttr.PE_NAME]) : undefined;
  const key: ServiceKey = fwmark
    ? { family, fwmark }
    : {
      family,
      protocol: protocolOf(attr.u16(a[SvcAttr.PROTOCOL])),
      address: readAddress(a[SvcAttr.ADDR], family),
      port: attr.be16(a[SvcAttr.PORT]),
    };
  return {
    ...key,
    scheduler,
    flags,
    persistent: flags & SvcFlag.PERSISTENT ? { timeout, netmask } : undefined,
    onePacket: (flags & SvcFlag.ONEPACKET) !== 0,
    schedulerFlags,
    pe: pe || undefined,
    stats: decodeStats(a[SvcAttr.STATS64], a[SvcAttr.STATS]),
  };
}

export function decodeServer(nest: Buffer, svcFamily: Family): RealServerEntry {
  const a = parseAttrs(nest);
  const family = a[DestAttr.ADDR_FAMILY] ? familyOfAf(attr.u16(a[DestAttr.ADDR_FAMILY])) : svcFamily;
  const forward = FWD_NAME[attr.u32(a[DestAttr.FWD_METHOD]) & FWD_MASK] ?? 'masq';
  const tunType = a[DestAttr.TUN_TYPE];
  const tunFlags = attr.u16(a[DestAttr.TUN_FLAGS]);
  return {
    address: readAddress(a[DestAttr.ADDR], family),
    port: attr.be16(a[DestAttr.PORT]),
    family,
    forward,
    weight: attr.u32(a[DestAttr.WEIGHT]) | 0,
    upperThreshold: attr.u32(a[DestAttr.U_THRESH]),
    lowerThreshold: attr.u32(a[DestAttr.L_THRESH]),
    activeConns: attr.u32(a[DestAttr.ACTIVE_CONNS]),
    inactiveConns: attr.u32(a[DestAttr.INACT_CONNS]),
    persistentConns: attr.u32(a[DestAttr.PERSIST_CONNS]),
    tunnel: forward === 'tunnel' && tunType
      ? {
        type: TUN_NAME[attr.u8(tunType)] ?? 'ipip',
        port: attr.be16(a[DestAttr.TUN_PORT]),
        checksum: tunFlags & TunFlag.REMCSUM ? 'remcsum' : tunFlags & TunFlag.CSUM ? 'csum' : 'none',
      }
      : undefined,
    stats: decodeStats(a[DestAttr.STATS64], a[DestAttr.STATS]),
  };
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
    mcastPort: a[DaemonAttr.MCAST_PORT] ? attr.be16(a[DaemonAttr.MCAST_PORT]) : undefined,
    mcastTtl: a[DaemonAttr.MCAST_TTL] ? attr.u8(a[DaemonAttr.MCAST_TTL]) : undefined,
  };
}

export { Cmd };
