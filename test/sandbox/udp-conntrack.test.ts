// UDP conntrack cleanup end to end, in both proxy modes: clients in a namespace of their own send a
// datagram every 100 ms from a fixed source port (as DNS resolvers do) to a UDP Service, through its
// ClusterIP and through its NodePort; UDP echo backends in network namespaces answer with their name.
// The old backend stays up while the EndpointSlice replaces it: after the sync that programs the
// change, every reply comes from the new one. Then the Service scales to zero (no replies, though the
// backend still runs) and back. `conntrack -L` is the oracle for the flows, and for what the agent's
// kubeproxy_conntrack_reconciler_deleted_entries_total says it deleted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { KubeConfig } from '#client-node';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { informerSource } from '../../src/sources/informers.js';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import { ConntrackClient, IPPROTO_UDP } from '../../src/conntrack/client.js';
import { sh, shStatus, startBackend, resetKernel, type Backend } from './helpers.js';
import { synced, service, sliceOf } from './agent-helpers.js';

const DIR = '/tmp/kipvs-udp-ct';
const NODE = 'udp-node';
const CLUSTER_IP = '10.96.30.10';
const NODE_IP = '10.252.0.1'; // the node's side of the client namespace's veth: a NodePort address
const NODE_PORT = 30053;
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const log = { ...quiet, error: (o: object, m?: string) => console.error(`agent error: ${m ?? ''} ${JSON.stringify(o)}`) };

let api: FakeApiServer;
const backends: Backend[] = [];
const servers: ChildProcess[] = [];
let agent: Agent | undefined;

// A UDP echo server: answers each datagram with it, plus its own name.
const ECHO = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(JSON.stringify({ ...JSON.parse(m), from: process.argv[2] }), r.port, r.address));
s.bind(5353, () => process.stdout.write('ready\\n'));
`;
// A resolver-like client: one socket bound to a fixed source port, a datagram every 100 ms; one JSON
// line per reply, with when its datagram was sent.
const CLIENT = `
import dgram from 'node:dgram';
const [host, port, sport] = process.argv.slice(2);
const s = dgram.createSocket('udp4');
s.on('message', (m) => process.stdout.write(m + '\\n'));
s.on('error', () => {});
s.bind(Number(sport), () => {
  const timer = setInterval(() => s.send(JSON.stringify({ t: Date.now() }), Number(port), host), 100);
  process.stdin.on('end', () => { clearInterval(timer); s.close(); });
  process.stdin.resume();
});
`;

function options(mode: 'ipvs' | 'iptables'): AgentOptions {
  const kc = new KubeConfig();
  kc.loadFromFile(`${DIR}/kubeconfig`);
  return {
    nodeName: NODE, mode, ...(mode === 'iptables' ? { iptablesBackend: 'nft' as const } : {}), scheduler: 'rr', strictARP: false,
    syncPeriodMs: 60_000, minSyncPeriodMs: 50, excludeCIDRs: [], timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, nodePortAddresses: [],
    healthzBindAddress: '', metricsBindAddress: '127.0.0.1:0', stateSocket: '', gracefulTerminationTimeoutMs: 1_000, log,
    source: informerSource({ kubeConfig: kc, nodeName: NODE, log: quiet, backoff: { initialMs: 100, maxMs: 1000 } }),
  };
}

const ip = (i: number) => backends[i]!.address;
const name = (i: number) => backends[i]!.ns;
const dnsSlice = (eps: number[]) => sliceOf(NODE, 'dns-1', 'dns', [{ name: 'dns', port: 5353, protocol: 'UDP' }], eps.map((i) => ({ ip: ip(i), pod: `dns-${i}` })));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client in the client namespace; `replies` fill in as they arrive. */
async function udpClient(host: string, port: number, sport: number) {
  const child = spawn('ip', ['netns', 'exec', 'udp-cl', process.execPath, `${DIR}/client.mjs`, host, String(port), String(sport)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies: { t: number; from: string }[] = [];
  let tail = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const lines = (tail + chunk).split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) replies.push(JSON.parse(l) as { t: number; from: string });
  });
  const exited = new Promise((r) => child.once('exit', r));
  return {
    sport, replies,
    /** Who answered the datagrams sent after `t`. */
    since: (t: number) => replies.filter((r) => r.t > t).map((r) => r.from),
    stop: async () => { child.stdin!.end(); await exited; },
  };
}

/** UDP flows as `conntrack -L` shows them (the kernel's view, not the agent's). */
function flows(): { origDst: string; origDport: number; sport: number; replySrc: string }[] {
  return sh('conntrack -L -p udp 2>/dev/null').split('\n').filter((l) => l.startsWith('udp')).map((l) => {
    const all = (k: string) => [...l.matchAll(new RegExp(`\\b${k}=(\\S+)`, 'g'))].map((m) => m[1]!);
    const [src, dst, sport, dport] = [all('src'), all('dst'), all('sport'), all('dport')];
    return { origDst: dst[0]!, origDport: Number(dport[0]), sport: Number(sport[0]), replySrc: src[1]! };
  });
}

function metrics(a: Agent): Promise<string> {
  return new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port: a.metricsPort, path: '/metrics' }, (res) => {
    let b = '';
    res.on('data', (c) => (b += c));
    res.on('end', () => resolve(b));
  }).on('error', reject));
}

/** The counter as the agent exposes it over HTTP. */
async function deletedEntries(a: Agent): Promise<number> {
  const m = (await metrics(a)).match(/^kubeproxy_conntrack_reconciler_deleted_entries_total\{ip_family="IPv4"\} (\d+)$/m);
  return m ? Number(m[1]) : 0;
}

/** Whether the kernel forwards the Service to exactly these backends (iptables-save or ipvsadm). */
function programmed(mode: 'ipvs' | 'iptables', eps: number[]): boolean {
  const text = mode === 'iptables' ? sh('iptables-nft-save -t nat') : shStatus(`ipvsadm -Ln -u ${CLUSTER_IP}:53`).stdout;
  return backends.every((b, i) => text.includes(`${b.address}:5353`) === eps.includes(i));
}

before(async () => {
  resetKernel();
  shStatus('conntrack -F');
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  writeFileSync(`${DIR}/echo.mjs`, ECHO);
  writeFileSync(`${DIR}/client.mjs`, CLIENT);
  for (const [i, ns] of ['udp-be0', 'udp-be1'].entries()) {
    const b = startBackend(ns, 71 + i);
    backends.push(b);
    const s = spawn('ip', ['netns', 'exec', ns, process.execPath, `${DIR}/echo.mjs`, ns], { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push(s);
    await new Promise<void>((resolve, reject) => {
      s.stdout!.once('data', () => resolve());
      s.once('exit', (c) => reject(new Error(`UDP echo in ${ns} exited (${c})`)));
    });
  }
  sh(`ip netns add udp-cl
      ip link add v-udp-cl type veth peer name eth0 netns udp-cl
      ip addr add ${NODE_IP}/24 dev v-udp-cl && ip link set v-udp-cl up
      ip -n udp-cl link set lo up && ip -n udp-cl addr add 10.252.0.2/24 dev eth0 && ip -n udp-cl link set eth0 up
      ip -n udp-cl route add default via ${NODE_IP}`);
  api = new FakeApiServer();
  await api.start();
  api.writeKubeconfig(`${DIR}/kubeconfig`);
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
  api.create(service('dns', { type: 'NodePort', clusterIP: CLUSTER_IP, clusterIPs: [CLUSTER_IP], ports: [{ name: 'dns', port: 53, targetPort: 5353, nodePort: NODE_PORT, protocol: 'UDP' }] }));
});

after(async () => {
  await agent?.stop();
  await api?.stop();
  for (const s of servers) s.kill('SIGKILL');
  for (const b of backends) b.stop();
  shStatus('ip netns del udp-cl; ip link del v-udp-cl 2>/dev/null; conntrack -F');
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

test('conntrack client: lists what conntrack -L lists, the kernel filtering by protocol; deletes in a batch exactly the flows chosen', () => {
  // 60 UDP flows "DNATed" to three addresses, a TCP flow and an IPv6 one, made by the conntrack tool.
  sh(`for i in $(seq 1 60); do
        conntrack -I -p udp -s 198.18.1.$((i % 250 + 1)) -d 198.19.0.1 --sport $((10000 + i)) --dport 53 \\
          -r 198.20.0.$((i % 3 + 1)) -q 198.18.1.$((i % 250 + 1)) --reply-port-src 5353 --reply-port-dst $((10000 + i)) -t 300 2>/dev/null
      done
      conntrack -I -p tcp -s 198.18.1.1 -d 198.19.0.1 --sport 1 --dport 53 --state ESTABLISHED -t 300 2>/dev/null
      conntrack -I -p udp -s fd00::1 -d fd96::a --sport 1 --dport 53 -t 300 2>/dev/null`);
  const c = ConntrackClient.open();
  try {
    const mine = (f: { original: { dst: string } }) => f.original.dst === '198.19.0.1';
    const listed = c.list('inet', IPPROTO_UDP).filter(mine);
    const oracle = flows().filter((f) => f.origDst === '198.19.0.1');
    assert.equal(oracle.length, 60);
    assert.deepEqual(listed.map((f) => `${f.original.srcPort} ${f.reply.src}`).sort(), oracle.map((f) => `${f.sport} ${f.replySrc}`).sort());
    assert.ok(listed.every((f) => f.protocol === 17 && f.reply.srcPort === 5353 && f.id !== undefined));
    assert.deepEqual(c.list('inet6', IPPROTO_UDP).map((f) => f.original.dst), ['fd96::a']);
    assert.deepEqual(c.list('inet', 6).filter(mine).length, 1);

    const r = c.deleteWhere('inet', IPPROTO_UDP, (f) => f.origDst() === '198.19.0.1' && f.replySrc() === '198.20.0.1');
    assert.equal(r.kernelFiltered, true, "Debian 12's kernel filters dumps by protocol (CTA_FILTER)");
    assert.deepEqual([r.matched, r.deleted, r.gone, r.failures.length], [20, 20, 0, 0]);
    const left = flows().filter((f) => f.origDst === '198.19.0.1');
    assert.equal(left.length, 40);
    assert.ok(left.every((f) => f.replySrc !== '198.20.0.1'));
    assert.match(sh('conntrack -L -p tcp 2>/dev/null'), /dst=198\.19\.0\.1 sport=1 dport=53/, 'the TCP flow is untouched');
  } finally {
    c.close();
    shStatus('conntrack -F');
  }
});

for (const mode of ['iptables', 'ipvs'] as const) {
  test(`${mode} mode: a client on a fixed source port moves to the new UDP backend within one sync (ClusterIP and NodePort); scale to zero and back`, async () => {
    api.apply(dnsSlice([0]));
    agent = new Agent(options(mode));
    await agent.start();
    await agent.firstSync();
    const a = agent;
    const clients = [await udpClient(CLUSTER_IP, 53, 40053), await udpClient(NODE_IP, NODE_PORT, 40054)];
    try {
      const t = Date.now();
      const end = t + 30_000;
      while (!clients.every((c) => c.since(t).includes(name(0)))) {
        assert.ok(Date.now() < end, `no replies from ${name(0)}: ${clients.map((c) => c.replies.length).join(', ')} replies`);
        await sleep(100);
      }
      // The kernel tracks one flow per client, DNATed to the old backend.
      const pinned = flows().filter((f) => f.replySrc === ip(0) && (f.sport === 40053 || f.sport === 40054));
      assert.deepEqual(pinned.map((f) => `${f.origDst}:${f.origDport}`).sort(), [`${CLUSTER_IP}:53`, `${NODE_IP}:${NODE_PORT}`].sort(), JSON.stringify(flows()));
      const deletedBefore = await deletedEntries(a);

      // The old backend keeps running; the slice now names the new one.
      api.update(dnsSlice([1]));
      await synced(a, 'the new backend programmed', () => programmed(mode, [1]));
      const switched = Date.now();
      await sleep(1500);
      for (const c of clients) {
        const after = c.since(switched);
        assert.ok(after.length >= 5, `port ${c.sport}: ${after.length} replies in 1.5 s after the sync`);
        assert.deepEqual([...new Set(after)], [name(1)], `port ${c.sport}: replies after the sync`);
      }
      // The kernel holds no flow to the old backend any more, and the agent counted what it deleted.
      assert.deepEqual(flows().filter((f) => f.replySrc === ip(0)), []);
      const deleted = (await deletedEntries(a)) - deletedBefore;
      if (mode === 'iptables') {
        assert.equal(deleted, pinned.length, 'each pinned flow deleted once');
      } else {
        // IPVS drops a flow itself (expire_nodest_conn, with vs/conntrack) at the first datagram after its
        // real server went; in this slow guest that datagram usually comes before the sync's cleanup does.
        assert.ok(deleted <= pinned.length, `${deleted} deleted of ${pinned.length} pinned flows`);
      }
      assert.match(await metrics(a), /^kubeproxy_conntrack_reconciler_sync_duration_seconds_count\{ip_family="IPv4"\} [1-9]\d*$/m);

      // Scale to zero: the backend still runs, but nothing reaches it.
      api.update(dnsSlice([]));
      await synced(a, 'no endpoints programmed', () => programmed(mode, []));
      const emptied = Date.now();
      await sleep(1500);
      for (const c of clients) assert.deepEqual(c.since(emptied), [], `port ${c.sport}: replies with no endpoints`);
      assert.deepEqual(flows().filter((f) => f.replySrc === ip(1)), [], 'flows to the last backend deleted');

      // And back, to the first backend.
      api.update(dnsSlice([0]));
      await synced(a, 'endpoints again', () => programmed(mode, [0]));
      const back = Date.now();
      await sleep(1500);
      for (const c of clients) {
        const after = c.since(back);
        assert.ok(after.length >= 5, `port ${c.sport}: ${after.length} replies in 1.5 s after scaling back`);
        assert.deepEqual([...new Set(after)], [name(0)], `port ${c.sport}: replies after scaling back`);
      }

      // A stale flow no change announced (made by hand, replying from an address that serves nothing): a
      // sync with nothing changed leaves it, the periodic full sync deletes it.
      const foreign = () => flows().filter((f) => f.replySrc === '10.244.99.9');
      sh(`conntrack -I -p udp -s 10.252.0.9 -d ${CLUSTER_IP} --sport 999 --dport 53 -r 10.244.99.9 -q 10.252.0.9 --reply-port-src 5353 --reply-port-dst 999 -t 300 2>/dev/null`);
      await a.syncNow('change');
      assert.equal(foreign().length, 1, 'an incremental sync without a change looks at no flow');
      const countedBefore = await deletedEntries(a);
      await a.syncNow('period');
      assert.deepEqual(foreign(), [], 'the full sync deleted the stale flow');
      assert.equal((await deletedEntries(a)) - countedBefore, 1, 'counted once; the clients\' flows to the serving backend stay');
      for (const c of clients) assert.ok(flows().some((f) => f.sport === c.sport && f.replySrc === ip(0)), `port ${c.sport}: its flow to ${name(0)} stays`);
    } finally {
      for (const c of clients) await c.stop();
      await agent.stop();
      agent = undefined;
      resetKernel();
      shStatus('conntrack -F');
    }
  });
}
