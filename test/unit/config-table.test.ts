// Configuration honesty: every KubeProxyConfiguration field and every kube-proxy flag is in the settings
// table (the lists below were read from kube-proxy's sources: facts, kept as fixtures), the docs are the
// table, and each class behaves as it says: honoured values are used, "warns" values are accepted with
// a warning naming the source, refused values are errors, and all errors of a file come at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '#client-node';
import { loadConfig, ConfigError, ConfigErrors, SETTINGS, configurationDoc } from '../../src/config/index.js';
import type { AgentConfig } from '../../src/config/index.js';
import { withServer } from '../../src/cli/agent.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

/** kube-proxy's v1alpha1 KubeProxyConfiguration (staging/src/k8s.io/kube-proxy/config/v1alpha1/types.go), with component-base's ClientConnectionConfiguration and LoggingConfiguration. */
const KUBE_PROXY_FIELDS = [
  'apiVersion', 'kind', 'featureGates',
  'clientConnection.kubeconfig', 'clientConnection.acceptContentTypes', 'clientConnection.contentType', 'clientConnection.qps', 'clientConnection.burst',
  'logging.format', 'logging.flushFrequency', 'logging.verbosity', 'logging.vmodule',
  'logging.options.text.splitStream', 'logging.options.text.infoBufferSize', 'logging.options.json.splitStream', 'logging.options.json.infoBufferSize',
  'hostnameOverride', 'bindAddress', 'healthzBindAddress', 'metricsBindAddress', 'bindAddressHardFail', 'enableProfiling', 'showHiddenMetricsForVersion',
  'mode',
  'iptables.masqueradeBit', 'iptables.masqueradeAll', 'iptables.localhostNodePorts', 'iptables.snatNodeInternalIP', 'iptables.syncPeriod', 'iptables.minSyncPeriod',
  'ipvs.syncPeriod', 'ipvs.minSyncPeriod', 'ipvs.scheduler', 'ipvs.excludeCIDRs', 'ipvs.strictARP', 'ipvs.tcpTimeout', 'ipvs.tcpFinTimeout', 'ipvs.udpTimeout',
  'nftables.masqueradeBit', 'nftables.masqueradeAll', 'nftables.syncPeriod', 'nftables.minSyncPeriod',
  'winkernel.networkName', 'winkernel.sourceVip', 'winkernel.enableDSR', 'winkernel.rootHnsEndpointName', 'winkernel.forwardHealthCheckVip',
  'detectLocalMode', 'detectLocal.bridgeInterface', 'detectLocal.interfaceNamePrefix', 'clusterCIDR', 'nodePortAddresses', 'oomScoreAdj',
  'conntrack.maxPerCore', 'conntrack.min', 'conntrack.tcpEstablishedTimeout', 'conntrack.tcpCloseWaitTimeout', 'conntrack.tcpBeLiberal',
  'conntrack.udpTimeout', 'conntrack.udpStreamTimeout',
  'configSyncPeriod', 'portRange', 'windowsRunAsService',
];

/**
 * Flags kube-proxy registers: cmd/kube-proxy/app/options.go (AddFlags), options/osflags_windows.go,
 * component-base's logsapi.AddFlags, cobra's --help, verflag's --version, and the Go flag set it adds
 * (--boot-id-file, --machine-id-file and klog's flags, as its reference page lists them).
 */
const KUBE_PROXY_FLAGS = [
  'config', 'write-config-to', 'cleanup', 'feature-gates', 'kubeconfig', 'master', 'kube-api-content-type', 'kube-api-burst', 'kube-api-qps',
  'hostname-override', 'bind-address', 'healthz-bind-address', 'metrics-bind-address', 'bind-address-hard-fail', 'profiling',
  'show-hidden-metrics-for-version', 'init-only', 'proxy-mode', 'iptables-masquerade-bit', 'masquerade-all', 'iptables-localhost-nodeports',
  'iptables-sync-period', 'iptables-min-sync-period', 'ipvs-sync-period', 'ipvs-min-sync-period', 'ipvs-scheduler', 'ipvs-exclude-cidrs',
  'ipvs-strict-arp', 'ipvs-tcp-timeout', 'ipvs-tcpfin-timeout', 'ipvs-udp-timeout', 'detect-local-mode', 'pod-bridge-interface',
  'pod-interface-name-prefix', 'cluster-cidr', 'nodeport-addresses', 'oom-score-adj', 'conntrack-max-per-core', 'conntrack-min',
  'conntrack-tcp-timeout-established', 'conntrack-tcp-timeout-close-wait', 'conntrack-tcp-be-liberal', 'conntrack-udp-timeout',
  'conntrack-udp-timeout-stream', 'config-sync-period', 'healthz-port', 'metrics-port',
  'windows-service', 'source-vip', 'network-name', 'enable-dsr', 'root-hnsendpoint-name', 'forward-healthcheck-vip',
  'logging-format', 'log-flush-frequency', 'v', 'vmodule', 'log-json-split-stream', 'log-json-info-buffer-size', 'log-text-split-stream', 'log-text-info-buffer-size',
  'help', 'version', 'boot-id-file', 'machine-id-file',
  'add-dir-header', 'alsologtostderr', 'log-backtrace-at', 'log-dir', 'log-file', 'log-file-max-size', 'logtostderr', 'one-output',
  'skip-headers', 'skip-log-headers', 'stderrthreshold',
];

function load(argv: string[], files: Record<string, string> = {}): Promise<AgentConfig> {
  return loadConfig(argv, {
    readFile: async (p) => {
      if (!(p in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return files[p]!;
    },
    hostname: () => 'node-a',
  });
}

test('every field of kube-proxy\'s KubeProxyConfiguration and every flag it registers is in the table, once', () => {
  const fields = SETTINGS.flatMap((s) => (s.field ? [s.field] : []));
  const flags = SETTINGS.flatMap((s) => (s.flag ? [s.flag] : []));
  assert.deepEqual(KUBE_PROXY_FIELDS.filter((f) => !fields.includes(f)), [], 'fields missing from the table');
  assert.deepEqual(KUBE_PROXY_FLAGS.filter((f) => !flags.includes(f)), [], 'flags missing from the table');
  assert.equal(new Set(fields).size, fields.length, 'a field twice');
  assert.equal(new Set(flags).size, flags.length, 'a flag twice');
  // Rows that are neither kube-proxy's nor marked as removed or kipvs' own would be inventions.
  const extra = SETTINGS.filter((s) => s.status !== 'kipvs' && !s.removed && !(s.field && KUBE_PROXY_FIELDS.includes(s.field)) && !(s.flag && KUBE_PROXY_FLAGS.includes(s.flag)));
  assert.deepEqual(extra, []);
  for (const s of SETTINGS) assert.ok(s.note.length > 10, `${s.field ?? s.flag}: a note says why`);
});

test('docs/configuration.md is the table (regenerate with node dist/scripts/config-docs.js)', () => {
  const doc = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8');
  assert.equal(doc, configurationDoc());
  const rows = doc.split('\n').filter((l) => l.startsWith('| `') || l.startsWith('|  | `'));
  assert.equal(rows.length, SETTINGS.length, 'one table row per setting');
  for (const f of KUBE_PROXY_FIELDS) assert.ok(doc.includes(`| \`${f}\``), f);
  for (const f of KUBE_PROXY_FLAGS) assert.ok(doc.includes(`\`--${f}\``), f);
  assert.match(doc, /deletes only what it owns/);
  assert.match(doc, /Graceful termination is bounded/);
});

test('honoured: conntrack, oomScoreAdj, localhostNodePorts from the file, flags over them; kube-proxy\'s defaults', async () => {
  const dflt = await load([]);
  assert.deepEqual(dflt.conntrack, { maxPerCore: 32768, min: 131072, tcpEstablishedTimeoutS: 86400, tcpCloseWaitTimeoutS: 3600, tcpBeLiberal: false, udpTimeoutS: 0, udpStreamTimeoutS: 0 });
  assert.equal(dflt.oomScoreAdj, -999);
  assert.equal(dflt.iptables.localhostNodePorts, true);
  assert.deepEqual(dflt.warnings, []);
  const file = `${HEAD}conntrack:\n  maxPerCore: 0\n  min: 5\n  tcpEstablishedTimeout: 2h\n  tcpCloseWaitTimeout: 0s\n  tcpBeLiberal: true\n  udpTimeout: 30s\n  udpStreamTimeout: 2m\noomScoreAdj: 10\niptables:\n  localhostNodePorts: false\n`;
  const c = await load(['--config', 'f', '--conntrack-min=7', '--conntrack-udp-timeout-stream', '3m', '--oom-score-adj=-5'], { f: file });
  assert.deepEqual(c.conntrack, { maxPerCore: 0, min: 7, tcpEstablishedTimeoutS: 7200, tcpCloseWaitTimeoutS: 0, tcpBeLiberal: true, udpTimeoutS: 30, udpStreamTimeoutS: 180 });
  assert.equal(c.oomScoreAdj, -5);
  assert.equal(c.iptables.localhostNodePorts, false);
  assert.deepEqual(c.warnings, []);
  const f2 = await load(['--detect-local-mode=InterfaceNamePrefix', '--pod-interface-name-prefix', 'veth', '--pod-bridge-interface=cbr0']);
  assert.equal(f2.detectLocalMode, 'InterfaceNamePrefix');
  assert.deepEqual(f2.detectLocal, { bridgeInterface: 'cbr0', interfaceNamePrefix: 'veth' });
  const ports = await load(['--healthz-port=0', '--metrics-port', '9999', '--master', 'https://10.0.0.1:6443', '--version']);
  assert.equal(ports.healthzBindAddress, '', 'port 0 disables');
  assert.equal(ports.metricsBindAddress, '127.0.0.1:9999');
  assert.equal(ports.master, 'https://10.0.0.1:6443');
  assert.equal(ports.version, true);
});

test('warns: accepted, each with its source and why; kubeadm\'s defaults warn only of bindAddressHardFail: false', async () => {
  const kubeadm = `${HEAD}featureGates: {}\nclientConnection:\n  acceptContentTypes: ""\n  contentType: application/vnd.kubernetes.protobuf\n  qps: 5\n  burst: 10\n`
    + 'configSyncPeriod: 15m0s\nenableProfiling: false\nshowHiddenMetricsForVersion: ""\nbindAddressHardFail: false\nportRange: ""\n'
    + 'logging:\n  flushFrequency: 0\n  options:\n    json:\n      infoBufferSize: "0"\n  verbosity: 0\n'
    + 'nftables:\n  masqueradeAll: false\n  masqueradeBit: null\n  minSyncPeriod: 0s\n  syncPeriod: 0s\n'
    + 'winkernel:\n  enableDSR: false\n  forwardHealthCheckVip: false\n  networkName: ""\n  rootHnsEndpointName: ""\n  sourceVip: ""\nwindowsRunAsService: false\n';
  // kipvs always stops when it cannot bind: kube-proxy's default (false: carry on) is the one it cannot honour.
  assert.deepEqual((await load(['--config', 'k'], { k: kubeadm })).warnings.map((w) => `${w.source}: ${w.field}: ${w.message}`), [
    'k:12:22: bindAddressHardFail: false has no effect in kipvs: kipvs always stops when it cannot bind its health or metrics server (as with true)',
  ]);
  assert.deepEqual((await load(['--config', 'k'], { k: kubeadm.replace('bindAddressHardFail: false', 'bindAddressHardFail: true') })).warnings, []);

  const file = `${HEAD}clientConnection:\n  qps: 50\nconfigSyncPeriod: 1m\nnftables:\n  syncPeriod: 10s\nudpIdleTimeout: 250ms\nconntrack:\n  max: 100\n`;
  const c = await load(['--config', 'w.yaml', '--feature-gates=A=true,B=false', '--profiling', '--log_dir=/var/log', '-v4', '--logging-format=text', '--kube-api-burst', '100'], { 'w.yaml': file });
  const got = c.warnings.map((w) => `${w.source}: ${w.field ? `${w.field}: ` : ''}${w.message}`);
  assert.deepEqual(got.map((g) => g.replace(/: has no effect.*$|has no effect in kipvs: .*$/, '')), [
    '--feature-gates: {"A":true,"B":false} ',
    'w.yaml:4:8: clientConnection.qps: 50 ',
    '--kube-api-burst: 100 ',
    'w.yaml:5:19: configSyncPeriod: "1m" ',
    '--profiling: true ',
    'w.yaml:7:15: nftables.syncPeriod: "10s" ',
    'w.yaml:10:8: conntrack.max: 100 ',
    'w.yaml:8:17: udpIdleTimeout: "250ms" ',
    '--log-dir: "/var/log" ',
  ]);
  assert.match(got[0]!, /has no effect in kipvs: kipvs has no feature gates/);
  assert.match(got[1]!, /has no effect in kipvs: kipvs' API client has no client-side rate limiter/);
  assert.equal(c.logLevel, 'debug', '-v4 is honoured');
  assert.equal(c.logFormat, 'text', '--logging-format is honoured');
});

test('refused: Windows settings, snatNodeInternalIP, --init-only, --write-config-to; with the reason', async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--config', 'c'], { c: `${HEAD}winkernel:\n  networkName: l2bridge\n` }, /^c:4:16: winkernel\.networkName: "l2bridge" is not supported by kipvs: Windows \(kernelspace mode\) only/],
    [['--config', 'c'], { c: `${HEAD}iptables:\n  snatNodeInternalIP: true\n` }, /^c:4:23: iptables\.snatNodeInternalIP: true is not supported by kipvs: kipvs does not SNAT/],
    [['--init-only'], {}, /^--init-only: true is not supported by kipvs: kipvs sets its kernel parameters when it starts/],
    [['--write-config-to=/tmp/x'], {}, /^--write-config-to: "\/tmp\/x" is not supported by kipvs: kipvs does not write configuration files/],
    [['--windows-service'], {}, /^--windows-service: true is not supported by kipvs/],
  ];
  for (const [argv, files, want] of cases) {
    await assert.rejects(load(argv, files), (err: unknown) => err instanceof ConfigError && want.test(err.message), String(want));
  }
  const ok = await load(['--init-only=false', '--write-config-to=']);
  assert.deepEqual(ok.warnings, [], 'a neutral value of a refused flag asks for nothing');
});

test('all errors of a file, and of the flags, at once: each with its line and column', async () => {
  const file = `${HEAD}ipvs:\n  scheduler: nope\n  syncPeriod: soon\nbogus: 1\nconntrack:\n  min: -1\nwinkernel:\n  enableDSR: true\n`;
  await assert.rejects(load(['--config', 'k.yaml', '--masquerade-all=maybe', '--no-such'], { 'k.yaml': file }), (err: unknown) => {
    assert.ok(err instanceof ConfigErrors, String(err));
    assert.deepEqual(err.errors.map((e) => e.message), [
      '--no-such: unknown flag (see --help)',
      'k.yaml:5:15: ipvs.syncPeriod: "soon" is not a duration (e.g. "30s", "1m0s", "500ms")',
      'k.yaml:6:1: bogus: unknown field',
      '--masquerade-all: "maybe" is not true or false',
      'k.yaml:10:14: winkernel.enableDSR: true is not supported by kipvs: Windows (kernelspace mode) only; kipvs runs on Linux',
      'k.yaml:4:14: ipvs.scheduler: unknown scheduler "nope" (one of rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos)',
      'k.yaml:8:8: conntrack.min: must not be negative',
    ]);
    assert.equal(err.message.split('\n').length, 7);
    return true;
  });
});

test('--master replaces the kubeconfig\'s server, or stands alone without one', () => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://old:6443', skipTLSVerify: false }], users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  withServer(kc, 'https://new:6443');
  assert.equal(kc.getCurrentCluster()?.server, 'https://new:6443');
  assert.equal(kc.getCurrentUser()?.token, 't', 'the credentials stay');
  const bare = new KubeConfig();
  withServer(bare, 'http://127.0.0.1:8080');
  assert.equal(bare.getCurrentCluster()?.server, 'http://127.0.0.1:8080');
});
