// The informer source never goes back in time: under watch drops, 410s, 500s, stalls and outages, the
// versions of one object it hands on only grow (a watch replaying events the cache had already seen
// would program an older EndpointSlice for a moment: a removed endpoint back in the kernel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { informerSource } from '../../src/sources/informers.js';
import type { Kind, KubeObject, SourceEvents } from '../../src/sources/types.js';
import { silentLogger } from '../../src/sources/types.js';
import { waitFor, sleep } from './helpers.js';

test('under API server faults the versions of an object handed on never go backwards, and the last one arrives', async (t) => {
  const server = new FakeApiServer();
  await server.start();
  t.after(() => server.stop());
  const svc = (n: number) => ({ kind: 'Service', apiVersion: 'v1', metadata: { name: 'a', namespace: 'default', labels: { gen: String(n) } }, spec: { clusterIP: '10.0.0.1', ports: [{ port: 80 }] } });
  server.create(svc(0));
  const seen: number[] = [];
  const backwards: string[] = [];
  const events: SourceEvents = {
    upsert(_kind: Kind, obj: KubeObject) {
      const rv = Number(obj.metadata?.resourceVersion);
      if (seen.length && rv < seen.at(-1)!) backwards.push(`${seen.at(-1)} then ${rv}`);
      seen.push(rv);
    },
    remove() {}, synced() {}, error() {}, watchRestarted() {},
  };
  const source = informerSource({ kubeConfig: server.kubeConfig(), nodeName: 'n', log: silentLogger, backoff: { initialMs: 10, maxMs: 50 }, stalledWatchMs: 150 });
  t.after(() => source.stop());
  await source.start(events);
  let gen = 0;
  let writing = true;
  const writer = (async () => { while (writing) { server.update(svc(++gen)); await sleep(5); } })();
  const faults: (() => unknown)[] = [
    () => server.closeWatches(),
    () => server.expireNextWatches(2),
    () => server.stallResponses(120),
    () => server.stallWatches('silent'),
    () => server.stallWatches(false),
    () => server.setDown(true),
    () => server.setDown(false),
    () => server.goAwayFor(150),
    () => server.bookmark(),
  ];
  for (let i = 0; i < 60; i++) {
    await faults[i % faults.length]!();
    await sleep(40);
  }
  server.stallWatches(false);
  await server.setDown(false);
  writing = false;
  await writer;
  const last = Number(server.list('Service').find((o) => o.metadata.name === 'a')?.metadata.resourceVersion);
  await waitFor('the last version handed on', () => seen.at(-1) === last, 5000);
  assert.deepEqual(backwards, [], 'versions handed on went backwards');
  assert.ok(seen.length > 20, `versions seen: ${seen.length}`);
});
