// The model's retained heap and commit time at scale: N ClusterIP Services (one port 80 -> 8080) with one
// EndpointSlice of E ready endpoints each, as plain JSON objects (as client-node gives them).
// Build, then: node --expose-gc dist/scripts/bench-model.js [services=10000] [endpoints=10]
// warmCommitMs / warmComputeAloneMs: a commit, and the computing of its Services alone (the rest is bookkeeping).
import type { V1Service, V1EndpointSlice } from '@kubernetes/client-node';
import { ProxyModel } from '../src/model/model.js';
import { computeCompact } from '../src/model/compute.js';
import { compactService, compactSlice, type CompactSlice } from '../src/model/compact.js';
import type { ModelConfig, ModelContext } from '../src/model/types.js';

const N = Number(process.argv[2] ?? 10000);
const E = Number(process.argv[3] ?? 10);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heapMB(): number {
  gc!(); gc!();
  return process.memoryUsage().heapUsed / 1048576;
}

function service(i: number): V1Service {
  return JSON.parse(JSON.stringify({
    metadata: { namespace: 'bench', name: `svc-${i}`, uid: `uid-svc-${i}`, resourceVersion: String(1000 + i), labels: { app: `app-${i}` } },
    spec: {
      type: 'ClusterIP', clusterIP: `10.96.${i >> 8}.${i & 255}`, clusterIPs: [`10.96.${i >> 8}.${i & 255}`],
      ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster',
      selector: { app: `app-${i}` }, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    },
    status: { loadBalancer: {} },
  })) as V1Service;
}

function slice(i: number, gen = 0): V1EndpointSlice {
  const endpoints = [];
  for (let j = 0; j < E; j++) {
    const n = i * E + j + gen;
    endpoints.push({
      addresses: [`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${n % 100}`,
      targetRef: { kind: 'Pod', namespace: 'bench', name: `svc-${i}-pod-${j}-${gen}`, uid: `uid-pod-${i}-${j}-${gen}` },
    });
  }
  return JSON.parse(JSON.stringify({
    metadata: {
      namespace: 'bench', name: `svc-${i}-abcde`, uid: `uid-slice-${i}`, resourceVersion: String(50000 + i + gen),
      labels: { 'kubernetes.io/service-name': `svc-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints,
  })) as V1EndpointSlice;
}

const base = heapMB();
/** The model's configuration and this node's address, for both models and the computation alone. */
const CONFIG: ModelConfig = { scheduler: '', nodeName: 'node-1', families: ['inet'] };
const NODE_IP = '192.168.0.1';
const model = new ProxyModel(CONFIG);
model.setNodeAddresses([NODE_IP], [NODE_IP]);
let fed: number;
{
  // The objects are dropped after feeding, as the informer's cache would be the only other holder.
  for (let i = 0; i < N; i++) {
    model.upsertService(service(i));
    model.upsertEndpointSlice(slice(i));
  }
  fed = heapMB() - base;
}
let t = performance.now();
const first = model.commit();
const commitMs = performance.now() - t;
const committed = heapMB() - base;

// A commit after one slice change: the median of 21, each on another Service.
const times: number[] = [];
let one = first;
for (let r = 0; r < 21; r++) {
  model.upsertEndpointSlice(slice((r * 7919) % N, 1));
  t = performance.now();
  one = model.commit();
  times.push(performance.now() - t);
}
const oneMs = times.sort((a, b) => a - b)[10]!;

// A few reads the agent does (state(), originOf), to check they work at this scale.
t = performance.now();
let eps = 0;
for (const s of model.services()) for (const vs of s.virtualServices.values()) eps += vs.endpoints.size;
const readMs = performance.now() - t;
const afterRead = heapMB() - base;

// Of a commit, how much is computing the Services and how much the model's own bookkeeping (claims,
// the desired map, VIP and ipset reference counts): a second model's first commit, and the same
// Services computed alone from compact copies, both with the code compiled by the runs above.
const again = new ProxyModel(CONFIG);
again.setNodeAddresses([NODE_IP], [NODE_IP]);
const inputs: [V1Service, CompactSlice[]][] = [];
for (let i = 0; i < N; i++) {
  again.upsertService(service(i));
  again.upsertEndpointSlice(slice(i));
  inputs.push([compactService(service(i)), [compactSlice(slice(i))]]);
}
heapMB();
t = performance.now();
again.commit();
const warmCommitMs = performance.now() - t;
const ctx: ModelContext = { config: CONFIG, nodePortAddresses: [NODE_IP], localAddresses: new Set([NODE_IP]) };
t = performance.now();
for (const [svc, slices] of inputs) computeCompact(svc, slices, ctx);
const computeAloneMs = performance.now() - t;

console.log(JSON.stringify({
  services: N, endpointsPerService: E,
  virtualServices: model.desired.services.size, changedKeysFirst: first.changedKeys.size, changedKeysOne: one.changedKeys.size,
  heapFedMB: +fed.toFixed(1), heapCommittedMB: +committed.toFixed(1), heapAfterReadingEndpointsMB: +afterRead.toFixed(1),
  firstCommitMs: Math.round(commitMs), oneSliceCommitMsMedian: +oneMs.toFixed(2), readAllEndpointsMs: Math.round(readMs), endpointsRead: eps,
  warmCommitMs: Math.round(warmCommitMs), warmComputeAloneMs: Math.round(computeAloneMs),
}, null, 1));
