// The agent's pure decisions: which IP families a node programs (and the host probe on a fake /proc),
// the no-local-endpoints counts on a real model, the trigger-time annotation, and the metrics text
// with kube-proxy's ip_family labels and buckets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { decideFamilies, primaryFamily, probeFamilySupport } from '../../src/agent/families.js';
import { lastChangeTriggerTime, noLocalEndpointCounts, sliceFamily } from '../../src/agent/sync-metrics.js';
import { agentMetrics, programmingBuckets } from '../../src/agent/metrics.js';
import { ProxyModel } from '../../src/model/model.js';

const yes = { supported: true };
const no = (reason: string) => ({ supported: false, reason });

test('primary family: bindAddress unless unspecified, else the Node\'s first address, else IPv4', () => {
  assert.deepEqual(primaryFamily('fd00::5', ['10.0.0.5']), { family: 'inet6', from: 'bindAddress' });
  assert.deepEqual(primaryFamily('0.0.0.0', ['fd00::5', '10.0.0.5']), { family: 'inet6', from: 'node' });
  assert.deepEqual(primaryFamily('::', ['10.0.0.5']), { family: 'inet', from: 'node' });
  assert.deepEqual(primaryFamily('0:0::0', []), { family: 'inet', from: 'default' }, 'any spelling of ::');
  assert.deepEqual(primaryFamily('', []), { family: 'inet', from: 'default' });
});

test('families: dual-stack when both are supported, single-stack otherwise; a primary family without support is a problem', () => {
  assert.deepEqual(decideFamilies({ inet: yes, inet6: yes }, { family: 'inet6', from: 'node' }), { families: ['inet', 'inet6'], skipped: [] });
  const v4 = decideFamilies({ inet: yes, inet6: no('IPv6 is disabled') }, { family: 'inet', from: 'default' });
  assert.deepEqual(v4, { families: ['inet'], skipped: [{ family: 'inet6', reason: 'IPv6 is disabled' }] });
  const bad = decideFamilies({ inet: yes, inet6: no('ip6tables does not work') }, { family: 'inet6', from: 'bindAddress' });
  assert.deepEqual(bad.families, ['inet']);
  assert.equal(bad.problem, 'the primary IP family IPv6 (from bindAddress) is not supported on this node: ip6tables does not work');
  const v6 = decideFamilies({ inet: no('iptables does not work: x'), inet6: yes }, { family: 'inet6', from: 'node' });
  assert.deepEqual([v6.families, v6.problem], [['inet6'], undefined]);
  assert.throws(() => decideFamilies({ inet: no('a'), inet6: no('b') }, { family: 'inet', from: 'default' }), /no IP family can be programmed on this node: IPv4: a; IPv6: b/);
});

test('probe: IPv6 needs /proc/net/if_inet6, disable_ipv6 not set and ip6tables working; IPv4 needs iptables', () => {
  const proc = mkdtempSync(`${tmpdir()}/kipvs-proc-`);
  try {
    mkdirSync(`${proc}/net`);
    mkdirSync(`${proc}/sys/net/ipv6/conf/all`, { recursive: true });
    const calls: string[] = [];
    const works = (cmd: string, args: string[]) => { calls.push(`${cmd} ${args.join(' ')}`); return ''; };
    assert.deepEqual(probeFamilySupport({ iptables: true, proc, run: works }).inet6, no('the kernel has no IPv6 (no /proc/net/if_inet6)'));
    writeFileSync(`${proc}/net/if_inet6`, '');
    writeFileSync(`${proc}/sys/net/ipv6/conf/all/disable_ipv6`, '1\n');
    assert.deepEqual(probeFamilySupport({ iptables: true, proc, run: works }).inet6, no('IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)'));
    writeFileSync(`${proc}/sys/net/ipv6/conf/all/disable_ipv6`, '0\n');
    calls.length = 0;
    assert.deepEqual(probeFamilySupport({ iptables: true, proc, run: works }), { inet: yes, inet6: yes });
    assert.deepEqual(calls.sort(), ['ip6tables -w -t nat -S POSTROUTING', 'iptables -w -t nat -S POSTROUTING']);
    const noIp6 = (cmd: string) => {
      if (cmd === 'ip6tables') throw new Error("ip6tables v1.8.9 (legacy): can't initialize ip6tables table `nat': Table does not exist\nPerhaps ...");
      return '';
    };
    assert.deepEqual(probeFamilySupport({ iptables: true, proc, run: noIp6 }).inet6,
      no("ip6tables does not work: ip6tables v1.8.9 (legacy): can't initialize ip6tables table `nat': Table does not exist"));
    assert.deepEqual(probeFamilySupport({ iptables: false, proc, run: noIp6 }).inet6, yes, 'without rules, ip6tables does not matter');
  } finally {
    rmSync(proc, { recursive: true, force: true });
  }
});

const svc = (name: string, spec: Record<string, unknown>) => ({ metadata: { namespace: 'default', name }, spec });
const slice = (name: string, service: string, addressType: string, eps: { ip: string; node: string }[]) => ({
  metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': service } },
  addressType,
  ports: [{ name: '', port: 8080, protocol: 'TCP' }],
  endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: true }, nodeName: e.node })),
});

function localPolicyModel(backend: 'ipvs' | 'iptables'): ProxyModel {
  const m = new ProxyModel({ scheduler: '', nodeName: 'node-a', families: ['inet', 'inet6'], backend });
  m.setNodeAddresses(['192.168.1.10', 'fd00::10'], ['192.168.1.10', 'fd00::10']);
  const dual = { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' };
  // External Local, endpoints only on another node (both families); internal Local with a local IPv4 endpoint only.
  m.upsertService(svc('ext', { type: 'NodePort', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1', 'fd00:96::1'], ...dual, externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ port: 80, nodePort: 30080 }] }));
  m.upsertEndpointSlice(slice('ext-4', 'ext', 'IPv4', [{ ip: '10.1.0.1', node: 'node-b' }]));
  m.upsertEndpointSlice(slice('ext-6', 'ext', 'IPv6', [{ ip: 'fd00:1::1', node: 'node-b' }]));
  m.upsertService(svc('int', { clusterIP: '10.96.0.2', clusterIPs: ['10.96.0.2', 'fd00:96::2'], ...dual, internalTrafficPolicy: 'Local', ports: [{ port: 80 }] }));
  m.upsertEndpointSlice(slice('int-4', 'int', 'IPv4', [{ ip: '10.1.0.2', node: 'node-a' }]));
  m.upsertEndpointSlice(slice('int-6', 'int', 'IPv6', [{ ip: 'fd00:1::2', node: 'node-b' }]));
  // Cluster policies: never counted.
  m.upsertService(svc('plain', { clusterIP: '10.96.0.3', ports: [{ port: 80 }] }));
  m.commit();
  return m;
}

test('no local endpoints: per family and policy, the same in both backends\' models', () => {
  for (const backend of ['ipvs', 'iptables'] as const) {
    const counts = noLocalEndpointCounts(localPolicyModel(backend).services());
    assert.deepEqual(counts, { inet: { internal: 0, external: 1 }, inet6: { internal: 1, external: 1 } }, backend);
  }
});

test('last-change-trigger-time annotation and slice families', () => {
  assert.equal(lastChangeTriggerTime({ 'endpoints.kubernetes.io/last-change-trigger-time': '2026-12-02T20:00:00Z' }), Date.parse('2026-12-02T20:00:00Z'));
  assert.equal(lastChangeTriggerTime({ 'endpoints.kubernetes.io/last-change-trigger-time': 'yesterday' }), undefined);
  assert.equal(lastChangeTriggerTime({}), undefined);
  assert.equal(lastChangeTriggerTime(undefined), undefined);
  assert.deepEqual([sliceFamily('IPv4'), sliceFamily('IPv6'), sliceFamily('FQDN')], ['inet', 'inet6', undefined]);
});

test('metrics: ip_family labels, kube-proxy\'s programming buckets, healthz/livez codes', () => {
  const b = programmingBuckets();
  assert.equal(b.length, 2 + 59 + 12 + 7);
  assert.deepEqual([b[0], b[1], b[2], b[60], b[61], b[72], b[73], b.at(-1)], [0.25, 0.5, 1, 59, 60, 115, 120, 300]);
  const m = agentMetrics();
  m.programming.observe(1.2, { ip_family: 'IPv6' });
  m.noLocalEndpoints.set(3, { ip_family: 'IPv4', traffic_policy: 'external' });
  m.lastSync.set(1700000000, { ip_family: 'IPv4' });
  m.healthzTotal.inc({ code: '503' });
  m.livezTotal.inc({ code: '200' });
  const text = m.registry.render();
  assert.match(text, /kubeproxy_network_programming_duration_seconds_bucket\{ip_family="IPv6",le="1"\} 0\n/);
  assert.match(text, /kubeproxy_network_programming_duration_seconds_bucket\{ip_family="IPv6",le="2"\} 1\n/);
  assert.match(text, /kubeproxy_network_programming_duration_seconds_count\{ip_family="IPv6"\} 1\n/);
  assert.match(text, /kubeproxy_sync_proxy_rules_no_local_endpoints_total\{ip_family="IPv4",traffic_policy="external"\} 3\n/);
  assert.match(text, /kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} 1700000000\n/);
  assert.match(text, /kubeproxy_proxy_healthz_total\{code="503"\} 1\n/);
  assert.match(text, /kubeproxy_proxy_livez_total\{code="200"\} 1\n/);
});
