// The agent end to end in the sandbox kernel: a fake API server speaking the real list/watch
// protocol feeds the real client-node informers; backends are busybox httpd in network namespaces;
// HTTP goes from the node through ClusterIP, NodePort and externalIP virtual services.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { KubeConfig } from '#client-node';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { informerSource } from '../../src/sources/informers.js';
import { apiEventSink } from '../../src/sources/events.js';
import { manifestSource } from '../../src/sources/manifests.js';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import type { Source } from '../../src/sources/types.js';
import { sh, shStatus, startBackend, httpGet, resetKernel, waitFor, type Backend } from './helpers.js';
import { synced, service, sliceOf, trafficLoop as loopIn, gets } from './agent-helpers.js';
import { DEFAULT_HEAP, NODE_FLAGS } from '../../src/config/heap.js';

const DIR = '/tmp/kipvs-e2e';
const NODE = 'sandbox-node';
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const warnings: string[] = [];
const log = {
  ...quiet,
  warn: (o: object, m?: string) => void warnings.push(`${m ?? ''} ${JSON.stringify(o)}`),
  // Errors are shown: a failing sync must not be silent in a test run.
  error: (o: object, m?: string) => console.error(`agent error: ${m ?? ''} ${JSON.stringify(o)}`),
};

let api: FakeApiServer;
const backends: Backend[] = [];
let agent: Agent | undefined;

function agentOptions(source: Source): AgentOptions {
  return {
    nodeName: NODE, mode: 'ipvs', scheduler: 'rr', strictARP: true, syncPeriodMs: 60_000, minSyncPeriodMs: 50,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '127.0.0.1:0',
    metricsBindAddress: '127.0.0.1:0', stateSocket: `${DIR}/state.sock`, gracefulTerminationTimeoutMs: 120_000, drainCheckMs: 300,
    healthCheckBindHost: '127.0.0.1', source, log, events: apiEventSink(kubeConfig()),
  };
}

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(`${DIR}/kubeconfig`);
  return kc;
}

function informers(): Source {
  return informerSource({ kubeConfig: kubeConfig(), nodeName: NODE, log: quiet, backoff: { initialMs: 100, maxMs: 1000 } });
}

/** Events the agent created on the fake API server: "Kind/name Reason: note". */
async function eventsSeen(a: Agent): Promise<string[]> {
  await a.events.flush();
  return api.events.map((e) => {
    const r = e.regarding as { kind: string; namespace?: string; name: string };
    return `${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name} ${e.reason as string}: ${e.note as string}`;
  });
}

async function startAgent(source: Source = informers()): Promise<Agent> {
  const a = new Agent(agentOptions(source));
  await a.start();
  await a.firstSync();
  return a;
}

const ip = (i: number) => backends[i]!.address;
const slice = (name: string, svc: string, ports: Parameters<typeof sliceOf>[3], eps: Parameters<typeof sliceOf>[4]) => sliceOf(NODE, name, svc, ports, eps);
const trafficLoop = (host: string, port: number) => loopIn(DIR, host, port);

function webSlice(which: number[]) {
  return slice('web-1', 'web', [{ name: 'http', port: 8080 }], which.map((i) => ({ ip: ip(i), pod: `web-${i}` })));
}

function fetchText(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

before(async () => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  for (const [i, name] of ['e2e-be0', 'e2e-be1', 'e2e-be2'].entries()) backends.push(startBackend(name, 81 + i));
  api = new FakeApiServer();
  await api.start();
  api.writeKubeconfig(`${DIR}/kubeconfig`);
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: { 'topology.kubernetes.io/zone': 'zone-a' } } });
  api.create(service('web', {
    type: 'NodePort', clusterIP: '10.96.10.10', clusterIPs: ['10.96.10.10'], ipFamilies: ['IPv4'], externalIPs: ['192.0.2.10'],
    ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' }],
  }));
  api.create(webSlice([0, 1]));
  agent = await startAgent();
});

after(async () => {
  await agent?.stop();
  await api?.stop();
  for (const b of backends) b.stop();
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

test('ClusterIP, NodePort and externalIP carry HTTP to the ready backends; VIPs are on kube-ipvs0', async () => {
  const seen = await gets('10.96.10.10', 80, 6);
  assert.deepEqual([...new Set(seen)].sort(), ['e2e-be0', 'e2e-be1']);
  // NodePort on a node address (the host side of a backend's veth), externalIP bound on kube-ipvs0.
  assert.match((await httpGet(backends[2]!.hostAddress, 30080)).trim(), /^e2e-be[01]$/);
  assert.match((await httpGet('192.0.2.10', 80)).trim(), /^e2e-be[01]$/);
  const addrs = sh('ip -4 -o addr show dev kube-ipvs0');
  assert.match(addrs, /10\.96\.10\.10\/32/);
  assert.match(addrs, /192\.0\.2\.10\/32/);
  assert.doesNotMatch(addrs, /10\.244\.8\d\.1/, 'node addresses are not bound');
  assert.equal(sh('cat /proc/sys/net/ipv4/conf/all/arp_ignore').trim(), '1');
  assert.equal(sh('cat /proc/sys/net/ipv4/vs/expire_nodest_conn').trim(), '1');
  assert.equal(sh('cat /proc/sys/net/ipv4/vs/conntrack').trim(), '1');
});

test('endpoints scaled up and down while traffic flows: no request reaches a removed backend after the sync', async () => {
  const a = agent!;
  const load = await trafficLoop('10.96.10.10', 80);
  try {
    api.update(webSlice([0, 1, 2]));
    await synced(a, 'be2 added', () => /10\.244\.83\.2:8080/.test(sh('ipvsadm -Ln -t 10.96.10.10:80')));
    // The load loop shares the rr rotation and can take be2's turn every time (seen once): count its
    // requests since be2 was programmed too.
    const addedAt = Date.now();
    const mineAfterAdd = await gets('10.96.10.10', 80, 6);
    const sinceAdd = [...mineAfterAdd, ...load.seen.filter((_, i) => load.sentAt[i]! > addedAt)];
    assert.ok(sinceAdd.includes('e2e-be2'), `be2 never answered after it was added: ${sinceAdd.join(',')}`);
    api.update(webSlice([1, 2]));
    await synced(a, 'be0 removed', () => !/10\.244\.81\.2:8080\s+Masq\s+1\s/.test(sh('ipvsadm -Ln -t 10.96.10.10:80')));
    const syncedAt = Date.now();
    const mine = await gets('10.96.10.10', 80, 12);
    // Both clients share the rr rotation (they can alternate in lockstep), so look at all requests
    // sent after the sync, from either.
    const after = [...mine, ...load.seen.filter((_, i) => load.sentAt[i]! > syncedAt)];
    assert.ok(!after.includes('e2e-be0'), `a removed backend answered: ${after.join(',')}`);
    assert.deepEqual([...new Set(after)].sort(), ['e2e-be1', 'e2e-be2'], sh('ipvsadm -Ln -t 10.96.10.10:80'));
  } finally {
    await load.stop();
  }
  assert.deepEqual(load.failures, []);
  assert.ok(load.seen.length > 5);
});

/** The restarted agent's first sync may only delete real servers that finished draining. */
function assertAdopted(counts: Record<string, number>, who: string): void {
  assert.deepEqual(Object.keys(counts).filter((k) => k !== 'delete-server'), [], `${who} re-programmed: ${JSON.stringify(counts)}`);
}

test('agent restarts under continuous load: a real agent process killed with SIGKILL and replaced; zero failed requests, nothing re-programmed', async () => {
  const load = await trafficLoop('10.96.10.10', 80);
  try {
    await new Promise((r) => setTimeout(r, 300));
    await agent!.stop();
    agent = undefined;
    // `kipvs agent` as a node runs it, against the same API server.
    const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [...NODE_FLAGS[DEFAULT_HEAP], bin, 'agent', `--kubeconfig=${DIR}/kubeconfig`, `--hostname-override=${NODE}`, '--ipvs-strict-arp',
      '--ipvs-min-sync-period=50ms', '--healthz-bind-address=127.0.0.1:19256', '--metrics-bind-address=', `--state-socket=${DIR}/child.sock`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let logs = '';
    child.stderr!.on('data', (c) => (logs += c));
    // A failure must not leave the child running: it would keep this test process (and the sandbox) alive.
    const reaped = (err: unknown) => { child.kill('SIGKILL'); throw err; };
    // Generous: the process loads its modules over 9p under software emulation.
    const firstSync = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent process did not sync in 180 s:\n${logs}`)), 180_000);
      const check = () => {
        const line = logs.split('\n').find((l) => l.includes('"msg":"sync"'));
        if (line) { clearTimeout(timer); child.stderr!.off('data', check); resolve(JSON.parse(line)); }
      };
      child.stderr!.on('data', check);
      child.once('exit', (code) => reject(new Error(`the agent process exited (${code}):\n${logs}`)));
    }).catch(reaped);
    assert.equal(firstSync.kind, 'full');
    assertAdopted(firstSync.counts as Record<string, number>, 'the agent process');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // A crash leaves everything programmed; the next agent adopts it.
    agent = await startAgent();
    assert.equal(agent.lastSync!.kind, 'full');
    assertAdopted(agent.lastSync!.counts, 'the agent after a crash');
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await load.stop();
    // The tests after this one need an agent, whatever happened here.
    agent ??= await startAgent();
  }
  assert.deepEqual(load.failures, []);
  assert.ok(load.seen.length >= 5, `only ${load.seen.length} requests went through`);
});

test('drift is repaired by the periodic reconcile and counted', async () => {
  const a = agent!;
  sh('ipvsadm -D -t 10.96.10.10:80 && ip addr del 192.0.2.10/32 dev kube-ipvs0');
  await a.syncNow('period');
  assert.match(sh('ipvsadm -Ln -t 10.96.10.10:80'), /10\.244\.82\.2:8080/);
  assert.match(sh('ip -4 -o addr show dev kube-ipvs0'), /192\.0\.2\.10\/32/);
  assert.ok((a.lastSync?.repaired ?? 0) >= 3);
  // A slice change since this agent started (the restart test replaced it), stamped by the controller.
  api.update(webSlice([1, 2]));
  await synced(a, 'the slice change programmed', () => a.metrics.programming.count({ ip_family: 'IPv4' }) > 0);
  const m = await fetchText(a.metricsPort, '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.body, /^kipvs_drift_repaired_total [1-9]\d*$/m);
  assert.match(m.body, /^kubeproxy_sync_proxy_rules_duration_seconds_count\{ip_family="IPv4"\} [1-9]\d*$/m);
  // The slices changed since the agent started carry the EndpointSlice controller's trigger time (sliceOf).
  assert.match(m.body, /^kubeproxy_network_programming_duration_seconds_count\{ip_family="IPv4"\} [1-9]\d*$/m);
  assert.match(m.body, /^kipvs_netlink_operations_total\{op="add-server"\} [1-9]\d*$/m);
  // The process metrics (prom-client) follow the agent's own.
  assert.match(m.body, /^process_resident_memory_bytes [1-9]\d*$/m);
  assert.match(m.body, /^nodejs_eventloop_lag_p99_seconds \S+$/m);
  // An Event on the Node says what was put back.
  assert.ok((await eventsSeen(a)).some((e) => new RegExp(`^Node/${NODE} DriftRepaired: put back [1-9]\\d* kernel objects`).test(e)), (await eventsSeen(a)).join('\n'));
  const h = await fetchText(a.healthzPort, '/healthz');
  assert.equal(h.status, 200);
  assert.equal(JSON.parse(h.body).nodeEligible, true);
});

test('graceful termination: a long-lived connection completes, then its real server goes', async () => {
  const a = agent!;
  const be = backends[1]!;
  sh(`ip netns exec ${be.ns} sh -c 'busybox nc -ll -p 9000 -e cat >/dev/null 2>&1 & echo $! > ${DIR}/nc.pid'`);
  waitFor(() => shStatus(`ip netns exec ${be.ns} ss -ltn | grep -q :9000`).status === 0, 5000, 'nc listening');
  api.create(service('echo', { type: 'ClusterIP', clusterIP: '10.96.10.20', clusterIPs: ['10.96.10.20'], ports: [{ name: 'echo', port: 9000, targetPort: 9000, protocol: 'TCP' }] }));
  api.create(slice('echo-1', 'echo', [{ name: 'echo', port: 9000 }], [{ ip: be.address, pod: 'echo-0' }]));
  await synced(a, 'echo programmed', () => /10\.244\.82\.2:9000/.test(shStatus('ipvsadm -Ln -t 10.96.10.20:9000').stdout));
  const sock = net.connect({ host: '10.96.10.20', port: 9000 });
  await new Promise<void>((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  const echo = async (text: string) => {
    const got = new Promise<string>((res) => sock.once('data', (d) => res(d.toString())));
    sock.write(text);
    return Promise.race([got, new Promise<string>((_, rej) => setTimeout(() => rej(new Error('no echo')), 3000))]);
  };
  assert.equal(await echo('one\n'), 'one\n');
  api.update(slice('echo-1', 'echo', [{ name: 'echo', port: 9000 }], []));
  await synced(a, 'echo endpoint removed', () => a.engine.draining.size === 1);
  assert.match(sh('ipvsadm -Ln -t 10.96.10.20:9000'), /10\.244\.82\.2:9000\s+Masq\s+0\s+1/);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await echo('two\n'), 'two\n', 'the connection still works while draining');
  assert.match(sh('ipvsadm -Ln -t 10.96.10.20:9000'), /10\.244\.82\.2:9000/);
  sock.resetAndDestroy();
  const end = Date.now() + 30_000;
  while (/10\.244\.82\.2:9000/.test(sh('ipvsadm -Ln -t 10.96.10.20:9000'))) {
    if (Date.now() > end) assert.fail('the drained real server was not deleted');
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.equal(a.engine.draining.size, 0);
  shStatus(`kill $(cat ${DIR}/nc.pid)`);
  api.delete(slice('echo-1', 'echo', [], []));
  api.delete(service('echo', {}));
  await synced(a, 'echo gone', () => !/10\.96\.10\.20:9000/.test(sh('ipvsadm -Ln')));
});

test('bad input: a malformed Service is skipped with a warning naming it; the others are programmed', async () => {
  const a = agent!;
  api.create(service('bad', { type: 'ClusterIP', clusterIP: '10.96.10.30', clusterIPs: ['10.96.10.30'], ports: [{ name: 'x', port: 70000, protocol: 'TCP' }, { name: 'y', port: 81, protocol: 'TCP' }] }));
  api.create(service('good', { type: 'ClusterIP', clusterIP: '10.96.10.31', clusterIPs: ['10.96.10.31'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] }));
  api.create(slice('good-1', 'good', [{ name: 'http', port: 8080 }], [{ ip: ip(2) }]));
  await synced(a, 'good programmed', () => /10\.96\.10\.31:80/.test(sh('ipvsadm -Ln')));
  const listing = sh('ipvsadm -Ln');
  assert.doesNotMatch(listing, /10\.96\.10\.30:70000/);
  assert.match(listing, /10\.96\.10\.30:81/, 'the valid port of the bad Service is still programmed');
  assert.ok(a.state().warnings.some((w) => w.object === 'Service default/bad' && /ports\[0\]\.port/.test(w.field)), JSON.stringify(a.state().warnings));
  assert.ok(warnings.some((w) => w.includes('default/bad')), 'the warning was logged');
  assert.ok((await eventsSeen(a)).some((e) => /^Service\/default\/bad InvalidServiceSkipped: spec\.ports\[0\]\.port: /.test(e)), (await eventsSeen(a)).join('\n'));
  assert.equal((await httpGet('10.96.10.31', 80)).trim(), 'e2e-be2');
});

test('externalTrafficPolicy: Local serves a health-check node port with the local endpoint count', async () => {
  const a = agent!;
  api.create(service('lb', {
    type: 'LoadBalancer', clusterIP: '10.96.10.40', clusterIPs: ['10.96.10.40'], externalTrafficPolicy: 'Local', healthCheckNodePort: 32100,
    ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30100, protocol: 'TCP' }],
  }));
  api.create(slice('lb-1', 'lb', [{ name: 'http', port: 8080 }], [{ ip: ip(1), pod: 'lb-0' }, { ip: ip(2), node: 'other-node', pod: 'lb-1' }]));
  await synced(a, 'lb programmed', () => a.state().healthCheckNodePorts.some((h) => h.port === 32100));
  const r = await fetchText(32100, '/');
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).localEndpoints, 1);
  // The NodePort VS gets only the local endpoint.
  const np = sh(`ipvsadm -Ln -t ${backends[0]!.hostAddress}:30100`);
  assert.match(np, /10\.244\.82\.2:8080/);
  assert.doesNotMatch(np, /10\.244\.83\.2:8080/);
  api.update(slice('lb-1', 'lb', [{ name: 'http', port: 8080 }], [{ ip: ip(2), node: 'other-node', pod: 'lb-1' }]));
  await synced(a, 'no local endpoints', () => a.state().healthCheckNodePorts.some((h) => h.port === 32100 && h.localEndpoints === 0));
  assert.equal((await fetchText(32100, '/')).status, 503);
});

test('ipsets and iptables of IPVS mode: entries follow the Services; NodePort traffic from off the node is masqueraded unless the policy is Local; loadBalancerSourceRanges enforced; hand edits are repaired', async () => {
  const a = agent!;
  // A client host on its own link: its address is not the node's, as for traffic from outside.
  sh(`ip netns add e2e-cl
      ip link add v-e2e-cl type veth peer name eth0 netns e2e-cl
      ip addr add 10.250.0.1/24 dev v-e2e-cl && ip link set v-e2e-cl up
      ip -n e2e-cl link set lo up && ip -n e2e-cl addr add 10.250.0.2/24 dev eth0 && ip -n e2e-cl link set eth0 up
      ip -n e2e-cl route add default via 10.250.0.1`);
  const spec = (policy: string) => ({
    type: 'NodePort', clusterIP: '10.96.10.50', clusterIPs: ['10.96.10.50'], externalTrafficPolicy: policy,
    ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30200, protocol: 'TCP' }],
  });
  // A raw HTTP/1.0 request from the client namespace, given up after `seconds`.
  const clientGet = (host: string, port: number, path: string, seconds: number) =>
    shStatus(`ip netns exec e2e-cl timeout ${seconds} bash -c 'exec 3<>/dev/tcp/${host}/${port}; printf "GET ${path} HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3'`);
  // The client address the backend saw: the last line of the reply (httpd listens on an IPv6 socket,
  // so an IPv4 peer comes as [::ffff:a.b.c.d]).
  const peer = () => clientGet('10.250.0.1', 30200, '/cgi-bin/peer', 10).stdout
    .trim().split('\n').pop()!.trim().replace(/^\[(?:::ffff:)?(.*)\]$/, '$1');
  try {
    api.create(service('masq', spec('Cluster')));
    api.create(slice('masq-1', 'masq', [{ name: 'http', port: 8080 }], [{ ip: ip(0), pod: 'masq-0' }]));
    // A full sync: the new node address gets its NodePort virtual service.
    await a.syncNow('period');
    await synced(a, 'masq programmed', () => /10\.250\.0\.1:30200/.test(sh('ipvsadm -Ln')));
    assert.match(sh('ipset list KUBE-CLUSTER-IP'), /^10\.96\.10\.50,tcp:80$/m);
    assert.match(sh('ipset list KUBE-NODE-PORT-TCP'), /^30200$/m);
    assert.match(sh('ipset list KUBE-IPVS-IPS'), /^10\.96\.10\.50$/m);
    assert.match(sh('ipset list KUBE-LOOP-BACK'), /^10\.244\.81\.2,tcp:8080,10\.244\.81\.2$/m);
    assert.doesNotMatch(sh('ipset list KUBE-NODE-PORT-LOCAL-TCP'), /^30200$/m);
    const nat = sh('iptables-save -t nat');
    assert.match(nat, /^-A PREROUTING .*-j KUBE-SERVICES$/m);
    assert.match(nat, /^-A KUBE-POSTROUTING .*-j MASQUERADE/m);
    // externalTrafficPolicy Cluster: the backend sees the node's address on its link, not the client's.
    assert.equal(peer(), backends[0]!.hostAddress);

    api.update(service('masq', spec('Local')));
    await synced(a, 'policy Local', () => /^30200$/m.test(sh('ipset list KUBE-NODE-PORT-LOCAL-TCP')));
    // Local: no SNAT, the client's own address arrives.
    assert.equal(peer(), '10.250.0.2');

    // loadBalancerSourceRanges: a client in a range reaches the load balancer IP; once no range holds
    // it, its packets are dropped before IPVS sees them.
    const lb = (ranges: string[]) => ({
      ...service('fw', {
        type: 'LoadBalancer', clusterIP: '10.96.10.51', clusterIPs: ['10.96.10.51'], loadBalancerSourceRanges: ranges,
        ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30201, protocol: 'TCP' }],
      }),
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.77' }] } },
    });
    const viaLb = () => clientGet('203.0.113.77', 80, '/', 5);
    api.create(lb(['10.250.0.0/24']));
    api.create(slice('fw-1', 'fw', [{ name: 'http', port: 8080 }], [{ ip: ip(0), pod: 'fw-0' }]));
    await synced(a, 'fw programmed', () => /^203\.0\.113\.77,tcp:80,10\.250\.0\.0\/24$/m.test(sh('ipset list KUBE-LOAD-BALANCER-SOURCE-CIDR')));
    assert.match(sh('ipset list KUBE-LOAD-BALANCER-FW'), /^203\.0\.113\.77,tcp:80$/m);
    assert.match(viaLb().stdout, /e2e-be0/);
    // The range holds a node address (10.250.0.1): the node itself may connect too.
    assert.match(sh('ipset list KUBE-LOAD-BALANCER-SOURCE-IP'), /^203\.0\.113\.77,tcp:80,203\.0\.113\.77$/m);
    assert.equal((await httpGet('203.0.113.77', 80)).trim(), 'e2e-be0');
    api.update(lb(['192.0.2.0/24']));
    await synced(a, 'fw range changed', () => /^203\.0\.113\.77,tcp:80,192\.0\.2\.0\/24$/m.test(sh('ipset list KUBE-LOAD-BALANCER-SOURCE-CIDR')));
    const blocked = viaLb();
    assert.notEqual(blocked.status, 0, `the load balancer answered a client outside its source ranges: ${blocked.stdout}`);
    // Nor may the node: a DROP rule for it in KUBE-IPVS-OUT-FILTER (written by this incremental sync).
    assert.match(sh('iptables-save -t filter'), /^-A KUBE-IPVS-OUT-FILTER -s 203\.0\.113\.77\/32 .*-j DROP$/m);
    await assert.rejects(httpGet('203.0.113.77', 80, '/', 2000), /timeout/);
    api.delete(lb([]) as never);
    await synced(a, 'fw removed', () => !/203\.0\.113\.77/.test(sh('ipset list KUBE-LOAD-BALANCER-FW')));
    assert.doesNotMatch(sh('iptables-save -t filter'), /KUBE-IPVS-OUT-FILTER -s 203\.0\.113\.77/, 'the node rule goes with the Service');

    // Behind kipvs' back: an entry deleted, a chain flushed, a jump removed. The periodic reconcile repairs all.
    sh(`ipset del KUBE-CLUSTER-IP 10.96.10.50,tcp:80
        iptables -t nat -F KUBE-POSTROUTING
        eval "iptables -t nat $(iptables -t nat -S POSTROUTING | grep -m1 -- '-j KUBE-POSTROUTING' | sed 's/^-A /-D /')"`);
    assert.doesNotMatch(sh('iptables-save -t nat'), /-j KUBE-POSTROUTING/);
    await a.syncNow('period');
    assert.match(sh('ipset list KUBE-CLUSTER-IP'), /^10\.96\.10\.50,tcp:80$/m);
    const repaired = sh('iptables-save -t nat');
    assert.match(repaired, /^-A KUBE-POSTROUTING .*-j MASQUERADE/m);
    assert.equal(repaired.match(/^-A POSTROUTING .*-j KUBE-POSTROUTING$/gm)?.length, 1);
    // A set the rules match destroyed by hand, with the chain that matched it: the reconcile's rules,
    // written apart beside its netlink work, fail on the missing set; the ipset sync makes the set and
    // the rules are written again at once, in the same reconcile, which ends with no failure.
    assert.match(repaired, /^-A KUBE-POSTROUTING .*--match-set KUBE-LOOP-BACK /m);
    sh(`iptables -t nat -F KUBE-POSTROUTING
        ipset destroy KUBE-LOOP-BACK`);
    await a.syncNow('period');
    assert.deepEqual(a.lastSync?.failures, []);
    assert.match(sh('iptables-save -t nat'), /^-A KUBE-POSTROUTING .*--match-set KUBE-LOOP-BACK /m);
    assert.match(sh('ipset list KUBE-LOOP-BACK'), /^Members:\n\S/m);

    api.delete(service('masq', spec('Local')) as never);
    await synced(a, 'masq removed', () => !/10\.96\.10\.50,tcp:80/.test(sh('ipset list KUBE-CLUSTER-IP')));
    assert.doesNotMatch(sh('ipset list KUBE-NODE-PORT-TCP'), /^30200$/m);
    assert.doesNotMatch(sh('ipset list KUBE-IPVS-IPS'), /^10\.96\.10\.50$/m);
  } finally {
    shStatus('ip netns del e2e-cl; ip link del v-e2e-cl 2>/dev/null');
    // Settle: the NodePort virtual services of the client link's address go with it.
    await a.syncNow('period');
  }
});

test('API server down, then a watch that expires (410): the kernel keeps its rules, nothing is re-added', async () => {
  const a = agent!;
  const before = sh('ipvsadm -Sn');
  const syncs = a.metrics.syncs.get({ kind: 'incremental' }) + a.metrics.syncs.get({ kind: 'full' });
  await api.setDown(true);
  api.closeWatches();
  await new Promise((r) => setTimeout(r, 1500));
  await a.syncNow('period');
  assert.equal(sh('ipvsadm -Sn'), before, 'an unreachable API server changes nothing');
  assert.equal((await httpGet('10.96.10.10', 80, '/')).trim().startsWith('e2e-be'), true);
  // Back, with history compacted: the informers relist (410) and find everything unchanged.
  api.compact();
  await api.setDown(false);
  api.update(webSlice([1, 2, 0]));
  await synced(a, 'the change after the outage', () => /10\.244\.81\.2:8080\s+Masq\s+1\s/.test(sh('ipvsadm -Ln -t 10.96.10.10:80')));
  assert.ok(a.metrics.syncs.get({ kind: 'incremental' }) + a.metrics.syncs.get({ kind: 'full' }) > syncs);
  const counts = a.lastSync!.counts;
  assert.ok(!('add-service' in counts) && !('delete-service' in counts), `a relist re-programmed services: ${JSON.stringify(counts)}`);
  api.update(webSlice([1, 2]));
  await synced(a, 'be0 removed again', () => !/10\.244\.81\.2:8080\s+Masq\s+1\s/.test(sh('ipvsadm -Ln -t 10.96.10.10:80')));
});

test('kipvs list and explain show the Service and pods behind each virtual service', async () => {
  // Asynchronously: the agent answering on the state socket runs in this very process.
  const run = async (args: string[]) => (await promisify(execFile)(process.execPath, [bin, ...args], { env, encoding: 'utf8' })).stdout;
  const env = { ...process.env, KIPVS_STATE_SOCKET: `${DIR}/state.sock` };
  const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
  const list = JSON.parse(await run(['list', '--output', 'json']));
  const web = list.virtualServices.find((v: { address: string; port: number }) => v.address === '10.96.10.10' && v.port === 80);
  assert.equal(web.origin.service, 'default/web');
  assert.equal(web.origin.kind, 'ClusterIP');
  const live = web.servers.filter((s: { condition: string }) => s.condition !== 'draining');
  assert.deepEqual(live.map((s: { pod: string; condition: string }) => `${s.pod}:${s.condition}`).sort(), ['default/web-1:ready', 'default/web-2:ready']);
  const text = await run(['explain', '192.0.2.10:80']);
  assert.match(text, /Service default\/web, port "http" 80\/TCP, as ExternalIP/);
  assert.match(text, /default\/web-2/);
});

test('--manifests: a directory of YAML drives the agent without an API server', async () => {
  await agent!.stop();
  agent = undefined;
  await api.stop();
  resetKernel();
  const dir = `${DIR}/manifests`;
  mkdirSync(dir, { recursive: true });
  const doc = (eps: number[]) => [
    'apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: files}\nspec:\n  clusterIP: 10.96.11.1\n  clusterIPs: [10.96.11.1]\n  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]',
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: default\n  name: files-1\n  labels: {kubernetes.io/service-name: files}\naddressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n${eps.map((i) => `  - addresses: [${ip(i)}]\n    conditions: {ready: true}\n`).join('')}`,
  ].join('\n---\n');
  writeFileSync(`${dir}/files.yaml`, doc([0]));
  agent = await startAgent(manifestSource({ dir, nodeName: NODE, log: quiet, pollMs: 200 }));
  assert.equal((await httpGet('10.96.11.1', 80)).trim(), 'e2e-be0');
  writeFileSync(`${dir}/files.yaml`, doc([1]));
  await synced(agent, 'file change applied', () => /10\.244\.82\.2:8080/.test(sh('ipvsadm -Ln -t 10.96.11.1:80')));
  assert.equal((await httpGet('10.96.11.1', 80)).trim(), 'e2e-be1');
});

test('kipvs cleanup removes the virtual services, kube-ipvs0, the iptables chains and jumps and the ipsets; foreign ones stay', async () => {
  await agent!.stop();
  agent = undefined;
  sh(`ipvsadm -A -t 10.250.9.9:80 -s rr
      iptables -t nat -N FOREIGN && iptables -t nat -A OUTPUT -d 10.250.9.9 -j FOREIGN
      ipset create FOREIGN-SET hash:ip -exist`);
  assert.match(sh('iptables-save -t nat'), /KUBE-SERVICES/);
  assert.match(sh('ipset list -n'), /^KUBE-CLUSTER-IP$/m);
  const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
  const out = (await promisify(execFile)(process.execPath, [bin, 'cleanup'], { encoding: 'utf8' })).stdout;
  assert.match(out, /removed 1 virtual service, kube-ipvs0, [1-9]\d* iptables chains, 34 ipsets and 0 nftables tables/);
  assert.equal(sh('ipvsadm -Sn').trim(), '-A -t 10.250.9.9:80 -s rr', 'only the foreign virtual service is left');
  assert.notEqual(shStatus('ip link show kube-ipvs0').status, 0);
  for (const t of ['nat', 'filter']) assert.doesNotMatch(sh(`iptables-save -t ${t}`), /KUBE-/, `no KUBE- chain or jump left in ${t}`);
  assert.doesNotMatch(sh('ipset list -n'), /^KUBE-/m);
  assert.match(sh('iptables-save -t nat'), /^-A OUTPUT -d 10\.250\.9\.9\/32 -j FOREIGN$/m);
  assert.match(sh('ipset list -n'), /^FOREIGN-SET$/m);
  sh('iptables -t nat -D OUTPUT -d 10.250.9.9 -j FOREIGN && iptables -t nat -X FOREIGN && ipset destroy FOREIGN-SET && ipvsadm -C');
});
