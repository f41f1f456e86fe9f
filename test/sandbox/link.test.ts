// kube-ipvs0 and its addresses through rtnetlink, checked against iproute2.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { LinkClient, IFF_UP, IFF_NOARP } from '../../src/link/link.js';
import { sh, resetKernel } from './helpers.js';

after(() => resetKernel());

test('a dummy link is created down and noarp, found, and deleted', () => {
  resetKernel();
  const link = LinkClient.open();
  try {
    const d = link.ensureDummy('kube-ipvs0');
    assert.equal(d.kind, 'dummy');
    assert.equal(d.flags & IFF_UP, 0);
    assert.equal(d.flags & IFF_NOARP, IFF_NOARP);
    assert.match(sh('ip -d link show kube-ipvs0'), /state DOWN.*\n.*\n\s+dummy/);
    assert.equal(link.ensureDummy('kube-ipvs0').index, d.index, 'ensure is idempotent');
    assert.ok(link.links().some((l) => l.name === 'kube-ipvs0' && l.index === d.index));
    assert.equal(link.deleteLink('kube-ipvs0'), true);
    assert.equal(link.link('kube-ipvs0'), null);
    assert.equal(link.deleteLink('kube-ipvs0'), false);
    sh('ip link add kipvs-veth type veth peer name kipvs-veth1');
    assert.throws(() => link.ensureDummy('kipvs-veth'), /is a veth link, not dummy/);
    sh('ip link del kipvs-veth');
  } finally {
    link.close();
  }
});

test('IPv4 and IPv6 addresses are added in a batch, listed, and deleted, as iproute2 sees them', () => {
  resetKernel();
  const link = LinkClient.open();
  try {
    const d = link.ensureDummy('kube-ipvs0');
    const v4 = Array.from({ length: 1500 }, (_, i) => `10.96.${i >> 8}.${i & 255}`);
    const v6 = Array.from({ length: 500 }, (_, i) => `fd00:96::${(i + 1).toString(16)}`);
    assert.deepEqual(link.addAddresses(d.index, [...v4, ...v6]), []);
    assert.deepEqual(link.addAddresses(d.index, v4.slice(0, 10)), [], 'adding an address twice is not an error');
    const listed = link.addresses(d.index);
    assert.equal(listed.length, 2000);
    assert.ok(listed.every((a) => a.prefixLength === (a.family === 'inet' ? 32 : 128)));
    const ip4 = sh('ip -4 -o addr show dev kube-ipvs0').trim().split('\n');
    const ip6 = sh('ip -6 -o addr show dev kube-ipvs0').trim().split('\n');
    assert.equal(ip4.length, 1500);
    assert.equal(ip6.length, 500);
    assert.match(ip6.join('\n'), /inet6 fd00:96::1\/128 scope global nodad/);
    assert.match(ip4.join('\n'), /inet 10\.96\.5\.219\/32 scope global kube-ipvs0/);
    assert.doesNotMatch(ip6.join('\n'), /tentative/, 'no duplicate address detection on VIPs');
    // The addresses are local: the kernel routes them to this host.
    assert.match(sh('ip route get 10.96.1.7'), /^local 10\.96\.1\.7 dev lo/);
    const failures = link.addAddresses(d.index, ['10.1.2.3.4']);
    assert.equal(failures.length, 1);
    assert.match(failures[0]!.error.message, /10\.1\.2\.3\.4/);
    assert.deepEqual(link.deleteAddresses(d.index, [...v4.slice(100), ...v6]), []);
    assert.deepEqual(link.deleteAddresses(d.index, v4.slice(100, 110)), [], 'deleting a missing address is not an error');
    assert.deepEqual(link.addresses(d.index).map((a) => a.address).sort(), v4.slice(0, 100).sort());
  } finally {
    link.close();
  }
});
