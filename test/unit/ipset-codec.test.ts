// ipset entry text and message encoding, without a kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageWriter, NLA_F_NESTED, NLM_F_REQUEST, NLM_F_ACK, parseAttrList, parseAttrs } from '../../src/netlink/message.js';
import { parseEntry, putEntry, putEntries, putCreate, putSwap, beginIpset, formatMember, decodeSetMessage, validateSpec, MAX_ENTRY_BYTES } from '../../src/ipset/codec.js';
import { Attr, Cmd, DataAttr, NLA_F_NET_BYTEORDER as NBO } from '../../src/ipset/constants.js';
import type { SetType } from '../../src/ipset/types.js';

test('parseEntry returns the entry as ipset list prints it', () => {
  const cases: [SetType, 'inet' | 'inet6', string, string][] = [
    ['hash:ip', 'inet', '10.0.0.1', '10.0.0.1'],
    ['hash:ip', 'inet6', 'FD00:0:0:0:0:0:0:1', 'fd00::1'],
    ['hash:ip,port', 'inet', '10.0.0.1,TCP:80', '10.0.0.1,tcp:80'],
    ['hash:ip,port', 'inet', '10.0.0.1,sctp:3001', '10.0.0.1,sctp:3001'],
    // Canonical as given (kept as it is), and nearly so (made again).
    ['hash:ip,port', 'inet', '10.96.0.10,udp:53', '10.96.0.10,udp:53'],
    ['hash:ip,port', 'inet', '10.96.0.10,udp:053', '10.96.0.10,udp:53'],
    ['hash:ip,port', 'inet', '10.96.0.10,Udp:53', '10.96.0.10,udp:53'],
    ['hash:ip,port', 'inet', '10.96.0.10,tcp:65535', '10.96.0.10,tcp:65535'],
    ['hash:ip,port', 'inet6', 'fd00::1,udp:0', 'fd00::1,udp:0'],
    ['hash:ip,port,ip', 'inet', '10.0.0.1,udp:53,10.0.0.2', '10.0.0.1,udp:53,10.0.0.2'],
    ['hash:ip,port,net', 'inet', '10.0.0.1,tcp:80,10.0.0.0/8', '10.0.0.1,tcp:80,10.0.0.0/8'],
    ['hash:ip,port,net', 'inet', '10.0.0.1,tcp:80,10.0.0.2/32', '10.0.0.1,tcp:80,10.0.0.2'],
    ['hash:ip,port,net', 'inet6', 'fd00::1,tcp:80,fd00::/64', 'fd00::1,tcp:80,fd00::/64'],
    ['hash:ip,port,net', 'inet6', 'fd00::1,tcp:80,fd00::5/128', 'fd00::1,tcp:80,fd00::5'],
    ['bitmap:port', 'inet', '3001', '3001'],
  ];
  for (const [type, family, text, want] of cases) assert.equal(parseEntry(type, family, text).text, want, `${type} ${text}`);
});

test('parseEntry rejects bad entries, naming the entry and why', () => {
  const cases: [SetType, 'inet' | 'inet6', string, RegExp][] = [
    ['hash:ip', 'inet', 'fd00::1', /"fd00::1".*not an IPv4 address/],
    ['hash:ip', 'inet6', '10.0.0.1', /not an IPv6 address/],
    ['hash:ip', 'inet', '10.0.0.256', /not an IP address/],
    ['hash:ip', 'inet', '10.0.0.1/24', /not an IP address/],
    ['hash:ip', 'inet6', 'fe80::1%eth0', /not an IP address/],
    ['hash:ip,port', 'inet', '10.0.0.1', /expected IP,PROTO:PORT/],
    ['hash:ip,port', 'inet', '10.0.0.1,80', /protocol:port/],
    ['hash:ip,port', 'inet', '10.0.0.1,icmp:8', /"icmp" is not tcp, udp or sctp/],
    ['hash:ip,port', 'inet', '10.0.0.1,tcp:65536', /not a port number/],
    ['hash:ip,port', 'inet', '10.0.0.1,tcp:http', /not a port number/],
    ['hash:ip,port,ip', 'inet', '10.0.0.1,tcp:80,10.0.0.0/8', /not an IP address/],
    ['hash:ip,port,net', 'inet', '10.0.0.1,tcp:80,10.0.0.1/8', /host bits set/],
    ['hash:ip,port,net', 'inet', '10.0.0.1,tcp:80,10.0.0.0/0', /prefix length "0"/],
    ['hash:ip,port,net', 'inet', '10.0.0.1,tcp:80,10.0.0.0/33', /prefix length "33"/],
    ['bitmap:port', 'inet', 'tcp:80', /not a port number/],
    ['bitmap:port', 'inet', '1,2', /expected PORT/],
  ];
  for (const [type, family, text, why] of cases) {
    assert.throws(() => parseEntry(type, family, text), (err: Error) => {
      assert.ok(err.message.includes(JSON.stringify(text)), `names the entry: ${err.message}`);
      assert.match(err.message, why);
      return true;
    }, `${type} ${text}`);
  }
});

test('an add message has nfgenmsg, the protocol, the set name and network-order data', () => {
  const w = new MessageWriter();
  beginIpset(w, 9, 42, { protocol: 7 });
  w.string(Attr.SETNAME, 's');
  putEntry(w, parseEntry('hash:ip,port', 'inet', '10.0.0.1,tcp:80'));
  w.end();
  const b = w.slice();
  assert.equal(b.readUInt16LE(4), (6 << 8) | 9); // NFNL_SUBSYS_IPSET << 8 | IPSET_CMD_ADD
  assert.equal(b.readUInt16LE(6), NLM_F_REQUEST | NLM_F_ACK); // no NLM_F_EXCL: -exist
  assert.deepEqual([...b.subarray(16, 20)], [2, 0, 0, 0]);
  assert.deepEqual([...b.subarray(20, 28)], [5, 0, Attr.PROTOCOL, 0, 7, 0, 0, 0]);
  assert.deepEqual([...b.subarray(28, 36)], [6, 0, Attr.SETNAME, 0, 0x73, 0, 0, 0]);
  // DATA { IP { IPV4|NBO 10.0.0.1 }, PORT|NBO 80 (big-endian), PROTO 6 }
  assert.equal(b.readUInt16LE(38), Attr.DATA | NLA_F_NESTED);
  assert.equal(b.readUInt16LE(42), DataAttr.IP | NLA_F_NESTED);
  assert.equal(b.readUInt16LE(46), 1 | NBO);
  assert.deepEqual([...b.subarray(48, 52)], [10, 0, 0, 1]);
  assert.equal(b.readUInt16LE(54), DataAttr.PORT | NBO);
  assert.equal(b.readUInt16BE(56), 80);
  assert.equal(b.readUInt16LE(62), DataAttr.PROTO);
  assert.equal(b.readUInt8(64), 6);
  assert.equal(b.length, 68);
});

test('a packed add has the set name, a line number, and ADT with each entry numbered from 1', () => {
  const texts = ['10.0.0.1,tcp:80', '10.0.0.2,udp:53', '10.0.0.3,sctp:3001'];
  const w = new MessageWriter();
  beginIpset(w, 9, 7, { protocol: 7 });
  putEntries(w, 'packed', texts.map((t) => parseEntry('hash:ip,port', 'inet', t)));
  w.end();
  const b = w.slice();
  assert.equal(b.readUInt16LE(6), NLM_F_REQUEST | NLM_F_ACK); // no NLM_F_EXCL: -exist
  const top = parseAttrList(b.subarray(20));
  assert.deepEqual(top.map((a) => a.type), [Attr.PROTOCOL, Attr.SETNAME, Attr.LINENO, Attr.ADT]);
  // nlmsghdr 16, nfgenmsg 4, PROTOCOL 8, SETNAME "packed" and NUL 12, LINENO 8: then ADT, nested.
  assert.equal(b.readUInt16LE(48 + 2), Attr.ADT | NLA_F_NESTED);
  assert.equal(top[1]!.value.toString('utf8', 0, 6), 'packed');
  assert.equal(top[2]!.value.length, 4);
  const data = parseAttrList(top[3]!.value);
  assert.equal(data.length, 3);
  data.forEach((d, i) => {
    assert.equal(d.type, Attr.DATA);
    const attrs = parseAttrs(d.value);
    assert.equal(attrs[DataAttr.LINENO]!.readUInt32LE(0), i + 1, 'line numbers in host order, from 1');
    assert.equal(attrs[DataAttr.PORT]!.readUInt16BE(0), [80, 53, 3001][i]);
  });
  // Read back as a list reply's members: the same entries.
  const payload = b.subarray(16);
  const m = decodeSetMessage(payload);
  assert.deepEqual(m.members.map(([s, e]) => formatMember('hash:ip,port', payload, s, e)), texts);
});

test('MAX_ENTRY_BYTES bounds every entry putEntry writes', () => {
  for (const e of [
    parseEntry('hash:ip,port,net', 'inet6', 'fd00::1,tcp:80,fd00::/64'),
    parseEntry('hash:ip,port,ip', 'inet6', 'fd00::1,tcp:80,fd00::2'),
  ]) {
    const w = new MessageWriter();
    w.begin(1, 0, 1);
    const before = w.length;
    putEntry(w, e, 0xffffffff);
    assert.ok(w.length - before <= MAX_ENTRY_BYTES, `${e.text}: ${w.length - before}`);
    w.end();
  }
});

test('create sends type, revision, family and big-endian sizes or port range', () => {
  const w = new MessageWriter();
  beginIpset(w, 2, 1, { protocol: 7 });
  putCreate(w, { name: 'p', type: 'bitmap:port', family: 'inet', range: { from: 1000, to: 2000 } }, 3);
  w.end();
  const m = decodeSetMessage(w.slice().subarray(16));
  assert.deepEqual({ name: m.name, type: m.typeName, family: m.family, revision: m.revision, range: m.range }, {
    name: 'p', type: 'bitmap:port', family: 'inet', revision: 3, range: { from: 1000, to: 2000 },
  });
  const h = new MessageWriter();
  beginIpset(h, 2, 1, { protocol: 7 });
  putCreate(h, { name: 'h', type: 'hash:ip', family: 'inet6', hashSize: 4096, maxElem: 70000 }, 6);
  h.end();
  const n = decodeSetMessage(h.slice().subarray(16));
  assert.deepEqual({ family: n.family, hashSize: n.hashSize, maxElem: n.maxElem }, { family: 'inet6', hashSize: 4096, maxElem: 70000 });
});

test('validateSpec refuses what the kernel would, or would misread', () => {
  assert.throws(() => validateSpec({ name: '', type: 'hash:ip', family: 'inet' }), /empty/);
  assert.throws(() => validateSpec({ name: 'a'.repeat(32), type: 'hash:ip', family: 'inet' }), /at most 31 bytes/);
  assert.throws(() => validateSpec({ name: 'x', type: 'hash:net' as SetType, family: 'inet' }), /x: unsupported set type "hash:net"/);
  assert.throws(() => validateSpec({ name: 'x', type: 'bitmap:port', family: 'inet' }), /x: bitmap:port needs a port range/);
  assert.throws(() => validateSpec({ name: 'x', type: 'bitmap:port', family: 'inet', range: { from: 5, to: 4 } }), /invalid port range 5-4/);
  assert.throws(() => validateSpec({ name: 'x', type: 'hash:ip', family: 'inet', range: { from: 1, to: 4 } }), /for bitmap:port/);
  assert.throws(() => validateSpec({ name: 'x', type: 'hash:ip', family: 'inet', hashSize: 0 }), /hashSize 0/);
  validateSpec({ name: 'a'.repeat(31), type: 'hash:ip,port,net', family: 'inet6', maxElem: 1 << 20 });
});

test('a member encoded for add is listed back in the same text', () => {
  const cases: [SetType, 'inet' | 'inet6', string][] = [
    ['hash:ip', 'inet6', 'fd00::1'],
    ['hash:ip,port', 'inet', '10.0.0.1,sctp:3001'],
    ['hash:ip,port,ip', 'inet6', 'fd00::1,udp:53,fd00::2'],
    ['hash:ip,port,net', 'inet', '10.0.0.1,tcp:80,10.0.0.0/8'],
    ['hash:ip,port,net', 'inet', '10.0.0.1,tcp:80,10.0.0.2'],
    ['bitmap:port', 'inet', '65535'],
  ];
  for (const [type, family, text] of cases) {
    // A list reply as the kernel builds one: nfgenmsg, then ADT { DATA {...} }.
    const w = new MessageWriter();
    w.begin((6 << 8) | 7, 0, 1).raw(Uint8Array.of(2, 0, 0, 0)).string(Attr.SETNAME, 's').beginNested(Attr.ADT);
    putEntry(w, parseEntry(type, family, text));
    w.endNested().end();
    const payload = w.slice().subarray(16);
    const m = decodeSetMessage(payload);
    assert.equal(m.name, 's');
    assert.equal(m.members.length, 1);
    const [start, end] = m.members[0]!;
    assert.equal(formatMember(type, payload, start, end), text);
  }
});

test('swap is byte for byte what `ipset swap a b` (ipset 7.17) sends: IPSET_CMD_SWAP with SETNAME and SETNAME2', () => {
  // linux/netfilter/ipset/ip_set.h: IPSET_CMD_SWAP is 6; IPSET_ATTR_SETNAME 2; IPSET_ATTR_SETNAME2 =
  // IPSET_ATTR_TYPENAME, 3. NFNL_SUBSYS_IPSET is 6 (nfnetlink.h).
  assert.equal(Cmd.SWAP, 6);
  assert.equal(Attr.SETNAME, 2);
  assert.equal(Attr.SETNAME2, 3);
  const w = new MessageWriter();
  beginIpset(w, Cmd.SWAP, 0x6b11288a, { protocol: 7 });
  putSwap(w, 'a', 'b');
  w.end();
  // Recorded with `strace -e trace=sendto -e write=3 ipset swap a b` (its sequence number kept).
  const ipset = Buffer.from(
    '2c000000' + '0606' + '0500' + '8a28116b' + '00000000' // nlmsghdr: len 44, SUBSYS_IPSET<<8|SWAP, REQUEST|ACK, seq, pid
    + '02000000' // nfgenmsg: AF_INET, NFNETLINK_V0, res_id 0
    + '0500010007000000' // IPSET_ATTR_PROTOCOL 7
    + '0600020061000000' // IPSET_ATTR_SETNAME "a"
    + '0600030062000000', // IPSET_ATTR_SETNAME2 "b"
    'hex');
  assert.deepEqual(w.slice().toString('hex'), ipset.toString('hex'));
  assert.equal(w.slice().readUInt16LE(6), NLM_F_REQUEST | NLM_F_ACK);
});

test('swap refuses a name the kernel cannot hold, naming it', () => {
  const w = new MessageWriter();
  beginIpset(w, Cmd.SWAP, 1, { protocol: 7 });
  assert.throws(() => putSwap(w, 'a', 'x'.repeat(32)), /ipset x{32}: a set name has at most 31 bytes/);
  assert.throws(() => putSwap(w, '', 'b'), /must not be empty/);
});
