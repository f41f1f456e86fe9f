// The sync engine's picture of the kernel: the model of its virtual services and bound VIPs, the
// services kipvs owns there, the real servers draining, and how each operation the kernel accepted
// changes that picture. No I/O here: the engine (engine.ts) reads the kernel and applies the plans.
import { serviceInfoOf } from '../../ipvs/validate.js';
import { serviceKeyString, serverKeyString } from '../../ipvs/keys.js';
import type { Operation, RealServer, VirtualService } from '../../ipvs/types.js';
import type { Steps } from '../../loop/pacer.js';
import type { DesiredIpvs, KernelModel, DrainingServer } from './plan.js';
import type { OperationCounts } from './engine-types.js';
import { ownServers, shareIfSame, addsExactly } from './kernel-model.js';

export class KernelState {
  model: KernelModel = { services: new Map(), boundAddresses: new Set() };
  /** Services kipvs created or adopted (bound VIP or node address when first seen). */
  readonly owned = new Set<string>();
  /** Real servers set to weight 0 and draining, by `${serviceKey}|${serverKey}`. */
  readonly draining = new Map<string, DrainingServer>();
  /** While a kernel read is paused for syncs: the services whose entry a sync changed meanwhile. */
  touched: Set<string> | undefined;

  /** Forget everything (after a cleanup removed it all from the kernel). */
  reset(): void {
    this.model = { services: new Map(), boundAddresses: new Set() };
    this.owned.clear();
    this.draining.clear();
  }

  /**
   * The kernel model follows a batch the kernel accepted (all but the `failed` indexes), in pieces: a
   * first sync at 50,000 Services records 550,000 operations, about a second of this thread on a fast
   * machine and the longest stall of the event loop in that sync before it was paced. A plan lists a
   * service's operations together: its key is made once for them, a service added with all its
   * wanted real servers takes the desired state's table of them as it is, and any other service whose
   * real servers end up as wanted shares the desired table again (KernelService.shared).
   */
  *recordSteps(ops: readonly Operation[], failed: ReadonlySet<number>, counts: OperationCounts, desired: DesiredIpvs): Steps<void> {
    let lastService: object | undefined;
    let key = '';
    let size = yield 0;
    for (let i = 0; i < ops.length;) {
      const from = i;
      const end = Math.min(ops.length, i + (size ?? ops.length));
      while (i < end) {
        const op = ops[i]!;
        if (op.service !== lastService) {
          if (lastService) shareIfSame(this.model.services.get(key), desired.services.get(key));
          lastService = op.service;
          key = serviceKeyString(op.service);
        }
        if (failed.has(i)) {
          i++;
          continue;
        }
        counts[op.op] = (counts[op.op] ?? 0) + 1;
        if (op.op === 'add-service') {
          const want = desired.services.get(key);
          const adds = want ? addsExactly(ops, i + 1, op.service, want.servers, failed) : -1;
          if (adds >= 0) {
            this.added(key, op.service, want!.servers);
            if (adds) counts['add-server'] = (counts['add-server'] ?? 0) + adds;
            i += 1 + adds;
            continue;
          }
        }
        this.record(op, key);
        i++;
      }
      size = yield i - from;
    }
    if (lastService) shareIfSame(this.model.services.get(key), desired.services.get(key));
  }

  /** A service the kernel added: with no real servers, or sharing the desired table of them it was added with. */
  added(key: string, service: VirtualService, shared?: ReadonlyMap<string, RealServer>): void {
    this.touched?.add(key);
    this.model.services.set(key, shared ? { service: serviceInfoOf(service), servers: shared, shared: true } : { service: serviceInfoOf(service), servers: new Map() });
    this.owned.add(key);
  }

  /** Update the kernel model after the kernel accepted `op` (`key`: its service's key). */
  record(op: Operation, key = serviceKeyString(op.service)): void {
    if (op.op === 'add-service') return this.added(key, op.service);
    this.touched?.add(key);
    switch (op.op) {
      case 'update-service': {
        const have = this.model.services.get(key);
        if (have) have.service = serviceInfoOf(op.service);
        break;
      }
      case 'delete-service': {
        this.model.services.delete(key);
        this.owned.delete(key);
        for (const k of [...this.draining.keys()]) if (k.startsWith(`${key}|`)) this.draining.delete(k);
        break;
      }
      case 'add-server':
      case 'update-server': {
        const have = this.model.services.get(key);
        if (have) ownServers(have).set(serverKeyString(op.server), op.server);
        break;
      }
      case 'delete-server': {
        const have = this.model.services.get(key);
        if (have) ownServers(have).delete(serverKeyString(op.server));
        this.draining.delete(`${key}|${serverKeyString(op.server)}`);
        break;
      }
    }
  }
}
