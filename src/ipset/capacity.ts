// How many members a hash set must be allowed to hold (its maxelem), given the entries it should hold.
// Pure: numbers in, numbers out; IpsetSync decides with it, the kernel work is elsewhere.
//
// The kernel refuses every add past maxelem (IPSET_ERR_HASH_FULL), and a set's maxelem is fixed when
// it is created: the only way to more room is a new set. maxelem is only a limit, not memory the
// kernel sets aside (a hash set's table grows with its members), so room costs nothing but the
// protection a limit gives against runaway growth.

/** The kernel's default maxelem, and kube-proxy's: every set has at least this much room. */
export const DEFAULT_MAXELEM = 65536;

/** The largest power of two a u32 maxelem can hold. */
const MAX_MAXELEM = 2 ** 31;

function checkCount(value: number, what: string, min: number): void {
  if (!Number.isInteger(value) || value < min || value > 0xffffffff) {
    throw new Error(`ipset capacity: ${what} must be an integer from ${min} to 4294967295, not ${value}`);
  }
}

/**
 * The maxelem to create a set with for `entries` members: `floor` (kube-proxy's 65,536 unless a test
 * asks for less) while that leaves room for twice the entries, else the next power of two at or
 * above twice the entries. Twice, so that a set made bigger is made bigger again only after its
 * entries have doubled: each rebuild copies n entries and happens once per doubling, so rebuilding
 * costs at most about as many adds again as the entries ever added. A power of two, so that a set's
 * size does not follow every change in its entry count (the same maxelem across a wide range of
 * counts) and reads plainly in `ipset list`.
 */
export function maxElemFor(entries: number, floor = DEFAULT_MAXELEM): number {
  checkCount(entries, 'the number of entries', 0);
  checkCount(floor, 'the smallest maxelem', 1);
  const room = 2 * entries;
  if (room <= floor) return floor;
  if (entries > MAX_MAXELEM) throw new Error(`ipset capacity: ${entries} entries are more than a set can hold (${MAX_MAXELEM})`);
  // Doubling in integers: Math.log2 can round an exact power of two's neighbours onto it.
  let size = 1;
  while (size < room && size < MAX_MAXELEM) size *= 2;
  return size;
}

/**
 * The maxelem a set whose maxelem is `current` must be remade with to take `entries` members, or
 * undefined when it can take them as it is. A set is never made smaller, and one that is big enough
 * is kept whoever made it (kube-proxy's sets with its 65,536 are adopted as they are).
 */
export function grownMaxElem(current: number, entries: number, floor = DEFAULT_MAXELEM): number | undefined {
  checkCount(current, 'the current maxelem', 0);
  // The kernel takes a member while the set holds fewer than maxelem: `entries` fit when <= maxelem.
  if (entries <= current) return undefined;
  // At least twice `entries` (or 2^31), so more than `current`.
  return maxElemFor(entries, floor);
}
