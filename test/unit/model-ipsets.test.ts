import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service, V1EndpointSlice } from '@kubernetes/client-node';
import { computeService, ProxyModel } from '../../src/model/index.js';
import type { ModelContext } from '../../src/model/index.js';
import { serviceIpsetEntries, splitEntryKey, lbClosedToNode, affectsNodeFirewall } from '../../src/model/ipsets.js';

function svc(name: string, spec: NonNullable<V1Service['spec']>, lb?: string[]): V1Service {
  const s: V1Service = { metadata: { namespace: 'default', name }, spec };
  if (lb) s.status = { loadBalancer: { ingress: lb.map((ip) => ({ ip })) } };
  return s;
}
function slice(name: string, service: string, addressType: string, port: number, protocol: string, eps: { ip: string; node: string; ready?: boolean; serving?: boolean }[]): V1EndpointSlice {
  return {
    metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': service } }, addressType,
    ports: [{ name: 'p', port, protocol }],
    endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: false } })),
  } as V1EndpointSlice;
}
const ctx: ModelContext = {
  config: { scheduler: '', nodeName: 'node-a', families: ['inet', 'inet6'] },
  nodePortAddresses: ['192.168.1.10', 'fd00:1::10'],
  localAddresses: new Set(['192.168.1.10', 'fd00:1::10']),
};
const entries = (s: V1Service, slices: V1EndpointSlice[]) => [...serviceIpsetEntries(computeService(s, slices, ctx))].sort();
const EPS = [{ ip: '10.244.1.2', node: 'node-a' }, { ip: '10.244.2.2', node: 'node-b' }, { ip: '10.244.1.3', node: 'node-a', ready: false, serving: false }];

test('ClusterIP: the VIP:port in KUBE-CLUSTER-IP, the VIP in KUBE-IPVS-IPS, every local endpoint (any readiness) in KUBE-LOOP-BACK', () => {
  const s = svc('web', { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'p', port: 80, protocol: 'TCP', targetPort: 8080 as never }] });
  assert.deepEqual(entries(s, [slice('web-1', 'web', 'IPv4', 8080, 'TCP', EPS)]), [
    'inet|KUBE-CLUSTER-IP|10.96.0.10,tcp:80',
    'inet|KUBE-IPVS-IPS|10.96.0.10',
    'inet|KUBE-LOOP-BACK|10.244.1.2,tcp:8080,10.244.1.2',
    'inet|KUBE-LOOP-BACK|10.244.1.3,tcp:8080,10.244.1.3',
  ]);
});

test('NodePort, externalIP and LoadBalancer, Cluster and Local policy; UDP and SCTP node ports; health check node port', () => {
  const spec = (policy: string, protocol: string) => ({
    type: 'LoadBalancer', clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'], externalIPs: ['198.51.100.1'], externalTrafficPolicy: policy,
    ...(policy === 'Local' ? { healthCheckNodePort: 32000 } : {}),
    ports: [{ name: 'p', port: 80, protocol, nodePort: 30080, targetPort: 8080 as never }],
  });
  const cluster = entries(svc('lb', spec('Cluster', 'TCP'), ['203.0.113.9']), [slice('lb-1', 'lb', 'IPv4', 8080, 'TCP', EPS.slice(0, 2))]);
  assert.deepEqual(cluster.filter((e) => !/LOOP-BACK|IPVS-IPS/.test(e)), [
    'inet|KUBE-CLUSTER-IP|10.96.0.11,tcp:80',
    'inet|KUBE-EXTERNAL-IP|198.51.100.1,tcp:80',
    'inet|KUBE-LOAD-BALANCER|203.0.113.9,tcp:80',
    'inet|KUBE-NODE-PORT-TCP|30080',
  ]);
  assert.deepEqual(cluster.filter((e) => /IPVS-IPS/.test(e)), ['inet|KUBE-IPVS-IPS|10.96.0.11', 'inet|KUBE-IPVS-IPS|198.51.100.1', 'inet|KUBE-IPVS-IPS|203.0.113.9']);
  const local = entries(svc('lb', spec('Local', 'UDP'), ['203.0.113.9']), [slice('lb-1', 'lb', 'IPv4', 8080, 'UDP', EPS.slice(0, 2))]);
  assert.deepEqual(local.filter((e) => !/LOOP-BACK|IPVS-IPS/.test(e)), [
    'inet|KUBE-CLUSTER-IP|10.96.0.11,udp:80',
    'inet|KUBE-EXTERNAL-IP-LOCAL|198.51.100.1,udp:80',
    'inet|KUBE-HEALTH-CHECK-NODE-PORT|32000',
    'inet|KUBE-LOAD-BALANCER-LOCAL|203.0.113.9,udp:80',
    'inet|KUBE-LOAD-BALANCER|203.0.113.9,udp:80',
    'inet|KUBE-NODE-PORT-LOCAL-UDP|30080',
    'inet|KUBE-NODE-PORT-UDP|30080',
  ]);
  const sctp = entries(svc('s', { type: 'NodePort', clusterIP: '10.96.0.12', clusterIPs: ['10.96.0.12'], ports: [{ name: 'p', port: 80, protocol: 'SCTP', nodePort: 30081 }] }), []);
  assert.deepEqual(sctp.filter((e) => /NODE-PORT/.test(e)), ['inet|KUBE-NODE-PORT-SCTP-HASH|192.168.1.10,sctp:30081']);
});

test('IPv6 entries use the inet6 sets with the same text forms', () => {
  const s = svc('v6', { type: 'NodePort', clusterIP: 'fd00::a', clusterIPs: ['fd00::a'], ipFamilies: ['IPv6'], ports: [{ name: 'p', port: 53, protocol: 'UDP', nodePort: 30053 }] });
  const e = entries(s, [slice('v6-1', 'v6', 'IPv6', 5353, 'UDP', [{ ip: 'fd00:244::2', node: 'node-a' }])]);
  assert.deepEqual(e, [
    'inet6|KUBE-CLUSTER-IP|fd00::a,udp:53',
    'inet6|KUBE-IPVS-IPS|fd00::a',
    'inet6|KUBE-LOOP-BACK|fd00:244::2,udp:5353,fd00:244::2',
    'inet6|KUBE-NODE-PORT-UDP|30053',
  ]);
  assert.deepEqual(splitEntryKey(e[2]!), { family: 'inet6', role: 'KUBE-LOOP-BACK', entry: 'fd00:244::2,udp:5353,fd00:244::2' });
});

test('the model reports entries added and removed per commit, counting entries two Services share', () => {
  const m = new ProxyModel({ scheduler: '', nodeName: 'node-a', families: ['inet'] });
  const a = svc('a', { type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ports: [{ name: 'p', port: 80, protocol: 'TCP' }] });
  const b = svc('b', { type: 'ClusterIP', clusterIP: '10.96.0.2', clusterIPs: ['10.96.0.2'], ports: [{ name: 'p', port: 80, protocol: 'TCP' }] });
  const shared = [{ ip: '10.244.1.2', node: 'node-a' }];
  m.upsertService(a); m.upsertEndpointSlice(slice('a-1', 'a', 'IPv4', 8080, 'TCP', shared));
  m.upsertService(b); m.upsertEndpointSlice(slice('b-1', 'b', 'IPv4', 8080, 'TCP', shared));
  let c = m.commit();
  assert.deepEqual(c.ipsetAdded.sort(), [
    'inet|KUBE-CLUSTER-IP|10.96.0.1,tcp:80', 'inet|KUBE-CLUSTER-IP|10.96.0.2,tcp:80',
    'inet|KUBE-IPVS-IPS|10.96.0.1', 'inet|KUBE-IPVS-IPS|10.96.0.2', 'inet|KUBE-LOOP-BACK|10.244.1.2,tcp:8080,10.244.1.2',
  ]);
  m.deleteService('default', 'a');
  c = m.commit();
  assert.deepEqual(c.ipsetRemoved.sort(), ['inet|KUBE-CLUSTER-IP|10.96.0.1,tcp:80', 'inet|KUBE-IPVS-IPS|10.96.0.1'], 'the shared loop-back entry stays: b still has it');
  assert.deepEqual(c.ipsetAdded, []);
  m.upsertEndpointSlice(slice('b-1', 'b', 'IPv4', 8080, 'TCP', [{ ip: '10.244.1.3', node: 'node-a' }]));
  c = m.commit();
  assert.deepEqual(c.ipsetRemoved, ['inet|KUBE-LOOP-BACK|10.244.1.2,tcp:8080,10.244.1.2']);
  assert.deepEqual(c.ipsetAdded, ['inet|KUBE-LOOP-BACK|10.244.1.3,tcp:8080,10.244.1.3']);
  assert.deepEqual([...m.ipsetEntries()].sort(), ['inet|KUBE-CLUSTER-IP|10.96.0.2,tcp:80', 'inet|KUBE-IPVS-IPS|10.96.0.2', 'inet|KUBE-LOOP-BACK|10.244.1.3,tcp:8080,10.244.1.3']);
  // Which sets hold entries (no rule matches an empty set): per family, following every commit.
  assert.deepEqual([...m.nonEmptyIpsets('inet')].sort(), ['KUBE-CLUSTER-IP', 'KUBE-IPVS-IPS', 'KUBE-LOOP-BACK']);
  assert.deepEqual([...m.nonEmptyIpsets('inet6')], []);
  m.upsertEndpointSlice(slice('b-1', 'b', 'IPv4', 8080, 'TCP', [{ ip: '10.244.2.9', node: 'node-b' }]));
  m.commit();
  assert.deepEqual([...m.nonEmptyIpsets('inet')].sort(), ['KUBE-CLUSTER-IP', 'KUBE-IPVS-IPS'], 'no local endpoint: the loop-back set is empty');
  m.deleteService('default', 'b');
  m.commit();
  assert.deepEqual([...m.nonEmptyIpsets('inet')], []);
});

test('loadBalancerSourceRanges: the load balancer in -FW, each range in -SOURCE-CIDR, the node itself in -SOURCE-IP when a range holds a node address; a bad range warns', () => {
  const spec = (ranges: string[]) => ({
    type: 'LoadBalancer', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], loadBalancerSourceRanges: ranges,
    ports: [{ name: 'p', port: 443, protocol: 'TCP', nodePort: 30443 }],
  });
  const fw = (ranges: string[]) => entries(svc('fw', spec(ranges), ['203.0.113.5']), []).filter((e) => /LOAD-BALANCER-(FW|SOURCE)/.test(e));
  assert.deepEqual(fw(['10.0.0.0/8', ' 198.51.100.7/32 ', '10.1.2.3/16']), [
    'inet|KUBE-LOAD-BALANCER-FW|203.0.113.5,tcp:443',
    'inet|KUBE-LOAD-BALANCER-SOURCE-CIDR|203.0.113.5,tcp:443,10.0.0.0/8',
    'inet|KUBE-LOAD-BALANCER-SOURCE-CIDR|203.0.113.5,tcp:443,10.1.0.0/16',
    'inet|KUBE-LOAD-BALANCER-SOURCE-CIDR|203.0.113.5,tcp:443,198.51.100.7',
  ]);
  // 192.168.1.10 is a node address: the node may connect from the load balancer address itself.
  assert.deepEqual(fw(['192.168.0.0/16']), [
    'inet|KUBE-LOAD-BALANCER-FW|203.0.113.5,tcp:443',
    'inet|KUBE-LOAD-BALANCER-SOURCE-CIDR|203.0.113.5,tcp:443,192.168.0.0/16',
    'inet|KUBE-LOAD-BALANCER-SOURCE-IP|203.0.113.5,tcp:443,203.0.113.5',
  ]);
  assert.deepEqual(fw([]), [], 'no ranges: open to all');
  assert.deepEqual(fw(['0.0.0.0/0', '10.0.0.0/8']), [], 'a range of everything restricts nothing');
  const sd = computeService(svc('fw', spec(['10.0.0.0/8', 'not-a-cidr']), ['203.0.113.5']), [], ctx);
  assert.deepEqual(sd.warnings.map((w) => `${w.object} ${w.field}`), ['Service default/fw spec.loadBalancerSourceRanges[1]']);
  assert.ok([...serviceIpsetEntries(sd)].includes('inet|KUBE-LOAD-BALANCER-SOURCE-CIDR|203.0.113.5,tcp:443,10.0.0.0/8'), 'the valid range still applies');
});

test('lbClosedToNode: load balancers with source ranges and no range for the node, per family, sorted', () => {
  const e = [
    'inet|KUBE-LOAD-BALANCER-FW|203.0.113.9,tcp:443', 'inet|KUBE-LOAD-BALANCER-SOURCE-CIDR|203.0.113.9,tcp:443,10.0.0.0/8',
    'inet|KUBE-LOAD-BALANCER-FW|203.0.113.5,udp:53', 'inet|KUBE-LOAD-BALANCER-SOURCE-IP|203.0.113.5,udp:53,203.0.113.5',
    'inet|KUBE-LOAD-BALANCER-FW|198.51.100.1,sctp:9', 'inet6|KUBE-LOAD-BALANCER-FW|fd00::5,tcp:80', 'inet|KUBE-CLUSTER-IP|10.96.0.1,tcp:80',
  ];
  assert.deepEqual(lbClosedToNode(e, 'inet'), [
    { address: '198.51.100.1', protocol: 'sctp', port: 9 },
    { address: '203.0.113.9', protocol: 'tcp', port: 443 },
  ]);
  assert.deepEqual(lbClosedToNode(e, 'inet6'), [{ address: 'fd00::5', protocol: 'tcp', port: 80 }]);
  assert.ok(affectsNodeFirewall(e[0]!) && affectsNodeFirewall(e[3]!) && !affectsNodeFirewall(e[1]!) && !affectsNodeFirewall(e[6]!));
});
