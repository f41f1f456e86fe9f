// Fault injection for netlink, for tests only: a transport that wraps a real NetlinkSocket (through
// ConnectionOptions.wrap) and, on the test's say-so, fails a send (EINTR, EAGAIN, ENOBUFS), fails or
// loses a receive (EINTR, a timeout that leaves the reply in the queue to arrive late, ENOBUFS that
// loses a datagram, a reply dropped outright), marks a dump interrupted (NLM_F_DUMP_INTR), or refuses
// single messages of a batch with an errno of the test's choosing without the kernel seeing them.
// Production code never loads this file.
import { LibnlError, NLE } from '../../native-bindings/libnl.js';
import type { NetlinkTransport } from '../../src/netlink/connection.js';

export const NLMSG_ERROR = 2;
export const NLM_F_DUMP_INTR = 0x10;

export type SendFault = 'EINTR' | 'EAGAIN' | 'ENOBUFS';
/**
 * EINTR: nothing received, the call fails. timeout: the call fails as SO_RCVTIMEO does, the datagram
 * stays queued (a late reply). ENOBUFS: one datagram is lost and the call fails. drop: one datagram is
 * lost and the call goes on receiving (blocking until the next one, or the socket's timeout).
 * swallow: every datagram is lost until the socket's timeout ends the call (a reply that never comes).
 * dump-intr: the datagram is delivered with NLM_F_DUMP_INTR set on each message.
 */
export type RecvFault = 'EINTR' | 'timeout' | 'ENOBUFS' | 'drop' | 'swallow' | 'dump-intr';

/** A request as the fault hooks see it; `cmd` is the generic netlink command byte, `bytes` the whole message. */
export interface Header {
  type: number;
  flags: number;
  seq: number;
  cmd: number;
  bytes: Buffer;
}

export interface FaultHooks {
  /** Before each send: a fault fails it, and the kernel gets nothing. */
  send?(messages: Header[]): SendFault | undefined;
  /** Before each receive. */
  recv?(): RecvFault | undefined;
  /** Per message sent: an errno answers it in the kernel's place (ENOMEM, …); the kernel never sees it. */
  refuse?(message: Header): number | undefined;
}

const LIBNL_CODE: Record<SendFault | 'timeout', number> = { EINTR: NLE.INTR, EAGAIN: NLE.AGAIN, ENOBUFS: NLE.NOMEM, timeout: NLE.AGAIN };

export function headers(datagram: Uint8Array): { header: Header; start: number; end: number }[] {
  const d = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const out: { header: Header; start: number; end: number }[] = [];
  for (let at = 0; at + 16 <= d.length;) {
    const len = d.readUInt32LE(at);
    if (len < 16 || at + len > d.length) throw new Error(`fault injection: malformed datagram at ${at}`);
    out.push({
      header: {
        type: d.readUInt16LE(at + 4), flags: d.readUInt16LE(at + 6), seq: d.readUInt32LE(at + 8), cmd: len > 16 ? d[at + 16]! : -1,
        bytes: d.subarray(at, at + len),
      },
      start: at,
      end: at + len,
    });
    at += (len + 3) & ~3;
  }
  return out;
}

/** An NLMSG_ERROR answering `h` with `errno` (0 = ack), echoing only its header (NETLINK_CAP_ACK). */
export function errorReply(h: Omit<Header, 'bytes' | 'cmd'>, errno: number, portId = 0): Buffer {
  const b = Buffer.alloc(16 + 4 + 16);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(NLMSG_ERROR, 4);
  b.writeUInt16LE(0x100 /* NLM_F_CAPPED */, 6);
  b.writeUInt32LE(h.seq, 8);
  b.writeUInt32LE(portId, 12);
  b.writeInt32LE(-errno, 16);
  b.writeUInt32LE(16, 20);
  b.writeUInt16LE(h.type, 24);
  b.writeUInt16LE(h.flags, 26);
  b.writeUInt32LE(h.seq, 28);
  return b;
}

/** Counts of what the injector did, for assertions. */
export interface FaultLog {
  sendFaults: number;
  recvFaults: number;
  refused: Header[];
  /** Datagrams received from the kernel and thrown away (drop, ENOBUFS). */
  lost: number;
  /** Sockets wrapped (one per socket the connection opened). */
  sockets: number;
}

/**
 * A ConnectionOptions.wrap that injects the faults `hooks` ask for into every socket the connection
 * opens; `log` says what was injected.
 */
export function injectFaults(hooks: FaultHooks): { wrap: (socket: NetlinkTransport) => NetlinkTransport; log: FaultLog } {
  const log: FaultLog = { sendFaults: 0, recvFaults: 0, refused: [], lost: 0, sockets: 0 };
  const wrap = (socket: NetlinkTransport): NetlinkTransport => {
    log.sockets++;
    // Answers to refused messages, delivered before anything from the kernel.
    const synthetic: Buffer[] = [];
    const lose = () => {
      socket.recvInPlace(() => undefined);
      log.lost++;
    };
    return {
      send(datagram) {
        const parts = headers(datagram);
        const fault = hooks.send?.(parts.map((p) => p.header));
        if (fault) {
          log.sendFaults++;
          throw new LibnlError('nl_sendto', LIBNL_CODE[fault], `injected ${fault}`);
        }
        const kept: Uint8Array[] = [];
        for (const p of parts) {
          const errno = hooks.refuse?.(p.header);
          if (errno) {
            log.refused.push(p.header);
            synthetic.push(errorReply(p.header, errno));
          } else {
            kept.push(datagram.subarray(p.start, p.end + ((4 - ((p.end - p.start) % 4)) % 4)));
          }
        }
        if (kept.length === parts.length) socket.send(datagram);
        else if (kept.length) socket.send(Buffer.concat(kept));
      },
      recvInPlace(read) {
        if (synthetic.length) return read(synthetic.shift()!);
        const fault = hooks.recv?.();
        if (fault) log.recvFaults++;
        switch (fault) {
          case 'EINTR':
          case 'timeout':
            throw new LibnlError('nl_recv', LIBNL_CODE[fault], `injected ${fault}`);
          case 'ENOBUFS':
            lose();
            throw new LibnlError('nl_recv', NLE.NOMEM, 'injected ENOBUFS');
          case 'drop':
            lose();
            return socket.recvInPlace(read);
          case 'swallow':
            // Ends when a receive fails: the socket's timeout, since nothing is answered.
            for (;;) lose();
          case 'dump-intr':
            return socket.recvInPlace((d) => {
              const copy = Buffer.from(d);
              for (const p of headers(copy)) copy.writeUInt16LE(p.header.flags | NLM_F_DUMP_INTR, p.start + 6);
              return read(copy);
            });
          default:
            return socket.recvInPlace(read);
        }
      },
      close() {
        socket.close();
      },
    };
  };
  return { wrap, log };
}
