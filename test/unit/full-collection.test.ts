// fullCollection() collects garbage in a node started without --expose-gc, and leaves no gc() behind; the
// releasing one gives pages back where V8 can (heap-keeper.ts runs it after the first sync and reconciles).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { fullCollection, RELEASES_MEMORY } from '../../src/agent/full-collection.js';
import { HeapKeeper } from '../../src/agent/heap-keeper.js';

test('fullCollection frees unreachable objects and exposes no gc() to other contexts', () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'the unit tests run without --expose-gc');
  let junk: { i: number; s: string }[] | undefined = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `entry ${i}` }));
  const before = process.memoryUsage().heapUsed;
  assert.equal(junk.length, 300_000);
  junk = undefined;
  const ms = fullCollection();
  const freed = before - process.memoryUsage().heapUsed;
  assert.ok(freed > 10 * 1024 * 1024, `freed ${Math.round(freed / 1024)} KB`);
  assert.ok(ms >= 0 && ms < 10_000, `${ms} ms`);
  assert.equal(runInNewContext('typeof gc'), 'undefined');
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  // The function is kept: a second call works as well.
  assert.ok(fullCollection() >= 0);
});

test('a releasing collection gives freed pages back on Node 22 and later (V8 12), and still collects on Node 20', () => {
  const v8Major = Number(process.versions.v8.split('.')[0]);
  assert.equal(RELEASES_MEMORY, v8Major >= 12);
  // A live set spread thin over many pages: every fourth object kept.
  const keep: object[] = [];
  let spread: object[] | undefined = [];
  for (let i = 0; i < 600_000; i++) (i % 4 === 0 ? keep : spread).push({ i, s: `entry ${i}`, a: [i] });
  spread = undefined;
  // Twice: the first one's pages are swept on other threads while it returns.
  fullCollection();
  fullCollection();
  const plain = process.memoryUsage();
  fullCollection(true);
  const released = process.memoryUsage();
  assert.ok(released.heapUsed <= plain.heapUsed + (1 << 20), `heap used ${released.heapUsed} after, ${plain.heapUsed} before`);
  if (RELEASES_MEMORY) {
    // The live objects fill their pages again: the heap is little more than what it holds (a plain
    // collection leaves it at 70-150 MB here for 25 MB of objects).
    const text = `heapTotal ${Math.round(plain.heapTotal / 1048576)} MB after plain collections, ${Math.round(released.heapTotal / 1048576)} MB after the releasing one, for ${Math.round(released.heapUsed / 1048576)} MB used`;
    assert.ok(released.heapTotal < released.heapUsed * 1.3 + 4 * 1048576, text);
  }
  assert.equal(keep.length, 150_000);
});

const turn = () => new Promise((r) => setImmediate(r));

test('HeapKeeper: the default heap mode collects after a periodic reconcile where node can give pages back; V8\'s own sizing never', async () => {
  const logged: string[] = [];
  const log = { info: (_o: object, m?: string) => logged.push(`info ${m}`), debug: (_o: object, m?: string) => logged.push(`debug ${m}`), warn() {}, error() {} };
  new HeapKeeper('v8', log).reconciled();
  await turn();
  assert.deepEqual(logged, []);
  new HeapKeeper('bounded', log).reconciled();
  assert.deepEqual(logged, [], 'in a turn of its own, not inside the sync');
  await turn();
  assert.deepEqual(logged, RELEASES_MEMORY ? ['debug collected the reconcile\'s garbage'] : []);
});

test('HeapKeeper: a collection waits while a change waits or a sync runs, until a sync ends with none waiting, and 10 s at most', async () => {
  const logged: { m: string | undefined; o: Record<string, number> }[] = [];
  const push = (o: object, m?: string) => logged.push({ m, o: o as Record<string, number> });
  const log = { info: push, debug: push, warn() {}, error() {} };
  let busy = true;
  let now = 1_000;
  const keeper = new HeapKeeper('bounded', log, () => busy, () => now);
  keeper.firstSyncEnded();
  const collected = () => logged.filter((l) => l.m === 'collected the first sync\'s garbage');
  await turn();
  assert.equal(collected().length, 0, 'busy: owed');
  now += 400;
  keeper.syncEnded();
  await turn();
  assert.equal(collected().length, 0, 'a sync ended, but another change waits');
  busy = false;
  now += 100;
  keeper.syncEnded();
  await turn();
  assert.equal(collected().length, 1, 'a sync ended with nothing waiting');
  assert.equal(collected()[0]!.o.waitedMs, 500);
  keeper.syncEnded();
  await turn();
  assert.equal(collected().length, 1, 'collected once');
  // Busy for ever: it runs at the end of a sync once it has waited 10 s (a reconcile's: where node can give pages back).
  busy = true;
  keeper.reconciled();
  await turn();
  now += 9_999;
  keeper.syncEnded();
  await turn();
  const reconciles = () => logged.filter((l) => l.m === 'collected the reconcile\'s garbage');
  assert.equal(reconciles().length, 0);
  now += 1;
  keeper.syncEnded();
  await turn();
  assert.equal(reconciles().length, RELEASES_MEMORY ? 1 : 0);
  if (RELEASES_MEMORY) assert.equal(reconciles()[0]!.o.waitedMs, 10_000);
  keeper.stop();
});

test('HeapKeeper: the default heap mode trims the C allocator every 250 ms until the first sync ends, then no more; V8\'s own sizing never', async () => {
  const logged: { m: string | undefined; o: object }[] = [];
  const log = { info: (o: object, m?: string) => logged.push({ m, o }), debug: (o: object, m?: string) => logged.push({ m, o }), warn() {}, error() {} };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const own = new HeapKeeper('v8', log);
  const bounded = new HeapKeeper('bounded', log);
  own.firstSyncStarts();
  bounded.firstSyncStarts();
  await sleep(900);
  const during = bounded.trims;
  assert.ok(during >= 2, `${during} trims in 900 ms of first sync`);
  assert.equal(own.trims, 0);
  own.firstSyncEnded();
  bounded.firstSyncEnded();
  const said = logged.find((l) => l.m === 'trimmed the C allocator during the first sync');
  assert.ok(said, 'the end of the first sync says how many trims ran');
  assert.equal((said.o as { trims: number }).trims, during);
  await sleep(900);
  assert.equal(bounded.trims, during, 'trims after the first sync ended');
  assert.equal(own.trims, 0);
});
