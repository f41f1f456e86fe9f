// A node that ran kube-proxy's iptables or nftables mode before kipvs: the old mode's rules, written as
// kube-proxy writes them (iptables-restore, nft -f), DNAT the test ClusterIP to a wrong pod. Before kipvs
// the client reaches the wrong pod, which shows the rules are live and shadow IPVS. After kipvs' first
// sync the client reaches the right one and nothing of the old mode is left in iptables-save or
// `nft list tables`. `kipvs diff` lists them beforehand; `kipvs cleanup` removes them too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { manifestSource } from '../../src/sources/manifests.js';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { endpointChain, portChains } from '../../src/backends/iptables/chains.js';
import { listTables } from '../../src/nftables/tables.js';
import { sh, shStatus, startBackend, resetKernel, type Backend } from './helpers.js';
import { service, sliceOf } from './agent-helpers.js';

const DIR = '/tmp/kipvs-other-modes';
const NODE = 'other-modes-node';
const VIP = '10.96.40.10';
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
const run = promisify(execFile);
let right: Backend, wrong: Backend, client: Backend;

/** One HTTP/1.0 GET from the client namespace (bash's /dev/tcp: busybox's static wget crashes in this guest): the body. */
const get = (host = VIP, port = 80) => shStatus(`ip netns exec ${client.ns} timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${port}; printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3'`)
  .stdout.trim().split('\n').pop()?.trim() ?? '';

function options(mode: 'ipvs' | 'iptables' = 'ipvs'): AgentOptions {
  return {
    nodeName: NODE, mode, scheduler: 'rr', strictARP: false, syncPeriodMs: 600_000, minSyncPeriodMs: 0,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '', metricsBindAddress: '',
    stateSocket: '', gracefulTerminationTimeoutMs: 60_000, iptables: { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: ['10.244.0.0/16'] },
    ...(mode === 'iptables' ? { iptablesBackend: 'nft' as const } : {}),
    healthCheckBindHost: '127.0.0.1', source: manifestSource({ dir: `${DIR}/manifests`, nodeName: NODE, log: quiet }), log: quiet,
  };
}

async function firstSyncOf(mode: 'ipvs' | 'iptables'): Promise<Record<string, number>> {
  const a = new Agent(options(mode));
  try {
    await a.start();
    await a.firstSync();
    return a.lastSync!.counts;
  } finally {
    await a.stop();
  }
}

async function kipvs(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args], { encoding: 'utf8' });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { status: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * kube-proxy's iptables-mode restore input for default/web:http → the wrong pod (its syncProxyRules for
 * one Service with one endpoint and a cluster CIDR: the order, comments and 0x00004000 marks it writes).
 */
function iptablesModeRules(): string {
  const { svc } = portChains('default/web:http', 'tcp');
  const sep = endpointChain('default/web:http', 'tcp', `${wrong.address}:8080`);
  const mark = '0x00004000';
  return [
    '*filter',
    ':KUBE-NODEPORTS - [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-EXTERNAL-SERVICES - [0:0]', ':KUBE-FIREWALL - [0:0]', ':KUBE-FORWARD - [0:0]', ':KUBE-PROXY-FIREWALL - [0:0]',
    '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    'COMMIT',
    '*nat',
    ':KUBE-NODEPORTS - [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-POSTROUTING - [0:0]', `:${svc} - [0:0]`, `:${sep} - [0:0]`,
    `-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`,
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`,
    `-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d ${VIP} --dport 80 -j ${svc}`,
    `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`,
    `-A ${svc} -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d ${VIP} --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`,
    `-A ${svc} -m comment --comment "default/web:http -> ${wrong.address}:8080" -j ${sep}`,
    `-A ${sep} -m comment --comment default/web:http -s ${wrong.address} -j KUBE-MARK-MASQ`,
    `-A ${sep} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination ${wrong.address}:8080`,
    'COMMIT', '',
  ].join('\n');
}

/** kube-proxy's jumps from the built-in chains in iptables mode (its iptablesJumpChains, then kubelet's KUBE-FIREWALL). */
const IPTABLES_MODE_JUMPS: [string, string, string, string][] = [
  ['filter', 'INPUT', 'KUBE-EXTERNAL-SERVICES', '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals"'],
  ['filter', 'FORWARD', 'KUBE-EXTERNAL-SERVICES', '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals"'],
  ['filter', 'INPUT', 'KUBE-NODEPORTS', '-m comment --comment "kubernetes health check service ports"'],
  ['filter', 'FORWARD', 'KUBE-SERVICES', '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals"'],
  ['filter', 'OUTPUT', 'KUBE-SERVICES', '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals"'],
  ['filter', 'FORWARD', 'KUBE-FORWARD', '-m comment --comment "kubernetes forwarding rules"'],
  ['filter', 'INPUT', 'KUBE-PROXY-FIREWALL', '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall"'],
  ['filter', 'OUTPUT', 'KUBE-PROXY-FIREWALL', '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall"'],
  ['filter', 'FORWARD', 'KUBE-PROXY-FIREWALL', '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall"'],
  ['nat', 'OUTPUT', 'KUBE-SERVICES', '-m comment --comment "kubernetes service portals"'],
  ['nat', 'PREROUTING', 'KUBE-SERVICES', '-m comment --comment "kubernetes service portals"'],
  ['nat', 'POSTROUTING', 'KUBE-POSTROUTING', '-m comment --comment "kubernetes postrouting rules"'],
  ['filter', 'INPUT', 'KUBE-FIREWALL', ''],
  ['filter', 'OUTPUT', 'KUBE-FIREWALL', ''],
];

function asIptablesModeWritesIt(): void {
  sh('iptables-restore --noflush', iptablesModeRules());
  for (const [table, chain, target, args] of IPTABLES_MODE_JUMPS) sh(`iptables -t ${table} -I ${chain} 1 ${args} -j ${target}`);
}

/**
 * kube-proxy's nftables mode for the same Service (pkg/proxy/nftables: one table per family, base chains
 * hooked at dstnat/srcnat, the service-ips verdict map into a per-port service chain, numgen into the
 * endpoint chain that DNATs), names as it makes them ("service-HASH-ns/name/proto/port",
 * "endpoint-HASH-ns/name/proto/port__ip/port").
 */
function nftablesModeRules(): string {
  const svc = 'service-ULMVA6XW-default/web/tcp/http';
  const ep = `endpoint-5TPGNJF2-default/web/tcp/http__${wrong.address}/8080`;
  return `
table ip kube-proxy {
  comment "rules for kube-proxy"
  set cluster-ips { type ipv4_addr; comment "Active ClusterIPs"; elements = { ${VIP} }; }
  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"; }
  map service-nodeports { type inet_proto . inet_service : verdict; comment "NodePort traffic"; }
  chain mark-for-masquerade { mark set mark or 0x4000; }
  chain masquerading { mark and 0x4000 == 0 return; mark set mark xor 0x4000; masquerade fully-random; }
  chain services {
    ip daddr . meta l4proto . th dport vmap @service-ips
    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
  }
  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }
  chain nat-output { type nat hook output priority -100; policy accept; jump services; }
  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; jump masquerading; }
  chain filter-forward { type filter hook forward priority -110; policy accept; ct state invalid drop; }
  chain ${svc} {
    ip daddr ${VIP} tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
    numgen random mod 1 vmap { 0 : goto ${ep} }
  }
  chain ${ep} {
    ip saddr ${wrong.address} jump mark-for-masquerade
    meta l4proto tcp dnat to ${wrong.address}:8080
  }
}
add element ip kube-proxy service-ips { ${VIP} . tcp . 80 : goto ${svc} }
table ip6 kube-proxy {
  comment "rules for kube-proxy"
  map service-ips { type ipv6_addr . inet_proto . inet_service : verdict; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"; }
  chain services { ip6 daddr . meta l4proto . th dport vmap @service-ips; }
  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }
  chain nat-output { type nat hook output priority -100; policy accept; jump services; }
}
`;
}

const nftTables = () => sh('nft list tables');
/** What of iptables mode is in the nft-backed tables: its per-Service chains, its own top chains, DNATs. */
function iptablesModeLeft(): string[] {
  const save = sh('iptables-nft-save');
  let table = '';
  const out: string[] = [];
  for (const l of save.split('\n')) {
    if (l.startsWith('*')) table = l.slice(1);
    if (/^:KUBE-(SVC|SEP|SVL|EXT|FW)-/.test(l) || /-j DNAT/.test(l)) out.push(`${table} ${l}`);
    if (/^:KUBE-(NODEPORTS|EXTERNAL-SERVICES) /.test(l) || (table === 'filter' && /^:KUBE-SERVICES /.test(l))) out.push(`${table} ${l}`);
    if (/^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-(NODEPORTS|EXTERNAL-SERVICES)$/.test(l)) out.push(`${table} ${l}`);
    if (table === 'filter' && /^-A (INPUT|OUTPUT|FORWARD) .*-j KUBE-SERVICES$/.test(l)) out.push(`${table} ${l}`);
  }
  return out;
}

before(() => {
  resetKernel();
  shStatus('nft delete table ip kube-proxy; nft delete table ip6 kube-proxy');
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/manifests`, { recursive: true });
  sh('echo 1 > /proc/sys/net/ipv4/ip_forward');
  right = startBackend('om-right', 97);
  wrong = startBackend('om-wrong', 98);
  client = startBackend('om-client', 99);
  writeFileSync(`${DIR}/manifests/objects.yaml`, [
    { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } },
    service('web', { clusterIP: VIP, clusterIPs: [VIP], ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] }),
    sliceOf(NODE, 'web-1', 'web', [{ name: 'http', port: 8080 }], [{ ip: right.address }]),
  ].map((o) => stringify(o)).join('---\n'));
});

after(() => {
  for (const b of [right, wrong, client]) b?.stop();
  resetKernel();
  shStatus('nft delete table ip kube-proxy; nft delete table ip6 kube-proxy');
  rmSync(DIR, { recursive: true, force: true });
});

test('from kube-proxy\'s iptables mode: its DNAT shadows kipvs until the first sync removes its chains; ClusterIP traffic then reaches the IPVS backend', async () => {
  asIptablesModeWritesIt();
  assert.equal(get(), wrong.ns, 'the old rules are live');
  assert.ok(iptablesModeLeft().length >= 8, iptablesModeLeft().join('\n'));
  const d = await kipvs('diff', '--manifests', `${DIR}/manifests`, '--hostname-override', NODE, '--cluster-cidr', '10.244.0.0/16', '--color', 'never');
  assert.equal(d.status, 1, d.stdout + d.stderr);
  assert.match(d.stdout, /@@ iptables-chain inet \(nft\) nat KUBE-SEP-\w+ @@ iptables mode's leftover/);
  const counts = await firstSyncOf('ipvs');
  assert.ok((counts['delete-chain'] ?? 0) >= 5, JSON.stringify(counts));
  for (let i = 0; i < 4; i++) assert.equal(get(), right.ns, `request ${i}`);
  assert.deepEqual(iptablesModeLeft(), []);
  // Kubelet's chain stays; the chains both modes use are IPVS mode's now.
  const save = sh('iptables-nft-save');
  assert.match(save, /^:KUBE-FIREWALL /m);
  assert.match(save, /^-A KUBE-SERVICES .*--match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT$/m);
  assert.ok(sh('ipvsadm -Ln').includes(`${right.address}:8080`));
});

test('from kube-proxy\'s nftables mode: its tables shadow kipvs until the first sync deletes them; kipvs diff lists them', async () => {
  resetKernel();
  sh('nft -f -', nftablesModeRules());
  sh('nft add table inet kipvs-test-other; nft add table bridge kipvs-test-other');
  assert.match(nftTables(), /^table ip kube-proxy$/m);
  // The agent lists tables over netlink: the same list as nft's, every family.
  const listed = listTables();
  assert.deepEqual(listed, nftTables().split('\n').filter((l) => l.startsWith('table ')).map((l) => l.slice('table '.length)));
  assert.ok(listed.includes('ip kube-proxy') && listed.includes('ip6 kube-proxy') && listed.includes('bridge kipvs-test-other'), listed.join(', '));
  sh('nft delete table inet kipvs-test-other; nft delete table bridge kipvs-test-other');
  assert.equal(get(), wrong.ns, 'the old tables are live');
  const d = await kipvs('diff', '--manifests', `${DIR}/manifests`, '--hostname-override', NODE, '--cluster-cidr', '10.244.0.0/16', '--color', 'never');
  assert.equal(d.status, 1, d.stdout + d.stderr);
  assert.match(d.stdout, /@@ nft-table ip kube-proxy @@ kube-proxy's nftables mode's leftover\n-table ip kube-proxy \{/);
  assert.match(d.stdout, /@@ nft-table ip6 kube-proxy @@/);
  assert.match(d.stdout, /^-.*dnat to 10\.244\.98\.2:8080/m);
  assert.match(nftTables(), /^table ip kube-proxy$/m, 'the diff deleted nothing');
  const counts = await firstSyncOf('ipvs');
  assert.equal(counts['delete-nft-table'], 2, JSON.stringify(counts));
  for (let i = 0; i < 4; i++) assert.equal(get(), right.ns, `request ${i}`);
  assert.doesNotMatch(nftTables(), /kube-proxy/);
});

test('kipvs in iptables mode drops nftables mode\'s tables too: its DNATs would run beside its own', async () => {
  resetKernel();
  sh('nft -f -', nftablesModeRules());
  assert.equal(get(), wrong.ns);
  const counts = await firstSyncOf('iptables');
  assert.equal(counts['delete-nft-table'], 2, JSON.stringify(counts));
  for (let i = 0; i < 4; i++) assert.equal(get(), right.ns, `request ${i}`);
  assert.doesNotMatch(nftTables(), /kube-proxy/);
});

test('kipvs cleanup removes iptables mode\'s chains and nftables mode\'s tables; other tables stay', async () => {
  resetKernel();
  asIptablesModeWritesIt();
  sh('nft -f -', nftablesModeRules());
  sh('nft add table inet operator-table');
  try {
    const r = await kipvs('cleanup');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /and 2 nftables tables \(ip kube-proxy, ip6 kube-proxy\)\n$/);
    assert.doesNotMatch(nftTables(), /kube-proxy/);
    assert.match(nftTables(), /^table inet operator-table$/m);
    assert.deepEqual(iptablesModeLeft(), []);
    assert.doesNotMatch(sh('iptables-nft-save'), /KUBE-(SERVICES|POSTROUTING|MARK-MASQ|FORWARD|PROXY-FIREWALL)/);
  } finally {
    shStatus('nft delete table inet operator-table');
  }
});
