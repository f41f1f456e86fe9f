import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nla } from './helpers.js';
import {
  MessageWriter, parseMessages, parseAttrs, parseAttrList, parseError, attr, attrOf, NLM_F_REQUEST, NLM_F_ACK, NLA_F_NESTED,
} from '../../src/netlink/message.js';

test('a message has the kernel layout: nlmsghdr, genlmsghdr, aligned attributes', () => {
  const w = new MessageWriter(8);
  w.begin(0x1c, NLM_F_REQUEST | NLM_F_ACK, 7, 99).genl(1, 1).u16(1, 2).string(6, 'rr').end();
  const b = w.slice();
  // 16 header + 4 genl + (4+2 -> 8) + (4+3 -> 8) = 36
  assert.equal(b.length, 36);
  assert.equal(b.readUInt32LE(0), 36);
  assert.equal(b.readUInt16LE(4), 0x1c);
  assert.equal(b.readUInt16LE(6), NLM_F_REQUEST | NLM_F_ACK);
  assert.equal(b.readUInt32LE(8), 7);
  assert.equal(b.readUInt32LE(12), 99);
  assert.deepEqual([...b.subarray(16, 20)], [1, 1, 0, 0]);
  assert.deepEqual([...b.subarray(20, 28)], [6, 0, 1, 0, 2, 0, 0, 0]);
  assert.deepEqual([...b.subarray(28, 36)], [7, 0, 6, 0, 0x72, 0x72, 0, 0]);
});

test('nested attributes carry NLA_F_NESTED and their full length', () => {
  const w = new MessageWriter();
  w.begin(16, 0, 1).beginNested(1).u32(2, 0xdeadbeef).be16(4, 8080).endNested().end();
  const b = w.slice();
  const nestLen = b.readUInt16LE(16);
  assert.equal(nestLen, 4 + 8 + 8);
  assert.equal(b.readUInt16LE(18), 1 | NLA_F_NESTED);
  const outer = parseAttrs(b, 16);
  const inner = parseAttrs(outer[1]!);
  assert.equal(attr.u32(inner[2]), 0xdeadbeef);
  assert.equal(attr.be16(inner[4]), 8080);
  assert.deepEqual([...inner[4]!], [0x1f, 0x90]);
});

test('many messages in one buffer split back into the same messages', () => {
  const w = new MessageWriter(16);
  for (let i = 0; i < 100; i++) w.begin(20 + (i % 3), NLM_F_REQUEST, 1000 + i).genl(i % 7, 1).u32(1, i).end();
  assert.equal(w.messageCount, 100);
  const msgs = parseMessages(w.slice());
  assert.equal(msgs.length, 100);
  msgs.forEach((m, i) => {
    assert.equal(m.seq, 1000 + i);
    assert.equal(w.seqOf(i), 1000 + i);
    assert.equal(m.type, 20 + (i % 3));
    assert.equal(attr.u32(parseAttrs(m.payload, 4)[1]), i);
  });
  assert.equal(parseMessages(w.slice(10, 20)).length, 10);
});

test('abort() drops a half-built message and keeps the ones before it', () => {
  const w = new MessageWriter();
  w.begin(16, 0, 1).u8(1, 1).end();
  w.begin(16, 0, 2).beginNested(1).u8(1, 1);
  w.abort();
  w.begin(16, 0, 3).end();
  assert.deepEqual(parseMessages(w.slice()).map((m) => m.seq), [1, 3]);
});

test('an error message gives the errno and the seq of the request it answers', () => {
  const b = Buffer.alloc(16 + 4 + 16);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(2, 4);
  b.writeInt32LE(-17, 16);
  b.writeUInt32LE(36, 20);
  b.writeUInt32LE(4242, 28);
  const [m] = parseMessages(b);
  assert.deepEqual(parseError(m!.payload), { errno: 17, requestSeq: 4242 });
});

test('a message whose length runs past the datagram is rejected, not misread', () => {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(64, 0);
  assert.throws(() => parseMessages(b), /malformed message/);
});

test('attribute lists keep repeats and order; truncated tails are ignored', () => {
  const w = new MessageWriter();
  w.begin(1, 0, 1).u8(3, 1).u8(3, 2).u16(4, 3).end();
  const payload = parseMessages(w.slice())[0]!.payload;
  assert.deepEqual(parseAttrList(payload).map((a) => [a.type, a.value[0]]), [[3, 1], [3, 2], [4, 3]]);
  const cut = payload.subarray(0, payload.length - 4);
  assert.equal(parseAttrList(cut).length, 2);
  assert.equal(attr.string(Buffer.from('rr\0\0')), 'rr');
  assert.equal(attr.u64(undefined, 5n), 5n);
});

test('attributes written across a buffer growth land in the grown buffer', () => {
  const w = new MessageWriter(20);
  w.begin(1, 0, 1);
  for (let i = 0; i < 200; i++) w.be16(1, i).u32(2, i).be32(3, i).u8(4, i & 255).u64(5, BigInt(i)).bytes(6, Uint8Array.of(i & 255));
  w.end();
  const list = parseAttrList(parseMessages(w.slice())[0]!.payload);
  assert.equal(list.length, 1200);
  assert.equal(list[1194]!.value.readUInt16BE(0), 199);
  assert.equal(list[1195]!.value.readUInt32LE(0), 199);
  assert.equal(list[1196]!.value.readUInt32BE(0), 199);
  assert.equal(list[1198]!.value.readBigUInt64LE(0), 199n);
});

test('attrOf gives what parseAttrs gives for one type: the last of it, a truncated tail ignored', () => {
  fc.assert(fc.property(
    fc.array(fc.record({ type: fc.integer({ min: 1, max: 6 }), value: fc.uint8Array({ maxLength: 9 }) }), { maxLength: 8 }),
    fc.nat(12), fc.integer({ min: 1, max: 6 }),
    (list, cut, type) => {
      const head = Buffer.from([9, 9, 9, 9]);
      const whole = Buffer.concat([head, ...list.map((a) => nla(a.type, Buffer.from(a.value)))]);
      // Cut into the last attribute sometimes: a truncated trailing attribute is ignored by both.
      const buf = whole.subarray(0, Math.max(4, whole.length - cut));
      const want = parseAttrs(buf, 4)[type];
      const got = attrOf(buf, 4, buf.length, type);
      assert.deepEqual(got && [...got], want && [...want]);
    }), { numRuns: 1000 });
});

test('integers land in host order, ports and netmasks in network order, as the kernel reads them', () => {
  const w = new MessageWriter(16);
  w.begin(0x1234, NLM_F_REQUEST, 0xdeadbeef, 7).u8(1, 0xab).u16(2, 0xbeef).be16(3, 8080).u32(4, 0x01020304).be32(5, 0xffffff00)
    .u32(6, -1).u32Pair(7, 5, 0xffffffff).string(8, 'rr').string(9, 'zoné').end();
  const [m] = parseMessages(w.contents());
  assert.equal(m!.type, 0x1234);
  assert.equal(m!.seq, 0xdeadbeef);
  assert.equal(m!.pid, 7);
  const a = parseAttrs(m!.payload);
  assert.deepEqual([...a[1]!], [0xab]);
  assert.deepEqual([...a[2]!], [0xef, 0xbe]);
  assert.deepEqual([...a[3]!], [0x1f, 0x90]);
  assert.deepEqual([...a[4]!], [4, 3, 2, 1]);
  assert.deepEqual([...a[5]!], [0xff, 0xff, 0xff, 0x00]);
  assert.deepEqual([...a[6]!], [0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual([...a[7]!], [5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual([...a[8]!], [0x72, 0x72, 0]);
  assert.equal(attr.string(a[9]), 'zoné');
  assert.equal(a[9]!.length, 6); // UTF-8: é is two bytes, then the NUL
});

test('a value too wide for its attribute is refused with the attribute named, not written truncated', () => {
  const w = new MessageWriter();
  w.begin(16, NLM_F_REQUEST, 1);
  assert.throws(() => w.u16(6, 70000), /attribute 6: 70000 is not a 16-bit unsigned integer/);
  assert.throws(() => w.be16(2, -1), /attribute 2: -1 is not a 16-bit/);
  assert.throws(() => w.u8(3, 256), /attribute 3: 256 is not an 8-bit/);
  assert.throws(() => w.u16(4, 1.5), /1.5 is not a 16-bit/);
});

test('a header field or an attribute too long is refused by name, and the writer keeps what came before', () => {
  const w = new MessageWriter();
  assert.throws(() => w.begin(70000, NLM_F_REQUEST, 1), /message type: 70000 is not a 16-bit/);
  assert.equal(w.length, 0);
  w.begin(16, NLM_F_REQUEST, 1);
  const before = w.length;
  assert.throws(() => w.genl(256, 1), /generic netlink command: 256 is not an 8-bit/);
  assert.equal(w.length, before);
  assert.throws(() => w.bytes(3, new Uint8Array(65532)), /attribute 3: 65532 bytes do not fit one attribute/);
  assert.equal(w.length, before);
});
