// Stop 43: where the read's first step goes at N virtual services (no real servers), in the sandbox:
//   scripts/sandbox -- /work/node24/package/bin/node bench-results/ab-43/service-dump.mjs 10000   (from /work/main, built)
// services({stats:false}) (dump + decode), the reconcile read's first step (expectService), and the dump alone (replies walked, not decoded).
import { performance } from 'node:perf_hooks';
const { IpvsClient } = await import('/work/main/dist/src/ipvs/client.js');
const { NetlinkConnection } = await import('/work/main/dist/src/netlink/connection.js');
const { MessageWriter } = await import('/work/main/dist/src/netlink/message.js');
const { beginIpvs } = await import('/work/main/dist/src/ipvs/codec.js');
const N = Number(process.argv[2] ?? 10000);
const c = IpvsClient.open();
c.flush();
const vip = (i) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const ops = [];
for (let i = 0; i < N; i++) ops.push({ op: 'add-service', service: { family: 'inet', protocol: 'tcp', address: vip(i), port: 80, scheduler: 'rr' } });
c.apply(ops);
const ms = (t) => (performance.now() - t).toFixed(0);
for (let r = 0; r < 4; r++) {
  const t = performance.now();
  const s = c.services({ stats: false });
  console.log('services stats:false', s.length, ms(t), 'ms');
}
for (let r = 0; r < 4; r++) {
  const keys = [];
  const gen = c.forEachEntrySteps({ stats: false, skipGone: true }, () => {}, () => undefined, (key) => { keys.push(key); return undefined; });
  const t = performance.now();
  gen.next();
  console.log('read, first step', ms(t), 'ms; services decoded in it', keys.length);
  gen.return();
}
// The dump alone on a socket of its own: GET_SERVICE (4), each reply counted, none decoded.
const conn = new NetlinkConnection(16, { name: 'raw' });
const family = conn.viaLibnl('resolve family', (s) => s.resolveGenlFamily('IPVS'));
for (let r = 0; r < 4; r++) {
  let n = 0, bytes = 0;
  const t = performance.now();
  conn.dumpStream((seq) => beginIpvs(new MessageWriter(64), family, 4, seq, true).end(), 'raw', (_, p) => { n++; bytes += p.length; }, () => { n = 0; bytes = 0; });
  console.log('dump alone', n, 'replies', bytes, 'bytes', ms(t), 'ms');
}
