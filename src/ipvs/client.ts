// The IPVS client: every operation of the kernel's generic netlink IPVS API, single or batched.
// Inputs are validated before anything is sent; kernel refusals come back as KernelError naming the
// service or real server concerned.
import { NETLINK_GENERIC } from '../../native-bindings/libnl.js';
import { NetlinkConnection, KernelError, errnoName, type ConnectionOptions } from '../netlink/connection.js';
import { MessageWriter, forEachAttr, attrOf } from '../netlink/message.js';
import { KeptReplies } from '../netlink/kept-replies.js';
import { finish, Wait, type Steps } from '../loop/pacer.js';
import { Cmd, CmdAttr, IPVS_GENL_NAME } from './constants.js';
import {
  beginIpvs, putService, putServer, putPlainServer, serviceKeyNest, putTimeouts, genlAttrs, decodeService, decodeServer, decodeInfo,
  decodeTimeouts, decodeDaemon, destMatches, serviceKeyOfNest, serviceMatches,
} from './codec.js';
import {
  validateService, validateServiceKey, validateServerOf, validateServerKey, isPlainValidServer, describeService, describeServer,
  IpvsValidationError,
} from './validate.js';
import type {
  ServiceKey, VirtualService, RealServer, RealServerKey, ServiceEntry, RealServerEntry, Timeouts, IpvsInfo,
  Operation, SyncDaemon, ListOptions, ServiceInfo, RealServerInfo,
} from './types.js';

/** Operations encoded per buffer in apply(); each buffer still goes out in as few sends as fit. */
const APPLY_CHUNK = 4096;
/** Real-server dumps per buffer in forEachEntry(). */
const DUMP_CHUNK = 4096;

/** The kernel has no IPVS (module not loaded or not built). */
export class IpvsUnavailableError extends Error {
  constructor(detail: string) {
    super(`IPVS is not available in this kernel: ${detail}. Load it with "modprobe ip_vs" (and the ip_vs_* schedulers), or run kipvs on a kernel built with CONFIG_IP_VS.`);
    this.name = 'IpvsUnavailableError';
  }
}

export interface OperationFailure {
  /** Index of the operation in the batch. */
  index: number;
  operation: Operation;
  error: KernelError | IpvsValidationError;
}

export interface BatchResult {
  /** Operations the kernel accepted. */
  applied: number;
  failures: OperationFailure[];
}

export function describeOperation(op: Operation): string {
  switch (op.op) {
    case 'add-service': return `add virtual service ${describeService(op.service)}`;
    case 'update-service': return `update virtual service ${describeService(op.service)}`;
    case 'delete-service': return `delete virtual service ${describeService(op.service)}`;
    case 'add-server': return `add ${describeServer(op.service, op.server)}`;
    case 'update-server': return `update ${describeServer(op.service, op.server)}`;
    case 'delete-server': return `delete ${describeServer(op.service, op.server)}`;
  }
}

export class IpvsClient {
  readonly #conn: NetlinkConnection;
  readonly #family: number;

  private constructor(conn: NetlinkConnection, family: number) {
    this.#conn = conn;
    this.#family = family;
  }

  /**
   * Connect to the kernel's IPVS (in `opts.netns`' network namespace, or the caller's); throws
   * IpvsUnavailableError when the kernel has none. `opts` also sets the socket timeout, and the
   * fault-injection wrapper of tests.
   */
  static open(opts: Omit<ConnectionOptions, 'name'> = {}): IpvsClient {
    const conn = new NetlinkConnection(NETLINK_GENERIC, { ...opts, name: 'ipvs' });
    try {
      const family = conn.viaLibnl('resolve family', (s) => s.resolveGenlFamily(IPVS_GENL_NAME));
      if (family === null) throw new IpvsUnavailableError('the generic netlink family "IPVS" does not exist');
      return new IpvsClient(conn, family);
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  close(): void {
    this.#conn.close();
  }

  // ---- single requests -------------------------------------------------------------------------

  #simple(cmd: number, what: string, fill?: (w: MessageWriter) => void): void {
    this.#conn.request((seq) => {
      const w = beginIpvs(new MessageWriter(256), this.#family, cmd, seq);
      fill?.(w);
      return w.end();
    }, what);
  }

  #get(cmd: number, what: string | (() => string), fill?: (w: MessageWriter) => void, dump = false) {
    return this.#conn.request((seq) => {
      const w = beginIpvs(new MessageWriter(256), this.#family, cmd, seq, dump);
      fill?.(w);
      return w.end();
    }, what);
  }

  info(): IpvsInfo {
    const [reply] = this.#get(Cmd.GET_INFO, 'IPVS info');
    if (!reply) throw new KernelError('IPVS info', 61 /* ENODATA */, 'no reply');
    return decodeInfo(reply.payload);
  }

  timeouts(): Timeouts {
    const [reply] = this.#get(Cmd.GET_CONFIG, 'IPVS timeouts');
    if (!reply) throw new KernelError('IPVS timeouts', 61, 'no reply');
    return decodeTimeouts(reply.payload);
  }

  /** Set connection timeouts in seconds; 0 (or absent) keeps the current value. */
  setTimeouts(t: Partial<Timeouts>): void {
    for (const [k, v] of Object.entries(t)) {
      if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 0x7fffffff)) {
        throw new IpvsValidationError('IPVS timeouts', k, `${v} is not a number of seconds`);
      }
    }
    this.#simple(Cmd.SET_CONFIG, 'set IPVS timeouts', (w) => putTimeouts(w, t));
  }

  /** Delete every virtual service and real server. */
  flush(): void {
    this.#simple(Cmd.FLUSH, 'flush IPVS table');
  }

  /** Zero the counters of one service, or of all services when none is given. */
  zero(service?: ServiceKey): void {
    const key = service && validateServiceKey(service);
    this.#simple(Cmd.ZERO, key ? `zero counters of ${describeService(key)}` : 'zero counters', (w) => {
      if (key) putService(w, key, false);
    });
  }

  addService(service: VirtualService): void {
    const s = validateService(service);
    this.#simple(Cmd.NEW_SERVICE, `add virtual service ${describeService(s)}`, (w) => putService(w, s, true));
  }

  updateService(service: VirtualService): void {
    const s = validateService(service);
    this.#simple(Cmd.SET_SERVICE, `update virtual service ${describeService(s)}`, (w) => putService(w, s, true));
  }

  deleteService(service: ServiceKey): void {
    const k = validateServiceKey(service);
    this.#simple(Cmd.DEL_SERVICE, `delete virtual service ${describeService(k)}`, (w) => putService(w, k, false));
  }

  /** One service, or null when the kernel has none with that key. */
  getService(service: ServiceKey): ServiceEntry | null {
    const k = validateServiceKey(service);
    try {
      const [reply] = this.#get(Cmd.GET_SERVICE, `get virtual service ${describeService(k)}`, (w) => putService(w, k, false));
      const nest = reply && genlAttrs(reply.payload)[CmdAttr.SERVICE];
      return nest ? (decodeService(nest) as ServiceEntry) : null;
    } catch (err) {
      if (err instanceof KernelError && (err.code === 'ESRCH' || err.code === 'ENOENT')) return null;
      throw err;
    }
  }

  /** Every virtual service, in the kernel's order; with statistics unless `{ stats: false }`. */
  services(opts?: { stats?: true }): ServiceEntry[];
  services(opts: ListOptions): ServiceInfo[];
  services(opts: ListOptions = {}): ServiceInfo[] {
    return this.#listServices(opts.stats ?? true);
  }

  /** The service dump, streamed: the decoders copy out what they keep. */
  #listServices(stats: boolean): ServiceInfo[] {
    const out: ServiceInfo[] = [];
    this.#conn.dumpStream((seq) => this.#serviceDump(seq), 'list virtual services', (_, payload) => {
      // genlmsghdr (4 bytes), then the IPVS_CMD_ATTR_SERVICE nest.
      const nest = attrOf(payload, 4, payload.length, CmdAttr.SERVICE);
      if (nest) out.push(decodeService(nest, stats));
    }, () => {
      out.length = 0;
    });
    return out;
  }

  #serviceDump(seq: number): MessageWriter {
    return beginIpvs(new MessageWriter(64), this.#family, Cmd.GET_SERVICE, seq, true).end();
  }

  /**
   * The service dump in pieces (see loop/pacer.ts): the dump read to its end first, its replies kept
   * as bytes (a piece of 0 items), then decoded `size` services a piece. The dump cannot pause while
   * other work uses the socket; decoding, about 70% of it at 10,000 services, can (kept-replies.ts).
   * With `expectService` (and no statistics), the reader's service of each dumped key is handed on
   * where it says the same (serviceMatches), and `keys` gets each service's key.
   */
  *#listServicesSteps(stats: boolean, expectService?: (key: string) => ServiceInfo | undefined, keys?: string[]): Steps<ServiceInfo[]> {
    const kept = new KeptReplies();
    this.#conn.dumpKept((seq) => this.#serviceDump(seq), 'list virtual services', kept);
    const out: ServiceInfo[] = [];
    const bytes = kept.bytes;
    let size = yield 0;
    for (let i = 0; i < kept.count;) {
      const from = i;
      const end = Math.min(kept.count, i + (size ?? DUMP_CHUNK));
      for (; i < end; i++) {
        // genlmsghdr (4 bytes), then the IPVS_CMD_ATTR_SERVICE nest.
        const nest = attrOf(bytes, kept.start(i) + 4, kept.end(i), CmdAttr.SERVICE);
        if (!nest) continue;
        if (!expectService || !keys) {
          out.push(decodeService(nest, stats));
          continue;
        }
        const key = serviceKeyOfNest(nest);
        const have = expectService(key);
        out.push(have && serviceMatches(nest, have) ? have : decodeService(nest, false));
        keys.push(key);
      }
      if (i < kept.count) size = yield end - from;
    }
    return out;
  }

  /** The real servers of one service; with statistics unless `{ stats: false }`. */
  servers(service: ServiceKey, opts?: { stats?: true }): RealServerEntry[];
  servers(service: ServiceKey, opts: ListOptions): RealServerInfo[];
  servers(service: ServiceKey, opts: ListOptions = {}): RealServerInfo[] {
    return this.#servers(validateServiceKey(service), opts.stats ?? true);
  }

  /** Servers of a service whose key is known good (it came from the kernel). */
  #servers(k: ServiceKey, stats: boolean): RealServerInfo[] {
    const out: RealServerInfo[] = [];
    for (const m of this.#get(Cmd.GET_DEST, () => `list real servers of ${describeService(k)}`, (w) => putService(w, k, false), true)) {
      const nest = genlAttrs(m.payload)[CmdAttr.DEST];
      if (nest) out.push(decodeServer(nest, k.family, stats));
    }
    return out;
  }

  /** The whole table: every service with its real servers; with statistics unless `{ stats: false }`. */
  dump(opts?: { stats?: true }): { service: ServiceEntry; servers: RealServerEntry[] }[];
  dump(opts: ListOptions): { service: ServiceInfo; servers: RealServerInfo[] }[];
  dump(opts: ListOptions = {}): { service: ServiceInfo; servers: RealServerInfo[] }[] {
    const table: { service: ServiceInfo; servers: RealServerInfo[] }[] = [];
    this.forEachEntry(opts, (service, servers) => table.push({ service, servers }));
    return table;
  }

  /**
   * The whole table, one virtual service at a time: `fn` gets each service with its real servers as
   * soon as they are read, so a caller that keeps little does not hold the whole table at once.
   */
  forEachEntry(opts: ListOptions, fn: (service: ServiceInfo, servers: RealServerInfo[]) => void): void {
    finish(this.forEachEntrySteps(opts, fn));
  }

  /**
   * forEachEntry() in pieces (see loop/pacer.ts): one dump of the services, then their real-server
   * dumps a piece at a time, each piece yielding the number of services it read.
   */
  forEachEntrySteps(opts: ListOptions, fn: (service: ServiceInfo, servers: RealServerInfo[]) => void): Steps<void>;
  /**
   * With `expect` and `stats: false`: the reader's guess, per service, of its real servers in the order
   * the kernel lists them. A dumped entry that has the next guessed server's address, port, family,
   * forwarding method, weight and thresholds is handed on as that object itself (destMatches), not
   * decoded, and the guess moves on; an entry that does not is decoded (so one server added or
   * changed costs one decoding). Handed-on objects carry no counters, hence never with statistics. A
   * reader that keeps a model of the kernel reads it this way and finds an unchanged service's
   * servers to be its own objects. With `expectService` too, the same for the services: each one's key
   * (serviceKeyString) is made from the dump and the reader's service of that key, if it says the same
   * (serviceMatches), is handed on instead of a decoded copy; `expect` and `fn` then get the key. The
   * key fields are not compared again: `expectService` must answer with a service of that very key.
   */
  forEachEntrySteps<E extends RealServer>(opts: ListOptions, fn: (service: ServiceInfo, servers: (RealServerInfo | E)[], key?: string) => void,
    expect: (service: ServiceInfo, key?: string) => readonly E[] | undefined, expectService?: (key: string) => ServiceInfo | undefined): Steps<void>;
  *forEachEntrySteps<E extends RealServer>(opts: ListOptions, fn: (service: ServiceInfo, servers: (RealServerInfo | E)[], key?: string) => void,
    expect?: (service: ServiceInfo, key?: string) => readonly E[] | undefined, expectService?: (key: string) => ServiceInfo | undefined): Steps<void> {
    const stats = opts.stats ?? true;
    const keys: string[] | undefined = expectService && !stats ? [] : undefined;
    const services = yield* this.#listServicesSteps(stats, expectService, keys);
    let size = yield 0;
    for (let start = 0; start < services.length;) {
      const end = Math.min(services.length, start + (size ?? DUMP_CHUNK));
      this.#readServers(services, start, end, stats, opts.skipGone ?? false, fn, expect, keys);
      size = yield end - start;
      start = end;
    }
  }

  /** The real servers of services[start..end), one GET_DEST dump per service, built in one buffer and run back to back. */
  #readServers<E extends RealServer>(services: ServiceInfo[], start: number, end: number, stats: boolean, skipGone: boolean,
    fn: (service: ServiceInfo, servers: (RealServerInfo | E)[], key?: string) => void,
    expect?: (service: ServiceInfo, key?: string) => readonly E[] | undefined, keys?: readonly string[]): void {
    const w = new MessageWriter((end - start) * 64 + 64);
    for (let i = start; i < end; i++) {
      beginIpvs(w, this.#family, Cmd.GET_DEST, this.#conn.nextSeq(), true);
      putService(w, services[i]!, false);
      w.end();
    }
    let current = start;
    let servers: (RealServerInfo | E)[] = [];
    // The guess for the service whose entries are being read (expect), asked for when its first entry
    // comes, and the next guessed server to look for.
    let guessFor = -1;
    let guess: readonly E[] | undefined;
    let guessAt = 0;
    const guessing = expect !== undefined && !stats;
    // With skipGone a service is handed on once its dump's outcome is known: at the end of the piece.
    const held: (RealServerInfo | E)[][] | undefined = skipGone ? [] : undefined;
    // Replies come in request order: a reply for service i means every service before it is done.
    const advance = (to: number) => {
      for (; current < to; current++) {
        if (held) held.push(servers);
        else fn(services[current]!, servers, keys?.[current]);
        servers = [];
      }
    };
    // The reply being read, for onAttr: one visitor for the whole piece, not a closure per reply
    // (100,000 replies at 10,000 Services), and the reply read in the receive buffer, not a view of it.
    let buf: Buffer;
    let family: ServiceInfo['family'];
    const onAttr = (type: number, off: number, len: number) => {
      if (type !== CmdAttr.DEST) return;
      const g = guess?.[guessAt];
      if (g && destMatches(buf, off, off + len, family, g)) {
        servers.push(g);
        guessAt++;
      } else {
        servers.push(decodeServer(buf.subarray(off, off + len), family, stats));
      }
    };
    const errors = this.#conn.dumpEachIn(w, (i, _type, reply, from, to) => {
      advance(start + i);
      const service = services[start + i]!;
      if (guessing && guessFor !== start + i) {
        guessFor = start + i;
        guess = expect(service, keys?.[start + i]);
        guessAt = 0;
      }
      // genlmsghdr (4 bytes), then the IPVS_CMD_ATTR_DEST nest.
      buf = reply;
      family = service.family;
      forEachAttr(reply, from + 4, to, onAttr);
    }, (i) => {
      // Service i's dump is read again from the start: forget what came of it.
      if (current === start + i) {
        servers = [];
        guessAt = 0;
      }
    });
    advance(end);
    errors.forEach((errno, i) => {
      // ESRCH: deleted between the two dumps; listed with no servers (or left out) rather than fail the listing.
      if (errno !== 0 && errnoName(errno) !== 'ESRCH') {
        throw new KernelError(`list real servers of ${describeService(services[start + i]!)}`, errno);
      }
    });
    // The kernel answers a real-server dump of a missing service with an empty dump, not an error: a
    // service listed with no servers is looked up once more (rare: a Service without endpoints).
    held?.forEach((list, i) => {
      if (errors[i] !== 0) return;
      if (list.length === 0 && this.getService(services[start + i]! as ServiceKey) === null) return;
      fn(services[start + i]!, list, keys?.[start + i]);
    });
  }

  addServer(service: ServiceKey, server: RealServer): void {
    this.#throwFirst(this.apply([{ op: 'add-server', service, server }]));
  }

  updateServer(service: ServiceKey, server: RealServer): void {
    this.#throwFirst(this.apply([{ op: 'update-server', service, server }]));
  }

  deleteServer(service: ServiceKey, server: RealServerKey): void {
    this.#throwFirst(this.apply([{ op: 'delete-server', service, server }]));
  }

  /** Sync daemons (master and/or backup) that are running. */
  daemons(): SyncDaemon[] {
    const out: SyncDaemon[] = [];
    for (const m of this.#get(Cmd.GET_DAEMON, 'list sync daemons', undefined, true)) {
      const nest = genlAttrs(m.payload)[CmdAttr.DAEMON];
      if (nest) out.push(decodeDaemon(nest));
    }
    return out;
  }

  #throwFirst(r: BatchResult): void {
    if (r.failures[0]) throw r.failures[0].error;
  }

  // ---- batches ---------------------------------------------------------------------------------

  /**
   * Apply many operations with as few system calls as the socket buffers allow. Every operation is
   * validated first; invalid ones are reported and not sent. The kernel applies each of the rest on
   * its own: a failure names its operation and does not stop the ones after it. Order is kept.
   */
  apply(operations: readonly Operation[]): BatchResult {
    return finish(this.applySteps(operations));
  }

  /**
   * apply() in pieces (see loop/pacer.ts), each yielding the number of operations it sent. `apart`
   * (only under a Pacer, which awaits the Wait this then yields): each piece's sends run on libuv's
   * thread pool, so the kernel applies one piece on another CPU while this thread encodes the next
   * (and the event loop runs); one piece in flight at a time, so the order of the work is kept.
   */
  *applySteps(operations: readonly Operation[], apart = false): Steps<BatchResult> {
    // Encoded a chunk at a time: a 110,000-operation sync would otherwise hold a 30 MB buffer.
    const keys = new ServiceKeys();
    let applied = 0;
    const failures: OperationFailure[] = [];
    const collect = (sent: number[], results: number[]) => results.forEach((errno, i) => {
      const index = sent[i]!;
      if (errno === 0) applied++;
      else {
        const operation = operations[index]!;
        failures.push({ index, operation, error: new KernelError(describeOperation(operation), errno) });
      }
    });
    const flight: Flight = { piece: undefined, collect };
    // A piece of no items first: a pacer answers with the size of the first real one.
    let size = yield 0;
    try {
      for (let start = 0; start < operations.length;) {
        const end = Math.min(operations.length, start + (size ?? APPLY_CHUNK));
        const w = new MessageWriter(Math.max(4096, (end - start) * 96));
        const sent: number[] = [];
        for (let index = start; index < end; index++) {
          const operation = operations[index]!;
          try {
            this.#encode(w, operation, keys);
            sent.push(index);
          } catch (err) {
            w.abort();
            if (err instanceof IpvsValidationError) failures.push({ index, operation, error: err });
            else throw err;
          }
        }
        if (apart) {
          // Yielded after the encoding, so that the Pacer sizes the pieces by it (a wait is not work).
          size = yield end - start;
          // The piece before must have landed first: acknowledgements are read in order.
          yield* land(flight);
          if (sent.length) {
            const piece: Piece = { sent, done: Promise.resolve() };
            piece.done = this.#conn.executeAsync(w).then((results) => { piece.outcome = { results }; }, (error: unknown) => { piece.outcome = { error }; });
            flight.piece = piece;
          }
        } else {
          if (sent.length) collect(sent, this.#conn.execute(w));
          size = yield end - start;
        }
        start = end;
      }
      yield* land(flight);
    } finally {
      // However this ends, no piece is left in flight on the socket.
      if (flight.piece) yield new Wait(flight.piece.done);
    }
    failures.sort((a, b) => a.index - b.index);
    return { applied, failures };
  }

  #encode(w: MessageWriter, op: Operation, keys: ServiceKeys): void {
    const seq = this.#conn.nextSeq();
    switch (op.op) {
      case 'add-service':
      case 'update-service': {
        const s = validateService(op.service);
        beginIpvs(w, this.#family, op.op === 'add-service' ? Cmd.NEW_SERVICE : Cmd.SET_SERVICE, seq);
        putService(w, s, true);
        break;
      }
      case 'delete-service': {
        const k = validateServiceKey(op.service);
        beginIpvs(w, this.#family, Cmd.DEL_SERVICE, seq);
        putService(w, k, false);
        break;
      }
      case 'add-server':
      case 'update-server': {
        const k = keys.of(op.service);
        const plain = isPlainValidServer(k, op.server);
        const s = plain ? op.server : validateServerOf(k, op.server);
        beginIpvs(w, this.#family, op.op === 'add-server' ? Cmd.NEW_DEST : Cmd.SET_DEST, seq);
        w.raw(keys.nest());
        if (plain) putPlainServer(w, s);
        else putServer(w, k.family, s, true);
        break;
      }
      case 'delete-server': {
        const k = keys.of(op.service);
        const s = validateServerKey(k, op.server);
        beginIpvs(w, this.#family, Cmd.DEL_DEST, seq);
        w.raw(keys.nest());
        putServer(w, k.family, s, false);
        break;
      }
    }
    w.end();
  }
}

/** A piece of applySteps' operations sent on libuv's pool: which were sent, and how it ended. */
interface Piece { done: Promise<void>; outcome?: { results: number[] } | { error: unknown }; sent: number[] }
interface Flight { piece: Piece | undefined; collect: (sent: number[], results: number[]) => void }

/**
 * Wait for the piece in flight, if any, and count its results. One generator function for every
 * applySteps call: one made inside each call (a closure) gave its generators a new map per call, and
 * TurboFan's code for applySteps was thrown away at each new sync ("wrong map", "wrong call target"
 * under --trace-deopt) and compiled again, five times in one benchmark case, 0.4-0.6 s each in the sandbox.
 */
function* land(flight: Flight): Steps<void> {
  const piece = flight.piece;
  if (!piece) return;
  flight.piece = undefined;
  if (!piece.outcome) yield new Wait(piece.done);
  const o = piece.outcome!;
  if ('error' in o) throw o.error;
  flight.collect(piece.sent, o.results);
}

/**
 * A batch's operations on one service come one after another (its servers after it): the service
 * is checked once for them, not once per server. Only within one batch, by identity.
 */
class ServiceKeys {
  #service: ServiceKey | undefined;
  #key: ServiceKey | undefined;
  #nest: Buffer | undefined;
  of(service: ServiceKey): ServiceKey {
    if (service !== this.#service || !this.#key) {
      this.#key = undefined;
      this.#nest = undefined;
      this.#key = validateServiceKey(service);
      this.#service = service;
    }
    return this.#key;
  }
  /** The last service of() checked, encoded as its key nest once for all its servers. */
  nest(): Buffer {
    return (this.#nest ??= serviceKeyNest(this.#key!));
  }
}
