// ipvsadm's text output for the virtual server table: the list (-L and its column variants), the save
// format (-S), one service (-L -t/-u/-f), timeouts and sync daemons. Pure: the table and the names
// come in, text goes out, byte for byte what ipvsadm 1.31 prints.
import { parseAddress } from '../../netlink/address.js';
import type { ServiceInfo, RealServerInfo, Stats, Timeouts, SyncDaemon, IpvsInfo } from '../../ipvs/types.js';
import { FMT, SVC_F, IPPROTO, AF } from './args.js';
import { portToAnyname } from './names.js';

export interface TableEntry {
  service: ServiceInfo & { stats?: Stats };
  servers: (RealServerInfo & { stats?: Stats })[];
}

/** Host names for addresses (without -n); identity when numeric. */
export interface NameSource {
  name(address: string): string;
}

const PROTO_NUM = { tcp: IPPROTO.TCP, udp: IPPROTO.UDP, sctp: IPPROTO.SCTP } as const;
export const protoNum = (s: ServiceInfo): number => (s.fwmark ? 0 : PROTO_NUM[s.protocol ?? 'tcp']);
const afNum = (f: 'inet' | 'inet6') => (f === 'inet6' ? AF.INET6 : AF.INET);

/** The address as the four big-endian 32-bit words ipvsadm's comparators read (IPv4: one word, then zeros). */
function words(address: string | undefined): number[] {
  if (address && address.indexOf(':') < 0) {
    // Dotted quad (as the kernel's addresses are formatted): no allocation but the result.
    let n = 0;
    let part = 0;
    for (let i = 0; i < address.length; i++) {
      const c = address.charCodeAt(i);
      if (c === 46) { n = n * 256 + part; part = 0; } else part = part * 10 + (c - 48);
    }
    return [n * 256 + part, 0, 0, 0];
  }
  const b = address ? parseAddress(address) : null;
  const out = [0, 0, 0, 0];
  if (!b) return out;
  for (let i = 0; i < b.length / 4; i++) out[i] = ((b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!) >>> 0;
  return out;
}

/** C's "int r = (unsigned) a - (unsigned) b": the difference wrapped to 32 bits, signed. */
const diff32 = (a: number, b: number) => (a - b) | 0;

interface SvcKey { fwmark: number; af: number; protocol: number; w: number[]; port: number }
interface DestKey { af: number; w: number[]; port: number }

/** ipvs_cmp_services. */
export function cmpServices(a: SvcKey, b: SvcKey): number {
  let r = diff32(a.fwmark, b.fwmark);
  if (r) return r;
  r = a.af - b.af;
  if (r) return r;
  r = a.protocol - b.protocol;
  if (r) return r;
  return cmpAddressPort(a, b);
}

/** ipvs_cmp_dests: the first entry's family decides how many words are compared. */
export function cmpDests(a: DestKey, b: DestKey): number {
  return cmpAddressPort(a, b);
}

/** Address words (as many as the first entry's family has), then port: both comparators end so. */
function cmpAddressPort(a: DestKey, b: DestKey): number {
  let r = 0;
  const words = a.af === AF.INET6 ? 4 : 1;
  for (let i = 0; !r && i < words; i++) r = diff32(a.w[i]!, b.w[i]!);
  if (r) return r;
  return a.port - b.port;
}

/**
 * glibc's qsort (a top-down merge sort: first half, second half, merge taking the left element while
 * cmp <= 0). The comparators above are not transitive when addresses differ by 2^31 or more, so the
 * order is whatever this exact algorithm makes of them; a different sort would print differently.
 */
export function glibcMsort<T>(items: T[], cmp: (a: T, b: T) => number): T[] {
  const a = items.slice();
  const tmp = new Array<T>(a.length);
  const sort = (lo: number, n: number) => {
    if (n <= 1) return;
    const n1 = n >>> 1;
    const n2 = n - n1;
    sort(lo, n1);
    sort(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    let k = 0;
    let r1 = n1;
    let r2 = n2;
    while (r1 > 0 && r2 > 0) {
      if (cmp(a[i]!, a[j]!) <= 0) { tmp[k++] = a[i++]!; r1--; } else { tmp[k++] = a[j++]!; r2--; }
    }
    while (r1 > 0) { tmp[k++] = a[i++]!; r1--; }
    for (let m = 0; m < k; m++) a[lo + m] = tmp[m]!;
  };
  sort(0, a.length);
  return a;
}

/** glibcMsort over the indices 0..n-1 (no per-element objects: listings sort thousands). */
function msortIndices(n: number, cmp: (a: number, b: number) => number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  if (n < 2) return a;
  const tmp = new Int32Array(n);
  const sort = (lo: number, len: number) => {
    if (len <= 1) return;
    const n1 = len >>> 1;
    sort(lo, n1);
    sort(lo + n1, len - n1);
    let i = lo;
    let j = lo + n1;
    const iEnd = lo + n1;
    const jEnd = lo + len;
    let k = 0;
    while (i < iEnd && j < jEnd) tmp[k++] = cmp(a[i]!, a[j]!) <= 0 ? a[i++]! : a[j++]!;
    while (i < iEnd) tmp[k++] = a[i++]!;
    for (let m = 0; m < k; m++) a[lo + m] = tmp[m]!;
  };
  sort(0, n);
  return a;
}

/** The four address words of each entry, flat (IPv4: the first word only). */
function addressWords(addresses: (string | undefined)[]): Float64Array {
  const w = new Float64Array(addresses.length * 4);
  addresses.forEach((addr, i) => {
    const ws = words(addr);
    w[i * 4] = ws[0]!;
    w[i * 4 + 1] = ws[1]!;
    w[i * 4 + 2] = ws[2]!;
    w[i * 4 + 3] = ws[3]!;
  });
  return w;
}

/** ipvs_cmp_dests' address part over flat words: the first entry's family decides the width. */
function cmpWords(w: Float64Array, x: number, y: number, v6: boolean): number {
  let r = diff32(w[x * 4]!, w[y * 4]!);
  if (v6) for (let i = 1; !r && i < 4; i++) r = diff32(w[x * 4 + i]!, w[y * 4 + i]!);
  return r;
}

/** ipvsadm's service order (ipvs_sort_services with ipvs_cmp_services). */
export function sortServices(table: TableEntry[]): TableEntry[] {
  const n = table.length;
  const fw = table.map((e) => e.service.fwmark ?? 0);
  const af = table.map((e) => afNum(e.service.family));
  const pr = table.map((e) => protoNum(e.service));
  const port = table.map((e) => e.service.port ?? 0);
  const w = addressWords(table.map((e) => e.service.address));
  const idx = msortIndices(n, (x, y) => {
    let r = diff32(fw[x]!, fw[y]!);
    if (r) return r;
    r = af[x]! - af[y]!;
    if (r) return r;
    r = pr[x]! - pr[y]!;
    if (r) return r;
    r = cmpWords(w, x, y, af[x] === AF.INET6);
    if (r) return r;
    return port[x]! - port[y]!;
  });
  return Array.from(idx, (i) => table[i]!);
}

/** ipvsadm's real server order (ipvs_sort_dests with ipvs_cmp_dests). */
export function sortDests<T extends RealServerInfo>(servers: T[]): T[] {
  if (servers.length < 2) return servers;
  const w = addressWords(servers.map((d) => d.address));
  const idx = msortIndices(servers.length, (x, y) => {
    const r = cmpWords(w, x, y, servers[x]!.family === 'inet6');
    return r || servers[x]!.port - servers[y]!.port;
  });
  return Array.from(idx, (i) => servers[i]!);
}

/** addrport_to_anyname: "host:port" / "[v6]:port", numeric or named, in a 60-byte buffer. */
export function addrportToAnyname(family: 'inet' | 'inet6', address: string, port: number, proto: number, format: number, names: NameSource): string {
  const [l, r] = family === 'inet' ? ['', ''] : ['[', ']'];
  const s = format & FMT.NUMERIC
    ? `${l}${address}${r}:${port}`
    : `${l}${names.name(address)}${r}:${portToAnyname(port, proto)}`;
  return s.length > 59 ? s.slice(0, 59) : s;
}

/** print_largenum. */
export function largenum(v: bigint, format: number): string {
  if (format & FMT.EXACT) {
    const s = v.toString();
    return s.padStart(s.length <= 8 ? 9 : s.length + 1);
  }
  if (v < 100000000n) return v.toString().padStart(9);
  if (v < 1000000000n) return `${(v / 1000n).toString().padStart(8)}K`;
  if (v < 100000000000n) return `${(v / 1000000n).toString().padStart(8)}M`;
  if (v < 100000000000000n) return `${(v / 1000000000n).toString().padStart(8)}G`;
  return `${(v / 1000000000000n).toString().padStart(8)}T`;
}

const ZERO_STATS: Stats = { conns: 0n, inPackets: 0n, outPackets: 0n, inBytes: 0n, outBytes: 0n, cps: 0n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n };

/** The header line of a full listing. */
export function versionLine(info: IpvsInfo): string {
  const c = info.versionCode;
  return `IP Virtual Server version ${(c >> 16) & 0xff}.${(c >> 8) & 0xff}.${c & 0xff} (size=${info.connTableSize | 0})\n`;
}

/** print_title. */
export function title(format: number): string {
  const head = 'Prot LocalAddress:Port'.padEnd(33);
  const cols8 = (...c: string[]) => `${head} ${c.map((x) => x.padStart(8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (format & FMT.STATS) return cols8('Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes');
  if (format & FMT.RATE) return cols8('CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS');
  if (format & FMT.THRESHOLDS) {
    return `${head} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((x) => x.padEnd(10)).join(' ')}\n  -> RemoteAddress:Port\n`;
  }
  if (format & FMT.PERSISTENTCONN) {
    return `${head} ${'Weight'.padEnd(9)} ${'PersistConn'.padEnd(11)} ${'ActiveConn'.padEnd(10)} ${'InActConn'.padEnd(10)}\n  -> RemoteAddress:Port\n`;
  }
  if (format & FMT.TUN_INFO) {
    return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  }
  if (!(format & FMT.RULE)) {
    return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  }
  return '';
}

/** print_sched_flags: the names of the scheduler flags, comma-separated ("" when none). */
export function schedFlagNames(scheduler: string, flags: number): string {
  const out: string[] = [];
  if (scheduler === 'sh') {
    if (flags & SVC_F.SCHED1) out.push('sh-fallback');
    if (flags & SVC_F.SCHED2) out.push('sh-port');
  } else if (scheduler === 'mh') {
    if (flags & SVC_F.SCHED1) out.push('mh-fallback');
    if (flags & SVC_F.SCHED2) out.push('mh-port');
  } else {
    if (flags & SVC_F.SCHED1) out.push('flag-1');
    if (flags & SVC_F.SCHED2) out.push('flag-2');
    if (flags & SVC_F.SCHED3) out.push('flag-3');
  }
  return out.join(',');
}

const FWD_NAME: Record<string, string> = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route' };
const FWD_SWITCH: Record<string, string> = { masq: '-m', tunnel: '-i', local: '-g', route: '-g' };
const TUN_FLAGS_SHORT = { none: '-c', csum: '+c', remcsum: 'r+c' } as const;
const TUN_FLAGS_OPT = { none: '--tun-nocsum', csum: '--tun-csum', remcsum: '--tun-remcsum' } as const;
const SCHED_FLAG_MASK = SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3;

/** %-Ns as printf: pad, never cut. */
const SPACES = ' '.repeat(64);
const left = (s: string, n: number) => (s.length >= n ? s : s + SPACES.slice(0, n - s.length));
/** printf("%u") of a 32-bit value. */
const u32 = (n: number) => String(n >>> 0);
/** printf("%d") of a 32-bit value. */
const i32 = (n: number) => String(n | 0);

function ipv4Mask(mask: string): string {
  return mask;
}

/** The virtual service's name as print_service_entry builds it. */
export function serviceName(s: ServiceInfo, format: number, names: NameSource): string {
  if (s.fwmark) {
    if (format & FMT.RULE) return s.family === 'inet6' ? `-f ${i32(s.fwmark)} -6` : `-f ${i32(s.fwmark)}`;
    return s.family === 'inet6' ? `FWM  ${i32(s.fwmark)} IPv6` : `FWM  ${i32(s.fwmark)}`;
  }
  const vname = addrportToAnyname(s.family, s.address!, s.port!, protoNum(s), format, names);
  if (format & FMT.RULE) {
    const stype = s.protocol === 'tcp' ? '-t' : s.protocol === 'udp' ? '-u' : s.protocol === 'sctp' ? '--sctp-service' : '--xxx-service';
    return `${stype} ${vname}`.slice(0, 1023);
  }
  const stype = s.protocol === 'tcp' ? 'TCP' : s.protocol === 'udp' ? 'UDP' : s.protocol === 'sctp' ? 'SCTP' : '?';
  const name = `${left(stype, 4)} ${vname}`.slice(0, 1023);
  return s.family !== 'inet6' ? name.slice(0, 33) : name;
}

/** print_service_entry: the service line and its real servers' lines. */
export function serviceEntry(entry: TableEntry, format: number, names: NameSource): string {
  const parts: string[] = [];
  serviceEntryParts(entry, format, names, parts);
  return parts.join('');
}

function serviceEntryParts(entry: TableEntry, format: number, names: NameSource, parts: string[]): void {
  const s = entry.service;
  const svcName = serviceName(s, format, names);
  const st = s.stats ?? ZERO_STATS;
  let out: string;
  if (format & FMT.RULE) {
    out = `-A ${svcName} -s ${s.scheduler}`;
    if (s.flags & SVC_F.PERSISTENT) {
      out += ` -p ${u32(s.persistent?.timeout ?? 0)}`;
      const mask = s.persistent?.netmask;
      if (s.family === 'inet' && mask && mask !== '255.255.255.255') out += ` -M ${ipv4Mask(mask)}`;
      if (s.family === 'inet6' && mask && mask !== '128') out += ` -M ${i32(Number(mask))}`;
    }
    if (s.pe) out += ` --pe ${s.pe}`;
    if (s.flags & SVC_F.ONEPACKET) out += ' -o';
    if (s.flags & SCHED_FLAG_MASK) out += ` -b ${schedFlagNames(s.scheduler, s.flags)}`;
  } else if (format & FMT.STATS) {
    out = left(svcName, 33) + [st.conns, st.inPackets, st.outPackets, st.inBytes, st.outBytes].map((v) => largenum(v, format)).join('');
  } else if (format & FMT.RATE) {
    out = left(svcName, 33) + [st.cps, st.inPps, st.outPps, st.inBps, st.outBps].map((v) => largenum(v, format)).join('');
  } else {
    out = `${svcName} ${s.scheduler}`;
    if (s.flags & SCHED_FLAG_MASK) out += ` (${schedFlagNames(s.scheduler, s.flags)})`;
    if (s.flags & SVC_F.PERSISTENT) {
      out += ` persistent ${u32(s.persistent?.timeout ?? 0)}`;
      const mask = s.persistent?.netmask;
      if (s.family === 'inet' && mask && mask !== '255.255.255.255') out += ` mask ${ipv4Mask(mask)}`;
      if (s.family === 'inet6' && mask && mask !== '128') out += ` mask ${i32(Number(mask))}`;
      if (s.pe) out += ` pe ${s.pe}`;
    }
    if (s.flags & SVC_F.ONEPACKET) out += ' ops';
  }
  parts.push(out, '\n');

  const servers = format & FMT.NOSORT ? entry.servers : sortDests(entry.servers);
  const proto = protoNum(s);
  for (const d of servers) {
    let dname = addrportToAnyname(d.family, d.address, d.port, proto, format, names);
    if (!(format & FMT.RULE) && d.family !== 'inet6') dname = dname.slice(0, 28);
    const ds = d.stats ?? ZERO_STATS;
    if (format & FMT.RULE) {
      const head = `-a ${svcName} -r ${dname} ${FWD_SWITCH[d.forward] ?? '(null)'} -w ${i32(d.weight)}`;
      if (d.forward === 'tunnel') {
        const t = d.tunnel ?? { type: 'ipip' as const, port: 0, checksum: 'none' as const };
        if (t.type === 'gre') parts.push(`${head} --tun-type gre ${TUN_FLAGS_OPT[t.checksum]}\n`);
        else if (t.type === 'gue') parts.push(`${head} --tun-type gue --tun-port ${t.port} ${TUN_FLAGS_OPT[t.checksum]}\n`);
        else parts.push(`${head} --tun-type ipip\n`);
      } else {
        parts.push(`${head}\n`);
      }
    } else if (format & FMT.STATS) {
      parts.push(`  -> ${left(dname, 28)}${[ds.conns, ds.inPackets, ds.outPackets, ds.inBytes, ds.outBytes].map((v) => largenum(v, format)).join('')}\n`);
    } else if (format & FMT.RATE) {
      parts.push(`  -> ${left(dname, 28)} ${ds.cps.toString().padStart(8)} ${ds.inPps.toString().padStart(8)} ${ds.outPps.toString().padStart(8)}${largenum(ds.inBps, format)}${largenum(ds.outBps, format)}\n`);
    } else if (format & FMT.THRESHOLDS) {
      parts.push(`  -> ${left(dname, 28)} ${left(u32(d.upperThreshold), 10)} ${left(u32(d.lowerThreshold), 10)} ${left(u32(d.activeConns), 10)} ${left(u32(d.inactiveConns), 10)}\n`);
    } else if (format & FMT.PERSISTENTCONN) {
      parts.push(`  -> ${left(dname, 28)} ${left(u32(d.weight), 9)} ${left(u32(d.persistentConns), 11)} ${left(u32(d.activeConns), 10)} ${left(u32(d.inactiveConns), 10)}\n`);
    } else if (format & FMT.TUN_INFO) {
      parts.push(`  -> ${left(dname, 28)} ${left(FWD_NAME[d.forward] ?? '(null)', 7)} ${left(tunInfo(d), 13)} ${left(i32(d.weight), 6)} ${left(u32(d.activeConns), 10)} ${left(u32(d.inactiveConns), 10)}\n`);
    } else {
      parts.push(`  -> ${left(dname, 28)} ${left(FWD_NAME[d.forward] ?? '(null)', 7)} ${left(i32(d.weight), 6)} ${left(u32(d.activeConns), 10)} ${left(u32(d.inactiveConns), 10)}\n`);
    }
  }
}

/** fwd_tun_info: "ipip", "gue:PORT:FLAGS", "gre:FLAGS" for tunnels, "n/a" otherwise. */
function tunInfo(d: RealServerInfo): string {
  if (d.forward !== 'tunnel') return 'n/a';
  const t = d.tunnel ?? { type: 'ipip' as const, port: 0, checksum: 'none' as const };
  if (t.type === 'ipip') return 'ipip';
  if (t.type === 'gue') return `gue:${t.port}:${TUN_FLAGS_SHORT[t.checksum]}`.slice(0, 15);
  return `gre:${TUN_FLAGS_SHORT[t.checksum]}`;
}

/** list_all: header (unless saving), title, every service. */
export function listAll(info: IpvsInfo, table: TableEntry[], format: number, names: NameSource): string {
  const parts: string[] = [format & FMT.RULE ? '' : versionLine(info), title(format)];
  const sorted = format & FMT.NOSORT ? table : sortServices(table);
  for (const e of sorted) serviceEntryParts(e, format, names, parts);
  return parts.join('');
}

/** list_service: title and the one service. */
export function listService(entry: TableEntry, format: number, names: NameSource): string {
  return title(format) + serviceEntry(entry, format, names);
}

export function timeoutLine(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${i32(t.tcp)} ${i32(t.tcpFin)} ${i32(t.udp)}\n`;
}

/** list_daemon. */
export function daemonLines(daemons: SyncDaemon[]): string {
  let out = '';
  for (const d of daemons.slice(0, 2)) {
    out += `${d.state} sync daemon (mcast=${d.mcastInterface}, syncid=${i32(d.syncId)}`;
    if (d.syncMaxLen) out += `, maxlen=${d.syncMaxLen}`;
    if (d.mcastGroup) out += `, group=${d.mcastGroup}`;
    const port = d.mcastPort;
    if (port) out += `, port=${port}`;
    if (d.mcastTtl) out += `, ttl=${d.mcastTtl}`;
    out += ')\n';
  }
  return out;
}
