// Long kernel work without starving the event loop. A full sync at 10,000 Services is about 110,000
// netlink operations, 10,000 VIP binds and 60,000 ipset entries: seconds of synchronous FFI calls, and
// for all that time /healthz, /livez and /metrics would not answer (a kubelet liveness probe with a
// 1 s timeout would restart a healthy agent). So the work is written as steps: a generator that
// yields between pieces of work, each yield saying how many items (operations, services) that piece
// did. Run with finish() the steps go back to back, as a plain synchronous call (the tools, the
// tests); run by a Pacer they give the event loop a turn whenever a slice of time has passed, and
// the Pacer tells the next piece how many items fit in a slice, from the rate of the last one.
import { performance } from 'node:perf_hooks';

/**
 * Work in pieces. Each yield ends a piece and gives the number of items it did (0 when it does not
 * count items); next() may answer with how many items the following piece should take (undefined:
 * the work's own default). Work whose pieces can be sized starts with a piece of 0 items, so that
 * its first real piece is sized too. Only the size of the pieces changes, never the order of the work.
 */
export type Steps<T> = Generator<number | Wait, T, number | undefined>;

/**
 * Yielded instead of a count by steps that have started work running apart from this thread (a
 * netlink batch on libuv's thread pool, where the kernel does its part while this thread does the
 * rest) and must now wait for it: a Pacer awaits `done` (best resolved with the work's own
 * outcome; a rejection is thrown into the steps at their yield). finish() cannot wait, so only
 * steps told that a Pacer runs them yield one.
 */
export class Wait {
  constructor(readonly done: Promise<unknown>) {}
}

/** Run steps to the end with no pause (the synchronous API). */
export function finish<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next(undefined);
    if (r.done) return r.value;
    if (r.value instanceof Wait) throw new Error('steps asked to wait for work running apart, but finish() runs them without pause: run them with a Pacer');
  }
}

export interface PacerOptions {
  /** Work between two turns of the event loop, in ms. Default 50 (see the README: 10 cost more than it gave). */
  sliceMs?: number;
  /** Bounds on the size the Pacer asks of a piece. Default 16 and 4096 items. */
  minItems?: number;
  maxItems?: number;
  /** The size asked before any rate is known: after a piece of 0 items, and of the first piece of steps an earlier run paused. Default 64. */
  firstItems?: number;
  now?: () => number;
}

/** Pacer.run() gave up steps because something more urgent was waiting. */
export class Preempted extends Error {
  constructor(readonly turns: number) {
    super(`preempted after ${turns} turns of the event loop`);
    this.name = 'Preempted';
  }
}

/** One per sync: it carries the time since the last turn from one run() to the next. */
export class Pacer {
  readonly #sliceMs: number;
  readonly #min: number;
  readonly #max: number;
  readonly #first: number;
  readonly #now: () => number;
  #since: number;
  /** Turns given to the event loop. */
  turns = 0;
  /** The longest stretch of work between two turns (ms): one piece can overrun the slice. */
  longestMs = 0;

  constructor(opts: PacerOptions = {}) {
    this.#sliceMs = opts.sliceMs ?? 50;
    this.#min = opts.minItems ?? 16;
    this.#max = opts.maxItems ?? 4096;
    this.#first = opts.firstItems ?? 64;
    this.#now = opts.now ?? (() => performance.now());
    this.#since = this.#now();
  }

  /**
   * Run the steps, yielding to the event loop (setImmediate: I/O callbacks run first) once per slice.
   * With `preempt`, asked after each turn: when it says yes, run() rejects with a Preempted and the
   * steps stay where they stand, for the caller to go on with (another run()) or end (return()).
   * Only for steps that may pause at any yield while other work runs, such as a read that writes nothing.
   */
  async run<T>(steps: Steps<T>, preempt?: () => boolean): Promise<T> {
    // Steps that start here ignore what their first next() is given. Steps paused by an earlier run
    // (a reconcile's read that gave way to a change) take it as their next piece's size: with no rate
    // known yet, the small first size, not the work's own default (the IPVS read's 4,096 services, 5.4-5.9 s
    // in the sandbox at 10,000 Services, during which a change that came next waited: stop 42).
    let size: number | undefined = this.#first;
    let failed: { error: unknown } | undefined;
    for (;;) {
      const t = this.#now();
      const r = failed ? steps.throw(failed.error) : steps.next(size);
      failed = undefined;
      if (r.done) return r.value;
      if (r.value instanceof Wait) {
        // The steps wait for their work apart: the event loop runs meanwhile, and once more after it
        // (a promise already settled resumes before any I/O callback); the next piece keeps its size.
        // A rejection goes back into the steps, where it is thrown at their yield.
        this.longestMs = Math.max(this.longestMs, this.#now() - this.#since);
        try {
          await r.value.done;
        } catch (error) {
          failed = { error };
        }
        this.#since = this.#now();
        await this.turn();
        if (preempt?.()) throw new Preempted(this.turns);
        continue;
      }
      const end = this.#now();
      const items = r.value;
      const ms = end - t;
      // The next piece: as many items as fit in a slice at this piece's rate; a small one when no rate is known.
      if (items === 0) size = this.#first;
      else size = Math.max(this.#min, Math.min(this.#max, ms > 0 ? Math.floor((items * this.#sliceMs) / ms) : this.#max));
      if (end - this.#since >= this.#sliceMs) {
        await this.turn();
        if (preempt?.()) throw new Preempted(this.turns);
      }
    }
  }

  /** Give the event loop a turn now. */
  async turn(): Promise<void> {
    this.longestMs = Math.max(this.longestMs, this.#now() - this.#since);
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.turns++;
    this.#since = this.#now();
  }
}
