// The Pacer and the step-wise work it runs (src/loop/pacer.ts), on the host: pieces are sized from the
// rate of the last one, the event loop turns between slices, and paced work gives the same result, in
// the same order, as the same work finished in one go. The model's commit is checked both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer, Preempted, Wait, finish, type Steps } from '../../src/loop/pacer.js';
import { ProxyModel } from '../../src/model/model.js';

/** Items 0..n-1 processed in pieces; each item costs `cost` ms of the fake clock. */
function* work(n: number, clock: { t: number }, cost: number, seen: number[], sizes: (number | undefined)[]): Steps<number> {
  let size = yield 0;
  for (let at = 0; at < n;) {
    sizes.push(size);
    const end = Math.min(n, at + (size ?? 1000));
    for (let i = at; i < end; i++) {
      seen.push(i);
      clock.t += cost;
    }
    size = yield end - at;
    at = end;
  }
  return seen.length;
}

test('finish() runs the steps in one go, each piece at the work\'s own size', () => {
  const seen: number[] = [];
  const sizes: (number | undefined)[] = [];
  assert.equal(finish(work(2500, { t: 0 }, 0, seen, sizes)), 2500);
  assert.deepEqual(sizes, [undefined, undefined, undefined]);
  assert.deepEqual(seen, Array.from({ length: 2500 }, (_, i) => i));
});

test('a Pacer sizes pieces to its slice from the last rate, turns the event loop once per slice, and keeps the order', async () => {
  const clock = { t: 0 };
  const seen: number[] = [];
  const sizes: (number | undefined)[] = [];
  const pacer = new Pacer({ sliceMs: 10, firstItems: 8, now: () => clock.t });
  // Other callbacks waiting on the event loop: one runs at each turn.
  let others = 0;
  let running = true;
  const other = () => {
    others++;
    if (running) setImmediate(other);
  };
  setImmediate(other);
  // 0.0625 ms an item: 160 items fill a 10 ms slice.
  const n = await pacer.run(work(1000, clock, 0.0625, seen, sizes));
  running = false;
  assert.equal(n, 1000);
  assert.deepEqual(seen, Array.from({ length: 1000 }, (_, i) => i));
  assert.equal(sizes[0], 8, 'the first piece, before any rate is known');
  assert.deepEqual(sizes.slice(1), Array(7).fill(160));
  // 8 + 6 x 160 + 32 items: a turn after each full slice of 10 ms (the first at 10.5 ms), none after the last 32.
  assert.equal(pacer.turns, 6);
  assert.equal(pacer.longestMs, 10.5);
  assert.ok(others >= 6, `other callbacks ran ${others} times during the work`);
});

test('sizes stay within the bounds when pieces are very slow or instant', async () => {
  const slow: (number | undefined)[] = [];
  const clock = { t: 0 };
  await new Pacer({ sliceMs: 10, minItems: 16, maxItems: 4096, now: () => clock.t }).run(work(100, clock, 5, [], slow));
  assert.deepEqual(slow.slice(1), Array(slow.length - 1).fill(16));
  const fast: (number | undefined)[] = [];
  await new Pacer({ sliceMs: 10, minItems: 16, maxItems: 4096, now: () => clock.t }).run(work(10_000, clock, 0, [], fast));
  assert.ok(fast.slice(1).every((s) => s === 4096), JSON.stringify(fast));
});

function service(i: number) {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'p', name: `s${i}` },
    spec: { type: 'ClusterIP', clusterIP: `10.96.${i >> 8}.${i & 255}`, clusterIPs: [`10.96.${i >> 8}.${i & 255}`], ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}
function slice(i: number) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { namespace: 'p', name: `s${i}-x`, labels: { 'kubernetes.io/service-name': `s${i}` } },
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [{ addresses: [`10.244.${i >> 8}.${i & 255}`], conditions: { ready: true } }],
  };
}

test('a paced model commit gives the same changes and desired state as commit(), and turns the loop', async () => {
  const make = () => {
    const m = new ProxyModel({ families: ['inet'], scheduler: 'rr', nodeName: 'n' } as never);
    for (let i = 0; i < 3000; i++) {
      m.upsertService(service(i) as never);
      m.upsertEndpointSlice(slice(i) as never);
    }
    return m;
  };
  const plain = make();
  const paced = make();
  const want = plain.commit();
  const pacer = new Pacer({ sliceMs: 1 });
  const got = await pacer.run(paced.commitSteps());
  assert.deepEqual([...got.changedKeys], [...want.changedKeys]);
  assert.deepEqual(got.changedServices, want.changedServices);
  assert.deepEqual(got.ipsetAdded, want.ipsetAdded);
  assert.equal(got.changedKeys.size, 3000);
  assert.deepEqual([...paced.desired.services.keys()], [...plain.desired.services.keys()]);
  assert.deepEqual([...paced.desired.boundAddresses], [...plain.desired.boundAddresses]);
  assert.ok(pacer.turns >= 1, `${pacer.turns} turns in a 3,000-Service commit`);
});

test('a Pacer asked to give way stops at the turn where preempt() says yes; the steps go on from there in another run', async () => {
  const clock = { t: 0 };
  const seen: number[] = [];
  let closed = false;
  function* guarded(): Steps<number> {
    try {
      return yield* work(1000, clock, 1, seen, []);
    } finally {
      closed = true;
    }
  }
  const steps = guarded();
  const pacer = new Pacer({ sliceMs: 10, firstItems: 5, maxItems: 10, now: () => clock.t });
  let asked = 0;
  // No for the first two turns, then yes.
  const preempt = () => ++asked >= 3;
  await assert.rejects(pacer.run(steps, preempt), (err: unknown) => err instanceof Preempted && err.turns === 3);
  assert.equal(asked, 3, 'asked once per turn');
  assert.equal(closed, false, 'the steps are paused, not ended');
  const before = seen.length;
  assert.ok(before > 0 && before < 1000, `stopped midway (${before} of 1000 items)`);
  // Other work runs; then the same steps go on, under a new Pacer, to the end.
  assert.equal(await new Pacer({ sliceMs: 10, now: () => clock.t }).run(steps, () => false), 1000);
  assert.equal(closed, true);
  assert.deepEqual(seen, Array.from({ length: 1000 }, (_, i) => i), 'every item once, in order, across the pause');
  // Ended by the caller instead: the finally runs and nothing more is done.
  closed = false;
  const seen2: number[] = [];
  const other = (function* () {
    try {
      return yield* work(1000, clock, 1, seen2, []);
    } finally {
      closed = true;
    }
  })();
  await assert.rejects(new Pacer({ sliceMs: 10, now: () => clock.t }).run(other, () => true), Preempted);
  const n = seen2.length;
  other.return(0);
  assert.equal(closed, true);
  assert.equal(seen2.length, n);
});

test("steps paused by one run go on under the next with a small first piece, not the work's own default size", async () => {
  // A reconcile's kernel read pauses for a change and goes on under a new Pacer: its first piece there
  // has no rate to go by. Given nothing, the work took its own default (1000 items here; the IPVS read's
  // 4,096 services, seconds in the sandbox, while the next change waited).
  const clock = { t: 0 };
  const seen: number[] = [];
  const sizes: (number | undefined)[] = [];
  const steps = work(5000, clock, 1, seen, sizes);
  let turns = 0;
  await assert.rejects(new Pacer({ sliceMs: 10, firstItems: 4, now: () => clock.t }).run(steps, () => ++turns >= 2), Preempted);
  const paused = sizes.length;
  const resumed = new Pacer({ sliceMs: 10, firstItems: 4, now: () => clock.t });
  let longest = 0;
  let last = clock.t;
  assert.equal(await resumed.run(steps, () => {
    longest = Math.max(longest, clock.t - last);
    last = clock.t;
    return false;
  }), 5000);
  assert.equal(sizes[paused], 4, `the resumed run's first piece: ${sizes[paused]} items`);
  assert.ok(sizes.every((s) => s !== undefined), 'every piece was sized by a Pacer');
  assert.ok(longest <= 20, `no stretch between two turns longer than two slices (${longest} ms of the fake clock)`);
});

test('a Pacer awaits a Wait while other callbacks run, and goes on with the piece size asked before it; finish() refuses one', async () => {
  let resolveApart!: () => void;
  let apartDone = false;
  const apart = new Promise<void>((r) => { resolveApart = r; }).then(() => { apartDone = true; });
  const sizes: (number | undefined)[] = [];
  function* steps(): Steps<string> {
    let size = yield 0;
    sizes.push(size);
    size = yield 10;
    sizes.push(size);
    // The work apart has not ended here: nothing resolved it yet.
    const before = apartDone;
    size = yield new Wait(apart);
    sizes.push(size);
    return `${before} ${apartDone}`;
  }
  const pacer = new Pacer({ sliceMs: 1000, firstItems: 8, maxItems: 8 });
  // The work apart ends on a later turn of the event loop, which the Pacer must give while it waits.
  setTimeout(resolveApart, 20);
  assert.equal(await pacer.run(steps()), 'false true');
  assert.equal(sizes[0], 8);
  assert.equal(sizes[2], sizes[1], 'the piece after the wait keeps the size asked before it');
  assert.ok(pacer.turns >= 1, 'the wait counts as a turn of the event loop');
  assert.throws(() => finish(steps()), /finish\(\) runs them without pause/);
});

test('a Wait whose work failed throws that failure into the steps, at their yield, where they can handle it', async () => {
  const seen: string[] = [];
  function* steps(): Steps<string> {
    try {
      yield new Wait(Promise.reject(new Error('the work apart failed')));
      return 'not reached';
    } catch (err) {
      seen.push((err as Error).message);
    } finally {
      seen.push('finally');
    }
    yield 1;
    return 'handled';
  }
  assert.equal(await new Pacer().run(steps()), 'handled');
  assert.deepEqual(seen, ['the work apart failed', 'finally']);
});
