// Netlink faults against the real kernel: the sync engine drives the real IPVS client while the fault
// injector of test/faults loses acknowledgements (late, dropped, ENOBUFS), interrupts sends, marks
// dumps interrupted and refuses single operations; the kernel also refuses a scheduler it lacks. After
// each, ipvsadm -Sn (the oracle, not the engine's counts) must show exactly the desired table: no
// object twice (a blind resend would also surface as EEXIST failures), none missing. A receive that is
// never answered must end in a typed error within the socket timeout instead of hanging.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { IpvsClient } from '../../src/ipvs/client.js';
import { Cmd } from '../../src/ipvs/constants.js';
import { LinkClient } from '../../src/link/link.js';
import { ConntrackClient } from '../../src/conntrack/client.js';
import { SyncEngine, type Logger } from '../../src/backends/ipvs/engine.js';
import type { DesiredIpvs, DesiredService } from '../../src/backends/ipvs/plan.js';
import { serviceKeyString, serverKeyString } from '../../src/ipvs/keys.js';
import type { VirtualService, RealServer } from '../../src/ipvs/types.js';
import { NetlinkTimeoutError, netlinkFaultCounts } from '../../src/netlink/faults.js';
import { openSocketCount } from '../../native-bindings/libnl.js';
import { injectFaults, type FaultLog, type Header, type RecvFault, type SendFault } from '../faults/netlink.js';
import { sh, shStatus, ipvsadmLinesOf } from './helpers.js';

const TIMEOUT_MS = 200;
const CHANGES: readonly number[] = [Cmd.NEW_SERVICE, Cmd.SET_SERVICE, Cmd.DEL_SERVICE, Cmd.NEW_DEST, Cmd.SET_DEST, Cmd.DEL_DEST];

/** What the tests arm; each armed fault fires once unless `persistent`. */
const armed = {
  /** Fails the next sends of a batch of changes. */
  send: [] as SendFault[],
  /** Fault of the first receive after a batch of changes went out. */
  afterBatch: undefined as RecvFault | undefined,
  /** Fault of the first receive of the n-th real-server dump (GET_DEST) from now. */
  destDump: undefined as { fault: RecvFault; nth: number } | undefined,
  /** From the next batch of changes on, every receive is swallowed (the kernel goes silent), until cleared. */
  silentFromBatch: false,
  /** Answer these operations (matched on their bytes) with an errno in the kernel's place. */
  refuse: undefined as ((h: Header) => number | undefined) | undefined,
};
let nextRecv: RecvFault | undefined;
let silent = false;

const faults = injectFaults({
  send(messages) {
    const batch = messages.some((m) => CHANGES.includes(m.cmd));
    if (batch && armed.send.length) return armed.send.shift();
    if (batch && armed.silentFromBatch) silent = true;
    if (batch && armed.afterBatch) {
      nextRecv = armed.afterBatch;
      armed.afterBatch = undefined;
    }
    if (armed.destDump && messages.some((m) => m.cmd === Cmd.GET_DEST) && --armed.destDump.nth === 0) {
      nextRecv = armed.destDump.fault;
      armed.destDump = undefined;
    }
    return undefined;
  },
  recv() {
    if (silent) return 'swallow';
    const f = nextRecv;
    nextRecv = undefined;
    return f;
  },
  refuse: (h) => armed.refuse?.(h),
});
const log: FaultLog = faults.log;

const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
const logger: Logger = { info() {}, debug() {}, error() {}, warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg: msg ?? '' }) };

let ipvs: IpvsClient;
let link: LinkClient;
let sockets0 = 0;

/**
 * Between tests: an empty IPVS table and no kube-ipvs0, through clients of our own without faults
 * (resetKernel's iptables and ipset commands cost seconds of process starts in the guest, and this
 * file, in a namespace of its own, touches neither).
 */
function reset(): void {
  const clean = IpvsClient.open();
  try {
    clean.flush();
  } finally {
    clean.close();
  }
  link.deleteLink('kube-ipvs0');
}

before(() => {
  sockets0 = openSocketCount();
  ipvs = IpvsClient.open({ timeoutMs: TIMEOUT_MS, wrap: faults.wrap });
  link = LinkClient.open();
  reset();
});
after(() => {
  reset();
  ipvs.close();
  link.close();
  assert.equal(openSocketCount(), sockets0, 'every socket a fault dropped was closed');
});
beforeEach(() => {
  reset();
  armed.send = [];
  armed.afterBatch = armed.destDump = armed.refuse = undefined;
  armed.silentFromBatch = silent = false;
  nextRecv = undefined;
  warnings.length = 0;
});

/** `n` services on 10.97.0.x, TCP and UDP in turn, each with three real servers. */
function table(n: number, scheduler: (i: number) => VirtualService['scheduler'] = () => 'rr'): DesiredIpvs {
  const services = new Map<string, DesiredService>();
  const boundAddresses = new Set<string>();
  for (let i = 1; i <= n; i++) {
    const service: VirtualService = { family: 'inet', protocol: i % 2 ? 'tcp' : 'udp', address: `10.97.0.${i}`, port: 80, scheduler: scheduler(i) };
    const servers: RealServer[] = [1, 2, 3].map((j) => ({ address: `10.98.${i}.${j}`, port: 8080 }));
    services.set(serviceKeyString(service), { service, servers: new Map(servers.map((s) => [serverKeyString(s), s])) });
    boundAddresses.add(service.address!);
  }
  return { services, boundAddresses };
}


/** ipvsadm -Sn, sorted: the kernel's table as Debian's tool reads it. */
function saved(): string[] {
  return sh('ipvsadm -Sn').trim().split('\n').filter(Boolean).sort();
}

function faultCount(kind: string): number {
  return netlinkFaultCounts().find((c) => c.op === 'ipvs batch' && c.kind === kind)?.count ?? 0;
}

/** True when the message carries IPv4 address a.b.c.d (in IPVS_DEST_ATTR_ADDR, say). */
function mentions(h: Header, address: string): boolean {
  return h.bytes.indexOf(Buffer.from(address.split('.').map(Number))) >= 0;
}

for (const fault of ['timeout', 'ENOBUFS', 'swallow'] as const) {
  test(`acks of a batch lost (${fault}): the engine reads the kernel again and finishes the table, nothing added twice, nothing missing`, () => {
    const engine = new SyncEngine({ ipvs, link, log: logger });
    const want = table(12);
    const timeouts0 = faultCount(fault === 'ENOBUFS' ? 'enobufs' : 'timeout');
    const sockets = log.sockets;
    armed.afterBatch = fault;
    const t0 = performance.now();
    const r = engine.sync(want);
    const ms = performance.now() - t0;
    assert.equal(r.attempts, 2, 'one retry');
    // An add whose ack was lost is found in the kernel by the re-read, not sent again: no EEXIST.
    assert.deepEqual(r.failures.map((f) => f.error.message), []);
    assert.deepEqual(saved(), ipvsadmLinesOf(want));
    assert.equal(faultCount(fault === 'ENOBUFS' ? 'enobufs' : 'timeout'), timeouts0 + 1);
    assert.equal(log.sockets, sockets + 1, 'the faulted socket was replaced');
    assert.ok(warnings.some((w) => /netlink fault during sync/.test(w.msg)), 'the fault is logged');
    if (fault === 'swallow') assert.ok(ms >= TIMEOUT_MS && ms < 20 * TIMEOUT_MS + 5000, `a real socket timeout, ${Math.round(ms)} ms`);
    // The model matches the kernel: an incremental sync has nothing left to do.
    const again = engine.sync(want, [...want.services.keys()]);
    assert.equal(again.kind, 'incremental');
    assert.equal(again.operations, 0);
  });
}

test('sends interrupted (EINTR) or busy (EAGAIN) are made again once each: every operation applied exactly once', () => {
  const engine = new SyncEngine({ ipvs, link, log: logger });
  const want = table(6);
  armed.send = ['EINTR', 'EAGAIN'];
  const sendFaults = log.sendFaults;
  const r = engine.sync(want);
  assert.equal(log.sendFaults, sendFaults + 2);
  assert.equal(r.attempts, 1);
  // A datagram sent twice would have the kernel answer EEXIST to its adds.
  assert.deepEqual(r.failures.map((f) => f.error.message), []);
  assert.deepEqual(saved(), ipvsadmLinesOf(want));
});

test('per-item refusals (ENOMEM) fail those objects with a warning naming them; the rest is programmed; the next sync retries them', () => {
  const engine = new SyncEngine({ ipvs, link, log: logger });
  const want = table(5);
  armed.refuse = (h) => (h.cmd === Cmd.NEW_DEST && (mentions(h, '10.98.2.2') || mentions(h, '10.98.4.3')) ? 12 /* ENOMEM */ : undefined);
  const r = engine.sync(want);
  assert.deepEqual(r.failures.map((f) => `${f.operation.op} ${'server' in f.operation ? f.operation.server.address : ''} ${(f.error as { code?: string }).code}`).sort(),
    ['add-server 10.98.2.2 ENOMEM', 'add-server 10.98.4.3 ENOMEM']);
  const missing = ['-a -u 10.97.0.2:80 -r 10.98.2.2:8080 -m -w 1', '-a -u 10.97.0.4:80 -r 10.98.4.3:8080 -m -w 1'];
  assert.deepEqual(saved(), ipvsadmLinesOf(want).filter((l) => !missing.includes(l)));
  const named = warnings.filter((w) => w.msg === 'netlink operation failed').map((w) => String(w.obj.op));
  assert.equal(named.length, 2);
  assert.ok(named.some((op) => op.includes('10.98.2.2')) && named.some((op) => op.includes('10.98.4.3')), named.join('; '));
  assert.ok(engine.dirty, 'a failure makes the next sync read the kernel');
  // The kernel has room again: the next sync, even one asked for no service, puts them in.
  armed.refuse = undefined;
  const next = engine.sync(want, []);
  assert.equal(next.kind, 'full');
  assert.deepEqual(next.failures, []);
  assert.equal(next.operations, 2);
  assert.deepEqual(saved(), ipvsadmLinesOf(want));
});

test('the kernel refusing a scheduler it has no module for fails that service alone; the others are programmed', () => {
  // Linux added ip_vs_twos in 6.2; Debian 12's 6.1 has none, so the kernel itself refuses it.
  assert.notEqual(shStatus('modprobe ip_vs_twos').status, 0, 'this kernel has ip_vs_twos: pick a scheduler it lacks');
  const engine = new SyncEngine({ ipvs, link, log: logger });
  const bad = table(4, (i) => (i === 3 ? 'twos' : 'rr'));
  const r = engine.sync(bad);
  const failed = r.failures.map((f) => f.operation.op === 'add-service' ? `${f.operation.op} ${f.operation.service.address}` : f.operation.op);
  assert.ok(failed.includes('add-service 10.97.0.3'), failed.join(', '));
  assert.ok(r.failures.every((f) => f.operation.service.address === '10.97.0.3'), 'only the refused service fails');
  assert.ok(warnings.some((w) => w.msg === 'netlink operation failed' && String(w.obj.op).includes('10.97.0.3')));
  assert.deepEqual(saved(), ipvsadmLinesOf(bad).filter((l) => !l.includes('10.97.0.3:')));
  const good = table(4);
  const fixed = engine.sync(good);
  assert.deepEqual(fixed.failures, []);
  assert.deepEqual(saved(), ipvsadmLinesOf(good));
});

test('a real-server dump marked interrupted (NLM_F_DUMP_INTR) is read again: each service has its servers once', () => {
  const engine = new SyncEngine({ ipvs, link, log: logger });
  const want = table(5);
  engine.sync(want);
  armed.destDump = { fault: 'dump-intr', nth: 3 };
  const table1 = ipvs.dump({ stats: false });
  assert.equal(armed.destDump, undefined, 'the fault fired');
  assert.deepEqual(table1.map((e) => e.servers.length), [3, 3, 3, 3, 3]);
  assert.ok(netlinkFaultCounts().some((c) => c.op === 'ipvs dump' && c.kind === 'dump_interrupted'));
  // ipvsadm agrees, line for line.
  const lines = table1.flatMap(({ service: s, servers }) => [
    `-A ${s.protocol === 'tcp' ? '-t' : '-u'} ${s.address}:${s.port} -s ${s.scheduler}`,
    ...servers.map((r) => `-a ${s.protocol === 'tcp' ? '-t' : '-u'} ${s.address}:${s.port} -r ${r.address}:${r.port} -m -w ${r.weight}`),
  ]).sort();
  assert.deepEqual(lines, saved());
});

test('a kernel that goes silent: the sync fails with NetlinkTimeoutError in bounded time, and converges once it answers again', () => {
  const engine = new SyncEngine({ ipvs, link, log: logger });
  const want = table(4);
  armed.silentFromBatch = true;
  const t0 = performance.now();
  // Attempt 1: the batch is applied but its acks never come. Attempt 2: the re-read is not answered either.
  assert.throws(() => engine.sync(want), (err: unknown) => err instanceof NetlinkTimeoutError && err.op === 'ipvs dump');
  const ms = performance.now() - t0;
  // One timeout for the batch, three for the dump's tries.
  assert.ok(ms >= 4 * TIMEOUT_MS && ms < 20 * TIMEOUT_MS + 5000, `gave up after ${Math.round(ms)} ms`);
  assert.ok(engine.dirty);
  armed.silentFromBatch = silent = false;
  const r = engine.sync(want, []);
  assert.equal(r.kind, 'full');
  assert.deepEqual(r.failures, []);
  // What the silent attempt applied is found, not applied again.
  assert.equal(r.operations, 0);
  assert.deepEqual(saved(), ipvsadmLinesOf(want));
});

test('a conntrack dump marked interrupted is read again: each flow once, and each stale flow deleted once', () => {
  let next: RecvFault | undefined;
  const ctFaults = injectFaults({ recv: () => { const f = next; next = undefined; return f; } });
  const ct = ConntrackClient.open({ timeoutMs: TIMEOUT_MS, wrap: ctFaults.wrap });
  try {
    sh('conntrack -D -d 198.19.7.1 2>/dev/null || true');
    for (let i = 1; i <= 6; i++) sh(`conntrack -I -p udp -s 198.18.7.${i} -d 198.19.7.1 --sport 1000 --dport 53 --timeout 120`);
    const before = netlinkFaultCounts().find((c) => c.op === 'conntrack dump' && c.kind === 'dump_interrupted')?.count ?? 0;
    next = 'dump-intr';
    const flows = ct.list('inet', 17).filter((f) => f.original.dst === '198.19.7.1');
    assert.equal(next, undefined, 'the fault fired');
    assert.deepEqual(flows.map((f) => f.original.src).sort(), [1, 2, 3, 4, 5, 6].map((i) => `198.18.7.${i}`));
    next = 'dump-intr';
    const r = ct.deleteWhere('inet', 17, (flow) => { const f = flow.toFlow(); return f.original.dst === '198.19.7.1' && /\.[123]$/.test(f.original.src); });
    assert.equal(next, undefined, 'the fault fired');
    // Deleted once each: a second delete of one would come back ENOENT and count as gone.
    assert.deepEqual({ matched: r.matched, deleted: r.deleted, gone: r.gone, failures: r.failures.length }, { matched: 3, deleted: 3, gone: 0, failures: 0 });
    const left = sh('conntrack -L -p udp -d 198.19.7.1 2>/dev/null').split('\n').filter(Boolean).map((l) => /src=(\S+)/.exec(l)?.[1]).sort();
    assert.deepEqual(left, ['198.18.7.4', '198.18.7.5', '198.18.7.6']);
    assert.equal((netlinkFaultCounts().find((c) => c.op === 'conntrack dump' && c.kind === 'dump_interrupted')?.count ?? 0) - before, 2);
  } finally {
    ct.close();
    sh('conntrack -D -d 198.19.7.1 2>/dev/null || true');
  }
});
