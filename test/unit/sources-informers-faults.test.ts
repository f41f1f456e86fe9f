// The informer source's restarts: jittered backoff (the nodes of a cluster do not all retry at the same
// instants after an API server outage) and stuck watches (no event, no bookmark) restarted from their
// last resourceVersion. Against the fake API server's outage and stall modes, with small bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { informerSource, type InformerSourceOptions } from '../../src/sources/informers.js';
import { backoffDelay } from '../../src/sources/backoff.js';
import type { Kind, KubeObject, SourceEvents } from '../../src/sources/types.js';
import { silentLogger } from '../../src/sources/types.js';
import { waitFor, sleep } from './helpers.js';

class Recorder implements SourceEvents {
  events: string[] = [];
  errors: string[] = [];
  restarts: string[] = [];
  syncedCount = 0;
  upsert(kind: Kind, obj: KubeObject): void {
    this.events.push(`upsert ${kind} ${obj.metadata?.name} rv=${obj.metadata?.resourceVersion}`);
  }
  remove(kind: Kind, obj: KubeObject): void {
    this.events.push(`remove ${kind} ${obj.metadata?.name}`);
  }
  synced(): void {
    this.syncedCount++;
  }
  error(kind: Kind | 'manifests', err: Error): void {
    this.errors.push(`${kind}: ${err.message}`);
  }
  watchRestarted(kind: Kind, reason: string): void {
    this.restarts.push(`${kind} ${reason}`);
  }
}


function svc(name: string, ip: string) {
  return { kind: 'Service', apiVersion: 'v1', metadata: { name, namespace: 'default' }, spec: { clusterIP: ip, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] } };
}

async function serverWith(t: { after(fn: () => Promise<void>): void }, opts: ConstructorParameters<typeof FakeApiServer>[0] = {}) {
  const server = new FakeApiServer(opts);
  await server.start();
  server.create(svc('a', '10.0.0.1'));
  t.after(() => server.stop());
  return server;
}

function source(t: { after(fn: () => Promise<void>): void }, server: FakeApiServer, nodeName: string, extra: Partial<InformerSourceOptions> = {}) {
  const s = informerSource({ kubeConfig: server.kubeConfig(), nodeName, log: silentLogger, backoff: { initialMs: 20, maxMs: 100 }, ...extra });
  t.after(() => s.stop());
  return s;
}

test('backoff delays: equal jitter, each in [d/2, d] with d doubling up to the maximum, and spread', () => {
  const o = { initialMs: 500, maxMs: 30_000 };
  assert.deepEqual([0, 1, 2, 3, 10].map((n) => backoffDelay(n, { ...o, random: () => 0 })), [250, 500, 1000, 2000, 15_000]);
  assert.deepEqual([0, 1, 2, 3, 10].map((n) => backoffDelay(n, { ...o, random: () => 0.999999 })), [500, 1000, 2000, 4000, 30_000]);
  assert.equal(backoffDelay(2000, { ...o, random: () => 0.5 }), 22_500, 'no overflow after very many failures');
  // A thousand nodes failing together: their third retry is spread over [1000, 2000] ms, not at one instant.
  const delays = Array.from({ length: 1000 }, () => backoffDelay(2, o));
  assert.ok(delays.every((d) => d >= 1000 && d <= 2000), 'all within [d/2, d]');
  const buckets = new Set(delays.map((d) => Math.floor((d - 1000) / 100)));
  assert.ok(buckets.size >= 9, `spread over ${buckets.size} of 10 100-ms buckets`);
});

test('after an outage, restarts follow the jittered delays: a node drawing low retries about twice as often as one drawing high', async (t) => {
  const server = await serverWith(t);
  await server.setDown(true, '503');
  const backoff = (random: () => number) => ({ backoff: { initialMs: 40, maxMs: 160, random } });
  const low = source(t, server, 'node-low', backoff(() => 0));
  const high = source(t, server, 'node-high', backoff(() => 0.999999));
  const recLow = new Recorder();
  const recHigh = new Recorder();
  await low.start(recLow);
  await high.start(recHigh);
  await sleep(2000);
  // Each retry of a node's informer for its Node lists with its own field selector.
  const lists = (node: string) => server.requests.filter((r) => r.path === '/api/v1/nodes' && !r.watch && r.query.fieldSelector === `metadata.name=${node}`).length;
  const nLow = lists('node-low');
  const nHigh = lists('node-high');
  // Delays 20, 40, 80, 80, … ms against 40, 80, 160, 160, … ms: about 25 tries against 13 in 2 s (fewer
  // of both on a loaded machine, where each try's own time counts too).
  assert.ok(nHigh >= 4, `${nHigh} tries with the high draw`);
  assert.ok(nLow >= 1.3 * nHigh, `${nLow} tries with the low draw against ${nHigh} with the high one`);
  assert.ok(recLow.errors.length > 0 && recHigh.errors.length > 0, 'the failures are reported');
  // Back up: both list and sync.
  await server.setDown(false);
  await waitFor('both synced', () => recLow.syncedCount === 1 && recHigh.syncedCount === 1, 3000);
});

for (const how of ['headers', 'silent'] as const) {
  test(`a stuck watch (${how === 'headers' ? '200 and then nothing' : 'not even a response'}) is restarted from its resourceVersion after stalledWatchMs, without a relist`, async (t) => {
    const server = await serverWith(t);
    server.stallWatches(how);
    const s = source(t, server, 'node-a', { stalledWatchMs: 1000 });
    const rec = new Recorder();
    await s.start(rec);
    await waitFor('synced', () => rec.syncedCount === 1);
    await waitFor('3 stalled watches', () => server.stalledWatches === 3);
    assert.deepEqual(rec.events, ['upsert Service a rv=2']);
    server.create(svc('b', '10.0.0.2')); // rv 3: the stalled watches do not deliver it
    await sleep(150);
    assert.deepEqual(rec.events, ['upsert Service a rv=2'], 'nothing arrives through a stalled watch');
    assert.deepEqual(rec.restarts, [], 'not restarted before the bound');
    server.stallWatches(false);
    await waitFor('the change, through a restarted watch', () => rec.events.length === 2, 3000);
    assert.deepEqual(rec.events, ['upsert Service a rv=2', 'upsert Service b rv=3']);
    await waitFor('the three watches restarted', () => rec.restarts.length === 3, 3000);
    assert.deepEqual(rec.restarts.sort(), ['EndpointSlice stalled', 'Node stalled', 'Service stalled']);
    assert.deepEqual(rec.errors, [], 'a stall restart is not an error');
    const svcRequests = server.requests.filter((r) => r.path === '/api/v1/services');
    assert.equal(svcRequests.filter((r) => !r.watch).length, 1, 'no relist');
    const watches = svcRequests.filter((r) => r.watch);
    assert.equal(watches.length, 2);
    assert.equal(watches[1]!.query.resourceVersion, watches[0]!.query.resourceVersion, 'resumed from the same resourceVersion');
    assert.equal(watches[1]!.query.allowWatchBookmarks, 'true');
    await waitFor('the stalled connections closed', () => server.stalledWatches === 0, 3000);
  });
}

test('a quiet watch that gets bookmarks is not taken as stuck', async (t) => {
  const server = await serverWith(t, { bookmarkIntervalMs: 100 });
  const s = source(t, server, 'node-a', { stalledWatchMs: 300 });
  const rec = new Recorder();
  await s.start(rec);
  await waitFor('3 watches', () => server.openWatches === 3);
  const watches = server.requests.filter((r) => r.watch).length;
  await sleep(1000);
  assert.deepEqual(rec.restarts, []);
  assert.equal(server.requests.filter((r) => r.watch).length, watches, 'no new watch request');
  assert.deepEqual(rec.errors, []);
});

test('size limits: a list page over the limit is listed again in smaller pages; a watch event over it is cut off with an error naming the kind, and the watch goes on once the object is gone', async (t) => {
  const server = await serverWith(t);
  // 40 Services of about 8 KiB each (an annotation): 320 KiB in all, over a 128 KiB page limit.
  const padded = (name: string, ip: string, bytes: number) => ({ ...svc(name, ip), metadata: { name, namespace: 'default', annotations: { pad: 'p'.repeat(bytes) } } });
  for (let i = 0; i < 40; i++) server.create(padded(`s${i}`, `10.0.1.${i}`, 8 << 10));
  const warnings: string[] = [];
  const log = { ...silentLogger, warn: (_o: object, m: string) => { warnings.push(m); } };
  const src = informerSource({ kubeConfig: server.kubeConfig(), nodeName: 'n1', log, backoff: { initialMs: 20, maxMs: 100 }, limits: { listPageBytes: 128 << 10, watchEventBytes: 64 << 10 } });
  t.after(() => src.stop());
  const rec = new Recorder();
  await src.start(rec);
  await waitFor('synced', () => rec.syncedCount === 1, 10_000);
  assert.equal(rec.events.filter((e) => e.startsWith('upsert Service')).length, 41, 'every Service listed (a and s0..s39)');
  assert.deepEqual(rec.errors, []);
  const halvings = warnings.filter((w) => /^a Service list page of \d+ objects was larger than 128 KiB; listing again with pages of \d+$/.test(w));
  assert.ok(halvings.length >= 3, `pages halved from 500 until under 128 KiB: ${warnings.join(' | ')}`);
  // A Service of 150 KiB arrives by watch: over the 64 KiB event limit; the relist that follows the
  // failed watch cannot hold it either (a page of one object over 128 KiB).
  rec.events = [];
  server.create(padded('huge', '10.0.2.1', 150 << 10));
  await waitFor('the watch event refused', () => rec.errors.some((e) => e.includes('a Service watch event is larger than 64 KiB')), 10_000);
  await waitFor('the relist refused', () => rec.errors.some((e) => e.includes('Service list: one object is larger than 128 KiB (the limit of a list response); not read')), 10_000);
  assert.ok(!rec.events.some((e) => e.includes(' huge ')), 'the huge Service is not passed on');
  // Gone again: the Service watch recovers, and the next Service arrives.
  server.delete(padded('huge', '10.0.2.1', 0));
  server.create(svc('after', '10.0.2.2'));
  await waitFor('the next Service after the huge one is gone', () => rec.events.some((e) => e.startsWith('upsert Service after ')), 15_000);
});
