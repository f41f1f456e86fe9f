// How the agent keeps its heap near its live size (the default heap mode, 'bounded'; src/config/heap.ts):
// V8's growth flags for the first sync and after it, and the full collections the agent runs itself.
import v8 from 'node:v8';
import { FIRST_SYNC_HEAP_FLAGS, HEAP_FLAGS, type HeapMode } from '../config/heap.js';
import { fullCollection, RELEASES_MEMORY } from './full-collection.js';
import type { Logger } from '../backends/backend.js';

export class HeapKeeper {
  readonly #flags: { first: readonly string[]; steady: readonly string[] };
  /** Whether this heap mode collects after the first sync and after reconciles ('bounded' only). */
  readonly #collects: boolean;
  readonly #log: Logger;

  constructor(mode: HeapMode, log: Logger) {
    this.#flags = { first: FIRST_SYNC_HEAP_FLAGS[mode], steady: HEAP_FLAGS[mode] };
    this.#collects = this.#flags.first.join(' ') !== this.#flags.steady.join(' ');
    this.#log = log;
  }

  /** V8 reads these flags as it runs: they apply to everything allocated from here on. */
  firstSyncStarts(): void {
    for (const flag of this.#flags.first) v8.setFlagsFromString(flag);
  }

  firstSyncEnded(): void {
    for (const flag of this.#flags.steady) v8.setFlagsFromString(flag);
    if (!this.#collects) return;
    // V8 sets the old generation's next limit at each full collection, from the growth flag then in
    // force: the first sync's looser one would stand until the next, and a full reconcile's garbage
    // piled up to it (10,000 Services on Node 24: +12 MB of peak RSS in the first no-op reconcile).
    // One collection puts the steady limit in force at once, and (Node 22 and later) gives back the
    // pages the first sync's garbage had held; in a turn of its own, after whatever waited for the sync.
    setImmediate(() => this.#collect('collected the first sync\'s garbage', 'info'));
  }

  /**
   * After a periodic full reconcile: its garbage (a kernel dump and a compare over every object, ~100
   * MB allocated at 10,000 Services) left the heap's pages spread thin, and V8 gives them back only in
   * a memory-reducing collection, which its memory reducer starts after seconds of quiet: with changes
   * coming, or reconciles back to back, RSS rose reconcile after reconcile to a plateau 20-25 MB higher
   * (10,000 Services, Node 24). Collected here, RSS after each reconcile stays at the live heap's level.
   * It costs about 0.4 s per reconcile at 10,000 in the sandbox (two full collections beside V8's own).
   * Not on Node 20, whose gc() cannot give pages back.
   */
  reconciled(): void {
    if (this.#collects && RELEASES_MEMORY) this.#collect('collected the reconcile\'s garbage', 'debug');
  }

  #collect(message: string, level: 'info' | 'debug'): void {
    const before = process.memoryUsage().heapUsed;
    const ms = fullCollection(true);
    this.#log[level]({ ms: Math.round(ms), heapUsedMB: Math.round(before / 1048576), afterMB: Math.round(process.memoryUsage().heapUsed / 1048576) }, message);
  }
}
