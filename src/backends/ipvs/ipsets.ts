// Keeps the kernel's ipsets of IPVS mode equal to the model's entries: creates the sets, applies each
// commit's added and removed entries in one netlink batch, and on a full reconcile reads every set
// back and repairs what differs (an entry deleted or added by hand, a set flushed or destroyed).
import type { IpsetClient, SetOp } from '../../ipset/client.js';
import type { Family } from '../../ipvs/types.js';
import { IPSETS, type IpsetInfo } from '../../iptables/names.js';
import { splitEntryKey, type IpsetEntryKey } from '../../model/ipsets.js';
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
}

export class IpsetSync {
  readonly #client: IpsetClient;
  readonly #log: Logger;
  /** Set name → its description, for every family. */
  readonly #sets = new Map<string, { info: IpsetInfo; family: Family }>();
  /** The model's role (the IPv4 name) and family → the kernel set name. */
  readonly #nameOf = new Map<string, string>();

  constructor(opts: { client: IpsetClient; families: Family[]; log: Logger }) {
    this.#client = opts.client;
    this.#log = opts.log;
    for (const family of opts.families) {
      for (const info of IPSETS) {
        const name = info.name(family);
        this.#sets.set(name, { info, family });
        this.#nameOf.set(`${family}|${info.name('inet')}`, name);
      }
    }
  }

  /** Create the sets that are missing (like `ipset create -exist`). Throws naming the set that cannot be. */
  ensureSets(): void {
    const have = new Set(this.#client.list());
    for (const [name, { info, family }] of this.#sets) {
      if (have.has(name)) continue;
      // bitmap:port holds bare ports, whatever the family of the rules that match it.
      this.#client.create(info.type === 'bitmap:port'
        ? { name, type: info.type, family: 'inet', range: { from: 0, to: 65535 } }
        : { name, type: info.type, family });
    }
  }

  #op(op: 'add' | 'del', key: IpsetEntryKey): SetOp | undefined {
    const { family, role, entry } = splitEntryKey(key);
    // A family this node does not program (or an unknown role) has no set: nothing to do.
    const set = this.#nameOf.get(`${family}|${role}`);
    return set === undefined ? undefined : { op, set, entry };
  }

  *#apply(ops: SetOp[], t0: number): Steps<IpsetSyncResult> {
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
    return { added, removed, failures, ms: performance.now() - t0 };
  }

  /**
   * Apply one commit's changes. `wanted` tells whether an entry is still wanted (an entry can be
   * removed by one Service and added by another in the same commit).
   */
  applyChanges(added: readonly IpsetEntryKey[], removed: readonly IpsetEntryKey[], wanted: (key: IpsetEntryKey) => boolean): IpsetSyncResult {
    return finish(this.applyChangesSteps(added, removed, wanted));
  }

  /** applyChanges() in pieces (see loop/pacer.ts). */
  *applyChangesSteps(added: readonly IpsetEntryKey[], removed: readonly IpsetEntryKey[], wanted: (key: IpsetEntryKey) => boolean): Steps<IpsetSyncResult> {
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
    return yield* this.#apply(ops, t0);
  }

  /**
   * What a reconcile would do, read-only: the sets that are missing and the entry operations that make
   * every set hold exactly the wanted entries (a missing set counts as empty). `kipvs diff` shows it.
   */
  plan(wanted: Iterable<IpsetEntryKey>): { missing: { name: string; type: string; family: Family }[]; ops: SetOp[] } {
    return finish(this.#planSteps(wanted));
  }

  /** plan() in pieces: one per set read back. */
  *#planSteps(wanted: Iterable<IpsetEntryKey>): Steps<{ missing: { name: string; type: string; family: Family }[]; ops: SetOp[] }> {
    const present = new Set(this.#client.list());
    const want = new Map<string, Set<string>>();
    for (const name of this.#sets.keys()) want.set(name, new Set());
    for (const key of wanted) {
      const op = this.#op('add', key);
      if (op) want.get(op.set)?.add(op.entry);
    }
    const missing: { name: string; type: string; family: Family }[] = [];
    const ops: SetOp[] = [];
    for (const [set, entries] of want) {
      const { info, family } = this.#sets.get(set)!;
      if (!present.has(set)) missing.push({ name: set, type: info.type, family: info.type === 'bitmap:port' ? 'inet' : family });
      const have = new Set(present.has(set) ? this.#client.entries(set) : []);
      for (const e of entries) if (!have.has(e)) ops.push({ op: 'add', set, entry: e });
      for (const e of have) if (!entries.has(e)) ops.push({ op: 'del', set, entry: e });
      yield 0;
    }
    return { missing, ops };
  }

  /** Make every set hold exactly the wanted entries: creates missing sets, then one batch of fixes. */
  reconcile(wanted: Iterable<IpsetEntryKey>): IpsetSyncResult {
    return finish(this.reconcileSteps(wanted));
  }

  /** reconcile() in pieces (see loop/pacer.ts). */
  *reconcileSteps(wanted: Iterable<IpsetEntryKey>): Steps<IpsetSyncResult> {
    const t0 = performance.now();
    this.ensureSets();
    const { ops } = yield* this.#planSteps(wanted);
    return yield* this.#apply(ops, t0);
  }

  /** Destroy the sets (kipvs cleanup). Sets still referenced by iptables rules are left, with a warning. */
  destroy(): number {
    const have = new Set(this.#client.list());
    let n = 0;
    for (const name of this.#sets.keys()) {
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
