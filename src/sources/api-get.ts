// One request to the API server, its JSON body as plain objects: the informers' list pages (GET) and
// the agent's Events (POST). Not through
// client-node's generated API clients, whose ObjectSerializer turns every listed object into model
// classes (about 0.3 s per 10,000 Services and EndpointSlices on the host, ten times that in the
// sandbox) that nothing here needs: the model reads plain JSON, as the manifests source and watch
// events give it. Authentication, TLS and proxies come from the KubeConfig exactly as for client-node's
// Watch (applyToHTTPSOptions, and its createAgent, which response-limit.ts wraps to bound the body).
import { http } from '../runtime/http.js';
import https from 'node:https';
import type { KubeConfig } from '#client-node';

/** A response other than 2xx: `code` is the HTTP status (410 when a list's continue token expired). */
export class ApiStatusError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
    this.name = 'ApiStatusError';
  }
}

export function getJson(kc: KubeConfig, path: string, query: Record<string, string | number | undefined>): Promise<unknown> {
  return requestJson(kc, 'GET', path, query);
}

export async function requestJson(kc: KubeConfig, method: 'GET' | 'POST', path: string, query: Record<string, string | number | undefined>, body?: unknown): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> = { Accept: 'application/json' };
  if (payload !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  const opts: https.RequestOptions = { method, headers };
  await kc.applyToHTTPSOptions(opts);
  const request = url.protocol === 'http:' ? http.request : https.request;
  const what = `${method} ${url.pathname}`;
  return new Promise((resolve, reject) => {
    const req = request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`${what}: the response was cut off`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          // A Status object's message when the server sent one, else the start of the body.
          let message = text.slice(0, 200);
          try { message = (JSON.parse(text) as { message?: string }).message ?? message; } catch { /* not JSON */ }
          reject(new ApiStatusError(`${what}: HTTP ${status}: ${message}`, status));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(new Error(`${what}: the response is not JSON: ${(err as Error).message}`));
        }
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}
