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
const conn = new NetlinkConnection(16, { name: 'raw' });
const fam = conn.viaLibnl('resolve family', (s) => s.resolveGenlFamily('IPVS'));
for (let r = 0; r < 4; r++) {
  let n = 0, bytes = 0;
  const t = performance.now();
  conn.dumpStream((seq) => beginIpvs(new MessageWriter(64), fam, 4, seq, true).end(), 'raw', (_, p) => { n++; bytes += p.length; }, () => { n = 0; });
  console.log('raw dump', n, bytes, (performance.now() - t).toFixed(0), 'ms');
}
for (let r = 0; r < 2; r++) {
  const t = performance.now();
  const s = c.services({ stats: false });
  console.log('services stats:false', s.length, (performance.now() - t).toFixed(0), 'ms');
}
