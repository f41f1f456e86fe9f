// nftables' table list over nfnetlink: the dump request's bytes and the decoding of its replies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeListTables, decodeTable, NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWTABLE, NFTA_TABLE_NAME } from '../../src/nftables/tables.js';
import { MessageWriter, NLM_F_REQUEST, NLM_F_DUMP } from '../../src/netlink/message.js';

/** A NEWTABLE reply's payload: nfgenmsg, then the attributes the kernel sends (name, flags, use, handle). */
function reply(family: number, name: string): Buffer {
  const w = new MessageWriter(128).begin(0, 0, 1);
  w.raw(Uint8Array.of(family, 0, 0, 0));
  w.string(NFTA_TABLE_NAME, name).u32(2, 0).u32(3, 4);
  w.end();
  return Buffer.from(w.slice().subarray(16));
}

test('the dump request: NFT_MSG_GETTABLE of subsystem 10, NLM_F_DUMP, nfgenmsg for every family', () => {
  const b = encodeListTables(77).slice();
  assert.equal(b.length, 20);
  assert.equal(b.readUInt32LE(0), 20);
  assert.equal(b.readUInt16LE(4), 0x0a01);
  assert.equal(b.readUInt16LE(6), NLM_F_REQUEST | NLM_F_DUMP);
  assert.equal(b.readUInt32LE(8), 77);
  assert.deepEqual([...b.subarray(16)], [0, 0, 0, 0]);
});

test('replies decode as nft names them: "family name", NUL cut, other messages ignored', () => {
  const newTable = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE;
  assert.equal(decodeTable(newTable, reply(2, 'kube-proxy')), 'ip kube-proxy');
  assert.equal(decodeTable(newTable, reply(10, 'kube-proxy')), 'ip6 kube-proxy');
  assert.equal(decodeTable(newTable, reply(1, 'filter')), 'inet filter');
  assert.equal(decodeTable(newTable, reply(7, 'br')), 'bridge br');
  assert.equal(decodeTable(newTable, reply(5, 'ingress')), 'netdev ingress');
  assert.equal(decodeTable(newTable, reply(3, 'a')), 'arp a');
  // Another message type (a chain), a short payload, no name: nothing.
  assert.equal(decodeTable(newTable + 3, reply(2, 'kube-proxy')), undefined);
  assert.equal(decodeTable(newTable, Buffer.alloc(2)), undefined);
  assert.equal(decodeTable(newTable, Buffer.from([2, 0, 0, 0])), undefined);
});
