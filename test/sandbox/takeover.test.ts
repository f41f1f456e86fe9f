// Taking over a node that kube-proxy's IPVS mode programmed, and `kipvs diff` as the oracle of what a
// first sync would do. The node is built as kube-proxy leaves it: the virtual servers, VIPs, sets and
// chains (programmed once, then every rule and jump rewritten with kube-proxy's comments: its jump
// comments are those of its proxier's iptablesJumpChain, its chain rules carry other comments than
// kipvs'). With HTTP load through each Service, `kipvs diff` says nothing would change, the agent then
// changes nothing, and each built-in chain keeps one jump. Then hand edits show up in the diff, and
// only they; the diff itself changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { manifestSource } from '../../src/sources/manifests.js';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { sh, shStatus, startBackend, resetKernel, type Backend } from './helpers.js';
import { service, sliceOf, trafficLoop } from './agent-helpers.js';

const DIR = '/tmp/kipvs-takeover';
const NODE = 'takeover-node';
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
const run = promisify(execFile);
const backends: Backend[] = [];

/** kube-proxy's IPVS-mode jump comments, by target chain (its proxier's iptablesJumpChain). */
const JUMP_COMMENTS: Record<string, string> = {
  'KUBE-SERVICES': 'kubernetes service portals',
  'KUBE-POSTROUTING': 'kubernetes postrouting rules',
  'KUBE-FORWARD': 'kubernetes forwarding rules',
  'KUBE-NODE-PORT': 'kubernetes health check rules',
  'KUBE-PROXY-FIREWALL': 'kube-proxy firewall rules',
  'KUBE-IPVS-FILTER': 'kubernetes ipvs access filter',
  'KUBE-IPVS-OUT-FILTER': 'kubernetes ipvs access filter',
};

function objects(): object[] {
  const [be0, be1] = backends.map((b) => b.address);
  const slice = (name: string, svc: string, ips: string[]) => sliceOf(NODE, name, svc, [{ name: 'http', port: 8080 }], ips.map((ip) => ({ ip })));
  const port = (nodePort?: number) => [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', ...(nodePort ? { nodePort } : {}) }];
  return [
    { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } },
    service('web', { type: 'NodePort', clusterIP: '10.96.30.10', clusterIPs: ['10.96.30.10'], ipFamilies: ['IPv4'], ports: port(30310) }),
    slice('web-1', 'web', [be0!, be1!]),
    { ...service('lb', { type: 'LoadBalancer', clusterIP: '10.96.30.11', clusterIPs: ['10.96.30.11'], ipFamilies: ['IPv4'], ports: port(30311), loadBalancerSourceRanges: ['10.244.0.0/16'] }), status: { loadBalancer: { ingress: [{ ip: '192.0.2.31' }] } } },
    slice('lb-1', 'lb', [be0!]),
    service('local', { type: 'NodePort', externalTrafficPolicy: 'Local', healthCheckNodePort: 30412, clusterIP: '10.96.30.12', clusterIPs: ['10.96.30.12'], ipFamilies: ['IPv4'], ports: port(30312) }),
    slice('local-1', 'local', [be1!]),
    service('sticky', { clusterIP: '10.96.30.13', clusterIPs: ['10.96.30.13'], ipFamilies: ['IPv4'], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, ports: port() }),
    slice('sticky-1', 'sticky', [be0!, be1!]),
  ];
}

function options(): AgentOptions {
  return {
    nodeName: NODE, mode: 'ipvs', scheduler: 'rr', strictARP: false, syncPeriodMs: 600_000, minSyncPeriodMs: 0,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '', metricsBindAddress: '',
    stateSocket: '', gracefulTerminationTimeoutMs: 60_000, iptables: { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: ['10.244.0.0/16'] },
    healthCheckBindHost: '127.0.0.1', source: manifestSource({ dir: `${DIR}/manifests`, nodeName: NODE, log: quiet }), log: quiet,
  };
}

async function diff(...extra: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, 'diff', '--manifests', `${DIR}/manifests`, '--hostname-override', NODE, '--cluster-cidr', '10.244.0.0/16', '--color', 'never', ...extra], { encoding: 'utf8' });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { status: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Every KUBE- rule and jump rewritten as kube-proxy writes them: its jump comments, other comments in the chains. */
function asKubeProxyLeavesIt(): void {
  for (const table of ['nat', 'filter']) {
    const text = sh(`iptables-save -t ${table}`).split('\n').map((l) => {
      const jump = /^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j (KUBE-\S+)$/.exec(l);
      if (jump) return `-A ${jump[1]} -m comment --comment "${JUMP_COMMENTS[jump[2]!]}" -j ${jump[2]}`;
      if (l.startsWith('-A KUBE-')) return l.replace(/ -m comment --comment ("[^"]*"|\S+)/, ' -m comment --comment "kube-proxy wrote this"');
      return l;
    }).join('\n');
    sh(`iptables-restore -T ${table}`, text);
  }
}

const jumpsInto = (save: string) => save.split('\n').filter((l) => /^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j KUBE-/.test(l));

before(async () => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/manifests`, { recursive: true });
  backends.push(startBackend('tk-be0', 95), startBackend('tk-be1', 96));
  writeFileSync(`${DIR}/manifests/objects.yaml`, objects().map((o) => stringify(o)).join('---\n'));
  // The node as kube-proxy's IPVS mode left it.
  const a = new Agent(options());
  await a.start();
  await a.firstSync();
  await a.stop();
  asKubeProxyLeavesIt();
});

after(() => {
  for (const b of backends) b.stop();
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

test('takeover from kube-proxy\'s IPVS mode: kipvs diff shows nothing to change; the agent changes nothing under load; one jump per built-in chain', async () => {
  const save0 = sh('iptables-save');
  assert.match(save0, /-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
  assert.ok(!save0.includes('kipvs'), 'no kipvs comment is left on the node');
  const d = await diff();
  assert.equal(d.status, 0, `diff: ${d.stdout}${d.stderr}`);
  assert.match(d.stdout, /^# nothing to change\n$/m);
  const ipvs0 = sh('ipvsadm -Sn');
  const sets0 = sh('ipset save');
  assert.equal(sh('ipvsadm -Sn'), ipvs0, 'the diff changed nothing');

  // ClusterIP, the eTP Local NodePort and the affinity Service from the node; the load balancer from a
  // pod's namespace (inside its source ranges).
  const targets: [string, number, string?][] = [['10.96.30.10', 80], [backends[0]!.hostAddress, 30312], ['10.96.30.13', 80], ['192.0.2.31', 80, 'tk-be1']];
  const loads = await Promise.all(targets.map(([h, p, ns]) => trafficLoop(DIR, h, p, ns)));
  const a = new Agent(options());
  try {
    await a.start();
    await a.firstSync();
    assert.deepEqual(a.lastSync!.counts, {}, `the first sync made changes: ${JSON.stringify(a.lastSync!.counts)}`);
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    for (const l of loads) await l.stop();
    await a.stop();
  }
  for (const [i, l] of loads.entries()) {
    assert.deepEqual(l.failures, [], `load ${i}`);
    assert.ok(l.seen.length > 3, `load ${i} ran: ${l.seen.length}`);
  }
  // Observed in the kernel: the same virtual servers, sets and rules as before, one jump per built-in chain.
  assert.equal(sh('ipvsadm -Sn'), ipvs0);
  assert.equal(sh('ipset save'), sets0);
  const save1 = sh('iptables-save');
  assert.deepEqual(jumpsInto(save1), jumpsInto(save0));
  const perChain = new Map<string, number>();
  for (const j of jumpsInto(save1)) {
    const key = `${/^-A (\S+)/.exec(j)![1]} ${/-j (\S+)$/.exec(j)![1]}`;
    perChain.set(key, (perChain.get(key) ?? 0) + 1);
  }
  assert.equal(perChain.size, 9, [...perChain.keys()].join(', '));
  assert.deepEqual([...new Set(perChain.values())], [1]);
});

test('kipvs diff after hand edits: exactly those, as the first sync would undo them, exit 1; foreign objects listed; nothing changed by the diff', async () => {
  const [be0] = backends.map((b) => b.address);
  sh(`ipvsadm -d -t 10.96.30.10:80 -r ${be0}:8080`);
  sh('ipvsadm -A -t 198.51.100.7:80 -s wlc');
  sh('ipset del KUBE-CLUSTER-IP 10.96.30.13,tcp:80');
  sh('iptables -t nat -I OUTPUT 1 -m comment --comment "a second jump" -j KUBE-SERVICES');
  const ipvs = sh('ipvsadm -Sn');
  const d = await diff();
  assert.equal(d.status, 1, d.stdout + d.stderr);
  assert.equal(sh('ipvsadm -Sn'), ipvs, 'the diff changed nothing');
  assert.match(d.stdout, /@@ virtual-service TCP 10\.96\.30\.10:80 @@ default\/web:http \(ClusterIP\)\n\+-a -t 10\.96\.30\.10:80 -r 10\.244\.95\.2:8080 -m -w 1\n/);
  assert.match(d.stdout, /@@ ipset KUBE-CLUSTER-IP @@\n\+add KUBE-CLUSTER-IP 10\.96\.30\.13,tcp:80\n/);
  assert.match(d.stdout, /-t nat -A OUTPUT -m comment --comment "a second jump" -j KUBE-SERVICES/);
  assert.match(d.stdout, / virtual-service TCP 198\.51\.100\.7:80: not on a kube-ipvs0 or node address/);
  assert.match(d.stdout, /^# 1 real server to add, 1 ipset entry to add, 1 iptables jump to remove; 1 foreign object left alone$/m);
  const json = JSON.parse((await diff('--output', 'json')).stdout);
  assert.deepEqual(json.summary, { 'real-server': { add: 1, change: 0, remove: 0 }, 'ipset-entry': { add: 1, change: 0, remove: 0 }, 'iptables-jump': { add: 0, change: 0, remove: 1 } });
  assert.deepEqual(json.foreign.map((f: { name: string }) => f.name), ['TCP 198.51.100.7:80']);

  // The agent's first sync does what the diff said, and then the diff says nothing.
  const a = new Agent(options());
  try {
    await a.start();
    await a.firstSync();
    const c = a.lastSync!.counts;
    assert.equal(c['add-server'], 1);
    assert.equal(c['ipset-add'], 1);
  } finally {
    await a.stop();
  }
  const again = await diff();
  assert.equal(again.status, 0, again.stdout);
  shStatus('ipvsadm -D -t 198.51.100.7:80');
});

test('kipvs diff --proxy-mode iptables on this IPVS node: iptables mode\'s chains to add, IPVS mode\'s state to remove', async () => {
  const d = await diff('--proxy-mode', 'iptables', '--output', 'json');
  assert.equal(d.status, 1, d.stderr);
  const j = JSON.parse(d.stdout) as { changes: { object: string; action: string; name: string; note?: string }[] };
  const names = (object: string, action: string) => j.changes.filter((c) => c.object === object && c.action === action).map((c) => c.name);
  assert.ok(names('iptables-chain', 'add').some((n) => /nat KUBE-SVC-/.test(n)), 'per-Service chains to add');
  assert.deepEqual(names('link', 'remove'), ['kube-ipvs0']);
  assert.deepEqual(names('virtual-service', 'remove').sort(), sh('ipvsadm -Ln').split('\n').filter((l) => /^TCP/.test(l)).map((l) => l.trim().split(/\s+/).slice(0, 2).join(' ')).sort());
  assert.ok(names('ipset', 'remove').includes('KUBE-CLUSTER-IP'));
  assert.ok(sh('ipvsadm -Sn').includes('10.96.30.10'), 'still there: the diff removed nothing');
});

test('takeover from kube-proxy\'s iptables mode: kipvs diff shows nothing to change; the agent\'s first (full) restore under load loses no request; one jump each', async () => {
  resetKernel();
  // Without VIPs on kube-ipvs0 a ClusterIP needs a route for the first routing decision (a default route does it on a real node).
  shStatus(`ip route add 10.96.0.0/12 via ${backends[0]!.address}`);
  try {
    const ipt = { ...options(), mode: 'iptables' as const, iptablesBackend: 'nft' as const };
    // The node as kube-proxy's iptables mode leaves it: kipvs' renderer writes its text (checked
    // against kube-proxy's own proxier tests), here with one agent run.
    const a0 = new Agent({ ...ipt, source: manifestSource({ dir: `${DIR}/manifests`, nodeName: NODE, log: quiet }) });
    await a0.start();
    await a0.firstSync();
    await a0.stop();
    const save0 = sh('iptables-nft-save');
    assert.match(save0, /^:KUBE-SVC-/m);
    const d = await diff('--proxy-mode', 'iptables', '--iptables-backend', 'nft');
    assert.equal(d.status, 0, `diff: ${d.stdout}${d.stderr}`);
    assert.match(d.stdout, /^# nothing to change\n$/m);

    const targets: [string, number, string?][] = [['10.96.30.10', 80], ['10.96.30.13', 80], ['192.0.2.31', 80, 'tk-be1']];
    const loads = await Promise.all(targets.map(([h, p, ns]) => trafficLoop(DIR, h, p, ns)));
    const a = new Agent({ ...ipt, source: manifestSource({ dir: `${DIR}/manifests`, nodeName: NODE, log: quiet }) });
    let counts: Record<string, number> = {};
    try {
      await a.start();
      await a.firstSync();
      counts = a.lastSync!.counts;
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      for (const l of loads) await l.stop();
      await a.stop();
    }
    // kube-proxy's first sync restores everything too (one iptables-restore per family); nothing else.
    assert.deepEqual(Object.keys(counts).filter((k) => k !== 'restore-lines'), [], JSON.stringify(counts));
    for (const [i, l] of loads.entries()) {
      assert.deepEqual(l.failures, [], `load ${i}`);
      assert.ok(l.seen.length > 3, `load ${i} ran: ${l.seen.length}`);
    }
    const save1 = sh('iptables-nft-save');
    const rules = (t: string) => t.split('\n').filter((l) => l.startsWith('-A ') || l.startsWith(':KUBE-')).sort();
    assert.deepEqual(rules(save1), rules(save0), 'the same chains and rules');
    const jumps = jumpsInto(save1);
    assert.equal(new Set(jumps).size, jumps.length, `a doubled jump: ${jumps.join('\n')}`);
  } finally {
    shStatus('ip route del 10.96.0.0/12');
  }
});
