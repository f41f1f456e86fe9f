// How ipset operations are grouped into messages, and which must be sent again after a refusal
// (see IpsetClient.apply). Pure: operations in, groups out; the client encodes and sends them.

/**
 * Runs of one command on one set, `max` entries at most to a run: each run becomes one message
 * (ipset restore's packing). `perSet` holds each set's operations in the order given; sets are
 * independent, so only each set's own order is kept.
 */
export function packRuns<T extends { cmd: number }>(perSet: Iterable<readonly T[]>, max: number): T[][] {
  const packs: T[][] = [];
  for (const ops of perSet) {
    let pack: T[] = [];
    for (const op of ops) {
      if (pack.length && (pack.length >= max || pack[0]!.cmd !== op.cmd)) {
        packs.push(pack);
        pack = [];
      }
      pack.push(op);
    }
    if (pack.length) packs.push(pack);
  }
  return packs;
}

/**
 * After `resent` (the entries of refused messages) went to the kernel again one by one, after the
 * messages that followed theirs: the operations that must be sent once more so that each entry ends
 * as the last operation on it says. That is, for each entry of `resent`, its last operation in
 * `perSet` when that one was not itself among `resent`. `key` names an entry (set and member).
 */
export function resendToStayLast<T>(perSet: Iterable<readonly T[]>, resent: readonly T[], key: (op: T) => string): T[] {
  const last = new Map<string, T>();
  for (const ops of perSet) for (const op of ops) last.set(key(op), op);
  const redone = new Set(resent);
  const seen = new Set<string>();
  const fixes: T[] = [];
  for (const op of resent) {
    const k = key(op);
    if (seen.has(k)) continue;
    seen.add(k);
    const l = last.get(k)!;
    if (!redone.has(l)) fixes.push(l);
  }
  return fixes;
}
