// Health-check node ports and IP families in the sandbox kernel.
// 1. The agent (in-process, IPVS mode, fed by the fake API server) serves a Service's healthCheckNodePort
//    on the node's nodePortAddresses of both families: 200 with a local endpoint, 503 without, and 503
//    while the proxier is unhealthy (its syncs fail: iptables-save refuses, injected through PATH).
// 2. A single-stack node (a network namespace with net.ipv6.conf.{all,default}.disable_ipv6=1) running
//    `kipvs agent` gets no KUBE-6-* sets, no ip6tables rules and no IPv6 virtual services for a
//    dual-stack Service, by ipset, ip6tables-save and ipvsadm; the same agent in a dual-stack namespace
//    does get them (the oracles can see them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { KubeConfig } from '#client-node';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { informerSource } from '../../src/sources/informers.js';
import { Agent } from '../../src/agent/agent.js';
import { sh, shStatus, resetKernel } from './helpers.js';
import { synced, service, sliceOf } from './agent-helpers.js';
import { DEFAULT_HEAP, NODE_FLAGS } from '../../src/config/heap.js';

const DIR = '/tmp/kipvs-health-family';
const NODE = 'hf-node';
const HC_PORT = 32210;
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const log = { ...quiet, error: (o: object, m?: string) => console.error(`agent error: ${m ?? ''} ${JSON.stringify(o)}`) };

let api: FakeApiServer | undefined;
let agent: Agent | undefined;
const PATH = process.env.PATH ?? '';

function probe(host: string, port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function until(what: string, cond: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(() => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/bin`, { recursive: true });
  // The node's addresses NodePorts (and so health-check node ports) are served on.
  shStatus('ip link del hf0');
  sh('ip link add hf0 type dummy && ip link set hf0 up && ip addr add 10.251.0.1/24 dev hf0 && ip addr add fd00:251::1/64 dev hf0 nodad');
  // iptables-save that fails while DIR/fail exists: the agent's syncs then fail, as they would with a broken iptables.
  for (const bin of ['iptables-save', 'ip6tables-save']) {
    const real = sh(`command -v ${bin}`).trim();
    writeFileSync(`${DIR}/bin/${bin}`, `#!/bin/sh\nif [ -e ${DIR}/fail ]; then echo "${bin}: injected failure" >&2; exit 1; fi\nexec ${real} "$@"\n`);
    chmodSync(`${DIR}/bin/${bin}`, 0o755);
  }
});

after(async () => {
  process.env.PATH = PATH;
  await agent?.stop();
  await api?.stop();
  shStatus('ip link del hf0');
  for (const ns of ['hf-single', 'hf-dual']) shStatus(`ip netns del ${ns}`);
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

const lb = (extra: Record<string, unknown> = {}) => service('lb', {
  type: 'LoadBalancer', clusterIP: '10.96.21.1', clusterIPs: ['10.96.21.1'], ipFamilies: ['IPv4'], externalTrafficPolicy: 'Local',
  healthCheckNodePort: HC_PORT, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30210, protocol: 'TCP' }], ...extra,
});
const lbSlice = (node: string) => sliceOf(NODE, 'lb-1', 'lb', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.5', node, pod: 'lb-0' }]);

test('health-check node port: on the nodePortAddresses of both families, 200/503 with the local endpoints and the proxier\'s health', async (t) => {
  // Whatever happens, the next test gets the real iptables-save and a clean kernel.
  t.after(async () => {
    process.env.PATH = PATH;
    rmSync(`${DIR}/fail`, { force: true });
    await agent?.stop();
    agent = undefined;
    await api?.stop();
    api = undefined;
    resetKernel();
  });
  api = new FakeApiServer();
  await api.start();
  api.writeKubeconfig(`${DIR}/kubeconfig`);
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
  api.create(lb());
  api.create(lbSlice(NODE));
  const kc = new KubeConfig();
  kc.loadFromFile(`${DIR}/kubeconfig`);
  process.env.PATH = `${DIR}/bin:${PATH}`;
  agent = new Agent({
    nodeName: NODE, mode: 'ipvs', scheduler: 'rr', strictARP: true, syncPeriodMs: 3000, minSyncPeriodMs: 50,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: ['10.251.0.0/24', 'fd00:251::/64'],
    healthzBindAddress: '127.0.0.1:0', metricsBindAddress: '127.0.0.1:0', stateSocket: `${DIR}/state.sock`,
    gracefulTerminationTimeoutMs: 1000, source: informerSource({ kubeConfig: kc, nodeName: NODE, log: quiet, backoff: { initialMs: 100, maxMs: 1000 } }), log,
  });
  await agent.start();
  await agent.firstSync();
  const a = agent;
  assert.deepEqual(a.families, ['inet', 'inet6'], 'the sandbox node is dual-stack');

  for (const host of ['10.251.0.1', 'fd00:251::1']) {
    const r = await probe(host, HC_PORT);
    assert.equal(r.status, 200, `${host}: ${r.body}`);
    assert.deepEqual(JSON.parse(r.body), { service: { namespace: 'default', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true });
  }
  // Only on the nodePortAddresses: not on loopback, which they leave out.
  await assert.rejects(probe('127.0.0.1', HC_PORT), /ECONNREFUSED/);

  // The endpoint moves to another node: 503 in both families.
  api.update(lbSlice('other-node'));
  await synced(a, 'no local endpoints', () => a.state().healthCheckNodePorts.some((h) => h.port === HC_PORT && h.localEndpoints === 0));
  for (const host of ['10.251.0.1', 'fd00:251::1']) {
    const r = await probe(host, HC_PORT);
    assert.equal(r.status, 503, `${host}: ${r.body}`);
    assert.equal(JSON.parse(r.body).localEndpoints, 0);
  }
  api.update(lbSlice(NODE));
  await until('200 again', async () => (await probe('fd00:251::1', HC_PORT)).status === 200);

  // The proxier turns unhealthy: iptables-save fails, a change that needs the rules rewritten is queued
  // (the first externalIP fills KUBE-EXTERNAL-IP), and no sync succeeds for 2 × syncPeriod.
  writeFileSync(`${DIR}/fail`, '');
  api.create(service('ext', { clusterIP: '10.96.21.2', clusterIPs: ['10.96.21.2'], externalIPs: ['192.0.2.21'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
  await until('the proxier unhealthy', async () => (await probe('10.251.0.1', HC_PORT)).status === 503, 30_000);
  for (const host of ['10.251.0.1', 'fd00:251::1']) {
    const r = await probe(host, HC_PORT);
    assert.equal(r.status, 503, `${host}: ${r.body}`);
    assert.deepEqual(JSON.parse(r.body), { service: { namespace: 'default', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: false });
  }
  const healthz = await probe('127.0.0.1', a.healthzPort, '/healthz');
  assert.equal(healthz.status, 503, healthz.body);
  assert.ok(a.metrics.operationErrors.get({ op: 'iptables-restore' }) > 0, 'the failing syncs were counted');

  // iptables works again: the next periodic sync succeeds and the port answers 200.
  rmSync(`${DIR}/fail`);
  await until('the proxier healthy again', async () => (await probe('10.251.0.1', HC_PORT)).status === 200, 30_000);
  assert.equal((await probe('127.0.0.1', a.healthzPort, '/healthz')).status, 200);
  const text = (await probe('127.0.0.1', a.metricsPort, '/metrics')).body;
  assert.match(text, /kubeproxy_proxy_healthz_total\{code="503"\} 1\n/);
  assert.match(text, /kubeproxy_proxy_healthz_total\{code="200"\} 1\n/);
  assert.match(text, /kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv6"\} \d/);
  assert.equal((await probe('127.0.0.1', a.metricsPort, '/proxyMode')).body, 'ipvs');
});

/** Run `kipvs agent --manifests` in a network namespace until its first sync; returns its log lines. */
async function agentInNamespace(ns: string, manifests: string): Promise<{ logs: string; stop: () => Promise<void> }> {
  const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...NODE_FLAGS[DEFAULT_HEAP], bin, 'agent', `--manifests=${manifests}`, `--hostname-override=${NODE}`,
    '--healthz-bind-address=', '--metrics-bind-address=', `--state-socket=${DIR}/${ns}.sock`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  child.stderr!.on('data', (c) => (logs += c));
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => { child.kill('SIGTERM'); await exited; };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent in ${ns} did not sync in 240 s:\n${logs}`)), 240_000);
      const check = () => { if (logs.includes('"msg":"sync"')) { clearTimeout(timer); resolve(); } };
      child.stderr!.on('data', check);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the agent in ${ns} exited (${code}):\n${logs}`)); });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { logs, stop };
}

test('single-stack node: no KUBE-6 sets, no ip6tables rules, no IPv6 virtual services (ipset, ip6tables-save, ipvsadm); a dual-stack node gets them', async () => {
  const manifests = `${DIR}/manifests`;
  mkdirSync(manifests, { recursive: true });
  const dual = service('dual', {
    type: 'NodePort', clusterIP: '10.96.22.1', clusterIPs: ['10.96.22.1', 'fd00:96::22'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack',
    ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30220, protocol: 'TCP' }],
  });
  const v4 = sliceOf(NODE, 'dual-4', 'dual', [{ name: 'http', port: 8080 }], [{ ip: '10.244.2.5' }]);
  const v6 = { ...sliceOf(NODE, 'dual-6', 'dual', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:244::5' }]), addressType: 'IPv6' };
  for (const [i, obj] of [dual, v4, v6].entries()) writeFileSync(`${manifests}/${i}.json`, JSON.stringify(obj));
  for (const ns of ['hf-single', 'hf-dual']) {
    shStatus(`ip netns del ${ns}`);
    sh(`ip netns add ${ns} && ip -n ${ns} link set lo up && ip -n ${ns} link add eth0 type dummy && ip -n ${ns} link set eth0 up && ip -n ${ns} addr add 10.252.0.1/24 dev eth0`);
  }
  sh('ip netns exec hf-single sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1');
  sh('ip -n hf-dual addr add fd00:252::1/64 dev eth0 nodad');

  const [single, dualStack] = await Promise.all([agentInNamespace('hf-single', manifests), agentInNamespace('hf-dual', manifests)]);
  try {
    const inNs = (ns: string, cmd: string) => sh(`ip netns exec ${ns} ${cmd}`);
    // Single-stack: IPv4 programmed, nothing of IPv6.
    const sets = inNs('hf-single', 'ipset list -n').split('\n').filter(Boolean);
    assert.ok(sets.includes('KUBE-CLUSTER-IP'), sets.join(' '));
    assert.deepEqual(sets.filter((s) => s.startsWith('KUBE-6-')), []);
    assert.match(inNs('hf-single', 'iptables-save'), /-A KUBE-SERVICES /);
    assert.doesNotMatch(inNs('hf-single', 'ip6tables-save'), /KUBE-/);
    const ipvs = inNs('hf-single', 'ipvsadm -Ln');
    assert.match(ipvs, /TCP {2}10\.96\.22\.1:80 rr/);
    assert.match(ipvs, /TCP {2}10\.252\.0\.1:30220 rr/);
    assert.doesNotMatch(ipvs, /\[/, 'no IPv6 virtual service');
    assert.match(single.logs, /single-stack node: this family is not programmed/);
    assert.match(single.logs, /net\.ipv6\.conf\.all\.disable_ipv6 = 1/);

    // Dual-stack: the same agent and manifests program IPv6 too, so the checks above can see it.
    const dualSets = inNs('hf-dual', 'ipset list -n');
    assert.match(dualSets, /^KUBE-6-CLUSTER-IP$/m);
    assert.match(inNs('hf-dual', 'ip6tables-save'), /-A KUBE-SERVICES /);
    const dualIpvs = inNs('hf-dual', 'ipvsadm -Ln');
    assert.match(dualIpvs, /TCP {2}\[fd00:96::22\]:80 rr/);
    assert.match(dualIpvs, /TCP {2}\[fd00:252::1\]:30220 rr/);
    assert.doesNotMatch(dualStack.logs, /single-stack node/);
  } finally {
    await Promise.all([single.stop(), dualStack.stop()]);
  }
});
