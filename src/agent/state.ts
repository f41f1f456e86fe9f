// The agent's state, served read-only on a local unix socket for `kipvs list` and `kipvs explain`:
// for every virtual service, the Service port it came from, its endpoints and why each is or is not
// a real server, plus what is draining. Plain HTTP/1.1 with one JSON document per request.
import http from 'node:http';
import { mkdirSync, rmSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import type { VirtualService, RealServer } from '../ipvs/types.js';
import type { VsOrigin, EndpointInfo, ModelWarning, ServicePortDesired } from '../model/types.js';

export interface VirtualServiceState {
  key: string;
  service: VirtualService;
  origin: VsOrigin;
  servers: RealServer[];
  endpoints: EndpointInfo[];
}

export interface DrainingState {
  serviceKey: string;
  server: string;
  /** ISO time the server went to weight 0. */
  since: string;
}

export interface AgentState {
  node: string;
  mode: string;
  source: string;
  startedAt: string;
  synced: boolean;
  lastSync?: { at: string; kind: string; operations: number; durationMs: number; failures: number } | undefined;
  virtualServices: VirtualServiceState[];
  /** iptables mode: every Service port with its frontends and chosen endpoints (empty in IPVS mode). */
  servicePorts?: ServicePortDesired[];
  /** iptables mode: the iptables backend the agent writes with. */
  iptablesBackend?: 'legacy' | 'nft';
  boundAddresses: string[];
  draining: DrainingState[];
  warnings: ModelWarning[];
  healthCheckNodePorts: { port: number; service: string; localEndpoints: number }[];
}

export class StateServer {
  readonly #server: http.Server;

  constructor(private readonly path: string, snapshot: () => AgentState) {
    this.#server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/state') {
        res.writeHead(404).end();
        return;
      }
      let body: string;
      try {
        body = JSON.stringify(snapshot());
      } catch (err) {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String((err as Error).message));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
    });
  }

  listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    // A socket file left by a previous run would make listen fail with EADDRINUSE.
    rmSync(this.path, { force: true });
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.path, () => {
        chmodSync(this.path, 0o600);
        resolve();
      });
    });
  }

  close(): void {
    this.#server.close();
    rmSync(this.path, { force: true });
  }
}

/** Read the agent's state from its socket; undefined when no agent answers there. */
export function fetchState(path: string, timeoutMs = 3000): Promise<AgentState | undefined> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: path, path: '/state', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`agent state socket ${path}: HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(body) as AgentState);
        } catch (err) {
          reject(new Error(`agent state socket ${path}: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`agent state socket ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? resolve(undefined) : reject(err)));
  });
}
