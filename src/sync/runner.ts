// A bounded-frequency runner: run() requests coalesce so the work runs at most once per
// `minIntervalMs`, and it runs at least once per `maxIntervalMs` even with no requests (the periodic
// full reconcile). Runs never overlap. The work says whether the run was a request or the period.
export type RunReason = 'change' | 'period';

/**
 * What a run may answer: 'preempted' when a periodic run gave way to a waiting change before it
 * changed anything (the agent pauses a reconcile's kernel read for it). The change then runs, and
 * the period straight after it, going on with that read, instead of a whole period later.
 */
export type RunOutcome = void | 'preempted';

/**
 * Run `fn` after `ms`; returns what cancels it. No wait is setImmediate, not setTimeout(0): Node makes
 * that at least 1 ms, the largest part of what a one-endpoint change spent waiting to start (p50 about
 * 1 ms of 5-10 ms from event to kernel in the sandbox bench). setImmediate still runs after the poll
 * phase, so the events read in one turn of the loop go in one sync.
 */
function after(ms: number, fn: () => void): () => void {
  if (ms <= 0) {
    const i = setImmediate(fn);
    return () => clearImmediate(i);
  }
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
}

export class BoundedFrequencyRunner {
  readonly #work: (reason: RunReason) => Promise<RunOutcome> | RunOutcome;
  readonly #minMs: number;
  readonly #maxMs: number;
  #last = 0;
  /** Cancels the run scheduled (see after()). */
  #timer: (() => void) | undefined;
  #periodTimer: NodeJS.Timeout | undefined;
  /** Which arming of the period timer is current: a stale one's run is dropped. */
  #periodGeneration = 0;
  #pending = false;
  /** A periodic run gave way to a change: it runs again as soon as that change has run. */
  #periodDue = false;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(work: (reason: RunReason) => Promise<RunOutcome> | RunOutcome, minIntervalMs: number, maxIntervalMs: number) {
    this.#work = work;
    this.#minMs = Math.max(0, minIntervalMs);
    this.#maxMs = Math.max(1, maxIntervalMs);
  }

  /** Ask for a run: now if the last one was long enough ago, else as soon as allowed. */
  run(): void {
    if (this.#stopped) return;
    this.#pending = true;
    if (this.#timer || this.#running) return;
    const wait = Math.max(0, this.#last + this.#minMs - Date.now());
    this.#timer = after(wait, () => {
      this.#timer = undefined;
      void this.#go('change');
    });
  }

  /** A change has been asked for and has not started yet (a periodic run may give way to it). */
  get changeWaiting(): boolean {
    return this.#pending;
  }

  /** Start the periodic runs. */
  start(): void {
    this.#armPeriod();
  }

  /**
   * A full sync (not the periodic one) has just read and repaired everything, e.g. the first sync or
   * one after a failure: the next periodic run is a whole period from now. (Counted from start(), a
   * first sync longer than the period was followed at once by a full reconcile: 10 s at 5,000 Services
   * in the sandbox, during which a change waited.) Change syncs do not count: under steady change the
   * period must still come.
   */
  fullSyncDone(): void {
    this.#periodDue = false;
    if (this.#periodTimer !== undefined) this.#armPeriod();
  }

  #armPeriod(): void {
    if (this.#stopped) return;
    clearTimeout(this.#periodTimer);
    const generation = ++this.#periodGeneration;
    this.#periodTimer = setTimeout(() => void this.#go('period', generation), this.#maxMs);
    this.#periodTimer.unref?.();
  }

  async #go(reason: RunReason, periodGeneration?: number): Promise<void> {
    if (this.#stopped) return;
    if (this.#running) {
      await this.#running;
      // A period that came due during a full sync that re-armed it is not due any more.
      if (reason === 'period' && periodGeneration === this.#periodGeneration) return this.#go(reason, periodGeneration);
      return;
    }
    if (reason === 'change') this.#pending = false;
    const lastBefore = this.#last;
    this.#last = Date.now();
    this.#running = (async () => {
      let outcome: RunOutcome = undefined;
      try {
        outcome = await this.#work(reason);
      } finally {
        this.#running = undefined;
        // Only a periodic run restarts the period: changes are incremental syncs, and re-arming after
        // each of them would put off the full reconcile (drift repair) forever under steady churn.
        // A periodic run that gave way is still due: the change goes, then the period at once, before
        // any change that came meanwhile (it gives way again after a slice of work, so each such
        // change waits for one slice and the reconcile moves on by one at least: it ends under any
        // churn). Nor does it count as a run for minIntervalMs: the change it gave way to goes now.
        const preempted = reason === 'period' && outcome === 'preempted';
        if (preempted) {
          this.#periodDue = true;
          this.#last = lastBefore;
        } else if (reason === 'period') this.#armPeriod();
        if (this.#timer || this.#stopped) {
          // Something is scheduled already.
        } else if (this.#periodDue && !(preempted && this.#pending)) {
          this.#periodDue = false;
          const generation = this.#periodGeneration;
          this.#timer = after(0, () => {
            this.#timer = undefined;
            void this.#go('period', generation);
          });
        } else if (this.#pending) this.run();
      }
    })();
    await this.#running;
  }

  /** Wait for the run in progress, if any. */
  async idle(): Promise<void> {
    while (this.#running || this.#timer) {
      if (this.#running) await this.#running;
      else await new Promise((r) => setTimeout(r, 5));
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.();
    this.#timer = undefined;
    clearTimeout(this.#periodTimer);
  }
}
