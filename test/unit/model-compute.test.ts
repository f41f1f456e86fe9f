import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service, V1EndpointSlice } from '@kubernetes/client-node';
import { computeService, nodePortAddresses, nodePrimaryIPs } from '../../src/model/index.js';
import type { ModelContext, ServiceDesired } from '../../src/model/index.js';
import { validateService, validateServer } from '../../src/ipvs/validate.js';
import { serviceKeyString, serverKeyString } from '../../src/ipvs/keys.js';
import { compactService } from '../../src/model/compact.js';

// ---- builders

interface SvcOpts { ns?: string; labels?: Record<string, string>; annotations?: Record<string, string>; lb?: { ip?: string; hostname?: string; ipMode?: string }[] }
function svc(name: string, spec: NonNullable<V1Service['spec']>, o: SvcOpts = {}): V1Service {
  const s: V1Service = { metadata: { namespace: o.ns ?? 'default', name, labels: o.labels ?? {}, annotations: o.annotations ?? {} }, spec };
  if (o.lb) s.status = { loadBalancer: { ingress: o.lb } };
  return s;
}
interface EpOpts { ready?: boolean; serving?: boolean; terminating?: boolean; node?: string; zones?: string[]; nodeHints?: string[]; pod?: string }
function ep(ip: string, o: EpOpts = {}) {
  const conditions: Record<string, boolean> = {};
  if (o.ready !== undefined) conditions.ready = o.ready;
  if (o.serving !== undefined) conditions.serving = o.serving;
  if (o.terminating !== undefined) conditions.terminating = o.terminating;
  return {
    addresses: [ip], conditions, nodeName: o.node,
    ...(o.zones || o.nodeHints ? {
      hints: {
        ...(o.zones ? { forZones: o.zones.map((z) => ({ name: z })) } : {}),
        ...(o.nodeHints ? { forNodes: o.nodeHints.map((n) => ({ name: n })) } : {}),
      },
    } : {}),
    ...(o.pod ? { targetRef: { kind: 'Pod', namespace: 'default', name: o.pod } } : {}),
  };
}
function slice(name: string, service: string, addressType: string, ports: { name?: string; port?: number; protocol?: string }[], endpoints: ReturnType<typeof ep>[], ns = 'default'): V1EndpointSlice {
  return { metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': service } }, addressType, ports, endpoints } as V1EndpointSlice;
}
function ctx(over: Partial<ModelContext> & { scheduler?: string; families?: ('inet' | 'inet6')[] } = {}): ModelContext {
  return {
    config: { scheduler: over.scheduler ?? '', nodeName: 'node-a', families: over.families ?? ['inet', 'inet6'] },
    zone: over.zone,
    nodePortAddresses: over.nodePortAddresses ?? ['192.168.1.10', '10.0.0.5', 'fd00:1::10'],
    localAddresses: over.localAddresses ?? new Set(['192.168.1.10', '10.0.0.5', 'fd00:1::10', '203.0.113.7']),
  };
}
const keys = (sd: ServiceDesired) => [...sd.virtualServices.keys()].sort();
const rs = (sd: ServiceDesired, key: string) => {
  const d = sd.virtualServices.get(key);
  assert.ok(d, `no virtual service ${key}; have ${keys(sd).join(', ')}`);
  return [...d.servers.keys()].sort();
};
const fields = (sd: ServiceDesired) => sd.warnings.map((w) => `${w.object} ${w.field}`).sort();

const WEB = () => svc('web', { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 as never }] });
const WEB_SLICE = () => slice('web-1', 'web', 'IPv4', [{ name: 'http', port: 8080, protocol: 'TCP' }], [
  ep('10.244.1.2', { ready: true, node: 'node-a' }), ep('10.244.2.2', { ready: true, node: 'node-b' }), ep('10.244.3.2', { ready: false, node: 'node-c' }),
]);

test('ClusterIP: one virtual service per port, rr by default, masq real servers of weight 1 on the slice port, VIP bound', () => {
  const sd = computeService(WEB(), [WEB_SLICE()], ctx());
  assert.deepEqual(keys(sd), ['inet/tcp/10.96.0.10/80']);
  const d = sd.virtualServices.get('inet/tcp/10.96.0.10/80')!;
  assert.deepEqual(d.service, { family: 'inet', protocol: 'tcp', address: '10.96.0.10', port: 80, scheduler: 'rr' });
  // Forwarding and weight left to RealServer's defaults (masq, 1).
  assert.deepEqual([...d.servers.values()], [{ address: '10.244.1.2', port: 8080 }, { address: '10.244.2.2', port: 8080 }]);
  assert.deepEqual([...sd.addresses], ['10.96.0.10']);
  assert.equal(d.origin.kind, 'ClusterIP');
  assert.equal(d.origin.portName, 'http');
  assert.equal(d.origin.trafficPolicy, 'Cluster');
  assert.equal(d.endpoints.size, 3, 'every endpoint of the slice port is listed');
  assert.equal(d.endpoints.get('10.244.3.2/8080')!.used, false);
  assert.match(d.endpoints.get('10.244.3.2/8080')!.reason!, /not ready/);
  assert.deepEqual(sd.warnings, []);
});

test('schedulers: configured default, mh gets mh-port, per-Service annotation, invalid annotation warns and falls back', () => {
  const cases: { scheduler: string; ann?: string; want: string; flags?: object; warn?: boolean }[] = [
    { scheduler: '', want: 'rr' },
    { scheduler: 'wlc', want: 'wlc' },
    { scheduler: 'mh', want: 'mh', flags: { mhPort: true } },
    { scheduler: 'rr', ann: 'sh', want: 'sh' },
    { scheduler: 'rr', ann: 'mh', want: 'mh', flags: { mhPort: true } },
    { scheduler: 'lc', ann: 'fastest', want: 'lc', warn: true },
  ];
  for (const c of cases) {
    const s = WEB();
    if (c.ann) s.metadata!.annotations = { 'kipvs.io/scheduler': c.ann };
    const sd = computeService(s, [WEB_SLICE()], ctx({ scheduler: c.scheduler }));
    const vs = sd.virtualServices.get('inet/tcp/10.96.0.10/80')!.service;
    assert.equal(vs.scheduler, c.want, JSON.stringify(c));
    assert.deepEqual(vs.schedulerFlags, c.flags, JSON.stringify(c));
    if (c.warn) {
      assert.equal(sd.warnings.length, 1);
      assert.equal(sd.warnings[0]!.object, 'Service default/web');
      assert.equal(sd.warnings[0]!.field, 'metadata.annotations[kipvs.io/scheduler]');
      assert.match(sd.warnings[0]!.message, /unknown scheduler "fastest".*using lc/);
    } else {
      assert.deepEqual(sd.warnings, [], JSON.stringify(c));
    }
  }
});

test('dual-stack: a virtual service per family from the slices of that addressType; addresses canonical', () => {
  const s = svc('ds', { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20', 'FD00:0:0::0A'], ipFamilies: ['IPv4', 'IPv6'], ports: [{ port: 53, protocol: 'UDP' }] });
  const v4 = slice('ds-4', 'ds', 'IPv4', [{ port: 5353, protocol: 'UDP' }], [ep('10.244.1.9')]);
  const v6 = slice('ds-6', 'ds', 'IPv6', [{ port: 5353, protocol: 'UDP' }], [ep('fd00:244:0:0::09')]);
  const sd = computeService(s, [v4, v6], ctx());
  assert.deepEqual(keys(sd), ['inet/udp/10.96.0.20/53', 'inet6/udp/fd00::a/53']);
  assert.deepEqual(rs(sd, 'inet/udp/10.96.0.20/53'), ['10.244.1.9/5353']);
  assert.deepEqual(rs(sd, 'inet6/udp/fd00::a/53'), ['fd00:244::9/5353']);
  assert.deepEqual([...sd.addresses].sort(), ['10.96.0.20', 'fd00::a']);
  // A single-family proxier ignores the other family.
  const only4 = computeService(s, [v4, v6], ctx({ families: ['inet'] }));
  assert.deepEqual(keys(only4), ['inet/udp/10.96.0.20/53']);
  // An IPv6-only Service gives nothing to an IPv4-only proxier.
  const s6 = svc('six', { clusterIP: 'fd00::b', ports: [{ port: 80 }] });
  assert.deepEqual(keys(computeService(s6, [], ctx({ families: ['inet'] }))), []);
});

test('NodePort: one virtual service per node address of the family, on the node port, never bound', () => {
  const s = svc('np', { type: 'NodePort', clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30', 'fd00::30'], ports: [{ port: 80, nodePort: 30080 }] });
  const sd = computeService(s, [slice('np-1', 'np', 'IPv4', [{ port: 8080 }], [ep('10.244.1.3')])], ctx());
  assert.deepEqual(keys(sd), [
    'inet/tcp/10.0.0.5/30080', 'inet/tcp/10.96.0.30/80', 'inet/tcp/192.168.1.10/30080', 'inet6/tcp/fd00:1::10/30080', 'inet6/tcp/fd00::30/80',
  ]);
  assert.deepEqual(rs(sd, 'inet/tcp/192.168.1.10/30080'), ['10.244.1.3/8080']);
  assert.deepEqual(rs(sd, 'inet6/tcp/fd00:1::10/30080'), [], 'no IPv6 slice: no real servers');
  assert.deepEqual([...sd.addresses].sort(), ['10.96.0.30', 'fd00::30']);
  assert.equal(sd.virtualServices.get('inet/tcp/10.0.0.5/30080')!.origin.kind, 'NodePort');
  assert.equal(sd.virtualServices.get('inet/tcp/10.0.0.5/30080')!.origin.field, 'spec.ports[0].nodePort');
  // No node addresses: no NodePort virtual services.
  assert.deepEqual(keys(computeService(s, [], ctx({ nodePortAddresses: [] }))), ['inet/tcp/10.96.0.30/80', 'inet6/tcp/fd00::30/80']);
});

test('externalIPs and LoadBalancer ingress: a virtual service each on the service port; bound unless on another local interface', () => {
  const s = svc('ext', {
    type: 'LoadBalancer', clusterIP: '10.96.0.40', externalIPs: ['198.51.100.1', '203.0.113.7', '2001:db8::1'],
    ports: [{ name: 'https', port: 443, nodePort: 31443 }],
  }, { lb: [{ ip: '192.0.2.10' }, { ip: '192.0.2.11', ipMode: 'Proxy' }, { hostname: 'lb.example.com' }, { ip: '203.0.113.7', ipMode: 'VIP' }] });
  const sd = computeService(s, [slice('ext-1', 'ext', 'IPv4', [{ name: 'https', port: 8443 }], [ep('10.244.1.4')])], ctx());
  const want = [
    'inet/tcp/10.0.0.5/31443', 'inet/tcp/10.96.0.40/443', 'inet/tcp/192.0.2.10/443', 'inet/tcp/192.168.1.10/31443',
    'inet/tcp/198.51.100.1/443', 'inet/tcp/203.0.113.7/443',
  ];
  assert.deepEqual(keys(sd), want, 'no v6 cluster IP: no v6 virtual services; ipMode Proxy and hostname-only ingress give none');
  assert.equal(sd.virtualServices.get('inet/tcp/198.51.100.1/443')!.origin.kind, 'ExternalIP');
  assert.equal(sd.virtualServices.get('inet/tcp/192.0.2.10/443')!.origin.kind, 'LoadBalancer');
  // 203.0.113.7 is both an externalIP and an LB IP: one virtual service, a warning for the duplicate.
  assert.deepEqual(fields(sd), ['Service default/ext status.loadBalancer.ingress[3].ip']);
  assert.deepEqual([...sd.addresses].sort(), ['10.96.0.40', '192.0.2.10', '198.51.100.1'], '203.0.113.7 is local: not bound');
  for (const k of want) assert.deepEqual(rs(sd, k), ['10.244.1.4/8443'], k);
});

test('ExternalName, headless, other proxies\' and headless-labelled Services program nothing', () => {
  const cases: V1Service[] = [
    svc('en', { type: 'ExternalName', externalName: 'example.com', ports: [{ port: 80 }] }),
    svc('hl', { clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 80 }] }),
    svc('other', { clusterIP: '10.96.0.50', ports: [{ port: 80 }] }, { labels: { 'service.kubernetes.io/service-proxy-name': 'cilium' } }),
    svc('hlabel', { clusterIP: '10.96.0.51', ports: [{ port: 80 }] }, { labels: { 'service.kubernetes.io/headless': '' } }),
    svc('pending', { ports: [{ port: 80 }] }),
  ];
  for (const s of cases) {
    const sd = computeService(s, [slice('x', s.metadata!.name!, 'IPv4', [{ port: 80 }], [ep('10.244.1.1')])], ctx());
    assert.equal(sd.virtualServices.size, 0, s.metadata!.name);
    assert.equal(sd.addresses.length, 0, s.metadata!.name);
    assert.deepEqual(sd.warnings, [], s.metadata!.name);
  }
});

test('session affinity ClientIP: persistent on every virtual service, timeout default 10800', () => {
  const cases: [number | undefined, number, boolean][] = [[undefined, 10800, false], [60, 60, false], [86400, 86400, false], [0, 10800, true], [90000, 10800, true]];
  for (const [given, want, warns] of cases) {
    const s = svc('aff', {
      type: 'NodePort', clusterIP: '10.96.0.60', externalIPs: ['198.51.100.6'], ports: [{ port: 80, nodePort: 30060 }], sessionAffinity: 'ClientIP',
      ...(given !== undefined ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: given } } } : {}),
    });
    const sd = computeService(s, [], ctx());
    assert.equal(sd.virtualServices.size, 4);
    for (const d of sd.virtualServices.values()) assert.deepEqual(d.service.persistent, { timeout: want }, String(given));
    assert.deepEqual(fields(sd), warns ? ['Service default/aff spec.sessionAffinityConfig.clientIP.timeoutSeconds'] : [], String(given));
  }
  const none = computeService(svc('na', { clusterIP: '10.96.0.61', ports: [{ port: 80 }], sessionAffinity: 'None' }), [], ctx());
  assert.equal(none.virtualServices.get('inet/tcp/10.96.0.61/80')!.service.persistent, undefined);
});

// Endpoint selection: [name, endpoints, expected real servers of the ClusterIP VS]
const READINESS: [string, ReturnType<typeof ep>[], string[]][] = [
  ['ready only', [ep('10.1.0.1'), ep('10.1.0.2', { ready: false, serving: false })], ['10.1.0.1/80']],
  ['nil conditions mean ready', [ep('10.1.0.1')], ['10.1.0.1/80']],
  ['ready preferred over serving-terminating', [ep('10.1.0.1', { ready: true }), ep('10.1.0.2', { ready: false, serving: true, terminating: true })], ['10.1.0.1/80']],
  ['serving-terminating when none ready', [ep('10.1.0.2', { ready: false, serving: true, terminating: true }), ep('10.1.0.3', { ready: false, serving: false, terminating: true })], ['10.1.0.2/80']],
  ['never non-serving', [ep('10.1.0.3', { ready: false, serving: false, terminating: true }), ep('10.1.0.4', { ready: false })], []],
  ['not ready, not terminating, serving flag absent', [ep('10.1.0.5', { ready: false })], []],
];

test('real servers: ready endpoints, else serving-and-terminating ones, never non-serving', () => {
  const s = svc('r', { clusterIP: '10.96.0.70', ports: [{ port: 80 }] });
  for (const [name, eps, want] of READINESS) {
    const sd = computeService(s, [slice('r-1', 'r', 'IPv4', [{ port: 80 }], eps)], ctx());
    assert.deepEqual(rs(sd, 'inet/tcp/10.96.0.70/80'), want, name);
  }
});

test('externalTrafficPolicy Local: external virtual services get local endpoints, all when none is local; health check node port counts local ready ones', () => {
  const s = svc('etp', {
    type: 'LoadBalancer', clusterIP: '10.96.0.80', externalIPs: ['198.51.100.8'], externalTrafficPolicy: 'Local', healthCheckNodePort: 32000,
    ports: [{ port: 80, nodePort: 30080 }],
  }, { lb: [{ ip: '192.0.2.80' }] });
  const withLocal = [ep('10.1.0.1', { node: 'node-a' }), ep('10.1.0.2', { node: 'node-b' }), ep('10.1.0.3', { node: 'node-a', ready: false })];
  const sd = computeService(s, [slice('etp-1', 'etp', 'IPv4', [{ port: 80 }], withLocal)], ctx());
  assert.deepEqual(rs(sd, 'inet/tcp/10.96.0.80/80'), ['10.1.0.1/80', '10.1.0.2/80'], 'ClusterIP: all');
  for (const k of ['inet/tcp/198.51.100.8/80', 'inet/tcp/192.0.2.80/80', 'inet/tcp/192.168.1.10/30080', 'inet/tcp/10.0.0.5/30080']) {
    assert.deepEqual(rs(sd, k), ['10.1.0.1/80'], k);
    assert.equal(sd.virtualServices.get(k)!.origin.trafficPolicy, 'Local');
  }
  assert.deepEqual(sd.healthCheckNodePort, { port: 32000, localEndpoints: 1 });
  assert.match(sd.virtualServices.get('inet/tcp/192.0.2.80/80')!.endpoints.get('10.1.0.2/80')!.reason!, /not on this node/);

  const noLocal = [ep('10.1.0.2', { node: 'node-b' }), ep('10.1.0.4', { node: 'node-c' })];
  const sd2 = computeService(s, [slice('etp-1', 'etp', 'IPv4', [{ port: 80 }], noLocal)], ctx());
  assert.deepEqual(rs(sd2, 'inet/tcp/192.0.2.80/80'), ['10.1.0.2/80', '10.1.0.4/80'], 'falls back to all');
  assert.ok(sd2.virtualServices.get('inet/tcp/192.0.2.80/80')!.origin.notes.some((n) => /falling back/.test(n)));
  assert.deepEqual(sd2.healthCheckNodePort, { port: 32000, localEndpoints: 0 });

  // A local serving-terminating endpoint is used when no local one is ready.
  const term = [ep('10.1.0.2', { node: 'node-b' }), ep('10.1.0.5', { node: 'node-a', ready: false, serving: true, terminating: true })];
  const sd3 = computeService(s, [slice('etp-1', 'etp', 'IPv4', [{ port: 80 }], term)], ctx());
  assert.deepEqual(rs(sd3, 'inet/tcp/192.0.2.80/80'), ['10.1.0.5/80']);
  assert.deepEqual(rs(sd3, 'inet/tcp/10.96.0.80/80'), ['10.1.0.2/80']);

  // Cluster policy: no health check node port.
  const c = svc('etpc', { type: 'NodePort', clusterIP: '10.96.0.81', healthCheckNodePort: 32001, ports: [{ port: 80, nodePort: 30081 }] });
  assert.equal(computeService(c, [], ctx()).healthCheckNodePort, undefined);
});

test('internalTrafficPolicy Local: the ClusterIP virtual service gets only local endpoints; none local: all on a NodePort Service, none on an internal one', () => {
  const s = svc('itp', { type: 'NodePort', clusterIP: '10.96.0.90', internalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30090 }] });
  const sd = computeService(s, [slice('itp-1', 'itp', 'IPv4', [{ port: 80 }], [ep('10.1.0.1', { node: 'node-a' }), ep('10.1.0.2', { node: 'node-b' })])], ctx());
  assert.deepEqual(rs(sd, 'inet/tcp/10.96.0.90/80'), ['10.1.0.1/80']);
  assert.equal(sd.virtualServices.get('inet/tcp/10.96.0.90/80')!.origin.trafficPolicy, 'Local');
  assert.deepEqual(rs(sd, 'inet/tcp/192.168.1.10/30090'), ['10.1.0.1/80', '10.1.0.2/80'], 'external stays Cluster');
  const remoteOnly = [slice('itp-1', 'itp', 'IPv4', [{ port: 80 }], [ep('10.1.0.2', { node: 'node-b' })])];
  const none = computeService(s, remoteOnly, ctx());
  assert.deepEqual(rs(none, 'inet/tcp/10.96.0.90/80'), ['10.1.0.2/80'], 'reachable from outside: kube-proxy falls back to all');
  assert.deepEqual(rs(none, 'inet/tcp/192.168.1.10/30090'), ['10.1.0.2/80']);
  const internal = svc('itp', { clusterIP: '10.96.0.90', internalTrafficPolicy: 'Local', ports: [{ port: 80 }] });
  assert.deepEqual(rs(computeService(internal, remoteOnly, ctx()), 'inet/tcp/10.96.0.90/80'), []);
});

test('topology-aware routing: zone hints used when usable, all endpoints otherwise', () => {
  const AUTO = { 'service.kubernetes.io/topology-mode': 'Auto' };
  const hinted = [ep('10.1.0.1', { zones: ['z1'] }), ep('10.1.0.2', { zones: ['z2'] }), ep('10.1.0.3', { zones: ['z1', 'z3'] })];
  const nodeHinted = [
    ep('10.1.0.1', { zones: ['z1'], nodeHints: ['node-b'] }), ep('10.1.0.2', { zones: ['z2'], nodeHints: ['node-a'] }), ep('10.1.0.3', { zones: ['z3'], nodeHints: ['node-c'] }),
  ];
  const cases: { name: string; ann?: Record<string, string>; td?: string; zone?: string; eps: ReturnType<typeof ep>[]; want: string[]; hintedZone?: string; hintedNode?: string }[] = [
    { name: 'hints for this zone', ann: AUTO, zone: 'z1', eps: hinted, want: ['10.1.0.1/80', '10.1.0.3/80'], hintedZone: 'z1' },
    { name: 'legacy annotation', ann: { 'service.kubernetes.io/topology-aware-hints': 'auto' }, zone: 'z2', eps: hinted, want: ['10.1.0.2/80'], hintedZone: 'z2' },
    { name: 'trafficDistribution PreferClose', td: 'PreferClose', zone: 'z2', eps: hinted, want: ['10.1.0.2/80'], hintedZone: 'z2' },
    // kube-proxy reads the hints alone: the EndpointSlice controller writes them only when asked.
    { name: 'no annotation: hints still used', zone: 'z1', eps: hinted, want: ['10.1.0.1/80', '10.1.0.3/80'], hintedZone: 'z1' },
    { name: 'annotation Disabled: hints still used', ann: { 'service.kubernetes.io/topology-mode': 'Disabled' }, zone: 'z1', eps: hinted, want: ['10.1.0.1/80', '10.1.0.3/80'], hintedZone: 'z1' },
    { name: 'node without zone label', ann: AUTO, eps: hinted, want: ['10.1.0.1/80', '10.1.0.2/80', '10.1.0.3/80'] },
    { name: 'a ready endpoint without hints', ann: AUTO, zone: 'z1', eps: [...hinted, ep('10.1.0.4')], want: ['10.1.0.1/80', '10.1.0.2/80', '10.1.0.3/80', '10.1.0.4/80'] },
    { name: 'a non-ready endpoint without hints does not matter', ann: AUTO, zone: 'z1', eps: [...hinted, ep('10.1.0.4', { ready: false })], want: ['10.1.0.1/80', '10.1.0.3/80'], hintedZone: 'z1' },
    { name: 'no endpoint for this zone', ann: AUTO, zone: 'z9', eps: hinted, want: ['10.1.0.1/80', '10.1.0.2/80', '10.1.0.3/80'] },
    { name: 'PreferSameNode: node hints for this node win', td: 'PreferSameNode', zone: 'z1', eps: nodeHinted, want: ['10.1.0.2/80'], hintedNode: 'node-a' },
    { name: 'node hints for other nodes only: zone hints', td: 'PreferSameNode', zone: 'z1', eps: nodeHinted.slice(0, 1).concat(nodeHinted.slice(2)), want: ['10.1.0.1/80'], hintedZone: 'z1' },
    { name: 'an endpoint without node hints: zone hints', td: 'PreferSameNode', zone: 'z2', eps: [...nodeHinted, ep('10.1.0.9', { zones: ['z2'] })], want: ['10.1.0.2/80', '10.1.0.9/80'], hintedZone: 'z2' },
  ];
  for (const c of cases) {
    const s = svc('topo', { clusterIP: '10.96.1.1', ports: [{ port: 80 }], ...(c.td ? { trafficDistribution: c.td } : {}) }, { annotations: c.ann ?? {} });
    const sd = computeService(s, [slice('topo-1', 'topo', 'IPv4', [{ port: 80 }], c.eps)], ctx({ zone: c.zone }));
    assert.deepEqual(rs(sd, 'inet/tcp/10.96.1.1/80'), c.want, c.name);
    assert.equal(sd.virtualServices.get('inet/tcp/10.96.1.1/80')!.origin.topologyZone, c.hintedZone, c.name);
    assert.equal(sd.virtualServices.get('inet/tcp/10.96.1.1/80')!.origin.topologyNode, c.hintedNode, c.name);
  }
  // Topology does not apply to the local path (externalTrafficPolicy Local).
  const s = svc('topol', { type: 'NodePort', clusterIP: '10.96.1.2', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30111 }] }, { annotations: AUTO });
  const eps = [ep('10.1.0.1', { zones: ['z1'], node: 'node-b' }), ep('10.1.0.2', { zones: ['z2'], node: 'node-a' })];
  const sd = computeService(s, [slice('topol-1', 'topol', 'IPv4', [{ port: 80 }], eps)], ctx({ zone: 'z1' }));
  assert.deepEqual(rs(sd, 'inet/tcp/10.96.1.2/80'), ['10.1.0.1/80']);
  assert.deepEqual(rs(sd, 'inet/tcp/192.168.1.10/30111'), ['10.1.0.2/80']);
});

test('slice ports match the Service port by name and protocol; slice addressType must match the family', () => {
  const s = svc('m', { clusterIP: '10.96.1.10', ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dnst', port: 53, protocol: 'TCP' }] });
  const sl = slice('m-1', 'm', 'IPv4', [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dnst', port: 5354, protocol: 'UDP' }, { name: 'other', port: 9 }], [ep('10.1.0.1')]);
  const sd = computeService(s, [sl, slice('m-6', 'm', 'IPv6', [{ name: 'http', port: 8080 }], [ep('fd00::1')]), slice('m-f', 'm', 'FQDN', [{ name: 'http', port: 8080 }], [ep('example.com')])], ctx());
  assert.deepEqual(rs(sd, 'inet/tcp/10.96.1.10/80'), ['10.1.0.1/8080']);
  assert.deepEqual(rs(sd, 'inet/udp/10.96.1.10/53'), ['10.1.0.1/5353']);
  assert.deepEqual(rs(sd, 'inet/tcp/10.96.1.10/53'), [], 'name matches but protocol does not');
  assert.deepEqual(sd.warnings, [], 'FQDN slices are skipped quietly');
});

test('endpoints are deduplicated across slices, the first one winning', () => {
  const s = svc('d', { clusterIP: '10.96.1.20', ports: [{ port: 80 }] });
  const a = slice('d-a', 'd', 'IPv4', [{ port: 80 }], [ep('10.1.0.1'), ep('10.1.0.2')]);
  const b = slice('d-b', 'd', 'IPv4', [{ port: 80 }], [ep('10.1.0.2', { ready: false }), ep('10.1.0.3')]);
  const sd = computeService(s, [a, b], ctx());
  assert.deepEqual(rs(sd, 'inet/tcp/10.96.1.20/80'), ['10.1.0.1/80', '10.1.0.2/80', '10.1.0.3/80']);
});

test('endpoints are deduplicated by address and port, also past the few looked through one by one', () => {
  // 20 addresses, then the same 20 again in a second slice with the port, and 20 more on another port
  // (two slice ports of the same name and protocol: an endpoint is its address and its port).
  const addrs = Array.from({ length: 20 }, (_, i) => `10.1.1.${i + 1}`);
  const s = svc('many', { clusterIP: '10.96.1.21', ports: [{ port: 80 }] });
  const a = slice('many-a', 'many', 'IPv4', [{ port: 80 }], addrs.map((x) => ep(x)));
  const b = slice('many-b', 'many', 'IPv4', [{ port: 80 }], [...addrs].reverse().map((x) => ep(x)));
  const c = slice('many-c', 'many', 'IPv4', [{ port: 81 }], addrs.slice(0, 3).map((x) => ep(x)));
  const got = rs(computeService(s, [a, b, c], ctx()), 'inet/tcp/10.96.1.21/80');
  assert.deepEqual(got, [...addrs.map((x) => `${x}/80`), ...addrs.slice(0, 3).map((x) => `${x}/81`)].sort());
  // Under the scan limit, within one slice.
  const d = slice('few-a', 'few', 'IPv4', [{ port: 80 }], [ep('10.1.2.1'), ep('10.1.2.2'), ep('10.1.2.1', { ready: false })]);
  assert.deepEqual(rs(computeService(svc('few', { clusterIP: '10.96.1.22', ports: [{ port: 80 }] }), [d], ctx()), 'inet/tcp/10.96.1.22/80'), ['10.1.2.1/80', '10.1.2.2/80']);
});

test('invalid input: that part is skipped with a warning naming the object and field; the rest is computed', () => {
  const s = svc('bad', {
    type: 'NodePort', clusterIP: '10.96.2.1', clusterIPs: ['10.96.2.1', 'fd00::zz'], externalIPs: ['not-an-ip', '198.51.100.20'],
    ports: [
      { name: 'ok', port: 80, nodePort: 30200 },
      { name: 'zero', port: 0 },
      { name: 'big', port: 70000 },
      { name: 'icmp', port: 81, protocol: 'ICMP' },
      { name: 'badnp', port: 82, nodePort: 70000 },
      { name: 'dup', port: 80 },
    ],
  }, { lb: [{ ip: '300.1.1.1' }] });
  const sl = slice('bad-1', 'bad', 'IPv4', [{ name: 'ok', port: 8080 }, { name: 'badnp', port: 0 }], [ep('10.1.0.1'), ep('fd00::1'), ep('10.1.0.999'), ep('10.1.0.2')]);
  const sd = computeService(s, [sl], ctx());
  assert.deepEqual(fields(sd), [
    'EndpointSlice default/bad-1 endpoints[1].addresses[0]',
    'EndpointSlice default/bad-1 endpoints[2].addresses[0]',
    'EndpointSlice default/bad-1 ports[1].port',
    'Service default/bad spec.clusterIPs[1]',
    'Service default/bad spec.externalIPs[0]',
    'Service default/bad spec.ports[1].port',
    'Service default/bad spec.ports[2].port',
    'Service default/bad spec.ports[3].protocol',
    'Service default/bad spec.ports[4].nodePort',
    'Service default/bad spec.ports[5]',
    'Service default/bad status.loadBalancer.ingress[0].ip',
  ]);
  assert.deepEqual(keys(sd), [
    'inet/tcp/10.0.0.5/30200', 'inet/tcp/10.96.2.1/80', 'inet/tcp/10.96.2.1/82', 'inet/tcp/192.168.1.10/30200',
    'inet/tcp/198.51.100.20/80', 'inet/tcp/198.51.100.20/82',
  ]);
  assert.deepEqual(rs(sd, 'inet/tcp/10.96.2.1/80'), ['10.1.0.1/8080', '10.1.0.2/8080']);
  assert.match(sd.warnings.find((w) => w.field === 'endpoints[1].addresses[0]')!.message, /not an IPv4 address/);
});

test('garbage never throws', () => {
  const weird: unknown[] = [
    { metadata: {}, spec: {} },
    { metadata: { name: 'x' } },
    { metadata: { name: 'y', namespace: 'n' }, spec: { clusterIP: '10.96.3.1', ports: [null, { port: '80' }, {}] } },
    { metadata: { name: 'z', namespace: 'n' }, spec: { clusterIP: 42, ports: [{ port: 80 }] } },
  ];
  const slices = [{ metadata: { name: 's', namespace: 'n', labels: {} }, addressType: 'IPv4', ports: [null, { port: 80 }], endpoints: [null, { addresses: [] }, {}] }];
  for (const w of weird) {
    const sd = computeService(w as V1Service, slices as unknown as V1EndpointSlice[], ctx());
    assert.ok(sd.name.includes('/'));
  }
});

test('nodePortAddresses: kube-proxy\'s rules', () => {
  const all = ['127.0.0.1', '10.0.0.5', '172.17.0.1', '169.254.3.3', '::1', 'fe80::1', 'fd00:1:0::10', '2001:db8::5', '10.0.0.5', 'garbage'];
  const cases: [string[], string[], string[]][] = [
    [[], [], ['10.0.0.5', '172.17.0.1', '169.254.3.3', 'fd00:1::10', '2001:db8::5']],
    [['0.0.0.0/0'], [], ['10.0.0.5', '172.17.0.1', '169.254.3.3', 'fd00:1::10', '2001:db8::5']],
    [['0.0.0.0/0', '::/0'], [], ['10.0.0.5', '172.17.0.1', '169.254.3.3', 'fd00:1::10', '2001:db8::5']],
    [['10.0.0.0/8'], [], ['10.0.0.5', 'fd00:1::10', '2001:db8::5']], // no IPv6 CIDR: every IPv6 address
    [['10.0.0.0/8', 'fd00::/8'], [], ['10.0.0.5', 'fd00:1::10']],
    [['127.0.0.0/8', '172.16.0.0/12', '::1/128'], [], ['172.17.0.1']], // loopback never
    [['fe80::/10'], [], ['10.0.0.5', '172.17.0.1', '169.254.3.3', 'fe80::1']], // link-local only when asked for
    [['primary'], ['172.17.0.1', '2001:db8::5'], ['172.17.0.1', '2001:db8::5']],
    [['primary'], ['172.17.0.1'], ['172.17.0.1', 'fd00:1::10', '2001:db8::5']],
  ];
  for (const [cidrs, primary, want] of cases) assert.deepEqual(nodePortAddresses(all, cidrs, primary), want, cidrs.join(','));
});

test('nodePrimaryIPs: first InternalIP of each family, else ExternalIP', () => {
  const cases: [{ type: string; address: string }[], string[]][] = [
    [[{ type: 'Hostname', address: 'n1' }, { type: 'ExternalIP', address: '203.0.113.1' }, { type: 'InternalIP', address: '10.0.0.1' }, { type: 'InternalIP', address: '10.0.0.2' }], ['10.0.0.1']],
    [[{ type: 'InternalIP', address: 'FD00::0001' }, { type: 'ExternalIP', address: '203.0.113.1' }], ['fd00::1', '203.0.113.1']],
    [[{ type: 'InternalIP', address: 'bogus' }], []],
  ];
  for (const [addresses, want] of cases) assert.deepEqual(nodePrimaryIPs({ status: { addresses } }).sort(), want.sort());
  assert.deepEqual(nodePrimaryIPs(undefined), []);
});

test('everything produced passes the IPVS client\'s validation unchanged, and keys match the key functions', () => {
  const s = svc('all', {
    type: 'LoadBalancer', clusterIP: '10.96.9.1', clusterIPs: ['10.96.9.1', 'fd00::9:1'], externalIPs: ['198.51.100.9', '2001:db8::9'],
    sessionAffinity: 'ClientIP', ports: [{ port: 80, nodePort: 30900 }, { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30953 }, { name: 's', port: 9, protocol: 'SCTP' }],
  }, { annotations: { 'kipvs.io/scheduler': 'mh' }, lb: [{ ip: '192.0.2.9' }, { ip: '2001:DB8:0::0:99' }] });
  const v4 = slice('all-4', 'all', 'IPv4', [{ port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }, { name: 's', port: 9999, protocol: 'SCTP' }], [ep('10.1.9.1'), ep('10.1.9.2')]);
  const v6 = slice('all-6', 'all', 'IPv6', [{ port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }], [ep('fd00:244::0:1')]);
  const sd = computeService(s, [v4, v6], ctx());
  // 2 families × 3 ports × (cluster IP, external IP, LB IP) + 2 node ports × (2 IPv4 + 1 IPv6 node addresses)
  assert.equal(sd.virtualServices.size, 2 * 3 * 3 + 2 * 3);
  for (const [key, d] of sd.virtualServices) {
    assert.equal(key, serviceKeyString(d.service));
    const v = validateService(d.service);
    assert.equal(v.address, d.service.address, key);
    assert.deepEqual(v.schedulerFlags, { mhPort: true }, key);
    assert.equal(v.persistent?.timeout, 10800, key);
    for (const [sk, server] of d.servers) {
      assert.equal(sk, serverKeyString(server));
      assert.equal(validateServer(d.service, server).address, server.address, sk);
    }
  }
  assert.deepEqual(sd.warnings, []);
});

test('compactService keeps everything that makes a difference: the same result as from the whole Service', () => {
  const v4 = slice('c-4', 'c', 'IPv4', [{ port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }], [
    ep('10.1.0.1', { ready: true, node: 'node-a', zones: ['z1'], pod: 'p1' }), ep('10.1.0.2', { ready: true, node: 'node-b', zones: ['z2'] }),
    ep('10.1.0.3', { ready: false, serving: true, terminating: true, node: 'node-a' }),
  ]);
  const v6 = slice('c-6', 'c', 'IPv6', [{ port: 8080 }], [ep('fd00:244::1', { node: 'node-a' })]);
  const ports = [{ port: 80, nodePort: 30080 }, { name: 'dns', port: 53, protocol: 'UDP' }];
  const junk = { labels: { app: 'c', 'x/y': 'z' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } };
  const cases: V1Service[] = [
    svc('c', { clusterIP: '10.96.5.1', ports }, junk),
    svc('c', { type: 'ClusterIP', clusterIP: '10.96.5.1', clusterIPs: ['10.96.5.1', 'fd00::5:1'], sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', ports }),
    svc('c', { clusterIP: '10.96.5.1', clusterIPs: [], ports }),
    svc('c', { clusterIP: '10.96.5.1', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports }),
    svc('c', { clusterIP: '10.96.5.1', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ports }),
    svc('c', { clusterIP: '10.96.5.1', internalTrafficPolicy: 'Local', ports }),
    svc('c', { type: 'LoadBalancer', clusterIP: '10.96.5.1', externalTrafficPolicy: 'Local', healthCheckNodePort: 32001, externalIPs: ['198.51.100.5', 'bogus'], ports }, { lb: [{ ip: '192.0.2.5' }, { hostname: 'lb' }, { ip: '192.0.2.6', ipMode: 'Proxy' }] }),
    svc('c', { type: 'NodePort', clusterIP: '10.96.5.1', externalTrafficPolicy: 'Cluster', ports }),
    svc('c', { clusterIP: '10.96.5.1', trafficDistribution: 'PreferClose', ports }),
    svc('c', { clusterIP: '10.96.5.1', ports }, { annotations: { 'service.kubernetes.io/topology-mode': 'Auto', 'kipvs.io/scheduler': 'mh' } }),
    svc('c', { clusterIP: '10.96.5.1', ports }, { annotations: { 'service.kubernetes.io/topology-aware-hints': 'auto', 'kipvs.io/scheduler': 'nope' } }),
    svc('c', { clusterIP: '10.96.5.1', ports }, { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } }),
    svc('c', { clusterIP: '10.96.5.1', ports }, { labels: { 'service.kubernetes.io/headless': '' } }),
    svc('c', { type: 'ExternalName', externalName: 'example.com', ports }),
    svc('c', { clusterIP: 'None', ports }),
    svc('c', { clusterIP: 42 as never, ports: [null as never, { port: '80' as never }] }),
    { metadata: { name: 'c' } },
  ];
  const view = (sd: ServiceDesired) => ({
    name: sd.name, addresses: [...sd.addresses], warnings: sd.warnings, hc: sd.healthCheckNodePort,
    vs: [...sd.virtualServices].map(([k, d]) => ({ k, service: d.service, servers: [...d.servers], origin: d.origin, endpoints: [...d.endpoints] })),
  });
  for (const [i, s] of cases.entries()) {
    for (const c of [ctx(), ctx({ zone: 'z1' })]) {
      assert.deepEqual(view(computeService(compactService(s), [v4, v6], c)), view(computeService(s, [v4, v6], c)), `case ${i}`);
    }
  }
  // What is dropped: other metadata, and fields at their defaults.
  assert.deepEqual(compactService(cases[1]!), { metadata: { namespace: 'default', name: 'c' }, spec: { clusterIPs: ['10.96.5.1', 'fd00::5:1'], ports } });
});
