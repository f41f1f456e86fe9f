// CIDR blocks and address tests (loopback, link-local) on canonical addresses. Pure.
import { parseAddress, formatAddress, familyOf, type Family } from './address.js';

export interface Cidr {
  family: Family;
  /** Network address bytes (host bits cleared). */
  bytes: Uint8Array;
  prefix: number;
  /** Canonical text, e.g. "10.0.0.0/8", "fd00::/64". */
  text: string;
}

/**
 * Parse "a.b.c.d/n" or "x::y/n". Host bits are allowed (as Go's net.ParseCIDR allows) and cleared.
 * Returns null for anything else.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const addr = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bits)) return null;
  const raw = addr.includes('%') ? null : parseAddress(addr);
  if (!raw) return null;
  const prefix = Number(bits);
  if (prefix > raw.length * 8) return null;
  const bytes = new Uint8Array(raw);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  const family: Family = raw.length === 4 ? 'inet' : 'inet6';
  return { family, bytes, prefix, text: `${formatAddress(bytes)}/${prefix}` };
}

function bytesInPrefix(addr: Uint8Array, net: Uint8Array, prefix: number): boolean {
  if (addr.length !== net.length) return false;
  for (let i = 0; i < net.length && i * 8 < prefix; i++) {
    const keep = Math.min(8, prefix - i * 8);
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((addr[i]! & mask) !== net[i]) return false;
  }
  return true;
}

/** Is `address` (any valid text form) inside `cidr`? False for another family or a bad address. */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const b = parseAddress(address);
  return b !== null && bytesInPrefix(b, cidr.bytes, cidr.prefix);
}

const LOOP4 = parseCidr('127.0.0.0/8')!;
const LOOP6 = parseCidr('::1/128')!;
const LINK6 = parseCidr('fe80::/10')!;

export function isLoopback(address: string): boolean {
  return cidrContains(LOOP4, address) || cidrContains(LOOP6, address);
}

export function isIPv6LinkLocal(address: string): boolean {
  return cidrContains(LINK6, address);
}

/** Family of a textual address in kipvs' terms, or null. */
export function addressFamily(address: string): Family | null {
  return familyOf(address);
}

/** A zero-length prefix: "0.0.0.0/0" or "::/0". */
export function isZeroCidr(c: Cidr): boolean {
  return c.prefix === 0;
}
