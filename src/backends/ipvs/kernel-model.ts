// The engine's model of the kernel's real servers, kept small: an entry shares the desired state's
// table of real servers (read-only) while the kernel holds exactly those, and gets a Map of its own
// the moment anything differs. See KernelService.shared in plan.ts.
import type { Operation, RealServer, ServiceInfo } from '../../ipvs/types.js';
import { sameServer, type KernelServer, type KernelService } from './plan.js';

/** The entry's own Map of real servers, copied from the desired state's table first if it shares that one. */
export function ownServers(entry: KernelService): Map<string, KernelServer> {
  if (entry.shared || !(entry.servers instanceof Map)) {
    const own = new Map(entry.servers);
    entry.servers = own;
    entry.shared = false;
    return own;
  }
  return entry.servers;
}

/**
 * Let `entry` share the desired table of real servers when it holds the same ones (equal settings: a
 * model commit makes new RealServer objects for every server of a Service it recomputes).
 */
export function shareIfSame(entry: KernelService | undefined, want: { servers: ReadonlyMap<string, RealServer> } | undefined): void {
  if (!entry || !want || entry.servers === want.servers || entry.servers.size !== want.servers.size) return;
  for (const [sk, server] of want.servers) {
    const have = entry.servers.get(sk);
    if (!have || !sameServer(server, have)) return;
  }
  entry.servers = want.servers;
  entry.shared = true;
}

/**
 * How many operations from `at` add exactly `servers` to `service`, in the table's order and none
 * failed (as plan() lists a new service's real servers); -1 when they do not.
 */
export function addsExactly(ops: readonly Operation[], at: number, service: object, servers: ReadonlyMap<string, RealServer>, failed: ReadonlySet<number>): number {
  let i = at;
  for (const server of servers.values()) {
    const op = ops[i];
    if (!op || op.op !== 'add-server' || op.service !== service || op.server !== server || failed.has(i)) return -1;
    i++;
  }
  return i - at;
}

/**
 * Whether two kernel views of a virtual service say the same in every field a dump gives. A reconcile
 * keeps the model's object when the dump says the same: replacing it every time made each reconcile
 * promote a new object per service (and its strings) and leave the old one to the old generation.
 */
export function sameServiceInfo(a: ServiceInfo, b: ServiceInfo): boolean {
  const x = a as ServiceInfo & { protocol?: string; address?: string; port?: number; fwmark?: number };
  const y = b as ServiceInfo & { protocol?: string; address?: string; port?: number; fwmark?: number };
  const xf = a.schedulerFlags, yf = b.schedulerFlags;
  return x.family === y.family && x.fwmark === y.fwmark && x.protocol === y.protocol && x.address === y.address && x.port === y.port
    && a.scheduler === b.scheduler && a.flags === b.flags && a.onePacket === b.onePacket && (a.pe ?? '') === (b.pe ?? '')
    && (a.persistent?.timeout ?? -1) === (b.persistent?.timeout ?? -1) && (a.persistent?.netmask ?? '') === (b.persistent?.netmask ?? '')
    && !!xf.shFallback === !!yf.shFallback && !!xf.shPort === !!yf.shPort && !!xf.mhFallback === !!yf.mhFallback && !!xf.mhPort === !!yf.mhPort;
}

/**
 * An entry's real servers in the order a dump most likely lists them: the kernel puts a new real server
 * at the head of its service's list, and the model's Map keeps them oldest first (the engine adds
 * them in the order it sends them, and reads a dump's from its end), so the dump shows the Map's order
 * reversed. Not always: a desired table the entry shares is in the EndpointSlices' order, which is the
 * order they were added in only if they were added together or appended. A wrong guess costs only the
 * decoding it would have saved (IpvsClient.forEachEntrySteps).
 */
export function kernelOrder(servers: ReadonlyMap<string, KernelServer>): KernelServer[] {
  const out = Array.from(servers.values());
  out.reverse();
  return out;
}
