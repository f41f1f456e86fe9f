// NetlinkConnection under transport faults, against a fake kernel (a transport that answers requests
// the way the kernel does: an ack per acknowledged request, a dump's entries spread over datagrams and
// then NLMSG_DONE) with the fault injector of test/faults in front of it. And the socket timeout
// itself on a real netlink socket of this machine: a receive that nothing will answer must fail with a
// typed error in about the timeout, not block for ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LibnlError, NLE, NETLINK_ROUTE, NETLINK_GENERIC, NetlinkSocket } from '../../native-bindings/libnl.js';
import { NetlinkConnection, KernelError, type NetlinkTransport } from '../../src/netlink/connection.js';
import {
  NetlinkFaultError, NetlinkTimeoutError, NetlinkOverrunError, NetlinkDumpInterruptedError, netlinkFaultCounts,
} from '../../src/netlink/faults.js';
import { MessageWriter, NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTI, NLMSG_DONE } from '../../src/netlink/message.js';
import { injectFaults, headers, errorReply, type FaultHooks, type Header } from '../faults/netlink.js';

const ENTRY = 0x30;

/**
 * The kernel's side: state shared by every socket a connection opens. Requests are applied once each
 * (`applied`, by sequence number); a refused one (`refuse(seq)`) is answered with its errno, and one
 * that asked for an acknowledgement with 0; a dump is
 * answered with `dumpSize` entries, two per datagram, then NLMSG_DONE. Replies queue per socket, so
 * a dropped socket takes its late replies with it.
 */
class FakeKernel {
  readonly applied: number[] = [];
  /** Requests that asked for an acknowledgement (NLM_F_ACK), and datagrams received. */
  acksAsked = 0;
  datagrams = 0;
  dumps = 0;
  dumpSize = 5;
  refuse: (seq: number) => number = () => 0;

  socket(real: NetlinkTransport): NetlinkTransport {
    const queue: Buffer[] = [];
    let closed = false;
    return {
      send: (datagram) => {
        assert.ok(!closed, 'send on a closed socket');
        const acks: Buffer[] = [];
        this.datagrams++;
        for (const { header } of headers(datagram)) {
          if ((header.flags & NLM_F_DUMP) === NLM_F_DUMP) {
            this.dumps++;
            for (let i = 0; i < this.dumpSize; i += 2) {
              queue.push(Buffer.concat([entry(header.seq, i), ...(i + 1 < this.dumpSize ? [entry(header.seq, i + 1)] : [])]));
            }
            queue.push(done(header.seq));
          } else {
            this.applied.push(header.seq);
            // As netlink_rcv_skb: an answer for a failed request, or for one that asked for it.
            const errno = this.refuse(header.seq);
            if (errno || (header.flags & NLM_F_ACK)) acks.push(errorReply(header, errno));
            if (header.flags & NLM_F_ACK) this.acksAsked++;
          }
        }
        if (acks.length) queue.push(Buffer.concat(acks));
      },
      recvInPlace: (read) => {
        const d = queue.shift();
        // What SO_RCVTIMEO does when nothing comes.
        if (!d) throw new LibnlError('nl_recv', NLE.AGAIN, 'Try again');
        return read(d);
      },
      close: () => {
        closed = true;
        queue.length = 0;
        real.close();
      },
    };
  }
}

function entry(seq: number, value: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(20, 0);
  b.writeUInt16LE(ENTRY, 4);
  b.writeUInt16LE(NLM_F_MULTI, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(value, 16);
  return b;
}

function done(seq: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(20, 0);
  b.writeUInt16LE(NLMSG_DONE, 4);
  b.writeUInt16LE(NLM_F_MULTI, 6);
  b.writeUInt32LE(seq, 8);
  return b;
}

function connect(kernel: FakeKernel, hooks: FaultHooks = {}, name = 'fake') {
  const faults = injectFaults(hooks);
  const conn = new NetlinkConnection(NETLINK_GENERIC, { name, timeoutMs: 100, wrap: (s) => faults.wrap(kernel.socket(s)) });
  return { conn, log: faults.log };
}

function batch(conn: NetlinkConnection, n: number): MessageWriter {
  const w = new MessageWriter();
  for (let i = 0; i < n; i++) w.begin(0x20, NLM_F_REQUEST | NLM_F_ACK, conn.nextSeq()).genl(1, 1).end();
  return w;
}

function dumpRequest(conn: NetlinkConnection, w = new MessageWriter()): MessageWriter {
  return w.begin(0x20, NLM_F_REQUEST | NLM_F_DUMP, conn.nextSeq()).genl(2, 1).end();
}

function faultCount(op: string, kind: string): number {
  return netlinkFaultCounts().find((c) => c.op === op && c.kind === kind)?.count ?? 0;
}

/** Fails the calls whose (1-based) numbers are listed, with `fault`. */
function onCalls<F>(fault: F, ...calls: number[]): () => F | undefined {
  let n = 0;
  return () => (calls.includes(++n) ? fault : undefined);
}


test('a batch asks one acknowledgement per datagram; failures anywhere in a datagram still come back at their index', () => {
  const kernel = new FakeKernel();
  const { conn } = connect(kernel);
  const n = 10_000;
  const w = batch(conn, n);
  const seqs = Array.from({ length: n }, (_, i) => w.seqOf(i));
  // Refused: the first, some in the middle of datagrams, the last.
  const refused = new Map([[0, 17], [1234, 2], [1235, 22], [7777, 1], [9999, 3]]);
  kernel.refuse = (seq) => refused.get(seqs.indexOf(seq)) ?? 0;
  const results = conn.execute(w);
  assert.equal(results.length, n);
  results.forEach((errno, i) => assert.equal(errno, refused.get(i) ?? 0, `request ${i}`));
  assert.equal(kernel.applied.length, n, 'every request reached the kernel once');
  assert.ok(kernel.datagrams > 1, `several datagrams: ${kernel.datagrams}`);
  assert.equal(kernel.acksAsked, kernel.datagrams, 'one acknowledgement asked per datagram: its last request');
});

test('a send interrupted (EINTR) or refused for want of room (EAGAIN, ENOBUFS) is made again: every request applied exactly once', () => {
  const kernel = new FakeKernel();
  let n = 0;
  const faults: Record<number, 'EINTR' | 'EAGAIN' | 'ENOBUFS'> = { 1: 'EINTR', 2: 'EAGAIN', 4: 'ENOBUFS' };
  const { conn, log } = connect(kernel, { send: () => faults[++n] }, 'send-retry');
  const w = batch(conn, 3);
  assert.deepEqual(conn.execute(w), [0, 0, 0]);
  assert.equal(log.sendFaults, 2);
  assert.deepEqual(kernel.applied, [w.seqOf(0), w.seqOf(1), w.seqOf(2)]);
  const w2 = batch(conn, 1);
  assert.deepEqual(conn.execute(w2), [0]);
  assert.equal(log.sendFaults, 3);
  assert.equal(kernel.applied.filter((s) => s === w2.seqOf(0)).length, 1);
  assert.equal(faultCount('send-retry batch', 'eintr'), 1);
  assert.equal(faultCount('send-retry batch', 'eagain'), 1);
  assert.equal(faultCount('send-retry batch', 'enobufs'), 1);
  assert.equal(conn.socketsOpened, 1, 'a retried send keeps the socket');
  conn.close();
});

test('a send that keeps failing gives up with a typed timeout error after three tries, having sent nothing', () => {
  const kernel = new FakeKernel();
  const { conn, log } = connect(kernel, { send: () => 'EAGAIN' }, 'send-stuck');
  assert.throws(() => conn.execute(batch(conn, 2)), (err: unknown) => {
    assert.ok(err instanceof NetlinkTimeoutError, String(err));
    assert.equal(err.op, 'send-stuck batch');
    assert.equal(err.kind, 'timeout');
    return true;
  });
  assert.equal(log.sendFaults, 3);
  assert.deepEqual(kernel.applied, []);
  assert.equal(faultCount('send-stuck batch', 'timeout'), 1);
  conn.close();
});

test('a receive interrupted by a signal (EINTR) is made again without losing the reply', () => {
  const kernel = new FakeKernel();
  const { conn, log } = connect(kernel, { recv: onCalls('EINTR' as const, 1, 2) }, 'recv-eintr');
  kernel.refuse = (seq) => (seq % 2 ? 12 /* ENOMEM */ : 0);
  const w = batch(conn, 4);
  const want = [0, 1, 2, 3].map((i) => (w.seqOf(i) % 2 ? 12 : 0));
  assert.deepEqual(conn.execute(w), want);
  assert.equal(log.recvFaults, 2);
  assert.equal(faultCount('recv-eintr batch', 'eintr'), 2);
  assert.equal(conn.socketsOpened, 1);
  conn.close();
});

test('a batch whose ack never comes fails with NetlinkTimeoutError; the late ack dies with the dropped socket and is never taken for a later answer', () => {
  const kernel = new FakeKernel();
  // The first receive times out although the ack is queued (it arrives late).
  const { conn, log } = connect(kernel, { recv: onCalls('timeout' as const, 1) }, 'lost-ack');
  const w = batch(conn, 2);
  assert.throws(() => conn.execute(w), (err: unknown) => err instanceof NetlinkTimeoutError && err.op === 'lost-ack batch' && err.timeoutMs === 100);
  // The kernel applied both: a caller must read the kernel, not send them again.
  assert.deepEqual(kernel.applied, [w.seqOf(0), w.seqOf(1)]);
  assert.equal(log.sockets, 1);
  // The next batch goes over a new socket; its answers are its own (the refusals prove which acks were read).
  kernel.refuse = () => 17; // EEXIST
  const w2 = batch(conn, 2);
  assert.deepEqual(conn.execute(w2), [17, 17]);
  assert.equal(conn.socketsOpened, 2);
  assert.equal(log.sockets, 2);
  assert.equal(faultCount('lost-ack batch', 'timeout'), 1);
  conn.close();
});

test('a dropped reply makes the receive time out: a typed error, not a hang', () => {
  const kernel = new FakeKernel();
  const { conn, log } = connect(kernel, { recv: onCalls('drop' as const, 1) }, 'dropped');
  assert.throws(() => conn.execute(batch(conn, 3)), NetlinkTimeoutError);
  assert.equal(log.lost, 1);
  conn.close();
});

test('ENOBUFS on a receive (replies lost) fails the batch with NetlinkOverrunError and drops the socket', () => {
  const kernel = new FakeKernel();
  const { conn } = connect(kernel, { recv: onCalls('ENOBUFS' as const, 1) }, 'overrun');
  assert.throws(() => conn.execute(batch(conn, 2)), (err: unknown) => err instanceof NetlinkOverrunError && err.kind === 'enobufs');
  assert.deepEqual(conn.execute(batch(conn, 1)), [0]);
  assert.equal(conn.socketsOpened, 2);
  assert.equal(faultCount('overrun batch', 'enobufs'), 1);
  conn.close();
});

test('an acknowledged request (a change) is not sent again after a timeout: the typed error goes to the caller', () => {
  const kernel = new FakeKernel();
  const { conn } = connect(kernel, { recv: onCalls('timeout' as const, 1) }, 'change');
  let builds = 0;
  assert.throws(() => conn.request((seq) => {
    builds++;
    return new MessageWriter().begin(0x20, NLM_F_REQUEST | NLM_F_ACK, seq).genl(1, 1).end();
  }, 'change something'), NetlinkTimeoutError);
  assert.equal(builds, 1);
  assert.equal(kernel.applied.length, 1);
  conn.close();
});

test('a kernel refusal of a single request stays a KernelError naming it, with no fault counted', () => {
  const kernel = new FakeKernel();
  kernel.refuse = () => 12;
  const { conn } = connect(kernel, {}, 'refusal');
  assert.throws(() => conn.request((seq) => new MessageWriter().begin(0x20, NLM_F_REQUEST | NLM_F_ACK, seq).genl(1, 1).end(), 'add virtual service TCP 10.0.0.1:80'),
    (err: unknown) => err instanceof KernelError && err.code === 'ENOMEM' && /add virtual service TCP 10\.0\.0\.1:80/.test(err.message));
  assert.equal(netlinkFaultCounts().filter((c) => c.op.startsWith('refusal')).length, 0);
  conn.close();
});

test('request(): a dump marked NLM_F_DUMP_INTR, or one that times out or overruns, is read again; the replies are those of the last read', () => {
  const kernel = new FakeKernel();
  // The first read's first datagram is flagged interrupted; the second read is clean.
  const { conn } = connect(kernel, { recv: onCalls('dump-intr' as const, 1) }, 'dump-retry');
  const entries = conn.request((seq) => new MessageWriter().begin(0x20, NLM_F_REQUEST | NLM_F_DUMP, seq).genl(2, 1).end(), 'list');
  assert.equal(entries.length, kernel.dumpSize, 'no entry of the interrupted read is kept');
  assert.equal(kernel.dumps, 2);
  assert.equal(faultCount('dump-retry dump', 'dump_interrupted'), 1);
  conn.close();

  const k2 = new FakeKernel();
  let n = 0;
  const c2 = connect(k2, { recv: () => (++n === 2 ? 'timeout' : n === 5 ? 'ENOBUFS' : undefined) }, 'dump-faults').conn;
  const got = c2.request((seq) => new MessageWriter().begin(0x20, NLM_F_REQUEST | NLM_F_DUMP, seq).genl(2, 1).end(), 'list');
  assert.deepEqual(got.map((m) => m.payload.readUInt32LE(0)), [0, 1, 2, 3, 4]);
  assert.equal(k2.dumps, 3);
  assert.equal(c2.socketsOpened, 3);
  c2.close();
});

test('request(): a dump interrupted three times in a row fails with NetlinkDumpInterruptedError', () => {
  const kernel = new FakeKernel();
  const { conn } = connect(kernel, { recv: () => 'dump-intr' }, 'dump-busy');
  assert.throws(() => conn.request((seq) => new MessageWriter().begin(0x20, NLM_F_REQUEST | NLM_F_DUMP, seq).genl(2, 1).end(), 'list'),
    (err: unknown) => err instanceof NetlinkDumpInterruptedError && err.op === 'dump-busy dump' && /3 times/.test(err.message));
  assert.equal(kernel.dumps, 3);
  conn.close();
});

/** Runs three dumps through dumpEach and returns what each delivered, by index. */
function dumpThree(conn: NetlinkConnection, restart = true) {
  const w = new MessageWriter();
  for (let i = 0; i < 3; i++) dumpRequest(conn, w);
  const got: number[][] = [[], [], []];
  const restarts: number[] = [];
  const errors = conn.dumpEach(w, (i, type, payload) => {
    assert.equal(type, ENTRY);
    got[i]!.push(payload.readUInt32LE(0));
  }, restart ? (i) => {
    restarts.push(i);
    got[i] = [];
  } : undefined);
  return { got, restarts, errors };
}

test('dumpEach(): an interrupted dump (NLM_F_DUMP_INTR) is read again after onRestart; the others are read once', () => {
  const kernel = new FakeKernel();
  // Receives 1-4 are dump 0 (entries two per datagram, then DONE); 5 is dump 1's first datagram.
  const { conn } = connect(kernel, { recv: onCalls('dump-intr' as const, 5) }, 'each-intr');
  const r = dumpThree(conn);
  assert.deepEqual(r.restarts, [1]);
  assert.deepEqual(r.got, [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]);
  assert.deepEqual(r.errors, [0, 0, 0]);
  assert.equal(kernel.dumps, 4);
  assert.equal(faultCount('each-intr dump', 'dump_interrupted'), 1);
  conn.close();
});

test('dumpEach(): a dump that times out midway is read again on a new socket', () => {
  const kernel = new FakeKernel();
  // Receive 6 is dump 1's second datagram.
  const { conn } = connect(kernel, { recv: onCalls('timeout' as const, 6) }, 'each-timeout');
  const r = dumpThree(conn);
  assert.deepEqual(r.restarts, [1]);
  assert.deepEqual(r.got, [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]);
  assert.equal(conn.socketsOpened, 2);
  conn.close();
});

test('dumpEach(): without onRestart an interrupted dump cannot be taken back and throws', () => {
  const kernel = new FakeKernel();
  const { conn } = connect(kernel, { recv: onCalls('dump-intr' as const, 2) }, 'each-norestart');
  assert.throws(() => dumpThree(conn, false), (err: unknown) => err instanceof NetlinkDumpInterruptedError && err.kind === 'dump_interrupted');
  conn.close();
});

test('dumpEach(): a dump that never stops being interrupted gives up after three reads', () => {
  const kernel = new FakeKernel();
  const { conn } = connect(kernel, { recv: () => 'dump-intr' }, 'each-busy');
  assert.throws(() => dumpThree(conn), NetlinkDumpInterruptedError);
  assert.equal(kernel.dumps, 3);
  conn.close();
});

/** One dump through dumpStream: what it delivered (after any restarts) and how often it restarted. */
function streamOne(conn: NetlinkConnection) {
  let got: number[] = [];
  let restarts = 0;
  conn.dumpStream((seq) => new MessageWriter().begin(0x20, NLM_F_REQUEST | NLM_F_DUMP, seq).genl(2, 1).end(), 'list things', (type, payload) => {
    assert.equal(type, ENTRY);
    got.push(payload.readUInt32LE(0));
  }, () => {
    restarts++;
    got = [];
  });
  return { got, restarts };
}

test('dumpStream(): replies handed on as they come; an interrupted or timed-out read starts over after onRestart', () => {
  const kernel = new FakeKernel();
  assert.deepEqual(streamOne(connect(kernel, {}, 'stream-ok').conn), { got: [0, 1, 2, 3, 4], restarts: 0 });
  // Receive 2 is the first read's second datagram; receive 4 the second read's first.
  let n = 0;
  const { conn } = connect(kernel, { recv: () => (++n === 2 ? 'dump-intr' : n === 5 ? 'timeout' : undefined) }, 'stream-faults');
  assert.deepEqual(streamOne(conn), { got: [0, 1, 2, 3, 4], restarts: 2 });
  assert.equal(conn.socketsOpened, 2);
  conn.close();
});

test('dumpStream(): a dump the kernel refuses is a KernelError naming it; one never left uninterrupted gives up after three reads', () => {
  const kernel = new FakeKernel();
  const refused = connect(kernel, { refuse: () => 1 }, 'stream-refused').conn;
  assert.throws(() => streamOne(refused), (err: unknown) => err instanceof KernelError && /list things/.test(err.message) && err.code === 'EPERM');
  refused.close();
  const busy = connect(kernel, { recv: () => 'dump-intr' }, 'stream-busy').conn;
  const before = kernel.dumps;
  assert.throws(() => streamOne(busy), NetlinkDumpInterruptedError);
  assert.equal(kernel.dumps - before, 3);
  busy.close();
});

test('per-item refusals injected into a batch answer those items only; the rest reach the kernel once', () => {
  const kernel = new FakeKernel();
  const refusedSeqs = new Set<number>();
  const { conn, log } = connect(kernel, { refuse: (h: Header) => (refusedSeqs.has(h.seq) ? 12 : undefined) }, 'refuse');
  const w = batch(conn, 5);
  refusedSeqs.add(w.seqOf(1)).add(w.seqOf(3));
  assert.deepEqual(conn.execute(w), [0, 12, 0, 12, 0]);
  assert.deepEqual(kernel.applied, [w.seqOf(0), w.seqOf(2), w.seqOf(4)]);
  assert.equal(log.refused.length, 2);
  conn.close();
});

test('a closed connection stays closed: no socket is opened behind the caller\'s back', () => {
  const kernel = new FakeKernel();
  const { conn, log } = connect(kernel);
  conn.close();
  assert.throws(() => conn.execute(batch(conn, 1)), (err: unknown) => err instanceof LibnlError && err.code === NLE.BAD_SOCK);
  assert.equal(log.sockets, 1);
});

test('real socket: a receive nothing will answer fails with NLE_AGAIN after the timeout instead of blocking', () => {
  const socket = NetlinkSocket.open(NETLINK_ROUTE);
  try {
    socket.setTimeouts(150);
    const t0 = performance.now();
    assert.throws(() => socket.recvInPlace(() => undefined), (err: unknown) => err instanceof LibnlError && err.code === NLE.AGAIN);
    const ms = performance.now() - t0;
    assert.ok(ms >= 140 && ms < 2000, `returned after ${ms} ms`);
  } finally {
    socket.close();
  }
});

test('real socket: a link dump whose replies are all dropped fails with NetlinkTimeoutError within its three tries', () => {
  // Swallow every reply: each read waits for the socket's real SO_RCVTIMEO.
  const faults = injectFaults({ recv: () => 'swallow' });
  const conn = new NetlinkConnection(NETLINK_ROUTE, { name: 'route-test', timeoutMs: 150, wrap: faults.wrap });
  try {
    const t0 = performance.now();
    assert.throws(() => conn.request((seq) => {
      const w = new MessageWriter().begin(18 /* RTM_GETLINK */, NLM_F_REQUEST | NLM_F_DUMP, seq);
      w.raw(Buffer.alloc(16)); // struct ifinfomsg, AF_UNSPEC
      return w.end();
    }, 'list links'), (err: unknown) => err instanceof NetlinkTimeoutError && err.op === 'route-test dump');
    const ms = performance.now() - t0;
    assert.ok(ms >= 3 * 140 && ms < 5000, `gave up after ${ms} ms`);
    assert.ok(faults.log.lost >= 3, `lost ${faults.log.lost} datagrams`);
    assert.equal(conn.socketsOpened, 3);
  } finally {
    conn.close();
  }
  assert.ok(netlinkFaultCounts().some((c) => c.op === 'route-test dump' && c.kind === 'timeout' && c.count === 3));
});

test('NetlinkFaultError subclasses carry op and kind in their message', () => {
  const e = new NetlinkTimeoutError('ipvs batch', 5000);
  assert.ok(e instanceof NetlinkFaultError);
  assert.match(e.message, /^netlink ipvs batch: no reply within 5000 ms/);
});

test('libnl\'s own requests: a timeout becomes NetlinkTimeoutError and drops the socket; the kernel\'s answers pass through', () => {
  const conn = new NetlinkConnection(NETLINK_ROUTE, { name: 'route-libnl', timeoutMs: 150 });
  try {
    // A real request libnl makes on the socket: the generic netlink controller is always there.
    const genl = new NetlinkConnection(NETLINK_GENERIC, { name: 'genl-libnl', timeoutMs: 150 });
    assert.ok((genl.viaLibnl('resolve family', (s) => s.resolveGenlFamily('nlctrl')) ?? 0) > 0);
    genl.close();
    const opened = conn.socketsOpened;
    assert.throws(() => conn.viaLibnl('add link', () => { throw new LibnlError('nl_recv', NLE.AGAIN, 'Try again'); }),
      (err: unknown) => err instanceof NetlinkTimeoutError && err.op === 'route-libnl add link');
    assert.ok(netlinkFaultCounts().some((c) => c.op === 'route-libnl add link' && c.kind === 'timeout'));
    const refusal = new LibnlError('rtnl_link_add', NLE.EXIST, 'Object exists');
    assert.throws(() => conn.viaLibnl('add link', () => { throw refusal; }), (err: unknown) => err === refusal);
    assert.equal(conn.socketsOpened, opened + 1, 'one new socket after the timeout, none after the refusal');
  } finally {
    conn.close();
  }
});
