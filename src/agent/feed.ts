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
  const ns = meta.namespace ?? '';
  const name = meta.name ?? '';
  switch (kind) {
    case 'Service':
      if (removed) model.deleteService(ns, name);
      else model.upsertService(obj as never);
      return { service: `${ns}/${name}` };
    case 'EndpointSlice': {
      if (removed) model.deleteEndpointSlice(ns, name);
      else model.upsertEndpointSlice(obj as never);
      const svc = meta.labels?.['kubernetes.io/service-name'];
      return svc ? { service: `${ns}/${svc}` } : {};
    }
    case 'Node': {
      if (meta.name !== nodeName) return {};
      const node = removed ? null : (obj as V1Node);
      model.setNode(node ?? undefined);
      return { node };
    }
  }
}
