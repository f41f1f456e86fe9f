// IpsetSync making a too-small hash set bigger, against an in-memory stand-in for the kernel's ipset
// that enforces maxelem as the kernel does (the sandbox test ipset-grow.test.ts does it for real).
// After every call the stand-in checks what the iptables rules would see: the set exists and holds
// either all it held before or exactly the wanted entries, never something in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpsetSync } from '../../src/backends/ipvs/ipsets.js';
import { GROW_TEMP_SET } from '../../src/ipset/grow.js';
import { parseEntry } from '../../src/ipset/codec.js';
import type { IpsetClient, SetHeader, SetOp, SetSpec, SetType } from '../../src/ipset/client.js';
import { entryKey, type IpsetEntryKey } from '../../src/model/ipsets.js';
import type { Family } from '../../src/netlink/address.js';

interface FakeSet { type: SetType; family: Family; maxElem: number; members: Set<string> }

/** The client methods IpsetSync uses, over sets in memory; maxelem is enforced as the kernel does. */
class FakeIpset {
  readonly sets = new Map<string, FakeSet>();
  readonly calls: string[] = [];
  /** Sets whose entries were read back (entries()), in order. */
  readonly reads: string[] = [];
  /** The header carries the number of entries (Linux since 4.x); false: as older kernels, no count. */
  counts = true;
  /** Called after each call that changes something. */
  check: () => void = () => {};

  headers(): Map<string, SetHeader> {
    return new Map([...this.sets].map(([n, s]) => [n, { type: s.type, family: s.family, entries: this.counts ? s.members.size : 0, entriesCounted: this.counts, references: 0, revision: 0, ...(s.type.startsWith('hash:') ? { maxElem: s.maxElem } : {}) }]));
  }
  list(): string[] {
    return [...this.sets.keys()];
  }
  create(spec: SetSpec): void {
    this.calls.push(`create ${spec.name}${spec.maxElem ? ` maxelem ${spec.maxElem}` : ''}`);
    if (this.sets.has(spec.name)) throw new Error(`create ${spec.name}: exists`);
    this.sets.set(spec.name, { type: spec.type, family: spec.family, maxElem: spec.maxElem ?? 65536, members: new Set() });
    this.check();
  }
  destroy(name: string): void {
    if (!this.sets.delete(name)) return;
    this.calls.push(`destroy ${name}`);
    this.check();
  }
  swap(from: string, to: string): void {
    this.calls.push(`swap ${from} ${to}`);
    const a = this.sets.get(from);
    const b = this.sets.get(to);
    assert.ok(a && b, `swap ${from} ${to}: both exist`);
    assert.equal(`${a.type}/${a.family}`, `${b.type}/${b.family}`, 'swap: same type and family');
    this.sets.set(from, b);
    this.sets.set(to, a);
    this.check();
  }
  entries(name: string): string[] {
    this.reads.push(name);
    const s = this.sets.get(name);
    assert.ok(s, `entries of ${name}: exists`);
    return [...s.members];
  }
  *entriesSteps(name: string): Generator<number, string[], number | undefined> {
    yield 0;
    return this.entries(name);
  }
  apply(ops: readonly SetOp[]): { applied: number; failures: { index: number; op: SetOp; error: Error }[] } {
    const failures: { index: number; op: SetOp; error: Error }[] = [];
    let applied = 0;
    ops.forEach((op, index) => {
      const s = this.sets.get(op.set);
      try {
        if (!s) throw new Error(`ipset ${op.set}: no such set`);
        const e = parseEntry(s.type, s.family, op.entry).text;
        if (op.op === 'del') s.members.delete(e);
        else if (!s.members.has(e)) {
          if (s.members.size >= s.maxElem) throw new Error(`ipset ${op.set}: add ${op.entry}: the set is full (maxelem reached) (IPSET_ERR_HASH_FULL)`);
          s.members.add(e);
        }
        applied++;
      } catch (error) {
        failures.push({ index, op, error: error as Error });
      }
    });
    if (ops.length) this.calls.push(`apply ${ops[0]!.set} ${ops.length}`);
    this.check();
    return { applied, failures };
  }
}

function logger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg = '') => lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } };
}

const CIP = 'KUBE-CLUSTER-IP';
const cip = (i: number) => `10.96.${i >> 8}.${i & 255},tcp:${80 + (i % 3)}`;
const keys = (from: number, to: number): IpsetEntryKey[] => Array.from({ length: to - from }, (_, i) => entryKey('inet', CIP, cip(from + i)));
const members = (k: readonly IpsetEntryKey[]) => k.map((key) => key.slice(`inet|${CIP}|`.length)).sort();

/** A stand-in kernel with the sets of IPv4 and KUBE-CLUSTER-IP made small (as `ipset create ... maxelem 16` would). */
function setup(opts: { floor?: number; maxElem?: number; holding?: IpsetEntryKey[] } = {}) {
  const kernel = new FakeIpset();
  const { lines, log } = logger();
  const sync = new IpsetSync({ client: kernel as unknown as IpsetClient, families: ['inet'], log, ...(opts.floor ? { minMaxElem: opts.floor } : {}) });
  kernel.create({ name: CIP, type: 'hash:ip,port', family: 'inet', maxElem: opts.maxElem ?? 16 });
  for (const k of opts.holding ?? []) kernel.sets.get(CIP)!.members.add(k.slice(`inet|${CIP}|`.length));
  sync.ensureSets();
  kernel.calls.length = 0;
  return { kernel, sync, lines };
}

/** After each kernel call: KUBE-CLUSTER-IP exists and holds `before` or exactly `after`. */
function watch(kernel: FakeIpset, before: readonly IpsetEntryKey[], after: readonly IpsetEntryKey[]): { states: Set<string> } {
  const states = new Set<string>();
  const b = members(before).join();
  const a = members(after).join();
  kernel.check = () => {
    const s = kernel.sets.get(CIP);
    assert.ok(s, `${CIP} exists after ${kernel.calls.at(-1)}`);
    const now = [...s.members].sort().join();
    assert.ok(now === b || now === a, `${CIP} holds all it held or all it should after ${kernel.calls.at(-1)}, not ${s.members.size} entries`);
    states.add(now === a ? 'after' : 'before');
  };
  return { states };
}

test('a full sync remakes a set too small for its entries: bigger, exactly the entries, swapped in whole, no temporary set left', () => {
  const old = keys(0, 5);
  const { kernel, sync, lines } = setup({ floor: 16, holding: old });
  const want = keys(3, 43);
  const { states } = watch(kernel, old, want);
  const r = sync.reconcile(want);
  assert.deepEqual(r.failures, []);
  assert.equal(r.grown, 1);
  const s = kernel.sets.get(CIP)!;
  assert.equal(s.maxElem, 128, '40 entries: the next power of two at or above 80');
  assert.deepEqual([...s.members].sort(), members(want));
  assert.ok(!kernel.sets.has(GROW_TEMP_SET));
  assert.deepEqual([...states], ['before', 'after']);
  assert.deepEqual(kernel.calls.filter((c) => !c.startsWith('apply')), [`create ${GROW_TEMP_SET} maxelem 128`, `swap ${GROW_TEMP_SET} ${CIP}`, `destroy ${GROW_TEMP_SET}`]);
  assert.ok(!kernel.calls.includes(`apply ${CIP} 40`), 'the remade set is not filled again');
  const info = lines.find((l) => l.msg === 'ipset made bigger to hold its entries');
  assert.deepEqual(info && { set: info.obj.set, from: info.obj.fromMaxElem, to: info.obj.toMaxElem, entries: info.obj.entries }, { set: CIP, from: 16, to: 128, entries: 40 });
  // Nothing more to do at the next full sync.
  kernel.calls.length = 0;
  const again = sync.reconcile(want);
  assert.equal(again.grown, 0);
  assert.deepEqual(kernel.calls, []);
});

test("a set whose entries fit is kept, kube-proxy's 65,536 too; a missing one is made for its entries", () => {
  const { kernel, sync } = setup({ maxElem: 65536 });
  const r = sync.reconcile(keys(0, 40));
  assert.equal(r.grown, 0);
  assert.equal(kernel.sets.get(CIP)!.maxElem, 65536);
  assert.deepEqual(kernel.calls, [`apply ${CIP} 40`]);
  // Made by kipvs when missing: room for twice the entries at once, no growth afterwards.
  kernel.destroy(CIP);
  kernel.calls.length = 0;
  const small = new IpsetSync({ client: kernel as unknown as IpsetClient, families: ['inet'], log: logger().log, minMaxElem: 16 });
  const r2 = small.reconcile(keys(0, 100));
  assert.equal(r2.grown, 0);
  assert.equal(kernel.sets.get(CIP)!.maxElem, 256);
  assert.equal(kernel.sets.get(CIP)!.members.size, 100);
  assert.deepEqual(kernel.calls.filter((c) => c.includes(CIP)), [`create ${CIP} maxelem 256`, `apply ${CIP} 100`]);
});

test('an incremental sync that fills a set past its maxelem remakes it first; without the model it would be refused', () => {
  const old = keys(0, 16);
  const desired = new Set([...old, ...keys(16, 20)]);
  const model = {
    ipsetSize: (family: Family, role: string) => [...desired].filter((k) => k.startsWith(`${family}|${role}|`)).length,
    ipsetEntries: () => desired,
  };
  // Without the model the kernel refuses the adds past 16: what happened before this change.
  const bare = setup({ floor: 16, holding: old });
  const refused = bare.sync.applyChanges(keys(16, 20), [], (k) => desired.has(k));
  assert.equal(refused.failures.length, 4);
  assert.match(refused.failures[0]!, /IPSET_ERR_HASH_FULL/);

  const { kernel, sync } = setup({ floor: 16, holding: old });
  const { states } = watch(kernel, old, [...desired]);
  const r = sync.applyChanges(keys(16, 20), [], (k) => desired.has(k), model);
  assert.deepEqual(r.failures, []);
  assert.equal(r.grown, 1);
  assert.equal(kernel.sets.get(CIP)!.maxElem, 64);
  assert.deepEqual([...kernel.sets.get(CIP)!.members].sort(), members([...desired]));
  assert.deepEqual([...states], ['before', 'after']);
  assert.ok(!kernel.sets.has(GROW_TEMP_SET));
  // A commit that fits goes straight to the set.
  kernel.check = () => {};
  kernel.calls.length = 0;
  desired.add(keys(20, 21)[0]!);
  assert.equal(sync.applyChanges(keys(20, 21), [], (k) => desired.has(k), model).grown, 0);
  assert.deepEqual(kernel.calls, [`apply ${CIP} 1`]);
});

test('an entry the temporary set refuses leaves the old set as it was, reports the entry, and no temporary set', () => {
  const old = keys(0, 5);
  const { kernel, sync, lines } = setup({ floor: 16, holding: old });
  const want = [...keys(0, 20), entryKey('inet', CIP, '10.96.9.9,icmp:8')];
  const r = sync.reconcile(want);
  assert.equal(r.grown, 0);
  assert.ok(r.failures.some((f) => f.includes('10.96.9.9,icmp:8') && f.includes(CIP)), r.failures.join('\n'));
  assert.equal(kernel.sets.get(CIP)!.maxElem, 16);
  assert.ok(!kernel.sets.has(GROW_TEMP_SET));
  assert.ok(lines.some((l) => l.level === 'warn' && l.msg.startsWith('cannot make the ipset bigger')));
});

test('a temporary set left by a crash is destroyed at the next sync and by cleanup', () => {
  const { kernel, sync, lines } = setup({ floor: 16 });
  kernel.create({ name: GROW_TEMP_SET, type: 'hash:ip', family: 'inet' });
  sync.reconcile([]);
  assert.ok(!kernel.sets.has(GROW_TEMP_SET));
  assert.ok(lines.some((l) => l.msg.includes('temporary ipset an interrupted growth left')));
  kernel.create({ name: GROW_TEMP_SET, type: 'hash:ip', family: 'inet' });
  sync.destroy();
  assert.deepEqual([...kernel.sets.keys()], []);
});

test('plan() says which sets a reconcile would make bigger, and with what maxelem it would create missing ones', () => {
  const { kernel, sync } = setup({ floor: 16, holding: keys(0, 5) });
  kernel.destroy('KUBE-IPVS-IPS');
  const p = sync.plan([...keys(0, 40), entryKey('inet', 'KUBE-IPVS-IPS', '10.96.0.1')]);
  assert.deepEqual(p.grow, [{ name: CIP, fromMaxElem: 16, toMaxElem: 128, entries: 40 }]);
  assert.deepEqual(p.missing, [{ name: 'KUBE-IPVS-IPS', type: 'hash:ip', family: 'inet', maxElem: 16 }]);
  assert.equal(p.ops.filter((o) => o.set === CIP).length, 35);
  assert.equal(kernel.sets.get(CIP)!.maxElem, 16, 'plan changes nothing');
});

test('a full reconcile reads back only the sets the kernel counts entries in, and repairs those', () => {
  const { kernel, sync } = setup({ maxElem: 65536, holding: keys(0, 5) });
  // By hand: an entry nobody wants in KUBE-CLUSTER-IP, and one in another set.
  kernel.sets.get(CIP)!.members.add(cip(999));
  kernel.sets.get('KUBE-EXTERNAL-IP')!.members.add('10.0.0.9,tcp:80');
  const r = sync.reconcile(keys(0, 5));
  assert.deepEqual(kernel.reads.sort(), ['KUBE-CLUSTER-IP', 'KUBE-EXTERNAL-IP'], 'the 15 empty sets are not read');
  assert.equal(r.removed, 2);
  assert.deepEqual([...kernel.sets.get(CIP)!.members].sort(), members(keys(0, 5)));
  assert.equal(kernel.sets.get('KUBE-EXTERNAL-IP')!.members.size, 0);
  // A kernel that does not count: every set is read, the same repair made.
  kernel.counts = false;
  kernel.reads.length = 0;
  kernel.sets.get(CIP)!.members.add(cip(998));
  const r2 = sync.reconcile(keys(0, 5));
  assert.equal(kernel.reads.length, kernel.sets.size);
  assert.equal(r2.removed, 1);
  assert.deepEqual([...kernel.sets.get(CIP)!.members].sort(), members(keys(0, 5)));
});

test('a reconcile may be abandoned at each of its yields until it writes entries, but not while it remakes a set bigger', () => {
  // KUBE-CLUSTER-IP too small for what is wanted (a growth), and an entry in KUBE-EXTERNAL-IP that no
  // Service wants (a fix to write).
  const { kernel, sync } = setup({ floor: 16, holding: keys(0, 5) });
  kernel.sets.get('KUBE-EXTERNAL-IP')!.members.add('10.99.0.1,tcp:80');
  const steps = sync.reconcileSteps(keys(0, 40));
  const seen: { comparing: boolean; last: string | undefined }[] = [];
  for (let r = steps.next(undefined); !r.done; r = steps.next(undefined)) seen.push({ comparing: sync.comparing, last: kernel.calls.at(-1) });
  assert.equal(sync.comparing, false, 'not once it has ended');
  const growing = seen.filter((s) => s.last?.startsWith(`create ${GROW_TEMP_SET}`) || s.last?.startsWith(`apply ${GROW_TEMP_SET}`));
  assert.ok(growing.length > 0, 'the growth yields');
  assert.ok(growing.every((s) => !s.comparing), 'no yield inside the growth may be abandoned');
  const fixes = seen.findIndex((s) => s.last === 'apply KUBE-EXTERNAL-IP 1');
  assert.ok(fixes > 0, `the fix is written: ${kernel.calls.join('; ')}`);
  assert.ok(seen.slice(fixes).every((s) => !s.comparing), 'none once the fixes are written');
  // Before the growth: a yield after the wanted entries are sorted by set, and after the sets are ensured.
  const before = seen.slice(0, seen.indexOf(growing[0]!));
  assert.ok(before.length >= 2 && before.every((s) => s.comparing), `${before.length} yields before the growth, all abandonable`);
  // After it, the sets read back one by one, each yield abandonable.
  const reads = seen.slice(seen.lastIndexOf(growing.at(-1)!) + 1, fixes).filter((s) => s.comparing);
  assert.ok(reads.length >= 1, 'the read-back yields, abandonable');
});
