// kube-proxy's iptables mode as a backend (being written).
import type { LinkClient } from '../../link/link.js';
import type { ProxyModel } from '../../model/model.js';
import type { BackendStats, BackendSyncInput, BackendSyncResult, Logger, ProxyBackend } from '../backend.js';

export interface IptablesModeOptions {
  log: Logger;
  link: LinkClient;
  masqueradeAll: boolean;
  masqueradeBit: number;
  clusterCIDRs: string[];
  sync: 'partial' | 'full';
  backend?: 'legacy' | 'nft';
  nodePortAddresses: () => readonly string[];
}

export class IptablesBackend implements ProxyBackend {
  readonly mode = 'iptables' as const;
  constructor(readonly opts: IptablesModeOptions) {}
  start(): void {
    throw new Error('iptables mode: not yet');
  }
  get dirty(): boolean {
    return false;
  }
  sync(_input: BackendSyncInput): BackendSyncResult {
    throw new Error('iptables mode: not yet');
  }
  housekeeping(): number {
    return 0;
  }
  stats(_model: ProxyModel): BackendStats {
    return {};
  }
  close(): void {}
}
