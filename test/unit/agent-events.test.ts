// The agent's Events, as one POST of plain JSON to the fake API server (which decodes eventTime as the
// real one does): what they say and about which
// object, repeats folded into the next Event, the per-minute bound, and no Event without an API server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeApiServer } from '../fake-apiserver/server.js';
import { EventRecorder, REASONS } from '../../src/agent/events.js';
import { apiEventSink } from '../../src/sources/events.js';

const quiet = { debug() {}, warn() {} };

async function setup(t: { after(fn: () => Promise<void> | void): void }, opts: { now: () => number; maxPerMinute?: number }) {
  const server = new FakeApiServer();
  await server.start();
  t.after(() => server.stop());
  const kc = server.kubeConfig();
  const rec = new EventRecorder({ sink: apiEventSink(kc), nodeName: 'node-a', log: quiet, ...opts });
  return { server, rec };
}

test('an Event names the object, reason, type and kipvs as the reporter, in the object\'s namespace', async (t) => {
  const { server, rec } = await setup(t, { now: () => 1_700_000_000_000 });
  assert.equal(rec.record({ kind: 'Service', namespace: 'shop', name: 'web', uid: 'u-1' }, 'Warning', REASONS.invalidService, 'spec.ports[0].port: 70000 is not from 1 to 65535'), true);
  assert.equal(rec.record({ kind: 'Node', name: 'node-a' }, 'Warning', REASONS.syncFailed, 'add-service TCP 10.96.0.1:443: out of memory (ENOMEM)'), true);
  await rec.flush();
  assert.equal(rec.sent, 2);
  const [svc, node] = server.events as Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(svc!.metadata.namespace, 'shop');
  assert.deepEqual(svc!.regarding, { apiVersion: 'v1', kind: 'Service', name: 'web', namespace: 'shop', uid: 'u-1' });
  assert.equal(svc!.reason, 'InvalidServiceSkipped');
  assert.equal(svc!.type, 'Warning');
  assert.equal(svc!.reportingController, 'kipvs.io/kipvs');
  assert.equal(svc!.reportingInstance, 'kipvs-node-a');
  assert.match(svc!.note, /spec\.ports\[0\]\.port/);
  assert.equal(svc!.eventTime, '2023-11-14T22:13:20.000000Z', 'a MicroTime: six fractional digits, or the API server refuses the Event');
  assert.equal(node!.metadata.namespace, 'default', 'cluster-scoped objects: the default namespace, as kubelet does');
  assert.deepEqual(node!.regarding, { apiVersion: 'v1', kind: 'Node', name: 'node-a' });
});

test('repeats within 10 minutes are counted, not sent; the next Event says how many', async (t) => {
  let now = 0;
  const { server, rec } = await setup(t, { now: () => now });
  const node = { kind: 'Node' as const, name: 'node-a' };
  assert.equal(rec.record(node, 'Normal', REASONS.driftRepaired, 'repaired 3 kernel objects'), true);
  for (let i = 0; i < 4; i++) { now += 60_000; assert.equal(rec.record(node, 'Normal', REASONS.driftRepaired, 'repaired 3 kernel objects'), false); }
  assert.equal(rec.record(node, 'Normal', REASONS.driftRepaired, 'repaired 1 kernel object'), true, 'another note is another Event');
  now = 600_000;
  assert.equal(rec.record(node, 'Normal', REASONS.driftRepaired, 'repaired 3 kernel objects'), true);
  await rec.flush();
  assert.deepEqual(server.events.map((e) => e.note as string), [
    'repaired 3 kernel objects', 'repaired 1 kernel object', 'repaired 3 kernel objects (and 4 more times since the last event)',
  ]);
});

test('at most maxPerMinute Events a minute; none at all without a sink', async (t) => {
  let now = 0;
  const { server, rec } = await setup(t, { now: () => now, maxPerMinute: 3 });
  for (let i = 0; i < 5; i++) rec.record({ kind: 'Service', namespace: 'a', name: `s${i}` }, 'Warning', REASONS.invalidService, 'bad');
  now = 60_000;
  rec.record({ kind: 'Service', namespace: 'a', name: 's9' }, 'Warning', REASONS.invalidService, 'bad');
  await rec.flush();
  assert.deepEqual(server.events.map((e) => (e.regarding as { name: string }).name), ['s0', 's1', 's2', 's9']);
  assert.equal(rec.dropped, 2);
  const none = new EventRecorder({ sink: undefined, nodeName: 'n', log: quiet });
  assert.equal(none.record({ kind: 'Node', name: 'n' }, 'Warning', REASONS.syncFailed, 'x'), false);
});

test('an Event the API server refuses is dropped and counted, the first refusal logged as a warning; a millisecond eventTime is refused', async (t) => {
  const server = new FakeApiServer();
  await server.start();
  t.after(() => server.stop());
  const sink = apiEventSink(server.kubeConfig());
  const base = {
    metadata: { generateName: 'web.', namespace: 'shop' }, reportingController: 'kipvs.io/kipvs', reportingInstance: 'kipvs-n',
    action: 'Skip', reason: 'InvalidServiceSkipped', type: 'Warning' as const, note: 'x', regarding: { apiVersion: 'v1', kind: 'Service', name: 'web', namespace: 'shop' },
  };
  // What client-node's EventsV1Api sent (a Date's toISOString()), and what the recorder sends now.
  await assert.rejects(sink.create('shop', { ...base, eventTime: new Date(0).toISOString() }), /HTTP 400/);
  await sink.create('shop', { ...base, eventTime: '1970-01-01T00:00:00.000000Z' });
  assert.equal(server.events.length, 1);

  const logged: string[] = [];
  const log = { debug: (_o: object, m: string) => logged.push(`debug ${m}`), warn: (_o: object, m: string) => logged.push(`warn ${m}`) };
  const refusing = { create: () => Promise.reject(new Error('HTTP 403: forbidden')) };
  const rec = new EventRecorder({ sink: refusing, nodeName: 'n', log, now: () => 0 });
  for (let i = 0; i < 3; i++) rec.record({ kind: 'Service', namespace: 'a', name: `s${i}` }, 'Warning', REASONS.invalidService, 'bad');
  await rec.flush();
  assert.equal(rec.dropped, 3);
  assert.equal(rec.sent, 0);
  assert.deepEqual(logged.map((l) => l.split(' ')[0]), ['warn', 'debug', 'debug']);
});
