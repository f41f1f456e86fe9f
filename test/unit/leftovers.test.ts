// Which chains a mode switch removes, and the filtered cleanup that removes them (with a fake iptables).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isIptablesModeOnlyChain, isIpvsModeOnlyChain, isProxyChain, alternativesBackend, hasLegacyTables, nftProxyTables, removeNftTables } from '../../src/backends/leftovers.js';
import { leftoverNftTables, type Preview } from '../../src/backends/preview.js';
import { diffText } from '../../src/cli/diff-text.js';
import { Iptables, hasRandomFully, iptablesVersion } from '../../src/iptables/iptables.js';

test('mode-only chains: per-Service chains and iptables-mode top chains go under IPVS mode; shared chains stay', () => {
  for (const c of ['KUBE-SVC-NPX46M4PTMTKRN6Y', 'KUBE-SEP-ABCDEFGHIJKLMNOP', 'KUBE-SVL-X', 'KUBE-EXT-X', 'KUBE-FW-X', 'KUBE-NODEPORTS']) {
    assert.ok(isIptablesModeOnlyChain('nat', c), c);
  }
  for (const c of ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-NODEPORTS']) assert.ok(isIptablesModeOnlyChain('filter', c), `filter ${c}`);
  // Both modes write these: the new mode rewrites them rather than deleting them.
  for (const c of ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']) assert.ok(!isIptablesModeOnlyChain('nat', c) && !isIpvsModeOnlyChain('nat', c), c);
  for (const c of ['KUBE-FORWARD', 'KUBE-PROXY-FIREWALL']) assert.ok(!isIptablesModeOnlyChain('filter', c) && !isIpvsModeOnlyChain('filter', c), c);
  for (const c of ['KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER']) assert.ok(isIpvsModeOnlyChain('nat', c), c);
  for (const c of ['KUBE-NODE-PORT', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER']) assert.ok(isIpvsModeOnlyChain('filter', c), c);
  // kubelet's chains are nobody's leftovers.
  for (const c of ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-MARK-DROP']) assert.ok(!isProxyChain('filter', c) && !isProxyChain('nat', c), c);
  assert.ok(isProxyChain('nat', 'KUBE-PROXY-CANARY') && isProxyChain('nat', 'KUBE-SVC-X') && isProxyChain('filter', 'KUBE-IPVS-FILTER'));
});

test('Iptables.cleanup(filter): removes the selected chains and the built-in jumps into them; a chain still used by a kept chain is only flushed', () => {
  const save = [
    '*nat', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-SVC-AAAA - [0:0]', ':KUBE-SEP-BBBB - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -j KUBE-NODEPORTS',
    '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-AAAA',
    '-A KUBE-SVC-AAAA -j KUBE-SEP-BBBB',
    '-A KUBE-SEP-BBBB -p tcp -m tcp -j DNAT --to-destination 10.0.0.1:6443',
    'COMMIT', '',
  ].join('\n');
  const restores: string[] = [];
  const run = (cmd: string, _args: string[], input?: string) => (cmd.endsWith('-save') ? save : (restores.push(input ?? ''), ''));
  const warns: object[] = [];
  const n = new Iptables({ family: 'inet', command: 'iptables-legacy', run, log: { warn: (o) => void warns.push(o) } }).cleanup(isIptablesModeOnlyChain);
  const input = restores.join('');
  // KUBE-SERVICES is not selected (IPVS mode rewrites it), so KUBE-SVC-AAAA, which it still jumps to, is flushed and kept.
  assert.equal(n, 2, input);
  assert.match(input, /-D OUTPUT 1\n/);
  assert.doesNotMatch(input, /-D PREROUTING/);
  assert.match(input, /-F KUBE-SVC-AAAA\n/);
  assert.doesNotMatch(input, /-X KUBE-SVC-AAAA\n/);
  for (const c of ['KUBE-SEP-BBBB', 'KUBE-NODEPORTS']) assert.match(input, new RegExp(`-X ${c}\\n`));
  assert.equal(warns.length, 1);
});

test('Iptables: the command chooses the binaries; alternativesBackend reads iptables --version', () => {
  const calls: string[] = [];
  const run = (cmd: string) => (calls.push(cmd), '');
  new Iptables({ family: 'inet6', command: 'iptables-nft', run }).cleanup();
  new Iptables({ family: 'inet', command: 'iptables-legacy', run }).cleanup();
  assert.deepEqual(calls, ['ip6tables-nft-save', 'iptables-legacy-save']);
  assert.equal(alternativesBackend(() => 'iptables v1.8.9 (legacy)\n'), 'legacy');
  assert.equal(alternativesBackend(() => 'iptables v1.8.9 (nf_tables)\n'), 'nft');
});

test('hasLegacyTables: the kernel\'s list of legacy tables decides, per family; no list means none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-procnet-'));
  try {
    assert.equal(hasLegacyTables('inet', dir), false, 'ip_tables not loaded');
    writeFileSync(join(dir, 'ip_tables_names'), '');
    writeFileSync(join(dir, 'ip6_tables_names'), 'filter\nnat\n');
    assert.equal(hasLegacyTables('inet', dir), false, 'loaded, no table in this namespace');
    assert.equal(hasLegacyTables('inet6', dir), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('iptablesVersion and hasRandomFully read the binary\'s --version (kube-proxy: 1.6.2 or later)', () => {
  const says = (text: string) => (cmd: string, args: string[]) => {
    assert.deepEqual(args, ['--version']);
    return `${cmd} ${text}\n`;
  };
  assert.deepEqual(iptablesVersion('iptables-nft', says('v1.8.9 (nf_tables)')), [1, 8, 9]);
  assert.equal(hasRandomFully('iptables', says('v1.8.9 (legacy)')), true);
  assert.equal(hasRandomFully('iptables', says('v1.6.2')), true);
  assert.equal(hasRandomFully('iptables', says('v1.6.1')), false);
  assert.equal(hasRandomFully('iptables', says('v1.4')), false);
  assert.equal(hasRandomFully('iptables', () => { throw new Error('not found'); }), false);
});

test('nftables mode\'s tables: found among the listed tables (only kube-proxy\'s, both families), removed in one nft -f transaction', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-sysmodule-'));
  try {
    const listed = ['inet filter', 'ip kube-proxy', 'ip6 kube-proxy', 'ip nat', 'inet kube-proxy'];
    let lists = 0;
    const list = () => (lists++, listed);
    const calls: { cmd: string; args: string[]; input?: string }[] = [];
    const run = (cmd: string, args: string[], input?: string) => (calls.push({ cmd, args, ...(input !== undefined ? { input } : {}) }), '');
    // Without nf_tables loaded there is nothing to find, and nothing is asked (it would load the module).
    assert.deepEqual(nftProxyTables(list, dir), []);
    assert.equal(lists, 0);
    mkdirSync(join(dir, 'nf_tables'));
    // "inet kube-proxy" is not kube-proxy's (it writes ip and ip6 tables), so it stays.
    assert.deepEqual(nftProxyTables(list, dir), ['ip kube-proxy', 'ip6 kube-proxy']);
    const infos: object[] = [];
    const log = { info: (o: object) => void infos.push(o), warn() {}, error() {}, debug() {} };
    assert.deepEqual(removeNftTables(log, run, dir, list), ['ip kube-proxy', 'ip6 kube-proxy']);
    assert.deepEqual(calls.map((c) => [c.cmd, ...c.args]), [['nft', '-f', '-']]);
    assert.equal(calls[0]!.input, 'delete table ip kube-proxy\ndelete table ip6 kube-proxy\n');
    assert.equal(infos.length, 1);
    // None there: nft is not run. The list refused, or nft missing: nothing removed, no throw.
    calls.length = 0;
    assert.deepEqual(removeNftTables(log, run, dir, () => ['inet filter']), []);
    assert.equal(calls.length, 0);
    assert.deepEqual(removeNftTables(log, run, dir, () => { throw new Error('list nftables tables: Operation not permitted'); }), []);
    assert.deepEqual(removeNftTables(log, () => { throw new Error('spawnSync nft ENOENT'); }, dir, list), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kipvs diff lists nftables mode\'s tables as removals with their content', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-sysmodule-'));
  try {
    mkdirSync(join(dir, 'nf_tables'));
    const table = 'table ip kube-proxy {\n\tchain services {\n\t}\n}\n';
    const run = () => table;
    const out: Preview = { mode: 'ipvs', changes: [], foreign: [], unread: [] };
    leftoverNftTables(out, run, dir, () => ['ip kube-proxy', 'inet filter']);
    assert.deepEqual(out.changes, [{ object: 'nft-table', action: 'remove', name: 'ip kube-proxy', before: ['table ip kube-proxy {', '\tchain services {', '\t}', '}'], note: "kube-proxy's nftables mode's leftover" }]);
    const text = diffText(out, [], { color: false, target: 't', node: 'n' });
    assert.match(text, /@@ nft-table ip kube-proxy @@ kube-proxy's nftables mode's leftover\n-table ip kube-proxy \{\n/);
    assert.match(text, /^# 1 nftables table to remove$/m);
    const failing: Preview = { mode: 'ipvs', changes: [], foreign: [], unread: [] };
    leftoverNftTables(failing, run, dir, () => { throw new Error('list nftables tables: Operation not permitted'); });
    assert.deepEqual(failing.unread, ['nftables: list nftables tables: Operation not permitted']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pre-1.24 KUBE-XLB- chains count as iptables mode\'s', () => {
  assert.ok(isIptablesModeOnlyChain('nat', 'KUBE-XLB-ABCDEFGHIJKLMNOP'));
  assert.ok(!isIptablesModeOnlyChain('filter', 'KUBE-XLB-ABCDEFGHIJKLMNOP'));
});
