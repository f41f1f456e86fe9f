// Evidence for stop 45, not run by CI: node prof-cats.mjs initial-sync-10000.cpuprofile
// Inclusive main-thread time of a .cpuprofile by category: each sample goes to the innermost frame matching a category rule.
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const rules = [
  ['gc', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
  ['program', (f) => f.functionName === '(program)'],
  ['model: serviceIpsetEntries/diffIpsets', (f) => /diffIpsets|serviceIpsetEntries/.test(f.functionName)],
  ['model: compute', (f) => /computeCompact/.test(f.functionName)],
  ['model: commit rest', (f) => /commitSteps/.test(f.functionName)],
  ['bind ahead', (f) => /bindAhead|bindingAhead|addLocalRoutes/.test(f.functionName)],
  ['ipvs: plan', (f) => /planSteps/.test(f.functionName)],
  ['ipvs: encode', (f) => /#encode/.test(f.functionName)],
  ['ipvs: applySteps other', (f) => /applySteps/.test(f.functionName) && /ipvs\/client/.test(f.url)],
  ['ipset', (f) => /src\/ipset\//.test(f.url) || /backends\/ipvs\/ipsets/.test(f.url)],
  ['iptables', (f) => /iptables|rules-sync/.test(f.url)],
  ['netlink', (f) => /src\/netlink\//.test(f.url) || /native-bindings/.test(f.url)],
  ['metrics/report', (f) => /metrics|sync-report|noLocalEndpoint/.test(f.url + f.functionName)],
  ['engine', (f) => /backends\/ipvs\/engine/.test(f.url)],
  ['pacer/loop', (f) => /src\/loop\//.test(f.url)],
];
const dt = p.timeDeltas; const total = (p.endTime - p.startTime) / 1000;
const acc = new Map(); let all = 0;
p.samples.forEach((id, i) => {
  const d = (dt[i + 1] ?? dt[i] ?? 0) / 1000; all += d;
  let cat = 'other';
  // innermost first
  outer: for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const f = byId.get(cur).callFrame;
    for (const [name, test] of rules) if (test(f)) { cat = name; break outer; }
  }
  acc.set(cat, (acc.get(cat) ?? 0) + d);
});
// model categories: re-attribute by outermost model frame instead (innermost rule above picks gc etc. first)
console.log(`total ${total.toFixed(0)} ms`);
for (const [k, v] of [...acc].sort((a, b) => b[1] - a[1])) console.log(`${v.toFixed(0).padStart(7)} ms ${(100 * v / all).toFixed(1).padStart(5)}%  ${k}`);
