// ServerTable (src/ipvs/server-table.ts) read as a Map: every lookup, size and iteration answers what a
// Map keyed by serverKeyString of the same servers answers, below and above the size that indexes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ServerTable, INDEX_FROM } from '../../src/ipvs/server-table.js';
import { serverKeyString } from '../../src/ipvs/keys.js';
import type { RealServer } from '../../src/ipvs/types.js';

const server = (address: string, port: number): RealServer => ({ address, port, forward: 'masq', weight: 1 });

test('lookups compare the whole address and the whole port', () => {
  const t = new ServerTable([server('10.0.0.1', 80), server('fd00::a', 8080), server('10.0.0.10', 443)]);
  assert.equal(t.get('10.0.0.1/80')?.address, '10.0.0.1');
  assert.equal(t.get('10.0.0.10/443')?.address, '10.0.0.10');
  assert.equal(t.get('fd00::a/8080')?.port, 8080);
  // A prefix of an address, a port that is a prefix of another, an address that extends one held.
  for (const missing of ['10.0.0.1/443', '10.0.0.1/8', '10.0.0.1/800', '10.0.0.10/80', '10.0.0.1/', '/80', '10.0.0.1', '10.0.0.1/8x', 'fd00::/8080', '', '10.0.0.1/080', '10.0.0.1/0000080']) {
    assert.equal(t.get(missing), undefined, missing);
    assert.equal(t.has(missing), false, missing);
  }
  assert.equal(t.get('10.0.0.10/443'), t.list[2]);
  assert.equal(t.size, 3);
  assert.deepEqual([...t.keys()], ['10.0.0.1/80', 'fd00::a/8080', '10.0.0.10/443']);
  assert.equal(Object.prototype.toString.call(t), '[object ServerTable]');
  // new Map(table) is how the kernel model takes a copy it may change.
  assert.deepEqual([...new Map(t)], [...t.entries()]);
});

test('a table answers as a Map of the same servers would, small or indexed', () => {
  const address = fc.constantFrom('10.0.0.1', '10.0.0.10', '10.0.0.100', '10.0.1.1', 'fd00::1', 'fd00::10');
  const port = fc.constantFrom(1, 8, 80, 800, 8080, 65535);
  fc.assert(fc.property(
    fc.uniqueArray(fc.tuple(address, port), { selector: ([a, p]) => `${a}/${p}`, maxLength: 36 }),
    fc.array(fc.tuple(address, fc.oneof(port.map(String), fc.constantFrom('080', '00', '0', '65536', '8080x'))), { maxLength: 20 }),
    (pairs, probes) => {
      const servers = pairs.map(([a, p]) => server(a, p));
      const table = new ServerTable(servers);
      const map = new Map(servers.map((s) => [serverKeyString(s), s]));
      assert.equal(table.size, map.size);
      assert.deepEqual([...table], [...map]);
      assert.deepEqual([...table.values()], [...map.values()]);
      const seen: string[] = [];
      table.forEach((s, k, m) => { assert.equal(m, table); assert.equal(k, serverKeyString(s)); seen.push(k); });
      assert.deepEqual(seen, [...map.keys()]);
      for (const [a, p] of [...probes, ...pairs]) {
        const key = `${a}/${p}`;
        assert.equal(table.get(key), map.get(key), key);
        assert.equal(table.has(key), map.has(key), key);
      }
    },
  ), { numRuns: 300 });
  assert.ok(INDEX_FROM < 36, 'the property reaches indexed tables');
});
