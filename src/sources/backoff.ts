// Restart delays for the informers. After an API server outage every node of a cluster sees its watches
// fail at the same moment; with plain exponential backoff they would all relist at the same instants
// (0.5 s, 1 s, 2 s, … after the outage began) and hit the recovering server together. "Equal jitter"
// spreads them: the n-th delay is drawn uniformly from [d/2, d], d = min(maxMs, initialMs x 2^n). Half
// of the exponential delay is kept, so a failing server still sees retries slow down (full jitter,
// [0, d], would let some nodes retry at once every time), and the other half is random, so a thousand
// nodes that failed together come back spread over d/2.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A number in [0, 1) (Math.random unless tests give another). */
  random?: () => number;
}

/** The delay before the retry that follows `failures` failures in a row (0 for the first retry). */
export function backoffDelay(failures: number, o: BackoffOptions): number {
  const d = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(failures, 52));
  return Math.round(d / 2 + (o.random ?? Math.random)() * (d / 2));
}
