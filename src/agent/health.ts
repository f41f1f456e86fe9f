// kube-proxy's health endpoints: /healthz and /livez on healthzBindAddress, and the per-Service
// health-check node ports that load balancers probe for externalTrafficPolicy: Local.
import type { RequestListener, Server } from 'node:http';
import { http } from '../runtime/http.js';
import type { AddressInfo } from 'node:net';
import type { Family } from '../netlink/address.js';

/** "0.0.0.0:10256", "[::]:10256", ":10256" → host and port. */
export function parseBindAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid bind address "${text}" (want host:port)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function listen(server: Server, bind: string): Promise<number> {
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
 * The proxier's health, as kube-proxy judges it, per IP family: a family is unhealthy when an update
 * has been queued for it and not synced for healthTimeout (2 × syncPeriod) or longer; the proxier is
 * healthy when every family is. /healthz also reports 503 when the node is being deleted or drained by
 * the cluster autoscaler, so load balancers stop sending to it; /livez does not (the process itself is
 * fine). Unlike kube-proxy, start-up counts as a queued update for each family: an agent that never
 * syncs turns unhealthy instead of staying healthy forever.
 */
export class ProxierHealth {
  readonly #lastUpdated = new Map<string, number>();
  /** Per family: the oldest update queued and not yet synced. */
  readonly #oldestPending = new Map<string, number>();
  #nodeEligible = true;
  /** Called with the endpoint and the status of every /healthz and /livez answer (the *_total counters). */
  onReport: ((endpoint: 'healthz' | 'livez', code: number) => void) | undefined;

  constructor(readonly healthTimeoutMs: number, private readonly now: () => number = Date.now, families: readonly string[] = ['IPv4']) {
    const t = now();
    for (const f of families) this.#oldestPending.set(f, t);
  }

  /** Start tracking `families` (the ones the node programs): each counts as queued from now until its first sync. */
  track(families: readonly string[]): void {
    const t = this.now();
    for (const f of families) if (!this.#lastUpdated.has(f) && !this.#oldestPending.has(f)) this.#oldestPending.set(f, t);
  }

  /** A change for `family` was received and is not programmed yet (the oldest pending one counts). */
  queued(family = 'IPv4'): void {
    if (!this.#oldestPending.has(family)) this.#oldestPending.set(family, this.now());
  }

  /**
   * `family` was synced: what was queued before that sync took the changes is programmed. Changes
   * received while it ran (`pendingSince`: when the first of them came) are not in it, and stay
   * pending from then: a sync already under way when a change came must not clear it (if the sync
   * for that change then failed, the proxier reported healthy with the change never programmed).
   */
  updated(family = 'IPv4', pendingSince?: number): void {
    if (pendingSince === undefined) this.#oldestPending.delete(family);
    else this.#oldestPending.set(family, pendingSince);
    this.#lastUpdated.set(family, this.now());
  }

  setNodeEligible(eligible: boolean): void {
    this.#nodeEligible = eligible;
  }

  get nodeEligible(): boolean {
    return this.#nodeEligible;
  }

  /** The proxier's own health (the node's eligibility aside), and the last update time to report. */
  status(): { healthy: boolean; lastUpdated: number } {
    const now = this.now();
    let last = 0;
    for (const t of this.#lastUpdated.values()) last = Math.max(last, t);
    for (const [family, since] of this.#oldestPending) {
      if (now - since >= this.healthTimeoutMs) return { healthy: false, lastUpdated: this.#lastUpdated.get(family) ?? 0 };
    }
    return { healthy: true, lastUpdated: last };
  }

  healthy(): boolean {
    return this.status().healthy;
  }

  /**
   * kube-proxy's answer: 200 or 503, and {lastUpdated, currentTime[, nodeEligible]}. A healthy answer
   * reports lastUpdated as the current time (kube-proxy keeps that older meaning of the field).
   */
  report(withNode: boolean): { status: number; body: string } {
    const now = this.now();
    const st = this.status();
    const ok = st.healthy && (!withNode || this.#nodeEligible);
    const body: Record<string, unknown> = {
      lastUpdated: new Date(ok ? now : st.lastUpdated).toISOString(),
      currentTime: new Date(now).toISOString(),
    };
    if (withNode) body.nodeEligible = this.#nodeEligible;
    return { status: ok ? 200 : 503, body: JSON.stringify(body) };
  }

  handler(): RequestListener {
    return (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/healthz' && path !== '/livez') {
        res.writeHead(404).end('404 page not found\n');
        return;
      }
      const { status, body } = this.report(path === '/healthz');
      this.onReport?.(path === '/healthz' ? 'healthz' : 'livez', status);
      res.writeHead(status, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' }).end(body);
    };
  }
}

/** Is this node on its way out? (deletion requested, or tainted by the cluster autoscaler). */
export function nodeEligible(node: { metadata?: { deletionTimestamp?: unknown }; spec?: { taints?: { key?: string }[] } } | undefined): boolean {
  if (!node) return true;
  if (node.metadata?.deletionTimestamp) return false;
  // Any shape is accepted here (the model warns about a malformed Node): a list of taints, or none.
  const taints = node.spec?.taints as unknown;
  return !(Array.isArray(taints) && taints.some((t) => (t as { key?: unknown } | null)?.key === 'ToBeDeletedByClusterAutoscaler'));
}

export interface HealthCheckService {
  /** "namespace/name" */
  service: string;
  localEndpoints: number;
}

/**
 * Where the health-check node ports listen, as kube-proxy: with nodePortAddresses unset, everywhere (one
 * wildcard socket: "::" takes IPv4 too, "0.0.0.0" when the node has no IPv6); else on each address they
 * select (`nodePortAddrs`, both families) of a family the node programs.
 */
export function healthCheckHosts(nodePortConfig: readonly string[], nodePortAddrs: readonly string[], families: readonly Family[]): string[] {
  if (nodePortConfig.length === 0) return [families.includes('inet6') ? '::' : '0.0.0.0'];
  return nodePortAddrs.filter((a) => families.includes(a.includes(':') ? 'inet6' : 'inet'));
}

/** kube-proxy's health-check answer for a Service: its status and JSON body (tab-indented, as kube-proxy's). */
export function healthCheckAnswer(service: string, localEndpoints: number, proxyHealthy: boolean): { status: number; body: string } {
  const slash = service.indexOf('/');
  const body = {
    service: { namespace: service.slice(0, slash), name: service.slice(slash + 1) },
    localEndpoints,
    serviceProxyHealthy: proxyHealthy,
  };
  return { status: localEndpoints > 0 && proxyHealthy ? 200 : 503, body: JSON.stringify(body, null, '\t') };
}

/**
 * The healthCheckNodePort servers: 200 while the node has local endpoints for the Service and the
 * proxier is healthy, 503 otherwise, so an external load balancer sends traffic only to nodes that
 * can serve it without a second hop. Each port listens on every address in `hosts` (the node's
 * nodePortAddresses of both families; a wildcard when nodePortAddresses is unset).
 */
export class HealthCheckNodePorts {
  readonly #servers = new Map<number, { servers: Server[]; state: HealthCheckService }>();
  #hosts: string[] = [];

  constructor(private readonly proxyHealthy: () => boolean, private readonly log: { warn(o: object, m?: string): void }) {}

  get ports(): number[] {
    return [...this.#servers.keys()];
  }

  /**
   * Bring the servers to `want` (port → service) on `hosts`; returns when new ones listen. A port that
   * cannot be opened on one of the hosts is closed on all and retried at the next update, as kube-proxy's.
   */
  async update(want: ReadonlyMap<number, HealthCheckService>, hosts: readonly string[]): Promise<void> {
    const rehost = hosts.join() !== this.#hosts.join();
    this.#hosts = [...hosts];
    for (const [port, s] of this.#servers) {
      if (rehost || !want.has(port) || want.get(port)!.service !== s.state.service) {
        for (const server of s.servers) server.close();
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
      const entry = { servers: [] as Server[], state: { ...state } };
      this.#servers.set(port, entry);
      starting.push(this.#open(port, entry));
    }
    await Promise.all(starting);
  }

  async #open(port: number, entry: { servers: Server[]; state: HealthCheckService }): Promise<void> {
    const onRequest: RequestListener = (_req, res) => {
      const n = entry.state.localEndpoints;
      const { status, body } = healthCheckAnswer(entry.state.service, n, this.proxyHealthy());
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'X-Content-Type-Options': 'nosniff',
        'X-Load-Balancing-Endpoint-Weight': String(n),
      }).end(body);
    };
    const results = await Promise.all(this.#hosts.map((host) => new Promise<Server | Error>((resolve) => {
      const server = http.createServer(onRequest);
      server.once('error', (err) => resolve(err));
      server.listen(port, host, () => resolve(server));
    })));
    const failed = results.find((r): r is Error => r instanceof Error);
    const servers = results.filter((r): r is Server => !(r instanceof Error));
    if (failed || this.#servers.get(port) !== entry) {
      for (const s of servers) s.close();
      if (this.#servers.get(port) === entry) this.#servers.delete(port);
      if (failed) this.log.warn({ port, service: entry.state.service, err: failed.message }, 'cannot serve health check node port');
      return;
    }
    entry.servers = servers;
  }

  close(): void {
    for (const s of this.#servers.values()) for (const server of s.servers) server.close();
    this.#servers.clear();
  }
}
