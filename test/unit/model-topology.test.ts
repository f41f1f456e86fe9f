// Endpoint choice against kube-proxy's own expectations: the cases of its TestCategorizeEndpoints
// (pkg/proxy/topology_test.go; inputs and expected sets re-expressed here, the names are its), and
// the real servers its IPVS mode's syncEndpoint then gives each virtual service. Node hints follow
// topologyModeFromHints (PreferSameNode before zones).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service, V1EndpointSlice } from '@kubernetes/client-node';
import { computeService } from '../../src/model/index.js';
import type { ModelContext } from '../../src/model/index.js';
import { compactSlice } from '../../src/model/compact.js';
import { categorize, collectEndpoints } from '../../src/model/endpoints.js';
import { Warnings } from '../../src/model/validate.js';

const NODE = 'node-a';
interface E { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean; local?: boolean; zones?: string[]; nodes?: string[] }
interface Case {
  name: string;
  zone?: string;
  /** kube-proxy's serviceInfo: traffic policies and whether it has a node port. */
  iLocal?: boolean; eLocal?: boolean; nodePort?: boolean;
  eps: E[];
  /** kube-proxy's expected sets; null where it expects nil (the Service never uses that kind). */
  cluster: string[] | null;
  local: string[] | null;
}

const z = (ip: string, zone: string | string[], o: Partial<E> = {}): E => ({ ip, ready: true, zones: Array.isArray(zone) ? zone : [zone], ...o });
const ZONED = [z('10.1.2.3', 'zone-a'), z('10.1.2.4', 'zone-b'), z('10.1.2.5', 'zone-c'), z('10.1.2.6', 'zone-a')];

const CASES: Case[] = [
  { name: 'should use topology since all endpoints have hints, node has a zone label and and there are endpoints for the node\'s zone',
    zone: 'zone-a', eps: ZONED, cluster: ['10.1.2.3', '10.1.2.6'], local: null },
  { name: 'externalTrafficPolicy: Local, topology ignored for Local endpoints', zone: 'zone-a', eLocal: true, nodePort: true,
    eps: [z('10.1.2.3', 'zone-a', { local: true }), z('10.1.2.4', 'zone-b', { local: true }), z('10.1.2.5', 'zone-c'), z('10.1.2.6', 'zone-a')],
    cluster: ['10.1.2.3', '10.1.2.6'], local: ['10.1.2.3', '10.1.2.4'] },
  { name: 'internalTrafficPolicy: Local, topology ignored for Local endpoints', zone: 'zone-a', iLocal: true, nodePort: true,
    eps: [z('10.1.2.3', 'zone-a', { local: true }), z('10.1.2.4', 'zone-b', { local: true }), z('10.1.2.5', 'zone-c'), z('10.1.2.6', 'zone-a')],
    cluster: ['10.1.2.3', '10.1.2.6'], local: ['10.1.2.3', '10.1.2.4'] },
  { name: 'empty node labels', eps: [z('10.1.2.3', 'zone-a')], cluster: ['10.1.2.3'], local: null },
  { name: 'empty zone label', zone: '', eps: [z('10.1.2.3', 'zone-a')], cluster: ['10.1.2.3'], local: null },
  { name: 'node in different zone, no endpoint filtering', zone: 'zone-b', eps: [z('10.1.2.3', 'zone-a')], cluster: ['10.1.2.3'], local: null },
  { name: 'unready endpoint', zone: 'zone-a', eps: [...ZONED.slice(0, 3), z('10.1.2.6', 'zone-a', { ready: false })], cluster: ['10.1.2.3'], local: null },
  { name: 'only unready endpoints in same zone (should not filter)', zone: 'zone-a',
    eps: [z('10.1.2.3', 'zone-a', { ready: false }), z('10.1.2.4', 'zone-b'), z('10.1.2.5', 'zone-c'), z('10.1.2.6', 'zone-a', { ready: false })],
    cluster: ['10.1.2.4', '10.1.2.5'], local: null },
  { name: 'missing hints, no filtering applied', zone: 'zone-a',
    eps: [z('10.1.2.3', 'zone-a'), z('10.1.2.4', 'zone-b'), { ip: '10.1.2.5', ready: true }, z('10.1.2.6', 'zone-a')],
    cluster: ['10.1.2.3', '10.1.2.4', '10.1.2.5', '10.1.2.6'], local: null },
  { name: 'multiple hints per endpoint, filtering includes any endpoint with zone included', zone: 'zone-c',
    eps: [z('10.1.2.3', ['zone-a', 'zone-b', 'zone-c']), z('10.1.2.4', ['zone-b', 'zone-c']), z('10.1.2.5', ['zone-b', 'zone-d']), z('10.1.2.6', 'zone-c')],
    cluster: ['10.1.2.3', '10.1.2.4', '10.1.2.6'], local: null },
  { name: 'conflicting topology and localness require merging allEndpoints', zone: 'zone-a', eLocal: true, nodePort: true,
    eps: [z('10.0.0.0', 'zone-a', { local: true }), z('10.0.0.1', 'zone-b', { local: true }), z('10.0.0.2', 'zone-a'), z('10.0.0.3', 'zone-b')],
    cluster: ['10.0.0.0', '10.0.0.2'], local: ['10.0.0.0', '10.0.0.1'] },
  { name: 'internalTrafficPolicy: Local, with empty endpoints', iLocal: true, eps: [], cluster: null, local: [] },
  { name: 'internalTrafficPolicy: Local, but all endpoints are remote', iLocal: true,
    eps: [{ ip: '10.0.0.0', ready: true }, { ip: '10.0.0.1', ready: true }], cluster: null, local: [] },
  { name: 'internalTrafficPolicy: Local, all endpoints are local', iLocal: true,
    eps: [{ ip: '10.0.0.0', ready: true, local: true }, { ip: '10.0.0.1', ready: true, local: true }], cluster: null, local: ['10.0.0.0', '10.0.0.1'] },
  { name: 'internalTrafficPolicy: Local, some endpoints are local', iLocal: true,
    eps: [{ ip: '10.0.0.0', ready: true, local: true }, { ip: '10.0.0.1', ready: true }], cluster: null, local: ['10.0.0.0'] },
  { name: 'Cluster traffic policy, endpoints not Ready', eps: [{ ip: '10.0.0.0', ready: false }, { ip: '10.0.0.1', ready: false }], cluster: [], local: null },
  { name: 'Cluster traffic policy, some endpoints are Ready', eps: [{ ip: '10.0.0.0', ready: false }, { ip: '10.0.0.1', ready: true }], cluster: ['10.0.0.1'], local: null },
  { name: 'Cluster traffic policy, all endpoints are terminating',
    eps: [{ ip: '10.0.0.0', ready: false, serving: true, terminating: true, local: true }, { ip: '10.0.0.1', ready: false, serving: true, terminating: true }],
    cluster: ['10.0.0.0', '10.0.0.1'], local: null },
  { name: 'iTP: Local, eTP: Cluster, some endpoints local', iLocal: true, nodePort: true,
    eps: [{ ip: '10.0.0.0', ready: true, local: true }, { ip: '10.0.0.1', ready: true }], cluster: ['10.0.0.0', '10.0.0.1'], local: ['10.0.0.0'] },
  { name: 'iTP: Cluster, eTP: Local, some endpoints local', eLocal: true, nodePort: true,
    eps: [{ ip: '10.0.0.0', ready: true, local: true }, { ip: '10.0.0.1', ready: true }], cluster: ['10.0.0.0', '10.0.0.1'], local: ['10.0.0.0'] },
  { name: 'iTP: Local, eTP: Local, some endpoints local', iLocal: true, eLocal: true, nodePort: true,
    eps: [{ ip: '10.0.0.0', ready: true, local: true }, { ip: '10.0.0.1', ready: true }], cluster: ['10.0.0.0', '10.0.0.1'], local: ['10.0.0.0'] },
  { name: 'iTP: Local, eTP: Local, all endpoints remote', iLocal: true, eLocal: true, nodePort: true,
    eps: [{ ip: '10.0.0.0', ready: true }, { ip: '10.0.0.1', ready: true }], cluster: ['10.0.0.0', '10.0.0.1'], local: [] },
  { name: 'iTP: Local, eTP: Local, all endpoints remote and terminating', iLocal: true, eLocal: true, nodePort: true,
    eps: [{ ip: '10.0.0.0', ready: false, serving: true, terminating: true }, { ip: '10.0.0.1', ready: false, serving: true, terminating: true }],
    cluster: ['10.0.0.0', '10.0.0.1'], local: [] },
  { name: 'iTP: Cluster, eTP: Local, with terminating endpoints', eLocal: true, nodePort: true,
    eps: [
      { ip: '10.0.0.0', ready: true }, { ip: '10.0.0.1', ready: false, serving: false, local: true },
      { ip: '10.0.0.2', ready: false, serving: true, terminating: true, local: true }, { ip: '10.0.0.3', ready: false, serving: true, terminating: true },
    ],
    cluster: ['10.0.0.0'], local: ['10.0.0.2'] },
  { name: 'externalTrafficPolicy ignored if not externally accessible', eLocal: true,
    eps: [{ ip: '10.0.0.0', ready: true }, { ip: '10.0.0.1', ready: true, local: true }], cluster: ['10.0.0.0', '10.0.0.1'], local: null },
  { name: 'no cluster endpoints for iTP:Local internal-only service', iLocal: true,
    eps: [{ ip: '10.0.0.0', ready: true }, { ip: '10.0.0.1', ready: true, local: true }], cluster: null, local: ['10.0.0.1'] },
  // topologyModeFromHints' node hints (PreferSameNode), which its test table above predates.
  { name: 'node hints: every ready endpoint has them and one is for this node', zone: 'zone-a',
    eps: [z('10.0.0.0', 'zone-a', { nodes: ['node-b'] }), z('10.0.0.1', 'zone-b', { nodes: [NODE] }), z('10.0.0.2', 'zone-a', { nodes: ['node-c'] })],
    cluster: ['10.0.0.1'], local: null },
  { name: 'node hints for other nodes only: zone hints decide', zone: 'zone-a',
    eps: [z('10.0.0.0', 'zone-a', { nodes: ['node-b'] }), z('10.0.0.2', 'zone-b', { nodes: ['node-c'] })], cluster: ['10.0.0.0'], local: null },
  { name: 'a ready endpoint without node hints: zone hints decide', zone: 'zone-b',
    eps: [z('10.0.0.0', 'zone-a', { nodes: [NODE] }), z('10.0.0.1', 'zone-b')], cluster: ['10.0.0.1'], local: null },
  { name: 'an unready endpoint without node hints does not matter', zone: 'zone-b',
    eps: [z('10.0.0.0', 'zone-a', { nodes: [NODE] }), z('10.0.0.1', 'zone-b', { ready: false })], cluster: ['10.0.0.0'], local: null },
];

function endpoint(e: E) {
  const conditions: Record<string, boolean> = {};
  if (e.ready !== undefined) conditions.ready = e.ready;
  if (e.serving !== undefined) conditions.serving = e.serving;
  if (e.terminating !== undefined) conditions.terminating = e.terminating;
  const hints = e.zones || e.nodes ? {
    ...(e.zones ? { forZones: e.zones.map((name) => ({ name })) } : {}),
    ...(e.nodes ? { forNodes: e.nodes.map((name) => ({ name })) } : {}),
  } : undefined;
  return { addresses: [e.ip], conditions, nodeName: e.local ? NODE : 'node-remote', ...(hints ? { hints } : {}) };
}
function sliceOf(c: Case): V1EndpointSlice {
  return {
    metadata: { namespace: 'default', name: 'topo-1', labels: { 'kubernetes.io/service-name': 'topo' } },
    addressType: 'IPv4', ports: [{ port: 80, protocol: 'TCP' }], endpoints: c.eps.map(endpoint),
  } as V1EndpointSlice;
}
function serviceOf(c: Case): V1Service {
  return {
    metadata: { namespace: 'default', name: 'topo' },
    spec: {
      type: c.nodePort ? 'NodePort' : 'ClusterIP', clusterIP: '10.96.7.1', clusterIPs: ['10.96.7.1'],
      ports: [{ port: 80, protocol: 'TCP', ...(c.nodePort ? { nodePort: 30080 } : {}) }],
      ...(c.iLocal ? { internalTrafficPolicy: 'Local' } : {}),
      ...(c.eLocal ? { externalTrafficPolicy: 'Local' } : {}),
    },
  };
}
const ctx = (zone: string | undefined): ModelContext => ({
  config: { scheduler: '', nodeName: NODE, families: ['inet'] },
  zone,
  nodePortAddresses: ['192.168.1.10'],
  localAddresses: new Set(['192.168.1.10']),
});
const sorted = (l: readonly string[]) => [...l].sort();

test('categorize: the cluster and local sets of kube-proxy\'s TestCategorizeEndpoints', () => {
  for (const c of CASES) {
    const eps = collectEndpoints([compactSlice(sliceOf(c))], '', 'tcp', 'inet', NODE, new Warnings());
    const cat = categorize(eps, c.zone || undefined, NODE);
    // kube-proxy leaves a set nil when the Service never uses it; kipvs computes both and uses what applies.
    if (c.cluster) assert.deepEqual(sorted(cat.cluster.map((e) => e.address)), sorted(c.cluster), `${c.name}: cluster`);
    if (c.local) assert.deepEqual(sorted(cat.local.map((e) => e.address)), sorted(c.local), `${c.name}: local`);
  }
});

test('IPVS real servers: what kube-proxy\'s syncEndpoint gives the ClusterIP and the node port, from those sets', () => {
  for (const c of CASES) {
    const sd = computeService(serviceOf(c), [sliceOf(c)], ctx(c.zone));
    const servers = (key: string) => {
      const vs = sd.virtualServices.get(key);
      assert.ok(vs, `${c.name}: no virtual service ${key}`);
      return sorted([...vs.servers.values()].map((s) => s.address));
    };
    const cluster = c.cluster ?? [];
    const local = c.local ?? [];
    // syncEndpoint: onlyNodeLocalEndpoints → the local set, or else the cluster set (nil when the Service
    // never uses cluster endpoints: internal-only under internalTrafficPolicy Local).
    const wantClusterIP = c.iLocal ? (local.length > 0 ? local : cluster) : cluster;
    assert.deepEqual(servers('inet/tcp/10.96.7.1/80'), sorted(wantClusterIP), `${c.name}: ClusterIP`);
    if (c.nodePort) {
      const wantNodePort = c.eLocal ? (local.length > 0 ? local : cluster) : cluster;
      assert.deepEqual(servers('inet/tcp/192.168.1.10/30080'), sorted(wantNodePort), `${c.name}: NodePort`);
    }
  }
});

test('internalTrafficPolicy Local without local endpoints: all endpoints when reachable from outside, none otherwise', () => {
  const remote: Case = { name: 'remote', iLocal: true, eps: [{ ip: '10.0.0.7', ready: true }], cluster: null, local: [] };
  const internalOnly = computeService(serviceOf(remote), [sliceOf(remote)], ctx(undefined));
  assert.deepEqual([...internalOnly.virtualServices.get('inet/tcp/10.96.7.1/80')!.servers.keys()], []);
  const withNodePort = computeService(serviceOf({ ...remote, nodePort: true }), [sliceOf(remote)], ctx(undefined));
  const vs = withNodePort.virtualServices.get('inet/tcp/10.96.7.1/80')!;
  assert.deepEqual([...vs.servers.values()].map((s) => s.address), ['10.0.0.7']);
  assert.equal(vs.origin.trafficPolicy, 'Local');
  assert.ok(vs.origin.notes.some((n) => /reachable from outside/.test(n)), vs.origin.notes.join('; '));
});

test('hints need no annotation, and a zone label change recomputes only Services with zone-hinted endpoints', async () => {
  const { ProxyModel } = await import('../../src/model/index.js');
  const m = new ProxyModel({ scheduler: '', nodeName: NODE, families: ['inet'] });
  const hinted: Case = { name: 'h', eps: [z('10.0.0.1', 'zone-a'), z('10.0.0.2', 'zone-b')], cluster: null, local: null };
  const plain: Case = { name: 'p', eps: [{ ip: '10.0.0.3', ready: true }], cluster: null, local: null };
  m.upsertService(serviceOf(hinted));
  m.upsertEndpointSlice(sliceOf(hinted));
  const other = serviceOf(plain);
  other.metadata!.name = 'plain';
  other.spec!.clusterIP = '10.96.7.2'; other.spec!.clusterIPs = ['10.96.7.2'];
  const otherSlice = sliceOf(plain);
  otherSlice.metadata!.name = 'plain-1'; otherSlice.metadata!.labels = { 'kubernetes.io/service-name': 'plain' };
  m.upsertService(other);
  m.upsertEndpointSlice(otherSlice);
  m.commit();
  m.setNode({ metadata: { name: NODE, labels: { 'topology.kubernetes.io/zone': 'zone-b' } } });
  assert.equal(m.pending(), 1);
  assert.deepEqual(m.commit().changedServices, ['default/topo']);
  const vs = m.service('default', 'topo')!.virtualServices.get('inet/tcp/10.96.7.1/80')!;
  assert.deepEqual([...vs.servers.values()].map((s) => s.address), ['10.0.0.2']);
  assert.equal(vs.origin.topologyZone, 'zone-b');
});
