// When V8 compiles the agent's code with TurboFan, its top tier: a node agent's hot paths (the model's
// commit, the netlink encoders and dump readers) run in bursts, a first sync and then a reconcile every
// period, and V8's default threshold had TurboFan compile code that ran only through one of them.

/**
 * V8's flags for the agent's tiering (set as the agent starts: V8 reads them as it runs).
 * `--invocation-count-for-turbofan`: V8 13 (Node 24) compiles a function with TurboFan once it has run
 * ~3,000 times (Maglev, the mid tier, well before); 30,000 leaves the code that runs fewer times at
 * Maglev. V8 12 (Node 22) has the flag but runs without Maglev and tiers up to TurboFan by another count,
 * so it changes nothing there (`--trace-opt`, stop 42); V8 11 (Node 20) lacks it (and would say so on
 * stderr). Set on V8 13 and later only.
 */
export const TIERING_FLAGS: readonly string[] = ['--invocation-count-for-turbofan=30000'];

/** The tiering flags for this V8 (`version`: process.versions.v8). */
export function tieringFlags(version: string): readonly string[] {
  return Number(version.split('.')[0]) >= 13 ? TIERING_FLAGS : [];
}
