// The real informer source (client-node ListWatch + Watch) against the fake API server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { informerSource } from '../../src/sources/informers.js';
import type { Kind, KubeObject, Source, SourceEvents } from '../../src/sources/types.js';
import { silentLogger } from '../../src/sources/types.js';

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

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

async function setup(t: { after(fn: () => Promise<void> | void): void }, opts: { goneAs?: 'event' | 'http'; fill?: (s: FakeApiServer) => void } = {}) {
  const server = new FakeApiServer(opts.goneAs ? { goneAs: opts.goneAs } : {});
  const { url } = await server.start();
  opts.fill?.(server);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'fake', token: 'x' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  const source: Source = informerSource({ kubeConfig: kc, nodeName: 'node-a', log: silentLogger, backoff: { initialMs: 20, maxMs: 100 }, pageSize: 2 });
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
  // Objects from lists and from watches have the same shape (the model classes).
  server.create(svc('d', '10.0.0.4'));
  await waitFor('d', () => rec.objects.has('Service/default/d'));
  const fromList = rec.objects.get('Service/default/a')!, fromWatch = rec.objects.get('Service/default/d')!;
  assert.equal(Object.getPrototypeOf(fromList), Object.getPrototypeOf(fromWatch));
  assert.ok(fromWatch.metadata?.creationTimestamp instanceof Date);
  assert.equal((fromWatch as any).spec.ports[0].targetPort, 8080);
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
