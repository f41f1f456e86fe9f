// The agent's state, served read-only on a local unix socket for `kipvs list` and `kipvs explain`:
// for every virtual service, the Service port it came from, its endpoints and why each is or is not
// a real server, plus what is draining. Plain HTTP/1.1 with one JSON document per request.
import type { OutgoingHttpHeaders, Server } from 'node:http';
import { http } from '../runtime/http.js';
import { mkdirSync, rmSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import type { VirtualService, RealServer } from '../ipvs/types.js';
import type { VsOrigin, EndpointInfo, ModelWarning, ServicePortDesired } from '../model/types.js';
import type { ProxyModel } from '../model/model.js';
import type { BackendSyncResult } from '../backends/backend.js';
import type { DrainingServer } from '../backends/ipvs/plan.js';
import { serverKeyString } from '../ipvs/keys.js';

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
  /** IPVS mode: how the VIPs are bound (--vip-binding); absent from agents before it, which bound addresses. */
  vipBinding?: 'address' | 'local-route';
  draining: DrainingState[];
  warnings: ModelWarning[];
  healthCheckNodePorts: { port: number; service: string; localEndpoints: number }[];
}

/** The document the state socket serves, from the agent's model and its last sync. */
export function agentStateOf(i: {
  node: string; mode: string; source: string; startedAt: Date; synced: boolean;
  lastSync?: { at: Date; result: BackendSyncResult };
  model: ProxyModel;
  draining: Iterable<DrainingServer>;
  /** iptables mode: the iptables backend written with (the Service ports are listed then). */
  iptablesBackend?: 'legacy' | 'nft';
  vipBinding?: 'address' | 'local-route';
}): AgentState {
  const { model } = i;
  const draining = [...i.draining].map((d) => ({ serviceKey: d.serviceKey, server: serverKeyString(d.server), since: new Date(d.since).toISOString() }));
  const virtualServices: AgentState['virtualServices'] = [];
  for (const s of model.services()) {
    for (const [key, vs] of s.virtualServices) {
      // The model leaves forwarding and weight at their defaults; the state says them.
      const servers = [...vs.servers.values()].map((r): RealServer => ({ ...r, forward: r.forward ?? 'masq', weight: r.weight ?? 1 }));
      virtualServices.push({ key, service: vs.service, origin: vs.origin, servers, endpoints: [...vs.endpoints.values()] });
    }
  }
  const last = i.lastSync;
  return {
    node: i.node,
    mode: i.mode,
    source: i.source,
    startedAt: i.startedAt.toISOString(),
    synced: i.synced,
    lastSync: last ? { at: last.at.toISOString(), kind: last.result.kind, operations: last.result.operations, durationMs: last.result.durationMs, failures: last.result.failures.length } : undefined,
    virtualServices,
    ...(i.iptablesBackend ? { servicePorts: [...model.services()].flatMap((s) => [...s.ports]), iptablesBackend: i.iptablesBackend } : {}),
    boundAddresses: [...model.desired.boundAddresses],
    ...(i.vipBinding && i.mode === 'ipvs' ? { vipBinding: i.vipBinding } : {}),
    draining,
    // The model's own list: per-Service warnings plus virtual services claimed by two Services.
    warnings: model.warnings(),
    healthCheckNodePorts: [...model.healthCheckNodePorts()].map(([port, h]) => ({ port, service: h.service, localEndpoints: h.localEndpoints })),
  };
}

/**
 * Bounds on what the state socket accepts: it serves one read-only document, so anything beyond a short
 * GET is refused (4xx) and a client that is slow to send its request is disconnected.
 */
export const STATE_SOCKET_LIMITS = {
  /** Request line and headers together (node answers 431 beyond). */
  maxHeaderBytes: 4096,
  /** The request target ("/state"). */
  maxUrlLength: 256,
  /** Time to receive the headers, and the whole request. */
  headersTimeoutMs: 2000,
  requestTimeoutMs: 5000,
  /** Connections open at once. */
  maxConnections: 16,
};

export class StateServer {
  readonly #server: Server;

  constructor(private readonly path: string, snapshot: () => AgentState) {
    const L = STATE_SOCKET_LIMITS;
    this.#server = http.createServer({
      maxHeaderSize: L.maxHeaderBytes,
      headersTimeout: L.headersTimeoutMs,
      requestTimeout: L.requestTimeoutMs,
      // How often node enforces the two timeouts above (default 30 s).
      connectionsCheckingInterval: 250,
      keepAliveTimeout: 1000,
    }, (req, res) => {
      const refuse = (code: number, why: string, headers: OutgoingHttpHeaders = {}) => {
        res.writeHead(code, { 'Content-Type': 'text/plain', Connection: 'close', ...headers }).end(`${why}\n`);
      };
      const url = req.url ?? '';
      if (url.length > L.maxUrlLength) return refuse(414, `request target longer than ${L.maxUrlLength} characters`);
      if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'the state socket is read-only: GET /state', { Allow: 'GET, HEAD' });
      // A GET has no body; one announced (a length, or chunks) is refused without reading it.
      const length = req.headers['content-length'];
      if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) return refuse(413, 'requests to the state socket have no body');
      if (url.split('?')[0] !== '/state') return refuse(404, 'not found: GET /state');
      let body: string;
      try {
        body = JSON.stringify(snapshot());
      } catch (err) {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String((err as Error).message));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(req.method === 'HEAD' ? undefined : body);
    });
    this.#server.maxConnections = L.maxConnections;
  }

  /**
   * Listens on the socket, which is never accessible to others, not even for an instant: it is created
   * under umask 0177 (so 0600 from the start, where a chmod after listen leaves a window), in a directory
   * kipvs creates 0700 when it does not exist. Only root (or the agent's user) can read the state.
   */
  listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    // A socket file left by a previous run would make listen fail with EADDRINUSE.
    rmSync(this.path, { force: true });
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      // bind() runs within listen() for a unix socket, so the umask covers exactly its creation.
      const old = process.umask(0o177);
      try {
        this.#server.listen(this.path, () => {
          chmodSync(this.path, 0o600); // unchanged; kept in case the umask was not honoured
          resolve();
        });
      } finally {
        process.umask(old);
      }
    });
  }

  close(): void {
    this.#server.close();
    this.#server.closeAllConnections();
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
