import { performance } from 'node:perf_hooks';
const { IpvsClient } = await import('/work/main/dist/src/ipvs/client.js');
const { serviceKeyString } = await import('/work/main/dist/src/ipvs/keys.js').catch(() => ({}));
const N = Number(process.argv[2] ?? 10000);
const c = IpvsClient.open();
c.flush();
const vip = (i) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const ops = [];
for (let i = 0; i < N; i++) ops.push({ op: 'add-service', service: { family: 'inet', protocol: 'tcp', address: vip(i), port: 80, scheduler: 'rr' } });
let t = performance.now();
c.apply(ops);
console.log('apply', N, (performance.now() - t).toFixed(0), 'ms');
for (let r = 0; r < 4; r++) {
  t = performance.now();
  const s = c.services({ stats: false });
  console.log('services stats:false', s.length, (performance.now() - t).toFixed(0), 'ms');
}
// the reconcile's way: expectService hands on the model's objects
const model = new Map();
for (const s of c.services({ stats: false })) model.set(`${s.protocol}|${s.address}|${s.port}`, s);
for (let r = 0; r < 4; r++) {
  const keys = [];
  const gen = c.forEachEntrySteps({ stats: false, skipGone: true }, () => {}, () => undefined, (key) => { keys.push(key); return undefined; });
  t = performance.now();
  gen.next();
  console.log('first step (expectService, no match)', (performance.now() - t).toFixed(0), 'ms', keys.length, keys[0]);
  gen.return();
}
