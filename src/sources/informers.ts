// The Kubernetes API as a source: one @kubernetes/client-node informer (ListWatch, what makeInformer
// builds) per kind, selecting what kube-proxy selects:
//   Services        /api/v1/services                          label !service.kubernetes.io/service-proxy-name
//   EndpointSlices  /apis/discovery.k8s.io/v1/endpointslices  label !service.kubernetes.io/headless,
//                                                                   !service.kubernetes.io/service-proxy-name
//   this Node       /api/v1/nodes                             field metadata.name=<nodeName>
//
// What client-node 1.4's ListWatch does, and what this file adds:
// - A watch that ends cleanly (server timeout, closed connection) is restarted by ListWatch itself from the
//   last resourceVersion it saw (ADDED/MODIFIED/DELETED/BOOKMARK all advance it).
// - 410 Gone, whether an HTTP 410 on the watch request or an ERROR event whose Status has code 410 followed by
//   the end of the stream, makes ListWatch forget its resourceVersion and list again. The relist diffs against
//   its cache: "delete" only for objects missing from the new list, "update" only when an object's
//   resourceVersion differs, nothing for unchanged ones. This source filters once more on its own record of
//   what it emitted (kind/namespace/name → resourceVersion), so an unchanged object is never re-emitted.
// - Any other error (connection refused, 5xx, a list that fails) calls the informer's error handlers and
//   ListWatch stops for good. This source reports it through events.error and restarts the informer after an
//   exponential backoff (initialMs doubling up to maxMs) with equal jitter (backoff.ts: each delay is drawn
//   from [d/2, d], so that the nodes of a cluster do not all relist at the same instant after an API server
//   outage); the cache and what was emitted stay, so nothing is removed because of an error. The backoff
//   resets once a list or a watch event succeeds again.
// - A stuck watch (the connection is open but nothing comes: no event, no bookmark, and the server's
//   timeoutSeconds has not closed it) is detected: when nothing arrives for stalledWatchMs (default twice the
//   watch's timeoutSeconds, far above the API server's bookmark interval of about a minute) the watch is
//   aborted and ended as if the server had closed it, so ListWatch watches again from its last
//   resourceVersion (no relist). It is logged and reported through events.watchRestarted.
// - ListWatch passes only resourceVersion, labelSelector and fieldSelector to the watch; the Watch wrapper here
//   adds allowWatchBookmarks=true and a timeoutSeconds (randomised, as client-go does) so that a silently dead
//   connection cannot hold a watch forever, and the field selector for the Node (makeInformer has no field
//   selector parameter, so ListWatch is constructed directly with the same arguments makeInformer uses).
// - ListWatch re-watches immediately when a watch ends cleanly; a watch that ends within a second with nothing
//   delivered delays the next one with the same backoff, so a server that keeps closing watches at once
//   cannot make this spin.
// - Lists are paginated (limit/continue); a continue token that expired (410) restarts the list.
// - Response sizes are bounded (response-limit.ts): a list page over limits.listPageBytes is listed again
//   with half the page size; a watch over limits.watchEventBytes between two events is cut off and ends
//   as a 410 (resuming would replay the same event), so the kind is listed again.
// - client-node refuses a plain http:// server unless the kubeconfig's cluster has insecure-skip-tls-verify.
// - Lists are read as plain JSON (api-get.ts), as watch events arrive: nothing goes through client-node's
//   generated API clients and their ObjectSerializer (model classes the model does not need, at 0.3 s per
//   10,000 objects on the host); consumers see the shapes the API server sent, as from a manifests file.
// - ListWatch's cache holds a slim copy of each object (slim(): name, namespace, resourceVersion, the
//   Service label), which is all its relist diff and a removal read; the object itself is handed to
//   ADD/UPDATE's handler through a WeakMap and not kept (the model keeps compact records of its own).
//   Caching whole objects cost ~40 MB of heap at 10,000 Services x 10 endpoints. This node's Node is
//   cached whole: a removed Node is judged by its last state.
// - Services and EndpointSlices of a list are handed on page by page, as each page arrives, and ListWatch
//   is given only their slim copies (its handlers then pass over them): a whole list held until its last
//   page, as ListWatch's list function must return it, was ~28 MB of heap at 10,000 Services x 10
//   endpoints, alive while the model took it in. What a list no longer has is removed once it is complete,
//   from this source's own record, which also covers what a list that failed half-way had handed on.
import { KubeConfig, ListWatch, Watch, ADD, UPDATE, DELETE, ERROR } from '#client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Kind, KubeObject, Logger, Source, SourceEvents } from './types.js';
import { objectKey } from './types.js';
import { backoffDelay } from './backoff.js';
import { formatBytes, limitedKubeConfig, newGauge, type ByteGauge } from './response-limit.js';
import { getJson } from './api-get.js';
import { slim } from './slim.js';

export interface InformerSourceOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  log: Logger;
  /** Restart delays after an error: initialMs doubling up to maxMs (defaults 500 ms and 30 s), with equal jitter (backoff.ts). */
  backoff?: { initialMs?: number; maxMs?: number; random?: () => number };
  /** Watch timeoutSeconds sent to the server: a random value in [min, max] (default 300–600 s, as client-go). */
  watchTimeoutSeconds?: { min: number; max: number };
  /** Page size of lists (default 500); halved while a page is over limits.listPageBytes. */
  pageSize?: number;
  /**
   * What one list response (a page) and one watch event may hold (response-limit.ts). Defaults 64 MiB
   * and 16 MiB: the API server refuses objects over 1.5 MiB, so a real page of 500 is far smaller.
   */
  limits?: { listPageBytes?: number; watchEventBytes?: number };
  /**
   * A watch that delivers nothing (no event, no bookmark) for this long is taken as stuck and restarted
   * from its last resourceVersion. Default: twice the watch's timeoutSeconds.
   */
  stalledWatchMs?: number;
}

export const SERVICE_LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name';
export const ENDPOINTSLICE_LABEL_SELECTOR = '!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name';

type WatchCallback = (phase: string, apiObj: any, watchObj?: any) => void;
type DoneCallback = (err: any) => void;
interface Watcher {
  watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: WatchCallback, done: DoneCallback): Promise<AbortController>;
}

interface Channel {
  kind: Kind;
  informer: ListWatch<KubernetesObject>;
  listed: boolean;
  failures: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** When the last watch request started, whether it delivered anything, and how many in a row ended
   *  quickly with nothing: a server that keeps closing watches at once must not make us spin. */
  lastWatchAt: number;
  lastWatchHadEvents: boolean;
  quickCloses: number;
}

/** A watch that ends sooner than this without delivering anything counts as a quick close. */
const QUICK_WATCH_MS = 1000;

function asError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (err && typeof err === 'object') {
    const o = err as { message?: unknown; code?: unknown; statusCode?: unknown };
    return new Error(typeof o.message === 'string' ? o.message : JSON.stringify(err));
  }
  return new Error(String(err));
}

export function informerSource(options: InformerSourceOptions): Source {
  const { kubeConfig, nodeName, log } = options;
  const initialMs = options.backoff?.initialMs ?? 500;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  const timeouts = options.watchTimeoutSeconds ?? { min: 300, max: 600 };
  const pageSize = options.pageSize ?? 500;
  const backoff = { initialMs, maxMs, ...(options.backoff?.random ? { random: options.backoff.random } : {}) };
  const server = kubeConfig.getCurrentCluster()?.server ?? '(no cluster)';

  let events: SourceEvents | undefined;
  let stopped = false;
  let syncedSent = false;
  const channels: Channel[] = [];
  /** What was emitted: key → the slim copy ListWatch caches (the Node whole), read for its resourceVersion and to remove it. */
  const emitted = new Map<string, KubernetesObject>();
  /** Slim copies of listed objects, handed on already when their page came: ListWatch's handlers skip them. */
  const listed = new WeakSet<object>();
  /** A slim object handed to ListWatch → the object it stands for, until ADD/UPDATE's handler takes it. */
  const wholeOf = new WeakMap<object, KubeObject>();
  /** The slim copy ListWatch caches in place of `o` (remembering `o` for the handler). */
  const slimmed = (kind: Kind, o: KubernetesObject): KubernetesObject => {
    if (kind === 'Node') return o;
    const s = slim(o);
    wholeOf.set(s, o as KubeObject);
    return s;
  };

  const listPageBytes = options.limits?.listPageBytes ?? 64 << 20;
  const watchEventBytes = options.limits?.watchEventBytes ?? 16 << 20;

  /** One kind's list pages, whose responses are counted into one gauge (one page at a time). */
  function listClient(kind: Kind, path: string, query: Record<string, string>): { page: (cont: string | undefined, limit: number) => Promise<KubernetesListObject<KubernetesObject>>; gauge: ByteGauge; pageSize: number } {
    const gauge = newGauge();
    const kc = limitedKubeConfig(kubeConfig, listPageBytes, `a ${kind} list response is`, gauge);
    const page = async (cont: string | undefined, limit: number) => {
      const list = await getJson(kc, path, { ...query, limit, continue: cont });
      if (!list || typeof list !== 'object' || !Array.isArray((list as { items?: unknown }).items)) throw new Error(`${kind} list: the response has no items`);
      return list as KubernetesListObject<KubernetesObject>;
    };
    return { page, gauge, pageSize };
  }

  /**
   * Lists every page; restarts from the first page when a continue token expired, and with half the
   * page size when a page was over the limit (down to one object, which then fails the list).
   */
  async function listAll<T extends KubernetesObject>(
    kind: Kind,
    state: { gauge: ByteGauge; pageSize: number },
    page: (cont: string | undefined, limit: number) => Promise<KubernetesListObject<T>>,
    each: (o: T) => T = (o) => o,
  ): Promise<KubernetesListObject<T>> {
    for (let attempt = 0; ; attempt++) {
      let cont: string | undefined;
      let first: KubernetesListObject<T> | undefined;
      const items: T[] = [];
      try {
        do {
          state.gauge.over = false;
          const list = await page(cont, state.pageSize);
          first ??= list;
          for (const o of list.items) items.push(each(o));
          cont = (list.metadata as { continue?: string } | undefined)?.continue || undefined;
        } while (cont);
      } catch (err) {
        if (state.gauge.over) {
          if (state.pageSize > 1) {
            const was = state.pageSize;
            state.pageSize = Math.max(1, Math.floor(was / 2));
            log.warn({ kind, pageSize: state.pageSize, limit: formatBytes(listPageBytes) }, `a ${kind} list page of ${was} objects was larger than ${formatBytes(listPageBytes)}; listing again with pages of ${state.pageSize}`);
            attempt = -1;
            continue;
          }
          throw new Error(`${kind} list: one object is larger than ${formatBytes(listPageBytes)} (the limit of a list response); not read`);
        }
        const code = (err as { code?: number }).code;
        if (code === 410 && cont !== undefined && attempt < 3) continue; // the snapshot expired mid-list
        throw err;
      }
      return { ...first!, metadata: { ...first!.metadata, continue: undefined } as KubernetesListObject<T>['metadata'], items };
    }
  }

  function backoffReset(ch: Channel): void {
    ch.failures = 0;
  }

  function makeWatcher(ch: { kind: Kind; fieldSelector?: string; channel?: Channel }): Watcher {
    return {
      async watch(path, queryParams, callback, done) {
        const c = ch.channel!;
        // ListWatch checks its stopped flag before listing but not between the list and the watch.
        if (stopped) return new AbortController();
        if (!c.listed) {
          // ListWatch calls watch right after it has processed its first list: this kind is synced.
          c.listed = true;
          backoffReset(c);
          maybeSynced();
        }
        // ListWatch re-watches at once when a watch ends cleanly; back off when they end at once with nothing.
        const now = Date.now();
        if (c.lastWatchAt > 0 && now - c.lastWatchAt < QUICK_WATCH_MS && !c.lastWatchHadEvents) {
          const delay = backoffDelay(c.quickCloses, backoff);
          c.quickCloses++;
          log.debug({ kind: ch.kind, delayMs: delay }, 'watch ended at once; delaying the next one');
          await new Promise((r) => setTimeout(r, delay));
          if (stopped) return new AbortController(); // ListWatch is stopped too; nothing to start
        } else {
          c.quickCloses = 0;
        }
        c.lastWatchAt = Date.now();
        c.lastWatchHadEvents = false;
        const span = Math.max(0, timeouts.max - timeouts.min);
        const timeoutSeconds = Math.round(timeouts.min + Math.random() * span);
        const params = {
          ...queryParams,
          allowWatchBookmarks: true,
          timeoutSeconds,
          ...(ch.fieldSelector ? { fieldSelector: ch.fieldSelector } : {}),
        };
        log.debug({ kind: ch.kind, resourceVersion: queryParams.resourceVersion }, 'watch');
        // A watch cut off for size would replay the same event when resumed from its resourceVersion, for
        // as long as the API server's watch cache holds it: it ends as a 410 instead, so ListWatch lists
        // again (the list then shows the object's present state, or refuses it, naming the limit).
        const sized: DoneCallback = (err) => {
          if (!stall.overLimit()) { done(err); return; }
          const message = (err as Error | undefined)?.message ?? `a ${ch.kind} watch event is larger than ${formatBytes(watchEventBytes)}`;
          log.warn({ kind: ch.kind, limit: formatBytes(watchEventBytes) }, `${message}; listing again`);
          events?.error(ch.kind, new Error(message));
          callback('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message }, undefined);
          done(null);
        };
        const stall = guardStall(ch.kind, String(queryParams.resourceVersion ?? ''), options.stalledWatchMs ?? 2 * timeoutSeconds * 1000, sized);
        const request = new Watch(stall.kubeConfig).watch(path, params, (phase, obj, raw) => {
          stall.alive();
          if (phase !== 'ERROR') {
            backoffReset(c);
            c.lastWatchHadEvents = true;
          }
          if (phase === 'ERROR') {
            log.info({ kind: ch.kind, status: obj }, 'watch ERROR event');
          }
          // ListWatch caches what an ADDED or MODIFIED event hands it (and calls the handlers at once).
          callback(phase, (phase === 'ADDED' || phase === 'MODIFIED') && obj && typeof obj === 'object' ? slimmed(ch.kind, obj as KubernetesObject) : obj, raw);
        }, stall.done);
        return stall.controller(request);
      },
    };
  }

  /**
   * The stuck-watch guard of one watch request: a timer restarted by everything the watch delivers.
   * When it fires, the watch is ended as a clean close (ListWatch watches again from its resourceVersion)
   * and the request aborted; the abort's own error is not passed on. The request may be stuck before the
   * response headers, when client-node has not returned its AbortController yet (its Watch returns it
   * once the headers are in): so the controller handed to ListWatch is ours, and the request's fetch
   * gets our signal as well as its own, through the kubeconfig the Watch reads its fetch options from.
   */
  function guardStall(kind: Kind, resourceVersion: string, ms: number, done: DoneCallback) {
    let ended = false;
    let inner: AbortController | undefined;
    const ours = new AbortController();
    ours.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      inner?.abort();
    });
    const finish = (err: unknown) => {
      clearTimeout(timer);
      if (ended) return;
      ended = true;
      done(err);
    };
    const fire = () => {
      if (ended || stopped) return;
      log.warn({ kind, resourceVersion, silentMs: ms }, 'watch stalled (no event or bookmark); restarting it');
      events?.watchRestarted?.(kind, 'stalled');
      finish(null);
      ours.abort();
    };
    let timer = setTimeout(fire, ms);
    // Bytes since the last event or bookmark: alive() resets them.
    const gauge = newGauge();
    const limited = limitedKubeConfig(kubeConfig, watchEventBytes, `a ${kind} watch event is`, gauge);
    const config = {
      getCurrentCluster: () => kubeConfig.getCurrentCluster(),
      async applyToFetchOptions(opts: object) {
        const init = (await limited.applyToFetchOptions(opts)) as { signal?: AbortSignal };
        // Watch sets init.signal to its own controller's signal: ours is added to it.
        let signal: AbortSignal | undefined;
        Object.defineProperty(init, 'signal', {
          get: () => signal,
          set: (s: AbortSignal | undefined) => { signal = s ? AbortSignal.any([s, ours.signal]) : ours.signal; },
          enumerable: true,
          configurable: true,
        });
        return init;
      },
    };
    return {
      kubeConfig: config as unknown as KubeConfig,
      overLimit: () => gauge.over,
      alive() {
        gauge.bytes = 0;
        if (ended) return;
        clearTimeout(timer);
        timer = setTimeout(fire, ms);
      },
      done: finish,
      async controller(request: Promise<AbortController>): Promise<AbortController> {
        request.then((c) => {
          inner = c;
          if (ours.signal.aborted) c.abort();
        }, (err: unknown) => finish(err));
        return ours;
      },
    };
  }

  function maybeSynced(): void {
    if (syncedSent || stopped || !events) return;
    if (channels.length === 3 && channels.every((c) => c.listed)) {
      syncedSent = true;
      log.info({ server }, 'initial lists received');
      events.synced();
    }
  }

  /** Hands `obj` on unless the same version was; `cached` is what ListWatch keeps of it. */
  function emit(kind: Kind, obj: KubeObject, cached: KubernetesObject): void {
    if (stopped || !events) return;
    const key = objectKey(kind, obj);
    const rv = obj.metadata?.resourceVersion ?? '';
    const was = emitted.get(key)?.metadata?.resourceVersion;
    emitted.set(key, cached);
    if (was === rv && rv !== '') return;
    events.upsert(kind, obj);
  }

  function onUpsert(kind: Kind, cached: KubeObject): void {
    if (listed.has(cached)) return; // handed on as its page came
    const obj = wholeOf.get(cached) ?? cached;
    wholeOf.delete(cached);
    emit(kind, obj, cached);
  }

  /** One listed Service or EndpointSlice: handed on now; ListWatch gets its slim copy. */
  function onListed(kind: Kind, o: KubernetesObject): KubernetesObject {
    const s = slim(o);
    listed.add(s);
    emit(kind, o as KubeObject, s);
    return s;
  }

  /** A complete list of `kind`: what was handed on and is not in it any more is removed. */
  function onListComplete(kind: Kind, items: readonly KubernetesObject[]): void {
    if (stopped || !events) return;
    const present = new Set(items.map((o) => objectKey(kind, o as KubeObject)));
    const prefix = `${kind}/`;
    for (const [key, cached] of emitted) {
      if (!key.startsWith(prefix) || present.has(key)) continue;
      emitted.delete(key);
      events.remove(kind, cached as KubeObject);
    }
  }

  function onRemove(kind: Kind, obj: KubeObject): void {
    if (stopped || !events) return;
    const key = objectKey(kind, obj);
    if (!emitted.delete(key)) return;
    events.remove(kind, obj);
  }

  function onError(ch: Channel, err: unknown): void {
    if (stopped || !events) return;
    const e = asError(err);
    const delay = backoffDelay(ch.failures, backoff);
    ch.failures++;
    log.warn({ kind: ch.kind, err: e.message, retryInMs: delay }, 'list/watch failed; retrying');
    events.error(ch.kind, e);
    if (ch.restartTimer) clearTimeout(ch.restartTimer);
    ch.restartTimer = setTimeout(() => {
      ch.restartTimer = undefined;
      if (stopped) return;
      ch.informer.start().catch((err2: unknown) => onError(ch, err2));
    }, delay);
  }

  function addChannel(kind: Kind, path: string, list: () => Promise<KubernetesListObject<KubernetesObject>>,
                      labelSelector: string | undefined, fieldSelector: string | undefined): Channel {
    const holder: { kind: Kind; fieldSelector?: string; channel?: Channel } = { kind };
    if (fieldSelector) holder.fieldSelector = fieldSelector;
    const informer = new ListWatch<KubernetesObject>(path, makeWatcher(holder) as unknown as Watch, list, false, labelSelector);
    const ch: Channel = { kind, informer, listed: false, failures: 0, restartTimer: undefined, lastWatchAt: 0, lastWatchHadEvents: false, quickCloses: 0 };
    holder.channel = ch;
    informer.on(ADD, (o) => onUpsert(kind, o as KubeObject));
    informer.on(UPDATE, (o) => onUpsert(kind, o as KubeObject));
    informer.on(DELETE, (o) => onRemove(kind, o as KubeObject));
    informer.on(ERROR, (err) => onError(ch, err));
    channels.push(ch);
    return ch;
  }

  return {
    describe() {
      return `Kubernetes API ${server} (node ${nodeName})`;
    },
    async start(ev: SourceEvents) {
      if (events) throw new Error('informer source already started');
      events = ev;
      const nodeField = `metadata.name=${nodeName}`;
      const services = listClient('Service', '/api/v1/services', { labelSelector: SERVICE_LABEL_SELECTOR });
      const slices = listClient('EndpointSlice', '/apis/discovery.k8s.io/v1/endpointslices', { labelSelector: ENDPOINTSLICE_LABEL_SELECTOR });
      const nodes = listClient('Node', '/api/v1/nodes', { fieldSelector: nodeField });
      // Each page handed on as it comes; ListWatch diffs and caches the slim copies (its handlers skip them).
      const streamed = (kind: Kind, client: typeof services) => async () => {
        const list = await listAll(kind, client, client.page, (o) => onListed(kind, o));
        onListComplete(kind, list.items);
        return list;
      };
      addChannel('Service', '/api/v1/services', streamed('Service', services), SERVICE_LABEL_SELECTOR, undefined);
      addChannel('EndpointSlice', '/apis/discovery.k8s.io/v1/endpointslices', streamed('EndpointSlice', slices), ENDPOINTSLICE_LABEL_SELECTOR, undefined);
      addChannel('Node', '/api/v1/nodes', () => listAll('Node', nodes, nodes.page), undefined, nodeField);
      log.info({ server, nodeName }, 'starting informers');
      for (const ch of channels) ch.informer.start().catch((err: unknown) => onError(ch, err));
    },
    async stop() {
      stopped = true;
      for (const ch of channels) {
        if (ch.restartTimer) clearTimeout(ch.restartTimer);
        ch.restartTimer = undefined;
        await ch.informer.stop();
      }
    },
  };
}
