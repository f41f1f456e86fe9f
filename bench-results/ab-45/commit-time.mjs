// usage: node commit-time.mjs VARIANT_DIR [N]: one cold first commit, as the agent's (its flags given on the command line)
const dir = process.argv[2], N = Number(process.argv[3] ?? 10000), M = 10;
const { ProxyModel } = await import(`${dir}/dist/src/model/model.js`);
const { service, slice } = await import(`${dir}/dist/scripts/lib/bench-objects.js`);
const model = new ProxyModel({ scheduler: '', nodeName: 'node-0', families: ['inet'] });
model.setNodeAddresses(['192.168.0.1'], ['192.168.0.1']);
for (let i = 0; i < N; i++) { model.upsertService(service(i, 8080)); model.upsertEndpointSlice(slice(i, M, 8080)); }
globalThis.gc();
const c0 = process.cpuUsage();
const t = performance.now();
model.commit();
const ms = performance.now() - t;
const cpu = process.cpuUsage(c0);
console.log(JSON.stringify({ ms: Math.round(ms), cpuMs: Math.round((cpu.user + cpu.system) / 1000) }));
