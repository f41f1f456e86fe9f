// How V8 sizes the agent's heap: the modes behind --v8-heap and the V8 flags of each. Here, below the
// agent, so that the configuration can check the flag's value against the modes.

/**
 * How V8 sizes the agent's heap. The agent's heap is mostly one large, long-lived model; V8's own
 * sizing ('v8') lets the young generation grow to 2 x 16 MB and the old one well past its live size
 * before collecting it, which a node agent pays in RSS on every node.
 * - 'bounded' (the default): the young generation's semi-spaces capped at 2 MB and V8's memory
 *   reducer off (NODE_FLAGS: V8 reads both as it starts, so they are on node's command line,
 *   bin/kipvs.js' first line; the agent's own collections give memory back instead) and the old
 *   generation collected at 1.2x its live size (set as the agent starts); until the
 *   first sync ends, glibc's allocator trimmed every 250 ms, and glibc's mmap threshold fixed at 128 KB
 *   (agent/heap-keeper.ts).
 * - 'size': V8's --optimize-for-size: as little memory, slower code.
 * - 'v8': V8's own sizing. bin/kipvs.js' first line cannot know the mode: started through it, the
 *   young generation stays capped and the memory reducer off in every mode (the agent says so); run
 *   node on dist/bundle/kipvs.js without those flags for V8's own sizing throughout (the benchmark's
 *   'v8' runs start node so).
 * The agent benchmark's case at 10,000 Services x 10 endpoints, one process each, modes taking turns in
 * one sandbox boot (2026-12-05, 3 runs each): peak RSS 'bounded' 148-155 MB, 'v8' 198-212 MB; initial
 * sync 13.2-15.0 s against 10.8-11.2 s (the young-generation cap alone: 159 MB at the end of the
 * initial sync, 188-190 MB peak, 13.2-15.2 s, so the cap is what costs time); later no-op reconciles
 * 5.2-6.7 s at 1.1x CPU/wall against 5.0-5.9 s at 1.02x. Once the model's first sync allocated less (c9b7931; two runs each,
 * another boot): 150 / 153 MB with 11.8 / 10.8 s syncs against 210 / 206 MB with 11.8 / 9.8 s, GC pauses
 * in the sync 0.9-1.1 s (5-6 full collections, 67-69 scavenges) against 0.5-0.7 s (1, 17-18). 'size'
 * earlier (2026-12-04): 156 MB, 23.4 s against v8's 17.5 s. The cap was 4 MB until 2026-12-05; 2 MB
 * then, once the model and the first sync kept less (a506373, 799d184), runs alternating in one boot
 * (two each): the new node at 10,000 (manifests / API server) 137-140 / 143-144 MB against 139-143 /
 * 149-154 MB, start to all programmed 0.86-1.11x `ipvsadm -R` against 0.94-1.08x; the agent case
 * 134 / 134 MB against 136 / 141 MB, initial sync 12.0 / 11.5 s against 13.2 / 12.7 s (GC 1.2-1.3 s,
 * 138 scavenges, against 1.0-1.1 s, 69), later no-op reconciles 5.6 s against 5.1-5.2 s (GC 260 ms
 * against 165-185 ms each), one change p50 5.9-7.4 ms against 10.4-14.1 ms.
 */
export type HeapMode = 'bounded' | 'size' | 'v8';

/** The heap mode when none is given. */
export const DEFAULT_HEAP: HeapMode = 'bounded';

/** Whether `s` names a heap mode (--v8-heap, the benchmark's --heap). */
export function isHeapMode(s: string): s is HeapMode {
  return Object.hasOwn(HEAP_FLAGS, s);
}

/** The V8 flags of each heap mode that the agent sets as it starts (V8 reads them as it runs). */
export const HEAP_FLAGS: Record<HeapMode, readonly string[]> = {
  bounded: ['--heap-growing-percent=20'],
  size: ['--optimize-for-size'],
  v8: [],
};

/**
 * The V8 flags of each heap mode until the agent's first sync has ended (then HEAP_FLAGS'); only the
 * default mode's differ. The first sync builds the whole model and its kernel copy, so its old
 * generation grows from nothing to its live size; collected each time it had grown 20%, it took 5 full
 * collections at 10,000 Services x 10 endpoints, and V8's helper threads marking them took CPU from the
 * kernel's work on a small node. Agent case, sandbox, 2026-12-06, runs alternating in one boot
 * (bench-results/ab-34): 50% throughout, 9.25-9.32 s against 9.76-9.82 s at 20%, the helpers' CPU
 * 4.2-4.4 s against 5.0-5.1 s, peak RSS 133-136 MB against 125-127 MB (100%: 9.35-9.38 s, 148 MB);
 * 50% until the first sync ends, then 20% (this), three runs: 9.18-9.33 s against 9.31-10.54 s, 2 full
 * collections against 4-5, peak RSS 132-135 MB against 126 MB. The steady heap is as before.
 * When the first sync has ended the agent sets HEAP_FLAGS and runs one full collection at once
 * (agent/heap-keeper.ts): V8 computes the next limit only at a full collection, so without it
 * the first periodic reconcile's garbage grew the heap up to the limit the 50% left. Agent case at
 * 10,000 on Node 24, runs alternating in one boot (2026-12-06): peak RSS 155-156 MB against 164-165 MB,
 * set by the initial sync instead of the reconcile; the collection took 202-344 ms in the sandbox.
 */
export const FIRST_SYNC_HEAP_FLAGS: Record<HeapMode, readonly string[]> = {
  ...HEAP_FLAGS,
  bounded: ['--heap-growing-percent=50'],
};

/**
 * The flags of each heap mode that only take effect on node's command line (read when V8 starts).
 * `--no-memory-reducer`: V8's memory reducer, 8 s after a full collection, runs up to two
 * memory-reducing ones of its own when the agent looks idle; the agent already runs one after each
 * periodic reconcile, when no change waits (agent/heap-keeper.ts), so V8's came on top, at a time
 * nothing chose. New node at 10,000 Services in the sandbox (`--trace-gc`, three runs, stop 47:
 * bench-results/ab-47): two each run, 8.6-10 s after the first sync's collection, holding the main
 * thread 0.7-1.2 s in all (their last pauses 63-375 ms, incremental steps of up to 46 ms before them)
 * while endpoint changes came every 3 s; they gave back ~9 MB of heap pages that the first periodic
 * reconcile's collection gives back anyway. Node reads it only from its command line (set at run
 * time, the reducer still ran).
 */
export const NODE_FLAGS: Record<HeapMode, readonly string[]> = {
  bounded: ['--max-semi-space-size=2', '--no-memory-reducer'],
  size: [],
  v8: [],
};

/** Node's command-line flags (and NODE_OPTIONS') as `--name=value`, "--name value" joined, "_" as "-". */
function givenFlags(execArgv: readonly string[], nodeOptions: string): string[] {
  const args = [...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a.startsWith('--') && !a.includes('=') && i + 1 < args.length && /^\d/.test(args[i + 1]!)) a = `${a}=${args[++i]}`;
    const eq = a.indexOf('=');
    out.push(eq < 0 ? a.replace(/_/g, '-') : a.slice(0, eq).replace(/_/g, '-') + a.slice(eq));
  }
  return out;
}

const flagName = (f: string) => f.split('=')[0]!;

/**
 * This process' node flags against heap mode `mode`: which of its NODE_FLAGS node was not started with
 * (`missing`), and which flag of another mode's NODE_FLAGS it was started with (`unasked`: bin/kipvs.js
 * starts node with the default mode's flags whatever --v8-heap says).
 */
export function checkNodeFlags(mode: HeapMode, execArgv: readonly string[], nodeOptions = ''): { missing: string[]; unasked: string[] } {
  const given = givenFlags(execArgv, nodeOptions);
  const own = new Set(NODE_FLAGS[mode].map(flagName));
  const others = new Set(Object.values(NODE_FLAGS).flat().map(flagName).filter((n) => !own.has(n)));
  return {
    missing: NODE_FLAGS[mode].filter((f) => !given.includes(f)),
    unasked: given.filter((f) => others.has(flagName(f))),
  };
}
