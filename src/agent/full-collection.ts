// One full collection of V8's heap on demand, for a node started without --expose-gc (as bin/kipvs.js
// starts it): the agent runs one when its first sync ends (see Agent.start).
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

/** V8's gc(): the global one when node has it, else taken from a context made while --expose-gc is set. */
function gcFunction(): () => void {
  const own = (globalThis as { gc?: () => void }).gc;
  if (typeof own === 'function') return own;
  // V8 installs gc() in each context made while the flag is set: one context hands it over, and the
  // flag is unset again so that no other context (vm, workers) gets it.
  v8.setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/** Run one full (mark-compact) collection now; returns its time in ms. */
export function fullCollection(): number {
  collect ??= gcFunction();
  const t = performance.now();
  collect();
  return performance.now() - t;
}
