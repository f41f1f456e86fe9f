// The soak's backend pods, all in one process inside the backend network namespace: each pod is an
// address on lo (added when the pod starts, removed when it is gone, after which packets to it are
// dropped, as for a pod that no longer exists). TCP on every address answers the address the client
// reached and closes; UDP, one socket per pod address, answers each datagram with that address.
//   node backend-proc.js TCP_PORT UDP_PORT     stdin: "SEQ up IP..." / "SEQ down IP..."; stdout: "SEQ ok"
import net from 'node:net';
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';

const [tcpPort, udpPort] = process.argv.slice(2).map(Number) as [number, number];
const udp = new Map<string, dgram.Socket>();

const tcp = net.createServer((s) => {
  s.on('error', () => {});
  s.end(`${(s.localAddress ?? '').replace(/^::ffff:/, '')}\n`);
});
tcp.listen({ port: tcpPort, host: '0.0.0.0', backlog: 4096 });

/**
 * `ip -batch`, without blocking this process: while it ran synchronously (a fork and exec every
 * second of churn, seconds long when the emulated guest is starved), no pod of this process answered,
 * and a client's connection, accepted by the kernel, timed out with its IPVS and conntrack entries
 * showing a normal close (the soak's "failed while every endpoint was serving").
 */
function ipBatch(lines: string[]): Promise<void> {
  if (!lines.length) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const child = execFile('ip', ['-batch', '-'], (err) => (err ? reject(err) : resolve()));
    child.stdin!.end(lines.join('\n') + '\n');
  });
}

async function up(ips: string[]): Promise<void> {
  await ipBatch(ips.filter((ip) => !udp.has(ip)).map((ip) => `addr add ${ip}/32 dev lo`));
  await Promise.all(ips.filter((ip) => !udp.has(ip)).map((ip) => new Promise<void>((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('message', (_msg, peer) => s.send(ip, peer.port, peer.address));
    s.once('error', reject);
    s.bind(udpPort, ip, () => { s.off('error', reject); s.on('error', () => {}); resolve(); });
    udp.set(ip, s);
  })));
}

async function down(ips: string[]): Promise<void> {
  for (const ip of ips) { udp.get(ip)?.close(); udp.delete(ip); }
  await ipBatch(ips.map((ip) => `addr del ${ip}/32 dev lo`));
}

/** Commands run one after another, in the order they came (an up and a down of one address may overlap). */
let queue: Promise<void> = Promise.resolve();

createInterface({ input: process.stdin }).on('line', (line) => {
  const [seq, cmd, ...ips] = line.trim().split(/\s+/);
  const done = (err?: unknown): void => { process.stdout.write(err ? `${seq} error ${(err as Error).message}\n` : `${seq} ok\n`); };
  const run = cmd === 'up' ? () => up(ips) : cmd === 'down' ? () => down(ips) : () => Promise.reject(new Error(`unknown command ${cmd}`));
  queue = queue.then(run).then(() => done(), done);
}).on('close', () => process.exit(0));
process.stdout.write('ready\n');
