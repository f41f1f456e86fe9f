// GET /healthz every 100 ms from a process of its own, as a kubelet probes the agent: polling from
// the benchmark's own process would charge the client's work to the agent's event loop. Prints
// "ready" once, then one latency in ms per answered request; stops when its stdin closes.
//   node dist/scripts/lib/healthz-poller.js PORT
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const port = Number(process.argv[2]);
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
  await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - t))));
}
