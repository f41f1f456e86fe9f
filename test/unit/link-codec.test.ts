// rtnetlink's encoding for links and addresses against the layouts of linux/rtnetlink.h (struct
// ifinfomsg, struct ifaddrmsg), if_link.h and if_addr.h, written out by hand with the headers' numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageWriter } from '../../src/netlink/message.js';
import { parseAddress } from '../../src/netlink/address.js';
import { putHostAddress, decodeLink, decodeAddress, ifinfomsg } from '../../src/link/codec.js';
import { nla } from './helpers.js';

const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
function nlmsghdr(len: number, type: number, flags: number, seq: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(len, 0); h.writeUInt16LE(type, 4); h.writeUInt16LE(flags, 6); h.writeUInt32LE(seq, 8);
  return h;
}
/** struct ifaddrmsg { u8 family, prefixlen, flags, scope; u32 index }. */
const ifaddrmsg = (family: number, prefixLen: number, flags: number, scope: number, index: number) =>
  Buffer.concat([Buffer.from([family, prefixLen, flags, scope]), u32(index)]);
/** struct ifinfomsg { u8 family, pad; u16 type; s32 index; u32 flags, change }. */
function ifinfo(index: number, flags: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(1, 2); // ARPHRD_ETHER
  b.writeInt32LE(index, 4); b.writeUInt32LE(flags, 8); b.writeUInt32LE(0xffffffff, 12);
  return b;
}
const RTM_NEWADDR = 20, RTM_DELADDR = 21;
const IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_FLAGS = 8, IFLA_IFNAME = 3, IFLA_LINKINFO = 18, IFLA_INFO_KIND = 1;
const REQUEST_ACK_CREATE_EXCL = 0x1 | 0x4 | 0x400 | 0x200;

test('an IPv4 host address: RTM_NEWADDR, ifaddrmsg /32 scope universe, IFA_LOCAL and IFA_ADDRESS', () => {
  const w = new MessageWriter();
  putHostAddress(w, RTM_NEWADDR, REQUEST_ACK_CREATE_EXCL, 3, 5, parseAddress('10.96.0.1')!);
  const body = Buffer.concat([ifaddrmsg(2, 32, 0, 0, 5), nla(IFA_LOCAL, [10, 96, 0, 1]), nla(IFA_ADDRESS, [10, 96, 0, 1])]);
  assert.deepEqual(w.slice(), Buffer.concat([nlmsghdr(16 + body.length, RTM_NEWADDR, REQUEST_ACK_CREATE_EXCL, 3), body]));
});

test('an IPv6 host address: /128, IFA_F_NODAD in the header, IFA_FLAGS NODAD|PERMANENT', () => {
  const w = new MessageWriter();
  putHostAddress(w, RTM_DELADDR, 0x5, 4, 9, parseAddress('fd00::a')!);
  const a = Buffer.from('fd00000000000000000000000000000a', 'hex');
  const body = Buffer.concat([ifaddrmsg(10, 128, 0x02, 0, 9), nla(IFA_LOCAL, a), nla(IFA_ADDRESS, a), nla(IFA_FLAGS, u32(0x02 | 0x80))]);
  assert.deepEqual(w.slice(), Buffer.concat([nlmsghdr(16 + body.length, RTM_DELADDR, 0x5, 4), body]));
});

test('ifinfomsg puts the family and index where the kernel reads them', () => {
  const b = Buffer.from(ifinfomsg(0, 7));
  assert.equal(b.length, 16);
  assert.deepEqual([b.readUInt8(0), b.readInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)], [0, 7, 0, 0]);
});

test('a link reply: index and flags from ifinfomsg, name, kind from the nested IFLA_LINKINFO', () => {
  const payload = Buffer.concat([
    ifinfo(7, 0x80 | 0x2), // IFF_NOARP | IFF_BROADCAST, not IFF_UP
    nla(4, u32(1500)), // IFLA_MTU: ignored
    nla(IFLA_IFNAME, Buffer.from('kube-ipvs0\0')),
    nla(IFLA_LINKINFO | 0x8000, nla(IFLA_INFO_KIND, Buffer.from('dummy\0'))),
  ]);
  assert.deepEqual(decodeLink(payload), { index: 7, flags: 0x82, name: 'kube-ipvs0', kind: 'dummy' });
  assert.deepEqual(decodeLink(Buffer.concat([ifinfo(1, 0x49), nla(IFLA_IFNAME, Buffer.from('lo\0'))])), { index: 1, flags: 0x49, name: 'lo', kind: undefined });
});

test('an address reply: IFA_LOCAL is the address (IFA_ADDRESS is the peer on point-to-point links)', () => {
  const p2p = Buffer.concat([ifaddrmsg(2, 32, 0x80, 0, 3), nla(IFA_ADDRESS, [192, 0, 2, 1]), nla(IFA_LOCAL, [192, 0, 2, 9])]);
  assert.deepEqual(decodeAddress(p2p), { family: 'inet', address: '192.0.2.9', prefixLength: 32, scope: 0, linkIndex: 3 });
  const v6 = Buffer.concat([ifaddrmsg(10, 64, 0, 253, 2), nla(IFA_ADDRESS, Buffer.from('fe800000000000000000000000000001', 'hex'))]);
  assert.deepEqual(decodeAddress(v6), { family: 'inet6', address: 'fe80::1', prefixLength: 64, scope: 253, linkIndex: 2 });
  assert.equal(decodeAddress(Buffer.concat([ifaddrmsg(17, 0, 0, 0, 2), nla(IFA_ADDRESS, [1, 2, 3, 4, 5, 6])])), null, 'AF_PACKET');
  assert.equal(decodeAddress(ifaddrmsg(2, 32, 0, 0, 2)), null, 'no address attribute');
});
