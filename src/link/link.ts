// rtnetlink: the dummy link that holds every service VIP (kube-ipvs0) and its addresses. Links are
// created and deleted through libnl-route (one-off operations); addresses are listed, added and
// deleted with messages encoded here, in batches, because a node may bind tens of thousands of VIPs.
import { NETLINK_ROUTE, LibnlError, NLE } from '../../native-bindings/libnl.js';
import { NetlinkConnection, KernelError } from '../netlink/connection.js';
import { MessageWriter, NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_CREATE, NLM_F_EXCL, parseAttrs, attr } from '../netlink/message.js';
import { parseAddress, formatAddress, familyOf, type Family } from '../netlink/address.js';

const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const RTM_GETADDR = 22;
const IFLA_IFNAME = 3;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
const IFA_F_NODAD = 0x02;
const IFA_F_PERMANENT = 0x80;
const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_HOST = 254;
export const IFF_UP = 0x1;
export const IFF_NOARP = 0x80;

export interface LinkInfo {
  index: number;
  name: string;
  flags: number;
  kind?: string | undefined;
}

export interface InterfaceAddress {
  family: Family;
  address: string;
  prefixLength: number;
  linkIndex: number;
  scope: number;
}

export interface AddressFailure {
  address: string;
  error: KernelError;
}

export class LinkClient {
  readonly #conn: NetlinkConnection;

  private constructor(conn: NetlinkConnection) {
    this.#conn = conn;
  }

  static open(): LinkClient {
    return new LinkClient(new NetlinkConnection(NETLINK_ROUTE, { name: 'link' }));
  }

  close(): void {
    this.#conn.close();
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
        this.#conn.socket.addLink(name, 'dummy');
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
    this.#conn.socket.deleteLink(name);
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
    for (const m of this.#conn.request((seq) => {
      const w = new MessageWriter(64).begin(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
      return w.raw(ifaddrmsg(AF_UNSPEC, 0, 0, 0)).end();
    }, 'list addresses')) {
      const a = decodeAddress(m.payload);
      if (a && (linkIndex === undefined || a.linkIndex === linkIndex)) out.push(a);
    }
    return out;
  }

  /**
   * Add host addresses (/32, /128) to a link, in batches. An address that is already there is not
   * an error. Returns the ones the kernel refused, each with its reason.
   */
  addAddresses(linkIndex: number, addresses: readonly string[]): AddressFailure[] {
    return this.#batch(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, linkIndex, addresses, 'add address', ['EEXIST']);
  }

  /** Delete addresses from a link, in batches; one that is already gone is not an error. */
  deleteAddresses(linkIndex: number, addresses: readonly string[]): AddressFailure[] {
    return this.#batch(RTM_DELADDR, 0, linkIndex, addresses, 'delete address', ['EADDRNOTAVAIL', 'ENOENT', 'ESRCH']);
  }

  #batch(type: number, flags: number, linkIndex: number, addresses: readonly string[], verb: string, benign: string[]): AddressFailure[] {
    const w = new MessageWriter(addresses.length * 64 + 64);
    const sent: string[] = [];
    const failures: AddressFailure[] = [];
    for (const address of addresses) {
      const bytes = parseAddress(address);
      if (!bytes) {
        failures.push({ address, error: new KernelError(`${verb} ${address}`, 22, 'not an IP address') });
        continue;
      }
      const v6 = bytes.length === 16;
      w.begin(type, NLM_F_REQUEST | NLM_F_ACK | flags, this.#conn.nextSeq());
      w.raw(ifaddrmsg(v6 ? AF_INET6 : AF_INET, v6 ? 128 : 32, v6 ? IFA_F_NODAD : 0, RT_SCOPE_UNIVERSE, linkIndex));
      w.bytes(IFA_LOCAL, bytes).bytes(IFA_ADDRESS, bytes);
      if (v6) w.u32(IFA_FLAGS, IFA_F_NODAD | IFA_F_PERMANENT);
      w.end();
      sent.push(address);
    }
    if (sent.length) {
      this.#conn.execute(w).forEach((errno, i) => {
        if (errno === 0) return;
        const error = new KernelError(`${verb} ${sent[i]} on link ${linkIndex}`, errno);
        if (!benign.includes(error.code)) failures.push({ address: sent[i]!, error });
      });
    }
    return failures;
  }
}

function ifinfomsg(family: number, index: number): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  return b;
}

function ifaddrmsg(family: number, prefixLen: number, flags: number, scope: number, index = 0): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLen, 1);
  b.writeUInt8(flags, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}

function decodeLink(payload: Buffer): LinkInfo {
  const a = parseAttrs(payload, 16);
  const info = a[IFLA_LINKINFO] ? parseAttrs(a[IFLA_LINKINFO]) : [];
  return {
    index: payload.readInt32LE(4),
    flags: payload.readUInt32LE(8),
    name: attr.string(a[IFLA_IFNAME]),
    kind: info[IFLA_INFO_KIND] ? attr.string(info[IFLA_INFO_KIND]) : undefined,
  };
}

function decodeAddress(payload: Buffer): InterfaceAddress | null {
  const af = payload.readUInt8(0);
  if (af !== AF_INET && af !== AF_INET6) return null;
  const a = parseAttrs(payload, 8);
  // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
  const raw = a[IFA_LOCAL] ?? a[IFA_ADDRESS];
  if (!raw) return null;
  const family: Family = af === AF_INET ? 'inet' : 'inet6';
  return {
    family,
    address: formatAddress(raw.subarray(0, family === 'inet' ? 4 : 16), family),
    prefixLength: payload.readUInt8(1),
    scope: payload.readUInt8(3),
    linkIndex: payload.readUInt32LE(4),
  };
}

export { familyOf, RT_SCOPE_HOST };
