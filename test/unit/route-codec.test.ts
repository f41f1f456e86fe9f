// rtnetlink's encoding for kipvs' local routes against the layout of linux/rtnetlink.h (struct rtmsg,
// RTA_*), written out by hand with the header's numbers; and the decoder keeping only kipvs' routes in
// the local table out of a dump of every route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageWriter } from '../../src/netlink/message.js';
import { parseAddress } from '../../src/netlink/address.js';
import { putLocalRoute, decodeKipvsRoute } from '../../src/link/route-codec.js';
import { nla } from './helpers.js';

const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
function nlmsghdr(len: number, type: number, flags: number, seq: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(len, 0); h.writeUInt16LE(type, 4); h.writeUInt16LE(flags, 6); h.writeUInt32LE(seq, 8);
  return h;
}
/** struct rtmsg { u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags }. */
const rtmsg = (family: number, dstLen: number, table: number, protocol: number, scope: number, type: number) =>
  Buffer.concat([Buffer.from([family, dstLen, 0, 0, table, protocol, scope, type]), u32(0)]);
const RTM_NEWROUTE = 24, RTM_DELROUTE = 25;
const RTA_DST = 1, RTA_OIF = 4, RTA_TABLE = 15;
const RT_TABLE_LOCAL = 255, RTN_LOCAL = 2, RTN_UNICAST = 1, RT_SCOPE_HOST = 254, RTPROT_KERNEL = 2;

test('an IPv4 local route: RTM_NEWROUTE, rtmsg /32 table local protocol 107 scope host type local, RTA_DST, RTA_OIF', () => {
  const w = new MessageWriter();
  putLocalRoute(w, RTM_NEWROUTE, 0x1 | 0x4 | 0x400, 7, 1, parseAddress('10.96.0.10')!);
  const body = Buffer.concat([rtmsg(2, 32, RT_TABLE_LOCAL, 107, RT_SCOPE_HOST, RTN_LOCAL), nla(RTA_DST, [10, 96, 0, 10]), nla(RTA_OIF, u32(1))]);
  assert.deepEqual(w.slice(), Buffer.concat([nlmsghdr(16 + body.length, RTM_NEWROUTE, 0x405, 7), body]));
});

test('an IPv6 local route: /128, family AF_INET6', () => {
  const w = new MessageWriter();
  putLocalRoute(w, RTM_DELROUTE, 0x5, 8, 1, parseAddress('fd00::a')!);
  const a = Buffer.from('fd00000000000000000000000000000a', 'hex');
  const body = Buffer.concat([rtmsg(10, 128, RT_TABLE_LOCAL, 107, RT_SCOPE_HOST, RTN_LOCAL), nla(RTA_DST, a), nla(RTA_OIF, u32(1))]);
  assert.deepEqual(w.slice(), Buffer.concat([nlmsghdr(16 + body.length, RTM_DELROUTE, 0x5, 8), body]));
});

test("decodeKipvsRoute keeps kipvs' local routes in the local table and nothing else", () => {
  const reply = (family: number, dstLen: number, table: number, protocol: number, type: number, dst: number[] | Buffer, extra: Buffer[] = []) =>
    Buffer.concat([rtmsg(family, dstLen, table, protocol, RT_SCOPE_HOST, type), nla(RTA_TABLE, u32(table)), nla(RTA_DST, dst), nla(RTA_OIF, u32(1)), ...extra]);
  assert.deepEqual(decodeKipvsRoute(reply(2, 32, RT_TABLE_LOCAL, 107, RTN_LOCAL, [10, 96, 0, 10])), { family: 'inet', destination: '10.96.0.10', prefixLength: 32, outputIndex: 1 });
  assert.deepEqual(decodeKipvsRoute(reply(10, 128, RT_TABLE_LOCAL, 107, RTN_LOCAL, Buffer.from('fd00000000000000000000000000000a', 'hex'))),
    { family: 'inet6', destination: 'fd00::a', prefixLength: 128, outputIndex: 1 });
  // The kernel's own local route for an address; a unicast route of protocol 107; one in the main table.
  assert.equal(decodeKipvsRoute(reply(2, 32, RT_TABLE_LOCAL, RTPROT_KERNEL, RTN_LOCAL, [10, 96, 0, 10])), null);
  assert.equal(decodeKipvsRoute(reply(2, 32, RT_TABLE_LOCAL, 107, RTN_UNICAST, [10, 96, 0, 10])), null);
  assert.equal(decodeKipvsRoute(reply(2, 32, 254, 107, RTN_LOCAL, [10, 96, 0, 10])), null);
  // A table above 255: rtm_table says RT_TABLE_COMPAT (252), RTA_TABLE the table.
  const high = Buffer.concat([rtmsg(2, 32, 252, 107, RT_SCOPE_HOST, RTN_LOCAL), nla(RTA_TABLE, u32(1000)), nla(RTA_DST, [10, 96, 0, 10])]);
  assert.equal(decodeKipvsRoute(high), null);
  // Another family (RTNL_FAMILY_IPMR), or no destination.
  assert.equal(decodeKipvsRoute(reply(128, 32, RT_TABLE_LOCAL, 107, RTN_LOCAL, [10, 96, 0, 10])), null);
  assert.equal(decodeKipvsRoute(Buffer.concat([rtmsg(2, 32, RT_TABLE_LOCAL, 107, RT_SCOPE_HOST, RTN_LOCAL)])), null);
});
