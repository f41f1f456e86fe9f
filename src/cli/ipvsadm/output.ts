// kipvs' own listing formats (`--output json` and `--output wide`): every field of every listing, for
// tools, with no truncation, rounding or column guessing. The JSON schema is docs/ipvsadm-json.md.
import type { ServiceInfo, RealServerInfo, Stats, Timeouts, SyncDaemon, IpvsInfo } from '../../ipvs/types.js';
import { FMT } from './args.js';
import { schedFlagNames, sortServices, sortDests, type TableEntry, type NameSource } from './format.js';
import { portToAnyname } from './names.js';
import { connProto, type Connection, type Endpoint } from './conn.js';
import { protoNum } from './format.js';

export const JSON_SCHEMA = 'kipvs.ipvsadm/v1';

const num = (v: bigint) => Number(v);

function statsJson(s: Stats | undefined) {
  if (!s) return null;
  return {
    conns: num(s.conns), inPackets: num(s.inPackets), outPackets: num(s.outPackets), inBytes: num(s.inBytes), outBytes: num(s.outBytes),
    cps: num(s.cps), inPps: num(s.inPps), outPps: num(s.outPps), inBps: num(s.inBps), outBps: num(s.outBps),
  };
}

interface Naming { numeric: boolean; names: NameSource }

function hostName(n: Naming, address: string): string | undefined {
  return n.numeric ? undefined : n.names.name(address);
}

function serviceJson(s: ServiceInfo & { stats?: Stats }, n: Naming) {
  const proto = protoNum(s);
  return {
    family: s.family,
    protocol: s.fwmark ? null : s.protocol,
    address: s.fwmark ? null : s.address,
    port: s.fwmark ? null : s.port,
    fwmark: s.fwmark ?? null,
    ...(n.numeric || s.fwmark ? {} : { hostName: hostName(n, s.address!), portName: portToAnyname(s.port!, proto) }),
    scheduler: s.scheduler,
    schedulerFlags: schedFlagNames(s.scheduler, s.flags).split(',').filter(Boolean),
    flags: s.flags,
    persistent: s.persistent ? { timeout: s.persistent.timeout, netmask: s.persistent.netmask } : null,
    onePacket: s.onePacket,
    pe: s.pe ?? null,
    stats: statsJson(s.stats),
  };
}

function serverJson(d: RealServerInfo & { stats?: Stats }, proto: number, n: Naming) {
  return {
    family: d.family,
    address: d.address,
    port: d.port,
    ...(n.numeric ? {} : { hostName: hostName(n, d.address), portName: portToAnyname(d.port, proto) }),
    forward: d.forward,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
    activeConns: d.activeConns,
    inactiveConns: d.inactiveConns,
    persistentConns: d.persistentConns,
    tunnel: d.tunnel ? { type: d.tunnel.type, port: d.tunnel.port, checksum: d.tunnel.checksum } : null,
    stats: statsJson(d.stats),
  };
}

function ordered(table: TableEntry[], format: number): TableEntry[] {
  const t = format & FMT.NOSORT ? table : sortServices(table);
  return t.map((e) => ({ service: e.service, servers: format & FMT.NOSORT ? e.servers : sortDests(e.servers) }));
}

export function servicesJson(info: IpvsInfo | null, table: TableEntry[], format: number, names: NameSource): string {
  const n = { numeric: (format & FMT.NUMERIC) !== 0, names };
  const doc = {
    schema: JSON_SCHEMA,
    kind: 'services',
    ...(info ? { ipvs: { version: info.version, connTableSize: info.connTableSize } } : {}),
    services: ordered(table, format).map((e) => ({
      ...serviceJson(e.service, n),
      servers: e.servers.map((d) => serverJson(d, protoNum(e.service), n)),
    })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function endpointJson(e: Endpoint, proto: number, n: Naming) {
  return {
    family: e.family, address: e.address, port: e.port,
    ...(n.numeric ? {} : { hostName: hostName(n, e.address), portName: portToAnyname(e.port, proto) }),
  };
}

export function connectionsJson(conns: Connection[], format: number, names: NameSource): string {
  const n = { numeric: (format & FMT.NUMERIC) !== 0, names };
  const doc = {
    schema: JSON_SCHEMA,
    kind: 'connections',
    connections: conns.map((c) => {
      const p = connProto(c.protocol);
      return {
        protocol: c.protocol, state: c.state, expires: c.expires,
        client: endpointJson(c.client, p, n), virtual: endpointJson(c.virtual, p, n), destination: endpointJson(c.destination, p, n),
        pe: c.peName !== null ? { name: c.peName, data: c.peData } : null,
      };
    }),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function timeoutJson(t: Timeouts): string {
  return `${JSON.stringify({ schema: JSON_SCHEMA, kind: 'timeout', timeout: { tcp: t.tcp, tcpFin: t.tcpFin, udp: t.udp } }, null, 2)}\n`;
}

export function daemonsJson(ds: SyncDaemon[]): string {
  const doc = {
    schema: JSON_SCHEMA,
    kind: 'daemons',
    daemons: ds.map((d) => ({
      state: d.state, mcastInterface: d.mcastInterface, syncId: d.syncId, syncMaxLen: d.syncMaxLen ?? null,
      mcastGroup: d.mcastGroup ?? null, mcastPort: d.mcastPort ?? null, mcastTtl: d.mcastTtl ?? null,
    })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Columns padded to their widest cell; numbers right-aligned. */
function table(header: string[], rows: string[][], numeric: Set<number>): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 && !numeric.has(i) ? c : numeric.has(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [header, ...rows].map(line).join('\n') + '\n';
}

function addr(family: string, address: string, port: number | string): string {
  return family === 'inet6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The wide listing: one row per virtual service (REAL "-") followed by one row per real server, every
 * column at once (configuration, connection counts, exact counters and rates), nothing cut.
 */
export function servicesWide(table_: TableEntry[], format: number, names: NameSource): string {
  const numericNames = (format & FMT.NUMERIC) !== 0;
  const host = (a: string) => (numericNames ? a : names.name(a));
  const header = ['PROT', 'VIRTUAL', 'SCHED', 'FLAGS', 'PERSIST', 'REAL', 'FORWARD', 'TUNNEL', 'WEIGHT', 'UTHR', 'LTHR',
    'ACTIVE', 'INACT', 'PERSISTCONN', 'CONNS', 'INPKTS', 'OUTPKTS', 'INBYTES', 'OUTBYTES', 'CPS', 'INPPS', 'OUTPPS', 'INBPS', 'OUTBPS'];
  const stats = (s: Stats | undefined) => (s
    ? [s.conns, s.inPackets, s.outPackets, s.inBytes, s.outBytes, s.cps, s.inPps, s.outPps, s.inBps, s.outBps].map(String)
    : new Array<string>(10).fill('-'));
  const rows: string[][] = [];
  for (const e of ordered(table_, format)) {
    const s = e.service;
    const proto = protoNum(s);
    const port = (p: number) => (numericNames ? String(p) : portToAnyname(p, proto));
    const prot = s.fwmark ? 'FWM' : s.protocol!.toUpperCase();
    const virt = s.fwmark ? `${s.fwmark}${s.family === 'inet6' ? '/IPv6' : ''}` : addr(s.family, host(s.address!), port(s.port!));
    const flags = [schedFlagNames(s.scheduler, s.flags), s.onePacket ? 'ops' : '', s.pe ? `pe=${s.pe}` : ''].filter(Boolean).join(',') || '-';
    const persist = s.persistent ? `${s.persistent.timeout}/${s.persistent.netmask}` : '-';
    const conns = e.servers.reduce((acc, d) => [acc[0]! + d.activeConns, acc[1]! + d.inactiveConns, acc[2]! + d.persistentConns], [0, 0, 0]);
    rows.push([prot, virt, s.scheduler, flags, persist, '-', '-', '-', '-', '-', '-', String(conns[0]), String(conns[1]), String(conns[2]), ...stats(s.stats)]);
    for (const d of e.servers) {
      const tun = d.tunnel ? `${d.tunnel.type}${d.tunnel.type === 'gue' ? `:${d.tunnel.port}` : ''}${d.tunnel.type !== 'ipip' ? `:${d.tunnel.checksum}` : ''}` : '-';
      rows.push([prot, virt, s.scheduler, flags, persist, addr(d.family, host(d.address), port(d.port)), d.forward, tun,
        String(d.weight), String(d.upperThreshold), String(d.lowerThreshold), String(d.activeConns), String(d.inactiveConns),
        String(d.persistentConns), ...stats(d.stats)]);
    }
  }
  return table(header, rows, new Set([8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]));
}

export function connectionsWide(conns: Connection[], format: number, names: NameSource): string {
  const numericNames = (format & FMT.NUMERIC) !== 0;
  const ep = (e: Endpoint, proto: number) => addr(e.family, numericNames ? e.address : names.name(e.address), numericNames ? e.port : portToAnyname(e.port, proto));
  const rows = conns.map((c) => {
    const p = connProto(c.protocol);
    return [c.protocol, String(c.expires), c.state, ep(c.client, p), ep(c.virtual, p), ep(c.destination, p), c.peName ?? '-', c.peData ?? '-'];
  });
  return table(['PROT', 'EXPIRES', 'STATE', 'SOURCE', 'VIRTUAL', 'DESTINATION', 'PE', 'PEDATA'], rows, new Set([1]));
}
