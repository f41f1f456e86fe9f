// `kipvs diff` and takeover, on the host: the applier adopts kube-proxy's jumps (any comment) instead of
// adding its own beside them; its preview reports exactly what apply() would write; the diff text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipvsModeRules, ruleWithoutComment } from '../../src/iptables/rules.js';
import { Iptables } from '../../src/iptables/iptables.js';
import { fakeRun, savedForm } from './fake-iptables.js';
import { lineDiff, previewSummary, type Preview } from '../../src/backends/preview.js';
import { compareRendered } from '../../src/backends/iptables/preview.js';
import { serviceRule, serverRule, serviceName } from '../../src/backends/ipvs/preview.js';
import { parseSave } from '../../src/iptables/rules.js';
import { diffJson, diffText, summaryLine } from '../../src/cli/diff-text.js';

const V4 = { family: 'inet' as const, masqueradeAll: false, masqueradeBit: 14, localDetector: { kind: 'cidr' as const, cidr: '10.244.0.0/16' } };

const KUBE_PROXY_COMMENTS = { 'KUBE-SERVICES': 'kubernetes service portals', 'KUBE-POSTROUTING': 'kubernetes postrouting rules', 'KUBE-FORWARD': 'kubernetes forwarding rules', 'KUBE-NODE-PORT': 'kubernetes health check rules', 'KUBE-PROXY-FIREWALL': 'kube-proxy firewall rules', 'KUBE-IPVS-FILTER': 'kubernetes ipvs access filter', 'KUBE-IPVS-OUT-FILTER': 'kubernetes ipvs access filter' };

test('ruleWithoutComment: jumps equal whatever their comment, and only then', () => {
  const a = ruleWithoutComment('-m comment --comment "kubernetes service portals" -j KUBE-SERVICES', 'inet');
  assert.equal(a, ruleWithoutComment('-m comment --comment "kipvs service portals" -j KUBE-SERVICES', 'inet'));
  assert.equal(a, ruleWithoutComment('-j KUBE-SERVICES', 'inet'));
  assert.notEqual(a, ruleWithoutComment('-m comment --comment "kubernetes service portals" -j KUBE-POSTROUTING', 'inet'));
  assert.notEqual(a, ruleWithoutComment('-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', 'inet'));
});

test('takeover: kube-proxy\'s jumps are adopted — no jump added beside them, nothing restored, the preview empty', () => {
  const rs = ipvsModeRules(V4);
  const state = { save: savedForm(rs, KUBE_PROXY_COMMENTS), restores: [] as string[], calls: [] as string[] };
  assert.ok(state.save.includes('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'));
  const ipt = new Iptables({ family: 'inet', run: fakeRun(state) });
  assert.deepEqual(ipt.preview(rs), { chains: [], jumps: [] });
  assert.equal(ipt.apply(rs).changed, false);
  assert.deepEqual(state.restores, []);
});

test('takeover: chains holding our rules under other comments (kube-proxy\'s) are not rewritten; a changed rule is', () => {
  const rs = ipvsModeRules(V4);
  const theirs = savedForm(rs, KUBE_PROXY_COMMENTS).replace(/^(-A KUBE-\S+ .*--comment )("[^"]*"|\S+)/gm, '$1"written by kube-proxy"');
  assert.ok(theirs.includes('"written by kube-proxy"'));
  const state = { save: theirs, restores: [] as string[], calls: [] as string[] };
  assert.equal(new Iptables({ family: 'inet', run: fakeRun(state) }).apply(rs).changed, false);
  state.save = theirs.replace(/-A KUBE-SERVICES -s 127.0.0.0\/8/, '-A KUBE-SERVICES -s 127.0.0.0/16');
  const p = new Iptables({ family: 'inet', run: fakeRun(state) }).preview(rs);
  assert.deepEqual(p.chains.map((c) => c.chain), ['KUBE-SERVICES']);
});

test('takeover: two jumps into one chain: the one with our (kube-proxy\'s) text stays, else the first; the other goes, by its own text', () => {
  const rs = ipvsModeRules(V4);
  const first = '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n';
  const older = '-A OUTPUT -m comment --comment "kipvs service portals" -j KUBE-SERVICES\n';
  const base = savedForm(rs, {});
  assert.ok(base.includes(first), 'kipvs writes kube-proxy\'s jump text');
  const state = { save: base.replace(first, first + older), restores: [] as string[], calls: [] as string[] };
  const ipt = new Iptables({ family: 'inet', run: fakeRun(state) });
  const p = ipt.preview(rs);
  assert.deepEqual(p.chains, []);
  assert.deepEqual(p.jumps, [{ table: 'nat', chain: 'OUTPUT', action: 'remove', rule: '-m comment --comment "kipvs service portals" -j KUBE-SERVICES' }]);
  ipt.apply(rs);
  assert.deepEqual(state.restores, ['*nat\n-D OUTPUT -m comment --comment "kipvs service portals" -j KUBE-SERVICES\nCOMMIT\n']);
  // The other one first: still the one with our exact text stays.
  const first2 = { save: base.replace(first, older + first), restores: [] as string[], calls: [] as string[] };
  assert.deepEqual(new Iptables({ family: 'inet', run: fakeRun(first2) }).preview(rs).jumps.map((j) => j.rule), ['-m comment --comment "kipvs service portals" -j KUBE-SERVICES']);
  // Neither with our text: the first stays.
  const neither = { save: base.replace(first, older + older.replace('kipvs service portals', 'someone else')), restores: [] as string[], calls: [] as string[] };
  assert.deepEqual(new Iptables({ family: 'inet', run: fakeRun(neither) }).preview(rs).jumps.map((j) => j.rule), ['-m comment --comment "someone else" -j KUBE-SERVICES']);
});

test('Iptables.preview: a changed chain with before and after, a missing chain, a missing jump; nothing written', () => {
  const rs = ipvsModeRules(V4);
  let save = savedForm(rs, {});
  save = save.replace(/-A KUBE-MARK-MASQ .*\n/, '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x8000/0x8000\n');
  save = save.replace(':KUBE-IPVS-OUT-FILTER - [0:0]\n', '').replace(/-A OUTPUT .*KUBE-IPVS-OUT-FILTER\n/, '');
  const state = { save, restores: [] as string[], calls: [] as string[] };
  const p = new Iptables({ family: 'inet', run: fakeRun(state) }).preview(rs);
  assert.deepEqual(state.calls, ['iptables-save']);
  const byName = new Map(p.chains.map((c) => [`${c.table} ${c.chain}`, c]));
  assert.deepEqual([...byName.keys()].sort(), ['filter KUBE-IPVS-OUT-FILTER', 'nat KUBE-MARK-MASQ']);
  assert.deepEqual(byName.get('nat KUBE-MARK-MASQ')!.before, ['-A KUBE-MARK-MASQ -j MARK --set-xmark 0x8000/0x8000']);
  assert.match(byName.get('nat KUBE-MARK-MASQ')!.after.join('\n'), /--or-mark 0x4000/);
  assert.equal(byName.get('filter KUBE-IPVS-OUT-FILTER')!.before, null);
  assert.deepEqual(p.jumps.map((j) => `${j.action} ${j.table} ${j.chain} ${j.rule}`), ['add filter OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER']);
});

test('lineDiff: context, removals and additions by a key that ignores the printing', () => {
  assert.deepEqual(lineDiff(['a', 'b', 'c'], ['a', 'x', 'c']), [' a', '-b', '+x', ' c']);
  assert.deepEqual(lineDiff(['A', 'b'], ['a', 'b', 'c'], (l) => l.toLowerCase()), [' A', ' b', '+c']);
  assert.deepEqual(lineDiff([], ['x']), ['+x']);
  assert.deepEqual(lineDiff(['x'], []), ['-x']);
});

test('compareRendered (iptables mode): changed and new chains, -X chains that exist, missing kube-proxy jumps', () => {
  const saved = parseSave([
    '*nat', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-SVC-AAAA - [0:0]', ':KUBE-SEP-OLD - [0:0]',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/a cluster IP" -m tcp --dport 80 -j KUBE-SVC-AAAA',
    '-A KUBE-SVC-AAAA -m comment --comment "default/a -> 10.0.0.1:80" -j KUBE-SEP-OLD', '-A KUBE-SEP-OLD -p tcp -j DNAT --to-destination 10.0.0.1:80', 'COMMIT', '',
  ].join('\n'));
  const text = [
    '*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-SVC-AAAA - [0:0]', ':KUBE-SEP-NEW - [0:0]', ':KUBE-SEP-OLD - [0:0]',
    '-A KUBE-SERVICES -m comment --comment "default/a cluster IP" -m tcp -p tcp -d 10.96.0.1/32 --dport 80 -j KUBE-SVC-AAAA',
    '-A KUBE-SVC-AAAA -m comment --comment "default/a -> 10.0.0.2:80" -j KUBE-SEP-NEW', '-A KUBE-SEP-NEW -m tcp -p tcp -j DNAT --to-destination 10.0.0.2:80',
    '-X KUBE-SEP-OLD', '-X KUBE-SEP-GONE', 'COMMIT', '',
  ].join('\n');
  const r = compareRendered(text, saved, 'inet');
  const chains = r.chains.map((c) => `${c.chain}:${c.before === null ? 'add' : c.after.length ? 'change' : 'remove'}`);
  assert.deepEqual(chains, ['KUBE-SVC-AAAA:change', 'KUBE-SEP-NEW:add', 'KUBE-SEP-OLD:remove'], 'KUBE-SERVICES only printed differently: unchanged');
  assert.ok(r.jumps.some((j) => j.chain === 'PREROUTING' && j.table === 'nat'), 'PREROUTING lacks its jump');
  assert.ok(!r.jumps.some((j) => j.chain === 'OUTPUT' && j.table === 'nat'), 'OUTPUT has it');
});

test('ipvsadm -S lines for virtual and real servers', () => {
  const svc = { family: 'inet' as const, protocol: 'tcp' as const, address: '10.96.0.10', port: 53, scheduler: 'rr', persistent: { timeout: 10800 } };
  assert.equal(serviceRule(svc), '-A -t 10.96.0.10:53 -s rr -p 10800');
  assert.equal(serverRule(svc, { address: '10.244.1.5', port: 53 }), '-a -t 10.96.0.10:53 -r 10.244.1.5:53 -m -w 1');
  const v6 = { family: 'inet6' as const, protocol: 'udp' as const, address: 'fd00::a', port: 53, scheduler: '' };
  assert.equal(serviceRule(v6), '-A -u [fd00::a]:53 -s rr');
  assert.equal(serviceName(v6), 'UDP [fd00::a]:53');
  assert.equal(serverRule(v6, { address: 'fd00:1::5', port: 5353, weight: 0 }), '-a -u [fd00::a]:53 -r [fd00:1::5]:5353 -m -w 0');
});

test('diff text: hunks per virtual service and set, a chain diff trimmed to its context, foreign objects, summary; JSON', () => {
  const chainBefore = Array.from({ length: 20 }, (_, i) => `-A KUBE-SERVICES rule ${i}`);
  const chainAfter = chainBefore.map((l, i) => (i === 10 ? '-A KUBE-SERVICES rule 10 changed' : l));
  const p: Preview = {
    mode: 'ipvs',
    changes: [
      { object: 'virtual-service', action: 'add', name: 'TCP 10.96.0.10:53', service: 'kube-system/kube-dns:dns-tcp (ClusterIP)', after: ['-A -t 10.96.0.10:53 -s rr'] },
      { object: 'real-server', action: 'add', name: 'TCP 10.96.0.10:53 -> 10.244.1.5:53', after: ['-a -t 10.96.0.10:53 -r 10.244.1.5:53 -m -w 1'] },
      { object: 'real-server', action: 'change', name: 'TCP 10.96.0.10:53 -> 10.244.1.6:53', before: ['-a -t 10.96.0.10:53 -r 10.244.1.6:53 -m -w 1'], after: ['-a -t 10.96.0.10:53 -r 10.244.1.6:53 -m -w 0'], note: 'drains' },
      { object: 'ipset-entry', action: 'add', name: 'KUBE-CLUSTER-IP 10.96.0.10,tcp:53', after: ['add KUBE-CLUSTER-IP 10.96.0.10,tcp:53'] },
      { object: 'ipset-entry', action: 'remove', name: 'KUBE-CLUSTER-IP 10.96.0.99,tcp:80', before: ['del KUBE-CLUSTER-IP 10.96.0.99,tcp:80'] },
      { object: 'iptables-chain', action: 'change', name: 'inet (nft) nat KUBE-SERVICES', before: chainBefore, after: chainAfter, diff: lineDiff(chainBefore, chainAfter) },
    ],
    foreign: [{ object: 'virtual-service', name: 'TCP 192.0.2.1:80', reason: 'not on a kube-ipvs0 or node address' }],
    unread: [],
  };
  const text = diffText(p, [{ object: 'Service default/bad', field: 'spec.ports[0].port', message: 'must be 1-65535' }], { color: false, node: 'n1', target: 'first sync' });
  const lines = text.split('\n');
  assert.equal(lines[0], '--- kernel of node n1');
  assert.equal(lines.filter((l) => l.startsWith('@@ virtual-service TCP 10.96.0.10:53 @@')).length, 1, 'one hunk for the service and its servers');
  assert.ok(lines.includes('+-a -t 10.96.0.10:53 -r 10.244.1.6:53 -m -w 0    # drains'));
  assert.equal(lines.filter((l) => l.startsWith('@@ ipset KUBE-CLUSTER-IP @@')).length, 1);
  assert.ok(lines.includes('-del KUBE-CLUSTER-IP 10.96.0.99,tcp:80'));
  const chain = lines.slice(lines.findIndex((l) => l.includes('KUBE-SERVICES @@')) + 1);
  assert.deepEqual(chain.slice(0, 9), [' … 7 unchanged', ' -A KUBE-SERVICES rule 7', ' -A KUBE-SERVICES rule 8', ' -A KUBE-SERVICES rule 9', '--A KUBE-SERVICES rule 10', '+-A KUBE-SERVICES rule 10 changed', ' -A KUBE-SERVICES rule 11', ' -A KUBE-SERVICES rule 12', ' -A KUBE-SERVICES rule 13']);
  assert.equal(chain[9], ' … 6 unchanged');
  assert.ok(text.includes(' virtual-service TCP 192.0.2.1:80: not on a kube-ipvs0 or node address'));
  assert.ok(text.includes('# warning: Service default/bad: spec.ports[0].port: must be 1-65535'));
  assert.equal(summaryLine(p), '1 virtual service to add, 1 real server to add, 1 real server to change, 1 ipset entry to add, 1 ipset entry to remove, 1 iptables chain to change; 1 foreign object left alone');
  assert.ok(diffText(p, [], { color: true, node: 'n1', target: 't' }).includes('\x1b[32m+-A -t 10.96.0.10:53 -s rr\x1b[0m'));
  const json = JSON.parse(diffJson(p, [], 'n1'));
  assert.equal(json.changed, true);
  assert.deepEqual(json.summary['real-server'], { add: 1, change: 1, remove: 0 });
  assert.deepEqual(previewSummary({ mode: 'ipvs', changes: [], foreign: [], unread: [] }), {});
  assert.equal(summaryLine({ mode: 'ipvs', changes: [], foreign: [], unread: [] }), 'nothing to change');
});
