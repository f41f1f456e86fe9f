// Garbage collection pauses as node reports them (perf_hooks 'gc' entries): time and count, split
// into scavenges (young generation) and full collections, between two reads. Shows what a heap mode
// costs a phase (a smaller heap collects more often).
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

export interface GcFigures {
  /** Time of every entry node reports (scavenges, full collections, incremental marking steps, weak callbacks), ms. */
  ms: number;
  /** Full (mark-compact) collections. */
  major: number;
  /** Young-generation collections (scavenges). */
  minor: number;
}

export class GcMeter {
  #total: GcFigures = { ms: 0, major: 0, minor: 0 };
  readonly #observer = new PerformanceObserver((list) => this.#add(list.getEntries()));

  constructor() {
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  #add(entries: readonly PerformanceEntry[]): void {
    for (const e of entries) {
      this.#total.ms += e.duration;
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.#total.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) this.#total.minor++;
    }
  }

  /**
   * The totals so far. Node queues a collection's entry and hands it over from the event loop, so this
   * lets the loop turn twice first.
   */
  async read(): Promise<GcFigures> {
    for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
    this.#add(this.#observer.takeRecords());
    return { ...this.#total };
  }

  /** What happened since `before` (an earlier read()). */
  async since(before: GcFigures): Promise<GcFigures> {
    const now = await this.read();
    return { ms: now.ms - before.ms, major: now.major - before.major, minor: now.minor - before.minor };
  }

  stop(): void {
    this.#observer.disconnect();
  }
}
