import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, usage, ConfigError, parseGoDurationMs } from '../../src/config/index.js';
import type { AgentConfig } from '../../src/config/index.js';

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

/** loadConfig with an in-memory file system and a fixed host name. */
function load(argv: string[], files: Record<string, string> = {}): Promise<AgentConfig> {
  return loadConfig(argv, {
    readFile: async (p) => {
      if (!(p in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return files[p]!;
    },
    hostname: () => 'Node-A.Example',
  });
}

test('Go durations', () => {
  const cases: [string, number | null][] = [
    ['30s', 30_000], ['1m0s', 60_000], ['1h2m3.5s', 3_723_500], ['500ms', 500], ['0', 0], ['0s', 0],
    ['1.5h', 5_400_000], ['-2s', -2000], ['+3m', 180_000], ['100us', 0.1], ['100µs', 0.1], ['10ns', 0.00001], ['.5s', 500],
    ['', null], ['30', null], ['1d', null], ['s', null], ['1m s', null], ['.s', null], ['1.2.3s', null],
  ];
  for (const [text, want] of cases) {
    const got = parseGoDurationMs(text);
    if (want === null) assert.equal(got, null, text);
    else assert.ok(got !== null && Math.abs(got - want) < 1e-9, `${text}: ${got} != ${want}`);
  }
});

test('defaults are kube-proxy v1alpha1 defaults for ipvs mode', async () => {
  const c = await load([]);
  assert.equal(c.mode, 'ipvs');
  assert.equal(c.nodeName, 'node-a.example');
  assert.equal(c.ipvs.scheduler, 'rr');
  assert.equal(c.ipvs.syncPeriodMs, 30_000);
  assert.equal(c.ipvs.minSyncPeriodMs, 0);
  assert.equal(c.ipvs.strictARP, false);
  assert.deepEqual(c.ipvs.excludeCIDRs, []);
  assert.deepEqual([c.ipvs.tcpTimeoutS, c.ipvs.tcpFinTimeoutS, c.ipvs.udpTimeoutS], [0, 0, 0]);
  assert.equal(c.healthzBindAddress, '127.0.0.1:10256', 'loopback, unlike kube-proxy (docs/migration.md)');
  assert.equal(c.metricsBindAddress, '127.0.0.1:10249');
  assert.equal(c.masqueradeBit, 14);
  assert.equal(c.masqueradeAll, false);
  assert.deepEqual(c.nodePortAddresses, []);
  assert.deepEqual(c.clusterCIDR, []);
  assert.equal(c.stateSocket, '/run/kipvs/state.sock');
  assert.equal(c.gracefulTerminationTimeoutMs, 15 * 60_000);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.cleanup, false);
  assert.equal(c.detectLocalMode, 'ClusterCIDR');
  assert.equal(c.configFile, undefined);
  assert.equal(c.kubeconfig, undefined);
});

const FULL = `${HEAD}
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 10
  contentType: application/vnd.kubernetes.protobuf
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 5
clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
configSyncPeriod: 15m0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
featureGates:
  SomeGate: true
healthzBindAddress: 0.0.0.0:10266
hostnameOverride: "Worker-1 "
iptables:
  localhostNodePorts: null
  masqueradeAll: true
  masqueradeBit: 15
  minSyncPeriod: 1s
  syncPeriod: 0s
ipvs:
  excludeCIDRs:
  - 192.168.99.0/24
  minSyncPeriod: 2s
  scheduler: "mh"
  strictARP: true
  syncPeriod: 1m0s
  tcpFinTimeout: 30s
  tcpTimeout: 15m
  udpTimeout: 1m30.9s
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: "ipvs"
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses:
- 10.0.0.0/8
- primary
oomScoreAdj: -999
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
`;

test('a full kubeadm-style ConfigMap file is read, and fields kipvs does not use are accepted', async () => {
  const c = await load(['--config', '/etc/kp/config.conf'], { '/etc/kp/config.conf': FULL });
  assert.equal(c.configFile, '/etc/kp/config.conf');
  assert.equal(c.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
  assert.equal(c.nodeName, 'worker-1');
  assert.deepEqual(c.clusterCIDR, ['10.244.0.0/16', 'fd00:10:244::/56']);
  assert.equal(c.masqueradeAll, true);
  assert.equal(c.masqueradeBit, 15);
  assert.deepEqual(c.nodePortAddresses, ['10.0.0.0/8', 'primary']);
  assert.equal(c.healthzBindAddress, '0.0.0.0:10266');
  assert.equal(c.metricsBindAddress, '127.0.0.1:10249', 'empty in the file means the default');
  assert.deepEqual(c.ipvs, {
    scheduler: 'mh', strictARP: true, syncPeriodMs: 60_000, minSyncPeriodMs: 2000, excludeCIDRs: ['192.168.99.0/24'],
    tcpTimeoutS: 900, tcpFinTimeoutS: 30, udpTimeoutS: 90,
  });
});

test('JSON files work too', async () => {
  const json = JSON.stringify({ apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', ipvs: { scheduler: 'wlc' }, mode: '' });
  const c = await load(['--config=/c.json'], { '/c.json': json });
  assert.equal(c.ipvs.scheduler, 'wlc');
  assert.equal(c.mode, 'ipvs');
});

test('flags override the file', async () => {
  const file = `${HEAD}ipvs:\n  scheduler: lc\n  syncPeriod: 10s\n  strictARP: true\nclusterCIDR: 10.1.0.0/16\niptables:\n  masqueradeAll: true\nhostnameOverride: filenode\n`;
  const c = await load([
    '--config', '/c.yaml', '--ipvs-scheduler=sh', '--ipvs-sync-period', '45s', '--ipvs-strict-arp=false',
    '--cluster-cidr', '10.2.0.0/16,fd00::/64', '--masquerade-all=false', '--hostname-override=FlagNode',
    '--ipvs-min-sync-period=1s', '--ipvs-exclude-cidrs=10.9.0.0/16, 10.8.0.0/16', '--ipvs-tcp-timeout=1h',
    '--ipvs-tcpfin-timeout=2m', '--ipvs-udp-timeout=5s', '--nodeport-addresses=192.168.0.0/16',
    '--healthz-bind-address=127.0.0.1:1', '--metrics-bind-address=', '--kubeconfig', '/k', '--proxy-mode=ipvs',
    '--cleanup', '--v=4', '--manifests', '/m', '--state-socket=/tmp/s.sock', '--graceful-termination-timeout=90s',
  ], { '/c.yaml': file });
  assert.equal(c.ipvs.scheduler, 'sh');
  assert.equal(c.ipvs.syncPeriodMs, 45_000);
  assert.equal(c.ipvs.minSyncPeriodMs, 1000);
  assert.equal(c.ipvs.strictARP, false);
  assert.deepEqual(c.ipvs.excludeCIDRs, ['10.9.0.0/16', '10.8.0.0/16']);
  assert.deepEqual([c.ipvs.tcpTimeoutS, c.ipvs.tcpFinTimeoutS, c.ipvs.udpTimeoutS], [3600, 120, 5]);
  assert.deepEqual(c.clusterCIDR, ['10.2.0.0/16', 'fd00::/64']);
  assert.equal(c.masqueradeAll, false);
  assert.equal(c.nodeName, 'flagnode');
  assert.deepEqual(c.nodePortAddresses, ['192.168.0.0/16']);
  assert.equal(c.healthzBindAddress, '127.0.0.1:1');
  assert.equal(c.metricsBindAddress, '', 'an empty flag disables the server');
  assert.equal(c.kubeconfig, '/k');
  assert.equal(c.cleanup, true);
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.manifests, '/m');
  assert.equal(c.stateSocket, '/tmp/s.sock');
  assert.equal(c.gracefulTerminationTimeoutMs, 90_000);
});

test('server addresses: a bare IP gets the default port; an IPv6 bindAddress makes the defaults IPv6', async () => {
  const c1 = await load(['--healthz-bind-address=10.0.0.1', '--metrics-bind-address=[fd00::0a]:9100']);
  assert.equal(c1.healthzBindAddress, '10.0.0.1:10256');
  assert.equal(c1.metricsBindAddress, '[fd00::a]:9100');
  const c2 = await load(['--config=/c'], { '/c': `${HEAD}bindAddress: "::"\n` });
  assert.equal(c2.healthzBindAddress, '[::1]:10256');
  assert.equal(c2.metricsBindAddress, '[::1]:10249');
});

test('--log-level wins over --v; -h sets help; usage lists every flag', async () => {
  assert.equal((await load(['--v', '2', '--log-level', 'warn'])).logLevel, 'warn');
  assert.equal((await load(['-v=6'])).logLevel, 'trace');
  assert.equal((await load(['-h'])).help, true);
  const u = usage();
  for (const f of ['--config', '--kubeconfig', '--hostname-override', '--proxy-mode', '--ipvs-scheduler', '--ipvs-strict-arp',
    '--ipvs-sync-period', '--ipvs-min-sync-period', '--ipvs-exclude-cidrs', '--ipvs-tcp-timeout', '--ipvs-tcpfin-timeout',
    '--ipvs-udp-timeout', '--nodeport-addresses', '--cluster-cidr', '--masquerade-all', '--healthz-bind-address',
    '--metrics-bind-address', '--cleanup', '--v', '--manifests', '--state-socket', '--graceful-termination-timeout', '--log-level']) {
    assert.match(u, new RegExp(`${f}[ \\n]`), f);
  }
});

// [file body (after the two lines of apiVersion and kind), expected message: file:line:column: field: reason]
const FILE_ERRORS: [string, string | RegExp][] = [
  ['ipvs:\n  scheduler: foo\n', /^kube-proxy\.yaml:4:14: ipvs\.scheduler: unknown scheduler "foo" \(one of rr wrr/],
  ['ipvs:\n  schedular: rr\n', 'kube-proxy.yaml:4:3: ipvs.schedular: unknown field'],
  ['frobnicate: 1\n', 'kube-proxy.yaml:3:1: frobnicate: unknown field'],
  ['conntrack:\n  maxPerCpu: 1\n', 'kube-proxy.yaml:4:3: conntrack.maxPerCpu: unknown field'],
  ['mode: nftables\n', /^kube-proxy\.yaml:3:7: mode: unsupported proxy mode "nftables"/],
  ['ipvs:\n  syncPeriod: 30\n', /^kube-proxy\.yaml:4:15: ipvs\.syncPeriod: 30 is not a duration/],
  ['ipvs:\n  syncPeriod: -1s\n', 'kube-proxy.yaml:4:15: ipvs.syncPeriod: must be greater than 0'],
  ['ipvs:\n  minSyncPeriod: 1m\n  syncPeriod: 30s\n', /^kube-proxy\.yaml:4:18: ipvs\.minSyncPeriod: must not be greater than the sync period/],
  ['ipvs:\n  tcpTimeout: -5s\n', 'kube-proxy.yaml:4:15: ipvs.tcpTimeout: must not be negative'],
  ['ipvs:\n  strictARP: "yes"\n', /^kube-proxy\.yaml:4:14: ipvs\.strictARP: must be true or false/],
  ['ipvs:\n  excludeCIDRs: [10.0.0.0/8, 10.0.0.1]\n', 'kube-proxy.yaml:4:17: ipvs.excludeCIDRs[1]: "10.0.0.1" is not a CIDR'],
  ['ipvs:\n  excludeCIDRs: [10.0.0.0/8, 7]\n', 'kube-proxy.yaml:4:17: ipvs.excludeCIDRs[1]: must be a string, not 7'],
  ['ipvs:\n  excludeCIDRs: 10.0.0.0/8\n', /^kube-proxy\.yaml:4:17: ipvs\.excludeCIDRs: must be a list/],
  ['nodePortAddresses: [all-of-them]\n', /^kube-proxy\.yaml:3:20: nodePortAddresses\[0\]: "all-of-them" is not a CIDR/],
  ['clusterCIDR: 10.0.0.0/8,10.1.0.0/16\n', /^kube-proxy\.yaml:3:14: clusterCIDR: .*two of different IP families/],
  ['clusterCIDR: 10.0.0.0/33\n', 'kube-proxy.yaml:3:14: clusterCIDR: "10.0.0.0/33" is not a CIDR'],
  ['iptables:\n  masqueradeBit: 32\n', 'kube-proxy.yaml:4:18: iptables.masqueradeBit: 32 is not from 0 to 31'],
  ['iptables:\n  masqueradeBit: 1.5\n', /^kube-proxy\.yaml:4:18: iptables\.masqueradeBit: must be an integer/],
  ['healthzBindAddress: "localhost:10256"\n', /^kube-proxy\.yaml:3:21: healthzBindAddress: "localhost:10256" is not an IP address with a port/],
  ['metricsBindAddress: "127.0.0.1:99999"\n', /^kube-proxy\.yaml:3:21: metricsBindAddress: /],
  ['detectLocalMode: Magic\n', /^kube-proxy\.yaml:3:18: detectLocalMode: unknown mode "Magic"/],
  ['detectLocalMode: BridgeInterface\n', 'kube-proxy.yaml:3:18: detectLocal.bridgeInterface: must be set when detectLocalMode is BridgeInterface'],
  ['featureGates:\n  A: maybe\n', /^kube-proxy\.yaml:4:3: featureGates\.A: must be true or false/],
  ['ipvs: [1]\n', /^kube-proxy\.yaml:3:7: ipvs: must be an object/],
  ['bindAddress: nowhere\n', 'kube-proxy.yaml:3:14: bindAddress: "nowhere" is not an IP address'],
  ['conntrack:\n  maxPerCore: -1\n', 'kube-proxy.yaml:4:15: conntrack.maxPerCore: must not be negative'],
  ['conntrack:\n  udpStreamTimeout: 2\n', /^kube-proxy\.yaml:4:21: conntrack\.udpStreamTimeout: 2 is not a duration/],
  ['oomScoreAdj: -1001\n', 'kube-proxy.yaml:3:14: oomScoreAdj: -1001 is not from -1000 to 1000'],
  ['logging:\n  format: xml\n', 'kube-proxy.yaml:4:11: logging.format: unknown log format "xml" (text or json)'],
];

test('bad file fields are ConfigErrors naming the file and the field path', async () => {
  for (const [body, want] of FILE_ERRORS) {
    await assert.rejects(load(['--config', 'kube-proxy.yaml'], { 'kube-proxy.yaml': HEAD + body }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `${body}: ${String(err)}`);
      if (typeof want === 'string') assert.equal(err.message, want, body);
      else assert.match(err.message, want, body);
      return true;
    }, body);
  }
});

test('wrong apiVersion/kind, bad YAML, unreadable file', async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ c: 'apiVersion: v1\nkind: KubeProxyConfiguration\n' }, /^c:1:13: apiVersion: must be "kubeproxy\.config\.k8s\.io\/v1alpha1"/],
    [{ c: 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n' }, /^c:2:7: kind: must be "KubeProxyConfiguration"/],
    [{ c: 'kind: KubeProxyConfiguration\n' }, /^c: apiVersion: /],
    [{ c: 'ipvs: {scheduler: rr\n' }, /^c:2:1: not valid YAML or JSON: /],
    [{ c: 'a: 1\na: 2\n' }, /^c:2:1: not valid YAML or JSON: Map keys must be unique/],
    [{ c: '- a\n- b\n' }, /^c: must hold a KubeProxyConfiguration object/],
    [{}, /^c: cannot read: ENOENT/],
  ];
  for (const [files, want] of cases) {
    await assert.rejects(load(['--config', 'c'], files), (err: unknown) => err instanceof ConfigError && want.test(err.message), String(want));
  }
});

test('iptables mode: its periods from the file, kube-proxy defaults, kipvs flags for restore and backend', async () => {
  const dflt = await load(['--proxy-mode=iptables']);
  assert.equal(dflt.mode, 'iptables');
  assert.deepEqual(dflt.iptables, { syncPeriodMs: 30_000, minSyncPeriodMs: 1_000, sync: 'partial', localhostNodePorts: true });
  const file = `${HEAD}mode: iptables\niptables:\n  syncPeriod: 1m\n  minSyncPeriod: 2s\n`;
  const c = await load(['--config', '/c.yaml', '--iptables-sync=full', '--iptables-backend', 'legacy'], { '/c.yaml': file });
  assert.equal(c.mode, 'iptables');
  assert.deepEqual(c.iptables, { syncPeriodMs: 60_000, minSyncPeriodMs: 2_000, sync: 'full', backend: 'legacy', localhostNodePorts: true });
  await assert.rejects(load(['--config', '/c.yaml'], { '/c.yaml': `${HEAD}iptables:\n  minSyncPeriod: 5m\n` }), /c\.yaml:4:18: iptables\.minSyncPeriod: must not be greater than the sync period/);
});

test('--v8-heap: bounded unless told size or v8', async () => {
  assert.equal((await load([])).v8Heap, 'bounded');
  assert.equal((await load(['--v8-heap', 'size'])).v8Heap, 'size');
  assert.equal((await load(['--v8-heap=v8'])).v8Heap, 'v8');
  assert.equal((await load(['--v8-heap=bounded'])).v8Heap, 'bounded');
});

test('--vip-binding: address unless told local-route', async () => {
  assert.equal((await load([])).vipBinding, 'address');
  assert.equal((await load(['--vip-binding', 'local-route'])).vipBinding, 'local-route');
  assert.equal((await load(['--vip-binding=address'])).vipBinding, 'address');
});

test('bad flags are ConfigErrors naming the flag', async () => {
  const cases: [string[], RegExp][] = [
    [['--ipvs-scheduler=foo'], /^--ipvs-scheduler: unknown scheduler "foo"/],
    [['--ipvs-sync-period=soon'], /^--ipvs-sync-period: "soon" is not a duration/],
    [['--ipvs-sync-period=0s'], /^--ipvs-sync-period: must be greater than 0/],
    [['--ipvs-strict-arp=maybe'], /^--ipvs-strict-arp: "maybe" is not true or false/],
    [['--nodeport-addresses=10.0.0.0/8,bogus'], /^--nodeport-addresses: "bogus" is not a CIDR/],
    [['--proxy-mode', 'userspace'], /^--proxy-mode: unsupported proxy mode "userspace"/],
    [['--no-such-flag'], /^--no-such-flag: unknown flag/],
    [['--config'], /^--config: needs a value/],
    [['stray'], /^command line: unexpected argument "stray"/],
    [['--v=x'], /^--v: "x" is not an integer/],
    [['--log-level=loud'], /^--log-level: unknown level "loud"/],
    [['--graceful-termination-timeout=-1s'], /^--graceful-termination-timeout: must not be negative/],
    [['--healthz-bind-address=:10256'], /^--healthz-bind-address: ":10256" is not an IP address with a port/],
    [['--iptables-masquerade-bit=40'], /^--iptables-masquerade-bit: 40 is not from 0 to 31/],
    [['--iptables-sync=sometimes'], /^--iptables-sync: "sometimes" is not partial or full/],
    [['--iptables-backend=ebpf'], /^--iptables-backend: "ebpf" is not legacy or nft/],
    [['--v8-heap=small'], /^--v8-heap: "small" is not bounded, size or v8/],
    [['--vip-binding=route'], /^--vip-binding: "route" is not address or local-route/],
    [['--iptables-min-sync-period=1m', '--iptables-sync-period=30s'], /^--iptables-min-sync-period: must not be greater than the sync period/],
  ];
  for (const [argv, want] of cases) {
    await assert.rejects(load(argv), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, want);
      return true;
    }, argv.join(' '));
  }
});
