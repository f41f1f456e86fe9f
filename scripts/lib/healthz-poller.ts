// GET /healthz every INTERVAL ms (default 1000) from a process of its own, as a kubelet probes the
// agent (every 10 s by default): polling from the benchmark's own process would charge the client's
// work to the agent's event loop, and polling every 100 ms made the paced initial sync measure up to
// twice as long in the sandbox, where every request costs the emulated CPU. Prints "ready" once,
// then one latency in ms per answered request; stops when its stdin closes.
//   node dist/scripts/lib/healthz-poller.js PORT [INTERVAL]
import { http } from '../../src/runtime/http.js';
import { performance } from 'node:perf_hooks';

const port = Number(process.argv[2]);
const intervalMs = Number(process.argv[3] ?? 1000);
let polling = true;
process.stdin.on('end', () => { polling = false; }).resume();

function get(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
  });
}

process.stdout.write('ready\n');
while (polling) {
  const t = performance.now();
  try {
    await get();
    process.stdout.write(`${(performance.now() - t).toFixed(1)}\n`);
  } catch (err) {
    process.stdout.write(`error ${(err as Error).message}\n`);
  }
  await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (performance.now() - t))));
}
