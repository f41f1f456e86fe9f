// What an informer's cache needs of an object (see informers.ts): the objects themselves go to the
// model, which keeps compact records of its own.
import type { KubernetesObject } from '@kubernetes/client-node';

/** What ListWatch keeps of an object: what its relist diff (namespace, name, resourceVersion) and a removal (feedModel) read. */
export function slim(o: KubernetesObject): KubernetesObject {
  const m = o.metadata ?? {};
  const metadata: Record<string, unknown> = { name: m.name, resourceVersion: m.resourceVersion };
  if (m.namespace !== undefined) metadata.namespace = m.namespace;
  const service = (m.labels as Record<string, unknown> | undefined)?.['kubernetes.io/service-name'];
  if (service !== undefined) metadata.labels = { 'kubernetes.io/service-name': service };
  return { apiVersion: o.apiVersion, kind: o.kind, metadata } as KubernetesObject;
}
