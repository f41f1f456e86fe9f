// The sync engine's VIPs, as addresses on kube-ipvs0 or as kipvs' local routes (--vip-binding): bound
// and unbound at once, or bound apart on libuv's pool (beside a large sync's IPVS operations, or ahead
// of a first sync while the model still computes), and the kernel model's bound addresses kept to what
// the kernel accepted. Apart, the kernel walks kube-ipvs0's address list for every address add (seconds
// at 10,000 VIPs) on another CPU than this thread's; a local route add does not walk a list.
import type { LinkClient, AddressFailure, VipBinding } from '../../link/link.js';
import { Wait, type Steps } from '../../loop/pacer.js';
import type { Logger } from '../backend.js';
import type { KernelState } from './kernel-state.js';

/** One way of binding VIPs: kube-ipvs0's addresses, or kipvs' local routes (LinkClient's calls for it). */
interface BindingWay {
  /** What it binds with, for the log. */
  name: string;
  read(): string[];
  add(vips: readonly string[]): AddressFailure[];
  del(vips: readonly string[]): AddressFailure[];
  addApart(vips: readonly string[]): Promise<{ failures: AddressFailure[]; fault?: Error }>;
}

/** VIPs bound apart (LinkClient.addAddressesApart): what was asked, and the outcome once `done` resolves. */
export interface PendingBinds {
  bind: string[];
  done: Promise<void>;
  /** Bound ahead of a first sync (ahead()): that sync does not wait for them, nor bind them again. */
  ahead: boolean;
  outcome?: { failures: AddressFailure[]; fault?: Error; startedAt: number; endedAt: number };
}

export class VipBinds {
  readonly #link: LinkClient;
  readonly #log: Logger;
  readonly #state: KernelState;
  readonly #dummy: string;
  /** The kernel refused something, or a transport fault left it unknown: the engine reads the kernel again. */
  readonly #doubt: () => void;
  /** kube-ipvs0's index, as of the last ensureDummy(). */
  #index = 0;
  /**
   * Batches bound apart and not yet settled, oldest first: those bound ahead of a first sync and those
   * a sync left for its caller. Each starts after the one before it has ended: they share one socket.
   */
  #pending: PendingBinds[] = [];
  /** The addresses of the pending batches bound ahead. */
  readonly #ahead = new Set<string>();
  /** What kube-ipvs0 held when ahead() was first called, and every address handed to it since. */
  #aheadSeen: Set<string> | undefined;
  /** What kube-ipvs0 held when ahead() was first called. */
  #before: readonly string[] | undefined;
  readonly #binding: VipBinding;
  /** The way --vip-binding says, and the other (whose VIPs are leftovers). */
  readonly #way: BindingWay;
  readonly #other: BindingWay;
  /**
   * VIPs bound the other way (by kube-proxy, or a run of kipvs with the other --vip-binding), as found
   * by noteLeftovers(): each goes once it is bound this way, or is not wanted at all (retireLeftovers).
   */
  #leftovers = new Set<string>();
  #leftoversNoted = false;

  constructor(o: { link: LinkClient; log: Logger; state: KernelState; dummy: string; doubt: () => void; binding?: VipBinding }) {
    this.#link = o.link;
    this.#log = o.log;
    this.#state = o.state;
    this.#dummy = o.dummy;
    this.#doubt = o.doubt;
    this.#binding = o.binding ?? 'address';
    // kube-ipvs0's index is read at each call: ensureDummy() may find it anew.
    const addresses: BindingWay = {
      name: 'addresses on kube-ipvs0',
      read: () => this.#link.addresses(this.#index).map((a) => a.address),
      add: (vips) => this.#link.addAddresses(this.#index, vips),
      del: (vips) => this.#link.deleteAddresses(this.#index, vips),
      addApart: (vips) => this.#link.addAddressesApart(this.#index, vips),
    };
    const routes: BindingWay = {
      name: 'local routes',
      read: () => this.#link.localRoutes().map((r) => r.destination),
      add: (vips) => this.#link.addLocalRoutes(vips),
      del: (vips) => this.#link.deleteLocalRoutes(vips),
      addApart: (vips) => this.#link.addLocalRoutesApart(vips),
    };
    [this.#way, this.#other] = this.#binding === 'address' ? [addresses, routes] : [routes, addresses];
  }

  /** Make kube-ipvs0 if it is missing; returns its index. */
  ensureDummy(): number {
    this.#index = this.#link.ensureDummy(this.#dummy).index;
    return this.#index;
  }

  /** The VIPs bound now (a kernel read): kube-ipvs0's addresses, or kipvs' local routes. */
  read(): string[] {
    return this.#way.read();
  }

  /**
   * Look for VIPs bound the other way (a kernel read), to retire them once this way has them: a switch
   * of --vip-binding, or kube-proxy's addresses at a takeover. Once, at the first read of the kernel or
   * before the first binds ahead, whichever comes first: each address add changes the routing table,
   * and a route dump beside a stream of them could be interrupted again and again.
   */
  noteLeftovers(): number {
    if (this.#leftoversNoted) return this.#leftovers.size;
    this.#leftoversNoted = true;
    const other = this.#other.read();
    this.#leftovers = new Set(other);
    if (other.length) this.#log.info({ count: other.length, binding: this.#binding }, 'VIPs bound the other way; each goes once bound this way');
    return other.length;
  }

  /** `address` is a VIP bound the other way, not retired yet. */
  isLeftover(address: string): boolean {
    return this.#leftovers.size > 0 && this.#leftovers.has(address);
  }

  /** Some VIP bound the other way is still there. */
  get hasLeftovers(): boolean {
    return this.#leftovers.size > 0;
  }

  /**
   * Remove the VIPs bound the other way that are bound this way now (so a VIP is never without one),
   * or, given `wanted`, that it does not hold; those still being bound are left for a later call (a
   * sync's, or the settle of their binds). In pieces, as the pacer sizes them: each address deleted
   * walks kube-ipvs0's list as an add does (a takeover from kube-proxy at 50,000 Services deletes
   * 50,000 of them), and the event loop must go on answering /healthz meanwhile. Returns how many.
   */
  *retireLeftovers(wanted?: ReadonlySet<string>): Steps<number> {
    const going = new Set(this.#pending.flatMap((p) => p.bind));
    const bound = this.#state.model.boundAddresses;
    const retire = [...this.#leftovers].filter((a) => !going.has(a) && (bound.has(a) || (wanted !== undefined && !wanted.has(a))));
    if (!retire.length) return 0;
    const failed = yield* this.#inPieces(retire, (piece) => {
      const f = this.#other.del(piece);
      for (const a of piece) this.#leftovers.delete(a);
      return f;
    });
    for (const f of failed) this.#log.warn({ address: f.address, err: f.error.message }, 'cannot remove a VIP bound the other way');
    const n = retire.length - failed.length;
    this.#log.info({ count: n, left: this.#leftovers.size }, `removed VIPs bound the other way (now ${this.#way.name})`);
    return n;
  }

  /**
   * The addresses on kube-ipvs0 other than those still being bound ahead: a read, or, while binds
   * ahead are going, what kube-ipvs0 held when the first of them started. The kernel interrupts an
   * address dump that an add overtakes (NLM_F_DUMP_INTR), and with a thousand adds a second going
   * it does so every time: a first sync read kube-ipvs0 three times, gave up, and was made again
   * once the binds had ended (1-2 s at 5,000 Services in the sandbox). Nothing but these binds
   * changes kube-ipvs0 meanwhile; they are recorded when settled.
   */
  settledOnDummy(): string[] {
    return this.#ahead.size > 0 && this.#before ? [...this.#before] : this.read();
  }

  /** Some batch bound apart is not settled yet. */
  get pending(): boolean {
    return this.#pending.length > 0;
  }

  /** `bind` without the addresses still being bound ahead (bound already, as far as a sync is concerned). */
  notAhead(bind: string[]): string[] {
    return this.#ahead.size ? bind.filter((a) => !this.#ahead.has(a)) : bind;
  }

  /** Whether any of `addresses` is still being bound ahead. */
  anyAhead(addresses: readonly string[]): boolean {
    return this.#ahead.size > 0 && addresses.some((a) => this.#ahead.has(a));
  }

  /** Bind `bind` apart, after any batch still going (they share LinkClient's socket apart). Never rejects. */
  apart(bind: string[], ahead: boolean): PendingBinds {
    const before = this.#pending[this.#pending.length - 1]?.done ?? Promise.resolve();
    const p: PendingBinds = { bind, ahead, done: Promise.resolve() };
    p.done = before.then(async () => {
      const startedAt = performance.now();
      // It never rejects: a transport fault comes back in its outcome.
      const o = await this.#way.addApart(bind);
      p.outcome = { ...o, startedAt, endedAt: performance.now() };
    });
    this.#pending.push(p);
    return p;
  }

  /** Forget a batch (settled by its own sync, or thrown away with it: the next read finds what it bound). */
  drop(p: PendingBinds): void {
    this.#pending = this.#pending.filter((q) => q !== p);
  }

  /**
   * VIPs of a first sync, bound apart before it while the model still computes the rest. Those
   * already on kube-ipvs0 (a restart) or handed over before are skipped. Returns how many were started.
   */
  ahead(addresses: Iterable<string>): number {
    if (this.#aheadSeen === undefined) {
      this.ensureDummy();
      this.noteLeftovers();
      this.#before = this.read();
      this.#aheadSeen = new Set(this.#before);
    }
    const bind: string[] = [];
    for (const a of addresses) {
      if (this.#aheadSeen.has(a)) continue;
      this.#aheadSeen.add(a);
      bind.push(a);
    }
    if (!bind.length) return 0;
    for (const a of bind) this.#ahead.add(a);
    this.apart(bind, true);
    return bind.length;
  }

  /**
   * Wait for the pending batches (`ahead` false: only those a sync left, not those bound ahead of a
   * first sync) and record them. bindMs: from the first one's start to the last one's end. A
   * transport fault throws (after doubt(): the next sync reads the kernel).
   */
  *settle(ahead: boolean): Steps<{ bound: number; bindMs: number } | undefined> {
    let settling = this.#pending.filter((p) => ahead || !p.ahead);
    if (!settling.length) return undefined;
    // Batches end in the order they started: waiting for the last is waiting for all.
    yield new Wait(settling[settling.length - 1]!.done);
    // A sync that ran while this waited (a paused read) may have settled some already.
    settling = settling.filter((p) => this.#pending.includes(p));
    if (!settling.length) return undefined;
    this.#pending = this.#pending.filter((p) => !settling.includes(p));
    let bound = 0;
    let fault: Error | undefined;
    for (const p of settling) {
      if (p.ahead) for (const a of p.bind) this.#ahead.delete(a);
      const o = p.outcome!;
      if (o.fault) fault ??= o.fault;
      else bound += this.recorded('bind', p.bind, o.failures);
    }
    if (fault) {
      this.#doubt();
      throw fault;
    }
    if (this.#leftovers.size) yield* this.retireLeftovers();
    return { bound, bindMs: settling[settling.length - 1]!.outcome!.endedAt - settling[0]!.outcome!.startedAt };
  }

  /** Add or remove VIPs on kube-ipvs0 at once, in pieces; the model follows what the kernel accepted. Returns how many. */
  *bindOrUnbind(what: 'bind' | 'unbind', addresses: string[]): Steps<number> {
    const failed = yield* this.#inPieces(addresses, what === 'bind' ? this.#way.add : this.#way.del);
    return this.recorded(what, addresses, failed);
  }

  /** `op` over `items` in pieces of the size the pacer asks (all at once under finish()); the failures of all. */
  *#inPieces(items: readonly string[], op: (piece: readonly string[]) => AddressFailure[]): Steps<AddressFailure[]> {
    const failed: AddressFailure[] = [];
    let size = yield 0;
    for (let start = 0; start < items.length;) {
      const piece = items.slice(start, Math.min(items.length, start + Math.max(1, size ?? items.length)));
      failed.push(...op(piece));
      start += piece.length;
      size = yield piece.length;
    }
    return failed;
  }

  /** After binding or unbinding `addresses`: the model follows what the kernel accepted. Returns how many. */
  recorded(what: 'bind' | 'unbind', addresses: string[], failed: AddressFailure[]): number {
    for (const f of failed) this.#log.warn({ address: f.address, err: f.error.message }, `cannot ${what} VIP`);
    const bad = new Set(failed.map((f) => f.address));
    const bound = this.#state.model.boundAddresses;
    for (const a of addresses) {
      if (bad.has(a)) continue;
      if (what === 'bind') bound.add(a);
      else bound.delete(a);
    }
    if (failed.length) this.#doubt();
    return addresses.length - failed.length;
  }
}
