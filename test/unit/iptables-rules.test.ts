import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ipvsModeRules,
  restoreInput,
  normaliseRule,
  parseSave,
  splitArgs,
  markFor,
  ruleArgsText,
  type IptablesConfig,
  type RuleSet,
} from '../../src/iptables/rules.js';
import { IPSETS, ipsetName, ipsetNameFor, IPSET_NAME_MAX } from '../../src/iptables/names.js';
import { Iptables, IptablesError } from '../../src/iptables/iptables.js';
import { fakeRun, savedForm } from './fake-iptables.js';

const V4: IptablesConfig = { family: 'inet', masqueradeAll: false, masqueradeBit: 14, localDetector: { kind: 'cidr', cidr: '10.244.0.0/16' } };

/** A rule without its comment match: what the reference lists. */
function bare(line: string): string {
  return line.replace(/ -m comment --comment ("[^"]*"|\S+)/, '');
}

function bareRules(rs: RuleSet, table: 'nat' | 'filter'): string[] {
  return rs[table].rules.map(bare);
}

test('IPv4 with a cluster CIDR: the reference rules, in kube-proxy order', () => {
  const rs = ipvsModeRules(V4);
  assert.deepEqual(bareRules(rs, 'nat'), [
    '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN',
    '-A KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
    '-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER',
    '-A KUBE-LOAD-BALANCER -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN',
    '-A KUBE-NODE-PORT -p tcp -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN',
    '-A KUBE-NODE-PORT -p tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
    '-A KUBE-NODE-PORT -p udp -m set --match-set KUBE-NODE-PORT-LOCAL-UDP dst -j RETURN',
    '-A KUBE-NODE-PORT -p udp -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ',
    '-A KUBE-NODE-PORT -p sctp -m set --match-set KUBE-NODE-PORT-LOCAL-SCTP-HASH dst,dst -j RETURN',
    '-A KUBE-NODE-PORT -p sctp -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ',
    '-A KUBE-SERVICES ! -s 10.244.0.0/16 -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP dst,dst -m addrtype --dst-type LOCAL -j ACCEPT',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m addrtype --dst-type LOCAL -j ACCEPT',
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    '-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ',
    '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT',
    '-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -j MASQUERADE',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
  ]);
  assert.deepEqual(bareRules(rs, 'filter'), [
    '-A KUBE-PROXY-FIREWALL -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL',
    '-A KUBE-SOURCE-RANGES-FIREWALL -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN',
    '-A KUBE-SOURCE-RANGES-FIREWALL -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN',
    '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
    '-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A KUBE-NODE-PORT -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT',
    '-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN',
    '-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN',
    '-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN',
    '-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN',
    '-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN',
    '-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT',
  ]);
  assert.deepEqual(rs.nat.chains, ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ']);
  assert.deepEqual(rs.filter.chains, ['KUBE-FORWARD', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER']);
});

test('every rule carries a short comment of its own, quoted for iptables-restore', () => {
  const rs = ipvsModeRules(V4);
  for (const l of [...rs.nat.rules, ...rs.filter.rules]) {
    const m = / -m comment --comment "([^"\\']+)" /.exec(l);
    assert.ok(m, `comment on ${l}`);
    assert.ok(m[1]!.length <= 80, m[1]);
  }
});

test('the jumps from built-in chains, in kube-proxy insertion order', () => {
  const rs = ipvsModeRules(V4);
  assert.deepEqual(rs.jumps.map((j) => `${j.table} ${j.chain} -> ${j.target}`), [
    'nat OUTPUT -> KUBE-SERVICES',
    'nat PREROUTING -> KUBE-SERVICES',
    'nat POSTROUTING -> KUBE-POSTROUTING',
    'filter FORWARD -> KUBE-FORWARD',
    'filter INPUT -> KUBE-NODE-PORT',
    'filter INPUT -> KUBE-PROXY-FIREWALL',
    'filter FORWARD -> KUBE-PROXY-FIREWALL',
    'filter INPUT -> KUBE-IPVS-FILTER',
    'filter OUTPUT -> KUBE-IPVS-OUT-FILTER',
  ]);
  for (const j of rs.jumps) {
    assert.deepEqual(j.args, ['-m', 'comment', '--comment', j.comment, '-j', j.target]);
  }
});

test('the cluster IP masquerade rule: cluster CIDR, masqueradeAll, no detector', () => {
  const clusterMasq = (rs: RuleSet): string[] =>
    bareRules(rs, 'nat').filter((l) => l.includes('KUBE-CLUSTER-IP') && l.endsWith('-j KUBE-MARK-MASQ'));
  assert.deepEqual(clusterMasq(ipvsModeRules(V4)), ['-A KUBE-SERVICES ! -s 10.244.0.0/16 -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ']);
  assert.deepEqual(clusterMasq(ipvsModeRules({ ...V4, masqueradeAll: true })), ['-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ']);
  const { localDetector: _, ...noDetector } = V4;
  assert.deepEqual(clusterMasq(ipvsModeRules(noDetector)), ['-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ']);
  assert.deepEqual(clusterMasq(ipvsModeRules({ ...noDetector, masqueradeAll: true })), ['-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ']);
  // Host bits in the CIDR are cleared (iptables would clear them too, and the no-op check compares).
  assert.deepEqual(clusterMasq(ipvsModeRules({ ...V4, localDetector: { kind: 'cidr', cidr: '10.244.7.9/16' } })), ['-A KUBE-SERVICES ! -s 10.244.0.0/16 -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ']);
});

test('masqueradeBit sets the mark in all four places', () => {
  const cases: [number, string][] = [[14, '0x4000'], [0, '0x1'], [3, '0x8'], [31, '0x80000000']];
  for (const [bit, mark] of cases) {
    assert.equal(markFor(bit), mark);
    const rs = ipvsModeRules({ ...V4, masqueradeBit: bit });
    const all = [...bareRules(rs, 'nat'), ...bareRules(rs, 'filter')];
    assert.ok(all.includes(`-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`), `or-mark ${bit}`);
    assert.ok(all.includes(`-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`), `postrouting ${bit}`);
    assert.ok(all.includes(`-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`), `xor-mark ${bit}`);
    assert.ok(all.includes(`-A KUBE-FORWARD -m mark --mark ${mark}/${mark} -j ACCEPT`), `forward ${bit}`);
    assert.equal(all.filter((l) => l.includes('0x')).length, 4);
  }
});

test('randomFully adds --random-fully to the service MASQUERADE only', () => {
  const masq = (rs: RuleSet): string[] => bareRules(rs, 'nat').filter((l) => l.includes('MASQUERADE'));
  assert.deepEqual(masq(ipvsModeRules({ ...V4, randomFully: true })), [
    '-A KUBE-POSTROUTING -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
    '-A KUBE-POSTROUTING -j MASQUERADE --random-fully',
  ]);
  assert.ok(!restoreInput(ipvsModeRules(V4)).includes('random-fully'));
});

test('IPv6: KUBE-6- sets, ::1/128, an IPv6 cluster CIDR', () => {
  const rs = ipvsModeRules({ family: 'inet6', masqueradeAll: false, masqueradeBit: 14, localDetector: { kind: 'cidr', cidr: 'FD00:10:244:0::/56' } });
  assert.equal(rs.family, 'inet6');
  const nat = bareRules(rs, 'nat');
  assert.equal(nat[0], '-A KUBE-SERVICES -s ::1/128 -j RETURN');
  assert.ok(nat.includes('-A KUBE-SERVICES ! -s fd00:10:244::/56 -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ'));
  assert.ok(nat.includes('-A KUBE-NODE-PORT -p sctp -m set --match-set KUBE-6-NODE-PORT-LOCAL-SCTP-HAS dst,dst -j RETURN'));
  assert.ok(bareRules(rs, 'filter').includes('-A KUBE-SOURCE-RANGES-FIREWALL -m set --match-set KUBE-6-LOAD-BALANCER-SOURCE-CID dst,dst,src -j RETURN'));
  const text = restoreInput(rs);
  const sets = [...text.matchAll(/--match-set (\S+)/g)].map((m) => m[1]!);
  assert.ok(sets.length > 20);
  for (const s of sets) assert.ok(s.startsWith('KUBE-6-') && s.length <= IPSET_NAME_MAX, s);
  assert.ok(!text.includes('127.0.0.0'));
});

test('ipset names: the 17 sets, v4 names as kube-proxy has them, v6 KUBE-6- cut to 31 characters', () => {
  assert.equal(IPSETS.length, 17);
  assert.deepEqual(IPSETS.map((s) => `${s.name('inet')} ${s.type}`), [
    'KUBE-LOOP-BACK hash:ip,port,ip',
    'KUBE-CLUSTER-IP hash:ip,port',
    'KUBE-EXTERNAL-IP hash:ip,port',
    'KUBE-EXTERNAL-IP-LOCAL hash:ip,port',
    'KUBE-LOAD-BALANCER hash:ip,port',
    'KUBE-LOAD-BALANCER-LOCAL hash:ip,port',
    'KUBE-LOAD-BALANCER-FW hash:ip,port',
    'KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip',
    'KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net',
    'KUBE-NODE-PORT-TCP bitmap:port',
    'KUBE-NODE-PORT-LOCAL-TCP bitmap:port',
    'KUBE-NODE-PORT-UDP bitmap:port',
    'KUBE-NODE-PORT-LOCAL-UDP bitmap:port',
    'KUBE-NODE-PORT-SCTP-HASH hash:ip,port',
    'KUBE-NODE-PORT-LOCAL-SCTP-HASH hash:ip,port',
    'KUBE-HEALTH-CHECK-NODE-PORT bitmap:port',
    'KUBE-IPVS-IPS hash:ip',
  ]);
  assert.equal(ipsetName('clusterIP', 'inet6'), 'KUBE-6-CLUSTER-IP');
  assert.equal(ipsetName('loadBalancerSourceCIDR', 'inet6'), 'KUBE-6-LOAD-BALANCER-SOURCE-CID');
  assert.equal(ipsetName('nodePortLocalSCTP', 'inet6'), 'KUBE-6-NODE-PORT-LOCAL-SCTP-HAS');
  assert.equal(ipsetName('loadBalancerSourceIP', 'inet6'), 'KUBE-6-LOAD-BALANCER-SOURCE-IP');
  assert.equal(ipsetNameFor('OTHER', 'inet6'), 'OTHER');
  for (const family of ['inet', 'inet6'] as const) {
    const names = IPSETS.map((s) => s.name(family));
    assert.equal(new Set(names).size, 17, family);
    for (const n of names) assert.ok(n.length <= IPSET_NAME_MAX, n);
  }
  for (const s of IPSETS) assert.ok(s.comment.length > 0 && !s.comment.includes('"'), s.key);
});

test('lbOutFilter: one DROP per load balancer the node may not reach', () => {
  const rs = ipvsModeRules({ ...V4, lbOutFilter: [{ address: '192.0.2.10', protocol: 'tcp', port: 80 }, { address: '192.0.2.11', protocol: 'sctp', port: 9000 }] });
  assert.deepEqual(bareRules(rs, 'filter').filter((l) => l.startsWith('-A KUBE-IPVS-OUT-FILTER')), [
    '-A KUBE-IPVS-OUT-FILTER -s 192.0.2.10 -m ipvs --vaddr 192.0.2.10 --vproto tcp --vport 80 -j DROP',
    '-A KUBE-IPVS-OUT-FILTER -s 192.0.2.11 -m ipvs --vaddr 192.0.2.11 --vproto sctp --vport 9000 -j DROP',
  ]);
  // Right after the source-ranges DROP, as kube-proxy writes them.
  const f = bareRules(rs, 'filter');
  assert.equal(f.indexOf('-A KUBE-SOURCE-RANGES-FIREWALL -j DROP') + 1, f.findIndex((l) => l.startsWith('-A KUBE-IPVS-OUT-FILTER')));
  const v6 = ipvsModeRules({ family: 'inet6', masqueradeAll: true, masqueradeBit: 14, lbOutFilter: [{ address: '2001:DB8:0:0::1', protocol: 'udp', port: 53 }] });
  assert.ok(bareRules(v6, 'filter').includes('-A KUBE-IPVS-OUT-FILTER -s 2001:db8::1 -m ipvs --vaddr 2001:db8::1 --vproto udp --vport 53 -j DROP'));
  assert.equal(bareRules(ipvsModeRules(V4), 'filter').filter((l) => l.includes('OUT-FILTER')).length, 0);
});

test('nonEmptySets leaves out the rules of empty sets, as kube-proxy does', () => {
  const none = ipvsModeRules({ ...V4, nonEmptySets: [] });
  assert.deepEqual(bareRules(none, 'nat'), [
    '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN',
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    '-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -j MASQUERADE',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
  ]);
  // The filter rules kube-proxy writes whatever the sets hold.
  assert.equal(bareRules(none, 'filter').length, 10);
  assert.ok(bareRules(none, 'filter').includes('-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN'));
  const some = ipvsModeRules({ ...V4, nonEmptySets: new Set(['clusterIP', 'nodePortTCP'] as const) });
  const nat = bareRules(some, 'nat');
  assert.ok(nat.includes('-A KUBE-SERVICES ! -s 10.244.0.0/16 -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ'));
  assert.ok(nat.includes('-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT'));
  assert.ok(nat.includes('-A KUBE-NODE-PORT -p tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ'));
  assert.ok(!nat.some((l) => l.includes('KUBE-LOAD-BALANCER dst') || l.includes('NODE-PORT-UDP') || l.includes('EXTERNAL-IP')));
  assert.equal(nat.length, 10);
});

test('invalid fields throw an Error naming the field', () => {
  const cases: [Partial<IptablesConfig> & Record<string, unknown>, RegExp][] = [
    [{ masqueradeBit: 32 }, /masqueradeBit: must be an integer 0\.\.31, got 32/],
    [{ masqueradeBit: -1 }, /masqueradeBit/],
    [{ masqueradeBit: 1.5 }, /masqueradeBit/],
    [{ masqueradeBit: Number.NaN }, /masqueradeBit/],
    [{ localDetector: { kind: 'cidr', cidr: 'bogus' } }, /localDetector\.cidr: not a CIDR: "bogus"/],
    [{ localDetector: { kind: 'cidr', cidr: '10.0.0.0/33' } }, /localDetector\.cidr/],
    [{ localDetector: { kind: 'cidr', cidr: '10.0.0.0' } }, /localDetector\.cidr/],
    [{ localDetector: { kind: 'cidr', cidr: 'fd00::/64' } }, /localDetector\.cidr: fd00::\/64 is not an IPv4 CIDR/],
    [{ localDetector: { kind: 'interface', cidr: '10.0.0.0/8' } as never }, /localDetector\.kind/],
    [{ lbOutFilter: [{ address: '2001:db8::1', protocol: 'tcp', port: 80 }] }, /lbOutFilter\[0\]\.address/],
    [{ lbOutFilter: [{ address: '192.0.2.1', protocol: 'tcp', port: 80 }, { address: 'x', protocol: 'tcp', port: 80 }] }, /lbOutFilter\[1\]\.address/],
    [{ lbOutFilter: [{ address: '192.0.2.1', protocol: 'icmp' as never, port: 80 }] }, /lbOutFilter\[0\]\.protocol/],
    [{ lbOutFilter: [{ address: '192.0.2.1', protocol: 'tcp', port: 0 }] }, /lbOutFilter\[0\]\.port/],
    [{ lbOutFilter: [{ address: '192.0.2.1', protocol: 'tcp', port: 65536 }] }, /lbOutFilter\[0\]\.port/],
    [{ family: 'inet4' as never }, /family/],
  ];
  for (const [patch, re] of cases) {
    assert.throws(() => ipvsModeRules({ ...V4, ...patch } as IptablesConfig), (err: unknown) => err instanceof Error && re.test(err.message), JSON.stringify(patch));
  }
  assert.doesNotThrow(() => ipvsModeRules({ ...V4, masqueradeBit: 31 }));
  assert.doesNotThrow(() => ipvsModeRules({ ...V4, masqueradeBit: 0 }));
});

test('restoreInput rewrites only the kipvs chains', () => {
  const rs = ipvsModeRules(V4);
  const text = restoreInput(rs);
  const lines = text.split('\n');
  assert.deepEqual(lines.filter((l) => l.startsWith('*') || l === 'COMMIT'), ['*nat', 'COMMIT', '*filter', 'COMMIT']);
  const natBlock = lines.slice(0, lines.indexOf('COMMIT'));
  const filterBlock = lines.slice(lines.indexOf('COMMIT') + 1);
  for (const [block, table] of [[natBlock, rs.nat], [filterBlock, rs.filter]] as const) {
    const declared = block.filter((l) => l.startsWith(':'));
    assert.deepEqual(declared, table.chains.map((c) => `:${c} - [0:0]`));
    const rules = block.filter((l) => l.startsWith('-'));
    assert.deepEqual(rules, table.rules);
    for (const r of rules) assert.ok(table.chains.includes(ruleArgsText(r).chain), r);
  }
  // Nothing that would touch a built-in chain or delete anything.
  assert.ok(!/^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) /m.test(text));
  assert.ok(!/^-[IDFXP] /m.test(text));
  assert.ok(text.endsWith('COMMIT\n'));
});

test('splitArgs and parseSave read iptables-save text', () => {
  assert.deepEqual(splitArgs('-m comment --comment "a b" -j X'), ['-m', 'comment', '--comment', 'a b', '-j', 'X']);
  assert.deepEqual(splitArgs(`--comment "it\\'s \\"q\\"" x`), ['--comment', `it's "q"`, 'x']);
  const saved = parseSave(`# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:KUBE-FORWARD - [0:0]
-A INPUT -s 192.0.2.1/32 -j DROP
-A KUBE-FORWARD -m comment --comment "x y" -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
COMMIT
`);
  assert.deepEqual([...saved.keys()], ['filter', 'nat']);
  const f = saved.get('filter')!;
  assert.deepEqual(f.get('FORWARD'), { policy: 'DROP', rules: [] });
  assert.deepEqual(f.get('INPUT'), { policy: 'ACCEPT', rules: ['-s 192.0.2.1/32 -j DROP'] });
  assert.deepEqual(f.get('KUBE-FORWARD'), { policy: '-', rules: ['-m comment --comment "x y" -j ACCEPT'] });
  assert.equal(saved.get('nat')!.get('PREROUTING')!.rules.length, 0);
});

test('normaliseRule: a rule as written equals the rule as iptables-save prints it, and only that', () => {
  // [as written, as iptables-save 1.8.9 (nf_tables) printed it]
  const same: [string, string, 'inet' | 'inet6'][] = [
    ['-m comment --comment "mark for masquerade" -j MARK --or-mark 0x4000', '-m comment --comment "mark for masquerade" -j MARK --set-xmark 0x4000/0x4000', 'inet'],
    ['-j MARK --xor-mark 0x004000', '-j MARK --set-xmark 0x4000/0x0', 'inet'],
    ['-m comment --comment "c" -m set --match-set S dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ', '! -s 10.244.0.0/16 -m comment --comment c -m set --match-set S dst,dst -j KUBE-MARK-MASQ', 'inet'],
    ['-m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT', '-m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable', 'inet'],
    ['-j REJECT', '-j REJECT --reject-with icmp6-port-unreachable', 'inet6'],
    ['-s 192.0.2.1 -j DROP', '-s 192.0.2.1/32 -j DROP', 'inet'],
    ['-s 2001:DB8::1 -j DROP', '-s 2001:db8::1/128 -j DROP', 'inet6'],
    // libxt_ipvs prints --vproto before --vaddr, as a number, and the address without /32 (seen in the sandbox kernel).
    ['-s 192.0.2.10 -m comment --comment "c d" -m ipvs --vaddr 192.0.2.10 --vproto tcp --vport 80 -j DROP', '-s 192.0.2.10/32 -m comment --comment "c d" -m ipvs --vproto 6 --vaddr 192.0.2.10 --vport 80 -j DROP', 'inet'],
    ['-s 192.0.2.10 -m ipvs --vaddr 192.0.2.10 --vproto sctp --vport 80 -j DROP', '-s 192.0.2.10/32 -m ipvs --vproto 132 --vaddr 192.0.2.10/32 --vport 80 -j DROP', 'inet'],
    ['-m ipvs ! --vaddr 2001:db8::1 --vproto udp -m mark --mark 0x1 -j DROP', '-m ipvs --vproto 17 ! --vaddr 2001:db8::1/128 -m mark --mark 0x1 -j DROP', 'inet6'],
    ['-m mark ! --mark 0x004000/0x004000 -j RETURN', '-m mark ! --mark 0x4000/0x4000 -j RETURN', 'inet'],
    ['-p TCP -m set --match-set X dst -j RETURN', '-p tcp -m set --match-set X dst -j RETURN', 'inet'],
  ];
  for (const [written, printed, family] of same) {
    assert.equal(normaliseRule(written, family), normaliseRule(printed, family), written);
  }
  const different: [string, string][] = [
    ['! -s 10.244.0.0/16 -j X', '-s 10.244.0.0/16 -j X'],
    ['-s 10.244.0.0/16 -j X', '-s 10.245.0.0/16 -j X'],
    ['-j MARK --or-mark 0x4000', '-j MARK --xor-mark 0x4000'],
    ['-j MARK --or-mark 0x4000', '-j MARK --or-mark 0x8'],
    ['-m comment --comment "a b" -j X', '-m comment --comment "a c" -j X'],
    ['-m set --match-set S dst,dst -j X', '-m set --match-set S src,dst -j X'],
    ['-j MASQUERADE', '-j MASQUERADE --random-fully'],
    ['-j REJECT --reject-with icmp-host-prohibited', '-j REJECT'],
    ['-m ipvs --vaddr 192.0.2.10 --vproto tcp --vport 80 -j DROP', '-m ipvs --vaddr 192.0.2.10 --vproto udp --vport 80 -j DROP'],
    ['-m ipvs --vaddr 192.0.2.10 --vproto tcp --vport 80 -j DROP', '-m ipvs --vaddr 192.0.2.10 --vproto tcp --vport 81 -j DROP'],
    ['-m ipvs ! --vaddr 192.0.2.10 --vproto tcp -j DROP', '-m ipvs --vaddr 192.0.2.10 --vproto tcp -j DROP'],
  ];
  for (const [a, b] of different) assert.notEqual(normaliseRule(a, 'inet'), normaliseRule(b, 'inet'), `${a} vs ${b}`);
});

// ---- the applier, with a fake iptables ----

test('Iptables.apply: restores into empty tables, then a no-op costs one iptables-save', () => {
  const rs = ipvsModeRules(V4);
  const state = { save: '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', restores: [] as string[], calls: [] as string[], next: savedForm(rs) };
  const warns: object[] = [];
  const ipt = new Iptables({ family: 'inet', run: fakeRun(state), log: { warn: (o) => void warns.push(o) } });
  assert.equal(ipt.apply(rs).changed, true);
  assert.deepEqual(state.calls, ['iptables-save', 'iptables-restore --noflush --wait', 'iptables-save']);
  const input = state.restores[0]!;
  assert.ok(input.startsWith(restoreInput(rs).split('COMMIT')[0]!), 'the nat block starts as restoreInput does');
  assert.equal(input.split('\n').filter((l) => l.startsWith('-I ')).length, 9);
  assert.ok(input.includes('-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'));
  assert.deepEqual(warns, []);
  state.calls.length = 0;
  const again = ipt.apply(rs);
  assert.equal(again.changed, false);
  assert.deepEqual(state.calls, ['iptables-save']);
  // A fresh applier (an agent restart) also sees the rules as current.
  state.calls.length = 0;
  assert.equal(new Iptables({ family: 'inet', run: fakeRun(state) }).apply(rs).changed, false);
  assert.deepEqual(state.calls, ['iptables-save']);
});

test('Iptables.apply: only a missing jump → a restore of just that jump; ip6tables for inet6', () => {
  const rs = ipvsModeRules(V4);
  const full = savedForm(rs);
  const state = { save: full.replace(/-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n/, ''), restores: [] as string[], calls: [] as string[] };
  assert.notEqual(state.save, full);
  const ipt = new Iptables({ family: 'inet', run: fakeRun(state) });
  assert.equal(ipt.apply(rs).changed, true);
  assert.deepEqual(state.restores, ['*nat\n-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\nCOMMIT\n']);

  const rs6 = ipvsModeRules({ family: 'inet6', masqueradeAll: true, masqueradeBit: 14 });
  const s6 = { save: '', restores: [] as string[], calls: [] as string[] };
  new Iptables({ family: 'inet6', run: fakeRun(s6) }).apply(rs6);
  assert.deepEqual(s6.calls, ['ip6tables-save', 'ip6tables-restore --noflush --wait', 'ip6tables-save']);
  assert.throws(() => new Iptables({ family: 'inet', run: fakeRun(s6) }).apply(rs6), /inet6/);
});

test('Iptables: a doubled jump loses its copy; cleanup deletes jumps by number and the chains', () => {
  const rs = ipvsModeRules(V4);
  const jump = '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n';
  const state = { save: savedForm(rs).replace(jump, jump + '-A PREROUTING -j FOREIGN\n' + jump), restores: [] as string[], calls: [] as string[] };
  const ipt = new Iptables({ family: 'inet', run: fakeRun(state) });
  assert.equal(ipt.apply(rs).changed, true);
  assert.deepEqual(state.restores, ['*nat\n-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\nCOMMIT\n']);
  state.restores.length = 0;
  ipt.cleanup();
  const input = state.restores[0]!;
  const nat = input.slice(input.indexOf('*nat'));
  // PREROUTING: ours at 1 and 3, FOREIGN at 2: delete 3 then 1.
  assert.match(nat, /-D PREROUTING 3\n-D PREROUTING 1\n-D OUTPUT 1\n-D POSTROUTING 1\n/);
  assert.ok(!nat.includes('FOREIGN'));
  for (const c of rs.nat.chains) assert.ok(nat.includes(`-F ${c}\n`) && nat.includes(`-X ${c}\n`), c);
  // Nothing of ours: nothing to do.
  const empty = { save: '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', restores: [] as string[], calls: [] as string[] };
  new Iptables({ family: 'inet', run: fakeRun(empty) }).cleanup();
  assert.deepEqual(empty.calls, ['iptables-save']);
});

test('Iptables: errors name the command, the table and the stderr line', () => {
  const rs = ipvsModeRules(V4);
  const state = {
    save: '',
    restores: [] as string[],
    calls: [] as string[],
    fail: "iptables-restore v1.8.9 (nf_tables): Set KUBE-IPVS-IPS doesn't exist.\n\nError occurred at line: 45\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n",
  };
  const ipt = new Iptables({ family: 'inet', run: fakeRun(state) });
  assert.throws(() => ipt.apply(rs), (err: unknown) => {
    assert.ok(err instanceof IptablesError);
    assert.equal(err.command, 'iptables-restore');
    assert.equal(err.table, 'filter');
    assert.equal(err.message, "iptables-restore (table filter) failed: Set KUBE-IPVS-IPS doesn't exist.; Error occurred at line: 45");
    return true;
  });
  state.fail = 'iptables-restore v1.8.9 (nf_tables): \nline 3: RULE_APPEND failed (No such file or directory): rule in chain KUBE-SERVICES\n';
  assert.throws(() => ipt.apply(rs), /^IptablesError: iptables-restore \(table nat\) failed: line 3: RULE_APPEND failed/);
  const bad = new Iptables({ family: 'inet', run: () => { throw Object.assign(new Error('x'), { stderr: 'iptables-save: permission denied\n' }); } });
  assert.throws(() => bad.apply(rs), /iptables-save \(table nat,filter\) failed: iptables-save: permission denied/);
});
