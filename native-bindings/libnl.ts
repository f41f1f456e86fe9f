// The FFI surface to libnl-3, libnl-genl-3 and libnl-route-3, through koffi. Nothing but bindings lives
// here: libnl owns the socket (allocation, port id, connect, send, receive, family resolution, creating
// links); message contents are encoded and decoded in TypeScript by src/netlink, which lets kipvs batch
// thousands of requests into one send and decode replies without a call across the FFI per attribute.
import koffi from 'koffi';

/** libnl's error numbers (netlink/errno.h); libnl returns them negated. */
export const NLE = {
  FAILURE: 1, INTR: 2, BAD_SOCK: 3, AGAIN: 4, NOMEM: 5, EXIST: 6, INVAL: 7, RANGE: 8, MSGSIZE: 9,
  OPNOTSUPP: 10, AF_NOSUPPORT: 11, OBJ_NOTFOUND: 12, NOATTR: 13, MISSING_ATTR: 14, AF_MISMATCH: 15,
  SEQ_MISMATCH: 16, MSG_OVERFLOW: 17, MSG_TRUNC: 18, NOADDR: 19, SRCRT_NOSUPPORT: 20, MSG_TOOSHORT: 21,
  MSGTYPE_NOSUPPORT: 22, OBJ_MISMATCH: 23, NOCACHE: 24, BUSY: 25, PROTO_MISMATCH: 26, NOACCESS: 27,
  PERM: 28, PKTLOC_FILE: 29, PARSE_ERR: 30, NODEV: 31, IMMUTABLE: 32, DUMP_INTR: 33, ATTRSIZE: 34,
} as const;

const NLE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(NLE).map(([name, code]) => [code, `NLE_${name}`]),
);

/** A libnl call failed: `code` is libnl's positive NLE_* number, `op` the call that failed. */
export class LibnlError extends Error {
  readonly code: number;
  readonly op: string;
  constructor(op: string, code: number, message: string) {
    super(`${op}: ${message} (${NLE_NAMES[code] ?? `NLE ${code}`})`);
    this.name = 'LibnlError';
    this.op = op;
    this.code = code;
  }
}

export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;

/** A bound function that can also run on libuv's thread pool (koffi's async call). */
type Async<F extends (...args: never[]) => unknown> = F & {
  async: (...args: [...Parameters<F>, (err: unknown, result: ReturnType<F>) => void]) => void;
};

interface Libnl {
  socketAlloc: () => bigint | null;
  socketFree: (sk: bigint) => void;
  connect: (sk: bigint, protocol: number) => number;
  close: (sk: bigint) => void;
  sendto: Async<(sk: bigint, buf: Uint8Array, len: number) => number>;
  recv: (sk: bigint, nla: Uint8Array, buf: [bigint | null], creds: null) => number;
  setBufferSize: (sk: bigint, rx: number, tx: number) => number;
  setMsgBufSize: (sk: bigint, size: number) => number;
  getFd: (sk: bigint) => number;
  getLocalPort: (sk: bigint) => number;
  geterror: (code: number) => string;
  genlCtrlResolve: (sk: bigint, name: string) => number;
  linkAlloc: () => bigint | null;
  linkPut: (link: bigint) => void;
  linkSetName: (link: bigint, name: string) => void;
  linkSetType: (link: bigint, type: string) => number;
  linkSetFlags: (link: bigint, flags: number) => void;
  linkAdd: (sk: bigint, link: bigint, flags: number) => number;
  linkDelete: (sk: bigint, link: bigint) => number;
  free: (p: bigint) => void;
  setsockopt: (fd: number, level: number, name: number, value: Int32Array, len: number) => number;
}

let bound: Libnl | undefined;

/** Load the three libraries once, on first use; a clear error names the missing Debian package. */
function libnl(): Libnl {
  if (bound) return bound;
  const open = (file: string, pkg: string) => {
    try {
      return koffi.load(file);
    } catch (err) {
      throw new Error(`cannot load ${file}: install Debian's ${pkg} (${(err as Error).message})`);
    }
  };
  const nl = open('libnl-3.so.200', 'libnl-3-200');
  const genl = open('libnl-genl-3.so.200', 'libnl-genl-3-200');
  const route = open('libnl-route-3.so.200', 'libnl-route-3-200');
  const libc = koffi.load('libc.so.6');
  // Opaque libnl objects travel as bigint pointers (koffi 3).
  bound = {
    socketAlloc: nl.func('void *nl_socket_alloc(void)'),
    socketFree: nl.func('void nl_socket_free(void *sk)'),
    connect: nl.func('int nl_connect(void *sk, int protocol)'),
    close: nl.func('void nl_close(void *sk)'),
    sendto: nl.func('int nl_sendto(void *sk, const uint8_t *buf, size_t size)'),
    recv: nl.func('int nl_recv(void *sk, uint8_t *nla, _Out_ void **buf, void *creds)'),
    setBufferSize: nl.func('int nl_socket_set_buffer_size(void *sk, int rxbuf, int txbuf)'),
    setMsgBufSize: nl.func('int nl_socket_set_msg_buf_size(void *sk, size_t size)'),
    getFd: nl.func('int nl_socket_get_fd(void *sk)'),
    getLocalPort: nl.func('uint32_t nl_socket_get_local_port(void *sk)'),
    geterror: nl.func('const char *nl_geterror(int code)'),
    genlCtrlResolve: genl.func('int genl_ctrl_resolve(void *sk, const char *name)'),
    linkAlloc: route.func('void *rtnl_link_alloc(void)'),
    linkPut: route.func('void rtnl_link_put(void *link)'),
    linkSetName: route.func('void rtnl_link_set_name(void *link, const char *name)'),
    linkSetType: route.func('int rtnl_link_set_type(void *link, const char *type)'),
    linkSetFlags: route.func('void rtnl_link_set_flags(void *link, unsigned int flags)'),
    linkAdd: route.func('int rtnl_link_add(void *sk, void *link, int flags)'),
    linkDelete: route.func('int rtnl_link_delete(void *sk, void *link)'),
    free: libc.func('void free(void *p)'),
    setsockopt: libc.func('int setsockopt(int fd, int level, int name, const int32_t *value, uint32_t len)'),
  } as unknown as Libnl;
  return bound;
}

function check(op: string, rc: number): number {
  if (rc < 0) throw new LibnlError(op, -rc, libnl().geterror(rc));
  return rc;
}

/** nl_sendto's answer: an error, or less than the whole datagram sent, throws. */
function sentWhole(datagram: Uint8Array, rc: number): void {
  const n = check('nl_sendto', rc);
  if (n !== datagram.length) throw new LibnlError('nl_sendto', NLE.MSG_TRUNC, `sent ${n} of ${datagram.length} bytes`);
}

let openSockets = 0;
/** How many libnl sockets this process holds open: lets tests prove nothing leaks. */
export function openSocketCount(): number {
  return openSockets;
}

/**
 * One connected netlink socket. Sends whole datagrams (one or many messages) and receives whole
 * datagrams; it knows nothing of what the messages mean.
 */
export class NetlinkSocket {
  #sk: bigint | null;
  readonly protocol: number;
  readonly #addr = new Uint8Array(12); // struct sockaddr_nl, filled by nl_recv
  readonly #out: [bigint | null] = [null];

  private constructor(sk: bigint, protocol: number) {
    this.#sk = sk;
    this.protocol = protocol;
  }

  /** Allocate and connect a socket for `protocol` (NETLINK_GENERIC, NETLINK_ROUTE, …). */
  static open(protocol: number): NetlinkSocket {
    const lib = libnl();
    const sk = lib.socketAlloc();
    if (!sk) throw new LibnlError('nl_socket_alloc', NLE.NOMEM, 'out of memory');
    try {
      check('nl_connect', lib.connect(sk, protocol));
    } catch (err) {
      lib.socketFree(sk);
      throw err;
    }
    // One recvmsg per datagram into a 64 KiB buffer, instead of libnl's default of peeking at each
    // datagram's size first (two system calls). The kernel never builds a netlink datagram larger
    // than 32 KiB for a dump, so nothing is truncated; if it were, nl_recv fails with NLE_MSG_TRUNC.
    check('nl_socket_set_msg_buf_size', lib.setMsgBufSize(sk, 64 * 1024));
    openSockets++;
    return new NetlinkSocket(sk, protocol);
  }

  get #handle(): bigint {
    if (this.#sk === null) throw new LibnlError('netlink socket', NLE.BAD_SOCK, 'socket is closed');
    return this.#sk;
  }

  get closed(): boolean {
    return this.#sk === null;
  }

  /** The socket's netlink port id (nlmsg_pid of our requests' replies). */
  get localPort(): number {
    return libnl().getLocalPort(this.#handle);
  }

  /**
   * Grow the kernel-side buffers so a large batch's acknowledgements fit. As root the *FORCE
   * options pass net.core.rmem_max; otherwise libnl's plain setting applies. Returns the receive
   * buffer size that was asked for and granted.
   */
  growBuffers(bytes: number): number {
    const lib = libnl();
    const fd = lib.getFd(this.#handle);
    const v = Int32Array.of(bytes);
    const rcv = lib.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, v, 4);
    const snd = lib.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, v, 4);
    if (rcv === 0 && snd === 0) return bytes;
    check('nl_socket_set_buffer_size', lib.setBufferSize(this.#handle, 212992, 212992));
    return 212992;
  }

  /** Ask the kernel to echo only the header of a failed request in its error reply (NETLINK_CAP_ACK). */
  capAcks(): void {
    const lib = libnl();
    lib.setsockopt(lib.getFd(this.#handle), SOL_NETLINK, NETLINK_CAP_ACK, Int32Array.of(1), 4);
  }

  /**
   * Bound every blocking send and receive to `ms` (SO_SNDTIMEO, SO_RCVTIMEO; 0 = wait forever). A
   * receive that times out fails with NLE_AGAIN (libnl maps EAGAIN so, and retries EINTR itself), so
   * a kernel that never answers cannot block the event loop for ever.
   */
  setTimeouts(ms: number): void {
    if (!(Number.isInteger(ms) && ms >= 0)) throw new RangeError(`netlink socket timeout: ${ms} is not a whole number of milliseconds`);
    const lib = libnl();
    const fd = lib.getFd(this.#handle);
    // struct timeval on 64-bit Linux: two longs (tv_sec, tv_usec) in the machine's byte order.
    const tv = new Int32Array(BigInt64Array.of(BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)).buffer);
    for (const [opt, name] of [[SO_RCVTIMEO, 'SO_RCVTIMEO'], [SO_SNDTIMEO, 'SO_SNDTIMEO']] as const) {
      if (lib.setsockopt(fd, SOL_SOCKET, opt, tv, 16) !== 0) throw new LibnlError(`setsockopt(${name})`, NLE.FAILURE, 'cannot set the socket timeout');
    }
  }

  /** Send one datagram holding one or more complete netlink messages. */
  send(datagram: Uint8Array): void {
    sentWhole(datagram, libnl().sendto(this.#handle, datagram, datagram.length));
  }

  /**
   * send() on libuv's thread pool. The kernel handles a netlink request inside the sendmsg call, so
   * a datagram of a thousand requests keeps the sending thread in the kernel for that long: here that
   * thread is a pool thread, and this one goes on meanwhile (another CPU does the kernel's part). At
   * most one call is in flight on a socket, and no blocking call meanwhile (the caller's rule).
   */
  sendAsync(datagram: Uint8Array): Promise<void> {
    const handle = this.#handle;
    return new Promise((resolve, reject) => {
      // `datagram` stays referenced by this closure until the call has returned.
      libnl().sendto.async(handle, datagram, datagram.length, (err, n) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        try {
          sentWhole(datagram, n);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Receive one datagram (blocking); returns a copy the caller owns. */
  recv(): Buffer {
    const lib = libnl();
    this.#out[0] = null;
    const n = lib.recv(this.#handle, this.#addr, this.#out, null);
    const ptr = this.#out[0];
    try {
      check('nl_recv', n);
      if (n === 0 || ptr === null) return Buffer.alloc(0);
      return Buffer.from(new Uint8Array(koffi.view(ptr, n)));
    } finally {
      if (ptr) lib.free(ptr);
    }
  }

  /**
   * Receive one datagram and pass `read` a view of it in libnl's buffer, without copying. The view
   * is valid only during the call: `read` must copy out what it keeps.
   */
  recvInPlace<T>(read: (datagram: Buffer) => T): T {
    const lib = libnl();
    this.#out[0] = null;
    const n = lib.recv(this.#handle, this.#addr, this.#out, null);
    const ptr = this.#out[0];
    try {
      check('nl_recv', n);
      return read(n === 0 || ptr === null ? Buffer.alloc(0) : Buffer.from(koffi.view(ptr, n), 0, n));
    } finally {
      if (ptr) lib.free(ptr);
    }
  }

  /** Resolve a generic netlink family's id by name; null when the kernel has no such family. */
  resolveGenlFamily(name: string): number | null {
    const rc = libnl().genlCtrlResolve(this.#handle, name);
    if (rc === -NLE.OBJ_NOTFOUND) return null;
    return check(`genl_ctrl_resolve(${name})`, rc);
  }

  /**
   * Create a link of `type` (e.g. "dummy") named `name`, administratively down, via libnl-route.
   * NLM_F_CREATE|NLM_F_EXCL: fails with NLE_EXIST when a link of that name exists.
   */
  addLink(name: string, type: string): void {
    const lib = libnl();
    const link = lib.linkAlloc();
    if (!link) throw new LibnlError('rtnl_link_alloc', NLE.NOMEM, 'out of memory');
    try {
      lib.linkSetName(link, name);
      check(`rtnl_link_set_type(${type})`, lib.linkSetType(link, type));
      check(`rtnl_link_add(${name})`, lib.linkAdd(this.#handle, link, 0x400 | 0x200));
    } finally {
      lib.linkPut(link);
    }
  }

  /** Delete the link named `name` via libnl-route. */
  deleteLink(name: string): void {
    const lib = libnl();
    const link = lib.linkAlloc();
    if (!link) throw new LibnlError('rtnl_link_alloc', NLE.NOMEM, 'out of memory');
    try {
      lib.linkSetName(link, name);
      check(`rtnl_link_delete(${name})`, lib.linkDelete(this.#handle, link));
    } finally {
      lib.linkPut(link);
    }
  }

  /** Close and free the socket; safe to call twice. */
  close(): void {
    if (this.#sk === null) return;
    const lib = libnl();
    lib.close(this.#sk);
    lib.socketFree(this.#sk);
    this.#sk = null;
    openSockets--;
  }
}
