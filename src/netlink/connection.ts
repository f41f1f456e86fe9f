// Request/response over one netlink socket: sequence numbers, batches of acknowledged requests sent
// many per datagram, dumps, and kernel errors mapped to typed errors. Knows message framing, not
// what any subsystem's messages mean. Transport faults (a timeout, ENOBUFS, an interrupted dump) are
// handled here: see faults.ts for what the caller gets and must do.
import { constants as os } from 'node:os';
import { NetlinkSocket, LibnlError, NLE, NETLINK_GENERIC, NETLINK_ROUTE } from '../../native-bindings/libnl.js';
import {
  MessageWriter, parseMessages, parseError, type Message,
  NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP, NLMSG_OVERRUN, NLMSG_HDRLEN, NLM_F_DUMP,
} from './message.js';
import { inNetworkNamespace, type NamespaceOption } from './netns.js';
import type { KeptReplies } from './kept-replies.js';
import {
  NetlinkFaultError, NetlinkTimeoutError, NetlinkOverrunError, NetlinkDumpInterruptedError, countNetlinkFault,
} from './faults.js';

const ERRNO_NAMES: Record<number, string> = {};
for (const [name, n] of Object.entries(os.errno)) ERRNO_NAMES[n] ??= name;

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

const ERRNO_TEXT: Record<string, string> = {
  EEXIST: 'already exists',
  ENOENT: 'no such object',
  ESRCH: 'no such service',
  EINVAL: 'invalid argument',
  EPERM: 'operation not permitted',
  EACCES: 'permission denied',
  ENOMEM: 'out of memory',
  EBUSY: 'busy',
  ERANGE: 'value out of range',
  EAFNOSUPPORT: 'address family not supported',
  EOPNOTSUPP: 'operation not supported',
  EADDRNOTAVAIL: 'address not available',
  ENODEV: 'no such device',
  EPROTONOSUPPORT: 'protocol not supported',
};

/** The kernel refused a request: `code` is the errno's name, `object` what the request was about. */
export class KernelError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly object: string;
  constructor(object: string, errno: number, detail?: string) {
    const code = errnoName(errno);
    super(`${object}: ${detail ?? ERRNO_TEXT[code] ?? 'kernel error'} (${code})`);
    this.name = 'KernelError';
    this.errno = errno;
    this.code = code;
    this.object = object;
  }
}

const NLM_F_DUMP_INTR = 0x10;
const BATCH_BYTES = 64 * 1024;
/** A dump is read at most this often: once, then again after an interruption, timeout or overrun. */
const DUMP_ATTEMPTS = 3;
/** A send that failed before sending anything (EINTR, EAGAIN, ENOBUFS) is made at most this often. */
const SEND_ATTEMPTS = 3;
/** A receive interrupted by a signal before receiving anything is made at most this often. */
const RECV_ATTEMPTS = 5;
/** Default bound on one blocking send or receive. The kernel answers IPVS, rtnetlink and ipset
 * requests within the sendmsg call or the next recvmsg, so only a fault waits this long. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** What a connection needs of a socket; NetlinkSocket, or a test's wrapper around one. */
export interface NetlinkTransport {
  send(datagram: Uint8Array): void;
  recvInPlace<T>(read: (datagram: Buffer) => T): T;
  /** send() on libuv's thread pool (NetlinkSocket has it; without it executeAsync blocks). */
  sendAsync?(datagram: Uint8Array): Promise<void>;
  close(): void;
}

export interface ConnectionOptions extends NamespaceOption {
  /** Names the connection in errors and metrics ("ipvs", "ipset", …); default from the protocol. */
  name?: string;
  /** Bound on each blocking send and receive, in ms (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  /**
   * Tests only: wraps every socket the connection opens (fault injection). Production code never
   * sets it, and without it the connection talks to the socket directly.
   */
  wrap?: (socket: NetlinkSocket) => NetlinkTransport;
}

const PROTOCOL_NAMES: Record<number, string> = { [NETLINK_ROUTE]: 'route', [NETLINK_GENERIC]: 'genl', 12: 'netfilter' };

/** The transport's own failures, which the connection maps to NetlinkFaultError. */
function libnlCode(err: unknown): number | undefined {
  return err instanceof LibnlError ? err.code : undefined;
}

export class NetlinkConnection {
  readonly protocol: number;
  readonly name: string;
  readonly timeoutMs: number;
  #socket: NetlinkSocket | null = null;
  #io: NetlinkTransport | null = null;
  readonly #wrap: ConnectionOptions['wrap'];
  readonly #netns: string | undefined;
  #seq: number;
  #opened = 0;
  #closed = false;
  /** Most acknowledged requests in flight at once: their acks must all fit the receive buffer. */
  readonly window: number;

  /** `opts.netns`: open the socket (and any reopened after a fault) in that network namespace. */
  constructor(protocol: number, opts: ConnectionOptions = {}) {
    this.protocol = protocol;
    this.name = opts.name ?? PROTOCOL_NAMES[protocol] ?? `netlink ${protocol}`;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#wrap = opts.wrap;
    this.#netns = opts.netns;
    const rcvbuf = this.#open();
    // An ack costs about 1 KiB of receive buffer (skb overhead included).
    this.window = Math.max(32, Math.floor(rcvbuf / 1280));
    this.#seq = (Date.now() & 0x7fffffff) >>> 0;
  }

  /** Open a socket set up for batches; returns the receive buffer size granted. */
  #open(): number {
    const socket = inNetworkNamespace(this.#netns, () => NetlinkSocket.open(this.protocol));
    let rcvbuf: number;
    try {
      socket.capAcks();
      rcvbuf = socket.growBuffers(8 * 1024 * 1024);
      socket.setTimeouts(this.timeoutMs);
      this.#io = this.#wrap ? this.#wrap(socket) : socket;
    } catch (err) {
      socket.close();
      throw err;
    }
    this.#socket = socket;
    this.#opened++;
    return rcvbuf;
  }

  /** The socket to talk over, opened again if a fault dropped the last one. */
  get #transport(): NetlinkTransport {
    if (this.#closed) throw new LibnlError(`${this.name} connection`, NLE.BAD_SOCK, 'connection is closed');
    if (!this.#io) this.#open();
    return this.#io!;
  }

  /** The libnl socket itself (for libnl's own requests: family resolution, links). */
  get socket(): NetlinkSocket {
    void this.#transport;
    return this.#socket!;
  }

  /**
   * A request libnl makes itself on this connection's socket (generic netlink family resolution, link
   * add and delete). Its receive is bounded by the same socket timeout: a timeout becomes
   * NetlinkTimeoutError and drops the socket, so a late reply cannot answer a later request. Other
   * errors (the kernel's answers) pass through as they are.
   */
  viaLibnl<T>(op: string, call: (socket: NetlinkSocket) => T): T {
    try {
      return call(this.socket);
    } catch (err) {
      if (libnlCode(err) === NLE.AGAIN) throw this.#fault(`${this.name} ${op}`, err)!;
      throw err;
    }
  }

  /** How many sockets this connection has opened: 1, plus one per fault that dropped a socket. */
  get socketsOpened(): number {
    return this.#opened;
  }

  /**
   * Drop the socket after a fault: replies still on their way (late acks, the rest of a dump) go
   * with it, so none can be taken for the answer to a later request. The next call opens another.
   */
  #drop(): void {
    const io = this.#io;
    this.#io = null;
    this.#socket = null;
    io?.close();
  }

  /** Count a fault, drop the socket when its state is unknown, and return the typed error to throw. */
  #fault(op: string, err: unknown): NetlinkFaultError | undefined {
    const code = libnlCode(err);
    let fault: NetlinkFaultError | undefined;
    if (code === NLE.AGAIN) fault = new NetlinkTimeoutError(op, this.timeoutMs, { cause: err });
    else if (code === NLE.NOMEM) fault = new NetlinkOverrunError(op, { cause: err });
    else if (err instanceof NetlinkFaultError) fault = err;
    if (fault) countNetlinkFault(op, fault.kind);
    // Any failure of the transport (a fault, a malformed datagram, a closed socket) leaves replies
    // unaccounted for.
    this.#drop();
    return fault;
  }

  nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0 || 1;
    return this.#seq;
  }

  /**
   * Send one datagram. A send that failed before the kernel took the datagram (interrupted, buffer
   * busy or full) is made again: netlink hands a datagram to the kernel whole or not at all.
   */
  #send(op: string, datagram: Uint8Array): void {
    for (let attempt = 1; ; attempt++) {
      try {
        this.#transport.send(datagram);
        return;
      } catch (err) {
        this.#sendFailed(op, err, attempt);
      }
    }
  }

  /** #send() with the system call on libuv's thread pool, where the transport can (see sendAsync). */
  async #sendAsync(op: string, datagram: Uint8Array): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const io = this.#transport;
        await (io.sendAsync ? io.sendAsync(datagram) : io.send(datagram));
        return;
      } catch (err) {
        this.#sendFailed(op, err, attempt);
      }
    }
  }

  /** A failed send: returns when it is to be made again, else throws the typed error. */
  #sendFailed(op: string, err: unknown, attempt: number): void {
    const code = libnlCode(err);
    const kind = code === NLE.INTR ? 'eintr' : code === NLE.AGAIN ? 'eagain' : code === NLE.NOMEM ? 'enobufs' : undefined;
    if (kind && attempt < SEND_ATTEMPTS) {
      countNetlinkFault(op, kind);
      return;
    }
    throw this.#fault(op, err) ?? err;
  }

  /** Receive one datagram and pass `read` a view of it; faults become typed errors (see #fault). */
  #recvInPlace<T>(op: string, read: (datagram: Buffer) => T): T {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.#transport.recvInPlace(read);
      } catch (err) {
        this.#recvFailed(op, err, attempt);
      }
    }
  }

  /** A failed receive: returns when it is to be made again, else throws the typed error. */
  #recvFailed(op: string, err: unknown, attempt: number): void {
    // libnl retries EINTR itself; a wrapper may still report it. Nothing was received: again.
    if (libnlCode(err) === NLE.INTR && attempt < RECV_ATTEMPTS) {
      countNetlinkFault(op, 'eintr');
      return;
    }
    throw this.#fault(op, err) ?? err;
  }

  #recv(op: string): Message[] {
    return parseMessages(this.#recvInPlace(op, (d) => Buffer.from(d)));
  }

  /**
   * Send every message in `batch` (NLM_F_ACK rewritten: see #batchExchange) and return, for each, 0
   * or the errno the kernel answered it with. Messages go many per datagram, in windows whose answers
   * fit the receive buffer; a failing message does not stop the ones after it. On a transport fault this
   * throws NetlinkFaultError: some messages may have been applied and their acks lost, so nothing is
   * sent again here; the caller reads the kernel and decides.
   */
  execute(batch: MessageWriter): number[] {
    const op = `${this.name} batch`;
    const exchange = this.#batchExchange(batch);
    let r = exchange.next();
    while (!r.done) r = exchange.next('send' in r.value ? (this.#send(op, r.value.send), undefined) : this.#recv(op));
    return r.value;
  }

  /**
   * execute() with every send on libuv's thread pool: the kernel handles each request inside the
   * sendmsg call, so its work runs on another CPU while this thread goes on. The acknowledgements are
   * then read here, blocking: they are queued when the send returns (each is a datagram of its own,
   * so a receive per request on the pool would cost a turn of the event loop each). At most one call
   * at a time on a connection, and no other use of it until the promise settles.
   */
  async executeAsync(batch: MessageWriter): Promise<number[]> {
    const op = `${this.name} batch`;
    const exchange = this.#batchExchange(batch);
    let r = exchange.next();
    while (!r.done) r = exchange.next('send' in r.value ? (await this.#sendAsync(op, r.value.send), undefined) : this.#recv(op));
    return r.value;
  }

  /**
   * execute()'s exchange as the sends and receives it asks for, so both ways of calling share it.
   * Only the last request of each datagram keeps its NLM_F_ACK: the kernel handles a datagram's
   * requests in order and answers every failed one whatever its flags, so that one acknowledgement
   * is a fence after which each request of the datagram with no answer has succeeded. (With an
   * acknowledgement per request, receiving them was one system call each: a fifth of a large
   * batch's time in the sandbox.) The flags are set here, in `batch` itself, whatever the caller
   * asked: a request counts as succeeded unless the kernel answers it with an error.
   */
  *#batchExchange(batch: MessageWriter): Generator<{ send: Uint8Array } | { recv: true }, number[], Message[] | undefined> {
    const n = batch.messageCount;
    const results = new Array<number>(n).fill(-1);
    const index = new Map<number, number>();
    for (let i = 0; i < n; i++) index.set(batch.seqOf(i), i);
    let from = 0;
    while (from < n) {
      let to = Math.min(n, from + this.window);
      // Split the window into datagrams of at most BATCH_BYTES, each fenced by its last request.
      const fences = new Set<number>();
      let start = from;
      while (start < to) {
        let end = start + 1;
        while (end < to && batch.bytesOf(start, end + 1) <= BATCH_BYTES) end++;
        for (let i = start; i < end; i++) batch.setAck(i, i === end - 1);
        fences.add(end - 1);
        yield { send: batch.slice(start, end) };
        start = end;
      }
      to = start;
      let pending = fences.size;
      while (pending > 0) {
        for (const m of (yield { recv: true }) ?? []) {
          if (m.type !== NLMSG_ERROR) continue;
          const { errno } = parseError(m.payload);
          const i = index.get(m.seq);
          if (i === undefined || i < from || i >= to || results[i] !== -1) continue;
          results[i] = errno;
          if (fences.has(i)) pending--;
        }
      }
      for (let i = from; i < to; i++) if (results[i] === -1) results[i] = 0;
      from = to;
    }
    return results;
  }

  /**
   * Send one request and return its reply messages: for a dump, everything up to NLMSG_DONE; for a
   * plain request (sent with NLM_F_ACK), everything up to the acknowledgement. Throws KernelError
   * naming `what` when the kernel refuses it. A dump (a read) is made again when it was interrupted
   * by a concurrent change, timed out or overran the buffer; any other request throws
   * NetlinkFaultError on a fault, since it may have been applied.
   */
  request(build: (seq: number) => MessageWriter, what: string | (() => string)): Message[] {
    for (let attempt = 1; ; attempt++) {
      const seq = this.nextSeq();
      const datagram = build(seq).slice();
      const dump = datagram.length >= NLMSG_HDRLEN && (datagram.readUInt16LE(6) & NLM_F_DUMP) === NLM_F_DUMP;
      const op = `${this.name} ${dump ? 'dump' : 'request'}`;
      let replies: Message[];
      try {
        replies = this.#exchange(op, datagram, seq, what);
      } catch (err) {
        if (dump && err instanceof NetlinkFaultError && attempt < DUMP_ATTEMPTS) continue;
        if (dump && err instanceof NetlinkFaultError && err.kind === 'dump_interrupted') throw new NetlinkDumpInterruptedError(op, attempt);
        throw err;
      }
      return replies;
    }
  }

  /** One request and its replies; a dump the kernel marks interrupted throws NetlinkFaultError. */
  #exchange(op: string, datagram: Buffer, seq: number, what: string | (() => string)): Message[] {
    this.#send(op, datagram);
    const replies: Message[] = [];
    let interrupted = false;
    for (;;) {
      let finished = false;
      for (const m of this.#recv(op)) {
        if (m.seq !== seq) continue;
        if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === NLMSG_ERROR) {
          const { errno } = parseError(m.payload);
          if (errno !== 0) throw new KernelError(typeof what === 'string' ? what : what(), errno);
          finished = true;
        } else if (m.type === NLMSG_DONE) {
          const errno = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
          if (errno > 0) throw new KernelError(typeof what === 'string' ? what : what(), errno);
          finished = true;
        } else if (m.type !== NLMSG_NOOP && m.type !== NLMSG_OVERRUN) {
          replies.push(m);
        }
      }
      if (finished) break;
    }
    if (interrupted) {
      // The dump finished and the socket is clean: only the count, no drop.
      countNetlinkFault(op, 'dump_interrupted');
      throw new NetlinkFaultError(op, 'dump_interrupted', 'the dump was interrupted by a concurrent change (NLM_F_DUMP_INTR)');
    }
    return replies;
  }

  /**
   * Run the dumps in `batch` (each built with NLM_F_DUMP) one after another (a socket runs one dump
   * at a time) and hand every reply message to `onReply(index, type, payload)` as it arrives, without
   * collecting them. Returns, per dump, 0 or the errno it failed with. The hot path of a full table
   * read, which is one dump per virtual service.
   *
   * A dump that was interrupted by a concurrent change (NLM_F_DUMP_INTR), timed out or overran the
   * buffer is read again from the start, after `onRestart(index)` has told the caller to forget what
   * it got of that dump; without `onRestart` (the caller cannot take replies back) such a dump throws
   * NetlinkFaultError instead, as does one that failed DUMP_ATTEMPTS times.
   */
  dumpEach(
    batch: MessageWriter,
    onReply: (index: number, type: number, payload: Buffer) => void,
    onRestart?: (index: number) => void,
  ): number[] {
    return this.dumpEachIn(batch, (i, type, buf, start, end) => onReply(i, type, buf.subarray(start, end)), onRestart);
  }

  /**
   * dumpEach, each reply's payload handed on as where it lies in the receive buffer, buf[start, end),
   * rather than as a view of its own: a full IPVS read is 110,000 replies at 10,000 Services, and a
   * view each was ~10 MB of garbage per reconcile.
   */
  dumpEachIn(
    batch: MessageWriter,
    onReply: (index: number, type: number, buf: Buffer, start: number, end: number) => void,
    onRestart?: (index: number) => void,
  ): number[] {
    const op = `${this.name} dump`;
    const n = batch.messageCount;
    const errors = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      const seq = batch.seqOf(i);
      for (let attempt = 1; ; attempt++) {
        const state = { finished: false, interrupted: false, errno: 0 };
        try {
          this.#send(op, batch.slice(i, i + 1));
          while (!state.finished) {
            // Decoded in libnl's buffer: onReply copies out what it keeps.
            this.#recvInPlace(op, (d) => this.#walkDumpReplies(d, seq, state, i, onReply));
          }
        } catch (err) {
          if (!(err instanceof NetlinkFaultError) || !onRestart || attempt >= DUMP_ATTEMPTS) throw err;
          onRestart(i);
          continue;
        }
        errors[i] = state.errno;
        if (!state.interrupted) break;
        countNetlinkFault(op, 'dump_interrupted');
        if (!onRestart || attempt >= DUMP_ATTEMPTS) throw new NetlinkDumpInterruptedError(op, attempt);
        onRestart(i);
      }
    }
    return errors;
  }

  /**
   * One dump, its replies handed to `onReply(type, payload)` as they arrive (payload: a view of the
   * receive buffer, valid during the call) instead of collected: a caller that keeps a little of each
   * reply does not hold the whole reply, which lives long enough to be promoted to the old generation
   * (10,000 and more VIPs or services per reconcile). `onRestart` forgets what a dump that has to be
   * read again (interrupted, timed out, overrun) handed on; a dump the kernel refuses throws KernelError.
   */
  dumpStream(build: (seq: number) => MessageWriter, what: string | (() => string), onReply: (type: number, payload: Buffer) => void, onRestart: () => void): void {
    const [errno] = this.dumpEach(build(this.nextSeq()), (_, type, payload) => onReply(type, payload), onRestart);
    if (errno) throw new KernelError(typeof what === 'string' ? what : what(), errno);
  }

  /**
   * One dump read to its end now, each reply's payload kept (copied) for the caller to decode later, in
   * pieces (see kept-replies.ts); a dump read again from its start forgets what it had kept. A dump the
   * kernel refuses throws KernelError.
   */
  dumpKept(build: (seq: number) => MessageWriter, what: string | (() => string), into: KeptReplies): void {
    const [errno] = this.dumpEachIn(build(this.nextSeq()), (_i, _type, buf, start, end) => into.push(buf, start, end), () => into.clear());
    if (errno) throw new KernelError(typeof what === 'string' ? what : what(), errno);
  }

  /** Hand each message of `seq` in datagram `d` to onReply; sets state.finished once the dump is. */
  #walkDumpReplies(
    d: Buffer, seq: number, state: { finished: boolean; interrupted: boolean; errno: number }, index: number,
    onReply: (index: number, type: number, buf: Buffer, start: number, end: number) => void,
  ): void {
    let at = 0;
    while (at + NLMSG_HDRLEN <= d.length) {
      const len = d.readUInt32LE(at);
      if (len < NLMSG_HDRLEN || at + len > d.length) throw new Error(`netlink: malformed message at offset ${at}`);
      const type = d.readUInt16LE(at + 4);
      if (d.readUInt32LE(at + 8) === seq) {
        if (d.readUInt16LE(at + 6) & NLM_F_DUMP_INTR) state.interrupted = true;
        if (type === NLMSG_DONE || type === NLMSG_ERROR) {
          state.finished = true;
          const code = len >= NLMSG_HDRLEN + 4 ? d.readInt32LE(at + NLMSG_HDRLEN) : 0;
          if (code < 0) state.errno = -code;
        } else if (type !== NLMSG_NOOP && type !== NLMSG_OVERRUN) {
          onReply(index, type, d, at + NLMSG_HDRLEN, at + len);
        }
      }
      at += (len + 3) & ~3;
    }
  }

  close(): void {
    this.#closed = true;
    this.#drop();
  }
}
