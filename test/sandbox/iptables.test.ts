// The iptables applier against the real iptables binaries and kernel, with iptables-save as the oracle.
// Everything runs in a network namespace of its own (iptables rules and ipsets are per namespace), so
// the file is safe to run as root on any machine and leaves the sandbox's root namespace alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { sh, shStatus } from './helpers.js';
import { ipvsModeRules, normaliseRule, parseSave, ruleArgsText, type IptablesConfig, type RuleSet } from '../../src/iptables/rules.js';
import { Iptables, IptablesError, execRun, execRunAsync } from '../../src/iptables/iptables.js';
import { IPSETS, OWNED_CHAINS, type Family, type Table } from '../../src/iptables/names.js';

const NS = `kipvs-ipt-${process.pid}`;
const CLIENT = `kipvs-iptc-${process.pid}`;
/** A shell command (lines, pipes, && all included) inside the test's namespace. */
const inNs = (cmd: string): string => execFileSync('ip', ['netns', 'exec', NS, 'bash', '-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const run = (cmd: string, args: string[], input?: string): string => execRun('ip', ['netns', 'exec', NS, cmd, ...args], input);
const runAsync = (cmd: string, args: string[], input?: string): Promise<string> => execRunAsync('ip', ['netns', 'exec', NS, cmd, ...args], input);

const warnings: { o: object; m?: string }[] = [];
const log = { warn: (o: object, m?: string) => void warnings.push({ o, m }) };

function ipt(family: Family): Iptables {
  return new Iptables({ family, log, run });
}

function createSets(family: Family): void {
  const lines = IPSETS.map((s) =>
    `create ${s.name(family)} ${s.type} ${s.type === 'bitmap:port' ? 'range 0-65535' : `family ${family}`} -exist`);
  execFileSync('ip', ['netns', 'exec', NS, 'ipset', 'restore'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
}

function save(family: Family): string {
  return inNs(family === 'inet' ? 'iptables-save' : 'ip6tables-save');
}

/** The oracle: each kipvs chain in iptables-save holds exactly the wanted rules, each jump is there once. */
function assertInKernel(rs: RuleSet): void {
  const family = rs.family;
  const saved = parseSave(save(family));
  for (const table of ['nat', 'filter'] as Table[]) {
    const found = saved.get(table);
    assert.ok(found, `${table} table in iptables-save`);
    const t: Map<string, { rules: string[] }> = found;
    for (const chain of rs[table].chains) {
      const want = rs[table].rules.map(ruleArgsText).filter((r) => r.chain === chain).map((r) => normaliseRule(r.args, family));
      const have = (t.get(chain)?.rules ?? []).map((r) => normaliseRule(r, family));
      assert.ok(t.has(chain), `${table} ${chain} exists`);
      assert.deepEqual(have, want, `${table} ${chain}`);
    }
    for (const j of rs.jumps.filter((x) => x.table === table)) {
      const want = normaliseRule(j.args.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' '), family);
      const n = (t.get(j.chain)?.rules ?? []).filter((r) => normaliseRule(r, family) === want).length;
      assert.equal(n, 1, `${table} ${j.chain} -> ${j.target} once`);
    }
  }
}

function ruleCount(family: Family): number {
  return save(family).split('\n').filter((l) => l.startsWith('-A ')).length;
}

const V4: IptablesConfig = { family: 'inet', masqueradeAll: false, masqueradeBit: 14, localDetector: { kind: 'cidr', cidr: '10.244.0.0/16' } };
const V6: IptablesConfig = { family: 'inet6', masqueradeAll: false, masqueradeBit: 14, localDetector: { kind: 'cidr', cidr: 'fd00:10:244::/56' }, randomFully: true };

before(() => {
  sh(`ip netns add ${NS} && ip -n ${NS} link set lo up`);
  createSets('inet');
  createSets('inet6');
});

after(() => {
  shStatus(`ip netns del ${CLIENT}`);
  shStatus(`ip netns del ${NS}`);
});

test('apply writes every rule and each jump once; iptables-save shows them in kube-proxy form', (t) => {
  const rs = ipvsModeRules(V4);
  const a = ipt('inet');
  const first = a.apply(rs);
  assert.equal(first.changed, true);
  const noop = a.apply(rs);
  assert.equal(noop.changed, false);
  t.diagnostic(`apply: first ${first.ms.toFixed(1)} ms, no-op ${noop.ms.toFixed(1)} ms`);
  assertInKernel(rs);
  const text = save('inet');
  // A few rules as iptables-save prints them, literally.
  for (const l of [
    '-A KUBE-MARK-MASQ -m comment --comment "mark for masquerade" -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "clear the masquerade mark" -j MARK --set-xmark 0x4000/0x0',
    '-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "masquerade off-cluster traffic to cluster IPs" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  ]) assert.ok(text.split('\n').includes(l), `iptables-save has: ${l}`);
  // kube-proxy's jump order in INPUT: each prepended, so the last inserted comes first.
  const input = text.split('\n').filter((l) => l.startsWith('-A INPUT ')).map((l) => l.split(' -j ')[1]);
  assert.deepEqual(input, ['KUBE-IPVS-FILTER', 'KUBE-PROXY-FIREWALL', 'KUBE-NODE-PORT']);
  assert.deepEqual(warnings, [], 'rules read back in the form normaliseRule predicts');
  const saved = a.saved();
  assert.match(saved, /^\*filter\n/);
  assert.ok(!/INPUT ACCEPT/.test(saved), 'saved() leaves out chains that are not ours');
  assert.equal(saved.split('\n').filter((l) => l.startsWith('-A ')).length, rs.nat.rules.length + rs.filter.rules.length + rs.jumps.length);
});

test('a second apply of the same rules changes nothing and costs one iptables-save', () => {
  const rs = ipvsModeRules(V4);
  const calls: string[] = [];
  const a = new Iptables({ family: 'inet', log, run: (c, args, input) => (calls.push(c), run(c, args, input)) });
  const before = ruleCount('inet');
  const r = a.apply(rs);
  assert.equal(r.changed, false);
  assert.deepEqual(calls, ['iptables-save']);
  assert.equal(ruleCount('inet'), before);
  assertInKernel(rs);
});

test('tampering is repaired: a deleted rule, a deleted jump, a stray rule, a doubled jump', () => {
  const rs = ipvsModeRules(V4);
  const a = ipt('inet');
  const good = ruleCount('inet');
  inNs('iptables -t nat -D KUBE-SERVICES 1');
  inNs(`iptables -D INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT`);
  assert.equal(ruleCount('inet'), good - 2);
  assert.equal(a.apply(rs).changed, true);
  assertInKernel(rs);
  assert.equal(ruleCount('inet'), good);

  inNs('iptables -A KUBE-FORWARD -j DROP');
  inNs(`iptables -t nat -I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`);
  assert.equal(a.apply(rs).changed, true);
  assertInKernel(rs);
  assert.equal(a.apply(rs).changed, false);

  // Only a missing jump: the chains are left alone, the jump comes back.
  inNs(`iptables -D OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER`);
  assert.equal(a.apply(rs).changed, true);
  assertInKernel(rs);
});

test('a configuration change rewrites only what changed; foreign rules and chains survive', () => {
  inNs(`iptables -A INPUT -s 192.0.2.1 -m comment --comment "foreign rule" -j DROP
        iptables -t nat -N FOREIGN && iptables -t nat -A FOREIGN -j RETURN && iptables -t nat -A PREROUTING -j FOREIGN
        iptables -P FORWARD DROP`);
  const a = ipt('inet');
  const rs = ipvsModeRules({ ...V4, masqueradeAll: true, masqueradeBit: 3, randomFully: true });
  assert.equal(a.apply(rs).changed, true);
  assertInKernel(rs);
  const text = save('inet');
  assert.ok(text.includes('-A KUBE-SERVICES -m comment --comment "masquerade all traffic to cluster IPs" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ'));
  assert.ok(text.includes('-j MARK --set-xmark 0x8/0x8'));
  assert.ok(text.includes('-j MASQUERADE --random-fully'));
  assert.ok(!text.includes('0x4000'));
  assert.ok(text.includes('-A INPUT -s 192.0.2.1/32 -m comment --comment "foreign rule" -j DROP'));
  assert.ok(text.includes('-A FOREIGN -j RETURN') && text.includes('-A PREROUTING -j FOREIGN'));
  assert.ok(text.includes(':FORWARD DROP'));
  assert.equal(a.apply(rs).changed, false);
  assert.deepEqual(warnings, []);
  // Back to the default configuration for the tests below.
  assert.equal(a.apply(ipvsModeRules(V4)).changed, true);
});

test('lbOutFilter: DROP rules matching IPVS traffic (needs xt_ipvs)', (t) => {
  warnings.length = 0;
  if (!existsSync('/sys/module/xt_ipvs')) {
    t.skip('xt_ipvs is not loaded in this kernel');
    return;
  }
  const a = ipt('inet');
  const rs = ipvsModeRules({ ...V4, lbOutFilter: [{ address: '192.0.2.10', protocol: 'tcp', port: 80 }, { address: '192.0.2.11', protocol: 'udp', port: 53 }] });
  assert.equal(a.apply(rs).changed, true);
  assertInKernel(rs);
  const outs = save('inet').split('\n').filter((l) => l.startsWith('-A KUBE-IPVS-OUT-FILTER'));
  assert.equal(outs.length, 2, outs.join('\n'));
  // libxt_ipvs prints --vproto first and as a number, and --vaddr without "/32".
  assert.equal(outs[0], '-A KUBE-IPVS-OUT-FILTER -s 192.0.2.10/32 -m comment --comment "node outside the load balancer source ranges" -m ipvs --vproto 6 --vaddr 192.0.2.10 --vport 80 -j DROP');
  assert.equal(a.apply(rs).changed, false);
  assert.deepEqual(warnings, [], 'the ipvs match reads back as normaliseRule predicts');
  assert.equal(a.apply(ipvsModeRules(V4)).changed, true);
  assertInKernel(ipvsModeRules(V4));
});

test('a real packet: off-cluster traffic to a cluster IP gets the masquerade mark, pod traffic does not', () => {
  // The client namespace reaches the proxy namespace over a veth; 10.96.0.10 is a local address there
  // and 10.96.0.10,tcp:80 is in KUBE-CLUSTER-IP.
  sh(`ip netns add ${CLIENT} && ip -n ${CLIENT} link set lo up
      ip link add kipvs-ipt0 netns ${NS} type veth peer name eth0 netns ${CLIENT}
      ip -n ${NS} addr add 192.168.77.1/24 dev kipvs-ipt0 && ip -n ${NS} link set kipvs-ipt0 up
      ip -n ${NS} addr add 10.96.0.10/32 dev lo
      ip -n ${CLIENT} addr add 192.168.77.2/24 dev eth0 && ip -n ${CLIENT} addr add 10.244.1.2/32 dev eth0 && ip -n ${CLIENT} link set eth0 up
      ip -n ${NS} route add 10.244.1.2/32 dev kipvs-ipt0
      ip netns exec ${NS} ipset add KUBE-CLUSTER-IP 10.96.0.10,tcp:80 -exist`);
  const markCount = (): number => {
    const l = inNs('iptables-save -c -t nat').split('\n').find((x) => /-A KUBE-MARK-MASQ /.test(x));
    assert.ok(l, 'KUBE-MARK-MASQ rule');
    return Number(/^\[(\d+):/.exec(l)![1]);
  };
  const connect = (src: string): void => {
    sh(`ip -n ${CLIENT} route replace 10.96.0.10/32 via 192.168.77.1 src ${src}`);
    shStatus(`ip netns exec ${CLIENT} timeout 2 bash -c 'exec 3<>/dev/tcp/10.96.0.10/80' 2>/dev/null`);
  };
  inNs('iptables -t nat -Z KUBE-MARK-MASQ');
  connect('10.244.1.2');
  assert.equal(markCount(), 0, 'a pod source (inside the cluster CIDR) is not marked');
  connect('192.168.77.2');
  assert.ok(markCount() >= 1, 'an off-cluster source is marked for masquerade');
  // And the REJECT of KUBE-IPVS-FILTER: a VIP address on another port is refused by the filter.
  inNs('ipset add KUBE-IPVS-IPS 10.96.0.10 -exist');
  inNs('iptables -Z KUBE-IPVS-FILTER');
  shStatus(`ip netns exec ${CLIENT} timeout 2 bash -c 'exec 3<>/dev/tcp/10.96.0.10/81' 2>/dev/null`);
  const rejects = inNs('iptables-save -c -t filter').split('\n').find((x) => x.includes('-A KUBE-IPVS-FILTER') && x.includes('-j REJECT'));
  assert.ok(rejects && Number(/^\[(\d+):/.exec(rejects)![1]) >= 1, `REJECT counted: ${rejects}`);
  inNs('ipset del KUBE-IPVS-IPS 10.96.0.10 -exist');
});

test('IPv6: KUBE-6- sets, ::1/128, ip6tables; apply, no-op, cleanup', () => {
  const rs = ipvsModeRules(V6);
  const a = ipt('inet6');
  assert.equal(a.apply(rs).changed, true);
  assertInKernel(rs);
  const text = save('inet6');
  assert.ok(text.includes('-A KUBE-SERVICES -s ::1/128 '));
  assert.ok(text.includes('--match-set KUBE-6-CLUSTER-IP dst,dst'));
  assert.ok(text.includes('--reject-with icmp6-port-unreachable'));
  assert.ok(text.includes('! -s fd00:10:244::/56 '));
  assert.equal(a.apply(rs).changed, false);
  assert.deepEqual(warnings, []);
  a.cleanup();
  assert.equal(a.saved(), '');
  assert.ok(save('inet').includes('-A KUBE-MARK-MASQ'), 'the IPv4 rules are not touched');
});

/** The error of a restore whose rules match KUBE-LOOP-BACK, destroyed: named by command, table and reason. */
function restoreFailedOnLoopBack(err: unknown): true {
  assert.ok(err instanceof IptablesError);
  assert.equal(err.command, 'iptables-restore');
  assert.equal(err.table, 'nat');
  assert.match(err.message, /^iptables-restore \(table nat\) failed: .*KUBE-LOOP-BACK/);
  return true;
}

test('errors name the command, the table and the reason', () => {
  inNs('ipset create KIPVS-TEST-DOOMED hash:ip && ipset destroy KIPVS-TEST-DOOMED');
  const a = ipt('inet');
  const rs = ipvsModeRules({ ...V4, masqueradeBit: 5 });
  // A set the rules need, gone: the restore fails on the nat table.
  inNs('iptables -t nat -F KUBE-POSTROUTING && ipset destroy KUBE-LOOP-BACK');
  assert.throws(() => a.apply(rs), restoreFailedOnLoopBack);
  createSets('inet');
  const missing = new Iptables({ family: 'inet', run: (c, args, input) => execRun(`/nonexistent/${c}`, args, input) });
  assert.throws(() => missing.apply(rs), /iptables-save \(table nat,filter\) failed: .*not found/);
  assert.equal(a.apply(ipvsModeRules(V4)).changed, true);
});

test('applyAsync, both families at once: what apply writes, a no-op after, tampering repaired, errors named as apply names them', async () => {
  const rs4 = ipvsModeRules({ ...V4, masqueradeBit: 9 });
  const rs6 = ipvsModeRules({ ...V6, masqueradeBit: 9 });
  const calls: string[] = [];
  const mk = (family: Family) => new Iptables({ family, log, run, runAsync: (c, args, input) => (calls.push(c), runAsync(c, args, input)) });
  const a4 = mk('inet'), a6 = mk('inet6');
  const [r4, r6] = await Promise.all([a4.applyAsync(rs4), a6.applyAsync(rs6)]);
  assert.equal(r4.changed, true);
  assert.equal(r6.changed, true);
  assertInKernel(rs4);
  assertInKernel(rs6);
  // The synchronous apply of the same rules finds nothing to do: both ways write the same.
  assert.equal(ipt('inet').apply(rs4).changed, false);
  assert.equal(ipt('inet6').apply(rs6).changed, false);
  calls.length = 0;
  assert.equal((await a4.applyAsync(rs4)).changed, false);
  assert.deepEqual(calls, ['iptables-save']);
  inNs('iptables -t nat -D KUBE-SERVICES 1');
  assert.equal((await a4.applyAsync(rs4)).changed, true);
  assertInKernel(rs4);
  // A set the rules need, gone: the restore fails on the nat table, as apply's does.
  inNs('iptables -t nat -F KUBE-POSTROUTING && ipset destroy KUBE-LOOP-BACK');
  await assert.rejects(a4.applyAsync(rs4), restoreFailedOnLoopBack);
  createSets('inet');
  const missing = new Iptables({ family: 'inet', run, runAsync: (c, args, input) => execRunAsync(`/nonexistent/${c}`, args, input) });
  await assert.rejects(missing.applyAsync(rs4), /iptables-save \(table nat,filter\) failed: .*not found/);
  assert.equal((await a4.applyAsync(ipvsModeRules(V4))).changed, true);
  assert.equal((await a6.applyAsync(ipvsModeRules(V6))).changed, true);
  assertInKernel(ipvsModeRules(V4));
  ipt('inet6').cleanup();
});

test('ensureJumps inserts only what is missing', () => {
  const a = ipt('inet');
  const rs = ipvsModeRules(V4);
  assert.equal(a.ensureJumps(rs), 0);
  inNs(`iptables -t nat -D POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`);
  assert.equal(a.ensureJumps(rs), 1);
  assertInKernel(rs);
});

test('cleanup removes every kipvs chain and jump, keeps foreign rules, and is idempotent', () => {
  const a = ipt('inet');
  a.cleanup();
  const text = save('inet');
  for (const table of ['nat', 'filter'] as Table[]) {
    for (const c of OWNED_CHAINS[table]) assert.ok(!new RegExp(`(^|\\n)(:|-A )${c} `).test(text) && !text.includes(`-j ${c}`), `${table} ${c} gone`);
  }
  assert.equal(a.saved(), '');
  assert.ok(text.includes('-A INPUT -s 192.0.2.1/32 -m comment --comment "foreign rule" -j DROP'));
  assert.ok(text.includes('-A PREROUTING -j FOREIGN') && text.includes(':FORWARD DROP'));
  a.cleanup();
  // From nothing, ensureJumps creates the chains the jumps need.
  assert.equal(a.ensureJumps(ipvsModeRules(V4)), 9);
  a.cleanup();
  assert.equal(a.saved(), '');
});

test('cleanup keeps (flushed) a kipvs chain that a foreign chain jumps to', () => {
  const a = ipt('inet');
  a.apply(ipvsModeRules(V4));
  inNs('iptables -t nat -A FOREIGN -j KUBE-MARK-MASQ');
  warnings.length = 0;
  a.cleanup();
  const text = save('inet');
  assert.ok(text.includes(':KUBE-MARK-MASQ - ') && !text.includes('-A KUBE-MARK-MASQ'));
  assert.ok(!text.includes(':KUBE-SERVICES '));
  assert.equal(warnings.length, 1);
  warnings.length = 0;
  inNs('iptables -t nat -D FOREIGN -j KUBE-MARK-MASQ');
  a.cleanup();
  assert.ok(!save('inet').includes('KUBE-MARK-MASQ'));
});
