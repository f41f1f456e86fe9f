// detectLocalMode with real traffic, in both proxy modes: an off-node client routed through this node to
// a ClusterIP is masqueraded (the backend sees the node's address), a pod the detector recognises is
// not (the backend sees the pod's address), and a pod it does not recognise is masqueraded like any
// outsider. Two "pods": one on a bridge (kbr0, 10.244.88.0/24, the Node's podCIDR) and one routed over a
// veth whose host side is named with a prefix (lxcdl0, 10.244.87.0/24); the client sits on a network of
// its own (10.252.0.0/24). Each mode/detector pair is one agent run, from a clean kernel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { manifestSource } from '../../src/sources/manifests.js';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import type { DetectLocalOptions } from '../../src/iptables/local-detector.js';
import { sh, shStatus, startBackend, resetKernel, type Backend } from './helpers.js';
import { service, sliceOf, synced } from './agent-helpers.js';

const DIR = '/tmp/kipvs-detect-local';
const NODE = 'detect-local-node';
const VIP = '10.96.50.10';
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
let be: Backend;

const EXT = { ns: 'dl-ext', address: '10.252.0.2' };
const BRIDGED = { ns: 'dl-podbr', address: '10.244.88.2' };
const PREFIXED = { ns: 'dl-podlxc', address: '10.244.87.2' };

/** The client address the backend saw for a request from `ns` to the ClusterIP (bash's /dev/tcp; busybox httpd prints IPv4 peers as [::ffff:a.b.c.d]). */
function peer(ns: string): string {
  const r = shStatus(`ip netns exec ${ns} timeout 10 bash -c 'exec 3<>/dev/tcp/${VIP}/80; printf "GET /cgi-bin/peer HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3'`);
  return r.stdout.trim().split('\n').pop()!.trim().replace(/^\[(?:::ffff:)?(.*)\]$/, '$1');
}

function options(mode: 'ipvs' | 'iptables', detectLocal: DetectLocalOptions): AgentOptions {
  return {
    nodeName: NODE, mode, scheduler: 'rr', strictARP: false, syncPeriodMs: 600_000, minSyncPeriodMs: 0,
    excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [], healthzBindAddress: '', metricsBindAddress: '',
    stateSocket: '', gracefulTerminationTimeoutMs: 60_000,
    iptables: { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: ['10.244.0.0/16'], detectLocal },
    ...(mode === 'iptables' ? { iptablesBackend: 'nft' as const } : {}),
    healthCheckBindHost: '127.0.0.1', source: manifestSource({ dir: `${DIR}/manifests`, nodeName: NODE, log: quiet }), log: quiet,
  };
}

before(() => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/manifests`, { recursive: true });
  sh('echo 1 > /proc/sys/net/ipv4/ip_forward');
  be = startBackend('dl-be', 86);
  const ns = (name: string, hostIf: string, hostAddr: string, addr: string, bridge?: string) => sh(`ip netns add ${name}
    ip link add ${hostIf} type veth peer name eth0 netns ${name}
    ${bridge ? `ip link set ${hostIf} master ${bridge}` : `ip addr add ${hostAddr}/24 dev ${hostIf}`} && ip link set ${hostIf} up
    ip -n ${name} link set lo up && ip -n ${name} addr add ${addr}/24 dev eth0 && ip -n ${name} link set eth0 up
    ip -n ${name} route add default via ${hostAddr}`);
  ns(EXT.ns, 'v-dl-ext', '10.252.0.1', EXT.address);
  sh('ip link add kbr0 type bridge && ip addr add 10.244.88.1/24 dev kbr0 && ip link set kbr0 up');
  ns(BRIDGED.ns, 'vb-dlpod', '10.244.88.1', BRIDGED.address, 'kbr0');
  ns(PREFIXED.ns, 'lxcdl0', '10.244.87.1', PREFIXED.address);
  writeFileSync(`${DIR}/manifests/objects.yaml`, [
    { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, spec: { podCIDR: '10.244.88.0/24', podCIDRs: ['10.244.88.0/24'] } },
    service('web', { clusterIP: VIP, clusterIPs: [VIP], ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] }),
    sliceOf(NODE, 'web-1', 'web', [{ name: 'http', port: 8080 }], [{ ip: be.address }]),
  ].map((o) => stringify(o)).join('---\n'));
});

after(() => {
  be?.stop();
  for (const n of [EXT.ns, BRIDGED.ns, PREFIXED.ns]) shStatus(`ip netns del ${n}`);
  shStatus('ip link del v-dl-ext; ip link del lxcdl0; ip link del kbr0');
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

/** Per detector: which of the two pods it recognises (and so does not masquerade). */
const CASES: [string, DetectLocalOptions, { bridged: boolean; prefixed: boolean }][] = [
  ['ClusterCIDR 10.244.0.0/16', { mode: 'ClusterCIDR' }, { bridged: true, prefixed: true }],
  ['NodeCIDR (the Node\'s podCIDRs: 10.244.88.0/24)', { mode: 'NodeCIDR' }, { bridged: true, prefixed: false }],
  ['BridgeInterface kbr0', { mode: 'BridgeInterface', bridgeInterface: 'kbr0' }, { bridged: true, prefixed: false }],
  ['InterfaceNamePrefix lxc', { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'lxc' }, { bridged: false, prefixed: true }],
];

for (const mode of ['ipvs', 'iptables'] as const) {
  for (const [name, detectLocal, local] of CASES) {
    test(`${mode} mode, ${name}: the off-node client is masqueraded; a pod the detector recognises is not`, async () => {
      resetKernel();
      const a = new Agent(options(mode, detectLocal));
      try {
        await a.start();
        await a.firstSync();
      } finally {
        await a.stop();
      }
      const nodeAddress = be.hostAddress;
      assert.equal(peer(EXT.ns), nodeAddress, 'the off-node client');
      assert.equal(peer(BRIDGED.ns), local.bridged ? BRIDGED.address : nodeAddress, 'the pod on kbr0');
      assert.equal(peer(PREFIXED.ns), local.prefixed ? PREFIXED.address : nodeAddress, 'the pod behind lxcdl0');
    });
  }
}

/**
 * Each mode's masquerade rule for traffic to the cluster IP with NodeCIDR's detector, and without one
 * (IPVS mode: node traffic sent from a cluster IP; iptables mode: none, which `absent` says).
 */
const MASQ_RULE = {
  ipvs: { none: /--match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ$/m, absent: false, node: /! -s 10\.244\.88\.0\/24 .*--match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ$/m },
  iptables: { none: /cluster IP" .*-j KUBE-MARK-MASQ$/m, absent: true, node: /^-A KUBE-SVC-\w+ ! -s 10\.244\.88\.0\/24 -d 10\.96\.50\.10\/32 .*-j KUBE-MARK-MASQ$/m },
};

for (const mode of ['ipvs', 'iptables'] as const) {
  test(`${mode} mode, NodeCIDR: before the Node has podCIDRs the agent serves without a detector; they arrive and the rules follow`, async () => {
    resetKernel();
    const file = `${DIR}/manifests/objects.yaml`;
    const withCIDRs = sh(`cat ${file}`);
    const without = withCIDRs.replace(/^spec:\n(?: .*\n)+/m, ''); // the first spec: the Node's
    assert.notEqual(without, withCIDRs);
    writeFileSync(file, without);
    const nat = () => sh('iptables-save -t nat');
    const a = new Agent(options(mode, { mode: 'NodeCIDR' }));
    try {
      await a.start();
      await a.firstSync();
      // No detector: the client keeps its address (IPVS mode masquerades only node traffic sent from a
      // cluster IP; iptables mode has no masquerade rule for the cluster IP).
      assert.equal(peer(EXT.ns), EXT.address);
      if (MASQ_RULE[mode].absent) assert.doesNotMatch(nat(), MASQ_RULE[mode].none);
      else assert.match(nat(), MASQ_RULE[mode].none);
      assert.doesNotMatch(nat(), MASQ_RULE[mode].node);
      writeFileSync(file, withCIDRs);
      await synced(a, 'the Node\'s podCIDRs', () => MASQ_RULE[mode].node.test(nat()));
      assert.equal(peer(EXT.ns), be.hostAddress);
      assert.equal(peer(BRIDGED.ns), BRIDGED.address);
    } finally {
      await a.stop();
      writeFileSync(file, withCIDRs);
    }
  });
}
