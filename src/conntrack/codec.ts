// Encoding of ctnetlink requests (dump flows of a family, delete a flow by its original tuple) and
// decoding of the flows a dump returns. Pure: no sockets. A dump may hold hundreds of thousands of
// flows, so FlowReader walks one message in place, keeping offsets and formatting an address only when
// asked; the delete of a flow is written straight from the dump's bytes.
import { MessageWriter, NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLA_HDRLEN } from '../netlink/message.js';
import { formatAddress, parseAddress, type Family } from '../netlink/address.js';
import {
  NFNL_SUBSYS_CTNETLINK, NFNETLINK_V0, AF_INET, AF_INET6, Msg, Cta, TupleAttr, IpAttr, ProtoAttr, FilterAttr, FILTER_F_PROTO_NUM,
} from './constants.js';
import type { ConntrackFlow, FlowTuple } from './types.js';

const NLA_TYPE_MASK = 0x3fff;
const NFGENMSG_LEN = 4;

export const afOf = (f: Family) => (f === 'inet6' ? AF_INET6 : AF_INET);
export const familyOfAf = (af: number): Family | undefined => (af === AF_INET ? 'inet' : af === AF_INET6 ? 'inet6' : undefined);

function nfgenmsg(w: MessageWriter, family: Family): MessageWriter {
  // struct nfgenmsg { nfgen_family, version, res_id (be16) }: the family selects the flows.
  return w.raw(Uint8Array.of(afOf(family), NFNETLINK_V0, 0, 0));
}

/**
 * IPCTNL_MSG_CT_GET with NLM_F_DUMP: every flow of `family`; with `protocol`, a CTA_FILTER asks the
 * kernel (5.8 and later) to send only flows of that IP protocol.
 */
export function putDumpRequest(w: MessageWriter, seq: number, family: Family, protocol?: number): MessageWriter {
  w.begin((NFNL_SUBSYS_CTNETLINK << 8) | Msg.GET, NLM_F_REQUEST | NLM_F_DUMP, seq);
  nfgenmsg(w, family);
  if (protocol !== undefined) {
    w.beginNested(Cta.TUPLE_ORIG).beginNested(TupleAttr.PROTO).u8(ProtoAttr.NUM, protocol).endNested().endNested();
    w.beginNested(Cta.FILTER).u32(FilterAttr.ORIG_FLAGS, FILTER_F_PROTO_NUM).u32(FilterAttr.REPLY_FLAGS, 0).endNested();
  }
  return w.end();
}

function addressBytes(text: string, family: Family, what: string): Uint8Array {
  const b = parseAddress(text);
  if (!b || b.length !== (family === 'inet' ? 4 : 16)) throw new Error(`conntrack flow: ${what} ${JSON.stringify(text)} is not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address`);
  return b;
}

function putTuple(w: MessageWriter, type: number, family: Family, protocol: number, t: FlowTuple): void {
  const v4 = family === 'inet';
  w.beginNested(type);
  w.beginNested(TupleAttr.IP);
  w.bytes(v4 ? IpAttr.V4_SRC : IpAttr.V6_SRC, addressBytes(t.src, family, 'source'));
  w.bytes(v4 ? IpAttr.V4_DST : IpAttr.V6_DST, addressBytes(t.dst, family, 'destination'));
  w.endNested();
  w.beginNested(TupleAttr.PROTO).u8(ProtoAttr.NUM, protocol).be16(ProtoAttr.SRC_PORT, t.srcPort).be16(ProtoAttr.DST_PORT, t.dstPort).endNested();
  w.endNested();
}

/** IPCTNL_MSG_CT_DELETE of one flow, found by its original tuple (and zone, and id when known). */
export function putDelete(w: MessageWriter, seq: number, flow: ConntrackFlow): MessageWriter {
  w.begin((NFNL_SUBSYS_CTNETLINK << 8) | Msg.DELETE, NLM_F_REQUEST | NLM_F_ACK, seq);
  nfgenmsg(w, flow.family);
  putTuple(w, Cta.TUPLE_ORIG, flow.family, flow.protocol, flow.original);
  if (flow.zone) w.be16(Cta.ZONE, flow.zone);
  // With the id, a flow that expired and was tracked again since the dump is left alone (ENOENT).
  if (flow.id !== undefined) w.be32(Cta.ID, flow.id);
  return w.end();
}

/**
 * Reads one flow message (nfgenmsg and attributes) in place. reset() points it at the next message;
 * the getters format only what they are asked for. The buffer is only valid during the dump callback:
 * copy out (toFlow, putDeleteOf) what must outlive it.
 */
export class FlowReader {
  buf: Buffer = Buffer.alloc(0);
  family: Family = 'inet';
  protocol = 0;
  origSrcPort = 0;
  origDstPort = 0;
  replySrcPort = 0;
  replyDstPort = 0;
  zone = 0;
  id: number | undefined;
  // Offsets of the address bytes (-1: absent); their length is 4 or 16 by family.
  #origSrc = -1;
  #origDst = -1;
  #replySrc = -1;
  #replyDst = -1;

  /** Point at one message's payload (after nlmsghdr). False when it is not a flow of IPv4 or IPv6. */
  reset(payload: Buffer): boolean {
    this.buf = payload;
    this.protocol = this.origSrcPort = this.origDstPort = this.replySrcPort = this.replyDstPort = this.zone = 0;
    this.id = undefined;
    this.#origSrc = this.#origDst = this.#replySrc = this.#replyDst = -1;
    if (payload.length < NFGENMSG_LEN) return false;
    const family = familyOfAf(payload[0]!);
    if (!family) return false;
    this.family = family;
    const end = payload.length;
    let at = NFGENMSG_LEN;
    while (at + NLA_HDRLEN <= end) {
      const len = payload.readUInt16LE(at);
      if (len < NLA_HDRLEN || at + len > end) break;
      const type = payload.readUInt16LE(at + 2) & NLA_TYPE_MASK;
      const v = at + NLA_HDRLEN;
      if (type === Cta.TUPLE_ORIG) this.#tuple(v, at + len, true);
      else if (type === Cta.TUPLE_REPLY) this.#tuple(v, at + len, false);
      else if (type === Cta.ZONE && len >= NLA_HDRLEN + 2) this.zone = payload.readUInt16BE(v);
      else if (type === Cta.ID && len >= NLA_HDRLEN + 4) this.id = payload.readUInt32BE(v);
      at += (len + 3) & ~3;
    }
    return this.#origSrc >= 0 && this.#origDst >= 0;
  }

  #tuple(start: number, end: number, orig: boolean): void {
    const b = this.buf;
    const alen = this.family === 'inet' ? 4 : 16;
    let at = start;
    while (at + NLA_HDRLEN <= end) {
      const len = b.readUInt16LE(at);
      if (len < NLA_HDRLEN || at + len > end) break;
      const type = b.readUInt16LE(at + 2) & NLA_TYPE_MASK;
      const inner = at + NLA_HDRLEN;
      const innerEnd = at + len;
      let i = inner;
      while (i + NLA_HDRLEN <= innerEnd) {
        const l = b.readUInt16LE(i);
        if (l < NLA_HDRLEN || i + l > innerEnd) break;
        const t = b.readUInt16LE(i + 2) & NLA_TYPE_MASK;
        const v = i + NLA_HDRLEN;
        const n = l - NLA_HDRLEN;
        if (type === TupleAttr.IP && n === alen) {
          if (t === IpAttr.V4_SRC || t === IpAttr.V6_SRC) orig ? (this.#origSrc = v) : (this.#replySrc = v);
          else if (t === IpAttr.V4_DST || t === IpAttr.V6_DST) orig ? (this.#origDst = v) : (this.#replyDst = v);
        } else if (type === TupleAttr.PROTO) {
          if (t === ProtoAttr.NUM && n >= 1 && orig) this.protocol = b[v]!;
          else if (t === ProtoAttr.SRC_PORT && n >= 2) orig ? (this.origSrcPort = b.readUInt16BE(v)) : (this.replySrcPort = b.readUInt16BE(v));
          else if (t === ProtoAttr.DST_PORT && n >= 2) orig ? (this.origDstPort = b.readUInt16BE(v)) : (this.replyDstPort = b.readUInt16BE(v));
        }
        i += (l + 3) & ~3;
      }
      at += (len + 3) & ~3;
    }
  }

  #addr(at: number): string {
    if (at < 0) return '';
    return formatAddress(this.buf.subarray(at, at + (this.family === 'inet' ? 4 : 16)), this.family);
  }

  origSrc(): string { return this.#addr(this.#origSrc); }
  origDst(): string { return this.#addr(this.#origDst); }
  replySrc(): string { return this.#addr(this.#replySrc); }
  replyDst(): string { return this.#addr(this.#replyDst); }

  /** The flow as plain data (copied out of the buffer). */
  toFlow(): ConntrackFlow {
    const flow: ConntrackFlow = {
      family: this.family,
      protocol: this.protocol,
      original: { src: this.origSrc(), dst: this.origDst(), srcPort: this.origSrcPort, dstPort: this.origDstPort },
      reply: { src: this.replySrc(), dst: this.replyDst(), srcPort: this.replySrcPort, dstPort: this.replyDstPort },
      zone: this.zone,
    };
    if (this.id !== undefined) flow.id = this.id;
    return flow;
  }
}

/** Decode one flow message (tests, small listings); undefined when it is not an IPv4/IPv6 flow. */
export function decodeFlow(payload: Buffer): ConntrackFlow | undefined {
  const r = new FlowReader();
  return r.reset(payload) ? r.toFlow() : undefined;
}
