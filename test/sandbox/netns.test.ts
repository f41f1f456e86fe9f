// Kernel clients opened in another network namespace: each socket is created there and stays bound to
// it, while the calling thread returns to its own namespace. The tools, run in each namespace, are
// the oracle for where things landed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { IpvsClient } from '../../src/ipvs/client.js';
import { IpsetClient } from '../../src/ipset/client.js';
import { LinkClient } from '../../src/link/link.js';
import { ConntrackClient } from '../../src/conntrack/client.js';
import { openSocketCount } from '../../native-bindings/libnl.js';
import { sh, shStatus, resetKernel } from './helpers.js';

const OTHER = 'kt-netns-other';
const PATH = `/var/run/netns/${OTHER}`;
const own = () => readlinkSync('/proc/thread-self/ns/net');
const there = (cmd: string) => sh(`ip netns exec ${OTHER} ${cmd}`);

before(() => {
  resetKernel();
  shStatus(`ip netns del ${OTHER}`);
  sh(`ip netns add ${OTHER} && ip -n ${OTHER} link set lo up`);
});
after(() => {
  shStatus(`ip netns del ${OTHER}`);
  resetKernel();
});

test('IPVS, link, ipset and conntrack clients opened in a namespace act there, and the thread comes back', () => {
  const home = own();
  const ipvs = IpvsClient.open({ netns: PATH });
  const link = LinkClient.open({ netns: PATH });
  const ipset = IpsetClient.open({ netns: PATH });
  const ct = ConntrackClient.open({ netns: PATH });
  try {
    assert.equal(own(), home, 'the thread is back in its own namespace');
    ipvs.addService({ family: 'inet', protocol: 'tcp', address: '10.60.0.1', port: 80, scheduler: 'rr' });
    assert.equal(there('ipvsadm -Sn'), '-A -t 10.60.0.1:80 -s rr\n');
    assert.equal(sh('ipvsadm -Sn'), '', 'nothing in the caller\'s namespace');
    const d = link.ensureDummy('kube-ipvs0');
    assert.deepEqual(link.addAddresses(d.index, ['10.60.0.1']), []);
    assert.match(there('ip -4 -o addr show dev kube-ipvs0'), /10\.60\.0\.1\/32/);
    assert.notEqual(shStatus('ip link show kube-ipvs0').status, 0, 'no kube-ipvs0 in the caller\'s namespace');
    ipset.create({ name: 'kt-ns-set', type: 'hash:ip', family: 'inet' });
    assert.deepEqual(ipset.apply([{ op: 'add', set: 'kt-ns-set', entry: '10.60.0.2' }]).failures, []);
    assert.match(there('ipset list kt-ns-set'), /^10\.60\.0\.2$/m);
    assert.notEqual(shStatus('ipset list -n kt-ns-set').status, 0, 'no such set in the caller\'s namespace');
    there('conntrack -I -p udp -s 10.60.1.1 -d 10.60.1.2 --sport 1111 --dport 53 --timeout 120');
    assert.deepEqual(ct.list('inet', 17).map((f) => `${f.original.src}:${f.original.srcPort}>${f.original.dst}:${f.original.dstPort}`), ['10.60.1.1:1111>10.60.1.2:53']);
    assert.equal(ConntrackClient.open().list('inet', 17).length, 0, 'the caller\'s own conntrack table is empty');
  } finally {
    for (const c of [ipvs, link, ipset, ct]) c.close();
    there('ipvsadm -C');
  }
  assert.equal(own(), home);
});

test('a namespace named by /proc/PID/ns/net works too', async () => {
  const child = spawn('ip', ['netns', 'exec', OTHER, 'sleep', '30'], { stdio: 'ignore' });
  try {
    // ip netns exec replaces itself with sleep: wait until the pid is in the other namespace.
    for (let i = 0; i < 100 && sh(`ip netns identify ${child.pid} || true`).trim() !== OTHER; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(sh(`ip netns identify ${child.pid}`).trim(), OTHER);
    const ipvs = IpvsClient.open({ netns: `/proc/${child.pid}/ns/net` });
    try {
      ipvs.addService({ family: 'inet', fwmark: 7, scheduler: 'wrr' });
      assert.equal(there('ipvsadm -Sn'), '-A -f 7 -s wrr\n');
      assert.equal(sh('ipvsadm -Sn'), '');
    } finally {
      ipvs.close();
      there('ipvsadm -C');
    }
  } finally {
    child.kill('SIGKILL');
  }
});

test('a path that is no network namespace is refused, naming it; nothing leaks and the thread stays', () => {
  const home = own();
  const sockets = openSocketCount();
  assert.throws(() => IpvsClient.open({ netns: '/var/run/netns/kt-no-such' }), /network namespace \/var\/run\/netns\/kt-no-such: cannot open it \(ENOENT\)/);
  assert.throws(() => LinkClient.open({ netns: '/proc/self/ns/uts' }), /network namespace \/proc\/self\/ns\/uts: cannot enter it: not a network namespace \(EINVAL\)/);
  assert.equal(openSocketCount(), sockets);
  assert.equal(own(), home);
});
