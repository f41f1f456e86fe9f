// kube-proxy's iptables mode (render.ts) applied by restore.ts with the real binaries of BOTH iptables
// backends, legacy and nft, each in network namespaces of its own. The oracle is each backend's
// iptables-save: every chain the renderer wrote holds exactly the rendered rules (compared after
// canonicalRule, which absorbs what save prints differently), the jumps from the built-in chains are there
// once each in kube-proxy's order, a partial restore rewrites only the named Services' chains and deletes
// the unused ones, and real TCP connections are DNATed to a busybox httpd, or refused at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { sh, shStatus, waitFor } from './helpers.js';
import { execRun } from '../../src/iptables/iptables.js';
import { parseSave } from '../../src/iptables/rules.js';
import { portChains, endpointChain } from '../../src/backends/iptables/chains.js';
import { renderIptablesMode, type RenderInput } from '../../src/backends/iptables/render.js';
import { IptablesModeApplier, IptablesRestoreError, canonicalRule, detectBackend, type XtablesBackend } from '../../src/backends/iptables/restore.js';
import type { PortEndpoint, ServicePortDesired } from '../../src/model/types.js';
import type { Family } from '../../src/netlink/address.js';

const BACKENDS: XtablesBackend[] = ['legacy', 'nft'];
const tag = (s: string) => `kipvs-im${s}-${process.pid}`.slice(0, 30);
const NS = { legacy: tag('L'), nft: tag('N') };
/** The client and the backend of the traffic test, and a namespace for backend detection. */
const CLIENT = tag('c'), SERVER = tag('s'), DETECT = tag('d');
const children: ChildProcess[] = [];

const runIn = (ns: string) => (cmd: string, args: string[], input?: string) => execRun('ip', ['netns', 'exec', ns, cmd, ...args], input);
const applier = (b: XtablesBackend, family: Family = 'inet') => new IptablesModeApplier({ family, backend: b, run: runIn(NS[b]) });
const save = (b: XtablesBackend, family: Family, table: string) => runIn(NS[b])(`${family === 'inet' ? 'iptables' : 'ip6tables'}-${b}-save`, ['-t', table]);

function port(name: string, clusterIP: string, port: number, eps: string[], o: Partial<ServicePortDesired> = {}): ServicePortDesired {
  const endpoints: PortEndpoint[] = eps.map((t) => {
    const i = t.lastIndexOf(':');
    return { address: t.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(t.slice(i + 1)), local: t.includes('.91.') || t.includes(':91::') };
  });
  return {
    name, service: name.split(':')[0]!, portName: name.split(':')[1] ?? '', family: clusterIP.includes(':') ? 'inet6' : 'inet', protocol: 'tcp', port, clusterIP,
    externalIPs: [], loadBalancerIPs: [], sourceRanges: [], internalLocal: false, externalLocal: false,
    clusterEndpoints: endpoints, localEndpoints: endpoints.filter((e) => e.local), hasEndpoints: endpoints.length > 0, notes: [], ...o,
  };
}

/** Every kind of port kube-proxy writes chains for; 10.96.77.10 and .11 also carry the traffic test. */
const V4: ServicePortDesired[] = [
  port('web/app:http', '10.96.77.10', 80, ['10.244.91.2:8080']),
  port('web/empty:http', '10.96.77.11', 80, []),
  port('ns/two:p', '10.96.77.12', 80, ['10.244.1.1:80', '10.244.2.1:80', '10.244.3.1:80'], { nodePort: 30080, externalIPs: ['192.0.2.50'] }),
  port('ns/lb:p', '10.96.77.13', 443, ['10.244.1.5:8443', '10.244.91.5:8443'], { nodePort: 30443, loadBalancerIPs: ['198.51.100.7'], externalLocal: true }),
  port('ns/fw:p', '10.96.77.14', 80, ['10.244.1.6:80'], { loadBalancerIPs: ['198.51.100.8'], sourceRanges: ['203.0.113.0/25'], affinitySeconds: 10800 }),
  port('ns/udp:dns', '10.96.77.15', 53, ['10.244.1.7:53'], { protocol: 'udp' }),
];
const V6: ServicePortDesired[] = [
  port('ns/v6:http', 'fd00:96::10', 80, ['[fd00:244:1::1]:8080', '[fd00:244:91::2]:8080'], { nodePort: 30081, affinitySeconds: 60 }),
  port('ns/v6empty:http', 'fd00:96::11', 80, []),
];
const OPTS = (family: Family): Omit<RenderInput, 'ports'> => ({
  family, localDetector: { kind: 'cidr', cidr: family === 'inet' ? '10.244.0.0/16' : 'fd00:244::/48' }, nodeIP: family === 'inet' ? '10.244.91.1' : 'fd00:244:91::1',
  randomFully: true, healthCheckNodePorts: new Map([['ns/lb', 32000]]),
});

/** Render for the kernel as it is now, apply with the jumps; return the text. */
function sync(b: XtablesBackend, family: Family, ports: ServicePortDesired[], changed?: string[]) {
  const a = applier(b, family);
  const state = a.read({ mangle: true });
  const r = renderIptablesMode({ ...OPTS(family), ports, existingChains: state.nat.chains, ...(changed ? { changedServices: new Set(changed) } : {}) });
  const applied = a.apply(r.text, state);
  return { r, applied };
}

/** The oracle: each chain of the full rule set holds exactly its rendered rules; nothing else of ours exists. */
function assertInKernel(b: XtablesBackend, family: Family, full: string): void {
  for (const table of ['filter', 'nat']) {
    const block = full.slice(full.indexOf(`*${table}\n`), full.indexOf('COMMIT\n', full.indexOf(`*${table}\n`)));
    const want = new Map<string, string[]>();
    for (const l of block.split('\n')) {
      if (l.startsWith(':')) want.set(l.slice(1).split(' ')[0]!, []);
      else if (l.startsWith('-A ')) want.get(l.split(' ')[1]!)!.push(canonicalRule(l.slice(l.indexOf(' ', 3) + 1), family));
    }
    const have = parseSave(save(b, family, table)).get(table)!;
    for (const [chain, rules] of want) {
      assert.deepEqual((have.get(chain)?.rules ?? ['(no chain)']).map((r) => canonicalRule(r, family)), rules, `${b} ${family} ${table} ${chain}`);
    }
    const extra = [...have.keys()].filter((c) => c.startsWith('KUBE-') && !want.has(c) && c !== 'KUBE-PROXY-CANARY' && c !== 'KUBE-FIREWALL');
    assert.deepEqual(extra, [], `${b} ${family} ${table}: no chains of ours beyond the rule set`);
  }
}

function jumpsIn(b: XtablesBackend, family: Family, table: string, chain: string): string[] {
  return save(b, family, table).split('\n').filter((l) => l.startsWith(`-A ${chain} `)).map((l) => / -j (\S+)/.exec(l)?.[1] ?? '?');
}

before(() => {
  for (const ns of [...Object.values(NS), CLIENT, SERVER]) sh(`ip netns add ${ns} && ip -n ${ns} link set lo up`);
  // The client (192.168.90.2) and the server (10.244.91.2, port 8080) each hang off the legacy proxy
  // namespace, which routes between them; the nft proxy namespace gets the same links later.
  const dir = `/tmp/www-${SERVER}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/index.html`, 'hello from the endpoint\n');
  const child = spawn('ip', ['netns', 'exec', SERVER, 'busybox', 'httpd', '-f', '-p', '8080', '-h', dir], { stdio: 'ignore' });
  children.push(child);
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of [...Object.values(NS), CLIENT, SERVER, DETECT]) shStatus(`ip netns del ${ns}`);
});

/** Wire the client and server namespaces to proxy namespace `p` (moving them from another proxy). */
function wire(p: string): void {
  shStatus(`ip -n ${CLIENT} link del eth0; ip -n ${SERVER} link del eth0`);
  sh(`ip link add pc0 netns ${p} type veth peer name eth0 netns ${CLIENT}
      ip link add pb0 netns ${p} type veth peer name eth0 netns ${SERVER}
      ip -n ${p} addr add 192.168.90.1/24 dev pc0 && ip -n ${p} link set pc0 up
      ip -n ${p} addr add 10.244.91.1/24 dev pb0 && ip -n ${p} link set pb0 up
      ip -n ${CLIENT} addr add 192.168.90.2/24 dev eth0 && ip -n ${CLIENT} link set eth0 up && ip -n ${CLIENT} route add default via 192.168.90.1
      ip -n ${SERVER} addr add 10.244.91.2/24 dev eth0 && ip -n ${SERVER} link set eth0 up && ip -n ${SERVER} route add default via 10.244.91.1
      ip -n ${p} route add 10.96.0.0/16 dev pb0
      ip netns exec ${p} sysctl -qw net.ipv4.ip_forward=1`);
}

test('the four binaries of each backend are there', () => {
  for (const b of BACKENDS) {
    for (const f of ['inet', 'inet6'] as Family[]) {
      const a = applier(b, f);
      assert.match(execRun(a.bin.save, ['--version']), new RegExp(`\\(${b === 'nft' ? 'nf_tables' : 'legacy'}\\)`));
      assert.ok(execRun('bash', ['-c', `command -v ${a.bin.restore}`]).trim() !== '');
    }
  }
});

for (const b of BACKENDS) {
  test(`${b}: a full restore writes exactly the rendered rules, the jumps in kube-proxy's order, the canaries`, (t) => {
    for (const [family, ports] of [['inet', V4], ['inet6', V6]] as [Family, ServicePortDesired[]][]) {
      const { r, applied } = sync(b, family, ports);
      t.diagnostic(`${b} ${family}: ${applied.lines} lines in ${applied.ms.toFixed(1)} ms, ${applied.jumpsInserted} jumps`);
      assert.equal(applied.jumpsInserted, 14);
      assertInKernel(b, family, r.text);
      assert.deepEqual(jumpsIn(b, family, 'filter', 'INPUT'), ['KUBE-FIREWALL', 'KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES']);
      assert.deepEqual(jumpsIn(b, family, 'filter', 'FORWARD'), ['KUBE-PROXY-FIREWALL', 'KUBE-FORWARD', 'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES']);
      assert.deepEqual(jumpsIn(b, family, 'filter', 'OUTPUT'), ['KUBE-FIREWALL', 'KUBE-PROXY-FIREWALL', 'KUBE-SERVICES']);
      assert.deepEqual([jumpsIn(b, family, 'nat', 'PREROUTING'), jumpsIn(b, family, 'nat', 'OUTPUT'), jumpsIn(b, family, 'nat', 'POSTROUTING')],
        [['KUBE-SERVICES'], ['KUBE-SERVICES'], ['KUBE-POSTROUTING']]);
      for (const table of ['mangle', 'nat', 'filter']) assert.match(save(b, family, table), /^:KUBE-PROXY-CANARY - /m, `${table} canary`);
      // Again: nothing missing, nothing doubled.
      const again = sync(b, family, ports);
      assert.equal(again.applied.jumpsInserted, 0);
      assertInKernel(b, family, again.r.text);
      assert.equal(jumpsIn(b, family, 'filter', 'INPUT').length, 4);
    }
    // A few rules literally as this backend's iptables-save prints them.
    const nat = save(b, 'inet', 'nat');
    const sep = endpointChain('ns/fw:p', 'tcp', '10.244.1.6:80');
    for (const l of [
      `-A ${sep} -s 10.244.1.6/32 -m comment --comment "ns/fw:p" -j KUBE-MARK-MASQ`,
      `-A ${sep} -p tcp -m comment --comment "ns/fw:p" -m recent --set --name ${sep} --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.6:80`,
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]) assert.ok(nat.split('\n').includes(l) || nat.split('\n').includes(l.replace(/--comment "([^ "]*)"/, '--comment $1')), `${b} save has: ${l}`);
    assert.match(nat, /--probability 0\.33333333349 -j KUBE-SEP-/, 'save prints the kernel\'s 1/3 with 11 decimals');
  });

  test(`${b}: backend detection picks the backend holding the rules`, () => {
    const d = detectBackend(runIn(NS[b]));
    assert.equal(d.backend, b, d.reason);
  });

  test(`${b}: a partial restore rewrites only the changed Services' chains and deletes the unused ones`, () => {
    const svcApp = portChains('web/app:http', 'tcp').svc, svcTwo = portChains('ns/two:p', 'tcp').svc;
    const oldSep = endpointChain('ns/two:p', 'tcp', '10.244.3.1:80');
    const udp = portChains('ns/udp:dns', 'udp').svc;
    // Markers: a rule only a rewrite of its chain would remove.
    for (const c of [svcApp, svcTwo]) runIn(NS[b])(`iptables-${b}`, ['-t', 'nat', '-A', c, '-m', 'comment', '--comment', 'marker']);
    const ports = V4.filter((p) => p.service !== 'ns/udp').map((p) => (p.service === 'ns/two' ? port('ns/two:p', '10.96.77.12', 80, ['10.244.1.1:80', '10.244.2.1:80'], { nodePort: 30080, externalIPs: ['192.0.2.50'] }) : p));
    const { r, applied } = sync(b, 'inet', ports, ['ns/two', 'ns/udp']);
    assert.ok(r.partial && r.written.deletedChains === 3, `deleted: ${r.written.deletedChains}`);
    assert.ok(applied.lines < renderIptablesMode({ ...OPTS('inet'), ports }).lines);
    const nat = save(b, 'inet', 'nat');
    assert.match(nat, new RegExp(`^-A ${svcApp} .*--comment marker`, 'm'), 'an unchanged Service keeps its chains as they were');
    assert.doesNotMatch(nat, new RegExp(`^-A ${svcTwo} .*--comment marker`, 'm'), 'a changed Service is rewritten');
    for (const gone of [oldSep, udp, endpointChain('ns/udp:dns', 'udp', '10.244.1.7:53')]) assert.doesNotMatch(nat, new RegExp(`^:${gone} `, 'm'), `${gone} deleted`);
    // Beyond the marker, the kernel now holds the full rule set for these ports.
    runIn(NS[b])(`iptables-${b}`, ['-t', 'nat', '-D', svcApp, '-m', 'comment', '--comment', 'marker']);
    assertInKernel(b, 'inet', renderIptablesMode({ ...OPTS('inet'), ports }).text);
  });

  test(`${b}: real traffic: a cluster IP DNATed to the endpoint, a Service without endpoints refused at once`, (t) => {
    wire(NS[b]);
    sync(b, 'inet', V4);
    waitFor(() => shStatus(`ip netns exec ${SERVER} ss -ltn | grep -q :8080`).status === 0, 10_000, 'httpd');
    // (busybox's static wget crashes in the sandbox: HTTP by hand over bash's /dev/tcp.)
    const reply = sh(`ip netns exec ${CLIENT} timeout 5 bash -c 'exec 3<>/dev/tcp/10.96.77.10/80; printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3'`);
    assert.match(reply, /^HTTP\/1\.[01] 200 /);
    assert.ok(reply.endsWith('\r\n\r\nhello from the endpoint\n'), reply);
    // Timed inside bash: under the sandbox's emulation, starting processes alone takes seconds. Refused,
    // not timed out (a DROP would leave connect() retrying for two minutes). Over veth the first SYN's ICMP
    // error comes back in the same softirq, while connect() still holds the socket lock, so TCP keeps it
    // as a soft error and learns on the SYN retransmitted a second later: allow that one retry.
    const out = sh(`ip netns exec ${CLIENT} bash -c 's=$EPOCHREALTIME; { : 3<>/dev/tcp/10.96.77.11/80; } 2>&1; echo "rc=$? $s $EPOCHREALTIME"'`);
    const m = /rc=(\d+) ([\d.]+) ([\d.]+)/.exec(out)!;
    const ms = (Number(m[3]) - Number(m[2])) * 1000;
    assert.notEqual(m[1], '0');
    assert.match(out, /Connection refused/);
    const reject = runIn(NS[b])(`iptables-${b}-save`, ['-c', '-t', 'filter']).split('\n').find((l) => l.includes('web/empty:http has no endpoints'));
    const hits = Number(/^\[(\d+):/.exec(reject ?? '')?.[1] ?? 0);
    const ok = sh(`ip netns exec ${CLIENT} bash -c 's=$EPOCHREALTIME; { : 3<>/dev/tcp/10.96.77.10/80; } 2>&1; echo "rc=$? $s $EPOCHREALTIME"'`);
    const okMs = (Number(/ ([\d.]+)$/.exec(ok.trim())![1]) - Number(/rc=\d+ ([\d.]+)/.exec(ok)![1])) * 1000;
    t.diagnostic(`${b}: refused in ${ms.toFixed(0)} ms after ${hits} REJECT hit(s); a connect through DNAT takes ${okMs.toFixed(0)} ms`);
    assert.ok(hits >= 1 && hits <= 2, `REJECT counted: ${reject}`);
    assert.ok(ms < 2500, `refused after ${ms} ms`);
  });
}

test('detection: kubelet hints first, then KUBE- rules, nft by default', () => {
  const fresh = () => {
    shStatus(`ip netns del ${DETECT}`);
    sh(`ip netns add ${DETECT}`);
  };
  const run = runIn(DETECT);
  fresh();
  assert.deepEqual(detectBackend(run), { backend: 'nft', reason: 'no rules anywhere: nft by default' });
  sh(`ip netns exec ${DETECT} iptables-legacy -t mangle -N KUBE-IPTABLES-HINT`);
  assert.equal(detectBackend(run).backend, 'legacy');
  fresh();
  sh(`ip netns exec ${DETECT} ip6tables-nft -t mangle -N KUBE-KUBELET-CANARY && ip netns exec ${DETECT} iptables-legacy -t nat -N KUBE-SERVICES`);
  assert.equal(detectBackend(run).backend, 'nft', 'a hint in nft beats KUBE- chains in legacy');
  fresh();
  sh(`ip netns exec ${DETECT} bash -c 'iptables-legacy -t nat -N KUBE-SERVICES && iptables-legacy -t nat -A PREROUTING -j KUBE-SERVICES && iptables-nft -A INPUT -j ACCEPT && iptables-nft -A INPUT -j ACCEPT'`);
  const d = detectBackend(run);
  assert.equal(d.backend, 'legacy', d.reason);
});

test('a refused restore names the table and the line', () => {
  const a = applier('nft');
  // The block before the failing one is committed all the same (nft included): kube-proxy's text, like
  // render.ts', puts filter first, so a nat failure leaves the filter rules new and the nat ones old.
  const text = '*filter\n:KIPVS-OK - [0:0]\nCOMMIT\n*nat\n:KIPVS-BAD - [0:0]\n-A KIPVS-BAD -m nosuchmatch --foo -j ACCEPT\nCOMMIT\n';
  assert.throws(() => a.apply(text), (err: unknown) => {
    assert.ok(err instanceof IptablesRestoreError, String(err));
    assert.equal(err.command, 'iptables-nft-restore');
    assert.equal(err.table, 'nat');
    assert.equal(err.line, 6);
    assert.equal(err.lineText, '-A KIPVS-BAD -m nosuchmatch --foo -j ACCEPT');
    return true;
  });
  assert.doesNotMatch(save('nft', 'inet', 'nat'), /KIPVS-BAD/);
  runIn(NS.nft)('iptables-nft', ['-X', 'KIPVS-OK']);
});

for (const b of BACKENDS) {
  test(`${b}: cleanup leaves none of kube-proxy's chains or jumps`, () => {
    for (const f of ['inet', 'inet6'] as Family[]) {
      applier(b, f).cleanup();
      for (const table of ['filter', 'nat']) {
        const text = save(b, f, table);
        assert.doesNotMatch(text, /^:KUBE-(SERVICES|NODEPORTS|SVC-|SEP-|EXT-|FW-|SVL-|POSTROUTING|MARK-MASQ|FORWARD|EXTERNAL-SERVICES|PROXY-FIREWALL) /m, `${b} ${f} ${table}`);
        assert.doesNotMatch(text, /-j KUBE-(SERVICES|NODEPORTS|POSTROUTING|FORWARD|EXTERNAL-SERVICES|PROXY-FIREWALL)\b/, `${b} ${f} ${table} jumps`);
      }
    }
  });
}
