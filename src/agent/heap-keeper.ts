// How the agent keeps its heap near its live size (the default heap mode, 'bounded'; src/config/heap.ts):
// V8's growth flags for the first sync and after it, and the full collections the agent runs itself.
import v8 from 'node:v8';
import { FIRST_SYNC_HEAP_FLAGS, HEAP_FLAGS, type HeapMode } from '../config/heap.js';
import { fullCollection, RELEASES_MEMORY } from './full-collection.js';
import { canTrimMalloc, fixMmapThreshold, trimMalloc } from '../../native-bindings/malloc.js';
import type { Logger } from '../backends/backend.js';

/**
 * How often the C allocator is trimmed while the first sync runs (ms). What V8's compiler threads free
 * after each job (the first sync compiles most of the agent's code) and the lists' parsing frees stays
 * resident inside glibc's arenas, and the process's peak RSS comes at that sync's end. New node at
 * 10,000 Services through the API server, sandbox (bench-results/ab-44): each trim gave back 0-5 MB in
 * 1-13 ms; trimmed every 200-250 ms its peak was 140-148 MB against 149-165 MB, every 1,000 ms 146-152
 * MB. On the main thread, not libuv's pool: trims there ran beside the main thread's allocations and
 * the first syncs were 0.1-4.6 s longer in 6 of 6 runs; on the main thread 5 of 6 were shorter.
 */
const FIRST_SYNC_TRIM_MS = 250;
/** glibc's default mmap threshold, kept fixed (see firstSyncStarts). */
const MMAP_THRESHOLD_BYTES = 128 * 1024;
/** A first sync that has not ended by then (it keeps failing, say) is trimmed no longer. */
const FIRST_SYNC_TRIM_FOR_MS = 10 * 60_000;
/**
 * How long a collection may wait for the agent to be idle (see #collectWhenIdle). Under changes that
 * never stop it runs then anyway, at the end of a sync, so that the heap does not grow unchecked.
 */
const COLLECT_WAITS_AT_MOST_MS = 10_000;

/** A full collection due, waiting for the agent to be idle. */
interface OwedCollection {
  message: string;
  level: 'info' | 'debug';
  /** The memory-reducing flavor (see fullCollection). */
  release: boolean;
  since: number;
  /** It found the agent busy at least once. */
  waited?: boolean;
}

export class HeapKeeper {
  readonly #flags: { first: readonly string[]; steady: readonly string[] };
  /** Whether this heap mode collects after the first sync and after reconciles ('bounded' only). */
  readonly #collects: boolean;
  readonly #log: Logger;
  /** The first sync's trim timer, while it runs. */
  #trimTimer: NodeJS.Timeout | undefined;
  /** The first sync's trims: how many, and the RSS they gave back (approximate: other threads allocate meanwhile). */
  readonly #trims = { count: 0, releasedBytes: 0 };

  /** Whether a change waits or a sync runs: a collection then waits (see #collectWhenIdle). */
  readonly #busy: () => boolean;
  #owed: OwedCollection | undefined;
  readonly #now: () => number;

  constructor(mode: HeapMode, log: Logger, busy: () => boolean = () => false, now: () => number = Date.now) {
    this.#flags = { first: FIRST_SYNC_HEAP_FLAGS[mode], steady: HEAP_FLAGS[mode] };
    this.#collects = this.#flags.first.join(' ') !== this.#flags.steady.join(' ');
    this.#log = log;
    this.#busy = busy;
    this.#now = now;
  }

  /**
   * V8 reads these flags as it runs: they apply to everything allocated from here on. In the bounded
   * mode the C allocator is trimmed every FIRST_SYNC_TRIM_MS until the first sync ends: the process's
   * peak RSS comes at that sync's end, and what the allocator held freed counted in it.
   */
  firstSyncStarts(): void {
    for (const flag of this.#flags.first) v8.setFlagsFromString(flag);
    if (!this.#collects) return;
    // A periodic reconcile keeps its service dump in one buffer grown by doubling (3 MB at 10,000
    // Services, 16 MB at 50,000; netlink/kept-replies.ts). Once such a buffer was freed, glibc served
    // the next ones from its arenas, and RSS after each reconcile climbed in steps (10,000 Services:
    // 118 -> 126.6 MB over 10 reconciles; 50,000: 256 -> 292 MB). A fixed threshold keeps them mapped.
    fixMmapThreshold(MMAP_THRESHOLD_BYTES);
    if (canTrimMalloc()) {
      const until = Date.now() + FIRST_SYNC_TRIM_FOR_MS;
      this.#trimTimer = setInterval(() => {
        if (Date.now() < until) this.#trim();
        else clearInterval(this.#trimTimer);
      }, FIRST_SYNC_TRIM_MS);
      this.#trimTimer.unref();
    }
  }

  #trim(): void {
    const before = process.memoryUsage.rss();
    trimMalloc();
    this.#trims.count++;
    this.#trims.releasedBytes += Math.max(0, before - process.memoryUsage.rss());
  }

  /** malloc_trim calls made so far. */
  get trims(): number {
    return this.#trims.count;
  }

  /** The agent stops: no more trims, and no collection still owed. */
  stop(): void {
    clearInterval(this.#trimTimer);
    this.#trimTimer = undefined;
    this.#owed = undefined;
  }

  firstSyncEnded(): void {
    for (const flag of this.#flags.steady) v8.setFlagsFromString(flag);
    if (this.#trimTimer) {
      this.stop();
      this.#log.info({ trims: this.#trims.count, releasedMB: Math.round(this.#trims.releasedBytes / 1048576) }, 'trimmed the C allocator during the first sync');
    }
    if (!this.#collects) return;
    // V8 sets the old generation's next limit at each full collection, from the growth flag then in
    // force: the first sync's looser one would stand until the next, and a full reconcile's garbage
    // piled up to it (10,000 Services on Node 24: +12 MB of peak RSS in the first no-op reconcile).
    // One collection puts the steady limit in force at once; once no change waits (see #collectWhenIdle).
    // A plain one: the memory-reducing kind (several full collections, compacting every page) took
    // 0.9-2.5 s here against 0.27-0.52 s (new node at 5,000 Services, sandbox; 1.4-1.6 against 0.48-0.79
    // s at 10,000: bench-results/ab-46), and the first periodic reconcile's collection gives the pages back.
    this.#collectWhenIdle({ message: 'collected the first sync\'s garbage', level: 'info', release: false, since: this.#now() });
  }

  /**
   * After a periodic full reconcile: its garbage (a kernel dump and a compare over every object, ~100
   * MB allocated at 10,000 Services) left the heap's pages spread thin, and V8 gives them back only in
   * a memory-reducing collection, which its memory reducer starts after seconds of quiet: with changes
   * coming, or reconciles back to back, RSS rose reconcile after reconcile to a plateau 20-25 MB higher
   * (10,000 Services, Node 24). Collected here, RSS after each reconcile stays at the live heap's level.
   * It costs about 0.4 s per reconcile at 10,000 in the sandbox (two full collections beside V8's own).
   * In the default heap mode V8's memory reducer is off (config/heap.ts' NODE_FLAGS), so this is the
   * only collection that gives pages back. Not on Node 20, whose gc() cannot: there nothing does.
   */
  reconciled(): void {
    if (this.#collects && RELEASES_MEMORY) this.#collectWhenIdle({ message: 'collected the reconcile\'s garbage', level: 'debug', release: true, since: this.#now() });
  }

  /** A sync has ended: a collection owed runs now if the agent is idle (see #collectWhenIdle). */
  syncEnded(): void {
    if (this.#owed) this.#collectWhenIdle(this.#owed);
  }

  /**
   * A full collection holds the event loop for all its time (the memory-reducing one after a reconcile
   * 0.5-1.2 s at 5,000-10,000 Services in the sandbox), and a change that comes meanwhile waits for it.
   * So it runs in a turn of its own, after the I/O already read (a change that came during the sync is
   * seen waiting first), and while a change waits or a sync runs it is owed to the end of the next
   * sync, for COLLECT_WAITS_AT_MOST_MS at most.
   */
  #collectWhenIdle(c: OwedCollection): void {
    this.#owed = c;
    setImmediate(() => {
      if (this.#owed !== c) return;
      if (this.#busy() && this.#now() - c.since < COLLECT_WAITS_AT_MOST_MS) {
        c.waited = true;
        return;
      }
      this.#owed = undefined;
      const before = process.memoryUsage();
      const ms = fullCollection(c.release);
      const after = process.memoryUsage();
      const mb = (b: number) => Math.round(b / 1048576);
      // How long it waited for the agent to be idle, when it did.
      const waited = c.waited ? { waitedMs: this.#now() - c.since } : {};
      this.#log[c.level]({ ms: Math.round(ms), heapUsedMB: mb(before.heapUsed), afterMB: mb(after.heapUsed), rssMB: mb(before.rss), rssAfterMB: mb(after.rss), ...waited }, c.message);
    });
  }
}
