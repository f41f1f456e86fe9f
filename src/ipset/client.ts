// The ipset client: create, list, flush and destroy sets and add or delete their members over
// nfnetlink (NETLINK_NETFILTER, subsystem IPSET), batched many requests per datagram. Entries are in
// ipset's own text form, exactly as `ipset list` prints them; they are validated before anything is
// sent, and kernel refusals come back as IpsetError naming the set (and the entry).
import { NetlinkConnection, KernelError, errnoName } from '../netlink/connection.js';
import type { NamespaceOption } from '../netlink/netns.js';
import { KeptReplies } from '../netlink/kept-replies.js';
import { finish, type Steps } from '../loop/pacer.js';
import { packRuns, resendToStayLast } from './batch.js';
import { MessageWriter, forEachAttr } from '../netlink/message.js';
import {
  NETLINK_NETFILTER, NFNL_SUBSYS_IPSET, IPSET_PROTOCOL, IPSET_PROTOCOL_MIN, Cmd, Attr,
  IPSET_FLAG_LIST_SETNAME, IPSET_FLAG_LIST_HEADER,
} from './constants.js';
import {
  beginIpset, putCreate, putSwap, putEntry, putEntries, MAX_ENTRY_BYTES, parseEntry, validateSetName, validateSpec, decodeSetMessage, formatMember,
  ipsetError, nfprotoOf, isSetType,
} from './codec.js';
import type { SetType, Family, SetSpec, SetOp, Entry, SetHeader, ParsedEntry } from './types.js';

export { parseEntry } from './codec.js';
export type { SetType, Family, SetSpec, SetOp, Entry, SetHeader, ParsedEntry } from './types.js';

/**
 * Entries in one packed add or del message of apply(), at most: with the biggest entries some 21 KiB,
 * so that the kernel's error reply, which echoes a refused message whole, fits the 64 KiB that one
 * datagram is received into.
 */
const PACK_ENTRIES = 256;

/**
 * The highest revision of each type that ipset 7.17 (Debian 12's) knows: newer revisions the kernel
 * may offer would make `ipset list` refuse the set. Every revision takes the attributes kipvs sends.
 */
const KNOWN_REVISION: Record<SetType, number> = {
  'hash:ip': 6,
  'hash:ip,port': 7,
  'hash:ip,port,ip': 6,
  'hash:ip,port,net': 8,
  'bitmap:port': 3,
};

/** The kernel has no ipset (module not loaded or not built). */
export class IpsetUnavailableError extends Error {
  constructor(detail: string, options?: ErrorOptions) {
    super(`ipset is not available in this kernel: ${detail}. Load it with "modprobe ip_set", or run kipvs on a kernel built with CONFIG_IP_SET.`, options);
    this.name = 'IpsetUnavailableError';
  }
}

/**
 * The kernel refused an ipset request. `code` is the errno's name, or ipset's own (IPSET_ERR_…);
 * `set` and `entry` say what the request was about.
 */
export class IpsetError extends KernelError {
  override readonly code: string;
  readonly set: string;
  readonly entry: Entry | undefined;
  constructor(set: string, action: string, errno: number, opts: { entry?: Entry; type?: string; detail?: string } = {}) {
    const object = `ipset ${set}: ${action}${opts.entry !== undefined ? ` ${opts.entry}` : ''}`;
    const own = ipsetError(errno, opts.type);
    super(object, errno, opts.detail ?? own?.text);
    this.name = 'IpsetError';
    this.code = own?.code ?? errnoName(errno);
    this.set = set;
    this.entry = opts.entry;
    // KernelError's message names plain errnos well; ipset's own codes need their names here.
    if (own) this.message = `${object}: ${opts.detail ?? own.text} (${this.code})`;
  }
}

/** An entry or set refused before anything was sent (invalid entry, unknown set). */
export class IpsetValidationError extends Error {
  readonly set: string;
  readonly entry: Entry | undefined;
  constructor(set: string, entry: Entry | undefined, message: string) {
    super(message);
    this.name = 'IpsetValidationError';
    this.set = set;
    this.entry = entry;
  }
}

export interface SetOpFailure {
  /** Index of the operation in the batch. */
  index: number;
  op: SetOp;
  error: IpsetError | IpsetValidationError;
}

export interface SetBatchResult {
  /** Operations the kernel accepted (an add of a present entry and a delete of an absent one count). */
  applied: number;
  failures: SetOpFailure[];
}

const ENOENT = 2;
const EEXIST = 17;

/** A set's header from its list reply (its type name known). */
function headerOf(m: ReturnType<typeof decodeSetMessage>): SetHeader {
  return {
    type: m.typeName as SetType,
    family: familyOfSet(m.typeName!, m.family),
    entries: m.elements ?? 0,
    entriesCounted: m.elements !== undefined,
    references: m.references ?? 0,
    revision: m.revision ?? 0,
    ...(m.maxElem !== undefined ? { maxElem: m.maxElem } : {}),
    ...(m.hashSize !== undefined ? { hashSize: m.hashSize } : {}),
  };
}

/** A set's family as kipvs reports it: bitmap:port sets have none of their own, so inet. */
function familyOfSet(typeName: string, family: Family | undefined): Family {
  return typeName.startsWith('bitmap:') ? 'inet' : (family ?? 'inet');
}

export class IpsetClient {
  readonly #conn: NetlinkConnection;
  readonly #protocol: number;
  readonly #revisions = new Map<string, number>();

  private constructor(conn: NetlinkConnection, protocol: number) {
    this.#conn = conn;
    this.#protocol = protocol;
  }

  /**
   * Connect to the kernel's ipset (in `options.netns`' network namespace, or the caller's); throws
   * IpsetUnavailableError when the kernel has none.
   */
  static open(options: NamespaceOption = {}): IpsetClient {
    let conn: NetlinkConnection;
    try {
      conn = new NetlinkConnection(NETLINK_NETFILTER, { ...options, name: 'ipset' });
    } catch (err) {
      throw new IpsetUnavailableError(`no nfnetlink socket (${(err as Error).message})`, { cause: err });
    }
    try {
      // Ask with the oldest protocol every ipset kernel accepts; speak the newest both know.
      let replies;
      try {
        replies = conn.request((seq) => beginIpset(new MessageWriter(64), Cmd.PROTOCOL, seq, { protocol: IPSET_PROTOCOL_MIN }).end(), 'ipset protocol');
      } catch (err) {
        if (err instanceof KernelError) throw new IpsetUnavailableError(`the kernel answered ${err.code} to ipset's protocol query`, { cause: err });
        throw err;
      }
      const reply = replies.find((m) => m.type === ((NFNL_SUBSYS_IPSET << 8) | Cmd.PROTOCOL));
      let kernel = IPSET_PROTOCOL;
      if (reply) {
        const p = reply.payload;
        // nfgenmsg, then IPSET_ATTR_PROTOCOL (u8) among others.
        forEachAttr(p, 4, p.length, (type, off, len) => {
          if (type === Attr.PROTOCOL && len >= 1) kernel = p.readUInt8(off);
        });
      }
      if (kernel < IPSET_PROTOCOL_MIN) throw new IpsetUnavailableError(`the kernel speaks ipset protocol ${kernel}, kipvs needs ${IPSET_PROTOCOL_MIN} or later`);
      return new IpsetClient(conn, Math.min(kernel, IPSET_PROTOCOL));
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  close(): void {
    this.#conn.close();
  }

  #writer(cmd: number, seq: number, dump = false, size = 256): MessageWriter {
    return beginIpset(new MessageWriter(size), cmd, seq, { dump, protocol: this.#protocol });
  }

  /** One acknowledged request about set `name`; kernel refusals become IpsetError. */
  #request(cmd: number, name: string, action: string, fill?: (w: MessageWriter) => void, type?: string) {
    try {
      return this.#conn.request((seq) => {
        const w = this.#writer(cmd, seq);
        w.string(Attr.SETNAME, name);
        fill?.(w);
        return w.end();
      }, `ipset ${name}: ${action}`);
    } catch (err) {
      if (err instanceof KernelError && !(err instanceof IpsetError)) throw new IpsetError(name, action, err.errno, { type });
      throw err;
    }
  }

  /** Names of every set, in the kernel's order. */
  list(): string[] {
    const names: string[] = [];
    const seen = new Set<string>();
    const replies = this.#conn.request((seq) => this.#writer(Cmd.LIST, seq, true).u32(Attr.FLAGS, IPSET_FLAG_LIST_SETNAME).end(), 'ipset: list sets');
    for (const m of replies) {
      const { name } = decodeSetMessage(m.payload);
      if (name && !seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
    }
    return names;
  }

  /**
   * A set's type, family and number of entries, or undefined when there is no such set. A type kipvs
   * does not create is given as the kernel names it; bitmap:port sets are reported as family inet.
   */
  header(name: string): SetHeader | undefined {
    validateSetName(name);
    let replies;
    try {
      replies = this.#conn.request((seq) => {
        const w = this.#writer(Cmd.LIST, seq, true);
        w.string(Attr.SETNAME, name).u32(Attr.FLAGS, IPSET_FLAG_LIST_HEADER);
        return w.end();
      }, `ipset ${name}: header`);
    } catch (err) {
      if (err instanceof KernelError && err.errno === ENOENT) return undefined;
      if (err instanceof KernelError) throw new IpsetError(name, 'header', err.errno);
      throw err;
    }
    for (const r of replies) {
      const m = decodeSetMessage(r.payload);
      if (m.name === name && m.typeName !== undefined) return headerOf(m);
    }
    return undefined;
  }

  /** Every set's header (as header() gives it), by name, from one dump: what `ipset list -t` shows. */
  headers(): Map<string, SetHeader> {
    const out = new Map<string, SetHeader>();
    const replies = this.#conn.request((seq) => this.#writer(Cmd.LIST, seq, true).u32(Attr.FLAGS, IPSET_FLAG_LIST_HEADER).end(), 'ipset: list set headers');
    for (const r of replies) {
      const m = decodeSetMessage(r.payload);
      if (m.name && m.typeName !== undefined && !out.has(m.name)) out.set(m.name, headerOf(m));
    }
    return out;
  }

  /** Type and family of a set (IPSET_CMD_HEADER, one small request), or undefined if absent. */
  #typeOf(name: string): { type: string; family: Family } | undefined {
    try {
      const replies = this.#request(Cmd.HEADER, name, 'header');
      for (const r of replies) {
        const m = decodeSetMessage(r.payload);
        if (m.typeName !== undefined) return { type: m.typeName, family: familyOfSet(m.typeName, m.family) };
      }
      return undefined;
    } catch (err) {
      if (err instanceof KernelError && err.errno === ENOENT) return undefined;
      throw err;
    }
  }

  /** The revision to create `type` with: the kernel's newest that ipset 7.17 also knows. */
  #revision(type: SetType, family: Family): number {
    const key = `${type}/${family}`;
    const cached = this.#revisions.get(key);
    if (cached !== undefined) return cached;
    let replies;
    try {
      replies = this.#conn.request((seq) => {
        const w = this.#writer(Cmd.TYPE, seq);
        w.string(Attr.TYPENAME, type).u8(Attr.FAMILY, nfprotoOf(family));
        return w.end();
      }, `ipset type ${type}`);
    } catch (err) {
      if (err instanceof KernelError) {
        throw new IpsetError(type, `set type (family ${family})`, err.errno, {
          detail: `the kernel has no ${type} set type for family ${family} (${ipsetError(err.errno)?.code ?? err.code}); load ip_set_${type.replace(/[:,]/g, '_')}`,
        });
      }
      throw err;
    }
    let max = -1;
    let min = 0;
    for (const r of replies) {
      const p = r.payload;
      forEachAttr(p, 4, p.length, (type, off, len) => {
        if (len >= 1 && type === Attr.REVISION) max = p.readUInt8(off);
        if (len >= 1 && type === Attr.REVISION_MIN) min = p.readUInt8(off);
      });
    }
    if (max < 0) throw new Error(`ipset type ${type}: the kernel did not say which revisions it has`);
    const revision = Math.max(min, Math.min(max, KNOWN_REVISION[type]));
    this.#revisions.set(key, revision);
    return revision;
  }

  /**
   * Create a set, like `ipset create -exist`: nothing happens when a set of that name, type and
   * family exists already (other hash sizes included). A set of that name with another type, family,
   * maxelem or range is an error naming the set.
   */
  create(spec: SetSpec): void {
    validateSpec(spec);
    const revision = this.#revision(spec.type, spec.family);
    const clash = (detail: string) => new IpsetError(spec.name, `create ${spec.type} family ${spec.family}`, EEXIST, { detail });
    try {
      this.#request(Cmd.CREATE, spec.name, `create ${spec.type} family ${spec.family}`, (w) => putCreate(w, spec, revision), spec.type);
    } catch (err) {
      if (!(err instanceof IpsetError && err.errno === EEXIST)) throw err;
      const have = this.header(spec.name);
      if (have && (have.type !== spec.type || have.family !== spec.family)) {
        throw clash(`a set of that name exists with type ${have.type} family ${have.family}`);
      }
      throw clash(`a ${spec.type} set of that name exists with other parameters (maxelem or range)`);
    }
    // The kernel lets an existing set stand for a new one of the same type in another family: check.
    const have = this.#typeOf(spec.name);
    if (!have) throw new IpsetError(spec.name, 'create', ENOENT, { detail: 'the set vanished right after it was created' });
    if (have.type !== spec.type || have.family !== spec.family) {
      throw clash(`a set of that name exists with type ${have.type} family ${have.family}`);
    }
  }

  /**
   * Destroy a set, like `ipset destroy -exist`: a set that does not exist is no error. One that is in
   * use (e.g. by an iptables rule) is an error naming it.
   */
  destroy(name: string): void {
    // Without a name the kernel destroys every set: never send that.
    validateSetName(name);
    try {
      // Recent kernels ignore a missing set without NLM_F_EXCL; older ones answer ENOENT.
      this.#request(Cmd.DESTROY, name, 'destroy');
    } catch (err) {
      if (err instanceof IpsetError && err.errno === ENOENT) return;
      if (err instanceof IpsetError && (err.code === 'IPSET_ERR_BUSY' || err.code === 'EBUSY')) {
        throw new IpsetError(name, 'destroy', err.errno, { detail: 'the set is in use by a kernel component (e.g. an iptables rule) and cannot be destroyed' });
      }
      throw err;
    }
  }

  /**
   * Swap two sets, like `ipset swap FROM TO`: each takes the other's name and place, so the rules and
   * references that named TO now reach the set that was FROM, with no moment without a set. The sets
   * must have the same type and family. A missing set is an error naming it.
   */
  swap(from: string, to: string): void {
    validateSetName(from);
    validateSetName(to);
    const action = `swap with ${to}`;
    try {
      this.#conn.request((seq) => {
        const w = this.#writer(Cmd.SWAP, seq);
        putSwap(w, from, to);
        return w.end();
      }, `ipset ${from}: ${action}`);
    } catch (err) {
      if (!(err instanceof KernelError)) throw err;
      const code = ipsetError(err.errno)?.code;
      const detail = err.errno === ENOENT ? `there is no set ${from}`
        : code === 'IPSET_ERR_EXIST_SETNAME2' ? `there is no set ${to}`
        : code === 'IPSET_ERR_TYPE_MISMATCH' ? `${from} and ${to} differ in type or family`
        : undefined;
      throw new IpsetError(from, action, err.errno, detail ? { detail } : {});
    }
  }

  /** Remove every member of a set. */
  flush(name: string): void {
    // Without a name the kernel flushes every set: never send that.
    validateSetName(name);
    this.#request(Cmd.FLUSH, name, 'flush');
  }

  /** Every member of a set, in ipset's text form (the kernel's order, which means nothing). */
  entries(name: string): Entry[] {
    return finish(this.entriesSteps(name));
  }

  /**
   * entries() in pieces (see loop/pacer.ts): the set's dump read to its end at once, its replies kept
   * as bytes (a piece of 0 items), then made text `size` members a piece (whole replies: about 1,000
   * members each from Debian 12's kernel). A periodic reconcile reads its sets back so, and may give way between the pieces:
   * at 5,000 Services in the sandbox, reading KUBE-CLUSTER-IP back in one piece took 0.16-0.35 s.
   */
  *entriesSteps(name: string): Steps<Entry[]> {
    validateSetName(name);
    const kept = new KeptReplies(16 * 1024);
    try {
      this.#conn.dumpKept((seq) => this.#writer(Cmd.LIST, seq, true).string(Attr.SETNAME, name).end(), `list ${name}`, kept);
    } catch (err) {
      if (err instanceof KernelError && !(err instanceof IpsetError)) throw new IpsetError(name, 'list', err.errno);
      throw err;
    }
    const out: Entry[] = [];
    let type = '';
    let size = yield 0;
    for (let i = 0; i < kept.count;) {
      const from = out.length;
      while (i < kept.count && out.length - from < (size ?? Infinity)) {
        const m = decodeSetMessage(kept.bytes.subarray(kept.start(i), kept.end(i)));
        i++;
        if (m.name !== name) continue;
        if (m.typeName !== undefined) type = m.typeName;
        for (const [start, end] of m.members) out.push(formatMember(type, m.buf, start, end));
      }
      if (i < kept.count) size = yield out.length - from;
    }
    return out;
  }

  /**
   * Add and delete many entries with as few messages and system calls as the socket buffers allow.
   * Adds are `-exist` (adding a present entry is no error) and so are deletes (deleting an absent one
   * is none either). Every entry is checked against its set's type and family first; invalid ones,
   * and ones for sets that do not exist, are reported and not sent. A failure names its set and entry
   * and does not stop the ones after it. Each entry ends as the last operation on it says.
   *
   * Like `ipset restore`, runs of the same operation on one set go many entries per message (sets
   * are independent, so only each set's own order is kept). The kernel stops such a message at the
   * first entry it refuses, keeping the ones before it; then that message's entries are sent again
   * one per message, which applies the rest and says precisely which fail (sending one that is
   * applied already changes nothing). Where a later message of that set touched the same entry in
   * the meantime, its operation is sent again after them, so that it is still the last.
   */
  apply(ops: readonly SetOp[]): SetBatchResult {
    let applied = 0;
    const failures: SetOpFailure[] = [];
    // Each set's type and family, to check and encode its entries.
    const sets = new Map<string, { type: string; family: Family } | undefined | Error>();
    for (const op of ops) {
      if (sets.has(op.set)) continue;
      try {
        validateSetName(op.set);
        sets.set(op.set, this.#typeOf(op.set));
      } catch (err) {
        if (err instanceof Error) sets.set(op.set, err);
        else throw err;
      }
    }
    // What is sent, per set in the order given.
    const bySet = new Map<string, Pending[]>();
    for (let index = 0; index < ops.length; index++) {
      const op = ops[index]!;
      const fail = (message: string) => failures.push({ index, op, error: new IpsetValidationError(op.set, op.entry, message) });
      if (op.op !== 'add' && op.op !== 'del') {
        fail(`ipset ${op.set}: unknown operation ${JSON.stringify(op.op)} for ${op.entry} (add or del)`);
        continue;
      }
      const set = sets.get(op.set);
      if (set instanceof Error) {
        fail(`ipset ${op.set}: ${op.op} ${op.entry}: ${set.message}`);
        continue;
      }
      if (set === undefined) {
        fail(`ipset ${op.set}: ${op.op} ${op.entry}: no such set`);
        continue;
      }
      if (!isSetType(set.type)) {
        fail(`ipset ${op.set}: ${op.op} ${op.entry}: kipvs does not handle sets of type ${set.type}`);
        continue;
      }
      let entry: ParsedEntry;
      try {
        entry = parseEntry(set.type, set.family, op.entry);
      } catch (err) {
        fail(`ipset ${op.set}: ${op.op} ${op.entry}: ${(err as Error).message}`);
        continue;
      }
      let pending = bySet.get(op.set);
      if (!pending) bySet.set(op.set, (pending = []));
      // No NLM_F_EXCL: the kernel then ignores "already added" and "not in the set".
      pending.push({ index, op, cmd: op.op === 'add' ? Cmd.ADD : Cmd.DEL, entry, type: set.type });
    }
    // Runs of one command on one set, PACK_ENTRIES at most to a message.
    const packs = packRuns(bySet.values(), PACK_ENTRIES);
    // A refused message comes back whole in its error reply: send at most a quarter of the receive
    // buffer's worth at once, so that even if every one is refused their replies all fit.
    const budget = Math.max(PACK_ENTRIES * MAX_ENTRY_BYTES, (this.#conn.window * 1280) / 4);
    const refused: Pending[][] = [];
    for (let next = 0; next < packs.length;) {
      const w = new MessageWriter(Math.min(budget, 64 * 1024));
      const sent: Pending[][] = [];
      while (next < packs.length && (sent.length === 0 || w.length + PACK_ENTRIES * MAX_ENTRY_BYTES + 64 <= budget)) {
        const pack = packs[next++]!;
        beginIpset(w, pack[0]!.cmd, this.#conn.nextSeq(), { protocol: this.#protocol });
        putEntries(w, pack[0]!.op.set, pack.map((p) => p.entry));
        w.end();
        sent.push(pack);
      }
      this.#conn.execute(w).forEach((errno, i) => {
        if (errno === 0) applied += sent[i]!.length;
        else refused.push(sent[i]!);
      });
    }
    if (refused.length) {
      // Every entry of a refused message again, one per message: each result is that entry's own.
      const again = refused.flat();
      this.#sendEach(again).forEach((errno, i) => {
        if (errno === 0) applied++;
        else failures.push(this.#failure(again[i]!, errno));
      });
      // Those went in after the messages that followed theirs: where one of those has the last
      // operation on the same entry, send it again so that it is the last again.
      const fixes = resendToStayLast(bySet.values(), again, (p) => `${p.op.set}\0${p.entry.text}`);
      // Those were applied once already; one the kernel now refuses did not take effect after all.
      if (fixes.length) {
        this.#sendEach(fixes).forEach((errno, i) => {
          if (errno === 0) return;
          applied--;
          failures.push(this.#failure(fixes[i]!, errno));
        });
      }
    }
    failures.sort((a, b) => a.index - b.index);
    return { applied, failures };
  }

  /** Send each entry in a message of its own; 0 or the errno for each, in order. */
  #sendEach(pending: readonly Pending[]): number[] {
    const w = new MessageWriter(Math.max(4096, pending.length * 96));
    for (const p of pending) {
      beginIpset(w, p.cmd, this.#conn.nextSeq(), { protocol: this.#protocol });
      w.string(Attr.SETNAME, p.op.set);
      putEntry(w, p.entry);
      w.end();
    }
    return this.#conn.execute(w);
  }

  #failure(p: Pending, errno: number): SetOpFailure {
    return { index: p.index, op: p.op, error: new IpsetError(p.op.set, p.op.op, errno, { entry: p.op.entry, type: p.type }) };
  }
}

/** An operation of apply() that passed validation, on its way to the kernel. */
interface Pending {
  index: number;
  op: SetOp;
  cmd: number;
  entry: ParsedEntry;
  type: string;
}
