// Remaking a hash set with a bigger maxelem, with no moment where the set is missing or partly
// filled for the rules that match it: a temporary set of the same type and family is made with the
// new maxelem and filled, then swapped with the old one (the kernel exchanges names and places, so
// the rules that name the set reach the full new one at once), and the old one, now under the
// temporary name, is destroyed. The thin "make it so" for what capacity.ts decides.
import type { Steps } from '../loop/pacer.js';
import { IpsetError, type IpsetClient } from './client.js';
import type { Entry, Family, SetType } from './types.js';

/**
 * The temporary set's name: one fixed name, so that one left over by a crash between its creation
 * and its destruction is known and destroyed at the next sync and by `kipvs cleanup`.
 */
export const GROW_TEMP_SET = 'KIPVS-GROW-TMP';

/** Entries added to the temporary set per apply() at most (the pacer may ask for fewer). */
const FILL_SLICE = 4096;

export interface GrowSpec {
  /** The set to remake; it must exist. */
  name: string;
  type: SetType;
  family: Family;
  maxElem: number;
  /** The initial hash size (the old set's current one spares the kernel resizing while it fills). */
  hashSize?: number;
  /** Exactly the members the set must hold afterwards. */
  entries: readonly Entry[];
}

/**
 * Remake `spec.name` with `spec.maxElem`, holding exactly `spec.entries`. When an entry is refused the
 * old set is left as it was and the refusals are returned (each naming the entry); a refused create
 * or swap throws an IpsetError naming the set. The temporary set is destroyed in every case; when
 * even that is refused, `leftover` says why (the next sync destroys it).
 */
export function* growSetSteps(client: IpsetClient, spec: GrowSpec): Steps<{ grown: boolean; failures: string[]; leftover?: string }> {
  if (spec.type === 'bitmap:port') throw new Error(`ipset ${spec.name}: a bitmap:port set has a fixed range, not a maxelem to grow`);
  const temp = GROW_TEMP_SET;
  // A leftover from an interrupted growth would refuse the create (or be of another type).
  client.destroy(temp);
  client.create({ name: temp, type: spec.type, family: spec.family, maxElem: spec.maxElem, ...(spec.hashSize ? { hashSize: spec.hashSize } : {}) });
  const failures: string[] = [];
  let grown = false;
  let leftover: string | undefined;
  try {
    let size = yield 0;
    for (let at = 0; at < spec.entries.length;) {
      const slice = spec.entries.slice(at, at + Math.min(FILL_SLICE, size ?? FILL_SLICE));
      at += slice.length;
      const r = client.apply(slice.map((entry) => ({ op: 'add' as const, set: temp, entry })));
      for (const f of r.failures) failures.push(`add ${f.op.entry} to ${spec.name} (while making it bigger): ${f.error.message}`);
      size = yield slice.length;
    }
    if (failures.length === 0) {
      client.swap(temp, spec.name);
      grown = true;
    }
  } finally {
    // After the swap the old set (no rule names it any more), else the unused new one.
    try {
      client.destroy(temp);
    } catch (err) {
      // Thrown on the way out of an error, this would hide that error: report it instead.
      if (!(err instanceof IpsetError)) throw err;
      leftover = `cannot destroy ${temp}: ${err.message}`;
    }
  }
  return { grown, failures, ...(leftover ? { leftover } : {}) };
}
