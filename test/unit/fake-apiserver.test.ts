// The fake API server itself, over plain HTTP, and through client-node with a written kubeconfig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, Watch } from '#client-node';
// The generated API client, only to check the fake server against it: the whole package (the bundle keeps
// only what kipvs uses).
import { CoreV1Api } from '@kubernetes/client-node';
import { FakeApiServer, parseLabelSelector, parseFieldSelector, type Obj } from '../fake-apiserver/server.js';

function get(url: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    }).on('error', reject);
  });
}

interface WatchHandle {
  status: Promise<number>;
  events: { type: string; object: any }[];
  ended: Promise<void>;
  abort(): void;
}
function openWatch(url: string): WatchHandle {
  const events: { type: string; object: any }[] = [];
  let req: http.ClientRequest;
  let resolveStatus!: (n: number) => void;
  const status = new Promise<number>((r) => (resolveStatus = r));
  const ended = new Promise<void>((resolve) => {
    req = http.get(url, (res) => {
      resolveStatus(res.statusCode ?? 0);
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', () => resolve());
  });
  return { status, events, ended, abort: () => req.destroy() };
}

async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const svc = (name: string, ns = 'default', labels?: Record<string, string>) =>
  ({ kind: 'Service', apiVersion: 'v1', metadata: { name, namespace: ns, ...(labels ? { labels } : {}) }, spec: { clusterIP: '10.0.0.1' } });

async function started(t: { after(fn: () => Promise<void>): void }, opts = {}) {
  const server = new FakeApiServer(opts);
  const { url } = await server.start();
  t.after(() => server.stop());
  return { server, url };
}

test('store: resourceVersion increases with every change; list shapes as the real server', async (t) => {
  const { server, url } = await started(t);
  const a = server.create(svc('a'));
  const b = server.create(svc('b', 'other'));
  server.create({ kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { name: 'a-1', namespace: 'default' } } as never);
  server.create({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'n1' } });
  assert.equal(a.metadata?.resourceVersion, '2');
  assert.equal(b.metadata?.resourceVersion, '3');
  assert.ok(a.metadata?.uid);
  assert.throws(() => server.create(svc('a')), /already exists/);
  const u = server.update({ ...svc('a'), spec: { clusterIP: '10.0.0.2' } });
  assert.equal(u.metadata?.resourceVersion, '6');
  assert.equal(u.metadata?.uid, a.metadata?.uid);
  assert.equal(server.resourceVersion, '6');

  const all = await get(`${url}/api/v1/services`);
  assert.equal(all.status, 200);
  assert.equal(all.body.kind, 'ServiceList');
  assert.equal(all.body.apiVersion, 'v1');
  assert.equal(all.body.metadata.resourceVersion, '6');
  assert.deepEqual(all.body.items.map((i: Obj) => `${i.metadata.namespace}/${i.metadata.name}@${i.metadata.resourceVersion}`), ['default/a@6', 'other/b@3']);
  assert.equal(all.body.items[0].kind, undefined, 'list items carry no kind');
  const ns = await get(`${url}/api/v1/namespaces/other/services`);
  assert.deepEqual(ns.body.items.map((i: Obj) => i.metadata.name), ['b']);
  const eps = await get(`${url}/apis/discovery.k8s.io/v1/endpointslices`);
  assert.equal(eps.body.kind, 'EndpointSliceList');
  assert.equal(eps.body.items.length, 1);
  const one = await get(`${url}/api/v1/namespaces/default/services/a`);
  assert.equal(one.body.kind, 'Service');
  assert.equal(one.body.spec.clusterIP, '10.0.0.2');
  const node = await get(`${url}/api/v1/nodes/n1`);
  assert.equal(node.body.metadata.name, 'n1');
  const missing = await get(`${url}/api/v1/namespaces/default/services/zz`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.kind, 'Status');
  assert.equal((await get(`${url}/api/v1/pods`)).status, 404);
  server.delete(svc('a'));
  assert.deepEqual(server.list('Service').map((o) => o.metadata.name), ['b']);
});

test('list pagination is a consistent snapshot; an expired continue token is 410 Expired', async (t) => {
  const { server, url } = await started(t);
  for (const n of ['a', 'b', 'c', 'd']) server.create(svc(n));
  const p1 = await get(`${url}/api/v1/services?limit=2`);
  assert.deepEqual(p1.body.items.map((i: Obj) => i.metadata.name), ['a', 'b']);
  assert.equal(p1.body.metadata.resourceVersion, '5');
  const token = p1.body.metadata.continue as string;
  assert.ok(token);
  // Changes after the first page are not seen by the next pages.
  server.delete(svc('c'));
  server.create(svc('bb'));
  server.update({ ...svc('d'), spec: { clusterIP: '10.9.9.9' } });
  const p2 = await get(`${url}/api/v1/services?limit=2&continue=${token}`);
  assert.deepEqual(p2.body.items.map((i: Obj) => `${i.metadata.name}@${i.metadata.resourceVersion}`), ['c@4', 'd@5']);
  assert.equal(p2.body.metadata.resourceVersion, '5');
  assert.equal(p2.body.metadata.continue, undefined);
  server.compact();
  const p3 = await get(`${url}/api/v1/services?limit=2&continue=${token}`);
  assert.equal(p3.status, 410);
  assert.equal(p3.body.reason, 'Expired');
  assert.equal(p3.body.code, 410);
});

test('watch: initial ADDED without resourceVersion, replay from a resourceVersion, live events, selectors', async (t) => {
  const { server, url } = await started(t);
  server.create(svc('a'));                              // 2
  server.create(svc('x', 'default', { skip: 'yes' }));  // 3
  const w0 = openWatch(`${url}/api/v1/services?watch=1`);
  const w1 = openWatch(`${url}/api/v1/services?watch=true&resourceVersion=2&labelSelector=${encodeURIComponent('!skip')}`);
  const w2 = openWatch(`${url}/api/v1/namespaces/other/services?watch=1&resourceVersion=3`);
  const wn = openWatch(`${url}/api/v1/nodes?watch=1&fieldSelector=metadata.name%3Dn1`);
  assert.equal(await w0.status, 200);
  await waitFor('watches', () => server.openWatches === 4);
  server.create(svc('b', 'other'));                             // 4
  server.update(svc('x'));                                      // 5: x loses its label → enters w1's selection
  server.update(svc('a', 'default', { skip: 'now' }));          // 6: a leaves w1's selection
  server.create({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'n2' } }); // 7
  server.create({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'n1' } }); // 8
  server.delete(svc('b', 'other'));                             // 9
  await waitFor('events', () => w0.events.length === 6 && w1.events.length === 4 && w2.events.length === 2 && wn.events.length === 1);
  const fmt = (w: WatchHandle) => w.events.map((e) => `${e.type} ${e.object.metadata.name}@${e.object.metadata.resourceVersion}`);
  assert.deepEqual(fmt(w0), ['ADDED a@2', 'ADDED x@3', 'ADDED b@4', 'MODIFIED x@5', 'MODIFIED a@6', 'DELETED b@9']);
  assert.deepEqual(fmt(w1), ['ADDED b@4', 'ADDED x@5', 'DELETED a@6', 'DELETED b@9']);
  assert.deepEqual(fmt(w2), ['ADDED b@4', 'DELETED b@9']);
  assert.deepEqual(fmt(wn), ['ADDED n1@8']);
  assert.equal(w0.events[0]!.object.kind, 'Service');
  assert.equal(w0.events[0]!.object.apiVersion, 'v1');
  for (const w of [w0, w1, w2, wn]) w.abort();
  await waitFor('closed', () => server.openWatches === 0);
});

test('watch: timeoutSeconds, closeWatches, bookmarks only when allowed', async (t) => {
  const { server, url } = await started(t);
  server.create(svc('a'));
  const started_ = Date.now();
  const timed = openWatch(`${url}/api/v1/services?watch=1&resourceVersion=2&timeoutSeconds=1`);
  const book = openWatch(`${url}/api/v1/services?watch=1&resourceVersion=2&allowWatchBookmarks=true`);
  const plain = openWatch(`${url}/api/v1/services?watch=1&resourceVersion=2`);
  await waitFor('watches', () => server.openWatches === 3);
  server.create({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'n' } }); // rv 3, another resource
  server.bookmark();
  await waitFor('bookmark', () => book.events.length === 1);
  assert.deepEqual(book.events[0], { type: 'BOOKMARK', object: { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: '3' } } });
  await timed.ended;
  const took = Date.now() - started_;
  assert.ok(took >= 950 && took < 2500, `closed after ${took} ms`);
  assert.equal(server.openWatches, 2);
  server.closeWatches();
  await book.ended;
  await plain.ended;
  assert.deepEqual(plain.events, []);
  assert.deepEqual(timed.events, []);
  assert.equal(server.openWatches, 0);
});

test('watch from a compacted resourceVersion: ERROR event with a 410 Expired Status, or HTTP 410', async (t) => {
  for (const goneAs of ['event', 'http'] as const) {
    const { server, url } = await started(t, { goneAs });
    server.create(svc('a'));
    server.create(svc('b'));
    server.compact();
    const w = openWatch(`${url}/api/v1/services?watch=1&resourceVersion=2`);
    const status = await w.status;
    await w.ended;
    if (goneAs === 'event') {
      assert.equal(status, 200);
      assert.equal(w.events.length, 1);
      assert.equal(w.events[0]!.type, 'ERROR');
      assert.deepEqual({ ...w.events[0]!.object, message: undefined }, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410, message: undefined });
      assert.match(w.events[0]!.object.message, /too old resource version: 2 \(3\)/);
    } else {
      assert.equal(status, 410);
      assert.deepEqual(w.events, []);
    }
    // From the compaction point on, watching works.
    const ok = openWatch(`${url}/api/v1/services?watch=1&resourceVersion=3`);
    assert.equal(await ok.status, 200);
    server.delete(svc('a'));
    await waitFor('delete', () => ok.events.length === 1);
    assert.equal(ok.events[0]!.type, 'DELETED');
    ok.abort();
  }
});

test('selectors: label selector forms; unsupported field selector is 400', async (t) => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['a=1', { a: '1' }, true],
    ['a==1', { a: '1' }, true],
    ['a=1', { a: '2' }, false],
    ['a!=1', { a: '2' }, true],
    ['a!=1', {}, true],
    ['a!=1', { a: '1' }, false],
    ['a', { a: '' }, true],
    ['a', {}, false],
    ['!a', {}, true],
    ['!a', { a: 'x' }, false],
    ['a in (1, 2),b', { a: '2', b: '' }, true],
    ['a in (1,2)', { a: '3' }, false],
    ['a notin (1,2)', { a: '3' }, true],
    ['a notin (1,2)', {}, true],
    ['!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name', { 'kubernetes.io/service-name': 's' }, true],
    ['!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name', { 'service.kubernetes.io/headless': '' }, false],
    ['', { x: 'y' }, true],
  ];
  for (const [sel, labels, want] of cases) assert.equal(parseLabelSelector(sel)(labels), want, `${sel} on ${JSON.stringify(labels)}`);
  assert.throws(() => parseLabelSelector('a b c'));
  const o = { metadata: { name: 'n', namespace: 'ns' } } as Obj;
  assert.equal(parseFieldSelector('metadata.name=n')(o), true);
  assert.equal(parseFieldSelector('metadata.name=n,metadata.namespace!=ns')(o), false);
  assert.equal(parseFieldSelector('metadata.namespace==ns')(o), true);
  const { url } = await started(t);
  const bad = await get(`${url}/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.reason, 'BadRequest');
});

test('setDown: 503 or reset connections, open watches cut; requests are logged', async (t) => {
  const { server, url } = await started(t);
  const w = openWatch(`${url}/api/v1/services?watch=1`);
  await waitFor('watch', () => server.openWatches === 1);
  await server.setDown(true);
  await w.ended;
  assert.equal(server.openWatches, 0);
  const r = await get(`${url}/api/v1/services`);
  assert.equal(r.status, 503);
  assert.equal(r.body.code, 503);
  await server.setDown(true, 'reset');
  await assert.rejects(get(`${url}/api/v1/services`), /socket hang up|ECONNRESET/);
  await server.setDown(true, 'refuse');
  await assert.rejects(get(`${url}/api/v1/services`), /ECONNREFUSED/);
  await server.setDown(false);
  assert.equal((await get(`${url}/api/v1/services?labelSelector=a`)).status, 200);
  const last = server.requests[server.requests.length - 1]!;
  assert.deepEqual(last, { method: 'GET', path: '/api/v1/services', query: { labelSelector: 'a' }, watch: false, status: 200 });
  assert.equal(server.requests[0]!.watch, true);
  assert.equal(server.requests.filter((x) => x.status === 503).length, 1);
});

test('writeKubeconfig: client-node lists and watches through it', async (t) => {
  const { server } = await started(t);
  server.create(svc('a', 'ns1'));
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-fake-'));
  t.after(async () => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'kubeconfig');
  server.writeKubeconfig(path);
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  assert.equal(kc.getCurrentCluster()?.server, server.url);
  const api = kc.makeApiClient(CoreV1Api);
  const list = await api.listServiceForAllNamespaces();
  assert.equal(list.metadata?.resourceVersion, '2');
  assert.equal(list.items[0]?.metadata?.name, 'a');
  assert.equal(list.items[0]?.spec?.clusterIP, '10.0.0.1');
  const got = await api.readNamespacedService({ name: 'a', namespace: 'ns1' });
  assert.equal(got.metadata?.uid, list.items[0]?.metadata?.uid);
  assert.equal(server.requests[0]!.path, '/api/v1/services');
  const seen: string[] = [];
  let doneErr: unknown = 'not called';
  const ctl = await new Watch(kc).watch('/api/v1/services', { resourceVersion: '2' },
    (type, obj: Obj) => seen.push(`${type} ${obj.metadata.name}@${obj.metadata.resourceVersion}`), (err) => { doneErr = err; });
  await waitFor('watch open', () => server.openWatches === 1);
  server.create(svc('b', 'ns1'));
  await waitFor('event', () => seen.length === 1);
  assert.deepEqual(seen, ['ADDED b@3']);
  server.closeWatches();
  await waitFor('done', () => doneErr !== 'not called');
  assert.equal(doneErr, null, 'a server-side close ends the watch without error');
  ctl.abort();
});
