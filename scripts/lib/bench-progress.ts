// Progress lines on stderr for the benchmark's long phases: which case, what phase, how many of how
// many where known, and the time the phase has taken so far:
//   [bench] N=10,000 (1 of 3) floor: ipset restore ... 12.3 s
import { performance } from 'node:perf_hooks';

/**
 * 12345 -> "12,345" without Intl: the agent's own case runs in the process it measures, and Intl's
 * first use pages in some 6-8 MB of ICU data from the node binary, RSS the agent itself never has.
 */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** One progress line; `count` when the phase knows how far it is. Pure. */
export function progressLine(prefix: string, phase: string, elapsedMs: number, state: 'start' | 'running' | 'done', count?: { done: number; total: number }): string {
  const n = count ? ` ${thousands(count.done)} of ${thousands(count.total)}` : '';
  const secs = `${(elapsedMs / 1000).toFixed(1)} s`;
  const tail = state === 'start' ? ' ...' : state === 'running' ? ` ... ${secs}` : ` done in ${secs}`;
  return `[bench]${prefix ? ` ${prefix}` : ''} ${phase}${n}${tail}\n`;
}

export class Progress {
  readonly #prefix: string;
  readonly #write: (line: string) => void;

  /** `prefix` names the case ("N=1,000 (1 of 2)"). */
  constructor(prefix: string, write: (line: string) => void = (l) => process.stderr.write(l)) {
    this.#prefix = prefix;
    this.#write = write;
  }

  /** What names the case in every line (children given it print the same). */
  get prefix(): string {
    return this.#prefix;
  }

  /** A synchronous phase: a line before and one after with its time; returns what `f` returns. */
  step<T>(phase: string, f: () => T): T {
    const t = performance.now();
    this.#write(progressLine(this.#prefix, phase, 0, 'start'));
    const r = f();
    this.#write(progressLine(this.#prefix, phase, performance.now() - t, 'done'));
    return r;
  }

  /** An asynchronous phase: a line before, one every `everyMs` while it runs (with `count()` when given), one after. */
  async run<T>(phase: string, f: () => Promise<T>, o: { everyMs?: number; count?: () => { done: number; total: number } | undefined } = {}): Promise<T> {
    const t = performance.now();
    this.#write(progressLine(this.#prefix, phase, 0, 'start'));
    const timer = setInterval(() => this.#write(progressLine(this.#prefix, phase, performance.now() - t, 'running', o.count?.())), o.everyMs ?? 10_000);
    try {
      const r = await f();
      this.#write(progressLine(this.#prefix, phase, performance.now() - t, 'done'));
      return r;
    } finally {
      clearInterval(timer);
    }
  }

  /** A free-form line in the same format. */
  note(text: string): void {
    this.#write(`[bench]${this.#prefix ? ` ${this.#prefix}` : ''} ${text}\n`);
  }
}
