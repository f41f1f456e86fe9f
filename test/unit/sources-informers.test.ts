// The real informer source (client-node ListWatch + Watch) against the fake API server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { informerSource } from '../../src/sources/informers.js';
import type { Kind, KubeObject, Source, SourceEvents } from '../../src/sources/types.js';
import { silentLogger } from '../../src/sources/types.js';
import { waitFor, sleep } from './helpers.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Ev = string;

class Recorder implements SourceEvents {
  events: Ev[] = [];
  errors: { kind: string; err: Error }[] = [];
  objects = new Map<string, KubeObject>();
  syncedCount = 0;
  upsert(kind: Kind, obj: KubeObject): void {
    this.events.push(`upsert ${kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name} rv=${obj.metadata?.resourceVersion}`);
    this.objects.set(`${kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`, obj);
  }
  remove(kind: Kind, obj: KubeObject): void {
    this.events.push(`remove ${kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`);
    this.objects.delete(`${kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`);
  }
  synced(): void {
    this.syncedCount++;
    this.events.push('synced');
  }
  error(kind: Kind | 'manifests', err: Error): void {
    this.errors.push({ kind, err });
  }
  take(): Ev[] {
    const e = this.events;
    this.events = [];
    return e;
  }
}


function svc(name: string, ip: string, labels?: Record<string, string>, ns = 'default') {
  return {
    kind: 'Service', apiVersion: 'v1',
    metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
    spec: { clusterIP: ip, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
  };
}
function slice(name: string, svcName: string, addr: string, labels: Record<string, string> = {}) {
  return {
    kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': svcName, ...labels } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [addr], conditions: { ready: true } }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}
function node(name: string, ip = '192.168.1.10') {
  return { kind: 'Node', apiVersion: 'v1', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }] } };
}

async function setup(t: { after(fn: () => Promise<void> | void): void }, opts: { goneAs?: 'event' | 'http'; fill?: (s: FakeApiServer) => void; watchTimeoutSeconds?: { min: number; max: number } } = {}) {
  const server = new FakeApiServer(opts.goneAs ? { goneAs: opts.goneAs } : {});
  await server.start();
  opts.fill?.(server);
  const kc = server.kubeConfig();
  const source: Source = informerSource({ kubeConfig: kc, nodeName: 'node-a', log: silentLogger, backoff: { initialMs: 20, maxMs: 100 }, pageSize: 2, ...(opts.watchTimeoutSeconds ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}) });
  const rec = new Recorder();
  t.after(async () => {
    await source.stop();
    await server.stop();
  });
  return { server, source, rec };
}

test('initial lists (paginated) are upserted, then synced once; the node may not exist yet', async (t) => {
  const { server, source, rec } = await setup(t, {
    fill: (s) => {
      s.create(svc('a', '10.0.0.1'));
      s.create(svc('b', '10.0.0.2'));
      s.create(svc('c', '10.0.0.3', undefined, 'other'));
      s.create(slice('a-1', 'a', '10.1.0.1'));
    },
  });
  await source.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1);
  const ev = rec.take();
  assert.equal(ev[ev.length - 1], 'synced');
  assert.deepEqual(ev.slice(0, -1).sort(), [
    'upsert EndpointSlice default/a-1 rv=5',
    'upsert Service default/a rv=2',
    'upsert Service default/b rv=3',
    'upsert Service other/c rv=4',
  ]);
  // Pagination was used: page size 2 over 3 services means a continue request.
  assert.ok(server.requests.some((r) => r.path === '/api/v1/services' && r.query.continue), 'continue request');
  // Watches carry bookmarks and a timeout.
  await waitFor('3 watches', () => server.openWatches === 3);
  const w = server.requests.find((r) => r.watch && r.path === '/api/v1/services')!;
  assert.equal(w.query.allowWatchBookmarks, 'true');
  assert.ok(Number(w.query.timeoutSeconds) >= 300);
  assert.equal(w.query.resourceVersion, '5');
  // Objects from lists and from watches have the same shape: plain JSON, as the API server sent it
  // (not client-node's model classes: no Date where the server sent a timestamp's text).
  server.create(svc('d', '10.0.0.4'));
  await waitFor('d', () => rec.objects.has('Service/default/d'));
  const fromList = rec.objects.get('Service/default/a')!, fromWatch = rec.objects.get('Service/default/d')!;
  assert.equal(Object.getPrototypeOf(fromList), Object.prototype);
  assert.equal(Object.getPrototypeOf(fromWatch), Object.prototype);
  assert.equal(typeof fromList.metadata?.creationTimestamp, 'string');
  assert.equal(typeof fromWatch.metadata?.creationTimestamp, 'string');
  assert.equal((fromWatch as any).spec.ports[0].targetPort, 8080);
});

test('a list is handed on page by page, each page before the next is asked for', async (t) => {
  const { server, source, rec } = await setup(t, { fill: (s) => { for (const n of ['a', 'b', 'c', 'd', 'e']) s.create(svc(n, '10.0.0.1')); } });
  server.delayLists(30);
  const serviceLists = () => server.requests.filter((r) => !r.watch && r.path === '/api/v1/services').length;
  const listsAtUpsert: number[] = [];
  const upsert = rec.upsert.bind(rec);
  rec.upsert = (kind, obj) => { if (kind === 'Service') listsAtUpsert.push(serviceLists()); upsert(kind, obj); };
  await source.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1);
  // Pages of 2: a and b came with the first response, c and d with the second, e with the third.
  assert.deepEqual(listsAtUpsert, [1, 1, 2, 2, 3]);
  assert.deepEqual(rec.take().filter((e) => e.includes('Service')), ['upsert Service default/a rv=2', 'upsert Service default/b rv=3', 'upsert Service default/c rv=4', 'upsert Service default/d rv=5', 'upsert Service default/e rv=6']);
});

test('a list that failed half-way: what its first pages handed on and is gone by the next list is removed', async (t) => {
  const { server, source, rec } = await setup(t, { fill: (s) => { for (const n of ['a', 'b', 'c', 'd', 'e']) s.create(svc(n, '10.0.0.1')); } });
  server.delayLists(30);
  const upsert = rec.upsert.bind(rec);
  let failed = false;
  rec.upsert = (kind, obj) => {
    upsert(kind, obj);
    // After the first page: the next requests fail for a while, and a is deleted meanwhile.
    if (!failed && kind === 'Service') {
      failed = true;
      server.fail500For(150);
      server.delete({ kind: 'Service', metadata: { name: 'a', namespace: 'default' } });
    }
  };
  await source.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1, 5000);
  assert.ok(rec.errors.some((e) => e.kind === 'Service'), 'the Service list failed once');
  const ev = rec.take().filter((e) => e.includes('Service'));
  assert.deepEqual(ev.slice(0, 2), ['upsert Service default/a rv=2', 'upsert Service default/b rv=3'], 'the first page was handed on');
  assert.ok(ev.includes('remove Service default/a'), `a removed once the list succeeded: ${ev.join('; ')}`);
  assert.deepEqual([...rec.objects.keys()].filter((k) => k.startsWith('Service/')).sort(), ['Service/default/b', 'Service/default/c', 'Service/default/d', 'Service/default/e']);
  assert.equal(ev.filter((e) => e === 'upsert Service default/b rv=3').length, 1, 'b, unchanged, handed on once');
});

test('watch events arrive as upserts and removes; the node by field selector', async (t) => {
  const { server, source, rec } = await setup(t, { fill: (s) => { s.create(node('node-b')); } });
  await source.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1);
  assert.deepEqual(rec.take(), ['synced']); // node-b is not this node
  await waitFor('3 watches', () => server.openWatches === 3);
  server.create(svc('a', '10.0.0.1'));
  server.create(node('node-a'));
  server.update({ ...svc('a', '10.0.0.9') });
  server.create(slice('a-1', 'a', '10.1.0.1'));
  server.update(node('node-b', '192.168.1.99'));
  server.delete({ kind: 'Service', metadata: { name: 'a', namespace: 'default' } });
  await waitFor('remove', () => rec.events.includes('remove Service default/a'));
  await sleep(50);
  // Streams of different kinds are separate connections: order is guaranteed per kind only.
  const ev = rec.take();
  const of = (k: string) => ev.filter((e) => e.split(' ')[1] === k);
  assert.deepEqual(of('Service'), ['upsert Service default/a rv=3', 'upsert Service default/a rv=5', 'remove Service default/a']);
  assert.deepEqual(of('Node'), ['upsert Node /node-a rv=4']); // node-b's update is not seen
  assert.deepEqual(of('EndpointSlice'), ['upsert EndpointSlice default/a-1 rv=6']);
  assert.equal(ev.length, 5);
  const nodeWatch = server.requests.find((r) => r.watch && r.path === '/api/v1/nodes')!;
  assert.equal(nodeWatch.query.fieldSelector, 'metadata.name=node-a');
});

for (const goneAs of ['event', 'http'] as const) {
  test(`410 Gone (${goneAs === 'event' ? 'ERROR watch event' : 'HTTP 410'}) relists with events only for what changed`, async (t) => {
    const { server, source, rec } = await setup(t, {
      goneAs,
      fill: (s) => {
        for (const n of ['a', 'b', 'c', 'd']) s.create(svc(n, '10.0.0.1'));
        s.create(slice('a-1', 'a', '10.1.0.1'));
        s.create(node('node-a'));
      },
    });
    await source.start(rec);
    await waitFor('synced', () => rec.syncedCount === 1);
    await waitFor('3 watches', () => server.openWatches === 3);
    rec.take();
    const listsBefore = server.requests.filter((r) => !r.watch).length;
    const requestsBefore = server.requests.length;
    // With every watch closed, change things, then compact: the watches come back with a resourceVersion
    // older than the compaction point, and every informer must relist.
    server.closeWatches();
    server.update(svc('b', '10.0.0.2'));                                   // rv 8
    server.delete({ kind: 'Service', metadata: { name: 'c', namespace: 'default' } }); // rv 9
    server.create(svc('e', '10.0.0.5'));                                   // rv 10
    server.compact();
    await waitFor('3 watches again', () => server.openWatches === 3);
    await sleep(50);
    assert.deepEqual(rec.take().sort(), ['remove Service default/c', 'upsert Service default/b rv=8', 'upsert Service default/e rv=10']);
    assert.deepEqual(rec.errors, [], 'a 410 is not an error');
    // Each of the three kinds relisted (page size 2: services take 2 pages, so at least 3 more lists).
    const lists = server.requests.filter((r) => !r.watch).slice(listsBefore);
    assert.deepEqual([...new Set(lists.map((r) => r.path))].sort(), ['/api/v1/nodes', '/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices']);
    const gone = server.requests.slice(requestsBefore).filter((r) => r.watch && r.query.resourceVersion === '7');
    assert.equal(gone.length, 3);
    assert.equal(gone[0]!.status, goneAs === 'http' ? 410 : 200);
    // The informers watch from the new list's resourceVersion and keep working.
    server.update(svc('a', '10.0.0.7'));
    await waitFor('a updated', () => rec.events.length === 1);
    assert.deepEqual(rec.take(), ['upsert Service default/a rv=11']);
    assert.equal(rec.syncedCount, 1);
  });
}

for (const how of ['503', 'reset', 'refuse'] as const) {
  test(`API server down (${how}): error reported, nothing removed, recovery when it is back`, async (t) => {
    const { server, source, rec } = await setup(t, { fill: (s) => { s.create(svc('a', '10.0.0.1')); s.create(svc('b', '10.0.0.2')); } });
    await source.start(rec);
    await waitFor('synced', () => rec.syncedCount === 1);
    await waitFor('3 watches', () => server.openWatches === 3);
    rec.take();
    await server.setDown(true, how);
    await waitFor('errors for every kind', () => new Set(rec.errors.map((e) => e.kind)).size === 3);
    await sleep(150); // several retries (backoff 20..100 ms)
    const kinds = new Set(rec.errors.map((e) => e.kind));
    assert.deepEqual([...kinds].sort(), ['EndpointSlice', 'Node', 'Service']);
    assert.ok(rec.errors.every((e) => e.err instanceof Error && e.err.message.length > 0));
    assert.deepEqual(rec.take(), [], 'no removes (or anything) while down');
    // Changes made while it was down (as seen when it comes back): b deleted, c created.
    await server.setDown(false);
    server.delete({ kind: 'Service', metadata: { name: 'b', namespace: 'default' } });
    server.create(svc('c', '10.0.0.3'));
    await waitFor('recovered', () => rec.events.length === 2, 3000);
    await sleep(50);
    assert.deepEqual(rec.take(), ['remove Service default/b', 'upsert Service default/c rv=5']);
    const errorsAfter = rec.errors.length;
    await sleep(300);
    assert.equal(rec.errors.length, errorsAfter, 'no more errors once it is back');
    assert.equal(rec.syncedCount, 1);
  });
}

test('bookmarks and watch timeouts produce no events; the watch resumes from the bookmark', async (t) => {
  const { server, source, rec } = await setup(t, { fill: (s) => { s.create(svc('a', '10.0.0.1')); }, watchTimeoutSeconds: { min: 1, max: 1 } });
  await source.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1);
  await waitFor('3 watches', () => server.openWatches === 3);
  assert.deepEqual(rec.take(), ['upsert Service default/a rv=2', 'synced']);
  const watchesBefore = server.requests.filter((r) => r.watch).length;
  // Changes elsewhere advance the resourceVersion; a bookmark carries it to the service watch.
  server.create(slice('x', 'x', '10.1.0.1')); // rv 3
  server.create(slice('y', 'y', '10.1.0.2')); // rv 4
  await waitFor('slices', () => rec.events.length === 2);
  rec.take();
  server.bookmark();
  server.bookmark();
  server.compact(); // a watch from rv 2 would now be Gone; one from the bookmark's rv 4 is fine
  // The server closes every watch after timeoutSeconds=1; they come back by themselves.
  await waitFor('watches reopened', () => server.requests.filter((r) => r.watch).length >= watchesBefore + 3, 3000);
  await waitFor('3 watches', () => server.openWatches === 3);
  const reopened = server.requests.filter((r) => r.watch).slice(watchesBefore);
  const svcWatch = reopened.find((r) => r.path === '/api/v1/services')!;
  assert.equal(svcWatch.query.resourceVersion, '4');
  assert.equal(svcWatch.status, 200);
  assert.equal(server.requests.filter((r) => !r.watch).length, 3, 'no relist');
  assert.deepEqual(rec.take(), []);
  assert.deepEqual(rec.errors, []);
  server.update(svc('a', '10.0.0.2'));
  await waitFor('update', () => rec.events.length === 1);
  assert.deepEqual(rec.take(), ['upsert Service default/a rv=5']);
});

test('label selectors exclude service-proxy-name Services and headless slices, as kube-proxy does', async (t) => {
  const { server, source, rec } = await setup(t, {
    fill: (s) => {
      s.create(svc('mine', '10.0.0.1'));
      s.create(svc('theirs', '10.0.0.2', { 'service.kubernetes.io/service-proxy-name': 'other-proxy' }));
      s.create(slice('mine-1', 'mine', '10.1.0.1'));
      s.create(slice('theirs-1', 'theirs', '10.1.0.2', { 'service.kubernetes.io/service-proxy-name': 'other-proxy' }));
      s.create(slice('headless-1', 'headless', '10.1.0.3', { 'service.kubernetes.io/headless': '' }));
    },
  });
  await source.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1);
  await waitFor('3 watches', () => server.openWatches === 3);
  assert.deepEqual(rec.take().sort(), ['synced', 'upsert EndpointSlice default/mine-1 rv=4', 'upsert Service default/mine rv=2']);
  assert.equal(server.requests.find((r) => r.path === '/api/v1/services')!.query.labelSelector, '!service.kubernetes.io/service-proxy-name');
  // A Service handed over to another proxy disappears from our view; handed back, it reappears.
  server.update(svc('mine', '10.0.0.1', { 'service.kubernetes.io/service-proxy-name': 'other-proxy' }));
  server.update(svc('theirs', '10.0.0.2'));
  await waitFor('two events', () => rec.events.length === 2);
  assert.deepEqual(rec.take(), ['remove Service default/mine', 'upsert Service default/theirs rv=8']);
});

test('a server that keeps closing watches at once does not make the informers spin', async (t) => {
  const { server, source, rec } = await setup(t, { fill: (s) => { s.create(svc('a', '10.0.0.1')); } });
  await source.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1);
  await waitFor('3 watches', () => server.openWatches === 3);
  rec.take();
  const before = server.requests.filter((r) => r.watch).length;
  const timer = setInterval(() => server.closeWatches(), 2);
  await sleep(400);
  clearInterval(timer);
  const watches = server.requests.filter((r) => r.watch).length - before;
  // Backoff 20, 40, 80, 100, 100 ms…: about 6 per kind in 400 ms; unguarded it would be about 200 per kind.
  assert.ok(watches >= 3 && watches <= 3 * 10, `${watches} watch requests`);
  assert.deepEqual(rec.take(), []);
  assert.equal(rec.errors.length, 0);
  // And it settles: a change is delivered.
  await waitFor('3 watches', () => server.openWatches === 3);
  server.update(svc('a', '10.0.0.2'));
  await waitFor('update', () => rec.events.length === 1);
  assert.deepEqual(rec.take(), ['upsert Service default/a rv=3']);
});

test('stop: no watch is left open and nothing is emitted afterwards, even when stopped in the middle of a list', async (t) => {
  const { server, source, rec } = await setup(t, { fill: (s) => { s.create(svc('a', '10.0.0.1')); } });
  server.delayLists(100);
  await source.start(rec);
  await sleep(30); // the lists are in flight
  await source.stop();
  await sleep(250); // the lists are answered after the stop
  assert.equal(server.openWatches, 0);
  assert.equal(server.requests.filter((r) => r.watch).length, 0, 'no watch started after stop');
  assert.deepEqual(rec.take(), []);
  assert.equal(rec.errors.length, 0);
});

test('stop after sync closes the watches', async (t) => {
  const { server, source, rec } = await setup(t, { fill: (s) => { s.create(svc('a', '10.0.0.1')); } });
  await source.start(rec);
  await waitFor('3 watches', () => server.openWatches === 3);
  await source.stop();
  await waitFor('watches closed', () => server.openWatches === 0);
  rec.take();
  server.update(svc('a', '10.0.0.2'));
  await sleep(100);
  assert.deepEqual(rec.take(), []);
  assert.equal(rec.errors.length, 0, 'the aborts of stop() are not reported as errors');
});

test('a watch object client-node cannot deserialise (a number where a list belongs) is passed on as it came; the watch goes on', async (t) => {
  const { server, source, rec } = await setup(t);
  await source.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1);
  await waitFor('3 watches', () => server.openWatches === 3);
  const bad = { ...svc('bad', '10.0.0.2'), spec: { clusterIP: '10.0.0.2', ports: 5 } };
  server.create(bad);
  server.create({ ...slice('bad-1', 'bad', '10.1.0.2'), endpoints: [{ addresses: 7 }] });
  server.create(svc('good', '10.0.0.3'));
  await waitFor('the good Service after the bad one', () => rec.objects.has('Service/default/good'));
  assert.equal((rec.objects.get('Service/default/bad') as { spec?: { ports?: unknown } } | undefined)?.spec?.ports, 5, 'the bad Service as it came (the model warns about it)');
  await waitFor('the bad slice', () => rec.objects.has('EndpointSlice/default/bad-1'));
  assert.deepEqual(rec.errors, [], 'no error: the watches did not end');
  const watchesBefore = server.requests.filter((r) => r.watch).length;
  server.create(svc('after', '10.0.0.4'));
  await waitFor('a later event on the same watch', () => rec.objects.has('Service/default/after'));
  assert.equal(server.requests.filter((r) => r.watch).length, watchesBefore, 'on the same watch connection');
});

test('the informers cache slim copies: objects handed on are collected once the receiver drops them; a relist still removes what went, naming its Service', async (t) => {
  const { server, source } = await setup(t, {
    fill: (s) => {
      for (let i = 0; i < 5; i++) s.create(slice(`s-${i}`, `svc-${i}`, `10.1.0.${i + 1}`));
      s.create(svc('a', '10.0.0.1'));
    },
  });
  const refs: WeakRef<object>[] = [];
  const removed: KubeObject[] = [];
  let synced = 0;
  await source.start({ upsert(_k, o) { refs.push(new WeakRef(o)); }, remove(_k, o) { removed.push(o); }, synced() { synced++; }, error() {} });
  await waitFor('synced', () => synced === 1);
  await waitFor('3 watches', () => server.openWatches === 3);
  server.create(slice('s-9', 'svc-9', '10.1.0.99'));
  server.update(svc('a', '10.0.0.2'));
  await waitFor('the watch events', () => refs.length === 8);
  await sleep(20);
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  assert.equal(refs.filter((r) => r.deref() !== undefined).length, 0, 'objects still reachable after a full collection');
  // A slice deleted while no watch runs is found gone by the relist, from the cache's slim copy.
  server.closeWatches();
  server.delete({ kind: 'EndpointSlice', metadata: { name: 's-2', namespace: 'default' } });
  server.compact();
  await waitFor('removal', () => removed.length === 1, 3000);
  const m = removed[0]!.metadata!;
  assert.deepEqual([m.namespace, m.name, m.labels], ['default', 's-2', { 'kubernetes.io/service-name': 'svc-2' }], 'what the model needs to remove it and find its Service');
});
