// How V8 sizes the agent's heap: the modes behind --v8-heap and the V8 flags of each. Here, below the
// agent, so that the configuration can check the flag's value against the modes.

/**
 * How V8 sizes the agent's heap. The agent's heap is mostly one large, long-lived model; V8's own
 * sizing ('v8') lets the young generation grow to 2 x 16 MB and the old one well past its live size
 * before collecting it, which a node agent pays in RSS on every node.
 * - 'bounded' (the default): the young generation's semi-spaces capped at 4 MB (NODE_FLAGS: V8 sizes
 *   the young generation as it starts, so this one is on node's command line, bin/kipvs.js' first
 *   line) and the old generation collected at 1.2x its live size (set as the agent starts).
 * - 'size': V8's --optimize-for-size: as little memory, slower code.
 * - 'v8': V8's own sizing.
 * The agent benchmark's case at 10,000 Services x 10 endpoints, one process each, modes taking turns in
 * one sandbox boot (2026-12-05, 3 runs each): peak RSS 'bounded' 148-155 MB, 'v8' 198-212 MB; initial
 * sync 13.2-15.0 s against 10.8-11.2 s (the young-generation cap alone: 159 MB after the initial sync,
 * 13.2-15.2 s, so the cap is what costs time); later no-op reconciles 5.2-6.7 s at 1.1x CPU/wall
 * against 5.0-5.9 s at 1.02x. 'size' earlier (2026-12-04): 156 MB, 23.4 s against v8's 17.5 s.
 */
export type HeapMode = 'bounded' | 'size' | 'v8';

/** The heap mode when none is given. */
export const DEFAULT_HEAP: HeapMode = 'bounded';

/** The V8 flags of each heap mode that the agent sets as it starts (V8 reads them as it runs). */
export const HEAP_FLAGS: Record<HeapMode, readonly string[]> = {
  bounded: ['--heap-growing-percent=20'],
  size: ['--optimize-for-size'],
  v8: [],
};

/**
 * Which of `mode`'s NODE_FLAGS this process was not started with (on node's command line, which
 * includes a `#!/usr/bin/env -S node ...` line, or in NODE_OPTIONS).
 */
export function missingNodeFlags(mode: HeapMode, execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map((f) => f.replace(/_/g, '-')));
  return NODE_FLAGS[mode].filter((f) => !given.has(f));
}

/** The flags of each heap mode that only take effect on node's command line (read when V8 starts). */
export const NODE_FLAGS: Record<HeapMode, readonly string[]> = {
  bounded: ['--max-semi-space-size=4'],
  size: [],
  v8: [],
};
