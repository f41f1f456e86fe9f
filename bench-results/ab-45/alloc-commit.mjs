// What one cold first commit allocates at N Services x 10 endpoints (V8's sampling heap profiler, garbage
// included), by function. Evidence for stop 45, not run by CI. Usage, with the agent's flags:
//   node --expose-gc --max-semi-space-size=2 --invocation-count-for-turbofan=30000 alloc-commit.mjs BUILD_DIR [N]
import { Session } from 'node:inspector/promises';
const dir = process.argv[2] ?? '.';
const { ProxyModel } = await import(`${dir}/dist/src/model/model.js`);
const { service: benchService, slice: benchSlice } = await import(`${dir}/dist/scripts/lib/bench-objects.js`);
const N = Number(process.argv[3] ?? 10000), M = 10;
const model = new ProxyModel({ scheduler: '', nodeName: 'node-0', families: ['inet'] });
model.setNodeAddresses(['192.168.0.1'], ['192.168.0.1']);
for (let i = 0; i < N; i++) { model.upsertService(benchService(i, 8080)); model.upsertEndpointSlice(benchSlice(i, M, 8080)); }
globalThis.gc(); globalThis.gc();
const s = new Session(); s.connect();
await s.post('HeapProfiler.enable');
// includeObjectsCollectedByMajorGC/MinorGC: count garbage too (all allocation)
await s.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const h0 = process.memoryUsage().heapUsed;
let t = performance.now();
model.commit();
const ms = performance.now() - t;
const { profile } = await s.post('HeapProfiler.stopSampling');
globalThis.gc(); globalThis.gc();
console.log('commit', ms.toFixed(0), 'ms; retained', ((process.memoryUsage().heapUsed - h0) / 1048576).toFixed(1), 'MB');
const by = new Map(); let total = 0;
const name = (f) => `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/dist\//, '')}:${f.lineNumber + 1}`;
const walk = (n, parent) => { const f = n.callFrame; let k = name(f); if (!f.url && parent) k += ' <- ' + name(parent.callFrame); by.set(k, (by.get(k) ?? 0) + n.selfSize); total += n.selfSize; for (const c of n.children) walk(c, n); };
walk(profile.head);
console.log('sampled allocation total', (total / 1048576).toFixed(1), 'MB');
for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((v / 1048576).toFixed(2).padStart(7), 'MB', k);
