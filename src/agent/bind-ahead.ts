// A first sync's VIPs, handed to the backend while the model still computes: the model's first commit
// at 10,000 Services is seconds of this thread alone, with the machine's other CPU idle, and the
// kernel's VIP binds (each walks kube-ipvs0's address list) are the slowest part of the sync after it.
// Handed over in batches as the commit goes, they are bound on that other CPU meanwhile.
import type { Steps } from '../loop/pacer.js';

/** Addresses are handed over once at least this many new ones have appeared (and the rest at the end). */
export const BIND_AHEAD_BATCH = 1000;

/**
 * The commit's steps, unchanged, handing `bindAhead` the addresses that appear in `bound` (the model's
 * bound VIPs, which the commit fills) in batches of at least `batch`, and the rest when it ends.
 */
export function* bindingAhead<T>(commit: Steps<T>, bound: ReadonlySet<string>, bindAhead: (addresses: string[]) => void, batch = BIND_AHEAD_BATCH): Steps<T> {
  const handed = new Set<string>();
  // A Set's iterator is live: it goes on to what the commit added since, in order, without walking
  // the Set from its start at each batch (50 batches of up to 50,000 at 50,000 Services). It is read
  // only as far as the sizes say there are new addresses, so that it never runs out (one that did is
  // done for good). An address removed meanwhile skews the sizes: the last hand-over walks the whole
  // Set for whatever that left behind.
  const it = bound.values();
  const handOver = (least: number, last: boolean): void => {
    const out: string[] = [];
    if (last) {
      for (const a of bound) if (!handed.has(a)) out.push(a);
    } else {
      if (bound.size - handed.size < least) return;
      for (let k = bound.size - handed.size; k > 0; k--) {
        const n = it.next();
        if (n.done) break;
        if (!handed.has(n.value)) out.push(n.value);
      }
    }
    for (const a of out) handed.add(a);
    if (out.length) bindAhead(out);
  };
  let ended = false;
  try {
    let r = commit.next();
    while (!r.done) {
      const size = yield r.value;
      handOver(batch, false);
      r = commit.next(size);
    }
    ended = true;
    handOver(1, true);
    return r.value;
  } finally {
    if (!ended) commit.return(undefined as never);
  }
}
