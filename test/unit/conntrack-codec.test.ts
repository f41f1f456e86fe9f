// ctnetlink encoding and decoding without a kernel: flow messages built by hand from the UAPI layout
// (linux/netfilter/nfnetlink_conntrack.h), numbers written out here rather than taken from the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageWriter, parseMessages, parseAttrs, parseAttrList } from '../../src/netlink/message.js';
import { FlowReader, decodeFlow, putDelete, putDumpRequest } from '../../src/conntrack/codec.js';

/** One netlink attribute: little-endian header, payload, padding to 4. */
function nla(type: number, payload: Buffer, nested = false): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type | (nested ? 0x8000 : 0), 2);
  payload.copy(out, 4);
  return out;
}
const nest = (type: number, ...children: Buffer[]) => nla(type, Buffer.concat(children), true);
const be16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
const be32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };
const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));

// enum ctattr_type / ctattr_tuple / ctattr_ip / ctattr_l4proto values.
const CTA_TUPLE_ORIG = 1, CTA_TUPLE_REPLY = 2, CTA_STATUS = 3, CTA_TIMEOUT = 7, CTA_MARK = 8, CTA_ID = 12, CTA_ZONE = 18;
const CTA_TUPLE_IP = 1, CTA_TUPLE_PROTO = 2;
const CTA_IP_V4_SRC = 1, CTA_IP_V4_DST = 2, CTA_IP_V6_SRC = 3, CTA_IP_V6_DST = 4;
const CTA_PROTO_NUM = 1, CTA_PROTO_SRC_PORT = 2, CTA_PROTO_DST_PORT = 3;

function tuple(type: number, v6: boolean, src: Buffer, dst: Buffer, proto: number, sport: number, dport: number): Buffer {
  return nest(type,
    nest(CTA_TUPLE_IP, nla(v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, src), nla(v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, dst)),
    nest(CTA_TUPLE_PROTO, nla(CTA_PROTO_NUM, Buffer.of(proto)), nla(CTA_PROTO_SRC_PORT, be16(sport)), nla(CTA_PROTO_DST_PORT, be16(dport))));
}

/** A flow message's payload as a dump sends it: nfgenmsg then attributes, in the kernel's order. */
function flowPayload(o: { af: number; extra?: Buffer[]; orig: Buffer; reply: Buffer }): Buffer {
  return Buffer.concat([Buffer.of(o.af, 0, 0, 0), o.orig, o.reply, nla(CTA_STATUS, be32(0x188)), nla(CTA_TIMEOUT, be32(29)), nla(CTA_MARK, be32(0)), ...(o.extra ?? [])]);
}

test('a UDP flow a dump sends (DNATed to an endpoint) decodes to its tuples, zone and id', () => {
  const payload = flowPayload({
    af: 2,
    orig: tuple(CTA_TUPLE_ORIG, false, ip4('10.0.0.9'), ip4('10.96.0.10'), 17, 40000, 53),
    reply: tuple(CTA_TUPLE_REPLY, false, ip4('10.244.1.5'), ip4('10.0.0.9'), 17, 5353, 40000),
    extra: [nla(CTA_ID, be32(0xdeadbeef)), nla(CTA_ZONE, be16(7))],
  });
  assert.deepEqual(decodeFlow(payload), {
    family: 'inet', protocol: 17, zone: 7, id: 0xdeadbeef,
    original: { src: '10.0.0.9', dst: '10.96.0.10', srcPort: 40000, dstPort: 53 },
    reply: { src: '10.244.1.5', dst: '10.0.0.9', srcPort: 5353, dstPort: 40000 },
  });
});

test('an IPv6 flow decodes; the reader is reused from one message to the next', () => {
  const a = Buffer.alloc(16); a[0] = 0xfd; a[15] = 1;
  const b = Buffer.alloc(16); b[0] = 0xfd; b[1] = 0x96; b[15] = 0x0a;
  const c = Buffer.alloc(16); c[0] = 0xfd; c[1] = 0x44; c[15] = 5;
  const r = new FlowReader();
  assert.equal(r.reset(flowPayload({ af: 10, orig: tuple(1, true, a, b, 17, 1000, 53), reply: tuple(2, true, c, a, 17, 53, 1000) })), true);
  assert.deepEqual([r.family, r.origSrc(), r.origDst(), r.origDstPort, r.replySrc(), r.id, r.zone], ['inet6', 'fd00::1', 'fd96::a', 53, 'fd44::5', undefined, 0]);
  assert.equal(r.reset(flowPayload({ af: 2, orig: tuple(1, false, ip4('1.2.3.4'), ip4('5.6.7.8'), 6, 1, 2), reply: tuple(2, false, ip4('5.6.7.8'), ip4('1.2.3.4'), 6, 2, 1) })), true);
  assert.deepEqual([r.family, r.protocol, r.origDst(), r.replySrc(), r.origDstPort], ['inet', 6, '5.6.7.8', '5.6.7.8', 2]);
  // Not a flow of IPv4 or IPv6 (AF_BRIDGE), and a truncated message.
  assert.equal(r.reset(flowPayload({ af: 7, orig: tuple(1, false, ip4('1.2.3.4'), ip4('5.6.7.8'), 17, 1, 2), reply: Buffer.alloc(0) })), false);
  assert.equal(r.reset(Buffer.of(2, 0)), false);
});

test('a dump request asks for one family, and the kernel filters by protocol when asked', () => {
  const [m] = parseMessages(putDumpRequest(new MessageWriter(), 42, 'inet6', 17).slice());
  assert.equal(m!.type, (1 << 8) | 1); // NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET
  assert.equal(m!.flags, 0x1 | 0x300); // NLM_F_REQUEST | NLM_F_DUMP
  assert.equal(m!.seq, 42);
  assert.deepEqual([...m!.payload.subarray(0, 4)], [10, 0, 0, 0]); // AF_INET6, NFNETLINK_V0, res_id 0
  const attrs = parseAttrs(m!.payload, 4);
  const proto = parseAttrs(parseAttrs(attrs[CTA_TUPLE_ORIG]!)[CTA_TUPLE_PROTO]!);
  assert.equal(proto[CTA_PROTO_NUM]![0], 17);
  const filter = parseAttrs(attrs[28]!); // CTA_FILTER
  assert.equal(filter[1]!.readUInt32LE(0), 1 << 3); // CTA_FILTER_ORIG_FLAGS: CTA_FILTER_FLAG(CTA_PROTO_NUM)
  assert.equal(filter[2]!.readUInt32LE(0), 0);
  const [plain] = parseMessages(putDumpRequest(new MessageWriter(), 43, 'inet').slice());
  assert.equal(plain!.payload.length, 4, 'no attributes without a protocol');
  assert.equal(plain!.payload[0], 2);
});

test('a delete names the flow by its original tuple, zone and id, many to a batch', () => {
  const w = new MessageWriter();
  putDelete(w, 7, { family: 'inet', protocol: 17, zone: 0, id: 99, original: { src: '10.0.0.9', dst: '10.96.0.10', srcPort: 40000, dstPort: 53 }, reply: { src: '10.244.1.5', dst: '10.0.0.9', srcPort: 53, dstPort: 40000 } });
  putDelete(w, 8, { family: 'inet6', protocol: 17, zone: 3, original: { src: 'fd00::1', dst: 'fd96::a', srcPort: 1, dstPort: 53 }, reply: { src: 'fd44::5', dst: 'fd00::1', srcPort: 53, dstPort: 1 } });
  const [a, b] = parseMessages(w.slice());
  assert.equal(a!.type, (1 << 8) | 2); // IPCTNL_MSG_CT_DELETE
  assert.equal(a!.flags, 0x1 | 0x4); // NLM_F_REQUEST | NLM_F_ACK
  assert.equal(a!.payload[0], 2);
  const top = parseAttrs(a!.payload, 4);
  assert.equal(top[CTA_TUPLE_REPLY], undefined, 'the original tuple alone finds the flow');
  assert.equal(top[CTA_ID]!.readUInt32BE(0), 99);
  assert.equal(top[CTA_ZONE], undefined, 'zone 0 is the default');
  const t = parseAttrs(top[CTA_TUPLE_ORIG]!);
  const ip = parseAttrs(t[CTA_TUPLE_IP]!);
  assert.deepEqual([...ip[CTA_IP_V4_SRC]!], [10, 0, 0, 9]);
  assert.deepEqual([...ip[CTA_IP_V4_DST]!], [10, 96, 0, 10]);
  const p = parseAttrList(t[CTA_TUPLE_PROTO]!);
  assert.deepEqual(p.map((x) => [x.type, x.value.length === 1 ? x.value[0] : x.value.readUInt16BE(0)]), [[CTA_PROTO_NUM, 17], [CTA_PROTO_SRC_PORT, 40000], [CTA_PROTO_DST_PORT, 53]]);
  assert.equal(b!.seq, 8);
  assert.equal(b!.payload[0], 10);
  const top6 = parseAttrs(b!.payload, 4);
  assert.equal(top6[CTA_ZONE]!.readUInt16BE(0), 3);
  assert.equal(top6[CTA_ID], undefined);
  const ip6 = parseAttrs(parseAttrs(top6[CTA_TUPLE_ORIG]!)[CTA_TUPLE_IP]!);
  assert.equal(ip6[CTA_IP_V6_DST]!.length, 16);
  assert.equal(ip6[CTA_IP_V6_DST]![15], 0x0a);
  // A decoded flow deletes what it was decoded from: round trip through the decoder.
  const again = decodeFlow(Buffer.concat([a!.payload, tuple(CTA_TUPLE_REPLY, false, ip4('10.244.1.5'), ip4('10.0.0.9'), 17, 53, 40000)]));
  assert.deepEqual(again?.original, { src: '10.0.0.9', dst: '10.96.0.10', srcPort: 40000, dstPort: 53 });
});

test('a delete with an address of the wrong family is refused before anything is sent', () => {
  assert.throws(() => putDelete(new MessageWriter(), 1, { family: 'inet', protocol: 17, zone: 0, original: { src: 'fd00::1', dst: '10.0.0.1', srcPort: 1, dstPort: 2 }, reply: { src: '', dst: '', srcPort: 0, dstPort: 0 } }),
    /conntrack flow: source "fd00::1" is not an IPv4 address/);
});
