// Summarize an ab.sh JSONL file: per variant, the figures of each round.
const [file, ...keys] = process.argv.slice(2);
const lines = require('fs').readFileSync(file, 'utf8').trim().split('\n');
const by = {};
for (const l of lines) { const [v, n, ...rest] = l.split(' '); (by[v] ??= []).push(JSON.parse(rest.join(' '))); }
const ratio = (a, b) => (r) => (r[a] / r[b]).toFixed(2);
for (const [v, rs] of Object.entries(by)) {
  const parts = keys.map((k) => {
    const [name, f] = k.includes('/') ? [k, ratio(...k.split('/'))] : [k, (r) => r[k]];
    return `${name} ${rs.map(f).join('/')}`;
  });
  console.log(`${v} (${rs.length}): ${parts.join('; ')}`);
}
