// The connection table as ipvsadm -c reads it: /proc/net/ip_vs_conn, one line per connection
// ("TCP 0A000001 D431 0A0A0001 0050 0AF40102 1F90 ESTABLISHED     899" for IPv4, full IPv6 text for
// IPv6, and a persistence engine's name and data at the end when there is one).
import { formatAddress } from '../../netlink/address.js';
import { inetPton4, inetPton6 } from './inet.js';
import { FMT, IPPROTO } from './args.js';
import { addrportToAnyname, type NameSource } from './format.js';

export const CONN_PROC_FILE = '/proc/net/ip_vs_conn';

export interface Endpoint {
  family: 'inet' | 'inet6';
  address: string;
  port: number;
}

export interface Connection {
  /** As the kernel names it: TCP, UDP, SCTP, IP (persistence templates), … */
  protocol: string;
  client: Endpoint;
  virtual: Endpoint;
  destination: Endpoint;
  state: string;
  /** Seconds until the entry expires. */
  expires: number;
  peName: string | null;
  peData: string | null;
  /** How many fields the line had (ipvsadm prints the engine columns only when it has all 11). */
  fields: number;
}

/** strtoul(s, 16) as a 32-bit address: leading hex digits, 0 when there are none. */
function hexAddr(s: string): Uint8Array {
  const m = /^[ \t]*(?:0[xX])?([0-9a-fA-F]+)/.exec(s);
  let v = m ? BigInt(`0x${m[1]}`) : 0n;
  if (v > 0xffffffffffffffffn) v = 0xffffffffffffffffn;
  const n = Number(v & 0xffffffffn);
  return Uint8Array.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** sscanf %hX: leading hex digits, truncated to 16 bits; null when there are none. */
function hex16(s: string | undefined): number | null {
  if (s === undefined) return null;
  const m = /^[+-]?(?:0[xX])?([0-9a-fA-F]+)/.exec(s);
  if (!m) return null;
  const v = Number(BigInt(`0x${m[1]}`) & 0xffffn);
  return s[0] === '-' ? (0x10000 - v) & 0xffff : v;
}

/** One line of /proc/net/ip_vs_conn, parsed as print_conn does (sscanf, then inet_pton or hex). */
export function parseConnLine(line: string): Connection | null {
  const tok = line.split(/[ \t\n\r\f\v]+/).filter(Boolean);
  if (tok.length === 0) return null;
  // sscanf stops at the first conversion that fails; n counts what was assigned.
  let fields = 1;
  const protocol = tok[0]!;
  const t1 = tok[1];
  if (t1 !== undefined) fields++;
  const cport = t1 !== undefined ? hex16(tok[2]) : null;
  if (cport !== null) fields++;
  const t2 = cport !== null ? tok[3] : undefined;
  if (t2 !== undefined) fields++;
  const vport = t2 !== undefined ? hex16(tok[4]) : null;
  if (vport !== null) fields++;
  const t3 = vport !== null ? tok[5] : undefined;
  if (t3 !== undefined) fields++;
  const dport = t3 !== undefined ? hex16(tok[6]) : null;
  if (dport !== null) fields++;
  const state = dport !== null ? tok[7] : undefined;
  if (state !== undefined) fields++;
  const expTok = state !== undefined ? tok[8] : undefined;
  const expM = expTok !== undefined ? /^[+-]?\d+/.exec(expTok) : null;
  if (expM) fields++;
  const peName = expM ? tok[9] : undefined;
  if (peName !== undefined) fields++;
  const peData = peName !== undefined ? tok[10] : undefined;
  if (peData !== undefined) fields++;

  let family: 'inet' | 'inet6' = 'inet';
  let caddr: Uint8Array;
  let vaddr: Uint8Array;
  const c6 = t1 !== undefined ? inetPton6(t1) : null;
  if (c6) {
    family = 'inet6';
    caddr = c6;
    vaddr = (t2 !== undefined ? inetPton6(t2) : null) ?? new Uint8Array(16);
  } else {
    const c4 = t1 !== undefined ? inetPton4(t1) : null;
    if (c4) {
      caddr = c4;
      vaddr = (t2 !== undefined ? inetPton4(t2) : null) ?? new Uint8Array(4);
    } else {
      caddr = hexAddr(t1 ?? '');
      vaddr = hexAddr(t2 ?? '');
    }
  }
  let dfamily: 'inet' | 'inet6' = 'inet';
  let daddr: Uint8Array = new Uint8Array(4);
  const d6 = t3 !== undefined ? inetPton6(t3) : null;
  if (d6) {
    dfamily = 'inet6';
    daddr = d6;
  } else {
    daddr = (t3 !== undefined ? inetPton4(t3) : null) ?? hexAddr(t3 ?? '');
  }
  return {
    protocol,
    client: { family, address: formatAddress(caddr, family), port: cport ?? 0 },
    virtual: { family, address: formatAddress(vaddr, family), port: vport ?? 0 },
    destination: { family: dfamily, address: formatAddress(daddr, dfamily), port: dport ?? 0 },
    state: state ?? '',
    expires: expM ? Number(BigInt.asUintN(32, BigInt(expM[0]))) : 0,
    peName: peName ?? null,
    peData: peData ?? null,
    fields,
  };
}

/** The connections of a whole /proc/net/ip_vs_conn text (its first line is the header). */
export function parseConnTable(text: string): Connection[] {
  const lines = text.split('\n');
  const out: Connection[] = [];
  for (const line of lines.slice(1)) {
    const c = parseConnLine(line);
    if (c) out.push(c);
  }
  return out;
}

export function connProto(p: string): number {
  return p === 'TCP' ? IPPROTO.TCP : p === 'UDP' ? IPPROTO.UDP : p === 'SCTP' ? IPPROTO.SCTP : 0;
}

export function connHeader(format: number): string {
  return format & FMT.PERSISTENTCONN
    ? `IPVS connection entries\npro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} ${'destination'.padEnd(18)} ${'pe name'.padEnd(16)} pe_data\n`
    : `IPVS connection entries\npro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} destination\n`;
}

/** print_conn. */
export function connLine(c: Connection, format: number, names: NameSource): string {
  const proto = connProto(c.protocol);
  const name = (e: Endpoint) => addrportToAnyname(e.family, e.address, e.port, proto, format, names);
  const exp = c.expires >>> 0;
  const minutes = Math.floor(exp / 60) | 0;
  const expire = `${String(minutes).padStart(2, '0')}:${String(exp % 60).padStart(2, '0')}`;
  const head = `${c.protocol.padEnd(3)} ${expire.padEnd(6)} ${c.state.padEnd(11)} ${name(c.client).padEnd(18)} ${name(c.virtual).padEnd(18)}`;
  if (format & FMT.PERSISTENTCONN && c.fields === 11) {
    return `${head} ${name(c.destination).padEnd(16)} ${c.peName!.padEnd(18)} ${c.peData}\n`;
  }
  return `${head} ${name(c.destination)}\n`;
}
