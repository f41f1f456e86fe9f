// Request/response over one netlink socket: sequence numbers, batches of acknowledged requests sent
// many per datagram, dumps, and kernel errors mapped to typed errors. Knows message framing, not
// what any subsystem's messages mean.
import { constants as os } from 'node:os';
import { NetlinkSocket, LibnlError, NLE } from '../../native-bindings/libnl.js';
import {
  MessageWriter, parseMessages, parseError, type Message,
  NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP, NLMSG_OVERRUN, NLMSG_HDRLEN,
} from './message.js';
import { inNetworkNamespace, type NamespaceOption } from './netns.js';

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

export class NetlinkConnection {
  readonly socket: NetlinkSocket;
  #seq: number;
  /** Most acknowledged requests in flight at once: their acks must all fit the receive buffer. */
  readonly window: number;

  /** `options.netns`: open the socket in that network namespace (it stays bound to it). */
  constructor(protocol: number, options: NamespaceOption = {}) {
    this.socket = inNetworkNamespace(options.netns, () => NetlinkSocket.open(protocol));
    try {
      this.socket.capAcks();
      const rcvbuf = this.socket.growBuffers(8 * 1024 * 1024);
      // An ack costs about 1 KiB of receive buffer (skb overhead included).
      this.window = Math.max(32, Math.floor(rcvbuf / 1280));
    } catch (err) {
      this.socket.close();
      throw err;
    }
    this.#seq = (Date.now() & 0x7fffffff) >>> 0;
  }

  nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0 || 1;
    return this.#seq;
  }

  /**
   * Send every message in `batch` (each built with NLM_F_ACK) and return, for each, 0 or the errno
   * the kernel answered it with. Messages go many per datagram, in windows whose acknowledgements fit
   * the receive buffer; a failing message does not stop the ones after it.
   */
  execute(batch: MessageWriter): number[] {
    const n = batch.messageCount;
    const results = new Array<number>(n).fill(-1);
    const index = new Map<number, number>();
    for (let i = 0; i < n; i++) index.set(batch.seqOf(i), i);
    let from = 0;
    while (from < n) {
      let to = Math.min(n, from + this.window);
      let pending = 0;
      // Split the window into datagrams of at most BATCH_BYTES.
      let start = from;
      while (start < to) {
        let end = start + 1;
        while (end < to && batch.slice(start, end + 1).length <= BATCH_BYTES) end++;
        this.socket.send(batch.slice(start, end));
        pending += end - start;
        start = end;
      }
      to = start;
      while (pending > 0) {
        for (const m of this.#recv()) {
          if (m.type !== NLMSG_ERROR) continue;
          const { errno } = parseError(m.payload);
          const i = index.get(m.seq);
          if (i === undefined || i < from || i >= to || results[i] !== -1) continue;
          results[i] = errno;
          pending--;
        }
      }
      from = to;
    }
    return results;
  }

  /**
   * Send one request and return its reply messages: for a dump, everything up to NLMSG_DONE; for a
   * plain request (sent with NLM_F_ACK), everything up to the acknowledgement. Throws KernelError
   * naming `what` when the kernel refuses it. A dump interrupted by a concurrent change is retried.
   */
  request(build: (seq: number) => MessageWriter, what: string | (() => string)): Message[] {
    for (let attempt = 0; ; attempt++) {
      const seq = this.nextSeq();
      this.socket.send(build(seq).slice());
      const replies: Message[] = [];
      let interrupted = false;
      for (;;) {
        let finished = false;
        for (const m of this.#recv()) {
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
      if (!interrupted || attempt >= 4) return replies;
    }
  }

  /**
   * Run the dumps in `batch` (each built with NLM_F_DUMP) one after another (a socket runs one dump
   * at a time) and hand every reply message to `onReply(index, type, payload)` as it arrives, without
   * collecting them. Returns, per dump, 0 or the errno it failed with. The hot path of a full table
   * read, which is one dump per virtual service.
   */
  dumpEach(batch: MessageWriter, onReply: (index: number, type: number, payload: Buffer) => void): number[] {
    const n = batch.messageCount;
    const errors = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      const seq = batch.seqOf(i);
      this.socket.send(batch.slice(i, i + 1));
      let finished = false;
      while (!finished) {
        // Decoded in libnl's buffer: onReply copies out what it keeps.
        finished = this.#recvInPlace((d) => this.#walkDumpReplies(d, seq, (type, payload) => onReply(i, type, payload), (errno) => {
          errors[i] = errno;
        }));
      }
    }
    return errors;
  }

  /** Hand each message of `seq` in datagram `d` to onReply; true once the dump is finished. */
  #walkDumpReplies(d: Buffer, seq: number, onReply: (type: number, payload: Buffer) => void, onError: (errno: number) => void): boolean {
    let finished = false;
    let at = 0;
    while (at + NLMSG_HDRLEN <= d.length) {
      const len = d.readUInt32LE(at);
      if (len < NLMSG_HDRLEN || at + len > d.length) throw new Error(`netlink: malformed message at offset ${at}`);
      const type = d.readUInt16LE(at + 4);
      if (d.readUInt32LE(at + 8) === seq) {
        if (type === NLMSG_DONE || type === NLMSG_ERROR) {
          finished = true;
          const code = len >= NLMSG_HDRLEN + 4 ? d.readInt32LE(at + NLMSG_HDRLEN) : 0;
          if (code < 0) onError(-code);
        } else if (type !== NLMSG_NOOP && type !== NLMSG_OVERRUN) {
          onReply(type, d.subarray(at + NLMSG_HDRLEN, at + len));
        }
      }
      at += (len + 3) & ~3;
    }
    return finished;
  }

  #recvRaw(): Buffer {
    return this.#recvInPlace((d) => Buffer.from(d));
  }

  #recvInPlace<T>(read: (datagram: Buffer) => T): T {
    try {
      return this.socket.recvInPlace(read);
    } catch (err) {
      if (err instanceof LibnlError && err.code === NLE.NOMEM) {
        throw new Error('netlink: the receive buffer overflowed and replies were lost (ENOBUFS); state is unknown, resync', { cause: err });
      }
      throw err;
    }
  }

  #recv(): Message[] {
    return parseMessages(this.#recvRaw());
  }

  close(): void {
    this.socket.close();
  }
}
