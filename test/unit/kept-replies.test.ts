// KeptReplies: a dump's reply payloads copied into one growing buffer, each at a 4-byte boundary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeptReplies } from '../../src/netlink/kept-replies.js';

test('kept replies: copies (not views), each at a 4-byte boundary, across growth', () => {
  const kept = new KeptReplies(64);
  const source = Buffer.alloc(100);
  const want: Buffer[] = [];
  for (let i = 0; i < 50; i++) {
    // Lengths 1..13: most not a multiple of 4.
    const len = 1 + (i % 13);
    for (let j = 0; j < len; j++) source[10 + j] = (i * 31 + j) & 255;
    want.push(Buffer.from(source.subarray(10, 10 + len)));
    kept.push(source, 10, 10 + len);
  }
  // The source is overwritten, as a receive buffer is by the next datagram.
  source.fill(0);
  assert.equal(kept.count, 50);
  assert.ok(kept.bytes.length > 64, 'it grew');
  for (let i = 0; i < 50; i++) {
    assert.equal(kept.start(i) % 4, 0, `reply ${i} aligned`);
    assert.deepEqual(kept.bytes.subarray(kept.start(i), kept.end(i)), want[i], `reply ${i}`);
  }
  assert.equal(kept.size, kept.end(49));
});

test('kept replies: clear() forgets every reply (a dump read again from its start)', () => {
  const kept = new KeptReplies();
  kept.push(Buffer.from([1, 2, 3]), 0, 3);
  kept.clear();
  assert.equal(kept.count, 0);
  kept.push(Buffer.from([7, 8]), 0, 2);
  assert.equal(kept.count, 1);
  assert.equal(kept.start(0), 0);
  assert.deepEqual([...kept.bytes.subarray(kept.start(0), kept.end(0))], [7, 8]);
});
