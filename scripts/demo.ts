// The sandbox demo: a real kernel, three backends in network namespaces, a service VIP bound on
// kube-ipvs0 and programmed into IPVS by kipvs, real HTTP through it; then a backend is removed
// (drained to weight 0, then deleted) while traffic keeps flowing. Run: npm run demo
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { IpvsClient } from '../src/ipvs/client.js';
import { LinkClient } from '../src/link/link.js';

const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });
const say = (s: string) => console.log(`\n\x1b[1m== ${s}\x1b[0m`);

function backend(i: number): { ns: string; address: string } {
  const ns = `demo-pod${i}`;
  const address = `10.244.${i}.2`;
  sh(`ip netns add ${ns}
      ip link add veth${i} type veth peer name eth0 netns ${ns}
      ip addr add 10.244.${i}.1/24 dev veth${i} && ip link set veth${i} up
      ip -n ${ns} link set lo up && ip -n ${ns} addr add ${address}/24 dev eth0 && ip -n ${ns} link set eth0 up
      ip -n ${ns} route add default via 10.244.${i}.1`);
  mkdirSync(`/tmp/${ns}`, { recursive: true });
  writeFileSync(`/tmp/${ns}/index.html`, `hello from ${ns} (${address})\n`);
  spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', '8080', '-h', `/tmp/${ns}`], { stdio: 'ignore', detached: true }).unref();
  return { ns, address };
}

function get(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host, port: 80, agent: false, timeout: 3000 }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve(b.trim()));
    }).on('error', reject);
  });
}

async function traffic(n: number): Promise<void> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const who = (await get('10.96.0.10')).split(' ')[2] ?? '?';
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  for (const [who, c] of [...counts].sort()) console.log(`  ${who.padEnd(10)} ${'#'.repeat(c)} ${c}`);
}

const ipvs = IpvsClient.open();
const link = LinkClient.open();
ipvs.flush();
const pods = [1, 2, 3].map(backend);
await new Promise((r) => setTimeout(r, 500));

say('kube-ipvs0 holds the VIP; kipvs programs the virtual service 10.96.0.10:80 (rr) with 3 real servers');
const dummy = link.ensureDummy('kube-ipvs0');
link.addAddresses(dummy.index, ['10.96.0.10']);
const vip = { family: 'inet' as const, protocol: 'tcp' as const, address: '10.96.0.10', port: 80 };
const result = ipvs.apply([
  { op: 'add-service', service: { ...vip, scheduler: 'rr' } },
  ...pods.map((p) => ({ op: 'add-server' as const, service: vip, server: { address: p.address, port: 8080 } })),
]);
console.log(`  one batch: ${result.applied} operations applied, ${result.failures.length} failed`);
console.log(sh('ip -br addr show dev kube-ipvs0').trimEnd());
console.log(sh('ipvsadm -Ln').trimEnd());

say('30 HTTP requests through the VIP');
await traffic(30);

say('demo-pod3 terminates: drained to weight 0, then deleted');
ipvs.updateServer(vip, { address: pods[2]!.address, port: 8080, weight: 0 });
await traffic(12);
ipvs.deleteServer(vip, { address: pods[2]!.address, port: 8080 });

say('the table as kipvs reads it (in-process, over netlink)');
await new Promise((r) => setTimeout(r, 2100)); // the kernel folds per-CPU counters every 2 s
for (const { service, servers } of ipvs.dump()) {
  console.log(`  ${service.protocol?.toUpperCase()} ${service.address}:${service.port} ${service.scheduler}  conns=${service.stats.conns} in=${service.stats.inBytes}B out=${service.stats.outBytes}B`);
  for (const s of servers) console.log(`    -> ${s.address}:${s.port} ${s.forward} weight=${s.weight} conns=${s.stats.conns} active=${s.activeConns} inactive=${s.inactiveConns}`);
}

ipvs.flush();
link.deleteLink('kube-ipvs0');
ipvs.close();
link.close();
for (const p of pods) sh(`ip netns pids ${p.ns} | xargs -r kill; ip netns del ${p.ns}`);
say('done');
