// Keeps the kernel's ipsets of IPVS mode equal to the model's entries: creates the sets, applies each
// commit's added and removed entries in one netlink batch, and on a full reconcile reads every set
// back and repairs what differs (an entry deleted or added by hand, a set flushed or destroyed).
// A hash set whose maxelem is too small for its entries is remade bigger first (ipset/capacity.ts
// says how big, ipset/grow.ts remakes it without a moment where the rules see it missing or partial).
import type { IpsetClient, SetHeader, SetOp } from '../../ipset/client.js';
import { DEFAULT_MAXELEM, grownMaxElem, maxElemFor } from '../../ipset/capacity.js';
import { GROW_TEMP_SET, growSetSteps } from '../../ipset/grow.js';
import type { Family } from '../../ipvs/types.js';
import { IPSETS, type IpsetInfo } from '../../iptables/names.js';
import { splitEntryKey, type IpsetEntryKey, type IpsetRole } from '../../model/ipsets.js';
import type { Logger } from '../backend.js';
import { finish, type Steps } from '../../loop/pacer.js';

/** Operations handed to the ipset client at once. */
const APPLY_SLICE = 4096;

export interface IpsetSyncResult {
  added: number;
  removed: number;
  /** Each failure names the set and the entry. */
  failures: string[];
  ms: number;
  /** Sets remade with a bigger maxelem. */
  grown: number;
}

/** What an incremental sync needs of the model to remake a set bigger: its entries and their count per set. */
export interface DesiredIpsets {
  /** Entries wanted in the set of `family` whose IPv4 name is `role`. */
  ipsetSize(family: Family, role: IpsetRole): number;
  /** Every wanted entry. */
  ipsetEntries(): Iterable<IpsetEntryKey>;
}

/** A set kipvs would create, and with which maxelem (hash types), as plan() reports it. */
export interface MissingSet {
  name: string;
  type: string;
  family: Family;
  maxElem?: number;
}

/** A hash set plan() would remake bigger. */
export interface SetToGrow {
  name: string;
  fromMaxElem: number;
  toMaxElem: number;
  entries: number;
}

export class IpsetSync {
  readonly #client: IpsetClient;
  readonly #log: Logger;
  /** Set name → its description, for every family. */
  readonly #sets = new Map<string, { info: IpsetInfo; family: Family }>();
  /** The model's role (the IPv4 name) and family → the kernel set name. */
  readonly #nameOf = new Map<string, string>();
  /** The smallest maxelem a set is made with (see capacity.ts). */
  readonly #floor: number;
  /** Each hash set's maxelem and hash size, as last read from the kernel or made. */
  readonly #size = new Map<string, { maxElem: number; hashSize?: number }>();
  /** A reconcile is reading the sets back and comparing (see `comparing`). */
  #comparing = false;

  /**
   * `minMaxElem`: the smallest maxelem a hash set is made with, and the one an adopted set may keep;
   * kube-proxy's 65,536 unless set (a test sets a small one to need few entries).
   */
  constructor(opts: { client: IpsetClient; families: Family[]; log: Logger; minMaxElem?: number }) {
    this.#client = opts.client;
    this.#log = opts.log;
    this.#floor = opts.minMaxElem ?? DEFAULT_MAXELEM;
    maxElemFor(0, this.#floor); // checks it
    for (const family of opts.families) {
      for (const info of IPSETS) {
        const name = info.name(family);
        this.#sets.set(name, { info, family });
        this.#nameOf.set(`${family}|${info.name('inet')}`, name);
      }
    }
  }

  /**
   * Create the sets that are missing (like `ipset create -exist`), each hash set with the maxelem its
   * number of entries in `sizes` (none: 0) calls for, and destroy a temporary set an interrupted
   * growth left. Throws naming the set that cannot be created. Returns the sets known to be empty
   * now (made here, or counted empty by the kernel), whose entries a reconcile need not read back.
   */
  ensureSets(sizes?: ReadonlyMap<string, number>): Set<string> {
    const empty = new Set<string>();
    const have = this.#client.headers();
    if (have.has(GROW_TEMP_SET)) {
      try {
        this.#client.destroy(GROW_TEMP_SET);
        this.#log.info({ set: GROW_TEMP_SET }, 'destroyed the temporary ipset an interrupted growth left');
      } catch (err) {
        this.#log.warn({ set: GROW_TEMP_SET, err: (err as Error).message }, 'cannot destroy the temporary ipset an interrupted growth left');
      }
    }
    for (const [name, { info, family }] of this.#sets) {
      const h = have.get(name);
      if (h) {
        this.#remember(name, h);
        if (h.entriesCounted && h.entries === 0) empty.add(name);
        continue;
      }
      empty.add(name);
      if (info.type === 'bitmap:port') {
        // bitmap:port holds bare ports, whatever the family of the rules that match it.
        this.#client.create({ name, type: info.type, family: 'inet', range: { from: 0, to: 65535 } });
        continue;
      }
      const maxElem = maxElemFor(sizes?.get(name) ?? 0, this.#floor);
      this.#client.create({ name, type: info.type, family, maxElem });
      this.#size.set(name, { maxElem });
    }
    return empty;
  }

  #remember(name: string, h: SetHeader): void {
    if (h.maxElem === undefined) this.#size.delete(name);
    else this.#size.set(name, { maxElem: h.maxElem, ...(h.hashSize ? { hashSize: h.hashSize } : {}) });
  }

  /**
   * Remake `set` with room for `entries` (exactly those) when its maxelem is too small for them;
   * true when it was. A failure is logged and added to `failures`; the set stays as it was.
   */
  *#growIfFull(set: string, entries: () => string[], count: number, failures: string[]): Steps<boolean> {
    const size = this.#size.get(set);
    if (!size) return false;
    const maxElem = grownMaxElem(size.maxElem, count, this.#floor);
    if (maxElem === undefined) return false;
    const { info, family } = this.#sets.get(set)!;
    if (info.type === 'bitmap:port') return false;
    const t0 = performance.now();
    const fields = { set, fromMaxElem: size.maxElem, toMaxElem: maxElem, entries: count };
    try {
      const r = yield* growSetSteps(this.#client, { name: set, type: info.type, family, maxElem, entries: entries(), ...(size.hashSize ? { hashSize: size.hashSize } : {}) });
      if (r.leftover) this.#log.warn({ set, err: r.leftover }, 'temporary ipset left behind (destroyed at the next full sync)');
      if (!r.grown) {
        failures.push(...r.failures);
        this.#log.warn({ ...fields, failures: r.failures.length, err: r.failures[0] }, 'cannot make the ipset bigger: it stays as it was');
        return false;
      }
      this.#size.set(set, { maxElem });
      this.#log.info({ ...fields, ms: Math.round(performance.now() - t0) }, 'ipset made bigger to hold its entries');
      return true;
    } catch (err) {
      failures.push(`make ${set} bigger (maxelem ${size.maxElem} to ${maxElem}): ${(err as Error).message}`);
      this.#log.warn({ ...fields, err: (err as Error).message }, 'cannot make the ipset bigger: it stays as it was');
      return false;
    }
  }

  #op(op: 'add' | 'del', key: IpsetEntryKey): SetOp | undefined {
    const { family, role, entry } = splitEntryKey(key);
    // A family this node does not program (or an unknown role) has no set: nothing to do.
    const set = this.#nameOf.get(`${family}|${role}`);
    return set === undefined ? undefined : { op, set, entry };
  }

  /** Apply `ops`; `grown` and `growFailures` (logged already) are the growths before them. */
  *#apply(ops: SetOp[], t0: number, grown = 0, growFailures: string[] = []): Steps<IpsetSyncResult> {
    const failures: string[] = [];
    let added = 0;
    let removed = 0;
    // In slices, in order: the client decodes and packs each entry before sending, and 60,000 of
    // those alive at once (a first sync at 10,000 Services) were a needless peak of heap. Paced,
    // the slices are as small as the pacer asks.
    let size = yield 0;
    for (let at = 0; at < ops.length;) {
      const slice = ops.slice(at, at + Math.min(APPLY_SLICE, size ?? APPLY_SLICE));
      at += slice.length;
      const r = this.#client.apply(slice);
      const failed = new Set(r.failures.map((f) => f.index));
      for (const f of r.failures) failures.push(`${f.op.op} ${f.op.entry} in ${f.op.set}: ${f.error.message}`);
      slice.forEach((op, i) => {
        if (failed.has(i)) return;
        if (op.op === 'add') added++;
        else removed++;
      });
      size = yield slice.length;
    }
    for (const f of failures) this.#log.warn({ err: f }, 'ipset operation failed');
    return { added, removed, failures: [...growFailures, ...failures], ms: performance.now() - t0, grown };
  }

  /**
   * Apply one commit's changes. `wanted` tells whether an entry is still wanted (an entry can be
   * removed by one Service and added by another in the same commit). With `desired` (the model), a
   * set the commit adds to whose maxelem is too small for its entries is remade bigger, holding them.
   */
  applyChanges(added: readonly IpsetEntryKey[], removed: readonly IpsetEntryKey[], wanted: (key: IpsetEntryKey) => boolean, desired?: DesiredIpsets): IpsetSyncResult {
    return finish(this.applyChangesSteps(added, removed, wanted, desired));
  }

  /** applyChanges() in pieces (see loop/pacer.ts). */
  *applyChangesSteps(added: readonly IpsetEntryKey[], removed: readonly IpsetEntryKey[], wanted: (key: IpsetEntryKey) => boolean, desired?: DesiredIpsets): Steps<IpsetSyncResult> {
    const t0 = performance.now();
    const ops: SetOp[] = [];
    for (const key of removed) {
      if (wanted(key)) continue;
      const op = this.#op('del', key);
      if (op) ops.push(op);
    }
    for (const key of added) {
      const op = this.#op('add', key);
      if (op) ops.push(op);
    }
    if (!desired) return yield* this.#apply(ops, t0);
    const grown = new Set<string>();
    const failures: string[] = [];
    for (const set of new Set(ops.filter((o) => o.op === 'add').map((o) => o.set))) {
      const { info, family } = this.#sets.get(set)!;
      const role = info.name('inet') as IpsetRole;
      const prefix = `${family}|${role}|`;
      const entries = () => {
        const out: string[] = [];
        for (const key of desired.ipsetEntries()) if (key.startsWith(prefix)) out.push(key.slice(prefix.length));
        return out;
      };
      if (yield* this.#growIfFull(set, entries, desired.ipsetSize(family, role), failures)) grown.add(set);
    }
    // A remade set holds exactly the wanted entries already.
    return yield* this.#apply(grown.size ? ops.filter((o) => !grown.has(o.set)) : ops, t0, grown.size, failures);
  }

  /**
   * The wanted entries of each set (every set of the node's families, empty ones too), in pieces of
   * `size` entries: 10,500 entries at 5,000 Services took 0.2-0.33 s in the sandbox. `wanted` may be
   * the model's own live view: only a commit changes it, and none runs while a sync's steps are paused.
   */
  *#wantBySet(wanted: Iterable<IpsetEntryKey>): Steps<Map<string, Set<string>>> {
    const want = new Map<string, Set<string>>();
    for (const name of this.#sets.keys()) want.set(name, new Set());
    let size = yield 0;
    let left = size ?? Infinity;
    let piece = 0;
    for (const key of wanted) {
      const op = this.#op('add', key);
      if (op) want.get(op.set)?.add(op.entry);
      piece++;
      if (--left <= 0) {
        size = yield piece;
        left = size ?? Infinity;
        piece = 0;
      }
    }
    return want;
  }

  /**
   * What a reconcile would do, read-only: the sets that are missing, the hash sets it would remake
   * bigger, and the entry operations that make every set hold exactly the wanted entries (a missing
   * set counts as empty). `kipvs diff` shows it.
   */
  plan(wanted: Iterable<IpsetEntryKey>): { missing: MissingSet[]; grow: SetToGrow[]; ops: SetOp[] } {
    const want = finish(this.#wantBySet(wanted));
    const have = this.#client.headers();
    const missing: MissingSet[] = [];
    const grow: SetToGrow[] = [];
    for (const [name, entries] of want) {
      const { info, family } = this.#sets.get(name)!;
      const h = have.get(name);
      if (!h) {
        missing.push(info.type === 'bitmap:port'
          ? { name, type: info.type, family: 'inet' }
          : { name, type: info.type, family, maxElem: maxElemFor(entries.size, this.#floor) });
      } else if (h.maxElem !== undefined) {
        const to = grownMaxElem(h.maxElem, entries.size, this.#floor);
        if (to !== undefined) grow.push({ name, fromMaxElem: h.maxElem, toMaxElem: to, entries: entries.size });
      }
    }
    return { missing, grow, ops: finish(this.#opsSteps(want, new Set(have.keys()))) };
  }

  /**
   * The operations that make the sets hold `want`, in pieces: each set read back in pieces
   * (entriesSteps), then compared; `skip`'s sets are left out, and `empty`'s are not read (most of the
   * 34 sets hold nothing on most nodes, and a new node's are all empty: each read is a netlink dump).
   */
  *#opsSteps(want: Map<string, Set<string>>, present: ReadonlySet<string>, skip: ReadonlySet<string> = new Set(), empty: ReadonlySet<string> = new Set()): Steps<SetOp[]> {
    const ops: SetOp[] = [];
    for (const [set, entries] of want) {
      if (skip.has(set)) continue;
      const have = new Set(present.has(set) && !empty.has(set) ? yield* this.#client.entriesSteps(set) : []);
      for (const e of entries) if (!have.has(e)) ops.push({ op: 'add', set, entry: e });
      for (const e of have) if (!entries.has(e)) ops.push({ op: 'del', set, entry: e });
      yield 0;
    }
    return ops;
  }

  /**
   * Make every set hold exactly the wanted entries: creates missing sets, remakes those too small
   * for their entries bigger (holding them), then one batch of fixes for the others.
   */
  reconcile(wanted: Iterable<IpsetEntryKey>): IpsetSyncResult {
    return finish(this.reconcileSteps(wanted));
  }

  /**
   * A reconcile is reading the sets back and comparing them with the wanted entries, or getting ready
   * to: it writes nothing meanwhile but whole sets (those missing, made empty), so its steps may be
   * abandoned there. Not while a set is remade bigger, nor once the fixes are being written.
   */
  get comparing(): boolean {
    return this.#comparing;
  }

  /** reconcile() in pieces (see loop/pacer.ts). */
  *reconcileSteps(wanted: Iterable<IpsetEntryKey>): Steps<IpsetSyncResult> {
    const t0 = performance.now();
    const grown = new Set<string>();
    const failures: string[] = [];
    let ops: SetOp[];
    // A piece each, with a turn of the event loop between them when their time says so: at 5,000
    // Services in the sandbox, these and the backend's rules before them were one piece of 0.4-0.7 s
    // of a periodic reconcile that a change coming meanwhile waited for (bench-results/ab-46).
    this.#comparing = true;
    try {
      const want = yield* this.#wantBySet(wanted);
      yield 0;
      const empty = this.ensureSets(new Map([...want].map(([set, entries]) => [set, entries.size])));
      yield 0;
      for (const [set, entries] of want) {
        this.#comparing = false;
        if (yield* this.#growIfFull(set, () => [...entries], entries.size, failures)) grown.add(set);
        this.#comparing = true;
      }
      // ensureSets() made every set that was missing.
      ops = yield* this.#opsSteps(want, new Set(want.keys()), grown, empty);
    } finally {
      this.#comparing = false;
    }
    return yield* this.#apply(ops, t0, grown.size, failures);
  }

  /**
   * Destroy the sets (kipvs cleanup), and a temporary set an interrupted growth left. Sets still
   * referenced by iptables rules are left, with a warning.
   */
  destroy(): number {
    const have = new Set(this.#client.list());
    let n = 0;
    for (const name of [...this.#sets.keys(), GROW_TEMP_SET]) {
      if (!have.has(name)) continue;
      try {
        this.#client.destroy(name);
        n++;
      } catch (err) {
        this.#log.warn({ set: name, err: (err as Error).message }, 'cleanup: cannot destroy ipset');
      }
    }
    return n;
  }
}
