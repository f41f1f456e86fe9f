// Deletes stale UDP flows after a sync, in both proxy modes (kube-proxy's conntrack reconciler): on a
// full sync for every UDP Service port, on an incremental one for the UDP ports of the Services it
// changed. Runs after the backend has written the new rules, so a client's next datagram is tracked
// anew and reaches a serving endpoint. One dump per family, deletes batched (src/conntrack).
import { performance } from 'node:perf_hooks';
import { ConntrackClient, IPPROTO_UDP } from '../../conntrack/client.js';
import { FAMILY_NAME } from '../../netlink/address.js';
import type { ProxyModel } from '../../model/model.js';
import type { ServiceDesired } from '../../model/types.js';
import type { Logger, ProxyMode } from '../backend.js';
import { staleMatcher, udpPortsFromPorts, udpPortsFromVirtualServices, type UdpServicePort } from './stale.js';

/** One family's pass: kube-proxy's ip_family label value, and what it did. */
export interface ConntrackPass {
  ipFamily: 'IPv4' | 'IPv6';
  scanned: number;
  deleted: number;
  /** Flows chosen but gone before their delete (expired meanwhile). */
  gone: number;
  seconds: number;
  /** Set when the pass failed (no ctnetlink, a refused dump, refused deletes). */
  error?: string;
}

export class UdpConntrackReconciler {
  readonly #mode: ProxyMode;
  readonly #log: Logger;
  #client?: ConntrackClient;

  constructor(opts: { mode: ProxyMode; log: Logger }) {
    this.#mode = opts.mode;
    this.#log = opts.log;
  }

  /** The UDP ports to look at: all of them, or those of the `changed` Services ("namespace/name"). */
  ports(model: ProxyModel, changed?: Iterable<string>): UdpServicePort[] {
    const services = changed ? servicesNamed(model, changed) : model.services();
    if (this.#mode === 'ipvs') return udpPortsFromVirtualServices(services);
    const out: UdpServicePort[] = [];
    for (const s of services) out.push(...udpPortsFromPorts(s.ports));
    return out;
  }

  /**
   * Clean up after a sync. `full`: every UDP port; otherwise those of `changedServices`. Families with
   * no such port are not dumped (no pass reported).
   */
  reconcile(model: ProxyModel, full: boolean, changedServices: readonly string[]): ConntrackPass[] {
    if (!full && changedServices.length === 0) return [];
    const ports = this.ports(model, full ? undefined : changedServices);
    const passes: ConntrackPass[] = [];
    for (const family of ['inet', 'inet6'] as const) {
      const matcher = staleMatcher(ports, family);
      if (matcher.size === 0) continue;
      const t0 = performance.now();
      const pass: ConntrackPass = { ipFamily: FAMILY_NAME[family], scanned: 0, deleted: 0, gone: 0, seconds: 0 };
      try {
        this.#client ??= ConntrackClient.open();
        const r = this.#client.deleteWhere(family, IPPROTO_UDP, (f) => f.origDstPort !== 0 && matcher.watches(f.origDstPort) && matcher.stale(f.origDst(), f.origDstPort, f.replySrc()));
        Object.assign(pass, { scanned: r.scanned, deleted: r.deleted, gone: r.gone });
        if (r.failures.length) {
          const f = r.failures[0]!;
          pass.error = `${r.failures.length} deletes refused, e.g. ${f.flow.original.src}:${f.flow.original.srcPort} -> ${f.flow.original.dst}:${f.flow.original.dstPort} (${f.code})`;
        }
        if (r.matched) this.#log.info({ family, scanned: r.scanned, deleted: r.deleted, gone: r.gone, ms: Math.round(r.ms * 10) / 10 }, 'stale UDP conntrack entries deleted');
      } catch (err) {
        pass.error = (err as Error).message;
        // A socket that failed mid-dump may still hold its replies: start afresh next time.
        this.close();
      }
      if (pass.error) this.#log.warn({ family, err: pass.error }, 'UDP conntrack cleanup failed (retried at the next sync that needs it)');
      pass.seconds = (performance.now() - t0) / 1000;
      passes.push(pass);
    }
    return passes;
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}

/** The Services of these names that the model holds (a deleted one has no ports left to clean). */
function* servicesNamed(model: ProxyModel, names: Iterable<string>): Iterable<ServiceDesired> {
  for (const n of names) {
    const slash = n.indexOf('/');
    const s = model.service(n.slice(0, slash), n.slice(slash + 1));
    if (s) yield s;
  }
}
