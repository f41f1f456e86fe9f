// Making a too-small ipset bigger in the real kernel: the swap against `ipset swap` (bytes and
// behaviour), and IpsetSync remaking a set that `ipset create ... maxelem 16` made, under an iptables
// rule that matches it. `ipset list -t`, `ipset save`, `iptables-save` and the rule's packet counter are
// the oracle. Like every sandbox file, it runs in a fresh network namespace of its own (see
// test/sandbox-entry.ts). The sizing rule's floor is lowered to 16 so that a few dozen entries
// overflow a set, not 65,536.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { IpsetClient, IpsetError } from '../../src/ipset/client.js';
import { beginIpset, putSwap } from '../../src/ipset/codec.js';
import { Cmd } from '../../src/ipset/constants.js';
import { GROW_TEMP_SET } from '../../src/ipset/grow.js';
import { MessageWriter } from '../../src/netlink/message.js';
import { IpsetSync } from '../../src/backends/ipvs/ipsets.js';
import { entryKey, type IpsetEntryKey } from '../../src/model/ipsets.js';
import type { Family } from '../../src/netlink/address.js';
import { sh, shStatus } from './helpers.js';

const CIP = 'KUBE-CLUSTER-IP';

const logged: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
const at = (level: string) => (obj: object, msg = '') => void logged.push({ level, obj: obj as Record<string, unknown>, msg });
const log = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };

/** What `ipset list -t NAME` says of a set. */
function header(name: string): { type: string; maxElem: number; references: number; entries: number } {
  const out = sh(`ipset list -t ${name}`);
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    type: /^Type: (.*)$/m.exec(out)?.[1] ?? '?',
    maxElem: num(/\bmaxelem (\d+)/),
    references: num(/^References: (\d+)$/m),
    entries: num(/^Number of entries: (\d+)$/m),
  };
}

/** A set's members as `ipset save` writes them, sorted. */
function saved(name: string): string[] {
  return sh(`ipset save ${name}`).split('\n').filter((l) => l.startsWith(`add ${name} `)).map((l) => l.slice(`add ${name} `.length)).sort();
}

const setNames = () => sh('ipset list -n').split('\n').filter(Boolean);
const cip = (i: number) => `10.96.${i >> 8}.${i & 255},tcp:${80 + (i % 3)}`;
const keysOf = (entries: string[]): IpsetEntryKey[] => entries.map((e) => entryKey('inet', CIP, e));

/** Packets the OUTPUT rule that matches KUBE-CLUSTER-IP has counted. */
function matched(): number {
  const line = sh('iptables -w -t filter -L OUTPUT -v -x -n').split('\n').find((l) => l.includes(`match-set ${CIP}`));
  assert.ok(line, `the rule matching ${CIP} is in OUTPUT`);
  return Number(line.trim().split(/\s+/)[0]);
}

/** One UDP datagram to `ip`:`port`. */
const sendUdp = (ip: string, port: number) => sh(`bash -c 'echo x > /dev/udp/${ip}/${port}'`);

before(() => {
  // Cluster IPs are local, so datagrams to them pass OUTPUT (and are dropped unanswered).
  sh('ip route add local 10.96.0.0/16 dev lo');
});

test('swap sends what `ipset swap` sends, and does what it does: names exchanged, a missing or different set refused', () => {
  sh('ipset create grow-a hash:ip,port maxelem 16');
  sh('ipset add grow-a 10.0.0.1,tcp:80');
  sh('ipset create grow-b hash:ip,port');
  sh('ipset create grow-c hash:ip');
  // The bytes: `ipset swap` under strace, against ours with its sequence number.
  const trace = sh('strace -f -e trace=sendto -e write=all ipset swap grow-a grow-b 2>&1 >/dev/null');
  const dump = trace.split(/\n(?=sendto\()/).find((s) => s.includes('IPSET_CMD_SWAP'));
  assert.ok(dump, `strace shows ipset's swap message:\n${trace}`);
  const bytes = Buffer.from([...dump.matchAll(/^ \| [0-9a-f]{5} {2}((?:[0-9a-f]{2} {1,2}){1,16})/gm)].map((m) => m[1]!.replace(/\s+/g, '')).join(''), 'hex');
  const seq = bytes.readUInt32LE(8);
  const w = new MessageWriter();
  beginIpset(w, Cmd.SWAP, seq, { protocol: 7 });
  putSwap(w, 'grow-a', 'grow-b');
  w.end();
  assert.equal(w.slice().toString('hex'), bytes.toString('hex'), 'our swap message is ipset\'s, byte for byte');
  // ipset swapped them: grow-b now has maxelem 16 and the entry. Ours swaps them back.
  assert.equal(header('grow-b').maxElem, 16);
  const client = IpsetClient.open();
  try {
    client.swap('grow-a', 'grow-b');
    assert.deepEqual({ a: header('grow-a').maxElem, b: header('grow-b').maxElem }, { a: 16, b: 65536 });
    assert.deepEqual(saved('grow-a'), ['10.0.0.1,tcp:80']);
    assert.equal(client.header('grow-a')?.maxElem, 16, 'header() reads maxelem as ipset lists it');
    // Refusals name the set, as ipset's own messages do.
    assert.notEqual(shStatus('ipset swap grow-a grow-none').status, 0);
    assert.throws(() => client.swap('grow-a', 'grow-none'), (e: Error) => e instanceof IpsetError && e.code === 'IPSET_ERR_EXIST_SETNAME2' && /grow-a: swap with grow-none: there is no set grow-none/.test(e.message));
    assert.throws(() => client.swap('grow-none', 'grow-a'), (e: Error) => e instanceof IpsetError && /grow-none: swap with grow-a: there is no set grow-none/.test(e.message));
    assert.notEqual(shStatus('ipset swap grow-a grow-c').status, 0);
    assert.throws(() => client.swap('grow-a', 'grow-c'), (e: Error) => e instanceof IpsetError && e.code === 'IPSET_ERR_TYPE_MISMATCH' && /grow-a and grow-c differ in type or family/.test(e.message));
  } finally {
    client.close();
    for (const name of ['grow-a', 'grow-b', 'grow-c']) sh(`ipset destroy ${name}`);
  }
});

test("IpsetSync remakes a set too small for its entries: bigger, exactly the entries, the rule that matches it still matching, no temporary set", () => {
  sh(`ipset create ${CIP} hash:ip,port maxelem 16`);
  const old = [cip(1), cip(2), cip(3), '10.96.9.9,tcp:9'];
  for (const e of old) sh(`ipset add ${CIP} ${e}`);
  sh(`iptables -w -t filter -A OUTPUT -m set --match-set ${CIP} dst,dst -j ACCEPT`);
  // A leftover of an interrupted growth, of another type: the sync destroys it first.
  sh(`ipset create ${GROW_TEMP_SET} hash:ip`);
  const want = [...Array.from({ length: 39 }, (_, i) => cip(i + 1)), '10.96.1.1,udp:53'];
  sendUdp('10.96.1.1', 53);
  assert.equal(matched(), 0, 'before: 10.96.1.1,udp:53 is not in the set');

  const client = IpsetClient.open();
  try {
    const sync = new IpsetSync({ client, families: ['inet'], log, minMaxElem: 16 });
    const r = sync.reconcile(keysOf(want));
    assert.deepEqual(r.failures, []);
    assert.equal(r.grown, 1);
    const h = header(CIP);
    assert.deepEqual(h, { type: 'hash:ip,port', maxElem: 128, references: 1, entries: 40 }, '40 entries: maxelem 128; the rule\'s reference moved with the name');
    assert.deepEqual(saved(CIP), [...want].sort());
    assert.ok(!setNames().includes(GROW_TEMP_SET), `no ${GROW_TEMP_SET} left: ${setNames().join(' ')}`);
    assert.match(sh('iptables-save -t filter'), new RegExp(`-A OUTPUT -m set --match-set ${CIP} dst,dst -j ACCEPT`));
    sendUdp('10.96.1.1', 53);
    sendUdp('10.96.1.1', 54);
    assert.equal(matched(), 1, 'after: the rule matches the new set\'s entry (and not a port outside it)');
    const grew = logged.find((l) => l.msg === 'ipset made bigger to hold its entries');
    assert.deepEqual(grew && [grew.obj.set, grew.obj.fromMaxElem, grew.obj.toMaxElem, grew.obj.entries], [CIP, 16, 128, 40]);

    // A commit that takes it past 128: the incremental path remakes it again, from the model's entries.
    const more = Array.from({ length: 100 }, (_, i) => cip(i + 40));
    const desired = new Set(keysOf([...want, ...more]));
    const model = {
      ipsetSize: (family: Family, role: string) => [...desired].filter((k) => k.startsWith(`${family}|${role}|`)).length,
      ipsetEntries: () => desired,
    };
    const c = sync.applyChanges(keysOf(more), [], (k) => desired.has(k), model);
    assert.deepEqual(c.failures, []);
    assert.equal(c.grown, 1);
    assert.deepEqual(header(CIP), { type: 'hash:ip,port', maxElem: 512, references: 1, entries: 140 });
    assert.deepEqual(saved(CIP), [...want, ...more].sort());
    sendUdp('10.96.1.1', 53);
    assert.equal(matched(), 2);
    assert.ok(!setNames().includes(GROW_TEMP_SET));
    // A set that fits is left alone at the next full sync.
    assert.equal(sync.reconcile(desired).grown, 0);
    assert.equal(header(CIP).maxElem, 512);

    // Cleanup takes the temporary set too (once no rule matches the sets).
    sh(`ipset create ${GROW_TEMP_SET} hash:ip`);
    sh('iptables -w -t filter -F OUTPUT');
    sync.destroy();
    assert.deepEqual(setNames().filter((n) => n.startsWith('KUBE-') || n === GROW_TEMP_SET), []);
  } finally {
    client.close();
  }
});
