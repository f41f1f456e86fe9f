// One full collection of V8's heap on demand, for a node started without --expose-gc (as bin/kipvs.js
// starts it): the agent runs them when its first sync ends and after periodic reconciles (heap-keeper.ts).
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type: 'major'; execution: 'sync'; flavor: 'regular' | 'last-resort' }) => void;
let collect: Gc | undefined;

/**
 * Whether V8's gc() takes a flavor (V8 12, Node 22 and later): 'last-resort' is the collection V8 runs
 * before it gives up on memory, with its memory-reducing flags: fragmented pages compacted, and the
 * pages freed handed back to the system. A plain gc() frees objects and keeps their pages: on this
 * host, Node 24, 68 MB of heap holding 25 MB of live objects, heapTotal 71 MB after gc(), 27 MB after
 * the last-resort one. V8 11 (Node 20) ignores the flavor and skips the collection: gc() there.
 */
export const RELEASES_MEMORY = Number(process.versions.v8.split('.')[0]) >= 12;

/** V8's gc(): the global one when node has it, else taken from a context made while --expose-gc is set. */
function gcFunction(): Gc {
  const own = (globalThis as { gc?: Gc }).gc;
  if (typeof own === 'function') return own;
  // V8 installs gc() in each context made while the flag is set: one context hands it over, and the
  // flag is unset again so that no other context (vm, workers) gets it.
  v8.setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as Gc;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/**
 * Run one full (mark-compact) collection now; returns its time in ms. `release`: the memory-reducing
 * one, which also gives the freed pages back (Node 22 and later; a plain full collection on Node 20).
 */
export function fullCollection(release = false): number {
  collect ??= gcFunction();
  const t = performance.now();
  if (release && RELEASES_MEMORY) collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  else collect();
  return performance.now() - t;
}
