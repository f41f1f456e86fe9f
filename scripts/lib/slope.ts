// Least-squares trends for the soak (RSS over time, per agent lifetime) and the agent benchmark (RSS
// over repeated reconciles). A module of its own, without imports: the bench case loads it into the
// process it measures.

/** Least-squares slope of y over x within each group, pooled (each group keeps its own intercept). */
export function pooledSlope(points: { x: number; y: number; group: number }[]): number | null {
  const groups = new Map<number, { x: number; y: number }[]>();
  for (const p of points) groups.set(p.group, [...(groups.get(p.group) ?? []), p]);
  let num = 0, den = 0;
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    const mx = g.reduce((a, p) => a + p.x, 0) / g.length, my = g.reduce((a, p) => a + p.y, 0) / g.length;
    for (const p of g) { num += (p.x - mx) * (p.y - my); den += (p.x - mx) ** 2; }
  }
  return den > 0 ? num / den : null;
}
