// glibc's inet_aton and inet_pton(AF_INET6), as ipvsadm's argument parsing relies on them.
import { isIPv6 } from 'node:net';
import { parseAddress } from '../../netlink/address.js';

/**
 * inet_aton: one to four parts separated by dots, each decimal, octal (leading 0) or hex (0x); the last
 * part fills the remaining bytes. Trailing whitespace and anything after it is ignored.
 */
export function inetAton(text: string): Uint8Array | null {
  const ws = text.search(/[ \t\n\v\f\r]/);
  const s = ws >= 0 ? text.slice(0, ws) : text;
  if (s === '') return null;
  const parts = s.split('.');
  if (parts.length > 4) return null;
  const vals: number[] = [];
  for (const p of parts) {
    let v: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(p)) v = p.length > 2 ? parseInt(p.slice(2), 16) : 0;
    else if (/^0[0-7]*$/.test(p)) v = p.length > 1 ? parseInt(p.slice(1), 8) : 0;
    else if (/^[1-9][0-9]*$/.test(p)) v = parseInt(p, 10);
    else return null;
    if (!Number.isFinite(v) || v > 0xffffffff) return null;
    vals.push(v);
  }
  const last = vals[vals.length - 1]!;
  const maxLast = [0xffffffff, 0xffffff, 0xffff, 0xff][vals.length - 1]!;
  if (last > maxLast) return null;
  for (let i = 0; i < vals.length - 1; i++) if (vals[i]! > 0xff) return null;
  let n = last;
  for (let i = 0; i < vals.length - 1; i++) n += vals[i]! * 2 ** (24 - 8 * i);
  return Uint8Array.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** inet_pton(AF_INET6): 16 bytes, or null (no zone ids, no brackets). */
export function inetPton6(s: string): Uint8Array | null {
  if (s.includes('%') || !isIPv6(s)) return null;
  return parseAddress(s);
}

/** inet_pton(AF_INET): strict dotted quad without leading zeros. */
export function inetPton4(s: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1);
  if (parts.some((p) => p.length > 1 && p[0] === '0')) return null;
  const b = parts.map(Number);
  return b.every((x) => x <= 255) ? Uint8Array.from(b) : null;
}
