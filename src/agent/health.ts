// kube-proxy's health endpoints: /healthz and /livez on healthzBindAddress, and the per-Service
// health-check node ports that load balancers probe for externalTrafficPolicy: Local.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** "0.0.0.0:10256", "[::]:10256", ":10256" → host and port. */
export function parseBindAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid bind address "${text}" (want host:port)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function listen(server: http.Server, bind: string): Promise<number> {
  const { host, port } = parseBindAddress(bind);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * The proxier's health, as kube-proxy judges it: unhealthy when an update has been queued and not
 * synced for longer than healthTimeout (2 × syncPeriod). /healthz also reports 503 when the node is
 * being deleted or drained by the cluster autoscaler, so load balancers stop sending to it; /livez
 * does not (the process itself is fine).
 */
export class ProxierHealth {
  #lastUpdated = 0;
  /** Oldest update queued and not yet synced; 0 when nothing is pending. */
  #oldestPending: number;
  #nodeEligible = true;

  constructor(readonly healthTimeoutMs: number, private readonly now: () => number = Date.now) {
    // Start-up counts as a queued update: an agent that never syncs is unhealthy.
    this.#oldestPending = now();
  }

  queued(): void {
    if (!this.#oldestPending) this.#oldestPending = this.now();
  }

  updated(): void {
    this.#lastUpdated = this.now();
    this.#oldestPending = 0;
  }

  setNodeEligible(eligible: boolean): void {
    this.#nodeEligible = eligible;
  }

  healthy(): boolean {
    return !this.#oldestPending || this.now() - this.#oldestPending <= this.healthTimeoutMs;
  }

  report(withNode: boolean): { status: number; body: string } {
    const ok = this.healthy() && (!withNode || this.#nodeEligible);
    const body: Record<string, unknown> = {
      lastUpdated: new Date(this.#lastUpdated).toISOString(),
      currentTime: new Date(this.now()).toISOString(),
    };
    if (withNode) body.nodeEligible = this.#nodeEligible;
    return { status: ok ? 200 : 503, body: JSON.stringify(body) };
  }

  handler(): http.RequestListener {
    return (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/healthz' && path !== '/livez') {
        res.writeHead(404).end('404 page not found\n');
        return;
      }
      const { status, body } = this.report(path === '/healthz');
      res.writeHead(status, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' }).end(body);
    };
  }
}

/** Is this node on its way out? (deletion requested, or tainted by the cluster autoscaler). */
export function nodeEligible(node: { metadata?: { deletionTimestamp?: unknown }; spec?: { taints?: { key?: string }[] } } | undefined): boolean {
  if (!node) return true;
  if (node.metadata?.deletionTimestamp) return false;
  return !(node.spec?.taints ?? []).some((t) => t.key === 'ToBeDeletedByClusterAutoscaler');
}

export interface HealthCheckService {
  /** "namespace/name" */
  service: string;
  localEndpoints: number;
}

/**
 * One HTTP server per healthCheckNodePort: 200 while the node has local endpoints for the
 * Service, 503 when it has none, so an external load balancer sends traffic only to nodes that
 * can serve it without a second hop.
 */
export class HealthCheckNodePorts {
  readonly #servers = new Map<number, { server: http.Server; state: HealthCheckService }>();

  constructor(private readonly host: string, private readonly log: { warn(o: object, m?: string): void }) {}

  get ports(): number[] {
    return [...this.#servers.keys()];
  }

  /** Bring the set of servers to `want` (port → service); returns when new ones listen. */
  async update(want: ReadonlyMap<number, HealthCheckService>): Promise<void> {
    for (const [port, s] of this.#servers) {
      if (!want.has(port)) {
        s.server.close();
        this.#servers.delete(port);
      }
    }
    const starting: Promise<unknown>[] = [];
    for (const [port, state] of want) {
      const cur = this.#servers.get(port);
      if (cur) {
        cur.state = { ...state };
        continue;
      }
      const entry = { server: http.createServer(), state: { ...state } };
      entry.server.on('request', (_req, res) => {
        const [namespace, name] = entry.state.service.split('/');
        const n = entry.state.localEndpoints;
        res.writeHead(n > 0 ? 200 : 503, {
          'Content-Type': 'application/json',
          'X-Content-Type-Options': 'nosniff',
          'X-Load-Balancing-Endpoint-Weight': String(n),
        }).end(JSON.stringify({ service: { namespace, name }, localEndpoints: n, serviceProxyHealthy: true }));
      });
      this.#servers.set(port, entry);
      starting.push(
        new Promise<void>((resolve) => {
          entry.server.once('error', (err) => {
            this.log.warn({ port, service: state.service, err: err.message }, 'cannot serve health check node port');
            this.#servers.delete(port);
            resolve();
          });
          entry.server.listen(port, this.host, () => resolve());
        }),
      );
    }
    await Promise.all(starting);
  }

  close(): void {
    for (const s of this.#servers.values()) s.server.close();
    this.#servers.clear();
  }
}
