// Stop 43: what a V8 .heapsnapshot holds, by self size: per node type; per type and name (constructor for objects);
// strings by kind (IPv4 addresses, "a|b|c" keys, ns/name...); plain objects by their first properties; the largest strings.
//   node --max-old-space-size=4000 bench-results/ab-43/heap-summary.mjs FILE.heapsnapshot
import { readFileSync } from 'node:fs';
const s = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const m = s.snapshot.meta, f = m.node_fields, ef = m.edge_fields, types = m.node_types[0], etypes = m.edge_types[0];
const W = f.length, EW = ef.length, iT = f.indexOf('type'), iN = f.indexOf('name'), iS = f.indexOf('self_size'), iE = f.indexOf('edge_count');
const eT = ef.indexOf('type'), eN = ef.indexOf('name_or_index');
const byType = new Map(), byName = new Map(), strClass = new Map(), objShape = new Map(), big = [];
const add = (map, k, size, example = '') => { const a = map.get(k) ?? [0, 0, example]; a[0] += size; a[1]++; map.set(k, a); };
let total = 0, e = 0;
for (let i = 0; i < s.nodes.length; i += W) {
  const t = types[s.nodes[i + iT]], size = s.nodes[i + iS], ec = s.nodes[i + iE], name = s.strings[s.nodes[i + iN]];
  total += size;
  add(byType, t, size);
  add(byName, ['object', 'closure', 'native', 'hidden', 'code', 'array'].includes(t) ? `${t} ${name.slice(0, 60)}` : t, size);
  if (t === 'string') {
    const k = /^\d+\.\d+\.\d+\.\d+$/.test(name) ? 'IPv4 address' : name.includes('|') ? `key of ${name.split('|').length} parts` : /^[a-z0-9-]+\/[a-z0-9-]+$/.test(name) ? 'ns/name' : /^\d+$/.test(name) ? 'digits' : name.length > 1000 ? 'over 1,000 chars (sources)' : `up to ${2 ** Math.ceil(Math.log2(name.length + 1))} chars`;
    add(strClass, k, size, name.slice(0, 40));
    if (name.length > 1000) big.push([size, name.slice(0, 90).replace(/\n/g, ' ')]);
  } else if (t === 'object' && name === 'Object') {
    const props = [];
    for (let j = 0; j < ec; j++) { const b = (e + j) * EW; if (etypes[s.edges[b + eT]] === 'property') props.push(s.strings[s.edges[b + eN]]); }
    add(objShape, props.slice(0, 6).join(','), size);
  }
  e += ec;
}
const mb = (b) => (b / 1048576).toFixed(2).padStart(8);
const top = (title, map, n) => {
  console.log(`${title}: MB, count`);
  for (const [k, [b, c, ex]] of [...map].sort((a, b) => b[1][0] - a[1][0]).slice(0, n)) console.log(mb(b), String(c).padStart(8), k, ex ? JSON.stringify(ex) : '');
};
console.log('reachable, in all:', mb(total).trim(), 'MB');
top('by node type', byType, 20);
top('by type and name', byName, 25);
top('strings', strClass, 12);
top('plain objects, by their first properties', objShape, 15);
console.log('largest strings:');
for (const [b, v] of big.sort((a, b) => b[0] - a[0]).slice(0, 8)) console.log(String(b).padStart(9), v);
