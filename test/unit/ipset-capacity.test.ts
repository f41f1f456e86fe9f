// The maxelem rule for hash sets (src/ipset/capacity.ts), without a kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAXELEM, grownMaxElem, maxElemFor } from '../../src/ipset/capacity.js';

test("a set is made with kube-proxy's 65,536 until that leaves less than twice its entries", () => {
  assert.equal(DEFAULT_MAXELEM, 65536);
  for (const n of [0, 1, 1000, 32767, 32768]) assert.equal(maxElemFor(n), 65536, `${n} entries`);
  // Past half of 65,536: the next power of two at or above twice the entries.
  assert.equal(maxElemFor(32769), 131072);
  assert.equal(maxElemFor(65536), 131072);
  assert.equal(maxElemFor(65537), 262144);
  // 44,000 Services with three ports each in KUBE-CLUSTER-IP.
  assert.equal(maxElemFor(132000), 524288);
  assert.equal(maxElemFor(2 ** 20), 2 ** 21);
  assert.equal(maxElemFor(2 ** 20 + 1), 2 ** 22);
});

test('the result always holds twice the entries, is a power of two past the floor, and never less than the floor', () => {
  for (const floor of [1, 16, 100, 65536]) {
    for (let n = 0; n < 5000; n += 7) {
      const m = maxElemFor(n, floor);
      assert.ok(m >= floor, `floor ${floor}, ${n} entries: ${m}`);
      assert.ok(m >= 2 * n, `floor ${floor}, ${n} entries: ${m} leaves room for twice`);
      if (m !== floor) {
        assert.equal(m & (m - 1), 0, `${m} is a power of two`);
        assert.ok(m / 2 < 2 * n, `${m} is the smallest such power of two for ${n} entries`);
      }
    }
  }
});

test('a set is remade only when its entries do not fit, never smaller, and then with room to double', () => {
  // kube-proxy's set, adopted while its entries fit (the kernel takes members up to maxelem).
  assert.equal(grownMaxElem(65536, 0), undefined);
  assert.equal(grownMaxElem(65536, 65536), undefined);
  assert.equal(grownMaxElem(65536, 65537), 262144);
  // A set made bigger by hand than kipvs would is kept as it is.
  assert.equal(grownMaxElem(1_000_000, 70000), undefined);
  // A small set (made with `maxelem 16`) and a test's small floor.
  assert.equal(grownMaxElem(16, 16, 16), undefined);
  assert.equal(grownMaxElem(16, 17, 16), 64);
  assert.equal(grownMaxElem(16, 40, 16), 128);
  // With kube-proxy's floor, a too small set goes straight to at least 65,536.
  assert.equal(grownMaxElem(16, 17), 65536);
  // A maxelem that is no power of two (made by hand) grows to one.
  assert.equal(grownMaxElem(100, 101, 16), 256);
});

test('bad numbers are errors naming the number', () => {
  assert.throws(() => maxElemFor(-1), /number of entries must be an integer .* not -1/);
  assert.throws(() => maxElemFor(1.5), /number of entries .* not 1.5/);
  assert.throws(() => maxElemFor(10, 0), /smallest maxelem must be an integer from 1 .* not 0/);
  assert.throws(() => grownMaxElem(Number.NaN, 10), /current maxelem .* not NaN/);
  assert.throws(() => maxElemFor(2 ** 31 + 1), /more than a set can hold/);
});
