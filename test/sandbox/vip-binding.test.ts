// --vip-binding local-route: VIPs made local by kipvs' host routes (table local, protocol 107, through
// lo) instead of addresses on kube-ipvs0. The link client's routes against `ip route` as the oracle,
// beside an address of the same VIP; then the agent switched from addresses to routes and back under
// HTTP load through a VIP (no request fails), the other kind retired, a Service removed while the
// agent was down cleaned up with its VIP, `kipvs diff` saying so first, a route deleted by hand put
// back by the periodic reconcile, and the cleanup of IPVS mode taking the routes too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { manifestSource } from '../../src/sources/manifests.js';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { LinkClient, type VipBinding } from '../../src/link/link.js';
import { removeIpvsMode } from '../../src/backends/ipvs/cleanup.js';
import { sh, shStatus, startBackend, resetKernel, httpGet, type Backend } from './helpers.js';
import { service, sliceOf, trafficLoop } from './agent-helpers.js';
import { main as diffMain } from '../../src/cli/diff.js';

const DIR = '/tmp/kipvs-vip-binding';
const NODE = 'vb-node';
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const backends: Backend[] = [];
/** vb-be0's IPv6 leg: its address, and the node's end of the link (the address the node sources from). */
const BE0_V6 = 'fd00:244:91::2';
const NODE_V6 = 'fd00:244:91::1';

/** kipvs' local routes as `ip route` shows them, both families: the destinations, sorted. */
function routesByIp(): string[] {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    for (const l of sh(`ip ${fam} route show table local proto 107`).split('\n')) {
      const m = /^local (\S+) dev lo /.exec(l);
      if (m) out.push(m[1]!);
      else if (l.trim()) throw new Error(`unexpected route line: ${l}`);
    }
  }
  return out.sort();
}

/** The addresses on kube-ipvs0 as `ip addr` shows them, both families, sorted. */
function addressesByIp(): string[] {
  const r = shStatus('ip -o addr show dev kube-ipvs0');
  return [...r.stdout.matchAll(/inet6? (\S+)\/(?:32|128) /g)].map((m) => m[1]!).sort();
}

const isLocal = (a: string) => /^local /.test(shStatus(`ip route get ${a}`).stdout);

function writeObjects(withGone: boolean): void {
  const [be0, be1] = backends.map((b) => b.address);
  const port = [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }];
  const objects: object[] = [
    service('web', { clusterIP: '10.96.40.10', clusterIPs: ['10.96.40.10'], ipFamilies: ['IPv4'], ports: port }),
    sliceOf(NODE, 'web-1', 'web', [{ name: 'http', port: 8080 }], [{ ip: be0! }, { ip: be1! }]),
    // Dual-stack: its IPv6 VIP is bound too (through lo as a route: a link that is down takes no IPv6 route).
    service('dual', { clusterIP: '10.96.40.12', clusterIPs: ['10.96.40.12', 'fd00:96::40:12'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack', ports: port }),
    sliceOf(NODE, 'dual-4', 'dual', [{ name: 'http', port: 8080 }], [{ ip: be0! }]),
    { ...sliceOf(NODE, 'dual-6', 'dual', [{ name: 'http', port: 8080 }], [{ ip: BE0_V6 }]), addressType: 'IPv6' },
  ];
  if (withGone) {
    objects.push(
      service('gone', { clusterIP: '10.96.40.11', clusterIPs: ['10.96.40.11'], ipFamilies: ['IPv4'], ports: port }),
      sliceOf(NODE, 'gone-1', 'gone', [{ name: 'http', port: 8080 }], [{ ip: be0! }]),
    );
  }
  writeFileSync(`${DIR}/manifests/objects.yaml`, objects.map((o) => stringify(o)).join('---\n'));
}

function options(vipBinding: VipBinding): AgentOptions {
  return {
    nodeName: NODE, mode: 'ipvs', scheduler: 'rr', strictARP: false, syncPeriodMs: 600_000, minSyncPeriodMs: 0,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '', metricsBindAddress: '',
    stateSocket: '', gracefulTerminationTimeoutMs: 60_000, iptables: { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: ['10.244.0.0/16'] },
    healthCheckBindHost: '127.0.0.1', source: manifestSource({ dir: `${DIR}/manifests`, nodeName: NODE, log: quiet }), log: quiet, vipBinding,
  };
}

/** An agent with `vipBinding` started, its first sync ended, stopped (it leaves the kernel as it is). */
async function firstSyncOnly(vipBinding: VipBinding): Promise<void> {
  const a = new Agent(options(vipBinding));
  try {
    await a.start();
    await a.firstSync();
  } finally {
    await a.stop();
  }
}

/**
 * A request from the node through the dual-stack Service's v6 VIP reaches its v6 backend, which sees the
 * node's own address (masqueraded: no IPv6 cluster CIDR is given), whichever way the VIP is bound.
 */
async function assertV6FromNode(): Promise<void> {
  assert.equal(await httpGet('fd00:96::40:12', 80), 'vb-be0\n');
  assert.equal(await httpGet('fd00:96::40:12', 80, '/cgi-bin/peer'), `[${NODE_V6}]\n`);
}

/** Run an agent with `vipBinding` over the manifests until its first sync has ended and a second has passed, under load through web's VIP. */
async function runUnderLoad(vipBinding: VipBinding): Promise<Agent> {
  const load = await trafficLoop(DIR, '10.96.40.10', 80);
  assert.ok(load.seen.length > 0, `the load answered before the switch: ${load.failures.join('; ')}`);
  const a = new Agent(options(vipBinding));
  try {
    await a.start();
    await a.firstSync();
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    await load.stop();
  }
  assert.deepEqual(load.failures, [], `requests failed across the switch to ${vipBinding}`);
  assert.ok(load.seen.length > 3, `the load ran: ${load.seen.length}`);
  return a;
}

before(() => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/manifests`, { recursive: true });
  backends.push(startBackend('vb-be0', 91), startBackend('vb-be1', 92));
  // vb-be0 answers on IPv6 too (the dual-stack Service's v6 endpoint), routed back through the node.
  sh(`ip addr add ${NODE_V6}/64 dev v-vb-be0 nodad
      ip -n vb-be0 addr add ${BE0_V6}/64 dev eth0 nodad
      ip -n vb-be0 -6 route add default via ${NODE_V6}`);
});

after(() => {
  for (const b of backends) b.stop();
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

test('local routes: added, listed and deleted as `ip route` sees them, beside an address of the same VIP; others\' routes not listed', () => {
  const link = LinkClient.open();
  try {
    sh('ip link add kube-ipvs0 type dummy && ip addr add 10.96.41.1/32 dev kube-ipvs0');
    const refused = link.addLocalRoutes(['10.96.41.1', '10.96.41.2', 'fd00:41::2', 'not-an-ip']);
    assert.deepEqual(refused.map((f) => f.address), ['not-an-ip']);
    assert.match(refused[0]!.error.message, /not-an-ip.*not an IP address/);
    assert.deepEqual(routesByIp(), ['10.96.41.1', '10.96.41.2', 'fd00:41::2']);
    // Another protocol's local route is not kipvs'.
    sh('ip route add local 10.96.41.9/32 dev lo table local proto static');
    assert.deepEqual(link.localRoutes().map((r) => r.destination).sort(), ['10.96.41.1', '10.96.41.2', 'fd00:41::2']);
    assert.deepEqual(link.localRoutes().map((r) => r.outputIndex), [1, 1, 1]);
    // Added again: not an error (and not a second route).
    assert.deepEqual(link.addLocalRoutes(['10.96.41.2', 'fd00:41::2']), []);
    assert.deepEqual(routesByIp(), ['10.96.41.1', '10.96.41.2', 'fd00:41::2']);
    // The address of the same VIP goes; the route keeps it local.
    sh('ip addr del 10.96.41.1/32 dev kube-ipvs0');
    assert.ok(isLocal('10.96.41.1'), sh('ip route show table local'));
    assert.deepEqual(link.deleteLocalRoutes(['10.96.41.1', '10.96.41.2', 'fd00:41::2']), []);
    assert.deepEqual(routesByIp(), []);
    assert.ok(!isLocal('10.96.41.1'));
    assert.ok(isLocal('10.96.41.9'), "another protocol's route was left alone");
    // Deleted again: not an error.
    assert.deepEqual(link.deleteLocalRoutes(['10.96.41.1', 'fd00:41::2']), []);
  } finally {
    link.close();
    shStatus('ip route del local 10.96.41.9/32 dev lo table local proto static; ip link del kube-ipvs0');
  }
});

test('switching --vip-binding under load: addresses to routes (a removed Service cleaned up, kipvs diff says so first), drift repaired, back to addresses, cleanup', async () => {
  writeObjects(true);
  await firstSyncOnly('address');
  assert.deepEqual(addressesByIp(), ['10.96.40.10', '10.96.40.11', '10.96.40.12', 'fd00:96::40:12']);
  assert.deepEqual(routesByIp(), []);

  // While no agent runs, Service gone is deleted. The diff of a route-mode start, before it:
  writeObjects(false);
  let stdout = '';
  const status = await diffMain(['--manifests', `${DIR}/manifests`, '--hostname-override', NODE, '--cluster-cidr', '10.244.0.0/16', '--color', 'never', '--vip-binding', 'local-route'], { out: { write: (t: string) => { stdout += t; } }, err: { write: () => {} } });
  assert.equal(status, 1, stdout);
  assert.match(stdout, /^\+local 10\.96\.40\.10\/32 dev lo table local proto 107$/m);
  assert.match(stdout, /^-10\.96\.40\.10\/32 dev kube-ipvs0$/m);
  assert.match(stdout, /^-10\.96\.40\.11\/32 dev kube-ipvs0$/m);
  assert.match(stdout, /^\+local fd00:96::40:12\/128 dev lo table local proto 107$/m);
  assert.match(stdout, /^-fd00:96::40:12\/128 dev kube-ipvs0$/m);
  assert.match(stdout, /^--A -t 10\.96\.40\.11:80 -s rr$/m);
  assert.doesNotMatch(stdout, /local 10\.96\.40\.11/);
  assert.deepEqual(addressesByIp(), ['10.96.40.10', '10.96.40.11', '10.96.40.12', 'fd00:96::40:12'], 'the diff changed nothing');

  const a2 = await runUnderLoad('local-route');
  try {
    assert.deepEqual(routesByIp(), ['10.96.40.10', '10.96.40.12', 'fd00:96::40:12']);
    assert.deepEqual(addressesByIp(), [], 'the addresses were retired');
    assert.ok(isLocal('fd00:96::40:12'));
    assert.doesNotMatch(sh('ipvsadm -Sn'), /10\.96\.40\.11/, "the removed Service's virtual service went too");
    assert.ok(!isLocal('10.96.40.11'));
    assert.match(await httpGet('10.96.40.10', 80), /^vb-be[01]$/m);
    // The v6 VIP from the node: the kernel's source is a node address (a route has no address of its own)…
    assert.match(sh('ip -6 route get fd00:96::40:12'), new RegExp(`^local fd00:96::40:12 .* src ${NODE_V6} `, 'm'));
    await assertV6FromNode();
    // Drift: the route deleted behind the agent's back; the periodic reconcile puts it back.
    sh('ip route del local 10.96.40.10/32 dev lo table local proto 107');
    assert.deepEqual(routesByIp(), ['10.96.40.12', 'fd00:96::40:12']);
    await a2.syncNow('period');
    assert.deepEqual(routesByIp(), ['10.96.40.10', '10.96.40.12', 'fd00:96::40:12']);
    assert.equal(a2.lastSync!.counts.bind, 1, JSON.stringify(a2.lastSync!.counts));
  } finally {
    await a2.stop();
  }

  const a3 = await runUnderLoad('address');
  await a3.stop();
  assert.deepEqual(addressesByIp(), ['10.96.40.10', '10.96.40.12', 'fd00:96::40:12']);
  assert.deepEqual(routesByIp(), [], 'the routes were retired');
  // …where with addresses it is the VIP itself; the backend sees the same either way.
  assert.match(sh('ip -6 route get fd00:96::40:12'), /^local fd00:96::40:12 .* src fd00:96::40:12 /m);
  await assertV6FromNode();

  // Routes of a route-mode run, then IPVS mode taken away (kipvs cleanup; iptables mode): nothing is left.
  await firstSyncOnly('local-route');
  assert.deepEqual(routesByIp(), ['10.96.40.10', '10.96.40.12', 'fd00:96::40:12']);
  const link = LinkClient.open();
  try {
    removeIpvsMode({ link, log: quiet, chains: () => false, active: 'nft' });
  } finally {
    link.close();
  }
  assert.deepEqual(routesByIp(), []);
  assert.equal(shStatus('ip link show kube-ipvs0').status, 1);
  assert.equal(sh('ipvsadm -Sn'), '');
});
