// Experiment (stop 44): glibc's malloc_trim(0) on a timer, to see what freed malloc memory is held.
import { createRequire } from 'node:module';
import { readFileSync, appendFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
const ms = Number(process.env.KIPVS_TRIM_MS || 0);
if (ms > 0) {
  const koffi = require('koffi');
  const trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
  const rss = () => Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096 / 1048576;
  const log = process.env.KIPVS_TRIM_LOG;
  const t0 = Date.now();
  let n = 0, freed = 0, spent = 0;
  setInterval(() => {
    const a = rss(); const s = performance.now(); trim(0); const d = performance.now() - s; const b = rss();
    n++; freed += a - b; spent += d;
    if (log && (n <= 200 || n % 20 === 0)) appendFileSync(log, `${Date.now() - t0} ${a.toFixed(1)} ${b.toFixed(1)} ${d.toFixed(1)}ms\n`);
  }, ms).unref();
}
await import('./kipvs-real.js');
