// Which UDP flows the conntrack reconciler deletes (kube-proxy's rules): flows to a UDP Service port's
// frontends (cluster IP, external IPs, load-balancer IPs, the node port on any address) that reply
// from no serving endpoint. Tables of cases after kube-proxy's own, without a kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { staleMatcher, udpPortsFromPorts, udpPortsFromVirtualServices, type UdpServicePort } from '../../src/backends/conntrack/stale.js';
import { ProxyModel } from '../../src/model/model.js';
import { UdpConntrackReconciler } from '../../src/backends/conntrack/reconciler.js';
import type { ServicePortDesired, V1EndpointSlice, V1Service } from '../../src/model/types.js';

const dns: UdpServicePort = {
  name: 'kube-system/dns:dns', service: 'kube-system/dns', family: 'inet', port: 53,
  frontends: ['10.96.0.10', '203.0.113.10', '198.51.100.10'], nodePort: 30053, serving: ['10.244.1.5', '10.244.2.6'],
};

test('flows to a frontend or the node port that reply from no serving endpoint are stale', () => {
  const m = staleMatcher([dns], 'inet');
  // [original destination, its port, reply source, stale?, why]
  const cases: [string, number, string, boolean, string][] = [
    ['10.96.0.10', 53, '10.244.1.5', false, 'cluster IP, serving endpoint'],
    ['10.96.0.10', 53, '10.244.2.6', false, 'cluster IP, the other serving endpoint'],
    ['10.96.0.10', 53, '10.244.9.9', true, 'cluster IP, endpoint gone'],
    ['10.96.0.10', 53, '10.96.0.10', true, 'cluster IP, never DNATed (no endpoints when it began)'],
    ['203.0.113.10', 53, '10.244.9.9', true, 'external IP, endpoint gone'],
    ['203.0.113.10', 53, '10.244.1.5', false, 'external IP, serving endpoint'],
    ['198.51.100.10', 53, '10.244.9.9', true, 'load-balancer IP, endpoint gone'],
    ['192.168.0.2', 30053, '10.244.9.9', true, 'node port on a node address'],
    ['127.0.0.1', 30053, '10.244.9.9', true, 'node port on any address'],
    ['192.168.0.2', 30053, '10.244.2.6', false, 'node port, serving endpoint'],
    ['10.96.0.10', 54, '10.244.9.9', false, 'cluster IP, another port'],
    ['10.96.0.11', 53, '10.244.9.9', false, 'another address with the port'],
    ['192.168.0.2', 30054, '10.244.9.9', false, 'another node port'],
  ];
  for (const [dst, port, reply, want, why] of cases) assert.equal(m.stale(dst, port, reply), want, why);
  assert.deepEqual([53, 30053, 54, 30054].map((p) => m.watches(p)), [true, true, false, false]);
  assert.equal(m.size, 4);
});

test('a port with no serving endpoint: every flow to its frontends is stale', () => {
  const m = staleMatcher([{ ...dns, serving: [] }], 'inet');
  assert.equal(m.stale('10.96.0.10', 53, '10.244.1.5'), true);
  assert.equal(m.stale('10.96.0.10', 53, '10.96.0.10'), true);
  assert.equal(m.stale('192.168.0.2', 30053, '10.244.1.5'), true);
});

test('only the family asked for; a frontend two ports share keeps both ports\' endpoints', () => {
  const v6: UdpServicePort = { name: 'a/b', service: 'a/b', family: 'inet6', port: 53, frontends: ['fd96::a'], serving: ['fd44::5'] };
  assert.equal(staleMatcher([v6], 'inet').size, 0);
  const m6 = staleMatcher([dns, v6], 'inet6');
  assert.equal(m6.stale('fd96::a', 53, 'fd44::6'), true);
  assert.equal(m6.stale('10.96.0.10', 53, '10.244.9.9'), false);
  const other: UdpServicePort = { name: 'x/y', service: 'x/y', family: 'inet', port: 53, frontends: ['203.0.113.10'], serving: ['10.244.7.7'] };
  const m = staleMatcher([dns, other], 'inet');
  assert.equal(m.stale('203.0.113.10', 53, '10.244.7.7'), false);
  assert.equal(m.stale('203.0.113.10', 53, '10.244.1.5'), false);
  assert.equal(m.stale('203.0.113.10', 53, '10.244.9.9'), true);
});

test('iptables mode: the per-port view gives UDP ports with every serving endpoint', () => {
  const ep = (address: string, local = false) => ({ address, port: 5353, local });
  const base: ServicePortDesired = {
    name: 'kube-system/dns:dns', service: 'kube-system/dns', portName: 'dns', family: 'inet', protocol: 'udp', port: 53, clusterIP: '10.96.0.10',
    externalIPs: ['203.0.113.10'], loadBalancerIPs: ['198.51.100.10'], sourceRanges: [], internalLocal: false, externalLocal: false,
    clusterEndpoints: [ep('10.244.1.5')], localEndpoints: [], hasEndpoints: true, notes: [], nodePort: 30053,
    servingAddresses: ['10.244.1.5', '10.244.3.3'],
  };
  const [u, ...rest] = udpPortsFromPorts([base, { ...base, protocol: 'tcp', name: 'kube-system/dns:tcp' }]);
  assert.equal(rest.length, 0, 'TCP ports are not cleaned');
  assert.deepEqual(u, { name: 'kube-system/dns:dns', service: 'kube-system/dns', family: 'inet', port: 53, frontends: ['10.96.0.10', '203.0.113.10', '198.51.100.10'], nodePort: 30053, serving: ['10.244.1.5', '10.244.3.3'] });
});

function service(o: { type?: string; endpoints: { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean; node?: string }[] }): { svc: V1Service; slice: V1EndpointSlice } {
  const svc: V1Service = {
    metadata: { namespace: 'kube-system', name: 'dns' },
    spec: {
      type: o.type ?? 'NodePort', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], externalIPs: ['203.0.113.10'], internalTrafficPolicy: 'Local',
      ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 30053 }, { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 5353, nodePort: 30054 }],
    },
  };
  const slice: V1EndpointSlice = {
    metadata: { namespace: 'kube-system', name: 'dns-1', labels: { 'kubernetes.io/service-name': 'dns' } },
    addressType: 'IPv4',
    ports: [{ name: 'dns', protocol: 'UDP', port: 5353 }, { name: 'dns-tcp', protocol: 'TCP', port: 5353 }],
    endpoints: o.endpoints.map((e) => ({ addresses: [e.ip], nodeName: e.node ?? 'other', conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false } })),
  };
  return { svc, slice };
}

for (const backend of ['ipvs', 'iptables'] as const) {
  test(`${backend} mode: the model's UDP port, its frontends and every serving endpoint whatever the traffic policy`, () => {
    const model = new ProxyModel({ scheduler: '', nodeName: 'me', families: ['inet'], backend });
    model.setNodeAddresses(['192.168.0.2', '192.168.1.2'], ['192.168.0.2', '192.168.1.2']);
    const { svc, slice } = service({ endpoints: [
      { ip: '10.244.1.5', node: 'other' }, // ready elsewhere: internalTrafficPolicy Local does not use it, but it serves
      { ip: '10.244.2.6', ready: false, serving: true, terminating: true }, // serving while terminating
      { ip: '10.244.3.7', ready: false, serving: false }, // not serving
    ] });
    model.upsertService(svc);
    model.upsertEndpointSlice(slice);
    model.commit();
    const ports = backend === 'ipvs' ? udpPortsFromVirtualServices(model.services()) : udpPortsFromPorts([...model.services()].flatMap((s) => [...s.ports]));
    assert.equal(ports.length, 1);
    const p = ports[0]!;
    assert.deepEqual({ ...p, frontends: [...p.frontends].sort(), serving: [...p.serving].sort() }, {
      name: 'kube-system/dns:dns', service: 'kube-system/dns', family: 'inet', port: 53, nodePort: 30053,
      frontends: ['10.96.0.10', '203.0.113.10'], serving: ['10.244.1.5', '10.244.2.6'],
    });
    // All endpoints gone: the port stays, with nothing serving.
    model.upsertEndpointSlice({ ...slice, endpoints: [] });
    model.commit();
    const empty = backend === 'ipvs' ? udpPortsFromVirtualServices(model.services()) : udpPortsFromPorts([...model.services()].flatMap((s) => [...s.ports]));
    assert.deepEqual(empty.map((u) => [u.port, u.serving]), [[53, []]]);
  });
}

for (const mode of ['ipvs', 'iptables'] as const) {
  test(`${mode} mode: the reconciler looks at every UDP port on a full sync, the changed Services' otherwise, and dumps nothing without one`, () => {
    const model = new ProxyModel({ scheduler: '', nodeName: 'me', families: ['inet'], backend: mode });
    const { svc, slice } = service({ type: 'ClusterIP', endpoints: [{ ip: '10.244.1.5' }] });
    model.upsertService(svc);
    model.upsertEndpointSlice(slice);
    model.upsertService({ metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.96.0.80', clusterIPs: ['10.96.0.80'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] } });
    model.commit();
    const logged: string[] = [];
    const log = { info: () => {}, debug: () => {}, error: () => {}, warn: (o: object, m?: string) => void logged.push(`${m} ${JSON.stringify(o)}`) };
    const r = new UdpConntrackReconciler({ mode, log });
    const names = (ports: { name: string }[]) => ports.map((p) => p.name);
    assert.deepEqual(names(r.ports(model)), ['kube-system/dns:dns']);
    assert.deepEqual(names(r.ports(model, ['kube-system/dns', 'default/gone'])), ['kube-system/dns:dns']);
    assert.deepEqual(names(r.ports(model, ['default/web'])), []);
    // No UDP port among the changed Services (or no change): no dump, no pass to report.
    assert.deepEqual(r.reconcile(model, false, ['default/web']), []);
    assert.deepEqual(r.reconcile(model, false, []), []);
    assert.deepEqual(logged, []);
    r.close();
  });
}
