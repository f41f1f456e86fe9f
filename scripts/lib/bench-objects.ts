// The Services and EndpointSlices the agent benchmarks feed, and the in-memory source that hands them
// over: Service i has a cluster IP from 10.96.0.0/12 and M endpoints 10.(128+j).x.y, one TCP port.
// Endpoints are spread over 100 nodes, as in a large cluster: one in 100 is on the benchmarked node
// (node-0) and so in KUBE-LOOP-BACK. (With a third local, as before, that set reached the kernel's
// default maxelem of 65,536 near 16,400 Services, which no real node's pod count comes near.)
import type { Source, SourceEvents, Kind, KubeObject } from '../../src/sources/types.js';

export const vip = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
export const podIP = (i: number, j: number) => `10.${128 + j}.${(i >> 8) & 255}.${i & 255}`;

/** The node of Service i's endpoint j: node-0 (the benchmarked node) for one endpoint in 100. */
export const nodeOf = (i: number, j: number, endpoints: number) => `node-${(i * endpoints + j) % 100}`;

/**
 * The object as a source hands it over: parsed from the API server's JSON (or a manifest), so its
 * strings are flat; ones built here by concatenation would be ropes, each a node more than the agent
 * ever sees.
 */
const asParsed = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

export function service(i: number, targetPort: number): KubeObject {
  return asParsed({
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace: 'bench', name: `svc-${i}`, resourceVersion: '1' },
    spec: { type: 'ClusterIP', clusterIP: vip(i), clusterIPs: [vip(i)], ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, targetPort, protocol: 'TCP' }] },
  } as KubeObject);
}

export function slice(i: number, endpoints: number, port: number): KubeObject {
  return asParsed({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: 'bench', name: `svc-${i}-abcde`, resourceVersion: '1', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: Array.from({ length: endpoints }, (_, j) => ({ addresses: [podIP(i, j)], conditions: { ready: true, serving: true, terminating: false }, nodeName: nodeOf(i, j, endpoints) })),
  } as unknown as KubeObject);
}

/** A source that hands the agent objects from memory, as fast as the agent takes them. */
export class MemorySource implements Source {
  events?: SourceEvents;
  async start(events: SourceEvents): Promise<void> {
    this.events = events;
  }
  async stop(): Promise<void> {}
  describe(): string {
    return 'memory';
  }
  upsert(kind: Kind, obj: KubeObject): void {
    this.events!.upsert(kind, obj);
  }
}
