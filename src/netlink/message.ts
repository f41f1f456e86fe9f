// Netlink message and attribute encoding and decoding (nlmsghdr, genlmsghdr, nlattr, nested
// attributes). Pure: bytes in, bytes out, no sockets. Layouts are the kernel's (linux/netlink.h,
// linux/genetlink.h); integers are host order (little-endian on every platform kipvs supports) except
// where an attribute is defined big-endian (ports, IPv4 netmasks).

import { writeInetAddr, writeIPv4 } from './address.js';

export const NLMSG_HDRLEN = 16;
export const GENL_HDRLEN = 4;
export const NLA_HDRLEN = 4;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

const align4 = (n: number) => (n + 3) & ~3;

// Little-endian and big-endian stores straight into the bytes. Buffer's writeUInt16LE and kin check
// their arguments on every call; a first sync at 10,000 Services writes some 800,000 attributes, and
// those calls were a tenth of the encoding's samples in the sandbox. A Uint8Array store keeps the low
// 8 bits, so each byte is the value shifted; widths are checked where a value could be out of range.
function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
}
function put16be(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
}
function put32be(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}
/**
 * `v` itself if it is an unsigned 8-bit (16-bit) integer, else a RangeError naming what it was for (an
 * attribute's type, or a header field): what Buffer's writers threw. A mask, not Number.isInteger and
 * bounds: those were a quarter of the encoding.
 */
function u8Of(v: number, what: number | string): number {
  if ((v & 0xff) !== v) throw new RangeError(`netlink: ${whatOf(what)}: ${v} is not an 8-bit unsigned integer`);
  return v;
}
function u16Of(v: number, what: number | string): number {
  if ((v & 0xffff) !== v) throw new RangeError(`netlink: ${whatOf(what)}: ${v} is not a 16-bit unsigned integer`);
  return v;
}
const whatOf = (what: number | string) => (typeof what === 'number' ? `attribute ${what}` : what);

/**
 * Builds one or many netlink messages back to back in one growing buffer, so a batch of requests is
 * one allocation and can be sent as one datagram (or a few).
 */
export class MessageWriter {
  #buf: Buffer;
  #len = 0;
  #msgStart = -1;
  #nests: number[] = [];
  /** Start offsets of the complete messages written so far. */
  readonly offsets: number[] = [];

  constructor(initialSize = 4096) {
    this.#buf = Buffer.alloc(initialSize);
  }

  get length(): number {
    return this.#len;
  }

  get messageCount(): number {
    return this.offsets.length;
  }

  #reserve(n: number): number {
    const at = this.#len;
    const need = at + n;
    if (need > this.#buf.length) {
      const grown = Buffer.alloc(Math.max(need, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, at));
      this.#buf = grown;
    }
    this.#len = need;
    return at;
  }

  /** Begin a message; finish it with end(). */
  begin(type: number, flags: number, seq: number, pid = 0): this {
    if (this.#msgStart >= 0) throw new Error('netlink: begin() while a message is open');
    u16Of(type, 'message type');
    u16Of(flags, 'message flags');
    const at = this.#reserve(NLMSG_HDRLEN);
    const b = this.#buf;
    put32(b, at, 0);
    put16(b, at + 4, type);
    put16(b, at + 6, flags);
    put32(b, at + 8, seq);
    put32(b, at + 12, pid);
    this.#msgStart = at;
    return this;
  }

  /** The generic netlink header that follows nlmsghdr in a genl message. */
  genl(cmd: number, version: number): this {
    u8Of(cmd, 'generic netlink command');
    u8Of(version, 'generic netlink version');
    const at = this.#reserve(GENL_HDRLEN);
    const b = this.#buf;
    b[at] = cmd;
    b[at + 1] = version;
    put16(b, at + 2, 0);
    return this;
  }

  /**
   * Raw bytes, padded to 4: a fixed header placed right after nlmsghdr (struct ifaddrmsg), or
   * attributes encoded before (contents() of another writer), copied as they are.
   */
  raw(bytes: Uint8Array): this {
    const at = this.#reserve(align4(bytes.length));
    this.#buf.set(bytes, at);
    for (let i = at + bytes.length, end = at + align4(bytes.length); i < end; i++) this.#buf[i] = 0;
    return this;
  }

  #attr(type: number, payloadLen: number): number {
    const len = NLA_HDRLEN + payloadLen;
    if (len > 0xffff) throw new RangeError(`netlink: attribute ${type}: ${payloadLen} bytes do not fit one attribute (65,531 at most)`);
    const at = this.#reserve(align4(len));
    const buf = this.#buf;
    put16(buf, at, len);
    put16(buf, at + 2, type);
    // The padding, byte by byte: Buffer.fill's checks cost more than the 0-3 bytes.
    for (let i = at + len, end = at + align4(len); i < end; i++) buf[i] = 0;
    return at + NLA_HDRLEN;
  }

  u8(type: number, v: number): this {
    const at = this.#attr(type, 1);
    this.#buf[at] = u8Of(v, type);
    return this;
  }
  u16(type: number, v: number): this {
    const at = this.#attr(type, 2);
    put16(this.#buf, at, u16Of(v, type));
    return this;
  }
  /** A 16-bit attribute in network byte order (ports). */
  be16(type: number, v: number): this {
    const at = this.#attr(type, 2);
    put16be(this.#buf, at, u16Of(v, type));
    return this;
  }
  u32(type: number, v: number): this {
    const at = this.#attr(type, 4);
    put32(this.#buf, at, v);
    return this;
  }
  be32(type: number, v: number): this {
    const at = this.#attr(type, 4);
    put32be(this.#buf, at, v);
    return this;
  }
  u64(type: number, v: bigint): this {
    const at = this.#attr(type, 8);
    this.#buf.writeBigUInt64LE(v, at);
    return this;
  }
  /** An attribute of two u32s (e.g. struct ip_vs_flags: flags, mask), host order. */
  u32Pair(type: number, first: number, second: number): this {
    const at = this.#attr(type, 8);
    put32(this.#buf, at, first);
    put32(this.#buf, at + 4, second);
    return this;
  }
  bytes(type: number, v: Uint8Array): this {
    const at = this.#attr(type, v.length);
    this.#buf.set(v, at);
    return this;
  }
  /** A union nf_inet_addr attribute (16 bytes, IPv4 in the first four) from an address' text. */
  inetAddr(type: number, address: string): this {
    // #attr may grow (replace) the buffer: read it after.
    const at = this.#attr(type, 16);
    writeInetAddr(address, this.#buf, at);
    return this;
  }
  /** A NUL-terminated string attribute (NLA_NUL_STRING / NLA_STRING). */
  string(type: number, v: string): this {
    // ASCII (scheduler and set names, the usual case) byte by byte: no Buffer made per attribute.
    let ascii = true;
    for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0x7f) { ascii = false; break; }
    if (ascii) {
      const at = this.#attr(type, v.length + 1);
      const b = this.#buf;
      for (let i = 0; i < v.length; i++) b[at + i] = v.charCodeAt(i);
      b[at + v.length] = 0;
      return this;
    }
    const s = Buffer.from(v, 'utf8');
    const at = this.#attr(type, s.length + 1);
    this.#buf.set(s, at);
    this.#buf[at + s.length] = 0;
    return this;
  }

  beginNested(type: number): this {
    const at = this.#reserve(NLA_HDRLEN);
    put16(this.#buf, at + 2, type | NLA_F_NESTED);
    this.#nests.push(at);
    return this;
  }
  endNested(): this {
    const at = this.#nests.pop();
    if (at === undefined) throw new Error('netlink: endNested() without beginNested()');
    put16(this.#buf, at, u16Of(this.#len - at, 'nested attribute length'));
    return this;
  }

  /** Finish the open message: patch its length. */
  end(): this {
    if (this.#msgStart < 0 || this.#nests.length) throw new Error('netlink: end() without a complete message');
    put32(this.#buf, this.#msgStart, this.#len - this.#msgStart);
    this.offsets.push(this.#msgStart);
    this.#msgStart = -1;
    return this;
  }

  /**
   * Copies a template, attributes encoded once with this writer's own methods, and returns where the
   * copy starts, so that the patch methods below set its variable fields in place: one copy and a few
   * stores instead of a call per attribute (src/ipvs/codec.ts putPlainServer: a first sync at 10,000
   * Services writes 100,000 real servers of one layout).
   */
  template(bytes: Uint8Array): number {
    if ((bytes.length & 3) !== 0) throw new RangeError(`netlink: a template of ${bytes.length} bytes is not whole attributes`);
    const at = this.#len;
    this.raw(bytes);
    return at;
  }
  /** A host-order u32 at `at` (an offset template() returned, plus the field's). */
  patch32(at: number, v: number): void {
    put32(this.#buf, at, v);
  }
  /** A network-order u16 at `at` (ports). */
  patch16be(at: number, v: number, what: string): void {
    put16be(this.#buf, at, u16Of(v, what));
  }
  /** An IPv4 address' 4 bytes at `at`; false (the bytes undefined) when `address` is not a dotted quad. */
  patchIPv4(at: number, address: string): boolean {
    return writeIPv4(address, this.#buf, at);
  }

  /** Abandon the open message (e.g. validation failed half-way). */
  abort(): this {
    if (this.#msgStart >= 0) {
      this.#len = this.#msgStart;
      this.#msgStart = -1;
      this.#nests = [];
    }
    return this;
  }

  /** Everything written so far (a writer used for attributes alone, to copy with raw()). */
  contents(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }

  /** Bytes of messages [from, to). */
  slice(from = 0, to = this.offsets.length): Buffer {
    return this.#buf.subarray(this.#startOf(from), this.#startOf(to));
  }

  /** The length in bytes of messages [from, to), as slice() would give it, without making the view. */
  bytesOf(from: number, to: number): number {
    return this.#startOf(to) - this.#startOf(from);
  }

  /** Where message i starts; past the last, where the next would. */
  #startOf(i: number): number {
    return i < this.offsets.length ? this.offsets[i]! : this.#len;
  }

  /** The sequence number written into message i. */
  seqOf(i: number): number {
    return this.#buf.readUInt32LE(this.offsets[i]! + 8);
  }

  /** Set or clear NLM_F_ACK on message i (without it the kernel answers the message only if it fails). */
  setAck(i: number, ack: boolean): void {
    const at = this.offsets[i]! + 6;
    const flags = this.#buf[at]! | (this.#buf[at + 1]! << 8);
    put16(this.#buf, at, ack ? flags | NLM_F_ACK : flags & ~NLM_F_ACK);
  }
}

/** One received netlink message; `payload` is what follows nlmsghdr. */
export interface Message {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/** Split a received datagram into its messages. */
export function parseMessages(datagram: Buffer): Message[] {
  const out: Message[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(at);
    if (len < NLMSG_HDRLEN || at + len > datagram.length) {
      throw new Error(`netlink: malformed message at offset ${at} (length ${len}, datagram ${datagram.length})`);
    }
    out.push({
      type: datagram.readUInt16LE(at + 4),
      flags: datagram.readUInt16LE(at + 6),
      seq: datagram.readUInt32LE(at + 8),
      pid: datagram.readUInt32LE(at + 12),
      payload: datagram.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += align4(len);
  }
  return out;
}

/** The errno (positive; 0 = acknowledgement) in an NLMSG_ERROR payload, and the seq it answers. */
export function parseError(payload: Buffer): { errno: number; requestSeq: number } {
  const err = payload.readInt32LE(0);
  const requestSeq = payload.length >= 4 + NLMSG_HDRLEN ? payload.readUInt32LE(4 + 8) : 0;
  return { errno: err === 0 ? 0 : -err, requestSeq }; // 0, not -0, for an ack
}

/**
 * Attributes by type: attrs[type] is the payload of the last attribute of that type. The nested
 * flag and byte-order flag are masked off the type.
 */
export type Attrs = (Buffer | undefined)[];

export function parseAttrs(buf: Buffer, offset = 0, end = buf.length): Attrs {
  const attrs: Attrs = [];
  let at = offset;
  while (at + NLA_HDRLEN <= end) {
    const len = buf.readUInt16LE(at);
    if (len < NLA_HDRLEN || at + len > end) break; // a truncated trailing attribute is ignored
    const type = buf.readUInt16LE(at + 2) & NLA_TYPE_MASK;
    attrs[type] = buf.subarray(at + NLA_HDRLEN, at + len);
    at += align4(len);
  }
  return attrs;
}

/**
 * Call `visit(type, offset, length)` for each attribute in buf[start, end) without allocating: the
 * hot path for decoding large dumps, where a Buffer view per attribute costs more than the rest.
 */
export function forEachAttr(buf: Buffer, start: number, end: number, visit: (type: number, offset: number, length: number) => void): void {
  let at = start;
  while (at + NLA_HDRLEN <= end) {
    const len = buf.readUInt16LE(at);
    if (len < NLA_HDRLEN || at + len > end) break;
    visit(buf.readUInt16LE(at + 2) & NLA_TYPE_MASK, at + NLA_HDRLEN, len - NLA_HDRLEN);
    at += align4(len);
  }
}

/**
 * The payload of the last attribute of `type` in buf[start, end) as one view, as parseAttrs(...)[type]
 * gives it, without the views of the others (a dump of 10,000 services wants one nest per message).
 */
export function attrOf(buf: Buffer, start: number, end: number, type: number): Buffer | undefined {
  let found = -1;
  let at = start;
  while (at + NLA_HDRLEN <= end) {
    const len = buf.readUInt16LE(at);
    if (len < NLA_HDRLEN || at + len > end) break;
    if ((buf.readUInt16LE(at + 2) & NLA_TYPE_MASK) === type) found = at;
    at += align4(len);
  }
  return found < 0 ? undefined : buf.subarray(found + NLA_HDRLEN, found + buf.readUInt16LE(found));
}

/** Every attribute in order, for lists of repeated attributes. */
export function parseAttrList(buf: Buffer): { type: number; value: Buffer }[] {
  const out: { type: number; value: Buffer }[] = [];
  let at = 0;
  while (at + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(at);
    if (len < NLA_HDRLEN || at + len > buf.length) break;
    out.push({ type: buf.readUInt16LE(at + 2) & NLA_TYPE_MASK, value: buf.subarray(at + NLA_HDRLEN, at + len) });
    at += align4(len);
  }
  return out;
}

export const attr = {
  u8: (a: Buffer | undefined, dflt = 0) => (a && a.length >= 1 ? a.readUInt8(0) : dflt),
  u16: (a: Buffer | undefined, dflt = 0) => (a && a.length >= 2 ? a.readUInt16LE(0) : dflt),
  be16: (a: Buffer | undefined, dflt = 0) => (a && a.length >= 2 ? a.readUInt16BE(0) : dflt),
  u32: (a: Buffer | undefined, dflt = 0) => (a && a.length >= 4 ? a.readUInt32LE(0) : dflt),
  be32: (a: Buffer | undefined, dflt = 0) => (a && a.length >= 4 ? a.readUInt32BE(0) : dflt),
  u64: (a: Buffer | undefined, dflt = 0n) => (a && a.length >= 8 ? a.readBigUInt64LE(0) : dflt),
  string: (a: Buffer | undefined, dflt = '') => {
    if (!a) return dflt;
    const nul = a.indexOf(0);
    return a.toString('utf8', 0, nul < 0 ? a.length : nul);
  },
};
