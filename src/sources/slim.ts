// What the sources keep of an object they hand on and do not keep (see informers.ts, manifest-index.ts):
// the objects themselves go to the model, which keeps compact records of its own.
import type { KubernetesObject } from '@kubernetes/client-node';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** An object's identity as a removal reads it (feedModel): name, namespace, an EndpointSlice's Service label. */
export function identityMetadata(name: unknown, namespace: unknown, service: unknown): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  if (service !== undefined) metadata.labels = { [SERVICE_NAME_LABEL]: service };
  return metadata;
}

/** An object's Service label (kubernetes.io/service-name), when it has one. */
export function serviceLabel(o: KubernetesObject): unknown {
  return (o.metadata?.labels as Record<string, unknown> | undefined)?.[SERVICE_NAME_LABEL];
}

/** What ListWatch keeps of an object: what its relist diff (namespace, name, resourceVersion) and a removal read. */
export function slim(o: KubernetesObject): KubernetesObject {
  const m = o.metadata ?? {};
  const metadata = identityMetadata(m.name, m.namespace, serviceLabel(o));
  metadata.resourceVersion = m.resourceVersion;
  return { apiVersion: o.apiVersion, kind: o.kind, metadata } as KubernetesObject;
}
