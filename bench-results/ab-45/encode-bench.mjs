// Evidence for stop 45, not run by CI: node --max-semi-space-size=2 --invocation-count-for-turbofan=30000 encode-bench.mjs BUILD_DIR slow|plain
// Host: encoding 100,000 add-server requests (10,000 services x 10), putServer against putPlainServer.
const dir = process.argv[2];
const { MessageWriter } = await import(`${dir}/dist/src/netlink/message.js`);
const codec = await import(`${dir}/dist/src/ipvs/codec.js`);
const servers = [];
for (let i = 0; i < 100000; i++) servers.push({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080 });
const nest = codec.serviceKeyNest({ family: 'inet', protocol: 'tcp', address: '10.96.0.1', port: 80 });
const run = (plain) => {
  const t = performance.now();
  for (let c = 0; c < 100; c++) {
    const w = new MessageWriter(1000 * 96);
    for (let i = c * 1000; i < (c + 1) * 1000; i++) {
      codec.beginIpvs(w, 0x1f, 5, i);
      w.raw(nest);
      if (plain) codec.putPlainServer(w, servers[i]); else codec.putServer(w, 'inet', servers[i], true, 'inet');
      w.end();
    }
  }
  return performance.now() - t;
};
const mode = process.argv[3] === 'plain';
if (mode && !codec.putPlainServer) { console.log('no putPlainServer'); process.exit(); }
console.log(process.argv[3], run(mode).toFixed(0), 'ms (cold)', run(mode).toFixed(0), 'ms (warm)');
