// Opening sockets in a network namespace (src/netlink/netns.ts): what can be checked without root
// and without a second namespace. The sandbox's netns test opens every client in another namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { inNetworkNamespace, enterNetworkNamespace } from '../../src/netlink/netns.js';

const own = () => readlinkSync('/proc/thread-self/ns/net');

test('without a namespace, the work runs here and its result comes back', () => {
  assert.equal(inNetworkNamespace(undefined, () => own()), own());
});

test('a missing path and a namespace of another type are refused, naming the path; the thread stays', () => {
  const home = own();
  let ran = false;
  assert.throws(() => inNetworkNamespace('/var/run/netns/kipvs-no-such', () => { ran = true; }),
    /^Error: network namespace \/var\/run\/netns\/kipvs-no-such: cannot open it \(ENOENT\)$/);
  assert.throws(() => enterNetworkNamespace('/proc/self/ns/uts'),
    /^Error: network namespace \/proc\/self\/ns\/uts: cannot enter it: not a network namespace \(EINVAL\)$/);
  assert.equal(ran, false);
  assert.equal(own(), home);
});
