// fast-check generators of Kubernetes objects as a source could hand them over: mostly well-formed
// Services, EndpointSlices and Nodes drawn from small pools (so that they meet: slices find their
// Services, Services share VIPs and node ports), then malformed by mutations that put a bad value at a
// field the model reads. Each mutation knows the field a warning must name. Values are JSON values
// only: what a YAML/JSON file or an API server can produce.
import fc from 'fast-check';
import { isIP } from 'node:net';
import type { V1Service, V1EndpointSlice, V1Node } from '@kubernetes/client-node';

export const NAMESPACES = ['default', 'team-a', 'team-b'] as const;
export const SERVICE_NAMES = ['web', 'db', 'api', 'cache', 'dns'] as const;
/** Cluster IPs the random Services share, so that some of them claim one VIP. */
export const CLUSTER_IPS = ['10.96.0.1', '10.96.0.2', '10.96.0.3', 'fd00::1', 'fd00::2'] as const;
export const NODE_NAME = 'node-a';

/** Text that must never be taken for a name, an address or a protocol. */
export const HOSTILE_TEXT = [
  '', ' ', 'a b', 'x"y', "x'y", 'x\ny', 'x\r\ny', '\n*nat\n-A KUBE-SERVICES -j ACCEPT\nCOMMIT\n', 'COMMIT', '#comment', 'a\\', '\\"',
  'é', 'ünïcödé', '名前', '\u202e', '\u0000', '-j ACCEPT', '--comment', 'A'.repeat(300), 'constructor', '__proto__', 'toString',
  'hasOwnProperty', 'TCP ', 'tcp', 'ICMP', 'IPv5', '999.1.1.1', '10.0.0', '10.0.0.1/32', 'fe80::1%eth0', '::g', '01.2.3.4', 'None',
] as const;

/** JSON values of every type, including objects whose keys shadow Object's methods. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<unknown>(...HOSTILE_TEXT, null, true, false, 0, -1, 1.5, 65536, 1e300, [], {}) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>({ toString: 1 }, { valueOf: {} }, { toString: 'x', valueOf: 'y' }, ['10.0.0.1'], [[]], { name: 'x' }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
);

const ipv4 = fc.oneof(fc.constantFrom('10.96.0.1', '10.96.0.2', '192.0.2.1', '198.51.100.7'), fc.ipV4());
const port = fc.integer({ min: 1, max: 65535 });
const smallPort = fc.constantFrom(53, 80, 443, 8080);
const protocol = fc.constantFrom('TCP', 'UDP', 'SCTP', undefined);
const portName = fc.constantFrom('', 'http', 'https', 'dns');

export const wellFormedService: fc.Arbitrary<V1Service> = fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom(...SERVICE_NAMES),
  type: fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer', undefined),
  clusterIP: fc.constantFrom(...CLUSTER_IPS),
  ports: fc.uniqueArray(fc.record({ name: portName, port: smallPort, protocol, nodePort: fc.option(fc.integer({ min: 30000, max: 30005 }), { nil: undefined }) }), { maxLength: 3, selector: (p) => p.name }),
  externalIPs: fc.array(ipv4, { maxLength: 2 }),
  affinity: fc.boolean(),
  timeout: fc.option(fc.integer({ min: 1, max: 86400 }), { nil: undefined }),
  eLocal: fc.boolean(),
  iLocal: fc.boolean(),
  ingress: fc.array(ipv4, { maxLength: 2 }),
  ranges: fc.array(fc.constantFrom('192.0.2.0/24', '0.0.0.0/0', '10.0.0.0/8'), { maxLength: 2 }),
  created: fc.option(fc.integer({ min: 1_600_000_000, max: 1_700_000_000 }), { nil: undefined }),
}).map((r) => {
  const multi = r.ports.length > 1;
  const s: V1Service = {
    metadata: { namespace: r.ns, name: r.name, ...(r.created ? { creationTimestamp: new Date(r.created * 1000).toISOString() as unknown as Date } : {}) },
    spec: {
      clusterIP: r.clusterIP,
      ports: r.ports.map((p, i) => ({
        ...(multi ? { name: p.name || `p${i}` } : p.name ? { name: p.name } : {}),
        port: p.port, ...(p.protocol ? { protocol: p.protocol } : {}),
        ...(r.type === 'NodePort' || r.type === 'LoadBalancer' ? (p.nodePort ? { nodePort: p.nodePort } : {}) : {}),
      })),
    },
  };
  const spec = s.spec!;
  if (r.type) spec.type = r.type;
  if (r.externalIPs.length) spec.externalIPs = r.externalIPs;
  if (r.affinity) {
    spec.sessionAffinity = 'ClientIP';
    if (r.timeout) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: r.timeout } };
  }
  if (r.eLocal && r.type === 'LoadBalancer') {
    spec.externalTrafficPolicy = 'Local';
    spec.healthCheckNodePort = 32000;
  }
  if (r.iLocal) spec.internalTrafficPolicy = 'Local';
  if (r.type === 'LoadBalancer') {
    if (r.ranges.length) spec.loadBalancerSourceRanges = r.ranges;
    if (r.ingress.length) s.status = { loadBalancer: { ingress: r.ingress.map((ip) => ({ ip })) } };
  }
  return s;
});

export const wellFormedSlice: fc.Arbitrary<V1EndpointSlice> = fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  service: fc.constantFrom(...SERVICE_NAMES),
  suffix: fc.constantFrom('a', 'b', 'c'),
  v6: fc.boolean(),
  ports: fc.array(fc.record({ name: portName, port, protocol }), { maxLength: 3 }),
  endpoints: fc.array(fc.record({
    host: fc.integer({ min: 1, max: 20 }),
    ready: fc.option(fc.boolean(), { nil: undefined }),
    serving: fc.option(fc.boolean(), { nil: undefined }),
    terminating: fc.option(fc.boolean(), { nil: undefined }),
    node: fc.constantFrom(NODE_NAME, 'node-b', undefined),
    zones: fc.option(fc.array(fc.constantFrom('z1', 'z2'), { minLength: 1, maxLength: 2 }), { nil: undefined }),
  }), { maxLength: 5 }),
}).map((r) => ({
  metadata: { namespace: r.ns, name: `${r.service}-${r.suffix}`, labels: { 'kubernetes.io/service-name': r.service } },
  addressType: r.v6 ? 'IPv6' : 'IPv4',
  ports: r.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, ...(p.protocol ? { protocol: p.protocol } : {}) })),
  endpoints: r.endpoints.map((e) => ({
    addresses: [r.v6 ? `fd01::${e.host}` : `10.1.0.${e.host}`],
    conditions: { ...(e.ready !== undefined ? { ready: e.ready } : {}), ...(e.serving !== undefined ? { serving: e.serving } : {}), ...(e.terminating !== undefined ? { terminating: e.terminating } : {}) },
    ...(e.node ? { nodeName: e.node } : {}),
    ...(e.zones ? { hints: { forZones: e.zones.map((name) => ({ name })) } } : {}),
  })),
}));

export const wellFormedNode: fc.Arbitrary<V1Node> = fc.record({
  zone: fc.constantFrom('z1', 'z2', undefined),
  addr: ipv4,
}).map((r): V1Node => ({
  metadata: { name: NODE_NAME, labels: r.zone ? { 'topology.kubernetes.io/zone': r.zone } : ({} as Record<string, string>) },
  spec: { podCIDRs: ['10.244.0.0/24'] },
  status: { addresses: [{ type: 'InternalIP', address: r.addr }] },
}));

/** Path segments: a string is a property, a number an index (clamped into the list when it exists). */
export type Path = readonly (string | number)[];

/** A copy of `obj` with `value` at `path` (intermediate objects made as needed). */
export function setAt<T>(obj: T, path: Path, value: unknown): T {
  const root = structuredClone(obj) as unknown;
  let cur = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!;
    const next = cur[k];
    if (typeof next !== 'object' || next === null) cur[k] = typeof path[i + 1] === 'number' ? [] : {};
    cur = cur[k] as Record<string | number, unknown>;
  }
  cur[path[path.length - 1]!] = value;
  return root as T;
}

/** A field whose bad value must give a warning naming it (`field` is a prefix of the warning's field). */
export interface Mutation {
  path: Path;
  value: unknown;
  field: string;
}

/** The field as the model names it: spec.ports[1].port, metadata.annotations[kipvs.io/scheduler]. */
export const pathText = (p: Path): string => p.map((k, i) => (typeof k === 'number' || /[./]/.test(k) ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
const mutation = (path: Path, value: fc.Arbitrary<unknown>, field = pathText(path)): fc.Arbitrary<Mutation> => value.map((v) => ({ path, value: v, field }));
const notOneOf = (ok: readonly unknown[]) => anyJson.filter((v) => !ok.some((o) => o === v) && v !== null && v !== undefined);
/** Not an IP address by node's own parser (an oracle independent of kipvs'); zones ("%eth0") are not addresses either. */
const badIp = anyJson.filter((v) => !(typeof v === 'string' && isIP(v) !== 0 && !v.includes('%')) && v !== null && v !== '' && v !== 'None');
const badPort = anyJson.filter((v) => !(typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535) && v !== null);
const badList = anyJson.filter((v) => !Array.isArray(v) && v !== null);
const badObject = anyJson.filter((v) => (typeof v !== 'object' || Array.isArray(v)) && v !== null);
const badString = anyJson.filter((v) => typeof v !== 'string' && v !== null);
const badName = anyJson.filter((v) => !(typeof v === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) && v.length <= 63) && v !== null);
const badNodePort = badPort.filter((v) => v !== 0);

/**
 * Bad values at the fields of a Service the model reads. The Service must be one whose every part is
 * read: a LoadBalancer with eTP Local, ClientIP affinity, two ports, an external IP and ingress IPs.
 */
export const serviceMutation: fc.Arbitrary<Mutation> = fc.oneof(
  mutation(['metadata', 'name'], badName),
  mutation(['metadata', 'namespace'], badName),
  mutation(['spec'], badObject),
  mutation(['spec', 'type'], notOneOf(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'])),
  mutation(['spec', 'clusterIP'], badIp),
  mutation(['spec', 'ports'], badList),
  mutation(['spec', 'ports', 1], badObject),
  mutation(['spec', 'ports', 1, 'name'], badName.filter((v) => v !== '')),
  mutation(['spec', 'ports', 1, 'port'], badPort),
  mutation(['spec', 'ports', 1, 'protocol'], notOneOf(['TCP', 'UDP', 'SCTP'])),
  mutation(['spec', 'ports', 1, 'nodePort'], badNodePort),
  mutation(['spec', 'externalIPs'], badList),
  mutation(['spec', 'externalIPs', 0], badIp),
  mutation(['spec', 'loadBalancerSourceRanges', 0], anyJson.filter((v) => v !== null && !(typeof v === 'string' && /\/\d+$/.test(v)))),
  mutation(['spec', 'sessionAffinity'], notOneOf(['None', 'ClientIP'])),
  mutation(['spec', 'sessionAffinityConfig', 'clientIP', 'timeoutSeconds'], anyJson.filter((v) => v !== null && !(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 86400))),
  mutation(['spec', 'externalTrafficPolicy'], notOneOf(['Cluster', 'Local'])),
  mutation(['spec', 'internalTrafficPolicy'], notOneOf(['Cluster', 'Local'])),
  mutation(['spec', 'healthCheckNodePort'], badPort.filter((v) => !!v)),
  mutation(['metadata', 'annotations', 'kipvs.io/scheduler'], notOneOf(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'])),
  mutation(['status', 'loadBalancer', 'ingress', 0, 'ip'], badIp),
  mutation(['status', 'loadBalancer', 'ingress', 0], badObject),
);

/** A Service every field of which the model reads (see serviceMutation). */
export const FULL_SERVICE: V1Service = {
  metadata: { namespace: 'team-a', name: 'full' },
  spec: {
    type: 'LoadBalancer', clusterIP: '10.96.5.5', externalTrafficPolicy: 'Local', healthCheckNodePort: 32100,
    internalTrafficPolicy: 'Cluster', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
    externalIPs: ['198.51.100.50'], loadBalancerSourceRanges: ['192.0.2.0/24'],
    ports: [{ name: 'http', port: 80, nodePort: 30100 }, { name: 'https', port: 443, nodePort: 30101 }],
  },
  status: { loadBalancer: { ingress: [{ ip: '203.0.113.50' }] } },
};

/** A slice of FULL_SERVICE every field of which the model reads. */
export const FULL_SLICE: V1EndpointSlice = {
  metadata: { namespace: 'team-a', name: 'full-x', labels: { 'kubernetes.io/service-name': 'full' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080 }, { name: 'https', port: 8443 }],
  endpoints: [
    { addresses: ['10.2.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: NODE_NAME, zone: 'z1', hints: { forZones: [{ name: 'z1' }] }, targetRef: { kind: 'Pod', name: 'p1', namespace: 'team-a' } },
    { addresses: ['10.2.0.2'], conditions: { ready: true }, nodeName: 'node-b', zone: 'z1', hints: { forZones: [{ name: 'z1' }] } },
  ],
};

export const sliceMutation: fc.Arbitrary<Mutation> = fc.oneof(
  mutation(['metadata', 'name'], anyJson.filter((v) => v !== null && !(typeof v === 'string' && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v)))),
  mutation(['addressType'], notOneOf(['IPv4', 'IPv6', 'FQDN'])),
  mutation(['endpoints'], badList),
  mutation(['endpoints', 1], badObject),
  mutation(['endpoints', 1, 'addresses'], anyJson.filter((v) => v !== null && !(Array.isArray(v) && v.length > 0 && typeof v[0] === 'string' && isIP(v[0]) === 4))),
  mutation(['endpoints', 1, 'addresses', 0], badIp),
  mutation(['endpoints', 1, 'conditions'], badObject),
  mutation(['endpoints', 1, 'conditions', 'ready'], anyJson.filter((v) => typeof v !== 'boolean' && v !== null)),
  mutation(['endpoints', 1, 'conditions', 'serving'], anyJson.filter((v) => typeof v !== 'boolean' && v !== null)),
  mutation(['endpoints', 1, 'nodeName'], badString),
  mutation(['endpoints', 1, 'hints'], badObject),
  mutation(['endpoints', 1, 'hints', 'forZones'], badList),
  mutation(['ports'], badList),
  mutation(['ports', 1], badObject),
  mutation(['ports', 1, 'port'], badPort),
  mutation(['ports', 1, 'protocol'], notOneOf(['TCP', 'UDP', 'SCTP'])),
);

/** Anything at all at a random path of a well-formed object: wrong types, deep garbage, huge values. */
export function scrambled<T>(base: fc.Arbitrary<T>, paths: readonly Path[]): fc.Arbitrary<T> {
  return fc.tuple(base, fc.array(fc.tuple(fc.constantFrom(...paths), anyJson), { maxLength: 3 }))
    .map(([obj, muts]) => muts.reduce((o, [p, v]) => setAt(o, p, v), obj));
}

export const SERVICE_PATHS: Path[] = [
  ['metadata'], ['metadata', 'labels'], ['metadata', 'annotations'], ['metadata', 'creationTimestamp'], ['spec'], ['spec', 'type'], ['spec', 'clusterIP'],
  ['spec', 'clusterIPs'], ['spec', 'clusterIPs', 0], ['spec', 'ports'], ['spec', 'ports', 0], ['spec', 'ports', 0, 'port'],
  ['spec', 'ports', 0, 'name'], ['spec', 'ports', 0, 'protocol'], ['spec', 'ports', 0, 'nodePort'], ['spec', 'externalIPs'],
  ['spec', 'sessionAffinityConfig'], ['spec', 'loadBalancerSourceRanges'], ['status'], ['status', 'loadBalancer', 'ingress'],
];
export const SLICE_PATHS: Path[] = [
  ['metadata'], ['metadata', 'labels'], ['addressType'], ['ports'], ['ports', 0], ['ports', 0, 'name'], ['endpoints'], ['endpoints', 0],
  ['endpoints', 0, 'addresses'], ['endpoints', 0, 'conditions'], ['endpoints', 0, 'hints'], ['endpoints', 0, 'hints', 'forZones'],
  ['endpoints', 0, 'targetRef'], ['endpoints', 0, 'zone'],
];
export const NODE_PATHS: Path[] = [
  ['metadata'], ['metadata', 'labels'], ['metadata', 'labels', 'topology.kubernetes.io/zone'], ['spec'], ['spec', 'podCIDRs'],
  ['spec', 'podCIDR'], ['spec', 'taints'], ['status'], ['status', 'addresses'], ['status', 'addresses', 0],
];

export type Obj = { kind: 'Service'; obj: V1Service } | { kind: 'EndpointSlice'; obj: V1EndpointSlice } | { kind: 'Node'; obj: V1Node };

/** A random mix of Services, slices and Nodes, some well-formed, some scrambled. */
export const objectMix: fc.Arbitrary<Obj[]> = fc.array(fc.oneof(
  { weight: 3, arbitrary: wellFormedService.map((obj): Obj => ({ kind: 'Service', obj })) },
  { weight: 2, arbitrary: scrambled(wellFormedService, SERVICE_PATHS).map((obj): Obj => ({ kind: 'Service', obj })) },
  { weight: 3, arbitrary: wellFormedSlice.map((obj): Obj => ({ kind: 'EndpointSlice', obj })) },
  { weight: 2, arbitrary: scrambled(wellFormedSlice, SLICE_PATHS).map((obj): Obj => ({ kind: 'EndpointSlice', obj })) },
  { weight: 1, arbitrary: scrambled(wellFormedNode, NODE_PATHS).map((obj): Obj => ({ kind: 'Node', obj })) },
), { maxLength: 25 });
