// What the agent's first sync would change on this node, without changing anything (`kipvs diff`): the
// same source and the same model as the agent, fed until the initial lists are in and committed once,
// then the configured backend's preview (src/backends/*/preview.ts) against the kernel as it is.
import { LinkClient } from '../link/link.js';
import { IpvsClient } from '../ipvs/client.js';
import { ProxyModel } from '../model/model.js';
import { nodePortAddresses, nodePrimaryIPs, nodePodCIDRs } from '../model/nodeports.js';
import type { DetectLocalOptions } from '../iptables/local-detector.js';
import type { VipBinding } from '../link/route-codec.js';
import type { ModelWarning, V1Node } from '../model/types.js';
import type { Source } from '../sources/types.js';
import type { Logger } from '../backends/backend.js';
import type { Preview } from '../backends/preview.js';
import { alternativesBackend } from '../backends/leftovers.js';
import { previewIpvsMode } from '../backends/ipvs/preview.js';
import { previewIptablesMode } from '../backends/iptables/preview.js';
import { feedModel } from './feed.js';
import { conntrackChanges, type ConntrackSettings } from '../backends/conntrack-sysctls.js';
import { decideFamilies, primaryFamily, probeFamilySupport } from './families.js';

export interface DiffOptions {
  mode: 'ipvs' | 'iptables';
  nodeName: string;
  scheduler: string;
  strictARP: boolean;
  excludeCIDRs: string[];
  /** IPVS mode: how VIPs are made local (default: addresses on kube-ipvs0). */
  vipBinding?: VipBinding;
  nodePortAddresses: string[];
  masqueradeAll: boolean;
  masqueradeBit: number;
  clusterCIDRs: string[];
  /** detectLocalMode and its interface settings; default ClusterCIDR. */
  detectLocal?: DetectLocalOptions;
  iptablesBackend?: 'legacy' | 'nft';
  /** iptables mode: iptables.localhostNodePorts (default true). */
  localhostNodePorts?: boolean;
  /** The agent's conntrack settings: their writes show among the sysctls. */
  conntrack?: ConntrackSettings;
  source: Source;
  log: Logger;
  /** How long to wait for the source's initial lists (ms). */
  timeoutMs?: number;
}

export interface DiffResult {
  preview: Preview;
  /** The model's warnings about bad input, as the agent would log them. */
  warnings: ModelWarning[];
  services: number;
}

export async function previewFirstSync(o: DiffOptions): Promise<DiffResult> {
  // The families the agent would program here (see families.ts): a single-stack node gets no IPv6 changes.
  const { families } = decideFamilies(probeFamilySupport({ iptables: true }), primaryFamily('', []));
  const model = new ProxyModel({ scheduler: o.scheduler, nodeName: o.nodeName, families, backend: o.mode });
  let node: V1Node | undefined;
  let sourceError: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${o.source.describe()}: no complete initial lists after ${Math.round((o.timeoutMs ?? 60_000) / 1000)} s${sourceError ? ` (last error: ${sourceError.message})` : ''}`)), o.timeoutMs ?? 60_000);
    const feed = (removed: boolean) => (kind: Parameters<typeof feedModel>[2], obj: Parameters<typeof feedModel>[3]) => {
      const r = feedModel(model, o.nodeName, kind, obj, removed);
      if (r.node !== undefined) node = r.node ?? undefined;
    };
    o.source.start({
      upsert: feed(false),
      remove: feed(true),
      synced: () => {
        clearTimeout(timer);
        resolve();
      },
      error: (kind, err) => {
        sourceError = err;
        o.log.warn({ kind, err: err.message }, 'source error (retrying)');
      },
    }).catch(reject);
  }).finally(() => o.source.stop().catch(() => undefined));

  const link = LinkClient.open();
  try {
    const all = link.addressesExcept('kube-ipvs0');
    const nodePorts = nodePortAddresses(all, o.nodePortAddresses, node ? nodePrimaryIPs(node) : []);
    model.setNodeAddresses(nodePorts, all);
    const changes = model.commit();
    const podCIDRs = nodePodCIDRs(node);
    const rules = {
      masqueradeAll: o.masqueradeAll, masqueradeBit: o.masqueradeBit, clusterCIDRs: o.clusterCIDRs,
      ...(o.detectLocal ? { detectLocal: o.detectLocal } : {}), podCIDRs: () => podCIDRs,
    };
    let preview: Preview;
    if (o.mode === 'iptables') {
      preview = previewIptablesMode({
        log: o.log, link, ...rules, sync: 'full', nodePortConfig: o.nodePortAddresses, localhostNodePorts: o.localhostNodePorts ?? true,
        nodePortAddresses: () => nodePorts, nodeIPs: () => (node ? nodePrimaryIPs(node) : []), families,
        ...(o.iptablesBackend ? { backend: o.iptablesBackend } : {}),
      }, model, o.log);
    } else {
      const ipvs = IpvsClient.open();
      try {
        preview = previewIpvsMode({
          ipvs, link, log: o.log, model, excludeCIDRs: o.excludeCIDRs, nodeAddresses: nodePorts,
          strictARP: o.strictARP, rules, active: alternativesBackend(), families,
          ...(o.vipBinding ? { vipBinding: o.vipBinding } : {}),
        });
      } finally {
        ipvs.close();
      }
    }
    if (o.conntrack) conntrackChanges(o.conntrack, preview);
    return { preview, warnings: changes.warnings, services: [...model.services()].length };
  } finally {
    link.close();
  }
}
