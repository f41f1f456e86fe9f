// The metrics port, as kube-proxy's metrics server: /metrics (the agent's own registry, then the
// process metrics), /proxyMode (the mode's name) and a plain /healthz.
import type { Server } from 'node:http';
import { http } from '../runtime/http.js';
import type { ProcessMetrics } from './process-metrics.js';

export function metricsServer(mode: string, own: () => string, process: ProcessMetrics | undefined): Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const text = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' };
    if (path === '/metrics') {
      const body = own();
      void (process?.render() ?? Promise.resolve('')).catch(() => '').then((proc) => {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body + proc);
      });
    } else if (path === '/proxyMode') res.writeHead(200, text).end(mode);
    else if (path === '/healthz') res.writeHead(200, text).end('ok');
    else res.writeHead(404).end();
  });
}
