import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddress, formatAddress, canonicalAddress, isIPv4Netmask, inetAddrBytes, familyOf } from '../../src/netlink/address.js';

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
  const b = inetAddrBytes('10.1.2.3');
  assert.equal(b.length, 16);
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
