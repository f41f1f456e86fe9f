// A fake Kubernetes API server for tests: node's http only, speaking the real list/watch protocol well
// enough for @kubernetes/client-node's informers (ListWatch + Watch) to run against it unchanged.
//
// What it implements, as kube-apiserver does:
// - resources: services (v1), endpointslices (discovery.k8s.io/v1), nodes (v1, cluster-scoped);
//   cluster-wide list paths, namespaced list paths, and GET of one object;
// - one monotonically increasing resourceVersion for every change (etcd's revision);
// - list: {kind: XList, apiVersion, metadata: {resourceVersion, continue?}, items} (items without kind and
//   apiVersion, as the real server sends them), `limit`/`continue` pagination over a consistent snapshot at
//   the first page's resourceVersion; a continue token older than the compaction point answers HTTP 410;
// - watch (watch=1|true): a chunked stream of newline-delimited {type, object} events, ADDED / MODIFIED /
//   DELETED, BOOKMARK when allowWatchBookmarks=true; without resourceVersion (or "0") it starts with a
//   synthetic ADDED per existing object; with resourceVersion=N it replays every change after N; when N is
//   older than the compaction point it sends an ERROR event carrying a 410 "Expired" Status and closes,
//   as the real server's watch cache does (or answers HTTP 410, with `goneAs: 'http'`);
// - timeoutSeconds closes the watch after that many seconds;
// - labelSelector: key=value, key==value, key!=value, key, !key, key in (a,b), key notin (a,b);
//   fieldSelector: metadata.name and metadata.namespace with = / == / != (others answer 400).
// Test controls: create/update/delete, compact(), closeWatches(), bookmark(), setDown(), delayLists(), requests.
// Fault injection (the soak, test/soak): expireNextWatches(), fail500For(), stallResponses(), goAwayFor().
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
// The benchmark's processes load this server: node:http the cheap way, as the agent takes it.
import { http } from '../../src/runtime/http.js';
import type { AddressInfo, Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { KubeConfig, type KubernetesObject, type V1ObjectMeta } from '#client-node';

/** What create/update return: the stored copy, with the server-set metadata. */
export type Stored<T> = T & { metadata: V1ObjectMeta };

export type ResourceName = 'services' | 'endpointslices' | 'nodes';

interface ResourceInfo {
  name: ResourceName;
  kind: string;
  apiVersion: string;
  /** URL prefix: /api/v1 or /apis/<group>/<version> */
  prefix: string;
  namespaced: boolean;
}

const RESOURCES: ResourceInfo[] = [
  { name: 'services', kind: 'Service', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  { name: 'endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', prefix: '/apis/discovery.k8s.io/v1', namespaced: true },
  { name: 'nodes', kind: 'Node', apiVersion: 'v1', prefix: '/api/v1', namespaced: false },
];

function resourceForKind(kind: string | undefined): ResourceInfo {
  const r = RESOURCES.find((x) => x.kind === kind);
  if (!r) throw new Error(`fake-apiserver: unsupported kind ${String(kind)}`);
  return r;
}

/** A plain JSON Kubernetes object as stored. */
export type Obj = KubernetesObject & { metadata: NonNullable<KubernetesObject['metadata']> } & Record<string, unknown>;

interface HistoryEntry {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resource: ResourceName;
  key: string;
  /** The object after the change (for DELETED: its last state, stamped with the deletion's version). */
  obj: Obj;
  /** The object before the change (undefined for ADDED). */
  prev: Obj | undefined;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  watch: boolean;
  status: number;
  /** The Authorization header, if any. */
  authorization?: string;
}

interface WatchConn {
  resource: ResourceName;
  namespace: string | undefined;
  match: (o: Obj) => boolean;
  bookmarks: boolean;
  res: ServerResponse;
  timer: NodeJS.Timeout | undefined;
  closed: boolean;
}

export interface FakeApiServerOptions {
  /** How a watch from a compacted resourceVersion is refused: an ERROR event in a 200 stream (the real
   *  server's watch cache; default), or an HTTP 410 answer. */
  goneAs?: 'event' | 'http';
  /** Send a BOOKMARK to bookmark-enabled watches this often (ms); 0 (default) = only when bookmark() is called. */
  bookmarkIntervalMs?: number;
}

export type Selector = (labels: Record<string, string>) => boolean;

/** Parses a label selector as the API server accepts it; throws on a malformed one. */
export function parseLabelSelector(text: string): Selector {
  const terms: string[] = [];
  let depth = 0, cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { terms.push(cur); cur = ''; } else cur += ch;
  }
  terms.push(cur);
  const tests: Selector[] = [];
  const keyRe = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;
  const checkKey = (k: string): string => {
    if (!keyRe.test(k)) throw new Error(`invalid label key "${k}"`);
    return k;
  };
  for (const raw of terms) {
    const t = raw.trim();
    if (t === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t))) {
      const key = checkKey(m[1]!), values = new Set(m[3]!.split(',').map((v) => v.trim()));
      tests.push(m[2] === 'in'
        ? (l) => key in l && values.has(l[key]!)
        : (l) => !(key in l) || !values.has(l[key]!));
    } else if ((m = /^([^!=\s]+)\s*!=\s*(\S*)$/.exec(t))) {
      const key = checkKey(m[1]!), value = m[2]!;
      tests.push((l) => l[key] !== value);
    } else if ((m = /^([^!=\s]+)\s*==?\s*(\S*)$/.exec(t))) {
      const key = checkKey(m[1]!), value = m[2]!;
      tests.push((l) => l[key] === value);
    } else if ((m = /^!\s*(\S+)$/.exec(t))) {
      const key = checkKey(m[1]!);
      tests.push((l) => !(key in l));
    } else {
      const key = checkKey(t);
      tests.push((l) => key in l);
    }
  }
  return (l) => tests.every((f) => f(l));
}

/** Parses a field selector (metadata.name / metadata.namespace only); throws on anything else. */
export function parseFieldSelector(text: string): (o: Obj) => boolean {
  const tests: ((o: Obj) => boolean)[] = [];
  for (const raw of text.split(',')) {
    const t = raw.trim();
    if (t === '') continue;
    const m = /^([A-Za-z.]+)\s*(==|!=|=)\s*(.*)$/.exec(t);
    if (!m) throw new Error(`invalid field selector term "${t}"`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    let get: (o: Obj) => string;
    if (field === 'metadata.name') get = (o) => o.metadata.name ?? '';
    else if (field === 'metadata.namespace') get = (o) => o.metadata.namespace ?? '';
    else throw new Error(`field label not supported: ${field}`);
    tests.push(op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value);
  }
  return (o) => tests.every((f) => f(o));
}

function statusBody(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const keyOf = (o: Obj): string => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

export class FakeApiServer {
  /** Every request received, in order (also those refused while down). */
  readonly requests: RequestRecord[] = [];
  private readonly store = new Map<ResourceName, Map<string, Obj>>(RESOURCES.map((r) => [r.name, new Map()]));
  private history: HistoryEntry[] = [];
  private rv = 1;
  private compactedRv = 0;
  private watches = new Set<WatchConn>();
  private sockets = new Set<Socket>();
  private server: Server | undefined;
  private down: false | 'reset' | '503' | 'refuse' = false;
  private port = 0;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private baseUrl = '';
  private listDelay = 0;
  private stall: false | 'headers' | 'silent' = false;
  private stalled = new Set<ServerResponse>();

  constructor(private readonly options: FakeApiServerOptions = {}) {}

  /** Listens on 127.0.0.1 with an ephemeral port. */
  async start(): Promise<{ url: string }> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      if (this.down === 'reset') { s.destroy(); return; }
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await this.listen(server, 0);
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    if (this.options.bookmarkIntervalMs) {
      this.bookmarkTimer = setInterval(() => this.bookmark(), this.options.bookmarkIntervalMs);
      this.bookmarkTimer.unref();
    }
    return { url: this.baseUrl };
  }

  get url(): string { return this.baseUrl; }

  async stop(): Promise<void> {
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    this.closeWatches();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Writes kubeConfig() to a file (client-node's JSON export, which is YAML). */
  writeKubeconfig(path: string): void {
    writeFileSync(path, this.kubeConfig().exportConfig() + '\n');
  }

  /**
   * A kubeconfig pointing at this server with a dummy token. client-node refuses plain http unless the
   * cluster says insecure-skip-tls-verify (skipTLSVerify).
   */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.baseUrl, skipTLSVerify: true }],
      users: [{ name: 'fake', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** The latest resourceVersion handed out. */
  get resourceVersion(): string { return String(this.rv); }

  // ---- store -------------------------------------------------------------------------------------

  /** Stores a new object (kind decides the resource) and returns the stored copy. */
  create<T extends KubernetesObject>(input: T): Stored<T> {
    const r = resourceForKind(input.kind);
    const obj = clone(input) as unknown as Obj;
    obj.apiVersion = r.apiVersion;
    obj.metadata = obj.metadata ?? {};
    if (!obj.metadata.name) throw new Error('fake-apiserver: metadata.name is required');
    if (r.namespaced) obj.metadata.namespace = obj.metadata.namespace || 'default';
    else delete obj.metadata.namespace;
    const key = keyOf(obj);
    const map = this.store.get(r.name)!;
    if (map.has(key)) throw new Error(`fake-apiserver: ${r.kind} ${key} already exists`);
    obj.metadata.uid = obj.metadata.uid ?? randomUUID();
    obj.metadata.creationTimestamp = (obj.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z')) as never;
    obj.metadata.generation = 1;
    obj.metadata.resourceVersion = String(++this.rv);
    map.set(key, obj);
    this.record({ rv: this.rv, type: 'ADDED', resource: r.name, key, obj, prev: undefined });
    return clone(obj) as unknown as Stored<T>;
  }

  /** Replaces an existing object (matched by kind/namespace/name); bumps its resourceVersion. */
  update<T extends KubernetesObject>(input: T): Stored<T> {
    const r = resourceForKind(input.kind);
    const obj = clone(input) as unknown as Obj;
    obj.apiVersion = r.apiVersion;
    if (r.namespaced) obj.metadata.namespace = obj.metadata.namespace || 'default';
    const key = keyOf(obj);
    const map = this.store.get(r.name)!;
    const prev = map.get(key);
    if (!prev) throw new Error(`fake-apiserver: ${r.kind} ${key} not found`);
    obj.metadata.uid = prev.metadata.uid;
    obj.metadata.creationTimestamp = prev.metadata.creationTimestamp;
    obj.metadata.generation = (prev.metadata.generation ?? 1) + 1;
    obj.metadata.resourceVersion = String(++this.rv);
    map.set(key, obj);
    this.record({ rv: this.rv, type: 'MODIFIED', resource: r.name, key, obj, prev });
    return clone(obj) as unknown as Stored<T>;
  }

  /** Creates or updates. */
  apply<T extends KubernetesObject>(input: T): Stored<T> {
    const r = resourceForKind(input.kind);
    const ns = r.namespaced ? input.metadata?.namespace || 'default' : '';
    return this.store.get(r.name)!.has(`${ns}/${input.metadata?.name ?? ''}`) ? this.update(input) : this.create(input);
  }

  /** Deletes an object (only kind, metadata.namespace and metadata.name are looked at). */
  delete(input: KubernetesObject): void {
    const r = resourceForKind(input.kind);
    const ns = r.namespaced ? input.metadata?.namespace || 'default' : '';
    const key = `${ns}/${input.metadata?.name ?? ''}`;
    const map = this.store.get(r.name)!;
    const prev = map.get(key);
    if (!prev) throw new Error(`fake-apiserver: ${r.kind} ${key} not found`);
    map.delete(key);
    const obj = clone(prev);
    obj.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, type: 'DELETED', resource: r.name, key, obj, prev });
  }

  /** The stored objects of a kind (copies). */
  list(kind: string): Obj[] {
    return [...this.store.get(resourceForKind(kind).name)!.values()].map(clone);
  }

  /** Forgets the history up to now: any watch or continue token from an older resourceVersion gets 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** Ends every open watch stream cleanly (as a server-side timeout does). */
  closeWatches(): void {
    for (const w of [...this.watches]) this.endWatch(w);
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  bookmark(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const r = RESOURCES.find((x) => x.name === w.resource)!;
      this.send(w, { type: 'BOOKMARK', object: { kind: r.kind, apiVersion: r.apiVersion, metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Delays every list answer by ms (0: none), e.g. to stop a client in the middle of a list. */
  delayLists(ms: number): void {
    this.listDelay = ms;
  }

  /** Number of open watch streams. */
  get openWatches(): number { return this.watches.size; }

  /**
   * Stall mode, for stuck-watch tests: while on, a new watch request is accepted and then nothing more
   * happens on it (no event, no bookmark, no timeoutSeconds close), with its connection left open, as a
   * watch behind a dead proxy or a wedged server looks. 'headers' answers 200 first; 'silent' sends not
   * even that. Watches already open, lists and everything else are unaffected; stalled connections stay
   * stalled after the mode is turned off (until the client goes or the server stops).
   */
  stallWatches(how: 'headers' | 'silent' | false): void {
    this.stall = how;
  }

  /** Watch requests being held by stall mode (connections still open). */
  get stalledWatches(): number { return this.stalled.size; }

  private serveStalledWatch(res: ServerResponse, rec: RequestRecord): void {
    if (this.stall === 'headers') {
      rec.status = 200;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      res.flushHeaders();
    }
    this.stalled.add(res);
    res.on('close', () => this.stalled.delete(res));
  }

  /**
   * Takes the server down or up. Down: open watches and connections are cut, then every new request is
   * answered 503 (default), or its connection is reset once accepted ('reset'), or the port stops listening
   * so connections are refused ('refuse'; back up, it listens on the same port again).
   */
  async setDown(down: boolean, how: 'reset' | '503' | 'refuse' = '503'): Promise<void> {
    const was = this.down;
    this.down = down ? how : false;
    if (down) {
      for (const w of [...this.watches]) { w.closed = true; this.watches.delete(w); if (w.timer) clearTimeout(w.timer); }
      for (const s of this.sockets) s.destroy();
      if (how === 'refuse' && was !== 'refuse' && this.server?.listening) {
        await new Promise<void>((resolve) => this.server!.close(() => resolve()));
      }
    }
    if (this.down !== 'refuse' && this.server && !this.server.listening) await this.listen(this.server, this.port);
  }

  private listen(server: Server, port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  private record(e: HistoryEntry): void {
    this.history.push(e);
    for (const w of this.watches) {
      if (w.resource !== e.resource) continue;
      this.sendChange(w, e);
    }
  }

  /** Sends a change to a watch with the selector semantics of the real server: an object that moves out
   *  of the selection is sent as DELETED, one that moves into it as ADDED. */
  private sendChange(w: WatchConn, e: HistoryEntry): void {
    if (w.namespace !== undefined && e.obj.metadata.namespace !== w.namespace) return;
    const now = w.match(e.obj);
    const before = e.prev !== undefined && w.match(e.prev);
    let type: string;
    if (e.type === 'DELETED') { if (!before) return; type = 'DELETED'; }
    else if (e.type === 'ADDED') { if (!now) return; type = 'ADDED'; }
    else if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) type = 'DELETED';
    else return;
    this.send(w, { type, object: e.obj });
  }

  private send(w: WatchConn, event: unknown): void {
    if (w.closed) return;
    if (this.faultHoldsEvent(w, event)) return;
    w.res.write(JSON.stringify(event) + '\n');
  }

  private endWatch(w: WatchConn): void {
    if (w.closed) return;
    w.closed = true;
    if (w.timer) clearTimeout(w.timer);
    this.watches.delete(w);
    w.res.end();
  }

  private reply(res: ServerResponse, rec: RequestRecord, status: number, body: unknown): void {
    rec.status = status;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** events.k8s.io/v1 Events the clients created, in order (the only writes this server takes). */
  readonly events: Obj[] = [];

  private acceptEvent(req: IncomingMessage, res: ServerResponse, rec: RequestRecord, namespace: string): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      let ev: Obj;
      try {
        ev = JSON.parse(body) as Obj;
      } catch {
        this.reply(res, rec, 400, statusBody(400, 'BadRequest', 'the body is not JSON'));
        return;
      }
      // The real server decodes eventTime as a MicroTime: RFC 3339 with exactly six fractional digits
      // (Go's layout "2006-01-02T15:04:05.000000Z07:00"); a Date's toISOString() (three) is refused.
      const eventTime = (ev as { eventTime?: unknown }).eventTime;
      if (typeof eventTime !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/.test(eventTime)) {
        this.reply(res, rec, 400, statusBody(400, 'BadRequest', `Event in version "v1" cannot be handled as a Event: parsing time ${JSON.stringify(eventTime)} as "2006-01-02T15:04:05.000000Z07:00"`));
        return;
      }
      if (ev.metadata?.namespace !== undefined && ev.metadata.namespace !== namespace) {
        this.reply(res, rec, 400, statusBody(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
        return;
      }
      const name = ev.metadata?.name ?? `${ev.metadata?.generateName ?? 'event.'}${(this.events.length + 1).toString(36)}`;
      const stored = { ...ev, metadata: { ...ev.metadata, name, namespace } } as Obj;
      this.events.push(stored);
      this.reply(res, rec, 201, stored);
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const watch = query.watch === '1' || query.watch === 'true';
    const rec: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query, watch, status: 0 };
    if (req.headers.authorization !== undefined) rec.authorization = req.headers.authorization;
    this.requests.push(rec);
    if (this.faultIntercepts(req, res, rec, watch)) return;
    if (this.down) {
      if (this.down === 'reset') { req.socket.destroy(); return; }
      this.reply(res, rec, 503, statusBody(503, 'ServiceUnavailable', 'the fake API server is down'));
      return;
    }
    const eventPath = /^\/apis\/events\.k8s\.io\/v1\/namespaces\/([^/]+)\/events$/.exec(url.pathname);
    if (req.method === 'POST' && eventPath) {
      this.acceptEvent(req, res, rec, eventPath[1]!);
      return;
    }
    if (req.method !== 'GET') {
      this.reply(res, rec, 405, statusBody(405, 'MethodNotAllowed', `${req.method} is not supported by the fake API server`));
      return;
    }
    const route = this.route(url.pathname);
    if (!route) {
      this.reply(res, rec, 404, statusBody(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
      return;
    }
    let labelMatch: Selector = () => true;
    let fieldMatch: (o: Obj) => boolean = () => true;
    try {
      if (query.labelSelector) labelMatch = parseLabelSelector(query.labelSelector);
      if (query.fieldSelector) fieldMatch = parseFieldSelector(query.fieldSelector);
    } catch (err) {
      this.reply(res, rec, 400, statusBody(400, 'BadRequest', (err as Error).message));
      return;
    }
    const match = (o: Obj): boolean => labelMatch(o.metadata.labels ?? {}) && fieldMatch(o);
    const { info, namespace, name } = route;
    if (name !== undefined) {
      const obj = this.store.get(info.name)!.get(`${namespace ?? ''}/${name}`);
      if (!obj) this.reply(res, rec, 404, statusBody(404, 'NotFound', `${info.name} "${name}" not found`));
      else this.reply(res, rec, 200, { kind: info.kind, ...obj });
      return;
    }
    if (watch) this.serveWatch(req, res, rec, info, namespace, match, query);
    else if (this.listDelay > 0) setTimeout(() => { if (!res.destroyed) this.serveList(res, rec, info, namespace, match, query); }, this.listDelay);
    else this.serveList(res, rec, info, namespace, match, query);
  }

  private route(path: string): { info: ResourceInfo; namespace: string | undefined; name: string | undefined } | undefined {
    for (const info of RESOURCES) {
      if (!path.startsWith(info.prefix + '/')) continue;
      const parts = path.slice(info.prefix.length + 1).split('/').filter((p) => p !== '').map(decodeURIComponent);
      if (parts[0] === info.name && parts.length <= 2) {
        if (parts.length === 2 && info.namespaced) return undefined; // a namespaced object needs a namespace
        return { info, namespace: undefined, name: parts[1] };
      }
      if (info.namespaced && parts[0] === 'namespaces' && parts[2] === info.name && parts.length >= 3 && parts.length <= 4) {
        return { info, namespace: parts[1], name: parts[3] };
      }
    }
    return undefined;
  }

  /** The objects of a resource as they were at resourceVersion `at` (history since compaction allows it). */
  private snapshotAt(resource: ResourceName, at: number): Map<string, Obj> {
    const snap = new Map(this.store.get(resource)!);
    for (let i = this.history.length - 1; i >= 0; i--) {
      const e = this.history[i]!;
      if (e.rv <= at) break;
      if (e.resource !== resource) continue;
      if (e.prev === undefined) snap.delete(e.key);
      else snap.set(e.key, e.prev);
    }
    return snap;
  }

  private serveList(res: ServerResponse, rec: RequestRecord, info: ResourceInfo, namespace: string | undefined,
                    match: (o: Obj) => boolean, query: Record<string, string>): void {
    let at = this.rv;
    let after = '';
    if (query.continue) {
      let token: { rv: number; after: string };
      try {
        token = JSON.parse(Buffer.from(query.continue, 'base64url').toString()) as { rv: number; after: string };
      } catch {
        this.reply(res, rec, 400, statusBody(400, 'BadRequest', 'invalid continue token'));
        return;
      }
      if (token.rv < this.compactedRv) {
        this.reply(res, rec, 410, statusBody(410, 'Expired',
          `The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results.`));
        return;
      }
      at = token.rv;
      after = token.after;
    }
    const snap = at === this.rv ? this.store.get(info.name)! : this.snapshotAt(info.name, at);
    const keys = [...snap.keys()].sort();
    const items: Obj[] = [];
    const limit = query.limit ? Number(query.limit) : 0;
    let cont: string | undefined;
    for (const key of keys) {
      if (after && key <= after) continue;
      const o = snap.get(key)!;
      if (namespace !== undefined && o.metadata.namespace !== namespace) continue;
      if (!match(o)) continue;
      if (limit > 0 && items.length === limit) {
        cont = Buffer.from(JSON.stringify({ rv: at, after: keyOf(items[items.length - 1]!) })).toString('base64url');
        break;
      }
      const item = clone(o) as Record<string, unknown>;
      delete item.kind;
      delete item.apiVersion;
      items.push(item as Obj);
    }
    const metadata: Record<string, string> = { resourceVersion: String(at) };
    if (cont) metadata.continue = cont;
    this.reply(res, rec, 200, { kind: `${info.kind}List`, apiVersion: info.apiVersion, metadata, items });
  }

  private serveWatch(req: IncomingMessage, res: ServerResponse, rec: RequestRecord, info: ResourceInfo,
                     namespace: string | undefined, match: (o: Obj) => boolean, query: Record<string, string>): void {
    if (this.stall) return this.serveStalledWatch(res, rec);
    const from = query.resourceVersion ?? '';
    const fromRv = from === '' || from === '0' ? undefined : Number(from);
    if (fromRv !== undefined && !Number.isFinite(fromRv)) {
      this.reply(res, rec, 400, statusBody(400, 'BadRequest', `invalid resourceVersion "${from}"`));
      return;
    }
    const gone = fromRv !== undefined && fromRv < this.compactedRv;
    if (gone && this.options.goneAs === 'http') {
      this.reply(res, rec, 410, statusBody(410, 'Expired', `too old resource version: ${fromRv} (${this.compactedRv})`));
      return;
    }
    rec.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: WatchConn = { resource: info.name, namespace, match, bookmarks: query.allowWatchBookmarks === 'true' || query.allowWatchBookmarks === '1', res, timer: undefined, closed: false };
    if (gone) {
      this.send(w, { type: 'ERROR', object: statusBody(410, 'Expired', `too old resource version: ${fromRv} (${this.compactedRv})`) });
      w.closed = true;
      res.end();
      return;
    }
    if (fromRv === undefined) {
      for (const key of [...this.store.get(info.name)!.keys()].sort()) {
        const o = this.store.get(info.name)!.get(key)!;
        if (namespace !== undefined && o.metadata.namespace !== namespace) continue;
        if (match(o)) this.send(w, { type: 'ADDED', object: o });
      }
    } else {
      for (const e of this.history) if (e.rv > fromRv && e.resource === info.name) this.sendChange(w, e);
    }
    // A client that went away while the watch was being set up (an informer stopped at that moment)
    // has already fired 'close': counting its watch as open would leave it open forever.
    if (res.destroyed || req.socket.destroyed) {
      w.closed = true;
      return;
    }
    this.watches.add(w);
    const timeout = query.timeoutSeconds ? Number(query.timeoutSeconds) : 0;
    if (timeout > 0) w.timer = setTimeout(() => this.endWatch(w), timeout * 1000);
    const drop = (): void => { w.closed = true; if (w.timer) clearTimeout(w.timer); this.watches.delete(w); };
    req.on('close', drop);
    res.on('close', drop);
  }

  // ---- fault injection (the soak) -----------------------------------------------------------------
  // Kept apart from the protocol above: each fault is a state with an end, consulted by two hooks,
  // faultIntercepts() at the top of handle() and faultHoldsEvent() in send().

  private expireWatches = 0;
  private fail500Until = 0;
  private stallUntil = 0;
  private stalledRequests: (() => void)[] = [];
  private stalledEvents: { w: WatchConn; event: unknown }[] = [];
  private stallTimer: NodeJS.Timeout | undefined;

  /** The next `n` watch requests are answered HTTP 410 Expired, whatever their resourceVersion. */
  expireNextWatches(n = 1): void {
    this.expireWatches += n;
  }

  /** Every request for the next `ms` is answered HTTP 500 (open watches are left alone). */
  fail500For(ms: number): void {
    this.fail500Until = Date.now() + ms;
  }

  /**
   * For the next `ms` nothing is answered: new requests wait (lists, watches, gets), and events for
   * open watches are held back. Then everything held is served in order, as a server that hung and
   * recovered would.
   */
  stallResponses(ms: number): void {
    this.stallUntil = Date.now() + ms;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => this.endStall(), ms);
    this.stallTimer.unref();
  }

  /** Closes the listener (connections refused, open ones cut) for `ms`, then listens on the same port. */
  async goAwayFor(ms: number): Promise<void> {
    await this.setDown(true, 'refuse');
    await new Promise((r) => setTimeout(r, ms));
    await this.setDown(false);
  }

  /** Which fault is in force now, if any (for the soak's bookkeeping). */
  get activeFault(): string | undefined {
    if (this.down) return `down (${this.down})`;
    if (Date.now() < this.stallUntil) return 'stalled';
    if (Date.now() < this.fail500Until) return '500s';
    return undefined;
  }

  private endStall(): void {
    this.stallUntil = 0;
    this.stallTimer = undefined;
    const events = this.stalledEvents;
    const requests = this.stalledRequests;
    this.stalledEvents = [];
    this.stalledRequests = [];
    for (const { w, event } of events) this.send(w, event);
    for (const run of requests) run();
  }

  private faultIntercepts(req: IncomingMessage, res: ServerResponse, rec: RequestRecord, watch: boolean): boolean {
    if (this.stallTimer !== undefined) { // (until endStall() has run: see faultHoldsEvent)
      // Served once the stall ends, unless the client gave up meanwhile. The request was recorded already.
      this.requests.pop();
      this.stalledRequests.push(() => { if (!res.destroyed && !req.socket.destroyed) this.handle(req, res); });
      return true;
    }
    if (Date.now() < this.fail500Until) {
      this.reply(res, rec, 500, statusBody(500, 'InternalError', 'the fake API server fails on purpose (fail500For)'));
      return true;
    }
    if (watch && this.expireWatches > 0) {
      this.expireWatches--;
      this.reply(res, rec, 410, statusBody(410, 'Expired', 'too old resource version (expireNextWatches)'));
      return true;
    }
    return false;
  }

  private faultHoldsEvent(w: WatchConn, event: unknown): boolean {
    // Held until endStall() has flushed what it holds, not until the clock passes stallUntil: a timer
    // fires late under load, and an event sent in between went out before the held ones (older events
    // after a newer one: the informer test caught versions 187 then 168, and in the soak a removed
    // endpoint could come back for a moment).
    if (this.stallTimer === undefined) return false;
    this.stalledEvents.push({ w, event });
    return true;
  }
}
