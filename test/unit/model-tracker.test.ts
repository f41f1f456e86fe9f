import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service, V1EndpointSlice, V1Node } from '@kubernetes/client-node';
import { ProxyModel } from '../../src/model/index.js';
import { plan } from '../../src/backends/ipvs/plan.js';

// ---- builders (small on purpose; model-compute.test.ts covers the computation itself)

function svc(name: string, spec: NonNullable<V1Service['spec']>, extra: Partial<V1Service> = {}, ns = 'default'): V1Service {
  return { metadata: { namespace: ns, name, ...(extra.metadata ?? {}) }, spec, ...(extra.status ? { status: extra.status } : {}) };
}
function slice(name: string, service: string, ips: string[], port = 8080, o: { ns?: string; zones?: string[]; node?: string } = {}): V1EndpointSlice {
  return {
    metadata: { namespace: o.ns ?? 'default', name, labels: { 'kubernetes.io/service-name': service } },
    addressType: ips[0]?.includes(':') ? 'IPv6' : 'IPv4',
    ports: [{ port }],
    endpoints: ips.map((ip) => ({
      addresses: [ip], conditions: { ready: true }, nodeName: o.node,
      ...(o.zones ? { hints: { forZones: o.zones.map((z) => ({ name: z })) } } : {}),
    })),
  };
}
const node = (zone?: string): V1Node => ({ metadata: { name: 'node-a', labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} } });
const newModel = () => new ProxyModel({ scheduler: '', nodeName: 'node-a', families: ['inet', 'inet6'] });
const servers = (m: ProxyModel, key: string) => [...(m.desired.services.get(key)?.servers.keys() ?? [])].sort();
const sorted = (s: Iterable<string>) => [...s].sort();

/** A small cluster: 3 ClusterIP Services, one NodePort, one with an externalIP, one topology-aware. */
function cluster(): ProxyModel {
  const m = newModel();
  m.setNodeAddresses(['192.168.1.10'], ['192.168.1.10', '127.0.0.1']);
  for (let i = 1; i <= 3; i++) {
    m.upsertService(svc(`s${i}`, { clusterIP: `10.96.0.${i}`, ports: [{ port: 80 }] }));
    m.upsertEndpointSlice(slice(`s${i}-a`, `s${i}`, [`10.1.${i}.1`, `10.1.${i}.2`]));
  }
  m.upsertService(svc('np', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30010 }] }));
  m.upsertEndpointSlice(slice('np-a', 'np', ['10.1.10.1']));
  m.upsertService(svc('ext', { clusterIP: '10.96.0.11', externalIPs: ['198.51.100.11'], ports: [{ port: 443 }] }));
  m.upsertService(svc('topo', { clusterIP: '10.96.0.12', ports: [{ port: 80 }] }, { metadata: { annotations: { 'service.kubernetes.io/topology-mode': 'Auto' } } }));
  m.upsertEndpointSlice(slice('topo-a', 'topo', ['10.1.12.1'], 8080, { zones: ['z1'] }));
  m.upsertEndpointSlice(slice('topo-b', 'topo', ['10.1.12.2'], 8080, { zones: ['z2'] }));
  return m;
}

test('first commit: every Service, every key, every VIP', () => {
  const m = cluster();
  const c = m.commit();
  assert.deepEqual(sorted(c.changedServices), ['default/ext', 'default/np', 'default/s1', 'default/s2', 'default/s3', 'default/topo']);
  assert.deepEqual(sorted(c.changedKeys), sorted(m.desired.services.keys()));
  assert.equal(m.desired.services.size, 8);
  assert.ok(m.desired.services.has('inet/tcp/192.168.1.10/30010'));
  assert.ok(c.addressesChanged);
  assert.deepEqual(sorted(m.desired.boundAddresses), ['10.96.0.1', '10.96.0.10', '10.96.0.11', '10.96.0.12', '10.96.0.2', '10.96.0.3', '198.51.100.11']);
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.2/80'), ['10.1.2.1/8080', '10.1.2.2/8080']);
  // Nothing touched: an empty commit.
  const again = m.commit();
  assert.deepEqual([again.changedServices, [...again.changedKeys], again.addressesChanged], [[], [], false]);
});

test('incremental: a commit after one slice change recomputes only that Service and reports only its keys', () => {
  const m = cluster();
  m.commit();
  m.upsertEndpointSlice(slice('s2-a', 's2', ['10.1.2.1', '10.1.2.3']));
  const c = m.commit();
  assert.deepEqual(c.changedServices, ['default/s2']);
  assert.deepEqual([...c.changedKeys], ['inet/tcp/10.96.0.2/80']);
  assert.equal(c.addressesChanged, false);
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.2/80'), ['10.1.2.1/8080', '10.1.2.3/8080']);
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.1/80'), ['10.1.1.1/8080', '10.1.1.2/8080'], 'others untouched');

  // The NodePort Service: its ClusterIP and NodePort keys change together, nothing else.
  m.upsertEndpointSlice(slice('np-a', 'np', ['10.1.10.1', '10.1.10.2']));
  const c2 = m.commit();
  assert.deepEqual(c2.changedServices, ['default/np']);
  assert.deepEqual(sorted(c2.changedKeys), ['inet/tcp/10.96.0.10/80', 'inet/tcp/192.168.1.10/30010']);

  // A recomputation that changes nothing in the kernel's terms reports the Service but no keys.
  m.upsertEndpointSlice(slice('np-a', 'np', ['10.1.10.2', '10.1.10.1']));
  const c3 = m.commit();
  assert.deepEqual(c3.changedServices, ['default/np']);
  assert.equal(c3.changedKeys.size, 0);
});

test('a second slice adds to, and deleting a slice removes from, its Service only', () => {
  const m = cluster();
  m.commit();
  m.upsertEndpointSlice(slice('s1-b', 's1', ['10.1.1.9']));
  assert.deepEqual(m.commit().changedServices, ['default/s1']);
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.1/80'), ['10.1.1.1/8080', '10.1.1.2/8080', '10.1.1.9/8080']);
  m.deleteEndpointSlice('default', 's1-a');
  const c = m.commit();
  assert.deepEqual(c.changedServices, ['default/s1']);
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.1/80'), ['10.1.1.9/8080']);
  // Deleting an unknown slice touches nothing.
  m.deleteEndpointSlice('default', 'nope');
  assert.equal(m.pending(), 0);
});

test('a slice that changes its service-name label moves between Services; a slice may arrive before its Service', () => {
  const m = cluster();
  m.commit();
  m.upsertEndpointSlice(slice('s1-a', 's3', ['10.1.1.1']));
  const c = m.commit();
  assert.deepEqual(c.changedServices, ['default/s1', 'default/s3']);
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.1/80'), []);
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.3/80'), ['10.1.1.1/8080', '10.1.3.1/8080', '10.1.3.2/8080']);

  m.upsertEndpointSlice(slice('late-a', 'late', ['10.1.20.1']));
  assert.equal(m.pending(), 0, 'no Service yet: nothing to recompute');
  m.upsertService(svc('late', { clusterIP: '10.96.0.20', ports: [{ port: 80 }] }));
  m.commit();
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.20/80'), ['10.1.20.1/8080']);
  // Same name in another namespace is another Service.
  m.upsertEndpointSlice(slice('late-a', 'late', ['10.9.9.9'], 8080, { ns: 'other' }));
  assert.equal(m.pending(), 0);
});

test('deleting a Service removes its keys and VIPs', () => {
  const m = cluster();
  m.commit();
  m.deleteService('default', 'ext');
  const c = m.commit();
  assert.deepEqual(c.changedServices, ['default/ext']);
  assert.deepEqual(sorted(c.changedKeys), ['inet/tcp/10.96.0.11/443', 'inet/tcp/198.51.100.11/443']);
  assert.ok(c.addressesChanged);
  assert.ok(!m.desired.boundAddresses.has('10.96.0.11') && !m.desired.boundAddresses.has('198.51.100.11'));
  assert.ok(!m.desired.services.has('inet/tcp/198.51.100.11/443'));
  assert.equal([...m.services()].length, 5);
  m.deleteService('default', 'ext');
  assert.equal(m.pending(), 0, 'deleting twice is a no-op');
});

test('Node zone change touches only topology-aware Services', () => {
  const m = cluster();
  m.setNode(node('z1'));
  m.commit();
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.12/80'), ['10.1.12.1/8080']);
  m.setNode(node('z2'));
  const c = m.commit();
  assert.deepEqual(c.changedServices, ['default/topo']);
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.12/80'), ['10.1.12.2/8080']);
  m.setNode(node('z2'));
  assert.equal(m.pending(), 0, 'same zone: nothing');
  m.setNode(undefined);
  m.commit();
  assert.deepEqual(servers(m, 'inet/tcp/10.96.0.12/80'), ['10.1.12.1/8080', '10.1.12.2/8080'], 'no zone: all endpoints');
});

test('node address changes touch NodePort Services (node ports) and externalIP Services (binding) only', () => {
  const m = cluster();
  m.commit();
  m.setNodeAddresses(['192.168.1.10', '10.0.0.5'], ['192.168.1.10', '127.0.0.1']);
  const c = m.commit();
  assert.deepEqual(c.changedServices, ['default/np']);
  assert.deepEqual(sorted(c.changedKeys), ['inet/tcp/10.0.0.5/30010']);
  assert.equal(c.addressesChanged, false);
  // The externalIP appears on a local interface: no longer bound, still a virtual service.
  m.setNodeAddresses(['192.168.1.10', '10.0.0.5'], ['192.168.1.10', '198.51.100.11']);
  const c2 = m.commit();
  assert.deepEqual(c2.changedServices, ['default/ext']);
  assert.equal(c2.changedKeys.size, 0);
  assert.ok(c2.addressesChanged);
  assert.ok(!m.desired.boundAddresses.has('198.51.100.11'));
  assert.ok(m.desired.services.has('inet/tcp/198.51.100.11/443'));
  // Addresses are compared canonically.
  m.setNodeAddresses(['192.168.1.10', '10.0.0.5'], ['192.168.1.10', '198.51.100.11']);
  assert.equal(m.pending(), 0);
});

test('a virtual service claimed by two Services: the first keeps it, the second is warned, and takes over when the first lets go', () => {
  const m = newModel();
  m.upsertService(svc('a', { clusterIP: '10.96.0.1', externalIPs: ['198.51.100.1'], ports: [{ port: 80 }] }));
  m.upsertEndpointSlice(slice('a-1', 'a', ['10.1.0.1']));
  m.commit();
  m.upsertService(svc('b', { clusterIP: '10.96.0.2', externalIPs: ['198.51.100.1'], ports: [{ port: 80 }, { port: 81, name: 'x' }] }));
  m.upsertEndpointSlice(slice('b-1', 'b', ['10.1.0.2']));
  const c = m.commit();
  assert.deepEqual(servers(m, 'inet/tcp/198.51.100.1/80'), ['10.1.0.1/8080']);
  assert.ok(!c.changedKeys.has('inet/tcp/198.51.100.1/80'));
  const w = c.warnings.filter((x) => x.object === 'Service default/b');
  assert.equal(w.length, 1);
  assert.equal(w[0]!.field, 'spec.externalIPs[0]');
  assert.match(w[0]!.message, /inet\/tcp\/198\.51\.100\.1\/80 .*Service default\/a/);
  assert.equal(m.originOf('inet/tcp/198.51.100.1/80')!.origin.service, 'default/a');
  assert.equal(m.warnings().length, 1);
  // The shared VIP stays bound while either uses it.
  m.deleteService('default', 'a');
  const c2 = m.commit();
  assert.ok(c2.changedKeys.has('inet/tcp/198.51.100.1/80'));
  assert.equal(m.originOf('inet/tcp/198.51.100.1/80')!.origin.service, 'default/b');
  assert.deepEqual(servers(m, 'inet/tcp/198.51.100.1/80'), ['10.1.0.2/8080']);
  assert.ok(m.desired.boundAddresses.has('198.51.100.1'));
  assert.deepEqual(m.warnings(), []);
  m.deleteService('default', 'b');
  m.commit();
  assert.ok(!m.desired.boundAddresses.has('198.51.100.1'));
  assert.equal(m.desired.services.size, 0);
});

test('originOf, healthCheckNodePorts and warnings() reflect the current state', () => {
  const m = newModel();
  m.setNodeAddresses(['192.168.1.10'], ['192.168.1.10']);
  m.upsertService(svc('lb', {
    type: 'LoadBalancer', clusterIP: '10.96.0.30', externalTrafficPolicy: 'Local', healthCheckNodePort: 32100,
    ports: [{ port: 80, nodePort: 30030 }],
  }, { status: { loadBalancer: { ingress: [{ ip: '192.0.2.30' }] } } }));
  m.upsertEndpointSlice(slice('lb-1', 'lb', ['10.1.0.1', '10.1.0.2'], 8080, { node: 'node-a' }));
  m.upsertService(svc('bad', { clusterIP: '10.96.0.31', ports: [{ port: 0 }] }));
  const c = m.commit();
  assert.deepEqual(c.warnings.map((w) => `${w.object} ${w.field}`), ['Service default/bad spec.ports[0].port']);
  assert.deepEqual([...m.healthCheckNodePorts()], [[32100, { service: 'default/lb', localEndpoints: 2 }]]);
  const o = m.originOf('inet/tcp/192.0.2.30/80')!;
  assert.equal(o.origin.kind, 'LoadBalancer');
  assert.equal(o.origin.trafficPolicy, 'Local');
  assert.equal(m.originOf('inet/tcp/1.2.3.4/80'), undefined);
  // Fix the bad Service: its warning goes.
  m.upsertService(svc('bad', { clusterIP: '10.96.0.31', ports: [{ port: 8 }] }));
  m.commit();
  assert.deepEqual(m.warnings(), []);
  // Local endpoints move away.
  m.upsertEndpointSlice(slice('lb-1', 'lb', ['10.1.0.1'], 8080, { node: 'node-b' }));
  m.commit();
  assert.deepEqual([...m.healthCheckNodePorts()], [[32100, { service: 'default/lb', localEndpoints: 0 }]]);
  m.deleteService('default', 'lb');
  m.commit();
  assert.equal(m.healthCheckNodePorts().size, 0);
});

test('the desired state feeds the sync plan as is', () => {
  const m = cluster();
  m.commit();
  const p = plan(m.desired, { services: new Map(), boundAddresses: new Set() }, { owns: () => true, excluded: () => false, draining: new Set() });
  const adds = p.operations.filter((o) => o.op === 'add-service').length;
  const servers = p.operations.filter((o) => o.op === 'add-server').length;
  assert.equal(adds, 8);
  assert.equal(servers, 2 * 3 + 2 /* np: ClusterIP + NodePort */ + 2 /* topo, no zone */);
  assert.deepEqual(sorted(p.bind), sorted(m.desired.boundAddresses));
});

test('endpoints of a virtual service are those of the last commit, with pod, node, zone and reasons; only what is read of the objects is kept', () => {
  const m = newModel();
  const big = {
    metadata: {
      namespace: 'default', name: 'web', uid: 'u-1', resourceVersion: '7', labels: { app: 'web' },
      annotations: { 'kipvs.io/scheduler': 'sh', 'kubectl.kubernetes.io/last-applied-configuration': '{"x":1}' },
      managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
    },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.40', clusterIPs: ['10.96.0.40'], selector: { app: 'web' }, sessionAffinity: 'None', ports: [{ port: 80, targetPort: 8080 }] },
    status: { loadBalancer: {} },
  } as V1Service;
  m.upsertService(big);
  m.upsertEndpointSlice({
    metadata: { namespace: 'default', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ port: 8080 }],
    endpoints: [
      { addresses: ['10.1.0.1'], conditions: { ready: true }, nodeName: 'node-a', zone: 'z1', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-a' } },
      { addresses: ['10.1.0.2'], conditions: { ready: false, serving: false }, nodeName: 'node-b', targetRef: { kind: 'Pod', namespace: 'elsewhere', name: 'web-b' } },
      null as never,
      { addresses: ['10.1.0.3'], conditions: { ready: false, serving: true, terminating: true }, targetRef: { kind: 'Node', name: 'n' } },
    ],
  });
  m.commit();
  const key = 'inet/tcp/10.96.0.40/80';
  assert.equal(m.desired.services.get(key)!.service.scheduler, 'sh', 'the scheduler annotation is kept');
  const want = [
    { address: '10.1.0.1', port: 8080, ready: true, serving: true, terminating: false, local: true, used: true, pod: 'default/web-a', node: 'node-a', zone: 'z1' },
    { address: '10.1.0.2', port: 8080, ready: false, serving: false, terminating: false, local: false, used: false, pod: 'elsewhere/web-b', node: 'node-b', reason: 'not ready' },
    { address: '10.1.0.3', port: 8080, ready: false, serving: true, terminating: true, local: false, used: false, reason: 'not ready (ready endpoints exist)' },
  ];
  assert.deepEqual([...m.originOf(key)!.endpoints.values()], want);
  // The same Map content on every read; the servers are the desired state's own.
  assert.deepEqual([...m.originOf(key)!.endpoints.keys()], ['10.1.0.1/8080', '10.1.0.2/8080', '10.1.0.3/8080']);
  assert.equal(m.originOf(key)!.servers, m.desired.services.get(key)!.servers);
  // A change not yet committed does not show; once committed it does.
  m.upsertEndpointSlice(slice('web-1', 'web', ['10.1.0.9']));
  assert.deepEqual([...m.originOf(key)!.endpoints.keys()], ['10.1.0.1/8080', '10.1.0.2/8080', '10.1.0.3/8080']);
  m.commit();
  assert.deepEqual([...m.originOf(key)!.endpoints.values()], [
    { address: '10.1.0.9', port: 8080, ready: true, serving: true, terminating: false, local: false, used: true },
  ]);
  assert.deepEqual([...[...m.services()][0]!.virtualServices.get(key)!.endpoints.keys()], ['10.1.0.9/8080']);
});

test('three Services claiming one virtual service: letting go of a later claim keeps the owner; the next in line takes over', () => {
  const m = newModel();
  for (const n of ['a', 'b', 'c']) {
    m.upsertService(svc(n, { clusterIP: `10.96.1.${n.charCodeAt(0)}`, externalIPs: ['198.51.100.7'], ports: [{ port: 80 }] }));
    m.upsertEndpointSlice(slice(`${n}-1`, n, [`10.2.0.${n.charCodeAt(0)}`]));
    m.commit();
  }
  const key = 'inet/tcp/198.51.100.7/80';
  assert.equal(m.originOf(key)!.origin.service, 'default/a');
  assert.equal(m.warnings().length, 2);
  m.deleteService('default', 'b');
  const c = m.commit();
  assert.ok(!c.changedKeys.has(key));
  assert.equal(m.originOf(key)!.origin.service, 'default/a');
  assert.equal(m.warnings().length, 1);
  m.deleteService('default', 'a');
  assert.ok(m.commit().changedKeys.has(key));
  assert.equal(m.originOf(key)!.origin.service, 'default/c');
  assert.deepEqual(servers(m, key), ['10.2.0.99/8080']);
  assert.deepEqual(m.warnings(), []);
});
