// How ipset operations are packed into messages, and which are sent again after a refused message
// so that each entry still ends as its last operation says (src/ipset/batch.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packRuns, resendToStayLast } from '../../src/ipset/batch.js';

const ADD = 9, DEL = 10; // IPSET_CMD_ADD, IPSET_CMD_DEL (ip_set.h)
interface Op { cmd: number; set: string; entry: string; index: number }
let index = 0;
const op = (cmd: number, set: string, entry: string): Op => ({ cmd, set, entry, index: index++ });
const names = (packs: Op[][]) => packs.map((p) => p.map((o) => `${o.cmd === ADD ? '+' : '-'}${o.set}:${o.entry}`).join(' '));

test('runs of one command on one set, at most max to a message, each set in its own order', () => {
  const a = [op(ADD, 'A', '1'), op(ADD, 'A', '2'), op(ADD, 'A', '3'), op(DEL, 'A', '1'), op(ADD, 'A', '4'), op(ADD, 'A', '5')];
  const b = [op(DEL, 'B', '1'), op(DEL, 'B', '2')];
  assert.deepEqual(names(packRuns([a, b], 2)), ['+A:1 +A:2', '+A:3', '-A:1', '+A:4 +A:5', '-B:1 -B:2']);
  assert.deepEqual(packRuns([a, b], 256).map((p) => p.length), [3, 1, 2, 2]);
  assert.deepEqual(packRuns([[], []], 2), [], 'no operation, no message');
});

test('600 adds to one set go as messages of 256, 256 and 88 entries, every one once and in order', () => {
  const many = Array.from({ length: 600 }, (_, i) => op(ADD, 'S', String(i)));
  const packs = packRuns([many], 256);
  assert.deepEqual(packs.map((p) => p.length), [256, 256, 88]);
  assert.deepEqual(packs.flat(), many);
});

test('after a refused message is resent entry by entry, a later operation on one of its entries is sent again', () => {
  const addX = op(ADD, 'A', 'x'), addY = op(ADD, 'A', 'y'), delX = op(DEL, 'A', 'x'), addZ = op(ADD, 'A', 'z');
  const otherSetX = op(DEL, 'B', 'x');
  // [+x +y] was refused and resent after [-x] had gone in: -x must go again to stay last; y has no
  // later operation; B's x is another set's entry.
  assert.deepEqual(resendToStayLast([[addX, addY, delX, addZ], [otherSetX]], [addX, addY], (o) => `${o.set}\0${o.entry}`), [delX]);
  // When the last operation on the entry was itself among the resent ones, nothing more is needed.
  const addX2 = op(ADD, 'A', 'x');
  assert.deepEqual(resendToStayLast([[addX, delX, addX2]], [addX, addX2], (o) => `${o.set}\0${o.entry}`), []);
  // An entry resent twice asks for its fix once.
  assert.deepEqual(resendToStayLast([[addX, addX2, delX]], [addX, addX2], (o) => `${o.set}\0${o.entry}`), [delX]);
});
