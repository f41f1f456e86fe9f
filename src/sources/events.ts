// Where the agent's Events go: the API server (events.k8s.io/v1) through client-node, with the same
// kubeconfig the informers use. The manifests source has no API server, so no sink.
import { EventsV1Api, type KubeConfig, type EventsV1Event } from '#client-node';

export function apiEventSink(kc: KubeConfig): { create(namespace: string, event: EventsV1Event): Promise<unknown> } {
  const api = kc.makeApiClient(EventsV1Api);
  return { create: (namespace, body) => api.createNamespacedEvent({ namespace, body }) };
}
