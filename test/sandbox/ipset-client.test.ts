// The ipset client against the real kernel, with the ipset binary as the oracle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { IpsetClient, IpsetError, IpsetValidationError, type SetOp, type SetSpec, type SetType } from '../../src/ipset/client.js';
import { sh, shStatus } from './helpers.js';

const PREFIX = 'kt-';
let client: IpsetClient;

/** Members of a set as `ipset list NAME` prints them, sorted. */
function ipsetMembers(name: string): string[] {
  const out = sh(`ipset list ${name}`);
  const at = out.indexOf('\nMembers:\n');
  assert.ok(at >= 0, `no Members: in ipset list ${name}:\n${out}`);
  return out.slice(at + '\nMembers:\n'.length).split('\n').filter((l) => l !== '').sort();
}

/** Type and family of a set as `ipset list -t NAME` prints them (bitmap:port has no family: inet). */
function ipsetHeader(name: string): { type: string; family: string; entries: number } {
  const out = sh(`ipset list -t ${name}`);
  const type = /^Type: (.*)$/m.exec(out)?.[1];
  const header = /^Header: (.*)$/m.exec(out)?.[1] ?? '';
  const entries = Number(/^Number of entries: (\d+)$/m.exec(out)?.[1]);
  assert.ok(type, `no Type: in ipset list -t ${name}:\n${out}`);
  const family = /\bfamily (\S+)/.exec(header)?.[1] ?? (type.startsWith('bitmap:') ? 'inet' : '?');
  return { type, family, entries };
}

const sorted = (a: string[]) => [...a].sort();

function destroyTestSets(): void {
  shStatus(`iptables -F INPUT`);
  for (const name of sh('ipset list -n').split('\n')) {
    if (name.startsWith(PREFIX)) sh(`ipset destroy ${name}`);
  }
}

const SPECS: SetSpec[] = [
  { name: 'kt-ip4', type: 'hash:ip', family: 'inet' },
  { name: 'kt-ip6', type: 'hash:ip', family: 'inet6' },
  { name: 'kt-ipport4', type: 'hash:ip,port', family: 'inet', hashSize: 4096 },
  { name: 'kt-ipport6', type: 'hash:ip,port', family: 'inet6' },
  { name: 'kt-ipportip4', type: 'hash:ip,port,ip', family: 'inet', maxElem: 100000 },
  { name: 'kt-ipportip6', type: 'hash:ip,port,ip', family: 'inet6' },
  { name: 'kt-ipportnet4', type: 'hash:ip,port,net', family: 'inet' },
  { name: 'kt-ipportnet6', type: 'hash:ip,port,net', family: 'inet6' },
  { name: 'kt-port', type: 'bitmap:port', family: 'inet', range: { from: 0, to: 65535 } },
];

const PROTOS = ['tcp', 'udp', 'sctp'];
const v4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const v6 = (i: number) => `fd00::a:${(i & 0xffff).toString(16)}`;

/** `n` distinct entries of a set of `type` and `family`, in canonical text. */
function makeEntries(type: SetType, family: 'inet' | 'inet6', n: number): string[] {
  const ip = family === 'inet' ? v4 : v6;
  const out: string[] = [];
  for (let i = 1; out.length < n; i++) {
    const pp = `${PROTOS[i % 3]}:${i % 65536}`;
    switch (type) {
      case 'hash:ip': out.push(ip(i)); break;
      case 'hash:ip,port': out.push(`${ip(i)},${pp}`); break;
      case 'hash:ip,port,ip': out.push(`${ip(i)},${pp},${ip(i + 7)}`); break;
      case 'hash:ip,port,net':
        out.push(family === 'inet'
          ? `${ip(i)},${pp},${i % 2 ? `172.16.${i & 255}.0/24` : `172.17.${(i >> 8) & 255}.${i & 255}`}`
          : `${ip(i)},${pp},${i % 2 ? `fd01:${i.toString(16)}::/64` : `fd02::${i.toString(16)}`}`);
        break;
      case 'bitmap:port': out.push(String(i)); break;
    }
  }
  return out;
}

before(() => {
  destroyTestSets();
  client = IpsetClient.open();
});

after(() => {
  client?.close();
  destroyTestSets();
});

test('creates each type in each family, as ipset lists it; creating again is no error', () => {
  for (const spec of SPECS) {
    client.create(spec);
    const h = client.header(spec.name);
    assert.ok(h, `header(${spec.name})`);
    const oracle = ipsetHeader(spec.name);
    assert.deepEqual({ type: h.type, family: h.family, entries: h.entries }, oracle, spec.name);
    assert.deepEqual({ type: h.type, family: h.family }, { type: spec.type, family: spec.family }, spec.name);
    client.create(spec); // -exist
  }
  assert.match(sh('ipset list -t kt-port'), /^Header: range 0-65535$/m);
  assert.match(sh('ipset list -t kt-ipport4'), /hashsize 4096/);
  assert.match(sh('ipset list -t kt-ipportip4'), /maxelem 100000/);
  const names = client.list();
  for (const spec of SPECS) assert.ok(names.includes(spec.name), `list() has ${spec.name}: ${names.join(' ')}`);
  assert.deepEqual(sorted(names), sorted(sh('ipset list -n').split('\n').filter(Boolean)));
  assert.equal(client.header('kt-absent'), undefined);
});

test('adds thousands of entries in one apply and lists them as ipset does', (t) => {
  for (const spec of SPECS) client.create(spec);
  const want = new Map<string, string[]>();
  const ops: SetOp[] = [];
  for (const spec of SPECS) {
    const entries = makeEntries(spec.type, spec.family, spec.name === 'kt-ipport4' ? 5000 : 300);
    want.set(spec.name, entries);
    for (const entry of entries) ops.push({ op: 'add', set: spec.name, entry });
  }
  const started = process.hrtime.bigint();
  const r = client.apply(ops);
  t.diagnostic(`apply of ${ops.length} adds: ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
  assert.deepEqual(r.failures.map((f) => f.error.message), []);
  assert.equal(r.applied, ops.length);
  for (const spec of SPECS) {
    const oracle = ipsetMembers(spec.name);
    assert.deepEqual(oracle, sorted(want.get(spec.name)!), `ipset list ${spec.name} shows what was added`);
    assert.deepEqual(sorted(client.entries(spec.name)), oracle, `entries(${spec.name}) = ipset list ${spec.name}`);
    assert.equal(client.header(spec.name)!.entries, oracle.length);
  }
});

test('deletes; adding a present entry and deleting an absent one are not failures', () => {
  client.create({ name: 'kt-del', type: 'hash:ip,port', family: 'inet' });
  client.flush('kt-del');
  const r1 = client.apply([
    { op: 'add', set: 'kt-del', entry: '10.1.0.1,tcp:80' },
    { op: 'add', set: 'kt-del', entry: '10.1.0.2,udp:53' },
    { op: 'add', set: 'kt-del', entry: '10.1.0.3,sctp:3001' },
  ]);
  assert.deepEqual(r1, { applied: 3, failures: [] });
  const r2 = client.apply([
    { op: 'add', set: 'kt-del', entry: '10.1.0.1,tcp:80' }, // present
    { op: 'del', set: 'kt-del', entry: '10.1.0.2,udp:53' },
    { op: 'del', set: 'kt-del', entry: '10.1.0.2,udp:53' }, // now absent
    { op: 'del', set: 'kt-del', entry: '10.1.0.9,tcp:9' }, // never there
    { op: 'del', set: 'kt-del', entry: '10.1.0.3,tcp:3001' }, // other protocol: not there
  ]);
  assert.deepEqual(r2.failures.map((f) => f.error.message), []);
  assert.equal(r2.applied, 5);
  assert.deepEqual(ipsetMembers('kt-del'), ['10.1.0.1,tcp:80', '10.1.0.3,sctp:3001']);
  assert.deepEqual(sorted(client.entries('kt-del')), ['10.1.0.1,tcp:80', '10.1.0.3,sctp:3001']);
  client.flush('kt-del');
  assert.deepEqual(client.entries('kt-del'), []);
  assert.equal(ipsetHeader('kt-del').entries, 0);
});

test('a bad entry fails alone, naming its set and entry, and the rest of the batch applies', () => {
  client.create({ name: 'kt-bad', type: 'hash:ip,port', family: 'inet' });
  client.create({ name: 'kt-badport', type: 'bitmap:port', family: 'inet', range: { from: 1000, to: 2000 } });
  client.flush('kt-bad');
  const ops: SetOp[] = [
    { op: 'add', set: 'kt-bad', entry: '10.2.0.1,tcp:80' },
    { op: 'add', set: 'kt-bad', entry: 'fd00::1,tcp:80' }, // wrong family: refused before sending
    { op: 'add', set: 'kt-bad', entry: '10.2.0.2,icmp:8' }, // not tcp/udp/sctp
    { op: 'add', set: 'kt-badport', entry: '1500' },
    { op: 'add', set: 'kt-badport', entry: '2500' }, // outside the range: the kernel refuses it
    { op: 'add', set: 'kt-missing', entry: '10.2.0.3,tcp:80' }, // no such set
    { op: 'add', set: 'kt-bad', entry: '10.2.0.4,udp:53' },
  ];
  const r = client.apply(ops);
  assert.equal(r.applied, 3);
  assert.deepEqual(r.failures.map((f) => f.index), [1, 2, 4, 5]);
  for (const f of r.failures) {
    assert.equal(f.op, ops[f.index]);
    assert.ok(f.error.message.includes(f.op.set), `names the set: ${f.error.message}`);
    assert.ok(f.error.message.includes(f.op.entry), `names the entry: ${f.error.message}`);
    assert.equal(f.error.set, f.op.set);
    assert.equal(f.error.entry, f.op.entry);
  }
  assert.ok(r.failures[0]!.error instanceof IpsetValidationError);
  assert.match(r.failures[0]!.error.message, /IPv4/);
  const kernel = r.failures[2]!.error;
  assert.ok(kernel instanceof IpsetError, kernel.message);
  assert.equal(kernel.code, 'IPSET_ERR_BITMAP_RANGE');
  assert.match(r.failures[3]!.error.message, /no such set/);
  assert.deepEqual(ipsetMembers('kt-bad'), ['10.2.0.1,tcp:80', '10.2.0.4,udp:53']);
  assert.deepEqual(ipsetMembers('kt-badport'), ['1500']);
});

test('3,000 entries in one apply, 256 to a message, are what ipset lists', (t) => {
  const name = 'kt-big';
  client.create({ name, type: 'hash:ip,port', family: 'inet', maxElem: 1 << 20 });
  client.flush(name);
  const entries = makeEntries('hash:ip,port', 'inet', 3000);
  const started = process.hrtime.bigint();
  const r = client.apply(entries.map((entry) => ({ op: 'add', set: name, entry })));
  t.diagnostic(`apply of ${entries.length} adds: ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
  assert.deepEqual(r.failures.map((f) => f.error.message), []);
  assert.equal(r.applied, entries.length);
  assert.deepEqual(ipsetMembers(name), sorted(entries));
  // Read back in pieces of about 100 members (a reconcile's read-back, between turns of the event loop): the same members.
  const steps = client.entriesSteps(name);
  const pieces: number[] = [];
  let r1 = steps.next(undefined);
  for (; !r1.done; r1 = steps.next(100)) pieces.push(r1.value as number);
  assert.deepEqual(sorted(r1.value), ipsetMembers(name));
  assert.equal(pieces[0], 0, 'the dump read whole first, a piece of 0 members');
  // Debian 12's kernel puts about 1,000 of these members in a reply: three replies, so two pieces after the first.
  assert.ok(pieces.length >= 3, `${pieces.length} pieces for 3,000 members: ${pieces.join(' ')}`);
  assert.ok(pieces.slice(1).every((n) => n >= 100), `each piece at least the size asked (whole replies): ${pieces.join(' ')}`);
  // Delete every other one: the rest stays.
  const gone = entries.filter((_, i) => i % 2 === 0);
  const r2 = client.apply(gone.map((entry) => ({ op: 'del', set: name, entry })));
  assert.deepEqual(r2, { applied: gone.length, failures: [] });
  assert.deepEqual(ipsetMembers(name), sorted(entries.filter((_, i) => i % 2 === 1)));
  client.destroy(name);
});

test('a refused entry inside a packed run fails alone: the ones before and after it apply', () => {
  const name = 'kt-packport';
  client.create({ name, type: 'bitmap:port', family: 'inet', range: { from: 1000, to: 2000 } });
  client.flush(name);
  // 600 adds: three messages' worth; the kernel refuses 2500 (outside the range), the 151st.
  const ports = Array.from({ length: 600 }, (_, i) => String(1000 + i));
  ports[150] = '2500';
  const ops: SetOp[] = ports.map((entry) => ({ op: 'add', set: name, entry }));
  // Then the same set's later messages touch entries after the refused one in its message: 1200 is
  // deleted, 1201 is deleted and added back. They must end as these last operations say.
  ops.push({ op: 'del', set: name, entry: '1200' }, { op: 'del', set: name, entry: '1201' }, { op: 'add', set: name, entry: '1201' });
  // And another set's entries in between, with one of its own refused.
  ops.push({ op: 'add', set: 'kt-bad', entry: '10.9.0.1,tcp:1' });
  const r = client.apply(ops);
  assert.deepEqual(r.failures.map((f) => f.index), [150], r.failures.map((f) => f.error.message).join('; '));
  const f = r.failures[0]!;
  assert.equal(f.op, ops[150]);
  assert.ok(f.error instanceof IpsetError, f.error.message);
  assert.equal(f.error.code, 'IPSET_ERR_BITMAP_RANGE');
  assert.equal(f.error.set, name);
  assert.equal(f.error.entry, '2500');
  assert.match(f.error.message, /kt-packport.*2500/);
  assert.equal(r.applied, ops.length - 1);
  const want = ports.filter((p) => p !== '2500' && p !== '1200');
  assert.deepEqual(ipsetMembers(name), sorted(want));
  assert.ok(ipsetMembers('kt-bad').includes('10.9.0.1,tcp:1'));
});

test('operations on one entry take effect in order: del then add ends added, add then del ends deleted', () => {
  const name = 'kt-order';
  client.create({ name, type: 'hash:ip,port', family: 'inet' });
  client.flush(name);
  const entries = makeEntries('hash:ip,port', 'inet', 700);
  const a = entries.slice(0, 350);
  const b = entries.slice(350);
  // b is present at first; a is not.
  assert.deepEqual(client.apply(b.map((entry) => ({ op: 'add', set: name, entry }))).failures, []);
  const ops: SetOp[] = [
    ...a.map((entry) => ({ op: 'add' as const, set: name, entry })),
    ...b.map((entry) => ({ op: 'del' as const, set: name, entry })),
    ...a.map((entry) => ({ op: 'del' as const, set: name, entry })),
    ...b.map((entry) => ({ op: 'add' as const, set: name, entry })),
    // One entry, each alone: del, add, del, add.
    { op: 'del', set: name, entry: '10.99.0.1,tcp:1' },
    { op: 'add', set: name, entry: '10.99.0.1,tcp:1' },
    { op: 'del', set: name, entry: '10.99.0.2,tcp:1' },
    { op: 'add', set: name, entry: '10.99.0.2,tcp:1' },
    { op: 'del', set: name, entry: '10.99.0.2,tcp:1' },
  ];
  const r = client.apply(ops);
  assert.deepEqual(r, { applied: ops.length, failures: [] });
  assert.deepEqual(ipsetMembers(name), sorted([...b, '10.99.0.1,tcp:1']));
  client.destroy(name);
});

test('create with a conflicting type, family or range is an error naming the set', () => {
  client.create({ name: 'kt-clash', type: 'hash:ip,port', family: 'inet' });
  assert.throws(() => client.create({ name: 'kt-clash', type: 'hash:ip', family: 'inet' }), (err: Error) => {
    assert.match(err.message, /kt-clash/);
    assert.match(err.message, /exists with type hash:ip,port family inet/);
    return true;
  });
  // The kernel itself lets this one pass (same type, other family): the client must catch it.
  assert.throws(() => client.create({ name: 'kt-clash', type: 'hash:ip,port', family: 'inet6' }), /kt-clash.*exists with type hash:ip,port family inet\b/);
  client.create({ name: 'kt-clash-port', type: 'bitmap:port', family: 'inet', range: { from: 0, to: 65535 } });
  assert.throws(() => client.create({ name: 'kt-clash-port', type: 'bitmap:port', family: 'inet', range: { from: 0, to: 1000 } }), /kt-clash-port/);
  assert.equal(ipsetHeader('kt-clash').type, 'hash:ip,port');
  assert.throws(() => client.create({ name: 'kt-x', type: 'bitmap:port', family: 'inet6', range: { from: 0, to: 1 } }), /kt-x.*inet only/);
  assert.throws(() => client.create({ name: 'x'.repeat(32), type: 'hash:ip', family: 'inet' }), /at most 31 bytes/);
});

test('destroy: a set in use by iptables is an error naming it; otherwise it is gone', () => {
  client.create({ name: 'kt-used', type: 'hash:ip', family: 'inet' });
  sh('iptables -A INPUT -m set --match-set kt-used src -j ACCEPT');
  assert.equal(client.header('kt-used')!.references, 1);
  assert.throws(() => client.destroy('kt-used'), (err: Error) => {
    assert.ok(err instanceof IpsetError);
    assert.match(err.message, /kt-used/);
    assert.match(err.message, /in use/);
    return true;
  });
  assert.ok(sh('ipset list -n').split('\n').includes('kt-used'));
  sh('iptables -D INPUT -m set --match-set kt-used src -j ACCEPT');
  client.destroy('kt-used');
  assert.ok(!sh('ipset list -n').split('\n').includes('kt-used'));
  assert.equal(client.header('kt-used'), undefined);
  client.destroy('kt-used'); // already gone: no error
  assert.throws(() => client.flush('kt-used'), /kt-used.*ENOENT/);
  assert.throws(() => client.entries('kt-used'), /kt-used.*ENOENT/);
  assert.throws(() => client.entriesSteps('kt-used').next(), (e: Error) => e instanceof IpsetError && /ipset kt-used: list.*ENOENT/.test(e.message));
});

test('reads sets the ipset binary made, in the forms ipset prints', () => {
  sh('ipset restore', [
    'create kt-r-ip hash:ip family inet6',
    'add kt-r-ip 2001:db8::1', 'add kt-r-ip 2001:0db8:0:0:0:0:0:2', 'add kt-r-ip ::ffff:10.0.0.1', 'add kt-r-ip ::2',
    'create kt-r-ipport hash:ip,port',
    'add kt-r-ipport 10.3.0.0/30,tcp:80', 'add kt-r-ipport 10.3.1.1,53', 'add kt-r-ipport 10.3.1.1,udp:53', 'add kt-r-ipport 10.3.1.1,sctp:3001',
    'add kt-r-ipport 10.3.1.2,tcp:8080-8082', 'add kt-r-ipport 10.3.1.3,udp:0',
    'create kt-r-ipportip hash:ip,port,ip hashsize 128 maxelem 1000',
    'add kt-r-ipportip 10.3.2.1,udp:53,10.3.2.2', 'add kt-r-ipportip 10.3.2.1,tcp:65535,255.255.255.255',
    'create kt-r-ipportnet hash:ip,port,net family inet6',
    'add kt-r-ipportnet fd00::1,tcp:80,fd00::/64', 'add kt-r-ipportnet fd00::1,tcp:80,fd00::5/128', 'add kt-r-ipportnet fd00::1,sctp:1,::/1',
    'create kt-r-ipportnet4 hash:ip,port,net',
    'add kt-r-ipportnet4 10.3.3.1,tcp:80,10.0.0.0/8', 'add kt-r-ipportnet4 10.3.3.1,udp:80,10.0.0.1/32', 'add kt-r-ipportnet4 10.3.3.1,udp:81,128.0.0.0/1',
    'create kt-r-port bitmap:port range 100-200',
    'add kt-r-port 100', 'add kt-r-port tcp:150', 'add kt-r-port 200',
    '',
  ].join('\n'));
  const types: Record<string, [SetType, 'inet' | 'inet6', number]> = {
    'kt-r-ip': ['hash:ip', 'inet6', 4],
    'kt-r-ipport': ['hash:ip,port', 'inet', 11],
    'kt-r-ipportip': ['hash:ip,port,ip', 'inet', 2],
    'kt-r-ipportnet': ['hash:ip,port,net', 'inet6', 3],
    'kt-r-ipportnet4': ['hash:ip,port,net', 'inet', 3],
    'kt-r-port': ['bitmap:port', 'inet', 3],
  };
  for (const [name, [type, family, n]] of Object.entries(types)) {
    const oracle = ipsetMembers(name);
    assert.equal(oracle.length, n, `${name}: ${oracle.join(' ')}`);
    assert.deepEqual(sorted(client.entries(name)), oracle, name);
    // The revision ipset chose when it created the set, and a hash set's sizes, as `ipset list -t` prints them.
    const listed = sh(`ipset list -t ${name}`);
    const revision = Number(/^Revision: (\d+)$/m.exec(listed)?.[1]);
    assert.ok(Number.isInteger(revision), `ipset list -t ${name} names a revision`);
    const sizes = type === 'bitmap:port' ? {} : {
      hashSize: Number(/\bhashsize (\d+)/.exec(listed)?.[1]),
      maxElem: Number(/\bmaxelem (\d+)/.exec(listed)?.[1]),
    };
    assert.deepEqual(client.header(name), { type, family, entries: n, entriesCounted: true, references: 0, revision, ...sizes });
    if (name === 'kt-r-ipportip') assert.deepEqual(sizes, { hashSize: 128, maxElem: 1000 });
    assert.deepEqual(client.headers().get(name), client.header(name), 'headers() reads the same in one dump');
    // What entries() returns is what apply() takes: deleting every one empties the set.
    const r = client.apply(client.entries(name).map((entry) => ({ op: 'del' as const, set: name, entry })));
    assert.deepEqual(r.failures.map((f) => f.error.message), []);
    assert.deepEqual(ipsetMembers(name), [], name);
  }
});
