// The Services and EndpointSlices the agent benchmarks feed, and the in-memory source that hands them
// over: Service i has a cluster IP from 10.96.0.0/12 and M endpoints 10.(128+j).x.y, one TCP port.
import type { Source, SourceEvents, Kind, KubeObject } from '../../src/sources/types.js';

export const vip = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
export const podIP = (i: number, j: number) => `10.${128 + j}.${(i >> 8) & 255}.${i & 255}`;

export function service(i: number, targetPort: number): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace: 'bench', name: `svc-${i}`, resourceVersion: '1' },
    spec: { type: 'ClusterIP', clusterIP: vip(i), clusterIPs: [vip(i)], ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, targetPort, protocol: 'TCP' }] },
  } as KubeObject;
}

export function slice(i: number, endpoints: number, port: number): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: 'bench', name: `svc-${i}-abcde`, resourceVersion: '1', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: Array.from({ length: endpoints }, (_, j) => ({ addresses: [podIP(i, j)], conditions: { ready: true, serving: true, terminating: false }, nodeName: `node-${j % 3}` })),
  } as unknown as KubeObject;
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
