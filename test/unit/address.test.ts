import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAddress, formatAddress, canonicalAddress, isIPv4Netmask, familyOf, isIPv4Text, writeInetAddr, readAddressAt } from '../../src/netlink/address.js';
import { MessageWriter } from '../../src/netlink/message.js';

/** The 16 bytes of union nf_inet_addr, built here from parseAddress: IPv4 first, zero after. */
function union16(address: string): number[] {
  const raw = parseAddress(address)!;
  return [...raw, ...new Array(16 - raw.length).fill(0)];
}

test('IPv6 text is canonical as inet_ntop writes it', () => {
  const cases: [string, string][] = [
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['2001:DB8::0:1', '2001:db8::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // longest run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero word is not compressed
    ['::', '::'],
    ['::1', '::1'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['::10.0.0.1', '::10.0.0.1'],
    ['1::', '1::'],
    ['fe80::1%eth0', 'fe80::1'],
  ];
  for (const [input, want] of cases) assert.equal(canonicalAddress(input), want, input);
});

test('IPv4 round trips and becomes 16 bytes for the kernel', () => {
  assert.deepEqual([...parseAddress('10.1.2.3')!], [10, 1, 2, 3]);
  assert.equal(formatAddress(Uint8Array.of(192, 168, 0, 255)), '192.168.0.255');
  const b = new Uint8Array(16).fill(0xaa);
  writeInetAddr('10.1.2.3', b, 0);
  assert.deepEqual([...b.subarray(0, 4)], [10, 1, 2, 3]);
  assert.ok(b.subarray(4).every((x) => x === 0));
});

test('not addresses are refused', () => {
  for (const bad of ['', '10.0.0', '10.0.0.256', 'fd00:::1', 'example.com', '1.2.3.4/32']) {
    assert.equal(parseAddress(bad), null, bad);
    assert.equal(familyOf(bad), null, bad);
  }
});

test('IPv4 netmasks must be contiguous', () => {
  assert.ok(isIPv4Netmask('255.255.255.0'));
  assert.ok(isIPv4Netmask('255.255.255.255'));
  assert.ok(isIPv4Netmask('0.0.0.0'));
  assert.ok(!isIPv4Netmask('255.0.255.0'));
  assert.ok(!isIPv4Netmask('24'));
});

test('the allocation-free IPv4 check and 16-byte write agree with parseAddress', () => {
  const quad = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  const text = fc.oneof(quad, fc.ipV4(), fc.ipV4Extended(), fc.ipV6(), fc.string({ maxLength: 16 }),
    fc.constantFrom('01.2.3.4', '1.2.3.4.5', '1.2.3', '256.1.1.1', '1..2.3', '::ffff:1.2.3.4', '1.2.3.4 '));
  fc.assert(fc.property(text, (s) => {
    const parsed = parseAddress(s);
    assert.equal(isIPv4Text(s), parsed?.length === 4, s);
    // Into a dirty buffer, at an odd offset: every one of the 16 bytes is written.
    const out = new Uint8Array(20).fill(0xaa);
    if (!parsed) {
      assert.throws(() => writeInetAddr(s, out, 3), /not an IP address/);
      return;
    }
    writeInetAddr(s, out, 3);
    assert.deepEqual([...out.subarray(3, 19)], union16(s), s);
    assert.deepEqual([out[2], out[19]], [0xaa, 0xaa], 'nothing written outside the 16 bytes');
  }), { numRuns: 2000 });
});

test('MessageWriter.inetAddr writes the attribute w.bytes() of the 16 bytes would, growing the buffer when it must', () => {
  // 64 bytes hold the message; 16 do not, so the attribute lands in a grown buffer.
  for (const [a, initial] of [['10.96.0.1', 64], ['fd00::a', 64], ['::ffff:10.0.0.1', 64], ['10.96.0.1', 16], ['fd00::a', 16]] as const) {
    const one = new MessageWriter(initial).begin(16, 1, 7).inetAddr(3, a).end().slice();
    const two = new MessageWriter(64).begin(16, 1, 7).bytes(3, Uint8Array.from(union16(a))).end().slice();
    assert.equal(one.length, 16 + 4 + 16, a);
    assert.deepEqual(one, two, a);
  }
});

test('readAddressAt: the four bytes at the offset as a dotted quad; sixteen as formatAddress prints them', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 40, maxLength: 40 }), fc.integer({ min: 0, max: 20 }), (bytes, at) => {
    const buf = Buffer.from(bytes);
    assert.equal(readAddressAt(buf, at, 'inet'), [...bytes.slice(at, at + 4)].join('.'));
    assert.equal(readAddressAt(buf, at, 'inet6'), formatAddress(buf.subarray(at, at + 16), 'inet6'));
  }));
});
