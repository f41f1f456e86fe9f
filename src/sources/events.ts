// Where the agent's Events go: the API server (events.k8s.io/v1), with the same kubeconfig the
// informers use, as one POST of plain JSON (api-get.ts), not through client-node's generated EventsV1Api:
// its serialiser sends eventTime as a Date's toISOString() (milliseconds), which the API server refuses
// (a MicroTime has six fractional digits), so every Event was dropped; and it kept the generated API
// and model classes in the client-node bundle. The manifests source has no API server, so no sink.
import type { KubeConfig } from '#client-node';
import type { ApiEvent, EventSink } from './types.js';
import { requestJson } from './api-get.js';

export function apiEventSink(kc: KubeConfig): EventSink {
  return {
    create: (namespace: string, event: ApiEvent) =>
      requestJson(kc, 'POST', `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`, {}, { apiVersion: 'events.k8s.io/v1', kind: 'Event', ...event }),
  };
}
