// Property-based tests (fast-check) of the model against random and malformed input: whatever the
// Services, EndpointSlices and Nodes, the model never throws; every malformed field gives a warning
// naming the object and the field; a well-formed Service is programmed the same whatever else is there;
// Services claiming one virtual service are resolved the same whatever the order they arrive in.
// Generators: arbitraries.ts. A failure prints fast-check's seed and the shrunk counterexample.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { V1Service, V1EndpointSlice, V1Node } from '@kubernetes/client-node';
import { ProxyModel } from '../../src/model/index.js';
import { nodePodCIDRs, nodePrimaryIPs } from '../../src/model/nodeports.js';
import { nodeEligible } from '../../src/agent/health.js';
import { feedModel } from '../../src/agent/feed.js';
import { renderIptablesMode } from '../../src/backends/iptables/render.js';
import type { Kind, KubeObject } from '../../src/sources/types.js';
import {
  objectMix, serviceMutation, sliceMutation, setAt, wellFormedService, FULL_SERVICE, FULL_SLICE, NODE_NAME, NODE_PATHS,
  wellFormedNode, scrambled, NAMESPACES, anyJson, pathText, type Obj,
} from './arbitraries.js';

// Runs per property: enough to meet every mutation several times in a few seconds; raise it to search harder.
const RUNS = Number(process.env.KIPVS_PROPERTY_RUNS ?? 100);

function newModel(backend: 'ipvs' | 'iptables' = 'ipvs'): ProxyModel {
  const m = new ProxyModel({ scheduler: '', nodeName: NODE_NAME, families: ['inet', 'inet6'], backend });
  m.setNodeAddresses(['192.168.1.10', 'fd02::10'], ['192.168.1.10', 'fd02::10', '127.0.0.1']);
  return m;
}

/** Reads everything a consumer of the model reads (the agent, `kipvs list`/`explain`, the state socket). */
function readAll(m: ProxyModel): void {
  const warnings = m.warnings();
  JSON.stringify(warnings);
  for (const w of warnings) {
    assert.equal(typeof w.object, 'string');
    assert.equal(typeof w.field, 'string');
    assert.equal(typeof w.message, 'string');
    assert.match(w.object, /^(Service|EndpointSlice|Node)( |$)/, `a warning names its object: ${JSON.stringify(w)}`);
  }
  for (const sd of m.services()) {
    JSON.stringify([...sd.addresses]);
    JSON.stringify(sd.ports);
    for (const vs of sd.virtualServices.values()) {
      const endpoints = [...vs.endpoints.values()];
      JSON.stringify(endpoints);
      // The local ones (KUBE-LOOP-BACK's) are those `endpoints` marks local, found however they are.
      assert.deepEqual(vs.localEndpoints().map((e) => `${e.address}/${e.port}`), endpoints.filter((e) => e.local).map((e) => `${e.address}/${e.port}`));
    }
  }
  m.healthCheckNodePorts();
  [...m.ipsetEntries()];
  m.nonEmptyIpsets('inet');
}

function feed(m: ProxyModel, o: Obj, removed = false): void {
  feedModel(m, NODE_NAME, o.kind as Kind, o.obj as KubeObject, removed);
}

/** The model's kept count of real servers, checked against a walk of the desired state. */
function checkServerCount(m: ProxyModel): number {
  let walked = 0;
  for (const d of m.desired.services.values()) walked += d.servers.size;
  assert.equal(m.realServerCount, walked, 'realServerCount follows the desired state');
  return walked;
}

test('property: no mix of random and malformed Services, EndpointSlices and Nodes makes the model throw (both backends)', () => {
  fc.assert(fc.property(objectMix, fc.array(fc.boolean(), { maxLength: 25 }), fc.constantFrom('ipvs' as const, 'iptables' as const), (objs, commitAfter, backend) => {
    const m = newModel(backend);
    objs.forEach((o, i) => {
      feed(m, o);
      if (o.kind === 'Node') {
        nodePrimaryIPs(o.obj);
        nodePodCIDRs(o.obj);
        nodeEligible(o.obj as Parameters<typeof nodeEligible>[0]);
      }
      if (commitAfter[i]) { m.commit(); checkServerCount(m); }
    });
    m.commit();
    checkServerCount(m);
    readAll(m);
    if (backend === 'iptables') {
      for (const family of ['inet', 'inet6'] as const) renderIptablesMode({ family, ports: [...m.services()].flatMap((s) => s.ports) });
    }
    // Removing everything again leaves nothing programmed.
    for (const o of objs) feed(m, o, true);
    m.setNode(undefined);
    m.commit();
    readAll(m);
    assert.equal(m.desired.services.size, 0);
    assert.equal(m.desired.boundAddresses.size, 0);
    assert.equal(m.realServerCount, 0);
  }), { numRuns: RUNS });
});

test('property: a malformed field of a Service gives a warning naming the Service and the field', () => {
  fc.assert(fc.property(serviceMutation, (mut) => {
    const m = newModel();
    const svc = setAt(FULL_SERVICE, mut.path, mut.value);
    m.upsertService(svc);
    m.upsertEndpointSlice(FULL_SLICE);
    const changes = m.commit();
    readAll(m);
    const renamed = mut.path[0] === 'metadata' && (mut.path[1] === 'name' || mut.path[1] === 'namespace');
    const hit = m.warnings().find((w) => (renamed ? w.object.startsWith('Service ') : w.object === 'Service team-a/full') && w.field.startsWith(mut.field));
    assert.ok(hit, `no warning for ${mut.field} = ${JSON.stringify(mut.value)}; got ${JSON.stringify(m.warnings())}`);
    assert.ok(changes.warnings.some((w) => w.field === hit.field), 'the commit reports it too');
  }), { numRuns: RUNS * 2 });
});

test('property: a malformed field of an EndpointSlice gives a warning naming the slice and the field', () => {
  fc.assert(fc.property(sliceMutation, (mut) => {
    const m = newModel();
    m.upsertService(FULL_SERVICE);
    m.upsertEndpointSlice(setAt(FULL_SLICE, mut.path, mut.value));
    m.commit();
    readAll(m);
    const renamed = mut.path[0] === 'metadata';
    const hit = m.warnings().find((w) => (renamed ? w.object.startsWith('EndpointSlice team-a/') : w.object === 'EndpointSlice team-a/full-x') && w.field.startsWith(mut.field));
    assert.ok(hit, `no warning for ${mut.field} = ${JSON.stringify(mut.value)}; got ${JSON.stringify(m.warnings())}`);
  }), { numRuns: RUNS * 2 });
});

const nodeMutation = fc.oneof(
  fc.tuple(fc.constant(['spec', 'podCIDRs'] as const), anyJson.filter((v) => !Array.isArray(v) && v !== null)),
  fc.tuple(fc.constant(['spec', 'podCIDRs', 0] as const), anyJson.filter((v) => v !== null && !(typeof v === 'string' && /^[0-9a-f.:]+\/\d+$/.test(v)))),
  fc.tuple(fc.constant(['status', 'addresses'] as const), anyJson.filter((v) => !Array.isArray(v) && v !== null)),
  fc.tuple(fc.constant(['status', 'addresses', 0] as const), anyJson.filter((v) => v !== null && !(typeof v === 'object' && !Array.isArray(v) && typeof (v as { type?: unknown }).type === 'string' && typeof (v as { address?: unknown }).address === 'string'))),
  fc.tuple(fc.constant(['metadata', 'labels'] as const), anyJson.filter((v) => v !== null && (typeof v !== 'object' || Array.isArray(v)))),
  fc.tuple(fc.constant(['metadata', 'labels', 'topology.kubernetes.io/zone'] as const), anyJson.filter((v) => v !== null && typeof v !== 'string')),
  fc.tuple(fc.constant(['spec', 'taints'] as const), anyJson.filter((v) => v !== null && !(Array.isArray(v) && v.every((t) => typeof t === 'object' && t !== null && !Array.isArray(t))))),
);

test('property: a malformed Node never throws in the model or the agent\'s readers, and gives a warning naming the field', () => {
  fc.assert(fc.property(wellFormedNode, nodeMutation, (base, [path, value]) => {
    const node = setAt(base, path, value) as V1Node;
    const m = newModel();
    m.setNode(node);
    nodePrimaryIPs(node);
    nodePodCIDRs(node);
    nodeEligible(node as Parameters<typeof nodeEligible>[0]);
    const changes = m.commit();
    const field = pathText(path);
    const hit = changes.warnings.find((w) => w.object === `Node ${NODE_NAME}` && w.field.startsWith(field));
    assert.ok(hit, `no warning for ${field} = ${JSON.stringify(value)}; got ${JSON.stringify(changes.warnings)}`);
    assert.ok(m.warnings().includes(hit), 'the standing warnings keep it');
  }), { numRuns: RUNS });
  fc.assert(fc.property(scrambled(wellFormedNode, NODE_PATHS), (node) => {
    const m = newModel();
    m.setNode(node);
    nodePrimaryIPs(node);
    nodePodCIDRs(node);
    nodeEligible(node as Parameters<typeof nodeEligible>[0]);
    m.commit();
    readAll(m);
  }), { numRuns: RUNS });
});

/** A well-formed Service in a namespace the random objects never use, on addresses and ports they never use. */
const FIXED: V1Service = {
  metadata: { namespace: 'fixed', name: 'web' },
  spec: { type: 'NodePort', clusterIP: '10.200.0.1', externalIPs: ['198.51.100.200'], ports: [{ name: 'http', port: 80, nodePort: 31999 }, { name: 'dns', port: 53, protocol: 'UDP' }] },
};
const FIXED_SLICE: V1EndpointSlice = {
  metadata: { namespace: 'fixed', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }],
  endpoints: [{ addresses: ['10.3.0.1'], conditions: { ready: true }, nodeName: NODE_NAME }, { addresses: ['10.3.0.2'] }],
};

/** The fixed Service's virtual services as programmed: key → settings and sorted real servers. */
function programmed(m: ProxyModel): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const key of m.service('fixed', 'web')?.virtualServices.keys() ?? []) {
    const d = m.desired.services.get(key);
    out.set(key, d && { service: d.service, servers: [...d.servers.entries()].sort() });
  }
  return out;
}

test('property: a well-formed Service is programmed exactly as alone, whatever random and malformed objects surround it', () => {
  const alone = newModel();
  alone.upsertService(FIXED);
  alone.upsertEndpointSlice(FIXED_SLICE);
  alone.commit();
  const want = programmed(alone);
  assert.equal(want.size, 5, 'http: ClusterIP, externalIP, NodePort on the IPv4 node address; dns: ClusterIP, externalIP');
  fc.assert(fc.property(objectMix, objectMix, fc.boolean(), (before, after, commitBetween) => {
    const m = newModel();
    for (const o of before) feed(m, o);
    if (commitBetween) m.commit();
    m.upsertService(FIXED);
    m.upsertEndpointSlice(FIXED_SLICE);
    for (const o of after) feed(m, o);
    m.commit();
    assert.deepEqual(programmed(m), want);
    assert.deepEqual(m.warnings().filter((w) => w.object.includes('fixed/')), [], 'no warning about the well-formed Service');
  }), { numRuns: RUNS });
});

test('property: Services claiming one virtual service are resolved the same in any order of arrival, the oldest winning, with a warning for the others', () => {
  const services = fc.uniqueArray(wellFormedService, { minLength: 2, maxLength: 6, selector: (s) => `${s.metadata!.namespace}/${s.metadata!.name}` });
  fc.assert(fc.property(services, fc.infiniteStream(fc.boolean()), (list, commits) => {
    const run = (order: V1Service[]) => {
      const m = newModel();
      for (const s of order) {
        m.upsertService(s);
        if (commits.next().value) { m.commit(); checkServerCount(m); }
      }
      m.commit();
      checkServerCount(m);
      return m;
    };
    const a = run(list);
    const b = run([...list].reverse());
    const view = (m: ProxyModel) => [...m.desired.services.entries()].map(([k, d]) => [k, m.originOf(k)?.origin.service, d.service, [...d.servers.keys()]]).sort();
    assert.deepEqual(view(a), view(b));
    const created = (s: V1Service) => {
      const t = s.metadata?.creationTimestamp as unknown as string | undefined;
      return t === undefined ? Infinity : Date.parse(t);
    };
    const name = (s: V1Service) => `${s.metadata!.namespace}/${s.metadata!.name}`;
    for (const [key] of a.desired.services) {
      const claimants = list.filter((s) => a.service(s.metadata!.namespace!, s.metadata!.name!)?.virtualServices.has(key));
      const oldest = [...claimants].sort((x, y) => created(x) - created(y) || (name(x) < name(y) ? -1 : 1))[0]!;
      assert.equal(a.originOf(key)?.origin.service, name(oldest), `${key} belongs to the oldest claimant`);
      for (const s of claimants) {
        if (s === oldest) continue;
        assert.ok(a.warnings().some((w) => w.object === `Service ${name(s)}` && w.message.includes(key)), `a warning for ${name(s)} losing ${key}`);
      }
    }
  }), { numRuns: RUNS });
});

test('size bounds: a slice of a million endpoints, a Service of 100,000 ports or 10,000 external IPs is refused with a warning naming the field, quickly; the rest is programmed', () => {
  const m = newModel();
  m.upsertService(FIXED);
  m.upsertEndpointSlice(FIXED_SLICE);
  const ep = { addresses: ['10.3.0.9'], conditions: { ready: true } };
  const t0 = performance.now();
  m.upsertEndpointSlice({ ...FIXED_SLICE, metadata: { ...FIXED_SLICE.metadata, name: 'web-huge' }, endpoints: new Array(1_000_000).fill(ep) });
  m.upsertService({ metadata: { namespace: 'team-a', name: 'many-ports' }, spec: { clusterIP: '10.96.7.1', ports: Array.from({ length: 100_000 }, (_, i) => ({ name: `p${i}`, port: (i % 65535) + 1 })) } });
  m.upsertService({ metadata: { namespace: 'team-a', name: 'many-ips' }, spec: { clusterIP: '10.96.7.2', ports: [{ port: 80 }], externalIPs: Array.from({ length: 10_000 }, (_, i) => `198.18.${i >> 8}.${i & 255}`) } });
  m.commit();
  const ms = performance.now() - t0;
  const w = m.warnings();
  assert.ok(w.some((x) => x.object === 'EndpointSlice fixed/web-huge' && x.field === 'endpoints' && /1000000 entries, more than the limit of 1000/.test(x.message)), JSON.stringify(w));
  assert.ok(w.some((x) => x.object === 'Service team-a/many-ports' && x.field === 'spec.ports' && /100000 entries/.test(x.message)));
  assert.ok(w.some((x) => x.object === 'Service team-a/many-ips' && x.field === 'spec.externalIPs' && /10000 entries/.test(x.message)));
  assert.equal(m.service('team-a', 'many-ports')?.virtualServices.size, 0);
  assert.equal(m.service('team-a', 'many-ips')?.virtualServices.size, 0);
  // The well-formed slice of the same Service still serves it; the huge one adds nothing.
  assert.deepEqual([...m.desired.services.get('inet/tcp/10.200.0.1/80')!.servers.keys()].sort(), ['10.3.0.1/8080', '10.3.0.2/8080']);
  assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms, without packing the endpoints`);
});

test('property: the kept count of real servers equals a walk of the desired state, through claims, releases and deletions', () => {
  // Services of a few names in a few namespaces over a few cluster IPs (so some claim one virtual
  // service), slices that match them, random deletions and commits.
  const op = fc.record({
    kind: fc.constantFrom('Service' as const, 'EndpointSlice' as const),
    ns: fc.constantFrom(...NAMESPACES),
    name: fc.constantFrom('web', 'db'),
    ip: fc.constantFrom('10.96.0.1', '10.96.0.2'),
    hosts: fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { maxLength: 6 }),
    created: fc.integer({ min: 1, max: 5 }),
    remove: fc.nat({ max: 4 }).map((n) => n === 0),
    commit: fc.boolean(),
  });
  let nonzero = 0;
  fc.assert(fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
    const m = newModel();
    for (const o of ops) {
      const obj: KubeObject = o.kind === 'Service'
        ? { metadata: { namespace: o.ns, name: o.name, creationTimestamp: `2024-01-0${o.created}T00:00:00Z` }, spec: { clusterIP: o.ip, ports: [{ port: 80 }] } } as unknown as KubeObject
        : { metadata: { namespace: o.ns, name: `${o.name}-a`, labels: { 'kubernetes.io/service-name': o.name } }, addressType: 'IPv4', ports: [{ port: 8080 }],
            endpoints: o.hosts.map((h) => ({ addresses: [`10.1.0.${h}`], conditions: {} })) } as KubeObject;
      feedModel(m, NODE_NAME, o.kind, obj, o.remove);
      if (o.commit) { m.commit(); if (checkServerCount(m) > 0) nonzero++; }
    }
    m.commit();
    if (checkServerCount(m) > 0) nonzero++;
  }), { numRuns: RUNS });
  assert.ok(nonzero >= RUNS / 4, `real servers were wanted in ${nonzero} of the checks`);
});
