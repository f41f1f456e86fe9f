// iptables mode end to end in the sandbox kernel: the real agent (fed by the fake API server through
// the real informers) writes kube-proxy's iptables-mode chains; HTTP goes from the node and from a
// client namespace through ClusterIP, NodePort, externalIP and load balancer addresses to busybox
// backends in network namespaces; iptables-save is the oracle for what was written. Then the node
// switches modes (iptables → IPVS → iptables on the other backend) and nothing of the old mode stays.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { KubeConfig } from '#client-node';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { informerSource } from '../../src/sources/informers.js';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { sh, shStatus, startBackend, httpGet, resetKernel, type Backend } from './helpers.js';
import { synced, service, sliceOf, trafficLoop, gets } from './agent-helpers.js';

const DIR = '/tmp/kipvs-ipt-e2e';
const NODE = 'ipt-node';
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const log = { ...quiet, error: (o: object, m?: string) => console.error(`agent error: ${m ?? ''} ${JSON.stringify(o)}`) };

let api: FakeApiServer;
const backends: Backend[] = [];
let agent: Agent | undefined;

function options(mode: 'ipvs' | 'iptables', backend?: 'legacy' | 'nft'): AgentOptions {
  const kc = new KubeConfig();
  kc.loadFromFile(`${DIR}/kubeconfig`);
  return {
    nodeName: NODE, mode, ...(backend ? { iptablesBackend: backend } : {}), scheduler: 'rr', strictARP: false,
    syncPeriodMs: 60_000, minSyncPeriodMs: 50, excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [],
    healthzBindAddress: '127.0.0.1:0', metricsBindAddress: '127.0.0.1:0', stateSocket: `${DIR}/state.sock`,
    gracefulTerminationTimeoutMs: 1_000, healthCheckBindHost: '127.0.0.1', log,
    source: informerSource({ kubeConfig: kc, nodeName: NODE, log: quiet, backoff: { initialMs: 100, maxMs: 1000 } }),
  };
}

async function startAgent(mode: 'ipvs' | 'iptables', backend?: 'legacy' | 'nft'): Promise<Agent> {
  const a = new Agent(options(mode, backend));
  await a.start();
  await a.firstSync();
  return a;
}

const ip = (i: number) => backends[i]!.address;
const slice = (name: string, svc: string, eps: number[]) =>
  sliceOf(NODE, name, svc, [{ name: 'http', port: 8080 }], eps.map((i) => ({ ip: ip(i), pod: `${svc}-${i}` })));
const port80 = (nodePort?: number) => [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', ...(nodePort ? { nodePort } : {}) }];
const lb = (ranges: string[]) => ({
  ...service('lb', { type: 'LoadBalancer', clusterIP: '10.96.20.15', clusterIPs: ['10.96.20.15'], loadBalancerSourceRanges: ranges, ports: port80(30302) }),
  status: { loadBalancer: { ingress: [{ ip: '203.0.113.90' }] } },
});

/**
 * kube-proxy's chain name, computed here on its own (not with the code under test): base32 (RFC 4648)
 * of SHA-256 of the service port name and protocol, first 16 characters.
 */
function chainName(prefix: string, text: string): string {
  const bytes = createHash('sha256').update(text).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0, out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) { out += alphabet[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return prefix + out.slice(0, 16);
}

/** A raw HTTP/1.0 GET from the client namespace, given up after `seconds`. */
const clientGet = (host: string, port: number, path: string, seconds: number) =>
  shStatus(`ip netns exec ipt-cl timeout ${seconds} bash -c 'exec 3<>/dev/tcp/${host}/${port}; printf "GET ${path} HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3'`);
/** The client address a backend saw (busybox httpd prints IPv4 peers as [::ffff:a.b.c.d]). */
const peer = (host: string, port: number) => clientGet(host, port, '/cgi-bin/peer', 10).stdout
  .trim().split('\n').pop()!.trim().replace(/^\[(?:::ffff:)?(.*)\]$/, '$1');
const nat = (bin = 'iptables-nft') => sh(`${bin}-save -t nat`);

before(async () => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  for (const [i, name] of ['ipt-be0', 'ipt-be1', 'ipt-be2'].entries()) backends.push(startBackend(name, 91 + i));
  sh(`ip netns add ipt-cl
      ip link add v-ipt-cl type veth peer name eth0 netns ipt-cl
      ip addr add 10.251.0.1/24 dev v-ipt-cl && ip link set v-ipt-cl up
      ip -n ipt-cl link set lo up && ip -n ipt-cl addr add 10.251.0.2/24 dev eth0 && ip -n ipt-cl link set eth0 up
      ip -n ipt-cl route add default via 10.251.0.1
      ip route add 10.96.0.0/12 via 10.251.0.2`);
  // iptables mode binds no VIP: like a real node, this one needs a route that covers the cluster IPs (its
  // default route would), or connect() fails with ENETUNREACH before the nat OUTPUT chain can DNAT.
  // The client namespace plays the gateway; DNAT happens first, so nothing is ever sent there.
  api = new FakeApiServer();
  await api.start();
  api.writeKubeconfig(`${DIR}/kubeconfig`);
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
  api.create(service('web', { type: 'NodePort', clusterIP: '10.96.20.10', clusterIPs: ['10.96.20.10'], externalIPs: ['192.0.2.20'], ports: port80(30300) }));
  api.create(slice('web-1', 'web', [0, 1]));
  api.create(service('local', { type: 'NodePort', clusterIP: '10.96.20.11', clusterIPs: ['10.96.20.11'], externalTrafficPolicy: 'Local', healthCheckNodePort: 32101, ports: port80(30301) }));
  api.create(slice('local-1', 'local', [0]));
  api.create(service('sticky', { clusterIP: '10.96.20.12', clusterIPs: ['10.96.20.12'], sessionAffinity: 'ClientIP', ports: port80() }));
  api.create(slice('sticky-1', 'sticky', [0, 1, 2]));
  api.create(service('empty', { clusterIP: '10.96.20.13', clusterIPs: ['10.96.20.13'], ports: port80() }));
  api.create(slice('empty-1', 'empty', []));
  api.create(service('hair', { clusterIP: '10.96.20.14', clusterIPs: ['10.96.20.14'], ports: port80() }));
  api.create(slice('hair-1', 'hair', [0]));
  api.create(lb(['10.251.0.0/24']));
  api.create(slice('lb-1', 'lb', [1]));
  agent = await startAgent('iptables', 'nft');
});

after(async () => {
  await agent?.stop();
  await api?.stop();
  for (const b of backends) b.stop();
  shStatus('ip route del 10.96.0.0/12; ip netns del ipt-cl; ip link del v-ipt-cl 2>/dev/null');
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

test('iptables mode: kube-proxy chains in iptables-save; ClusterIP, NodePort, externalIP and load balancer reached from a client namespace', async () => {
  const svc = chainName('KUBE-SVC-', 'default/web:httptcp');
  const n = nat();
  assert.match(n, new RegExp(`^-A KUBE-SERVICES -d 10\\.96\\.20\\.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j ${svc}$`, 'm'));
  const seps = n.split('\n').filter((l) => l.startsWith(`-A ${svc} `) && / -j KUBE-SEP-/.test(l));
  assert.equal(seps.length, 2, `two endpoints behind ${svc}:\n${seps.join('\n')}`);
  assert.match(seps[0]!, /-m statistic --mode random --probability 0\.50000000000 -j KUBE-SEP-/, 'the first of two endpoints takes half');
  assert.doesNotMatch(seps[1]!, /statistic/, 'the last endpoint is unconditional');
  for (const i of [0, 1]) {
    const sep = chainName('KUBE-SEP-', `default/web:httptcp${ip(i)}:8080`);
    assert.match(n, new RegExp(`^-A ${sep} -p tcp .*-j DNAT --to-destination ${ip(i).replace(/\./g, '\\.')}:8080$`, 'm'));
  }
  assert.match(n, /^-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES$/m);
  assert.match(n, /^-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS$/m);
  assert.doesNotMatch(shStatus('iptables-legacy-save -t nat').stdout, /KUBE-SVC-/, 'written with nft only');

  // Each request picks an endpoint at random (probability 0.5): 20 requests all to one endpoint happen
  // once in half a million runs; 6 failed one run in 32.
  assert.deepEqual([...new Set(await gets('10.96.20.10', 80, 20))].sort(), ['ipt-be0', 'ipt-be1']);
  const viaClient = new Set<string>();
  // Each request from the client is a process start (seconds in the guest): stop once both answered.
  for (let k = 0; k < 20 && viaClient.size < 2; k++) viaClient.add(clientGet('10.251.0.1', 30300, '/', 5).stdout.trim().split('\n').pop()!);
  assert.deepEqual([...viaClient].sort(), ['ipt-be0', 'ipt-be1'], 'NodePort from the client namespace');
  assert.match(clientGet('192.0.2.20', 80, '/', 5).stdout, /ipt-be[01]/, 'externalIP from the client namespace');
  assert.match(clientGet('203.0.113.90', 80, '/', 5).stdout, /ipt-be1/, 'load balancer from a client inside its source ranges');

  // Outside the source ranges: dropped, not answered.
  api.update(lb(['192.0.2.0/24']));
  await synced(agent!, 'source ranges changed', () => /-s 192\.0\.2\.0\/24/.test(nat()));
  assert.notEqual(clientGet('203.0.113.90', 80, '/', 4).status, 0, 'the load balancer answered a client outside its ranges');
  api.update(lb(['10.251.0.0/24']));
  await synced(agent!, 'source ranges back', () => /-s 10\.251\.0\.0\/24/.test(nat()));
  assert.match(clientGet('203.0.113.90', 80, '/', 5).stdout, /ipt-be1/);
});

test('iptables mode: externalTrafficPolicy Local keeps the client address, Cluster masquerades it; health checks answer', async () => {
  assert.equal(peer('10.251.0.1', 30301), '10.251.0.2');
  assert.equal(peer('10.251.0.1', 30300).replace(/^10\.244\.9[12]\.1$/, 'a node address'), 'a node address');
  const hc = JSON.parse(await httpGet('127.0.0.1', 32101));
  assert.equal(hc.localEndpoints, 1, JSON.stringify(hc));
  assert.match(await httpGet('127.0.0.1', agent!.healthzPort, '/healthz'), /lastUpdated/);
});

test('iptables mode: ClientIP affinity sticks to one endpoint', async () => {
  const seen = new Set(await gets('10.96.20.12', 80, 8));
  assert.equal(seen.size, 1, `affinity: ${[...seen].join(',')}`);
  assert.match(nat(), /-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-\w+ --mask 255\.255\.255\.255 --rsource -j KUBE-SEP-/);
});

test('iptables mode: a Service without endpoints refuses at once', async () => {
  const t0 = Date.now();
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const s = net.connect(80, '10.96.20.13');
    s.on('connect', () => { s.destroy(); resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' })); });
    s.on('error', resolve);
  });
  assert.equal(err.code, 'ECONNREFUSED');
  // A drop would never be refused (the client would retransmit its SYN until it gives up): the bound only
  // keeps "at once" honest on this software-emulated guest.
  assert.ok(Date.now() - t0 < 3000, `refused after ${Date.now() - t0} ms`);
  assert.match(sh('iptables-nft-save -t filter'), /^-A KUBE-SERVICES -d 10\.96\.20\.13\/32 -p tcp -m comment --comment "default\/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable$/m);
});

test('iptables mode: hairpin — a pod reaches itself through its Service', () => {
  // HTTP over bash's /dev/tcp (busybox's static wget crashes in this guest).
  const reply = sh(`ip netns exec ipt-be0 timeout 5 bash -c 'exec 3<>/dev/tcp/10.96.20.14/80; printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3'`);
  assert.equal(reply.trim().split('\n').pop()!.trim(), 'ipt-be0');
});

test('iptables mode: endpoints added and removed under load; partial restores; unused chains deleted', async () => {
  const a = agent!;
  const load = await trafficLoop(DIR, '10.96.20.10', 80);
  const sep0 = chainName('KUBE-SEP-', `default/web:httptcp${ip(0)}:8080`);
  let removedAt = 0;
  try {
    // Restore lines written, from the agent's own counter: the runner may sync a change before syncNow does.
    const written = () => a.metrics.operations.get({ op: 'restore-lines' });
    let before = written();
    await a.syncNow('period');
    const fullLines = written() - before;
    // Only incremental syncs between the two reads count: a periodic full sync in between (seen on a
    // slow guest: 164 lines against a full 112) would add its own lines.
    const fulls = () => a.metrics.syncs.get({ kind: 'full' });
    let partialLines = 0;
    for (let attempt = 0; ; attempt++) {
      before = written();
      const fullsBefore = fulls();
      api.update(slice('web-1', 'web', attempt % 2 === 0 ? [0, 1, 2] : [0, 1]));
      // web's own KUBE-SEP chain for be2 (be2 already serves another Service, so its address proves nothing).
      const sep2 = chainName('KUBE-SEP-', `default/web:httptcp${ip(2)}:8080`);
      await synced(a, attempt % 2 === 0 ? 'be2 added' : 'be2 removed', () => nat().includes(`:${sep2} `) === (attempt % 2 === 0));
      partialLines = written() - before;
      if (fulls() === fullsBefore || attempt >= 3) break;
    }
    assert.ok(partialLines > 0, 'the change was written');
    assert.ok(partialLines < fullLines, `a partial restore (${partialLines} lines) writes less than a full one (${fullLines})`);
    api.update(slice('web-1', 'web', [1, 2]));
    await synced(a, 'be0 removed', () => !nat().includes(`:${sep0} `));
    removedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    await load.stop();
  }
  assert.deepEqual(load.failures, []);
  const after = load.seen.filter((_, i) => load.sentAt[i]! > removedAt);
  assert.ok(after.length > 0 && !after.includes('ipt-be0'), `after the removal: ${after.join(',')}`);
  assert.ok(load.seen.includes('ipt-be2'), 'the added endpoint served');
  const m = await new Promise<string>((resolve, reject) => http.get({ host: '127.0.0.1', port: a.metricsPort, path: '/metrics' }, (res) => {
    let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(b));
  }).on('error', reject));
  // Each family's rules in our chains, as the kernel holds them.
  const rules = (text: string) => text.split('\n').filter((l) => /^-A KUBE-/.test(l)).length;
  assert.match(m, new RegExp(`^kubeproxy_sync_proxy_rules_iptables_total\\{ip_family="IPv4",table="nat"\\} ${rules(nat())}$`, 'm'));
  assert.match(m, new RegExp(`^kubeproxy_sync_proxy_rules_iptables_total\\{ip_family="IPv6",table="nat"\\} ${rules(sh('ip6tables-nft-save -t nat'))}$`, 'm'));
});

test('switching modes: IPVS mode removes the iptables-mode chains; iptables mode (legacy) removes IPVS mode and the nft rules', async () => {
  await agent!.stop();
  agent = await startAgent('ipvs');
  assert.doesNotMatch(nat(), /KUBE-SVC-|KUBE-SEP-|KUBE-NODEPORTS/, 'iptables-mode chains left under IPVS mode');
  assert.match(sh('ipvsadm -Ln -t 10.96.20.10:80'), /10\.244\.92\.2:8080/);
  assert.equal((await httpGet('10.96.20.14', 80)).trim(), 'ipt-be0', 'served by IPVS');
  await agent.stop();

  agent = await startAgent('iptables', 'legacy');
  assert.doesNotMatch(sh('ipvsadm -Ln'), /10\.96\.20\./, 'IPVS virtual services left under iptables mode');
  assert.notEqual(shStatus('ip link show kube-ipvs0').status, 0, 'kube-ipvs0 left');
  assert.doesNotMatch(sh('ipset list -n'), /^KUBE-/m, 'ipsets left');
  for (const t of ['nat', 'filter']) assert.doesNotMatch(sh(`iptables-nft-save -t ${t}`), /KUBE-(?!KUBELET|FIREWALL)/, `nft ${t} still holds proxy rules`);
  assert.match(nat('iptables-legacy'), /-j KUBE-SVC-/);
  assert.equal((await httpGet('10.96.20.14', 80)).trim(), 'ipt-be0', 'served by legacy iptables');
  assert.match(clientGet('10.251.0.1', 30300, '/', 5).stdout, /ipt-be[12]/, 'NodePort from the client namespace, legacy');
  await assert.rejects(httpGet('10.96.20.13', 80, '/', 2000), /ECONNREFUSED/, 'no endpoints: refused, legacy');

  await agent.stop();
  agent = undefined;
  const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
  const out = (await promisify(execFile)(process.execPath, [bin, 'cleanup'], { encoding: 'utf8' })).stdout;
  assert.match(out, /removed 0 virtual services, kube-ipvs0, [1-9]\d* iptables chains/);
  for (const b of ['iptables-nft', 'iptables-legacy']) {
    for (const t of ['nat', 'filter']) assert.doesNotMatch(shStatus(`${b}-save -t ${t}`).stdout, /KUBE-(?!KUBELET|FIREWALL)/, `${b} ${t} after cleanup`);
  }
});
