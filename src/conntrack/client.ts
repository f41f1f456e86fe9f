// The conntrack client: dump the kernel's tracked flows of one family over ctnetlink (NETLINK_NETFILTER,
// subsystem CTNETLINK), and delete the ones a predicate picks, many deletes per datagram. The dump is
// decoded as it arrives (FlowReader over the receive buffer); only the flows to delete are copied.
import { performance } from 'node:perf_hooks';
import { NetlinkConnection, KernelError, errnoName, type ConnectionOptions } from '../netlink/connection.js';
import { MessageWriter } from '../netlink/message.js';
import { NETLINK_NETFILTER, NFNL_SUBSYS_CTNETLINK, Msg } from './constants.js';
import { FlowReader, putDelete, putDumpRequest } from './codec.js';
import type { ConntrackFlow, Family, ScanResult } from './types.js';

export type { ConntrackFlow, FlowTuple, ScanResult, Family } from './types.js';
export { FlowReader } from './codec.js';
export { IPPROTO_UDP, IPPROTO_TCP, IPPROTO_SCTP } from './constants.js';

const ENOENT = 2;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const FLOW_MSG = (NFNL_SUBSYS_CTNETLINK << 8) | Msg.NEW;

/** The kernel has no ctnetlink (nf_conntrack_netlink not loaded or not built). */
export class ConntrackUnavailableError extends Error {
  constructor(detail: string, options?: ErrorOptions) {
    super(`conntrack is not available over netlink: ${detail}. Load it with "modprobe nf_conntrack_netlink".`, options);
    this.name = 'ConntrackUnavailableError';
  }
}

export class ConntrackClient {
  readonly #conn: NetlinkConnection;
  /** Whether the kernel takes CTA_FILTER on dumps (5.8+); learnt at the first refusal. */
  #kernelFilter = true;

  private constructor(conn: NetlinkConnection) {
    this.#conn = conn;
  }

  /**
   * Connect to conntrack (in `options.netns`' network namespace, or the caller's); `options` also sets
   * the socket timeout, and the fault-injection wrapper of tests.
   */
  static open(options: Omit<ConnectionOptions, 'name'> = {}): ConntrackClient {
    try {
      return new ConntrackClient(new NetlinkConnection(NETLINK_NETFILTER, { ...options, name: 'conntrack' }));
    } catch (err) {
      throw new ConntrackUnavailableError(`no nfnetlink socket (${(err as Error).message})`, { cause: err });
    }
  }

  close(): void {
    this.#conn.close();
  }

  /**
   * Walk every flow of `family` and `protocol`, calling `visit` with a reader positioned on it (valid
   * only during the call). Returns how many flows were visited and whether the kernel filtered them.
   * A dump cut short (interrupted, timed out, overrun) is read again from the start after `restart()`
   * has told the caller to forget what `visit` saw; without `restart` it throws NetlinkFaultError.
   */
  scan(family: Family, protocol: number, visit: (flow: FlowReader) => void, restart?: () => void): { scanned: number; kernelFiltered: boolean } {
    const reader = new FlowReader();
    for (;;) {
      const filtered = this.#kernelFilter;
      let scanned = 0;
      const w = putDumpRequest(new MessageWriter(128), this.#conn.nextSeq(), family, filtered ? protocol : undefined);
      const [errno] = this.#conn.dumpEach(w, (_i, type, payload) => {
        if (type !== FLOW_MSG || !reader.reset(payload) || reader.protocol !== protocol) return;
        scanned++;
        visit(reader);
      }, restart && (() => { scanned = 0; restart(); }));
      if (!errno) return { scanned, kernelFiltered: filtered };
      if (filtered && (errno === EINVAL || errno === EOPNOTSUPP)) {
        // An older kernel: dump everything and filter here.
        this.#kernelFilter = false;
        continue;
      }
      if (errno === ENOENT || errno === EOPNOTSUPP) throw new ConntrackUnavailableError(`the kernel answered ${errnoName(errno)} to a ${family} flow dump`);
      throw new KernelError(`conntrack: dump ${family} flows`, errno);
    }
  }

  /** Every flow of `family` and `protocol`, copied out (tests and small tables; scan() for the rest). */
  list(family: Family, protocol: number): ConntrackFlow[] {
    const out: ConntrackFlow[] = [];
    this.scan(family, protocol, (r) => out.push(r.toFlow()), () => { out.length = 0; });
    return out;
  }

  /**
   * Delete the flows of `family` and `protocol` that `stale` picks: one dump, then the deletes many per
   * datagram. A flow gone before its delete (expired, ENOENT) counts as gone, not as a failure.
   */
  deleteWhere(family: Family, protocol: number, stale: (flow: FlowReader) => boolean): ScanResult {
    const t0 = performance.now();
    let batch = new MessageWriter(4096);
    const flows: ConntrackFlow[] = [];
    const { scanned, kernelFiltered } = this.scan(family, protocol, (r) => {
      if (!stale(r)) return;
      const flow = r.toFlow();
      flows.push(flow);
      putDelete(batch, this.#conn.nextSeq(), flow);
    }, () => {
      // The dump starts again: the deletes are built again from what it finds.
      flows.length = 0;
      batch = new MessageWriter(4096);
    });
    const result: ScanResult = { scanned, matched: flows.length, deleted: 0, gone: 0, failures: [], kernelFiltered, ms: 0 };
    if (flows.length) {
      const errnos = this.#conn.execute(batch);
      errnos.forEach((errno, i) => {
        if (errno === 0) result.deleted++;
        else if (errno === ENOENT) result.gone++;
        else result.failures.push({ flow: flows[i]!, code: errnoName(errno) });
      });
    }
    result.ms = performance.now() - t0;
    return result;
  }
}
