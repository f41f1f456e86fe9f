// The soak's backend pods, all in one process inside the backend network namespace: each pod is an
// address on lo (added when the pod starts, removed when it is gone, after which packets to it are
// dropped, as for a pod that no longer exists). TCP on every address answers the address the client
// reached and closes; UDP, one socket per pod address, answers each datagram with that address.
//   node backend-proc.js TCP_PORT UDP_PORT     stdin: "SEQ up IP..." / "SEQ down IP..."; stdout: "SEQ ok"
import net from 'node:net';
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';

const [tcpPort, udpPort] = process.argv.slice(2).map(Number) as [number, number];
const udp = new Map<string, dgram.Socket>();

const tcp = net.createServer((s) => {
  s.on('error', () => {});
  s.end(`${(s.localAddress ?? '').replace(/^::ffff:/, '')}\n`);
});
tcp.listen({ port: tcpPort, host: '0.0.0.0', backlog: 4096 });

function ipBatch(lines: string[]): void {
  if (lines.length) execFileSync('ip', ['-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'inherit'] });
}

async function up(ips: string[]): Promise<void> {
  ipBatch(ips.filter((ip) => !udp.has(ip)).map((ip) => `addr add ${ip}/32 dev lo`));
  await Promise.all(ips.filter((ip) => !udp.has(ip)).map((ip) => new Promise<void>((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('message', (_msg, peer) => s.send(ip, peer.port, peer.address));
    s.once('error', reject);
    s.bind(udpPort, ip, () => { s.off('error', reject); s.on('error', () => {}); resolve(); });
    udp.set(ip, s);
  })));
}

function down(ips: string[]): void {
  for (const ip of ips) { udp.get(ip)?.close(); udp.delete(ip); }
  ipBatch(ips.map((ip) => `addr del ${ip}/32 dev lo`));
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const [seq, cmd, ...ips] = line.trim().split(/\s+/);
  const done = (err?: unknown) => process.stdout.write(err ? `${seq} error ${(err as Error).message}\n` : `${seq} ok\n`);
  if (cmd === 'up') up(ips).then(() => done(), done);
  else if (cmd === 'down') { try { down(ips); done(); } catch (err) { done(err); } }
  else done(new Error(`unknown command ${cmd}`));
}).on('close', () => process.exit(0));
process.stdout.write('ready\n');
