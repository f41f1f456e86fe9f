// IPVS mode's iptables rules, one rule set per family, kept in the kernel by the IPVS backend. The
// rules depend on the configuration, on the sets that have entries (as kube-proxy, no rule matches an
// empty set), on the load balancers closed to the node (a DROP rule each) and, in NodeCIDR mode, on
// the Node's podCIDRs; they are written when one of those changed, and checked by every full sync.
//
// Written two ways. Apart: both families' iptables-save/-restore run as child processes, started
// when a paced sync's IPVS work is done, beside its ipset sync, and the sync waits for them at its end
// (before, they ran one after another after the ipsets with this thread blocked in execFileSync:
// 0.6-0.8 s of a 1,000-Service initial sync in the sandbox, 0.3 s of a no-op reconcile; A/B in one
// boot, 3 runs each: initial sync 3.5-3.6 s against 3.6-4.1 s at 1,000, 9.1-9.6 s against 9.6-11.7 s
// at 5,000; README, Benchmarks). Started with the IPVS work instead, they slowed it by 0.5 s at
// 5,000 (both CPUs of a small node are busy then). At once: synchronously, family after family
// (unpaced syncs, the tools, and a family whose write apart failed: it is written again at the end of
// the same sync, after the ipsets, which may have been missing).
import { performance } from 'node:perf_hooks';
import { Iptables } from '../../iptables/iptables.js';
import type { RuleSet } from '../../iptables/rules.js';
import type { IpsetKey, Table } from '../../iptables/names.js';
import type { Family } from '../../netlink/address.js';
import { affectsNodeFirewall, lbClosedToNode } from '../../model/ipsets.js';
import type { ProxyModel } from '../../model/model.js';
import { Wait, type Steps } from '../../loop/pacer.js';
import type { BackendSyncResult, Logger } from '../backend.js';

export type LbPort = ReturnType<typeof lbClosedToNode>[number];
type Failures = BackendSyncResult['failures'];

interface FamilyRules {
  family: Family;
  client: Iptables;
  rules: RuleSet;
  make: (closed: LbPort[], sets: IpsetKey[], podCIDRs: readonly string[]) => RuleSet;
  closed: LbPort[];
  closedText: string;
  sets: string;
  podCIDRs: string;
  /**
   * Its last write failed: due at every sync until one succeeds. (The inputs above are recorded when a
   * write is planned; without this, a change sync after the failure found them unchanged and succeeded
   * without writing, and the proxier reported healthy over stale rules until the next full sync.)
   */
  failed: boolean;
}

/** The writes started apart by start(): which families, and their outcome once `done` resolves. */
export interface RulesApart {
  families: Set<Family>;
  done: Promise<void>;
  outcomes: { family: Family; changed?: boolean; ms?: number; error?: Error }[];
  startedAt: number;
  endedAt?: number;
}

export class RulesSync {
  readonly #families: FamilyRules[] = [];
  readonly #log: Logger;
  /** Writes apart not yet ended (a sync that threw midway, or was abandoned, does not wait for its own). */
  #inFlight: Promise<void> | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  get size(): number {
    return this.#families.length;
  }

  add(family: Family, make: FamilyRules['make'], client = new Iptables({ family, log: this.#log })): void {
    this.#families.push({ family, client, rules: make([], [], []), make, closed: [], closedText: '[]', sets: '', podCIDRs: '', failed: false });
  }

  /**
   * Whether `family`'s rules were last applied over a kernel that held no chain `which` selects (as
   * their iptables-save showed it, in nat and filter); undefined when this node has no rules for it,
   * or they were never applied. Only as fresh as that apply: callers ask right after a sync wrote them.
   */
  sawNone(family: Family, which: (table: Table, chain: string) => boolean): boolean | undefined {
    const seen = this.#families.find((t) => t.family === family)?.client.chainsSeen();
    if (!seen) return undefined;
    return !(['nat', 'filter'] as const).some((table) => (seen.get(table) ?? []).some((c) => which(table, c)));
  }

  /**
   * The families whose rules this sync must write (all of them on a full sync, which checks them with
   * one iptables-save each), their rule sets made anew where their inputs changed. `added`/`removed`:
   * the ipset entries the model changed since the last sync.
   */
  due(full: boolean, added: readonly string[], removed: readonly string[], model: ProxyModel, podCIDRs: readonly string[], nonEmpty: (f: Family) => IpsetKey[]): FamilyRules[] {
    // The load balancers whose source ranges keep the node out are looked up again only when their entries changed.
    const firewall = full || added.some(affectsNodeFirewall) || removed.some(affectsNodeFirewall);
    const due: FamilyRules[] = [];
    for (const t of this.#families) {
      let write = full || t.failed;
      if (podCIDRs.join() !== t.podCIDRs) {
        t.podCIDRs = podCIDRs.join();
        write = true;
      }
      if (firewall) {
        const closed = lbClosedToNode(model.ipsetEntries(), t.family);
        const text = JSON.stringify(closed);
        if (text !== t.closedText) {
          t.closed = closed;
          t.closedText = text;
          write = true;
        }
      }
      const sets = nonEmpty(t.family);
      if (sets.join() !== t.sets) {
        t.sets = sets.join();
        write = true;
      }
      if (!write) continue;
      t.rules = t.make(t.closed, sets, podCIDRs);
      due.push(t);
    }
    return due;
  }

  /**
   * Start writing `due` apart. Writes from an earlier sync still running (one abandoned for a waiting
   * change, or one that threw midway) end first: these start after them, on the same chains.
   */
  start(due: readonly FamilyRules[]): RulesApart | undefined {
    if (due.length === 0) return undefined;
    const apart: RulesApart = { families: new Set(due.map((t) => t.family)), outcomes: [], startedAt: performance.now(), done: Promise.resolve() };
    const write = () => Promise.all(due.map((t) => t.client.applyAsync(t.rules).then(
      ({ changed, ms }) => { apart.outcomes.push({ family: t.family, changed, ms }); },
      (err: unknown) => { apart.outcomes.push({ family: t.family, error: err as Error }); },
    )));
    const done: Promise<void> = (this.#inFlight ? this.#inFlight.then(write) : write()).then(() => {
      apart.endedAt = performance.now();
      if (this.#inFlight === done) this.#inFlight = undefined;
    });
    apart.done = done;
    this.#inFlight = done;
    return apart;
  }

  /** A family's rules applied: logged when they changed anything. */
  #written(family: Family, changed: boolean, ms: number): void {
    if (changed) this.#log.info({ family, ms: Math.round(ms * 10) / 10 }, 'iptables rules written');
  }

  /**
   * The writes apart of a sync abandoned before its end (a reconcile that gave way to a change): their
   * outcome is logged when they end; the reconcile, when it runs again, writes the rules again.
   */
  abandoned(apart: RulesApart): void {
    void apart.done.then(() => {
      for (const o of apart.outcomes) {
        if (o.error) this.#log.debug({ family: o.family, err: o.error.message }, 'iptables rules written apart by a reconcile that gave way failed; written again when it runs again');
        else this.#written(o.family, o.changed!, o.ms!);
      }
    });
  }

  /**
   * The end of a sync's rules: waits for the writes started apart (only steps a Pacer runs get
   * `apart`), then writes at once what is due and was not written apart, or failed there. Returns
   * the ms the rules took (apart: from their start to their end).
   */
  *finish(due: readonly FamilyRules[], apart: RulesApart | undefined, failures: Failures): Steps<number> {
    // (Paced, everything due was started apart, after any write still running: start().)
    if (apart) yield new Wait(apart.done);
    // After the wait: the writes apart are timed by their own start and end.
    const t0 = performance.now();
    const retry = new Set<Family>();
    for (const o of apart?.outcomes ?? []) {
      if (!o.error) {
        this.#written(o.family, o.changed!, o.ms!);
        continue;
      }
      // Written again below: a set the rules match may have been missing when they ran (made since by the ipset sync).
      retry.add(o.family);
      this.#log.debug({ family: o.family, err: o.error.message }, 'iptables rules written apart failed; writing them again after the ipsets');
    }
    for (const t of due) {
      if (apart?.families.has(t.family) && !retry.has(t.family)) {
        // Written apart.
        t.failed = false;
        continue;
      }
      try {
        const a = t.client.apply(t.rules);
        t.failed = false;
        this.#written(t.family, a.changed, a.ms);
      } catch (err) {
        t.failed = true;
        failures.push({ op: 'iptables-restore', message: (err as Error).message, family: t.family });
        this.#log.warn({ family: t.family, err: (err as Error).message }, 'cannot write iptables rules (written again at the next sync)');
      }
      // Each family's iptables-save/-restore runs as a child process, synchronously (0.4-2 s each in the
      // emulated sandbox): the event loop gets a turn between them.
      yield 0;
    }
    const atOnceMs = performance.now() - t0;
    return apart ? (apart.endedAt ?? performance.now()) - apart.startedAt + (retry.size ? atOnceMs : 0) : atOnceMs;
  }
}
