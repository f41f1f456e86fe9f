// The sync engine against the real kernel: incremental syncs cost only the changed service's
// operations, full reconciles repair drift, ownership spares what an operator added, removed TCP
// real servers drain, and a restarted engine adopts the kernel without a flush.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { IpvsClient } from '../../src/ipvs/client.js';
import { LinkClient } from '../../src/link/link.js';
import { SyncEngine, BINDS_APART_FROM, FRESH_READ_MS, SYNC_SLICE_SERVICES, type Logger } from '../../src/backends/ipvs/engine.js';
import { finish, Pacer } from '../../src/loop/pacer.js';
import type { DesiredIpvs, DesiredService } from '../../src/backends/ipvs/plan.js';
import { serviceKeyString, serverKeyString } from '../../src/ipvs/keys.js';
import { ServerTable } from '../../src/ipvs/server-table.js';
import type { VirtualService, RealServer } from '../../src/ipvs/types.js';
import { sh, shStatus, startBackend, httpGet, resetKernel, waitFor, ipvsadmLinesOf, type Backend } from './helpers.js';

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

function svc(address: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): VirtualService {
  return { family: 'inet', protocol, address, port, scheduler: 'rr' };
}

function desired(entries: [VirtualService, RealServer[]][]): DesiredIpvs {
  const services = new Map<string, DesiredService>();
  const boundAddresses = new Set<string>();
  for (const [service, servers] of entries) {
    // As the model holds them: a ServerTable (the kernel model shares it, and copies it before a change).
    services.set(serviceKeyString(service), { service, servers: new ServerTable(servers) });
    boundAddresses.add(service.address!);
  }
  return { services, boundAddresses };
}

/** ipvsadm -Sn, sorted, for comparisons that ignore order. */
function saved(): string[] {
  return sh('ipvsadm -Sn').trim().split('\n').filter(Boolean).sort();
}

let ipvs: IpvsClient;
let link: LinkClient;

before(() => {
  resetKernel();
  ipvs = IpvsClient.open();
  link = LinkClient.open();
});
after(() => {
  ipvs.close();
  link.close();
  resetKernel();
});

test('first sync builds the table and binds every VIP on kube-ipvs0; an unchanged sync does nothing', () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const want = desired([
    [svc('10.96.0.1', 443), [{ address: '10.244.1.2', port: 6443 }]],
    [svc('10.96.0.10', 53, 'udp'), [{ address: '10.244.1.3', port: 53 }, { address: '10.244.1.4', port: 53 }]],
  ]);
  const r = engine.sync(want);
  assert.equal(r.kind, 'full');
  assert.equal(r.operations, 5);
  assert.equal(r.bound, 2);
  assert.deepEqual(saved(), [
    '-A -t 10.96.0.1:443 -s rr',
    '-A -u 10.96.0.10:53 -s rr',
    '-a -t 10.96.0.1:443 -r 10.244.1.2:6443 -m -w 1',
    '-a -u 10.96.0.10:53 -r 10.244.1.3:53 -m -w 1',
    '-a -u 10.96.0.10:53 -r 10.244.1.4:53 -m -w 1',
  ]);
  const addrs = sh('ip -4 -o addr show dev kube-ipvs0').trim().split('\n').map((l) => l.split(/\s+/)[3]).sort();
  assert.deepEqual(addrs, ['10.96.0.1/32', '10.96.0.10/32']);
  assert.match(sh('ip -o link show kube-ipvs0'), /NOARP/);
  assert.doesNotMatch(sh('ip -o link show kube-ipvs0'), /[<,]UP[,>]/);
  const again = engine.sync(want, []);
  assert.equal(again.kind, 'incremental');
  assert.equal(again.operations, 0);
  const full = engine.sync(want);
  assert.equal(full.kind, 'full');
  assert.equal(full.operations, 0);
  assert.equal(full.repaired, 0);
  resetKernel();
});

/**
 * Netlink datagrams the kernel has carried in this network namespace, both ways, as an nlmon tap
 * device counts them (every request datagram, every reply and acknowledgement). Read from
 * /proc/net/dev, which takes no netlink itself. The file runs in a namespace of its own, so nothing
 * else talks netlink here meanwhile.
 */
function netlinkDatagrams(): number {
  const row = readFileSync('/proc/net/dev', 'utf8').split('\n').find((l) => l.trim().startsWith('kt-nlmon0:'));
  assert.ok(row, 'the nlmon device is in /proc/net/dev');
  const f = row.split(':')[1]!.trim().split(/\s+/).map(Number);
  return f[1]! + f[9]!; // receive packets + transmit packets
}

test('one endpoint added to one of 200 services costs exactly one netlink operation, as the kernel sees it', () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const entries: [VirtualService, RealServer[]][] = [];
  for (let i = 0; i < 200; i++) entries.push([svc(`10.97.${i >> 8}.${i & 255}`, 80), [{ address: `10.245.0.${(i % 250) + 1}`, port: 8080 }]]);
  const want = desired(entries);
  engine.sync(want);
  assert.equal(saved().length, 400, 'the table ipvsadm sees');
  const before = saved();
  sh('ip link add kt-nlmon0 type nlmon && ip link set kt-nlmon0 up');
  try {
    const target = entries[123]![0];
    const key = serviceKeyString(target);
    const extra: RealServer = { address: '10.245.9.9', port: 8080 };
    // As the model does: a new Map for the changed service (the desired state's Maps are read-only;
    // the engine's model of the kernel shares them).
    const was = want.services.get(key)!;
    want.services.set(key, { ...was, servers: new Map([...was.servers, [serverKeyString(extra), extra]]) });
    const datagrams = netlinkDatagrams();
    const r = engine.sync(want, [key]);
    // One request and its acknowledgement crossed the netlink boundary: one operation, no read.
    assert.equal(netlinkDatagrams() - datagrams, 2, 'netlink datagrams during the sync (request + acknowledgement)');
    assert.equal(r.kind, 'incremental');
    // ...and that operation added the one real server: every other line of the table is as it was.
    const after = saved();
    assert.deepEqual(after.filter((l) => !before.includes(l)), [`-a -t ${target.address}:80 -r 10.245.9.9:8080 -m -w 1`]);
    assert.deepEqual(before.filter((l) => !after.includes(l)), []);
  } finally {
    shStatus('ip link del kt-nlmon0');
    resetKernel();
  }
});

test('a paced first sync binds many VIPs apart, on another thread, while it sends the IPVS operations; the kernel ends with every VIP and the whole table', async () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const n = 2 * BINDS_APART_FROM;
  const entries: [VirtualService, RealServer[]][] = [];
  for (let i = 0; i < n; i++) {
    const servers = Array.from({ length: 20 }, (_, j) => ({ address: `10.246.${j}.${(i % 250) + 1}`, port: 8000 + (i >> 8) }));
    entries.push([svc(`10.98.${i >> 8}.${i & 255}`, 80), servers]);
  }
  try {
    const r = await new Pacer().run(engine.syncSteps(desired(entries), undefined, false, true));
    assert.equal(r.failures.length, 0);
    // The kernel, through the tools: every VIP on kube-ipvs0, every service and server in IPVS.
    const bound = sh('ip -o -4 addr show dev kube-ipvs0').trim().split('\n').filter(Boolean).map((l) => l.split(/\s+/)[3]);
    assert.equal(new Set(bound).size, n);
    for (const [s] of entries) assert.ok(bound.includes(`${s.address}/32`), `${s.address} bound`);
    assert.equal(saved().length, n * 21, 'the table ipvsadm sees');
    // The binds ran beside the IPVS operations, not after them: they ended before those did
    // (run after them, their own time would include all of the operations').
    assert.ok(r.phases.bindMs < r.phases.applyMs, `binds ${Math.round(r.phases.bindMs)} ms, ended within the IPVS operations' ${Math.round(r.phases.applyMs)} ms`);
    // And the engine's model agrees: nothing left to do.
    const again = engine.sync(desired(entries));
    assert.equal(again.operations + again.bound, 0);
  } finally {
    resetKernel();
  }
});

test('binds apart left to the caller: the sync ends without waiting for them, settleSteps (or the next sync) records them', async () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const n = 2 * BINDS_APART_FROM;
  const entries = (count: number): [VirtualService, RealServer[]][] => Array.from({ length: count }, (_, i) => [svc(`10.98.${i >> 8}.${i & 255}`, 80), [{ address: `10.246.0.${(i % 250) + 1}`, port: 8080 }]]);
  try {
    const r = await new Pacer().run(engine.syncSteps(desired(entries(n)), undefined, false, true, true, true));
    assert.equal(r.failures.length, 0);
    assert.equal(r.bound, 0, 'the binds are not counted by the sync that left them');
    assert.equal(r.counts.bind, undefined);
    const settled = await new Pacer().run(engine.settleSteps());
    assert.equal(settled?.bound, n);
    assert.ok(settled!.bindMs > 0);
    assert.equal(await new Pacer().run(engine.settleSteps()), undefined, 'settled once');
    const bound = sh('ip -o -4 addr show dev kube-ipvs0').trim().split('\n').filter(Boolean).length;
    assert.equal(bound, n, 'every VIP on kube-ipvs0, as ip sees it');
    assert.equal(saved().length, n * 2);
    // More services, their binds left unsettled again: the next sync settles them before it reads.
    await new Pacer().run(engine.syncSteps(desired(entries(2 * n)), undefined, false, true, true, true));
    // An incremental sync (no service changed, the VIPs compared from the model, not read): it
    // would bind them all again had it not settled them first.
    const again = await new Pacer().run(engine.syncSteps(desired(entries(2 * n)), [], false, true, true));
    assert.equal(again.kind, 'incremental');
    assert.equal(again.operations + again.bound, 0, 'the model already held the binds the next sync settled');
    assert.equal(sh('ip -o -4 addr show dev kube-ipvs0').trim().split('\n').filter(Boolean).length, 2 * n);
  } finally {
    resetKernel();
  }
});

test('VIPs bound ahead of a first sync: the sync neither waits for them nor binds them again; one already on kube-ipvs0 is skipped', async () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const n = 2 * BINDS_APART_FROM;
  const entries: [VirtualService, RealServer[]][] = Array.from({ length: n }, (_, i) => [svc(`10.97.${i >> 8}.${i & 255}`, 80), [{ address: `10.246.1.${(i % 250) + 1}`, port: 8080 }]]);
  try {
    // A restart: one VIP is on kube-ipvs0 already.
    sh('ip link add kube-ipvs0 type dummy; ip addr add 10.97.0.0/32 dev kube-ipvs0');
    const addresses = entries.map(([s]) => s.address!);
    assert.equal(engine.bindAhead(addresses.slice(0, n / 2)), n / 2 - 1, 'the one already bound is skipped');
    assert.equal(engine.bindAhead(addresses), n / 2, 'those handed over before are skipped');
    const r = await new Pacer().run(engine.syncSteps(desired(entries), undefined, false, true, true, true));
    assert.equal(r.failures.length, 0);
    assert.equal(r.bound, 0);
    const settled = await new Pacer().run(engine.settleSteps());
    // Had the sync bound them again, its own batch would count here too (EEXIST counts as bound).
    assert.equal(settled?.bound, n - 1, 'every VIP bound once, by the binds ahead');
    assert.equal(sh('ip -o -4 addr show dev kube-ipvs0').trim().split('\n').filter(Boolean).length, n);
    assert.equal(saved().length, n * 2);
    const again = await new Pacer().run(engine.syncSteps(desired(entries), [], false, true, true));
    assert.equal(again.operations + again.bound + again.unbound, 0);
  } finally {
    resetKernel();
  }
});

/** Service i of a sliced sync's table: VIP 10.99.x.y:80, real servers 10.247.{0,1}.z:8080 (and `extra`). */
function sliced(i: number, weight = 1, extra: RealServer[] = []): [VirtualService, RealServer[]] {
  const servers = [0, 1].map((j) => ({ address: `10.247.${j}.${(i % 250) + 1}`, port: 8080 + (i >> 8), weight }));
  return [svc(`10.99.${i >> 8}.${i & 255}`, 80), [...servers, ...extra]];
}

test('a full sync over more services than one slice adds, changes and deletes in every slice; a later slice\'s failure is reported; the kernel ends as wanted', async () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const n = SYNC_SLICE_SERVICES + SYNC_SLICE_SERVICES / 2;
  try {
    const want = desired(Array.from({ length: n }, (_, i) => sliced(i)));
    const first = await new Pacer().run(engine.syncSteps(want, undefined, false, true));
    assert.equal(first.failures.length, 0);
    // What differs, named. (4,503 lines for 4,500 were seen twice while another lane changed its own
    // namespace's services: the kernel's dump position counts every namespace's, so this file runs alone.)
    const have = saved();
    const wanted = ipvsadmLinesOf(want);
    const haveSet = new Set(have), wantedSet = new Set(wanted);
    assert.deepEqual({ extra: have.filter((l) => !wantedSet.has(l)), missing: wanted.filter((l) => !haveSet.has(l)) }, { extra: [], missing: [] },
      'every service and real server of every slice, as ipvsadm sees, and nothing else');
    assert.equal(have.length, n * 3);
    // Then: the last 100 services gone, 200 new, one weight changed in the first slice, and in the
    // second a real server refused (weight over 65535: never sent) beside one that is added.
    const changedAt = 100, badAt = SYNC_SLICE_SERVICES + 200;
    const bad = { address: '10.247.9.9', port: 9090, weight: 70_000 };
    const good = { address: '10.247.9.10', port: 9090 };
    const entries: [VirtualService, RealServer[]][] = [];
    for (let i = 0; i < n + 200; i++) {
      if (i >= n - 100 && i < n) continue;
      entries.push(i === changedAt ? sliced(i, 3) : i === badAt ? sliced(i, 1, [bad, good]) : sliced(i));
    }
    const r = await new Pacer().run(engine.syncSteps(desired(entries), undefined, false, true));
    assert.equal(r.kind, 'full');
    assert.deepEqual(r.failures.map((f) => f.operation.op === 'add-server' && f.operation.server.address), ['10.247.9.9']);
    // Its index counts from the sync's first operation: after the first slice's two (the changed
    // weight), it is the second slice's first.
    assert.equal(r.failures[0]!.index, 2);
    const lines = saved();
    assert.equal(lines.length, entries.length * 3 + 1, 'the kept and new services, 2 real servers each, and the one taken beside the refused one');
    assert.equal(lines.filter((l) => / -w 3$/.test(l)).length, 2, 'the changed weight, on both real servers of that service');
    const removed = sliced(n - 1)[0];
    assert.ok(!lines.some((l) => l.includes(`${removed.address}:80`)), 'a service of the last slice removed');
    assert.ok(lines.includes(`-a -t ${sliced(n + 199)[0].address}:80 -r 10.247.1.${((n + 199) % 250) + 1}:${8080 + ((n + 199) >> 8)} -m -w 1`), 'a new service of the last slice added');
    const bound = sh('ip -o -4 addr show dev kube-ipvs0').trim().split('\n').filter(Boolean).length;
    assert.equal(bound, entries.length, 'VIPs bound and unbound for the whole sync');
    // Nothing else to do but retry the refused server.
    const again = engine.sync(desired(entries));
    assert.equal(again.operations + again.bound + again.unbound, 0);
    assert.equal(again.failures.length, 1);
  } finally {
    resetKernel();
  }
});

test('paced, over two slices: a kernel refusal in the last piece the first slice sent apart is reported under its own index, once, and the rest is applied', async () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const n = SYNC_SLICE_SERVICES + SYNC_SLICE_SERVICES / 2;
  try {
    await new Pacer().run(engine.syncSteps(desired(Array.from({ length: n }, (_, i) => sliced(i))), undefined, false, true));
    // Two more real servers for every service: 2,000 operations in the first slice, sent apart in
    // pieces, and 1,000 in the second, sent at once (under OPERATIONS_APART_FROM).
    const more = (i: number): RealServer[] => [2, 3].map((j) => ({ address: `10.247.${j}.${(i % 250) + 1}`, port: 8080 + (i >> 8) }));
    const entries = Array.from({ length: n }, (_, i) => sliced(i, 1, more(i)));
    // The first slice's last operation, added behind the engine's back once it has read the kernel.
    const lastOfFirst = SYNC_SLICE_SERVICES - 1;
    const vip = sliced(lastOfFirst)[0].address;
    const taken = more(lastOfFirst)[1]!;
    let injected = false;
    const r = await new Pacer({ sliceMs: 0, minItems: 64, maxItems: 256 }).run(engine.syncSteps(desired(entries), undefined, false, true), () => {
      if (engine.planning && !injected) {
        sh(`ipvsadm -a -t ${vip}:80 -r ${taken.address}:${taken.port} -m -w 1`);
        injected = true;
      }
      return false;
    });
    assert.ok(injected, 'added while the first slice was planned');
    assert.equal(r.failures.length, 1, r.failures.map((f) => `${f.index} ${f.error.message}`).join('; '));
    const f = r.failures[0]!;
    assert.equal(f.index, 2 * SYNC_SLICE_SERVICES - 1, 'the first slice\'s last operation');
    assert.ok(f.operation.op === 'add-server' && f.operation.server.address === taken.address && /EEXIST/.test(f.error.message), f.error.message);
    assert.equal(r.operations, 3 * SYNC_SLICE_SERVICES - 1, 'every other operation of both slices');
    assert.equal(saved().length, n * 5, 'every service with its four real servers, as ipvsadm sees');
    // The refusal made the model doubtful: the next sync reads the kernel and finds nothing to do.
    assert.equal(engine.dirty, true);
    const again = engine.sync(desired(entries));
    assert.equal(again.operations + again.failures.length, 0);
  } finally {
    resetKernel();
  }
});

/** Run a sync's steps to the end, noting at each piece whether the engine may give it up. */
function stepNoting(engine: SyncEngine, steps: ReturnType<SyncEngine['syncSteps']>): { planning: boolean[]; operations: number } {
  const planning: boolean[] = [];
  let step = steps.next();
  while (!step.done) {
    planning.push(engine.planning);
    step = steps.next(100);
  }
  return { planning, operations: step.value.operations };
}

test('a no-op full sync may be given up in any slice\'s plan, and the read it planned on stands', () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const want = desired(Array.from({ length: 2 * SYNC_SLICE_SERVICES + 10 }, (_, i) => sliced(i)));
  try {
    engine.sync(want);
    finish(engine.refreshSteps(want));
    assert.equal(engine.freshRead, true);
    // Step the full sync on that read, in pieces of 100 services.
    const { planning, operations } = stepNoting(engine, engine.syncSteps(want, undefined, true));
    assert.equal(operations, 0);
    // 10 pieces of 100 services in each of the first two slices, 1 in the third.
    assert.equal(planning.length, 2 * (SYNC_SLICE_SERVICES / 100) + 1, 'the plans of the three slices, in pieces');
    assert.ok(planning.every(Boolean), 'every piece of every slice\'s plan may be given up');
    // Given up in the last slice's plan: the read still stands for the sync that runs instead.
    finish(engine.refreshSteps(want));
    const again = engine.syncSteps(want, undefined, true);
    let at = 0;
    for (let s = again.next(); !s.done; s = again.next(100)) {
      if (++at > 2 * (SYNC_SLICE_SERVICES / 100)) break;
    }
    assert.ok(engine.planning, 'stopped in the third slice\'s plan');
    again.return(undefined as never);
    assert.equal(engine.planning, false);
    assert.equal(engine.freshRead, true, 'the read stands: nothing was written');
    // Once the first slice wrote (one weight changed), the later slices' plans may not be given up.
    const changed = desired(Array.from({ length: 2 * SYNC_SLICE_SERVICES + 10 }, (_, i) => sliced(i, i === 5 ? 2 : 1)));
    const { planning: flags, operations: written } = stepNoting(engine, engine.syncSteps(changed, undefined, true));
    assert.equal(written, 2);
    const firstPlan = SYNC_SLICE_SERVICES / 100;
    assert.ok(flags.slice(0, firstPlan).every(Boolean), 'the first slice\'s plan may be given up');
    assert.ok(flags.length >= 2 * firstPlan + 1, `the later slices' plans went in pieces too (${flags.length})`);
    assert.ok(!flags.slice(firstPlan).some(Boolean), 'after its write, no piece may be given up');
  } finally {
    resetKernel();
  }
});

test('a full reconcile repairs drift; a service an operator added on another address survives', () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const want = desired([
    [svc('10.96.1.1', 80), [{ address: '10.244.2.2', port: 8080 }, { address: '10.244.2.3', port: 8080 }]],
    [svc('10.96.1.2', 80), [{ address: '10.244.2.4', port: 8080 }]],
  ]);
  engine.sync(want);
  const before = saved();
  // Drift: a VS deleted, a real server's weight altered, a VIP unbound, an operator's own VS added.
  sh(`ipvsadm -D -t 10.96.1.2:80
      ipvsadm -e -t 10.96.1.1:80 -r 10.244.2.3:8080 -m -w 7
      ip addr del 10.96.1.1/32 dev kube-ipvs0
      ipvsadm -A -t 192.0.2.50:80 -s wlc && ipvsadm -a -t 192.0.2.50:80 -r 192.0.2.51:80 -m`);
  // An incremental sync trusts its model: nothing happens.
  assert.equal(engine.sync(want, []).operations, 0);
  const r = engine.sync(want);
  assert.equal(r.kind, 'full');
  assert.equal(r.repaired, 3, 'VS re-added, its RS re-added, weight restored');
  assert.equal(r.bound, 1);
  assert.deepEqual(saved().filter((l) => !l.includes('192.0.2.5')), before);
  assert.ok(saved().includes('-A -t 192.0.2.50:80 -s wlc'), 'the operator\'s service is still there');
  assert.match(sh('ip -4 -o addr show dev kube-ipvs0'), /10\.96\.1\.1\/32/);
  // A VS on a bound VIP that kipvs no longer wants is kipvs' own, and goes.
  sh('ipvsadm -A -t 10.96.1.1:8443 -s rr');
  engine.sync(want);
  assert.ok(!saved().some((l) => l.includes('10.96.1.1:8443')));
  resetKernel();
});


test('the kernel model shares the desired tables of real servers while the kernel holds them, and drift never writes into them', () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const a = svc('10.96.3.1', 80);
  const b = svc('10.96.3.2', 80);
  const want = desired([
    [a, [{ address: '10.244.3.2', port: 8080 }, { address: '10.244.3.3', port: 8080 }]],
    [b, [{ address: '10.244.3.4', port: 8080 }]],
  ]);
  const ka = serviceKeyString(a);
  const kb = serviceKeyString(b);
  const wantA = want.services.get(ka)!.servers;
  assert.equal(engine.sync(want).failures.length, 0);
  assert.equal(engine.kernel.services.get(ka)!.servers, wantA, 'a new service takes the desired table');
  assert.equal(engine.kernel.services.get(ka)!.shared, true);
  // Drift by hand: a real server deleted, another's weight changed. The read copies before it changes.
  sh(`ipvsadm -d -t 10.96.3.1:80 -r 10.244.3.3:8080
      ipvsadm -e -t 10.96.3.2:80 -r 10.244.3.4:8080 -m -w 5`);
  const r = engine.sync(want);
  assert.equal(r.repaired, 2, 'the server re-added, the weight restored');
  assert.equal(wantA.size, 2, 'the desired table still holds both servers');
  assert.equal(want.services.get(kb)!.servers.get('10.244.3.4/8080')!.weight ?? 1, 1, 'the desired server kept its weight');
  assert.deepEqual(ipvs.servers(a, { stats: false }).map((x) => x.address).sort(), ['10.244.3.2', '10.244.3.3']);
  for (const k of [ka, kb]) assert.equal(engine.kernel.services.get(k)!.servers, want.services.get(k)!.servers, `${k} shares again once repaired`);
  // A change: a new desired Map with one server more; the incremental sync ends sharing it.
  const more = desired([
    [a, [{ address: '10.244.3.2', port: 8080 }, { address: '10.244.3.3', port: 8080 }, { address: '10.244.3.5', port: 8080 }]],
    [b, [{ address: '10.244.3.4', port: 8080 }]],
  ]);
  assert.equal(engine.sync(more, [ka]).operations, 1);
  assert.equal(engine.kernel.services.get(ka)!.servers, more.services.get(ka)!.servers, 'equal servers, new objects: shared again');
  assert.equal(wantA.size, 2, 'the Map the kernel model held before is left as it was');
  // A real server that fails to add: the kernel model does not claim it (its own Map, without it).
  const bad = desired([
    [a, [{ address: '10.244.3.2', port: 8080 }, { address: '10.244.3.3', port: 8080 }, { address: '10.244.3.5', port: 8080 }, { address: '10.244.3.6', port: 8080, weight: 70000 }]],
    [b, [{ address: '10.244.3.4', port: 8080 }]],
  ]);
  const rb = engine.sync(bad, [ka]);
  assert.equal(rb.failures.length, 1);
  const entry = engine.kernel.services.get(ka)!;
  assert.notEqual(entry.servers, bad.services.get(ka)!.servers);
  assert.deepEqual([...entry.servers.keys()].sort(), ['10.244.3.2/8080', '10.244.3.3/8080', '10.244.3.5/8080']);
  assert.equal(bad.services.get(ka)!.servers.size, 4, 'the desired Map is untouched');
  resetKernel();
});

test('a finished reconcile read stands through incremental syncs, for a minute at most, and until dropped', () => {
  let now = 1_000_000;
  const engine = new SyncEngine({ ipvs, link, log: quiet, now: () => now });
  const a = svc('10.96.4.1', 80);
  const want = desired([[a, [{ address: '10.244.4.2', port: 8080 }]]]);
  engine.sync(want);
  finish(engine.refreshSteps(want));
  assert.equal(engine.freshRead, true);
  const more = desired([[a, [{ address: '10.244.4.2', port: 8080 }, { address: '10.244.4.3', port: 8080 }]]]);
  assert.equal(engine.sync(more, [serviceKeyString(a)]).kind, 'incremental');
  assert.equal(engine.freshRead, true, 'an incremental sync records what it writes: the read stands');
  now += FRESH_READ_MS;
  assert.equal(engine.freshRead, false, 'a minute later it is too old to plan on');
  now -= FRESH_READ_MS;
  engine.dropRead();
  assert.equal(engine.freshRead, false, 'dropped');
  finish(engine.refreshSteps(more));
  // A full sync that plans on the read uses it up.
  const r = finish(engine.syncSteps(more, undefined, true));
  assert.equal(r.kind, 'full');
  assert.equal(r.operations, 0);
  assert.equal(engine.freshRead, false, 'used up by the full sync');
  resetKernel();
});

test('a reconcile read paused for syncs in between: their changes are neither undone nor lost, the full sync plans on the read, and a full read meanwhile makes it stale', () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  const vip = (i: number) => `10.98.${i >> 8}.${i & 255}`;
  const pod = (i: number, j: number) => ({ address: `10.246.${j}.${(i % 250) + 1}`, port: 8080 });
  const state = (ids: number[], extra: Set<number> = new Set()) =>
    desired(ids.map((i) => [svc(vip(i), 80), extra.has(i) ? [pod(i, 0), pod(i, 1), pod(i, 2)] : [pod(i, 0), pod(i, 1)]]));
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);
  const want = state(range(0, 240));
  engine.sync(want);
  assert.deepEqual(saved(), ipvsadmLinesOf(want));
  // Drift before the read: a real server deleted by hand.
  sh(`ipvsadm -d -t ${vip(7)}:80 -r ${pod(7, 1).address}:8080`);
  const read = engine.refreshSteps(want);
  assert.equal(read.next().value, 0, 'the service list is read first');
  const piece = read.next(120);
  assert.equal(piece.done, false);
  assert.equal(piece.value, 120, 'half the services read, then paused');
  // A sync while the read waits: 40 services deleted, 40 added, 40 given a third real server, in the
  // kernel's dump order wherever they fall (some read already, some not).
  const want2 = state([...range(0, 200), ...range(240, 280)], new Set(range(100, 140)));
  const changed = [...range(200, 280), ...range(100, 140)].map((i) => serviceKeyString(svc(vip(i), 80)));
  const mid = engine.sync(want2, changed);
  assert.equal(mid.kind, 'incremental');
  assert.deepEqual(mid.failures, []);
  assert.deepEqual(mid.counts, { 'add-service': 40, 'add-server': 80 + 40, 'delete-service': 40, unbind: 40, bind: 40 });
  // The read goes on to its end.
  let pieces = 0;
  while (!read.next(16).done) pieces++;
  assert.ok(pieces >= 1, 'the rest was read');
  // Drift after the read ended: the full sync told to plan on that read does not see this yet.
  sh(`ipvsadm -d -t ${vip(50)}:80 -r ${pod(50, 0).address}:8080`);
  const full = finish(engine.syncSteps(want2, undefined, true));
  assert.equal(full.kind, 'full');
  assert.deepEqual(full.failures, [], 'a service deleted meanwhile was not read back, one added was not dropped');
  assert.deepEqual(full.counts, { 'add-server': 1 }, 'only the drift the read found: the hand edit before it');
  const missing = `-a -t ${vip(50)}:80 -r ${pod(50, 0).address}:8080 -m -w 1`;
  assert.deepEqual(saved(), ipvsadmLinesOf(want2).filter((l) => l !== missing));
  // The next full sync reads the kernel itself and repairs the later edit.
  assert.deepEqual(engine.sync(want2).counts, { 'add-server': 1 });
  assert.deepEqual(saved(), ipvsadmLinesOf(want2));

  // A read overtaken by a sync's own full read is stale: it ends at once and is not planned on.
  const stale = engine.refreshSteps(want2);
  stale.next();
  assert.equal(stale.next(50).done, false);
  assert.equal(engine.sync(want2).operations, 0);
  sh(`ipvsadm -d -t ${vip(60)}:80 -r ${pod(60, 1).address}:8080`);
  assert.equal(stale.next(50).done, true, 'the stale read stops without reading on');
  const after = finish(engine.syncSteps(want2, undefined, true));
  assert.deepEqual(after.counts, { 'add-server': 1 }, 'told to plan on a read, the full sync found it stale, read the kernel again and found the edit');
  assert.deepEqual(saved(), ipvsadmLinesOf(want2));
  resetKernel();
});

test('excluded CIDRs: an unwanted virtual service there is never deleted, even on a bound VIP; a wanted one is created and kept right', () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet, excludeCIDRs: ['10.96.200.0/24'] });
  const want = desired([[svc('10.96.2.1', 80), [{ address: '10.244.3.2', port: 8080 }]]]);
  engine.sync(want);
  sh('ip addr add 10.96.200.1/32 dev kube-ipvs0 && ipvsadm -A -t 10.96.200.1:80 -s rr');
  engine.sync(want);
  assert.ok(saved().includes('-A -t 10.96.200.1:80 -s rr'));
  // kube-proxy consults excludeCIDRs only when deleting: a Service whose VIP falls in the range is
  // programmed as any other, and drift on it is repaired.
  const inRange = svc('10.96.200.2', 53, 'udp');
  const withExcluded = desired([[svc('10.96.2.1', 80), [{ address: '10.244.3.2', port: 8080 }]], [inRange, [{ address: '10.244.3.3', port: 5353 }]]]);
  engine.sync(withExcluded);
  assert.ok(saved().includes('-A -u 10.96.200.2:53 -s rr'), saved().join('\n'));
  assert.ok(saved().includes('-a -u 10.96.200.2:53 -r 10.244.3.3:5353 -m -w 1'), saved().join('\n'));
  sh('ipvsadm -E -u 10.96.200.2:53 -s wrr && ipvsadm -a -u 10.96.200.2:53 -r 10.244.3.9:5353 -m');
  engine.sync(withExcluded);
  assert.ok(saved().includes('-A -u 10.96.200.2:53 -s rr'), 'scheduler repaired');
  assert.ok(!saved().some((l) => l.includes('10.244.3.9')), 'stray real server removed');
  assert.ok(saved().includes('-A -t 10.96.200.1:80 -s rr'), 'the unwanted one still stands');
  resetKernel();
});

test('removed TCP real server drains at weight 0 while a connection is open, then goes; UDP goes at once', async () => {
  let b: Backend | undefined;
  let server: net.Server | undefined;
  let sock: net.Socket | undefined;
  try {
    b = startBackend('drain1', 61);
    // A plain TCP listener in the backend namespace that holds connections open.
    sh(`ip netns exec drain1 sh -c 'busybox nc -ll -p 9000 -e cat >/dev/null 2>&1 & echo $! > /tmp/drain1-nc.pid'`);
    waitFor(() => shStatus('ip netns exec drain1 ss -ltn | grep -q :9000').status === 0, 5000, 'nc listening');
    let now = 0;
    const engine = new SyncEngine({ ipvs, link, log: quiet, now: () => now, gracefulTimeoutMs: 60_000 });
    const vs = svc('10.96.3.1', 9000);
    const udp = svc('10.96.3.1', 53, 'udp');
    const rs: RealServer = { address: b.address, port: 9000 };
    const other: RealServer = { address: '10.244.99.9', port: 9000 };
    engine.sync(desired([[vs, [rs, other]], [udp, [{ address: b.address, port: 53 }]]]));
    // Connect through the VIP until the connection lands on the backend we will remove.
    for (let i = 0; i < 4 && !sock; i++) {
      const s = net.connect({ host: '10.96.3.1', port: 9000 });
      const ok = await new Promise<boolean>((res) => { s.once('connect', () => res(true)); s.once('error', () => res(false)); setTimeout(() => res(false), 3000); });
      if (ok) sock = s; else s.destroy();
    }
    assert.ok(sock, 'a connection through the VIP to the backend');
    s_write(sock!, 'hello\n');
    const vsKey = serviceKeyString(vs);
    const r = engine.sync(desired([[vs, [other]], [udp, []]]), [vsKey, serviceKeyString(udp)]);
    assert.equal(r.drained, 1);
    assert.match(sh('ipvsadm -Ln -t 10.96.3.1:9000'), new RegExp(`${b.address.replace(/\./g, '\\.')}:9000\\s+Masq\\s+0\\s+1`));
    assert.doesNotMatch(sh('ipvsadm -Ln -u 10.96.3.1:53'), /10\.244/, 'UDP real server deleted at once');
    assert.equal(engine.draining.size, 1);
    // Still connected: a check leaves it alone; the connection still works.
    assert.equal(engine.checkDraining(), 0);
    s_write(sock!, 'still here\n');
    assert.match(sh('ipvsadm -Ln -t 10.96.3.1:9000'), new RegExp(b.address.replace(/\./g, '\\.')));
    // The connection ends (a reset: the kernel then forgets it within its CLOSE timeout, 10 s);
    // once it is gone the server is deleted.
    sock!.resetAndDestroy();
    sock = undefined;
    waitFor(() => { engine.checkDraining(); return engine.draining.size === 0; }, 30_000, 'drained real server deleted');
    assert.doesNotMatch(sh('ipvsadm -Ln -t 10.96.3.1:9000'), new RegExp(b.address.replace(/\./g, '\\.')));
    // The upper bound: a draining server with an open connection goes when the bound passes, and
    // not before.
    engine.sync(desired([[vs, [rs, other]], [udp, []]]), [vsKey]);
    for (let i = 0; i < 4 && !sock; i++) {
      const s = net.connect({ host: '10.96.3.1', port: 9000 });
      const ok = await new Promise<boolean>((res) => { s.once('connect', () => res(true)); s.once('error', () => res(false)); setTimeout(() => res(false), 3000); });
      if (ok) sock = s; else s.destroy();
    }
    assert.ok(sock, 'a second connection through the VIP to the backend');
    s_write(sock!, 'hello again\n');
    engine.sync(desired([[vs, [other]], [udp, []]]), [vsKey]);
    const rsKey = `${vsKey}|${serverKeyString(rs)}`;
    assert.deepEqual([...engine.draining.keys()], [rsKey], 'the backend drains');
    const activeRow = new RegExp(`${b.address.replace(/\./g, '\\.')}:9000\\s+Masq\\s+0\\s+1\\s`);
    assert.match(sh('ipvsadm -Ln -t 10.96.3.1:9000'), activeRow, 'at weight 0 with one active connection');
    now += 59_000;
    assert.equal(engine.checkDraining(), 0, 'before the bound, a server with a connection stays');
    assert.match(sh('ipvsadm -Ln -t 10.96.3.1:9000'), activeRow, 'still there, the connection still active');
    now += 2_000;
    engine.checkDraining();
    assert.equal(engine.draining.size, 0);
    assert.doesNotMatch(sh('ipvsadm -Ln -t 10.96.3.1:9000'), new RegExp(b.address.replace(/\./g, '\\.')), 'deleted at the bound, connection or not');
  } finally {
    sock?.destroy();
    server?.close();
    shStatus('kill $(cat /tmp/drain1-nc.pid)');
    b?.stop();
    resetKernel();
  }
});

function s_write(sock: net.Socket, text: string): void {
  sock.write(text);
}

test('a returning endpoint gets its weight back; a restarted engine adopts the kernel and restores weights', () => {
  const vs = svc('10.96.4.1', 80);
  const a: RealServer = { address: '10.244.4.2', port: 8080 };
  const b: RealServer = { address: '10.244.4.3', port: 8080 };
  const first = new SyncEngine({ ipvs, link, log: quiet });
  first.sync(desired([[vs, [a, b]]]));
  // b is removed while it (pretend) has connections: weight 0; kipvs then "crashes".
  sh('ipvsadm -e -t 10.96.4.1:80 -r 10.244.4.3:8080 -m -w 0');
  const second = new SyncEngine({ ipvs, link, log: quiet });
  const r = second.sync(desired([[vs, [a, b]]]));
  assert.equal(r.kind, 'full');
  assert.equal(r.operations, 1, 'only the weight is restored: no flush, no re-add');
  assert.deepEqual(r.counts, { 'update-server': 1 });
  assert.ok(saved().includes('-a -t 10.96.4.1:80 -r 10.244.4.3:8080 -m -w 1'));
  // Undrain in the same engine: remove b (no connections: deleted at once), re-add it.
  const r2 = second.sync(desired([[vs, [a]]]), [serviceKeyString(vs)]);
  assert.equal(r2.counts['delete-server'] ?? 0, 1);
  assert.ok(!saved().some((l) => l.includes('10.244.4.3')));
  second.sync(desired([[vs, [a, b]]]), [serviceKeyString(vs)]);
  assert.ok(saved().includes('-a -t 10.96.4.1:80 -r 10.244.4.3:8080 -m -w 1'));
  resetKernel();
});

test('cleanup removes what kipvs owns and kube-ipvs0, and nothing else', () => {
  const engine = new SyncEngine({ ipvs, link, log: quiet });
  engine.sync(desired([[svc('10.96.5.1', 80), [{ address: '10.244.5.2', port: 8080 }]]]));
  sh('ipvsadm -A -t 192.0.2.60:80 -s rr');
  const fresh = new SyncEngine({ ipvs, link, log: quiet });
  const r = fresh.cleanup();
  assert.equal(r.services, 1);
  assert.deepEqual(saved(), ['-A -t 192.0.2.60:80 -s rr']);
  assert.notEqual(shStatus('ip link show kube-ipvs0').status, 0);
  resetKernel();
});

void httpGet;
