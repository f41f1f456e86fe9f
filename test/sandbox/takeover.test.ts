// Taking over a node that kube-proxy's IPVS mode programmed, and `kipvs diff` as the oracle of what a
// first sync would do. The node is built as kube-proxy writes it, from its sources (pkg/proxy/ipvs:
// writeIptablesRules, iptablesJumpChain, ipsetInfo and the ipset defaults, syncProxyRules' virtual
// servers): its iptables-restore input with its comments and its 0x00004000 marks, its jumps prepended
// in its order, its 17 sets per family created with its options, its virtual servers and kube-ipvs0.
// With HTTP load through each Service, `kipvs diff` says nothing would change, the agent then changes
// nothing, and each built-in chain keeps one jump. Then hand edits show up in the diff, and only they;
// the diff itself changes nothing. Last, the same from kube-proxy's iptables mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { manifestSource } from '../../src/sources/manifests.js';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { sh, shStatus, startBackend, resetKernel, type Backend } from './helpers.js';
import { IPSETS } from '../../src/iptables/names.js';
import { service, sliceOf, trafficLoop } from './agent-helpers.js';
import { main as diffMain } from '../../src/cli/diff.js';

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
    // kube-proxy tests loadBalancerSourceRanges against the Node's IP (without one, 127.0.0.1).
    { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: '10.244.95.1' }] } },
    service('web', { type: 'NodePort', clusterIP: '10.96.30.10', clusterIPs: ['10.96.30.10'], ipFamilies: ['IPv4'], ports: port(30310) }),
    slice('web-1', 'web', [be0!, be1!]),
    { ...service('lb', { type: 'LoadBalancer', clusterIP: '10.96.30.11', clusterIPs: ['10.96.30.11'], ipFamilies: ['IPv4'], ports: port(30311), loadBalancerSourceRanges: ['10.244.0.0/16'] }), status: { loadBalancer: { ingress: [{ ip: '192.0.2.31' }] } } },
    slice('lb-1', 'lb', [be0!]),
    service('local', { type: 'NodePort', externalTrafficPolicy: 'Local', clusterIP: '10.96.30.12', clusterIPs: ['10.96.30.12'], ipFamilies: ['IPv4'], ports: port(30312) }),
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

const diffArgs = (extra: string[]) => ['--manifests', `${DIR}/manifests`, '--hostname-override', NODE, '--cluster-cidr', '10.244.0.0/16', '--color', 'never', ...extra];

/** `kipvs diff` as its own process (once: the command as an operator runs it). */
async function diffProcess(...extra: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, 'diff', ...diffArgs(extra)], { encoding: 'utf8' });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { status: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The same command's main() in this process: a process start costs ~13 s in the emulated guest. */
async function diff(...extra: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await diffMain(diffArgs(extra), { out: { write: (t: string) => { stdout += t; } }, err: { write: (t: string) => { stderr += t; } } });
  return { status, stdout, stderr };
}

/** kube-proxy's IPVS-mode iptables-restore input for one family (its writeIptablesRules, for these Services). */
function kubeProxyRules(v6: boolean): string {
  const set = (name: string) => (v6 ? IPSETS.find((i) => i.name('inet') === name)!.name('inet6') : name);
  const mark = '0x00004000';
  const nat = [
    '*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-POSTROUTING - [0:0]', ':KUBE-NODE-PORT - [0:0]', ':KUBE-LOAD-BALANCER - [0:0]', ':KUBE-MARK-MASQ - [0:0]',
    `-A KUBE-SERVICES -s ${v6 ? '::1/128' : '127.0.0.0/8'} -j RETURN`,
    ...(v6 ? [] : [
      '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
      '-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER',
      '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN',
      '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
      '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ',
    ]),
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    '-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ',
    ...(v6 ? [] : ['-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT', '-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT']),
    `-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`,
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`,
    'COMMIT',
  ];
  const filter = [
    '*filter', ':KUBE-FORWARD - [0:0]', ':KUBE-NODE-PORT - [0:0]', ':KUBE-PROXY-FIREWALL - [0:0]', ':KUBE-SOURCE-RANGES-FIREWALL - [0:0]', ':KUBE-IPVS-FILTER - [0:0]', ':KUBE-IPVS-OUT-FILTER - [0:0]',
    ...(v6 ? [] : [
      '-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL',
      '-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source cidr for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN',
      '-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source IP for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN',
    ]),
    '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
    `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    `-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set ${set('KUBE-HEALTH-CHECK-NODE-PORT')} dst -j ACCEPT`,
    ...['KUBE-LOAD-BALANCER', 'KUBE-CLUSTER-IP', 'KUBE-EXTERNAL-IP', 'KUBE-EXTERNAL-IP-LOCAL'].map((n) => `-A KUBE-IPVS-FILTER -m set --match-set ${set(n)} dst,dst -j RETURN`),
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('KUBE-HEALTH-CHECK-NODE-PORT')} dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set ${set('KUBE-IPVS-IPS')} dst -j REJECT`,
    'COMMIT',
  ];
  return [...nat, ...filter, ''].join('\n');
}

/** The node as kube-proxy's IPVS mode leaves it for objects(): sysctls, sets, kube-ipvs0, virtual servers, rules, jumps. */
function asKubeProxyWritesIt(): void {
  const [be0, be1] = backends.map((b) => b.address);
  asKubeProxySetsConntrack();
  for (const k of ['vs/conntrack', 'vs/expire_nodest_conn', 'vs/expire_quiescent_template', 'ip_forward']) sh(`echo 1 > /proc/sys/net/ipv4/${k}`);
  // The 17 sets of each family with kube-proxy's create options, and the entries of these Services.
  const sets: string[] = [];
  for (const family of ['inet', 'inet6'] as const) {
    for (const info of IPSETS) {
      const name = info.name(family);
      sets.push(info.type === 'bitmap:port' ? `create ${name} bitmap:port range 0-65535` : `create ${name} ${info.type} family ${family} hashsize 1024 maxelem 65536`);
    }
  }
  sets.push(
    `add KUBE-LOOP-BACK ${be0},tcp:8080,${be0}`, `add KUBE-LOOP-BACK ${be1},tcp:8080,${be1}`,
    ...['10.96.30.10', '10.96.30.11', '10.96.30.12', '10.96.30.13'].map((a) => `add KUBE-CLUSTER-IP ${a},tcp:80`),
    'add KUBE-LOAD-BALANCER 192.0.2.31,tcp:80', 'add KUBE-LOAD-BALANCER-FW 192.0.2.31,tcp:80',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 192.0.2.31,tcp:80,10.244.0.0/16', 'add KUBE-LOAD-BALANCER-SOURCE-IP 192.0.2.31,tcp:80,192.0.2.31',
    'add KUBE-NODE-PORT-TCP 30310', 'add KUBE-NODE-PORT-TCP 30311', 'add KUBE-NODE-PORT-TCP 30312', 'add KUBE-NODE-PORT-LOCAL-TCP 30312',
    ...['10.96.30.10', '10.96.30.11', '10.96.30.12', '10.96.30.13', '192.0.2.31'].map((a) => `add KUBE-IPVS-IPS ${a}`),
  );
  sh('ipset restore', sets.join('\n') + '\n');
  // kube-ipvs0 with every VIP, and the virtual servers: ClusterIPs, the load balancer, NodePorts on every node address.
  sh('ip link add kube-ipvs0 type dummy');
  for (const a of ['10.96.30.10', '10.96.30.11', '10.96.30.12', '10.96.30.13', '192.0.2.31']) sh(`ip addr add ${a}/32 dev kube-ipvs0`);
  const nodeAddrs = sh("ip -4 -o addr show | awk '$2 != \"lo\" && $2 != \"kube-ipvs0\" { split($4, a, \"/\"); print a[1] }'").trim().split('\n');
  const vs = (addr: string, port: number, servers: string[], extra = '') => [`-A -t ${addr}:${port} -s rr${extra}`, ...servers.map((r) => `-a -t ${addr}:${port} -r ${r}:8080 -m -w 1`)];
  const ipvs = [
    ...vs('10.96.30.10', 80, [be0!, be1!]), ...vs('10.96.30.11', 80, [be0!]), ...vs('192.0.2.31', 80, [be0!]),
    ...vs('10.96.30.12', 80, [be1!]), ...vs('10.96.30.13', 80, [be0!, be1!], ' -p 600'),
    ...nodeAddrs.flatMap((a) => [...vs(a, 30310, [be0!, be1!]), ...vs(a, 30311, [be0!]), ...vs(a, 30312, [be1!])]),
  ];
  sh('ipvsadm -R', ipvs.join('\n') + '\n');
  // The rules (one restore per family), then the jumps, each prepended in kube-proxy's table order.
  sh('iptables-restore --noflush', kubeProxyRules(false));
  sh('ip6tables-restore --noflush', kubeProxyRules(true));
  for (const bin of ['iptables', 'ip6tables']) {
    for (const [table, chain, target] of [
      ['nat', 'OUTPUT', 'KUBE-SERVICES'], ['nat', 'PREROUTING', 'KUBE-SERVICES'], ['nat', 'POSTROUTING', 'KUBE-POSTROUTING'],
      ['filter', 'FORWARD', 'KUBE-FORWARD'], ['filter', 'INPUT', 'KUBE-NODE-PORT'], ['filter', 'INPUT', 'KUBE-PROXY-FIREWALL'],
      ['filter', 'FORWARD', 'KUBE-PROXY-FIREWALL'], ['filter', 'INPUT', 'KUBE-IPVS-FILTER'], ['filter', 'OUTPUT', 'KUBE-IPVS-OUT-FILTER'],
    ] as const) {
      sh(`${bin} -t ${table} -I ${chain} 1 -m comment --comment "${JUMP_COMMENTS[target]}" -j ${target}`);
    }
  }
}

/**
 * kube-proxy's conntrack settings at their defaults, as it leaves them in both modes (written here by
 * the shell): nf_conntrack_max = max(32768 × CPUs, 131072), hashsize at least a quarter of it, the
 * established and CLOSE_WAIT timeouts at 24 h and 1 h.
 */
function asKubeProxySetsConntrack(): void {
  shStatus('modprobe nf_conntrack');
  sh('max=$((32768 * $(nproc --all))); [ $max -lt 131072 ] && max=131072; echo $max > /proc/sys/net/netfilter/nf_conntrack_max; '
    + 'h=/sys/module/nf_conntrack/parameters/hashsize; [ $(cat $h) -lt $((max / 4)) ] && echo $((max / 4)) > $h; '
    + 'echo 86400 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established; echo 3600 > /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait; true');
}

const jumpsInto = (save: string) => save.split('\n').filter((l) => /^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j KUBE-/.test(l));

before(async () => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/manifests`, { recursive: true });
  backends.push(startBackend('tk-be0', 95), startBackend('tk-be1', 96));
  writeFileSync(`${DIR}/manifests/objects.yaml`, objects().map((o) => stringify(o)).join('---\n'));
  asKubeProxyWritesIt();
});

after(() => {
  for (const b of backends) b.stop();
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

test('takeover from kube-proxy\'s IPVS mode: kipvs diff shows nothing to change; the agent changes nothing under load; one jump per built-in chain', async () => {
  const save0 = sh('iptables-save');
  assert.match(save0, /-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
  assert.match(save0, /--set-xmark 0x4000\/0x4000/);
  const d = await diffProcess();
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

test('kipvs diff after hand edits: exactly those, as the first sync would undo them, exit 1; foreign objects listed; nothing changed by the diff', async (t) => {
  t.after(() => void shStatus('ipvsadm -D -t 198.51.100.7:80'));
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
  sh('ipvsadm -D -t 198.51.100.7:80');

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
