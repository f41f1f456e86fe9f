// rtnetlink: the dummy link that holds every service VIP (kube-ipvs0) and its addresses, or kipvs'
// local routes that make VIPs local instead (--vip-binding local-route). Links are created and deleted
// through libnl-route (one-off operations); addresses and routes are listed, added and deleted with
// messages encoded here, in batches, because a node may bind tens of thousands of VIPs.
import { NETLINK_ROUTE, LibnlError, NLE } from '../../native-bindings/libnl.js';
import { NetlinkConnection, KernelError } from '../netlink/connection.js';
import type { NamespaceOption } from '../netlink/netns.js';
import { MessageWriter, NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_CREATE, NLM_F_EXCL } from '../netlink/message.js';
import { parseAddress, familyOf } from '../netlink/address.js';
import {
  RTM_GETLINK, RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR, IFLA_IFNAME, AF_UNSPEC,
  ifinfomsg, ifaddrmsg, putHostAddress, decodeLink, decodeAddress, type LinkInfo, type InterfaceAddress,
} from './codec.js';
import { RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE, putLocalRoute, decodeKipvsRoute, type LocalRoute } from './route-codec.js';

// What callers of the client use from the encoding.
export { IFF_UP, IFF_NOARP, RT_SCOPE_HOST, type LinkInfo, type InterfaceAddress } from './codec.js';
export { RTPROT_KIPVS, VIP_BINDINGS, localRouteText, type LocalRoute, type VipBinding } from './route-codec.js';

/**
 * Every network namespace's loopback link has this index (the kernel registers it first): kipvs' local
 * routes go through it. A local route through a link that is down is refused for IPv6 (kube-ipvs0
 * stays down), and one through loopback is what the kernel's own local routes amount to.
 */
export const LOOPBACK_INDEX = 1;

/** One request message for a host address or host route (putHostAddress, putLocalRoute). */
type PutHost = (w: MessageWriter, type: number, flags: number, seq: number, linkIndex: number, bytes: Uint8Array) => void;

/** The messages of one kind of VIP binding: how to add one, delete one, and the errors that are not failures. */
interface HostKind {
  put: PutHost;
  add: { type: number; flags: number; verb: string; benign: string[] };
  del: { type: number; flags: number; verb: string; benign: string[] };
}

const ADDRESS: HostKind = {
  put: putHostAddress,
  add: { type: RTM_NEWADDR, flags: NLM_F_CREATE | NLM_F_EXCL, verb: 'add address', benign: ['EEXIST'] },
  del: { type: RTM_DELADDR, flags: 0, verb: 'delete address', benign: ['EADDRNOTAVAIL', 'ENOENT', 'ESRCH'] },
};

/**
 * Without NLM_F_EXCL: the kernel's own local route for an address on kube-ipvs0 (a VIP bound the other
 * way, by kube-proxy or an earlier run) is another route to the same destination. With EXCL the add
 * would be refused with EEXIST, taken as bound, and the route gone once that address is deleted. Without
 * it the kernel keeps both, and refuses with EEXIST only a route the same as ours.
 */
const ROUTE: HostKind = {
  put: putLocalRoute,
  add: { type: RTM_NEWROUTE, flags: NLM_F_CREATE, verb: 'add local route', benign: ['EEXIST'] },
  del: { type: RTM_DELROUTE, flags: 0, verb: 'delete local route', benign: ['ESRCH', 'ENOENT'] },
};

export interface AddressFailure {
  address: string;
  error: KernelError;
}

export class LinkClient {
  readonly #conn: NetlinkConnection;
  readonly #options: NamespaceOption;
  /** A second socket, opened on first use, for batches that run while this client goes on being used. */
  #apart: NetlinkConnection | undefined;

  private constructor(conn: NetlinkConnection, options: NamespaceOption) {
    this.#conn = conn;
    this.#options = options;
  }

  /** Connect to rtnetlink (in `options.netns`' network namespace, or the caller's). */
  static open(options: NamespaceOption = {}): LinkClient {
    return new LinkClient(new NetlinkConnection(NETLINK_ROUTE, { ...options, name: 'link' }), options);
  }

  close(): void {
    this.#conn.close();
    this.#apart?.close();
  }

  /** The link named `name`, or null. */
  link(name: string): LinkInfo | null {
    try {
      const replies = this.#conn.request((seq) => {
        const w = new MessageWriter(128).begin(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
        w.raw(ifinfomsg(AF_UNSPEC, 0)).string(IFLA_IFNAME, name);
        return w.end();
      }, `link ${name}`);
      const m = replies[0];
      return m ? decodeLink(m.payload) : null;
    } catch (err) {
      if (err instanceof KernelError && (err.code === 'ENODEV' || err.code === 'ENOENT')) return null;
      throw err;
    }
  }

  /** Every link. */
  links(): LinkInfo[] {
    return this.#conn.request((seq) => {
      const w = new MessageWriter(64).begin(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq);
      return w.raw(ifinfomsg(AF_UNSPEC, 0)).end();
    }, 'list links').map((m) => decodeLink(m.payload));
  }

  /**
   * Make sure a dummy link named `name` exists, and return it. It is left down: a dummy link that
   * is down still makes its addresses local (so IPVS sees packets to them in LOCAL_IN), while
   * answering nothing itself. Throws if a link of that name exists with another kind.
   */
  ensureDummy(name: string): LinkInfo {
    let link = this.link(name);
    if (!link) {
      try {
        this.#conn.viaLibnl('add link', (s) => s.addLink(name, 'dummy'));
      } catch (err) {
        // Lost a race with another creator: fine, re-read below.
        if (!(err instanceof LibnlError && err.code === NLE.EXIST)) {
          if (err instanceof LibnlError && err.code === NLE.OPNOTSUPP) {
            throw new Error(`cannot create dummy link ${name}: this kernel has no dummy driver (modprobe dummy)`, { cause: err });
          }
          throw err;
        }
      }
      link = this.link(name);
      if (!link) throw new Error(`dummy link ${name} was created but cannot be found`);
    }
    if (link.kind !== undefined && link.kind !== 'dummy') {
      throw new Error(`link ${name} exists but is a ${link.kind} link, not dummy`);
    }
    return link;
  }

  /** Delete the link named `name`; false if there was none. */
  deleteLink(name: string): boolean {
    if (!this.link(name)) return false;
    this.#conn.viaLibnl('delete link', (s) => s.deleteLink(name));
    return true;
  }

  /**
   * This host's addresses on every link but `name` (kube-ipvs0): where NodePort services listen.
   * One dump; the link is looked up by name each time, so it works before kipvs has read it.
   */
  addressesExcept(name: string): string[] {
    const skip = this.link(name)?.index;
    return this.addresses().filter((a) => a.linkIndex !== skip).map((a) => a.address);
  }

  /** Addresses of one link (by index), or of every link. */
  addresses(linkIndex?: number): InterfaceAddress[] {
    const out: InterfaceAddress[] = [];
    // Streamed (a reconcile lists every VIP): decodeAddress copies out what it keeps.
    this.#conn.dumpStream((seq) => {
      const w = new MessageWriter(64).begin(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
      return w.raw(ifaddrmsg(AF_UNSPEC, 0, 0, 0)).end();
    }, 'list addresses', (_, payload) => {
      const a = decodeAddress(payload);
      if (a && (linkIndex === undefined || a.linkIndex === linkIndex)) out.push(a);
    }, () => { out.length = 0; });
    return out;
  }

  /**
   * Add host addresses (/32, /128) to a link, in batches. An address that is already there is not
   * an error. Returns the ones the kernel refused, each with its reason.
   */
  addAddresses(linkIndex: number, addresses: readonly string[]): AddressFailure[] {
    return this.#batch(ADDRESS, 'add', linkIndex, addresses);
  }

  /** Delete addresses from a link, in batches; one that is already gone is not an error. */
  deleteAddresses(linkIndex: number, addresses: readonly string[]): AddressFailure[] {
    return this.#batch(ADDRESS, 'del', linkIndex, addresses);
  }

  /** kipvs' local host routes (route-codec.ts), both families: one dump of the node's routes, filtered. */
  localRoutes(): LocalRoute[] {
    const out: LocalRoute[] = [];
    this.#conn.dumpStream((seq) => {
      const w = new MessageWriter(64).begin(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
      return w.raw(new Uint8Array(12)).end();
    }, 'list routes', (_, payload) => {
      const r = decodeKipvsRoute(payload);
      if (r) out.push(r);
    }, () => { out.length = 0; });
    return out;
  }

  /**
   * Add local host routes (/32, /128) of kipvs through loopback, in batches: each makes its address
   * local to this host. One that is already there is not an error. Returns the ones the kernel refused.
   */
  addLocalRoutes(addresses: readonly string[]): AddressFailure[] {
    return this.#batch(ROUTE, 'add', LOOPBACK_INDEX, addresses);
  }

  /** Delete local routes of kipvs, in batches; one that is already gone is not an error. */
  deleteLocalRoutes(addresses: readonly string[]): AddressFailure[] {
    return this.#batch(ROUTE, 'del', LOOPBACK_INDEX, addresses);
  }

  /** addLocalRoutes() apart, as addAddressesApart(). */
  addLocalRoutesApart(addresses: readonly string[]): Promise<{ failures: AddressFailure[]; fault?: Error }> {
    return this.#apartBatch(ROUTE, LOOPBACK_INDEX, addresses);
  }

  /**
   * addAddresses() on a socket of its own, with the system calls on libuv's thread pool: the kernel
   * binds the addresses on another CPU while the caller goes on (with this client too: the batch
   * does not use its socket). The promise never rejects: a transport fault comes back as `fault`
   * (some addresses may then be bound, some not; read the link to know).
   */
  addAddressesApart(linkIndex: number, addresses: readonly string[]): Promise<{ failures: AddressFailure[]; fault?: Error }> {
    return this.#apartBatch(ADDRESS, linkIndex, addresses);
  }

  async #apartBatch(kind: HostKind, linkIndex: number, addresses: readonly string[]): Promise<{ failures: AddressFailure[]; fault?: Error }> {
    let failures: AddressFailure[] = [];
    try {
      this.#apart ??= new NetlinkConnection(NETLINK_ROUTE, { ...this.#options, name: 'link' });
      const conn = this.#apart;
      const b = encodeHosts(conn, kind, 'add', linkIndex, addresses);
      failures = b.failures;
      if (b.sent.length) collectFailures(b, await conn.executeAsync(b.writer), linkIndex, kind.add.verb, kind.add.benign);
      return { failures };
    } catch (err) {
      return { failures, fault: err instanceof Error ? err : new Error(String(err)) };
    }
  }

  #batch(kind: HostKind, what: 'add' | 'del', linkIndex: number, addresses: readonly string[]): AddressFailure[] {
    const b = encodeHosts(this.#conn, kind, what, linkIndex, addresses);
    if (b.sent.length) collectFailures(b, this.#conn.execute(b.writer), linkIndex, kind[what].verb, kind[what].benign);
    return b.failures;
  }
}

interface AddressBatch {
  writer: MessageWriter;
  sent: string[];
  failures: AddressFailure[];
}

/** One acknowledged request per address; an address that does not parse fails here and is not sent. */
function encodeHosts(conn: NetlinkConnection, kind: HostKind, what: 'add' | 'del', linkIndex: number, addresses: readonly string[]): AddressBatch {
  const { type, flags, verb } = kind[what];
  const writer = new MessageWriter(addresses.length * 64 + 64);
  const sent: string[] = [];
  const failures: AddressFailure[] = [];
  for (const address of addresses) {
    const bytes = parseAddress(address);
    if (!bytes) {
      failures.push({ address, error: new KernelError(`${verb} ${address}`, 22, 'not an IP address') });
      continue;
    }
    kind.put(writer, type, NLM_F_REQUEST | NLM_F_ACK | flags, conn.nextSeq(), linkIndex, bytes);
    sent.push(address);
  }
  return { writer, sent, failures };
}

/** The kernel's answers to a batch, as failures (those in `benign` are not). */
function collectFailures(b: AddressBatch, errnos: number[], linkIndex: number, verb: string, benign: string[]): void {
  errnos.forEach((errno, i) => {
    if (errno === 0) return;
    const error = new KernelError(`${verb} ${b.sent[i]} on link ${linkIndex}`, errno);
    if (!benign.includes(error.code)) b.failures.push({ address: b.sent[i]!, error });
  });
}

export { familyOf };
