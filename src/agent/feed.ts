// One source event into the model: what the agent and `kipvs diff` both do with what a source sends.
import type { ProxyModel } from '../model/model.js';
import type { V1Node } from '../model/types.js';
import type { Kind, KubeObject } from '../sources/types.js';

/**
 * Apply an upsert or removal to the model. Returns which Service ("namespace/name") it concerns, and
 * for this node's Node object the node as it now is (null when removed); other nodes are ignored.
 */
export function feedModel(model: ProxyModel, nodeName: string, kind: Kind, obj: KubeObject, removed: boolean): { service?: string; node?: V1Node | null } {
  const meta = obj.metadata ?? {};
  // "default" when absent, as the model keys it (serviceName, sliceName): a removal must find what was added.
  const ns = meta.namespace === undefined || meta.namespace === null ? 'default' : text(meta.namespace);
  const name = text(meta.name);
  switch (kind) {
    case 'Service':
      if (removed) model.deleteService(ns, name);
      else model.upsertService(obj as never);
      return { service: `${ns}/${name}` };
    case 'EndpointSlice': {
      if (removed) model.deleteEndpointSlice(ns, name);
      else model.upsertEndpointSlice(obj as never);
      const labels = meta.labels as unknown;
      const svc = typeof labels === 'object' && labels !== null ? (labels as Record<string, unknown>)['kubernetes.io/service-name'] : undefined;
      return typeof svc === 'string' && svc !== '' ? { service: `${ns}/${svc}` } : {};
    }
    case 'Node': {
      if (meta.name !== nodeName) return {};
      const node = removed ? null : (obj as V1Node);
      model.setNode(node ?? undefined);
      return { node };
    }
  }
}

/** A name as text whatever its type (the model warns about names that are not strings); never throws. */
function text(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v) ?? '';
}
