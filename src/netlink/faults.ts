// Faults of the netlink transport itself, as opposed to a kernel refusing one request (KernelError):
// a receive or send that timed out, replies the kernel dropped because the receive buffer overflowed
// (ENOBUFS), a dump the kernel says was interrupted by a concurrent change (NLM_F_DUMP_INTR). After
// any of them the replies in flight are unknown, so the connection drops its socket and the caller
// must read the kernel again before changing anything. Each fault is tallied for the agent's metrics.

/** What went wrong; the `kind` label of kipvs_netlink_errors_total. */
export type NetlinkFaultKind =
  /** A receive or send blocked past the socket's timeout (the kernel never answered). */
  | 'timeout'
  /** The kernel dropped replies: the receive buffer overflowed. */
  | 'enobufs'
  /** A dump's data changed while it was read (NLM_F_DUMP_INTR); it is read again. */
  | 'dump_interrupted'
  /** A system call was interrupted by a signal before doing anything; it is made again. */
  | 'eintr'
  /** A send found the socket busy (EAGAIN) before sending anything; it is made again. */
  | 'eagain';

/**
 * A netlink exchange failed at the transport level. `op` names the connection and the call
 * ("ipvs batch", "link dump", …); whatever the call was about may or may not have been applied.
 */
export class NetlinkFaultError extends Error {
  readonly kind: NetlinkFaultKind;
  readonly op: string;
  constructor(op: string, kind: NetlinkFaultKind, message: string, options?: { cause?: unknown }) {
    super(`netlink ${op}: ${message}`, options);
    this.name = 'NetlinkFaultError';
    this.op = op;
    this.kind = kind;
  }
}

/** No reply within the socket's timeout: the kernel's answer was lost or never came. */
export class NetlinkTimeoutError extends NetlinkFaultError {
  readonly timeoutMs: number;
  constructor(op: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(op, 'timeout', `no reply within ${timeoutMs} ms; replies in flight are lost, state is unknown, read the kernel again`, options);
    this.name = 'NetlinkTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** ENOBUFS: the receive buffer overflowed and the kernel dropped replies. */
export class NetlinkOverrunError extends NetlinkFaultError {
  constructor(op: string, options?: { cause?: unknown }) {
    super(op, 'enobufs', 'the receive buffer overflowed and replies were lost (ENOBUFS); state is unknown, read the kernel again', options);
    this.name = 'NetlinkOverrunError';
  }
}

/** A dump stayed inconsistent (NLM_F_DUMP_INTR) however often it was read again. */
export class NetlinkDumpInterruptedError extends NetlinkFaultError {
  constructor(op: string, attempts: number) {
    super(op, 'dump_interrupted', `the dump was interrupted by concurrent changes (NLM_F_DUMP_INTR) ${attempts} times in a row`);
    this.name = 'NetlinkDumpInterruptedError';
  }
}

// Process-wide, like the sockets themselves: every kernel client opens its own connection, and the
// agent's /metrics reads the sum.
const tally = new Map<string, { op: string; kind: NetlinkFaultKind; count: number }>();

export function countNetlinkFault(op: string, kind: NetlinkFaultKind): void {
  const key = `${op}\0${kind}`;
  const entry = tally.get(key);
  if (entry) entry.count++;
  else tally.set(key, { op, kind, count: 1 });
}

/** Every fault counted so far in this process, by op and kind. */
export function netlinkFaultCounts(): { op: string; kind: NetlinkFaultKind; count: number }[] {
  return [...tally.values()].map((e) => ({ ...e }));
}
