// VipBinds, with a link client whose binds apart end when the test says so: batches run one after
// another on the one socket apart, a settle records what the kernel accepted (and only that), a
// transport fault in a batch throws at its settle, makes the engine doubt its model, and is not
// thrown again by the next settle; binds ahead skip what kube-ipvs0 holds and what was handed before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VipBinds } from '../../src/backends/ipvs/vip-binds.js';
import { KernelState } from '../../src/backends/ipvs/kernel-state.js';
import { NetlinkFaultError } from '../../src/netlink/faults.js';
import { KernelError } from '../../src/netlink/connection.js';
import { Pacer } from '../../src/loop/pacer.js';
import type { LinkClient, AddressFailure } from '../../src/link/link.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

type Outcome = { failures: AddressFailure[]; fault?: Error };

/** A LinkClient for VipBinds: kube-ipvs0 holds `onDummy`; each bind apart waits for release(outcome). */
function heldLink(onDummy: string[] = []) {
  const events: string[] = [];
  const held: ((o: Outcome) => void)[] = [];
  const link = {
    ensureDummy: () => ({ index: 7 }),
    addresses: (index: number) => {
      assert.equal(index, 7);
      events.push('dump');
      return onDummy.map((address) => ({ address }));
    },
    // No local routes of kipvs: nothing bound the other way.
    localRoutes: () => [],
    addAddressesApart(index: number, addresses: readonly string[]): Promise<Outcome> {
      assert.equal(index, 7);
      events.push(`start ${addresses.join(',')}`);
      return new Promise((resolve) => held.push((o) => {
        events.push(`end ${addresses.join(',')}`);
        resolve(o);
      }));
    },
  };
  const release = async (o: Outcome = { failures: [] }) => {
    // A batch starts once the one before it has ended: give its promise chain a few turns.
    for (let i = 0; i < 5 && held.length === 0; i++) await new Promise((r) => setImmediate(r));
    held.shift()!(o);
  };
  return { link: link as unknown as LinkClient, events, release, waiting: () => held.length };
}

function binds(link: LinkClient) {
  const state = new KernelState();
  let doubts = 0;
  const b = new VipBinds({ link, log: quiet, state, dummy: 'kube-ipvs0', doubt: () => { doubts++; } });
  b.ensureDummy();
  return { b, state, doubts: () => doubts };
}

const refused = (address: string): AddressFailure => ({ address, error: new KernelError('add address', 22) });

test('batches apart run one after another, and a settle records what the kernel accepted', async () => {
  const { link, events, release } = heldLink();
  const { b, state, doubts } = binds(link);
  b.apart(['10.0.0.1', '10.0.0.2'], false);
  b.apart(['10.0.0.3'], false);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['start 10.0.0.1,10.0.0.2'], 'the second batch waits for the first');
  const settled = new Pacer().run(b.settle(false));
  await release({ failures: [refused('10.0.0.2')] });
  await release();
  const r = await settled;
  assert.deepEqual(events, ['start 10.0.0.1,10.0.0.2', 'end 10.0.0.1,10.0.0.2', 'start 10.0.0.3', 'end 10.0.0.3']);
  assert.equal(r?.bound, 2);
  assert.deepEqual([...state.model.boundAddresses].sort(), ['10.0.0.1', '10.0.0.3']);
  assert.equal(doubts(), 1, 'a refused address makes the model doubtful');
  assert.equal(b.pending, false);
});

test('a batch that meets a transport fault throws at its settle, once, and leaves the model doubtful', async () => {
  const { link, release } = heldLink();
  const { b, state, doubts } = binds(link);
  b.apart(['10.0.0.1'], false);
  b.apart(['10.0.0.2'], false);
  const settled = new Pacer().run(b.settle(false));
  await release({ failures: [], fault: new NetlinkFaultError('add address', 'timeout', 'no answer from the kernel') });
  await release();
  await assert.rejects(settled, NetlinkFaultError);
  assert.equal(doubts(), 1);
  // The batch without a fault is recorded; the faulted one is for the next read of the kernel to find.
  assert.deepEqual([...state.model.boundAddresses], ['10.0.0.2']);
  assert.equal(b.pending, false, 'nothing left to throw again');
  assert.equal(await new Pacer().run(b.settle(true)), undefined);
});

test('binds ahead skip what kube-ipvs0 holds and what was handed before; a sync settles them only when told', async () => {
  const { link, events, release } = heldLink(['10.0.0.9']);
  const { b, state } = binds(link);
  assert.equal(b.ahead(['10.0.0.9', '10.0.0.1', '10.0.0.2']), 2);
  assert.equal(b.ahead(['10.0.0.2', '10.0.0.3']), 1);
  assert.deepEqual(b.notAhead(['10.0.0.1', '10.0.0.3', '10.0.0.4']), ['10.0.0.4']);
  assert.equal(b.anyAhead(['10.0.0.5']), false);
  assert.equal(b.anyAhead(['10.0.0.5', '10.0.0.3']), true);
  // A sync's own batch, left to its caller, settles without the ahead ones.
  b.apart(['10.0.0.4'], false);
  const own = new Pacer().run(b.settle(false));
  await release();
  await release();
  await release();
  assert.equal((await own)?.bound, 1);
  assert.deepEqual([...state.model.boundAddresses], ['10.0.0.4']);
  assert.equal(b.pending, true, 'the batches ahead are still to be settled');
  const ahead = await new Pacer().run(b.settle(true));
  assert.equal(ahead?.bound, 3);
  assert.deepEqual([...state.model.boundAddresses].sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  assert.deepEqual(b.notAhead(['10.0.0.1']), ['10.0.0.1'], 'settled: no longer ahead');
  assert.deepEqual(events.filter((e) => e.startsWith('start')), ['start 10.0.0.1,10.0.0.2', 'start 10.0.0.3', 'start 10.0.0.4']);
});

test('while binds ahead go, kube-ipvs0 is not dumped (the adds would interrupt the dump): what it held before them stands', async () => {
  const { link, events, release } = heldLink(['10.0.0.9']);
  const { b } = binds(link);
  b.ahead(['10.0.0.1', '10.0.0.2']);
  const dumps = () => events.filter((e) => e === 'dump').length;
  assert.equal(dumps(), 1, 'one read, as the first binds ahead started');
  assert.deepEqual(b.settledOnDummy(), ['10.0.0.9']);
  assert.equal(dumps(), 1, 'no dump while they go');
  const settled = new Pacer().run(b.settle(true));
  await release();
  await settled;
  b.settledOnDummy();
  assert.equal(dumps(), 2, 'read from the kernel once they are settled');
});

test('local-route binding: VIPs bound as addresses are retired once each is a route, or is not wanted; those still being bound wait', async () => {
  const calls: string[] = [];
  let routes: string[] = ['10.0.0.1'];
  const held: ((o: Outcome) => void)[] = [];
  const link = {
    ensureDummy: () => ({ index: 7 }),
    addresses: () => ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'].map((address) => ({ address })),
    localRoutes: () => routes.map((destination) => ({ destination })),
    addLocalRoutes(addresses: readonly string[]) { calls.push(`route ${addresses.join(',')}`); routes.push(...addresses); return []; },
    addLocalRoutesApart(addresses: readonly string[]): Promise<Outcome> {
      calls.push(`route apart ${addresses.join(',')}`);
      return new Promise((resolve) => held.push(resolve));
    },
    deleteAddresses(index: number, addresses: readonly string[]) {
      assert.equal(index, 7);
      calls.push(`unaddress ${addresses.join(',')}`);
      return addresses.includes('10.0.0.4') ? [refused('10.0.0.4')] : [];
    },
  } as unknown as LinkClient;
  const state = new KernelState();
  const b = new VipBinds({ link, log: quiet, state, dummy: 'kube-ipvs0', doubt: () => {}, binding: 'local-route' });
  b.ensureDummy();
  assert.deepEqual(b.read(), ['10.0.0.1'], 'a read is of the routes');
  state.model.boundAddresses = new Set(b.read());
  assert.equal(b.noteLeftovers(), 4);
  assert.equal(b.isLeftover('10.0.0.2'), true);
  // 10.0.0.2 is wanted and being bound apart; 10.0.0.3 is wanted and not bound yet (its bind was refused);
  // 10.0.0.4 is not wanted (its delete is refused); 10.0.0.1 is a route already.
  b.apart(['10.0.0.2'], false);
  await new Promise((r) => setImmediate(r));
  const wanted = new Set(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  assert.equal(await new Pacer().run(b.retireLeftovers(wanted)), 1);
  assert.deepEqual(calls, ['route apart 10.0.0.2', 'unaddress 10.0.0.1,10.0.0.4']);
  assert.equal(b.isLeftover('10.0.0.1'), false);
  assert.equal(b.isLeftover('10.0.0.2'), true);
  held.shift()!({ failures: [] });
  calls.length = 0;
  // Bound now: its settle retires its address; 10.0.0.3's stays until it is bound this way.
  await new Pacer().run(b.settle(true));
  assert.deepEqual(calls, ['unaddress 10.0.0.2']);
  assert.equal(await new Pacer().run(b.retireLeftovers(wanted)), 0);
  assert.equal(b.hasLeftovers, true);
  assert.equal(await new Pacer().run(b.bindOrUnbind('bind', ['10.0.0.3'])), 1);
  calls.length = 0;
  assert.equal(await new Pacer().run(b.retireLeftovers(wanted)), 1);
  assert.deepEqual(calls, ['unaddress 10.0.0.3']);
  assert.equal(b.hasLeftovers, false);
});

test('VIPs bound the other way are retired in pieces of the size the pacer asks (the event loop turns between them)', () => {
  const pieces: number[] = [];
  const onDummy = Array.from({ length: 1000 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
  const link = {
    ensureDummy: () => ({ index: 7 }),
    addresses: () => onDummy.map((address) => ({ address })),
    localRoutes: () => onDummy.map((destination) => ({ destination })),
    deleteAddresses(_index: number, addresses: readonly string[]) { pieces.push(addresses.length); return []; },
  } as unknown as LinkClient;
  const state = new KernelState();
  const b = new VipBinds({ link, log: quiet, state, dummy: 'kube-ipvs0', doubt: () => {}, binding: 'local-route' });
  b.ensureDummy();
  state.model.boundAddresses = new Set(b.read());
  b.noteLeftovers();
  const steps = b.retireLeftovers(new Set(onDummy));
  let r = steps.next(undefined);
  while (!r.done) r = steps.next(300);
  assert.equal(r.value, 1000);
  assert.deepEqual(pieces, [300, 300, 300, 100]);
  assert.equal(b.hasLeftovers, false);
});
