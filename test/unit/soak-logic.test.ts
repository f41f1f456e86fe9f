// The soak's pure parts (test/soak): the desired kernel state it compares with, the ipvsadm parser,
// the comparison, and the statistics its verdict rests on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeServices, desiredKernel, desiredVirtualServices, signature, NODE, OTHER_NODE, type Pod } from '../soak/cluster.js';
import { parseIpvsadmSave, compareKernel, type KernelState } from '../soak/kernel.js';
import { apiFaultSummary, pooledSlope, quantiles, rssTrend, steadyThroughout } from '../soak/stats.js';
import { splitRule, brokenByHandEdit, EVERY_SERVICE, type HandEdit } from '../soak/faults.js';

const pod = (ip: string, node = NODE, state: Pod['state'] = 'ready'): Pod => ({ ip, name: `p-${ip}`, service: 's', node, state });

test('makeServices: the mix the issue asks for (TCP and UDP, ClusterIP and NodePort, Local, affinity)', () => {
  const s = makeServices();
  assert.equal(s.length, 50);
  assert.equal(s.filter((x) => x.protocol === 'UDP').length, 10);
  assert.equal(s.filter((x) => x.type === 'NodePort').length, 25);
  assert.ok(s.some((x) => x.local && x.protocol === 'TCP') && s.some((x) => x.affinity && x.protocol === 'UDP'));
  assert.equal(new Set(s.map((x) => x.clusterIP)).size, 50);
});

test('desired virtual services: ready pods only; a Local NodePort gets this node\'s; affinity is persistence', () => {
  const [svc] = makeServices(4).filter((x) => x.local);
  const vss = desiredVirtualServices(svc!, [pod('10.244.1.2'), pod('10.244.1.3', OTHER_NODE), pod('10.244.1.4', NODE, 'terminating')], ['10.252.0.1']);
  assert.deepEqual([...vss.get(`tcp/${svc!.clusterIP}:80`)!.servers.keys()], ['10.244.1.2:8080', '10.244.1.3:8080']);
  assert.deepEqual([...vss.get(`tcp/10.252.0.1:${svc!.nodePort}`)!.servers.keys()], ['10.244.1.2:8080']);
  const affine = makeServices(1)[0]!;
  assert.equal(desiredVirtualServices(affine, [], []).get(`tcp/${affine.clusterIP}:80`)!.persistent, 10800);
  // The signature ignores weight-0 servers (draining) and orders what it lists.
  assert.equal(signature(new Map([['tcp/1.1.1.1:80', { scheduler: 'rr', persistent: 0, servers: new Map([['b:1', 1], ['a:1', 1], ['c:1', 0]]) }]])), 'tcp/1.1.1.1:80=a:1,b:1');
});

test('parseIpvsadmSave reads services, persistence and weighted servers', () => {
  const m = parseIpvsadmSave('-A -t 10.96.100.1:80 -s rr -p 10800\n-a -t 10.96.100.1:80 -r 10.244.1.2:8080 -m -w 1\n-a -t 10.96.100.1:80 -r 10.244.1.3:8080 -m -w 0\n-A -u 10.96.100.5:53 -s rr\n');
  assert.deepEqual([...m.keys()], ['tcp/10.96.100.1:80', 'udp/10.96.100.5:53']);
  assert.equal(m.get('tcp/10.96.100.1:80')!.persistent, 10800);
  assert.deepEqual([...m.get('tcp/10.96.100.1:80')!.servers], [['10.244.1.2:8080', 1], ['10.244.1.3:8080', 0]]);
  assert.equal(m.get('udp/10.96.100.5:53')!.persistent, 0);
});

test('compareKernel names each object that differs, and accepts NodePort twins on other node addresses', () => {
  const services = makeServices(2);
  const pods = new Map(services.map((s, i) => [s.name, [pod(`10.244.1.${i + 2}`)]]));
  const want = desiredKernel(services, (s) => pods.get(s.name)!, ['10.252.0.1']);
  const have = (): KernelState => {
    const k = desiredKernel(services, (s) => pods.get(s.name)!, ['10.252.0.1']);
    const np = k.virtualServices.get('tcp/10.252.0.1:30001')!;
    k.virtualServices.set('tcp/10.253.0.1:30001', { ...np, servers: new Map(np.servers) });
    return { ...k, natJumps: ['-A POSTROUTING -j KUBE-POSTROUTING'] };
  };
  const nodePorts = new Set([30001]);
  assert.deepEqual(compareKernel(want, have(), nodePorts, ['-A POSTROUTING -j KUBE-POSTROUTING']), []);
  const k = have();
  k.virtualServices.get('tcp/10.96.100.1:80')!.servers.set('10.244.9.9:8080', 0);
  k.virtualServices.get('tcp/10.253.0.1:30001')!.servers.clear();
  k.vips.delete('10.96.100.2');
  k.ipsets.get('KUBE-CLUSTER-IP')!.add('10.96.100.77,tcp:80');
  k.natJumps = [];
  assert.deepEqual(compareKernel(want, k, nodePorts, ['-A POSTROUTING -j KUBE-POSTROUTING']), [
    'real server tcp/10.96.100.1:80 -> 10.244.9.9:8080: not wanted (weight 0)',
    'virtual service tcp/10.253.0.1:30001: servers (none), want 10.244.1.3:8080*1 (as tcp/10.252.0.1:30001)',
    'kube-ipvs0 address 10.96.100.2: missing',
    'ipset KUBE-CLUSTER-IP 10.96.100.77,tcp:80: not wanted',
    'iptables nat rule "-A POSTROUTING -j KUBE-POSTROUTING": missing',
  ]);
});

test('pooledSlope: a sawtooth of flat lifetimes has no slope; a steady growth has its own', () => {
  const flat = [0, 1, 2].flatMap((g) => [0, 1, 2, 3].map((i) => ({ x: g * 10 + i, y: 50 + g * 20 + (i % 2), group: g })));
  assert.ok(Math.abs(pooledSlope(flat)!) < 0.5);
  assert.equal(pooledSlope([0, 1, 2, 3].map((x) => ({ x, y: 10 + 2 * x, group: 1 }))), 2);
  assert.equal(pooledSlope([{ x: 1, y: 1, group: 1 }]), null);
});

test('rssTrend: a start-up ramp before the first sync is not a leak; growth after it is', () => {
  // Two lifetimes: 100 s of start-up climbing 20 -> 100 MB, synced at 100 s, then flat (or growing).
  const life = (n: number, t0: number, growth: number) => Array.from({ length: 300 }, (_, i) => {
    const t = t0 + i * 1000;
    const synced = i >= 100 ? t0 + 100_000 : undefined;
    return { t, mb: i < 100 ? 20 + 0.8 * i : 100 + (growth * (i - 100)) / 60 + (i % 3), life: n, ...(synced !== undefined ? { synced } : {}) };
  });
  const flat = rssTrend([...life(1, 0, 0), ...life(2, 400_000, 0)]);
  assert.ok(Math.abs(flat.slopeMBPerMin!) < 0.1, `flat: ${flat.slopeMBPerMin} MB/min`);
  assert.equal(flat.lastLifetimeS, 179);
  const leak = rssTrend([...life(1, 0, 3), ...life(2, 400_000, 3)]);
  assert.ok(Math.abs(leak.slopeMBPerMin! - 3) < 0.1 && Math.abs(leak.lastLifetimeSlopeMBPerMin! - 3) < 0.1, JSON.stringify(leak));
  assert.equal(rssTrend(life(1, 0, 0).slice(0, 100)).slopeMBPerMin, null, 'never synced: no slope');
});

test('quantiles and splitRule', () => {
  assert.deepEqual(quantiles([5, 1, 3, 2, 4]), { count: 5, p50: 3, p99: 5, max: 5 });
  assert.deepEqual(quantiles([]), { count: 0, p50: null, p99: null, max: null });
  assert.deepEqual(splitRule('POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'),
    ['POSTROUTING', '-m', 'comment', '--comment', 'kubernetes postrouting rules', '-j', 'KUBE-POSTROUTING']);
});

test('steadyThroughout: a change is steady only when no fault was in force from when it was made until the kernel showed it', () => {
  const phases = [
    { name: 'steady', from: 0, to: 100 },
    { name: 'agent: SIGKILL and restart', from: 100, to: 200 },
    { name: 'steady', from: 200, to: Infinity },
  ];
  assert.equal(steadyThroughout(phases, { at: 10, seenAt: 90 }), true);
  assert.equal(steadyThroughout(phases, { at: 90, seenAt: 210 }), false, 'made before the restart, seen after it');
  assert.equal(steadyThroughout(phases, { at: 150, seenAt: 160 }), false);
  assert.equal(steadyThroughout(phases, { at: 200, seenAt: 250 }), true);
  assert.equal(steadyThroughout(phases, { at: 10 }), false, 'never seen');
});

test('apiFaultSummary: each kind once, with a count', () => {
  assert.equal(apiFaultSummary(['watches dropped', '500s', 'watches dropped']), 'watches dropped ×2; 500s');
  assert.equal(apiFaultSummary([]), '-');
});

test('brokenByHandEdit: an edit of one virtual service covers its failures only; the nat jump covers every Service; from 0.5 s before the edit to 3 s after its repair', () => {
  const edits: HandEdit[] = [
    { what: 'real server deleted', at: 10_000, repairMs: 2_000, vs: 'tcp/10.96.100.3:80' },
    { what: 'iptables rule deleted', at: 50_000, repairMs: 11_000, vs: EVERY_SERVICE },
    { what: 'VIP deleted', at: 80_000, vs: 'tcp/10.96.100.3:80' },
  ];
  const b = (vs: string, t: number) => brokenByHandEdit(edits, vs, t, 60_000);
  assert.equal(b('tcp/10.96.100.3:80', 9_600), true);
  assert.equal(b('tcp/10.96.100.3:80', 9_400), false);
  assert.equal(b('tcp/10.96.100.3:80', 15_000), true);
  assert.equal(b('tcp/10.96.100.3:80', 15_100), false);
  assert.equal(b('tcp/10.96.100.42:80', 11_000), false, 'another Service is not covered by a real server of the victim');
  assert.equal(b('tcp/10.96.100.42:80', 54_300), true, 'the nat jump: any Service, during the edit');
  assert.equal(b('udp/10.252.0.1:30041', 63_900), true);
  assert.equal(b('udp/10.252.0.1:30041', 64_100), false);
  assert.equal(b('tcp/10.96.100.3:80', 140_000), true, 'not repaired: the bound counts');
  assert.equal(b('tcp/10.96.100.3:80', 143_100), false);
});
