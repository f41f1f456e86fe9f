// detectLocalMode in both proxy modes: which detector each mode gives per family, the match arguments
// (kube-proxy's pkg/proxy/util/localdetector.go), and the rules that use them, compared with the rule
// texts of kube-proxy's proxier tests: IPVS mode's KUBE-SERVICES masquerade rule for cluster IPs, and
// iptables mode's per-Service masquerade rule and its "pod traffic" rule for external destinations.
// Then the flags and config fields that choose them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { badInterfaceName, detectorArgs, localDetectorFor, type LocalDetector } from '../../src/iptables/local-detector.js';
import { ipvsModeRules, type IptablesConfig } from '../../src/iptables/rules.js';
import { ipvsRuleSet } from '../../src/backends/ipvs/backend.js';
import { renderInput } from '../../src/backends/iptables/backend.js';
import { portChains } from '../../src/backends/iptables/chains.js';
import { renderIptablesMode } from '../../src/backends/iptables/render.js';
import type { ServicePortDesired } from '../../src/model/types.js';
import { nodePodCIDRs } from '../../src/model/nodeports.js';
import { loadConfig, ConfigError, type AgentConfig } from '../../src/config/index.js';

const DUAL = { clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'] };

test('localDetectorFor: each mode, per family; nothing where the mode has nothing for the family', () => {
  assert.deepEqual(localDetectorFor(DUAL, 'inet'), { kind: 'cidr', cidr: '10.244.0.0/16' }, 'ClusterCIDR is the default');
  assert.deepEqual(localDetectorFor(DUAL, 'inet6'), { kind: 'cidr', cidr: 'fd00:10:244::/56' });
  assert.equal(localDetectorFor({ clusterCIDRs: ['10.244.0.0/16'] }, 'inet6'), undefined);
  const node = { ...DUAL, detectLocal: { mode: 'NodeCIDR' as const } };
  assert.equal(localDetectorFor(node, 'inet', []), undefined, 'no podCIDRs yet: no detector (not the cluster CIDR)');
  assert.deepEqual(localDetectorFor(node, 'inet', ['fd00:10:244:3::/64', '10.244.3.0/24']), { kind: 'cidr', cidr: '10.244.3.0/24' });
  assert.deepEqual(localDetectorFor(node, 'inet6', ['10.244.3.0/24', 'fd00:10:244:3::/64']), { kind: 'cidr', cidr: 'fd00:10:244:3::/64' });
  for (const family of ['inet', 'inet6'] as const) {
    assert.deepEqual(localDetectorFor({ ...DUAL, detectLocal: { mode: 'BridgeInterface', bridgeInterface: 'cbr0' } }, family), { kind: 'bridge', interface: 'cbr0' });
    assert.deepEqual(localDetectorFor({ ...DUAL, detectLocal: { mode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' } }, family), { kind: 'interfacePrefix', prefix: 'veth' });
  }
});

test('detectorArgs: kube-proxy\'s iptables arguments for each detector', () => {
  assert.deepEqual(detectorArgs({ kind: 'cidr', cidr: '10.0.0.0/14' }, 'inet'), { ifLocal: ['-s', '10.0.0.0/14'], ifNotLocal: ['!', '-s', '10.0.0.0/14'] });
  assert.equal(detectorArgs({ kind: 'cidr', cidr: '10.0.0.0/14' }, 'inet6'), null);
  assert.deepEqual(detectorArgs({ kind: 'bridge', interface: 'eth0' }, 'inet'), { ifLocal: ['-i', 'eth0'], ifNotLocal: ['!', '-i', 'eth0'] });
  assert.deepEqual(detectorArgs({ kind: 'interfacePrefix', prefix: 'eth' }, 'inet6'), { ifLocal: ['-i', 'eth+'], ifNotLocal: ['!', '-i', 'eth+'] });
  assert.equal(detectorArgs(undefined, 'inet'), null);
});

/** Rules as iptables-save prints them, without the comment match. */
const bare = (rules: string[]) => rules.map((l) => l.replace(/ -m comment --comment ("[^"]*"|\S+)/, ''));
const clusterMasq = (cfg: IptablesConfig) => bare(ipvsModeRules(cfg).nat.rules).filter((l) => /KUBE-(6-)?CLUSTER-IP/.test(l) && l.endsWith('-j KUBE-MARK-MASQ'));

test('IPVS mode: the cluster IP masquerade rule with each detector (kube-proxy: "! -s CIDR", "! -i BRIDGE", "! -i PREFIX+")', () => {
  const v4: IptablesConfig = { family: 'inet', masqueradeAll: false, masqueradeBit: 14 };
  const cases: [LocalDetector, string][] = [
    [{ kind: 'cidr', cidr: '10.244.3.0/24' }, '! -s 10.244.3.0/24'],
    [{ kind: 'bridge', interface: 'cbr0' }, '! -i cbr0'],
    [{ kind: 'interfacePrefix', prefix: 'veth' }, '! -i veth+'],
  ];
  for (const [localDetector, match] of cases) {
    assert.deepEqual(clusterMasq({ ...v4, localDetector }), [`-A KUBE-SERVICES ${match} -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ`], match);
  }
  const v6 = clusterMasq({ ...v4, family: 'inet6', localDetector: { kind: 'interfacePrefix', prefix: 'cali' } });
  assert.deepEqual(v6, ['-A KUBE-SERVICES ! -i cali+ -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ']);
  // Bad detectors name the field.
  assert.throws(() => ipvsModeRules({ ...v4, localDetector: { kind: 'bridge', interface: 'a-name-too-long-for-linux' } }), /iptables rules: localDetector\.interface: longer than 15 characters/);
  assert.throws(() => ipvsModeRules({ ...v4, localDetector: { kind: 'interfacePrefix', prefix: 've th' } }), /iptables rules: localDetector\.prefix: not an interface name/);
});

test('IPVS mode: NodeCIDR follows the Node\'s podCIDRs; without them the rule falls back to node traffic from a cluster IP', () => {
  const cfg = { masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: ['10.244.0.0/16'], detectLocal: { mode: 'NodeCIDR' as const } };
  const masq = (podCIDRs: string[]) => bare(ipvsRuleSet(cfg, 'inet', { randomFully: false, closed: [], sets: ['clusterIP'], podCIDRs }).nat.rules)
    .filter((l) => l.includes('KUBE-CLUSTER-IP') && l.endsWith('-j KUBE-MARK-MASQ'));
  assert.deepEqual(masq(['10.244.3.0/24']), ['-A KUBE-SERVICES ! -s 10.244.3.0/24 -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ']);
  assert.deepEqual(masq([]), ['-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ']);
  // The getter is read when no list is given (kipvs diff).
  const viaGetter = ipvsRuleSet({ ...cfg, podCIDRs: () => ['10.244.9.0/24'] }, 'inet', { randomFully: false, closed: [], sets: ['clusterIP'] });
  assert.ok(viaGetter.nat.rules.some((l) => l.startsWith('-A KUBE-SERVICES ! -s 10.244.9.0/24 ')));
});

function port(extra: Partial<ServicePortDesired> = {}): ServicePortDesired {
  const ep = { address: '10.180.0.1', port: 80, local: true };
  return {
    name: 'ns1/svc1:p80', service: 'ns1/svc1', portName: 'p80', family: 'inet', protocol: 'tcp', clusterIP: '172.30.0.41', port: 80,
    externalIPs: [], loadBalancerIPs: [], sourceRanges: [], internalLocal: false, externalLocal: false,
    clusterEndpoints: [ep], localEndpoints: [ep], hasEndpoints: true, notes: [], ...extra,
  } as ServicePortDesired;
}

test('iptables mode: each detector in the Service\'s masquerade rule and in the "pod traffic" rule of its external chain', () => {
  const { svc, ext } = portChains('ns1/svc1:p80', 'tcp');
  const cases: [LocalDetector, string, string][] = [
    [{ kind: 'cidr', cidr: '10.0.0.0/8' }, '! -s 10.0.0.0/8', '-s 10.0.0.0/8'],
    [{ kind: 'bridge', interface: 'cbr0' }, '! -i cbr0', '-i cbr0'],
    [{ kind: 'interfacePrefix', prefix: 'veth' }, '! -i veth+', '-i veth+'],
  ];
  for (const [localDetector, notLocal, local] of cases) {
    const { text } = renderIptablesMode({ family: 'inet', localDetector, ports: [port({ nodePort: 3001, externalLocal: true })] });
    assert.ok(text.includes(`-A ${svc} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ${notLocal} -j KUBE-MARK-MASQ\n`), `${notLocal}\n${text}`);
    assert.ok(text.includes(`-A ${ext} -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" ${local} -j ${svc}\n`), local);
  }
  // No detector: no masquerade rule for the cluster IP at all (kube-proxy's no-op detector).
  assert.doesNotMatch(renderIptablesMode({ family: 'inet', ports: [port()] }).text, /cluster IP" .* -j KUBE-MARK-MASQ/);
});

test('iptables mode: renderInput takes the detector from the mode, NodeCIDR from the Node\'s podCIDRs', () => {
  const base = {
    log: { info() {}, warn() {}, error() {}, debug() {} }, link: undefined as never, masqueradeAll: false, masqueradeBit: 14, clusterCIDRs: ['10.244.0.0/16'],
    sync: 'partial' as const, nodePortConfig: [], nodePortAddresses: () => [], nodeIPs: () => [],
  };
  const d = { ports: [], healthCheck: new Map(), nodePorts: [], existing: [] };
  assert.deepEqual(renderInput(base, 'inet', d).localDetector, { kind: 'cidr', cidr: '10.244.0.0/16' });
  let pod: string[] = [];
  const node = { ...base, detectLocal: { mode: 'NodeCIDR' as const }, podCIDRs: () => pod };
  assert.equal(renderInput(node, 'inet', d).localDetector, undefined);
  pod = ['10.244.3.0/24'];
  assert.deepEqual(renderInput(node, 'inet', d).localDetector, { kind: 'cidr', cidr: '10.244.3.0/24' });
  assert.deepEqual(renderInput({ ...base, detectLocal: { mode: 'BridgeInterface', bridgeInterface: 'cbr0' } }, 'inet6', d).localDetector, { kind: 'bridge', interface: 'cbr0' });
});

test('nodePodCIDRs: spec.podCIDRs, else spec.podCIDR, else none', () => {
  assert.deepEqual(nodePodCIDRs({ spec: { podCIDRs: ['10.244.3.0/24', 'fd00::/64'], podCIDR: '10.244.3.0/24' } }), ['10.244.3.0/24', 'fd00::/64']);
  assert.deepEqual(nodePodCIDRs({ spec: { podCIDR: '10.244.3.0/24' } }), ['10.244.3.0/24']);
  assert.deepEqual(nodePodCIDRs({ spec: {} }), []);
  assert.deepEqual(nodePodCIDRs(undefined), []);
});

test('badInterfaceName: Linux\'s limits, a prefix one shorter', () => {
  assert.equal(badInterfaceName('cbr0'), null);
  assert.equal(badInterfaceName('a'.repeat(15)), null);
  assert.match(badInterfaceName('a'.repeat(16))!, /longer than 15/);
  assert.match(badInterfaceName('a'.repeat(15), true)!, /longer than 14/);
  for (const bad of ['', 'a b', 'a/b', 'eth0:1', 'veth+']) assert.ok(badInterfaceName(bad), bad);
});

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';
function load(argv: string[], file?: string): Promise<AgentConfig> {
  return loadConfig(file === undefined ? argv : ['--config', 'c.yaml', ...argv], {
    readFile: async () => HEAD + (file ?? ''),
    hostname: () => 'node-a',
  });
}

test('flags --detect-local-mode, --pod-bridge-interface, --pod-interface-name-prefix; over the file\'s fields', async () => {
  const c = await load(['--detect-local-mode', 'BridgeInterface', '--pod-bridge-interface', 'cbr0']);
  assert.equal(c.detectLocalMode, 'BridgeInterface');
  assert.deepEqual(c.detectLocal, { bridgeInterface: 'cbr0', interfaceNamePrefix: '' });
  const p = await load(['--detect-local-mode=InterfaceNamePrefix', '--pod-interface-name-prefix=veth']);
  assert.deepEqual([p.detectLocalMode, p.detectLocal.interfaceNamePrefix], ['InterfaceNamePrefix', 'veth']);
  assert.equal((await load(['--detect-local-mode', 'NodeCIDR'])).detectLocalMode, 'NodeCIDR');
  const f = await load(['--pod-interface-name-prefix', 'cali'], 'detectLocalMode: InterfaceNamePrefix\ndetectLocal:\n  interfaceNamePrefix: veth\n');
  assert.equal(f.detectLocal.interfaceNamePrefix, 'cali', 'the flag wins over the file');
  const errors: [string[], string | undefined, string][] = [
    [['--detect-local-mode', 'Magic'], undefined, '--detect-local-mode: unknown mode "Magic" (one of ClusterCIDR NodeCIDR BridgeInterface InterfaceNamePrefix)'],
    [['--detect-local-mode', 'BridgeInterface'], undefined, '--pod-bridge-interface'],
    [['--detect-local-mode', 'BridgeInterface', '--pod-bridge-interface', 'br 0'], undefined, '--pod-bridge-interface: not an interface name: "br 0"'],
    [['--detect-local-mode', 'InterfaceNamePrefix', '--pod-interface-name-prefix', 'a-prefix-far-too-long'], undefined, '--pod-interface-name-prefix: longer than 14 characters'],
    [[], 'detectLocalMode: BridgeInterface\ndetectLocal:\n  bridgeInterface: "cbr0/x"\n', 'c.yaml:5:20: detectLocal.bridgeInterface: not an interface name'],
  ];
  for (const [argv, file, want] of errors) {
    await assert.rejects(load(argv, file), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(err.message.startsWith(want) || err.message.includes(want), `${err.message} !~ ${want}`);
      return true;
    });
  }
});
