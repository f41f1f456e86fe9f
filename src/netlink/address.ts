// IP addresses as the kernel carries them (4 or 16 bytes, network order) and as text. Formatting
// follows glibc's inet_ntop exactly, because kipvs' listings must match ipvsadm's byte for byte.
import { isIPv4, isIPv6 } from 'node:net';

/** An IP family, named as the kernel's address families are (AF_INET, AF_INET6): the one name for it in kipvs. */
export type Family = 'inet' | 'inet6';

/** Kubernetes' names for the families (v1.IPFamily), as in kube-proxy's logs and ip_family metric label. */
export const FAMILY_NAME: Record<Family, 'IPv4' | 'IPv6'> = { inet: 'IPv4', inet6: 'IPv6' };

export function familyOf(address: string): Family | null {
  if (isIPv4(address)) return 'inet';
  if (isIPv6(address)) return 'inet6';
  return null;
}

/** Parse a textual address into 4 (IPv4) or 16 (IPv6) bytes; null if it is not an address. */
export function parseAddress(address: string): Uint8Array | null {
  const v4 = parseIPv4(address);
  if (v4) return v4;
  if (!isIPv6(address)) return null;
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const out = new Uint8Array(16);
  // An embedded IPv4 tail becomes two 16-bit groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined
    ? headGroups
    : [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/** Dotted-quad IPv4 without leading zeros (as inet_pton takes it), parsed by hand: it is on the hot path. */
function parseIPv4(s: string): Uint8Array | null {
  const out = new Uint8Array(4);
  return writeIPv4(s, out, 0) ? out : null;
}

/**
 * parseIPv4's work without allocating: the 4 bytes into out[at..at+4), false (bytes undefined) when
 * `s` is not a dotted quad. A first sync at 10,000 Services checks and encodes 110,000 addresses,
 * each once to validate and once or twice to encode: a typed array for each was a third of what
 * that sync allocated.
 */
export function writeIPv4(s: string, out: Uint8Array, at: number): boolean {
  if (s.length < 7 || s.length > 15) return false;
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[at + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

const scratch = new Uint8Array(4);

/** Is `s` an IPv4 address as parseAddress takes it (a dotted quad, no leading zeros)? Allocates nothing. */
export function isIPv4Text(s: string): boolean {
  return writeIPv4(s, scratch, 0);
}

/** Canonical text of an address (as inet_ntop prints it); the input must be a valid address. */
export function canonicalAddress(address: string): string {
  const bytes = parseAddress(address);
  if (!bytes) throw new Error(`not an IP address: ${address}`);
  return formatAddress(bytes);
}

/** Text of 4 or 16 address bytes, exactly as glibc's inet_ntop writes it. */
export function formatAddress(bytes: Uint8Array, family: Family = bytes.length === 4 ? 'inet' : 'inet6'): string {
  if (family === 'inet') return readAddressAt(bytes, 0, 'inet');
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  // The longest run of two or more zero words (the first on a tie) becomes "::".
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (cur.base === -1) cur = { base: i, len: 1 };
      else cur.len++;
    } else if (cur.base !== -1) {
      if (best.base === -1 || cur.len > best.len) best = cur;
      cur = { base: -1, len: 0 };
    }
  }
  if (cur.base !== -1 && (best.base === -1 || cur.len > best.len)) best = cur;
  if (best.base !== -1 && best.len < 2) best = { base: -1, len: 0 };
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best.base !== -1 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses end in dotted quad.
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && words[5] === 0xffff))) {
      out += `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
      break;
    }
    out += words[i]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.len === 8) out += ':';
  return out;
}

/**
 * The kernel's union nf_inet_addr (16 bytes, IPv4 in the first four, the rest zero) from an address'
 * text, into out[at..at+16); allocates nothing for IPv4.
 */
export function writeInetAddr(address: string, out: Uint8Array, at: number): void {
  // Zeroed byte by byte: a Buffer's fill() checks its arguments at a cost larger than 16 stores.
  for (let i = at; i < at + 16; i++) out[i] = 0;
  if (writeIPv4(address, out, at)) return;
  const raw = parseAddress(address);
  if (!raw) throw new Error(`not an IP address: ${address}`);
  out.set(raw, at);
}

/** readAddress() of the bytes at buf[at..]: no view made (a dump reads one per real server). */
export function readAddressAt(buf: Uint8Array, at: number, family: Family): string {
  if (family === 'inet') return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
  return formatAddress(buf.subarray(at, at + 16), family);
}

/** Read an address of `family` from a kernel buffer (which may be 16 bytes for IPv4 too). */
export function readAddress(buf: Uint8Array | undefined, family: Family): string {
  if (!buf) return family === 'inet' ? '0.0.0.0' : '::';
  return readAddressAt(buf, 0, family);
}

/** Is `mask` a dotted-quad IPv4 netmask with contiguous ones? */
export function isIPv4Netmask(mask: string): boolean {
  if (!isIPv4(mask)) return false;
  const n = mask.split('.').reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
  const inv = ~n >>> 0;
  return (inv & (inv + 1)) === 0;
}
