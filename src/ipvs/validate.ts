// Checks a virtual service or real server before anything is sent, so that bad input gets an error
// naming the field instead of an EINVAL from the kernel. Returns normalised copies (canonical
// addresses, defaults filled in).
import { parseAddress, formatAddress, isIPv4Netmask, isIPv4Text } from '../netlink/address.js';
import { SCHEDULERS } from './types.js';
import { serviceFlags } from './codec.js';
import type {
  Family, Protocol, ServiceKey, ServiceInfo, VirtualService, RealServer, RealServerKey, ForwardMethod, TunnelType,
} from './types.js';

/** Input that cannot be sent: `field` names what is wrong, `object` what it belongs to. */
export class IpvsValidationError extends Error {
  readonly field: string;
  readonly object: string;
  constructor(object: string, field: string, reason: string) {
    super(`${object}: invalid ${field}: ${reason}`);
    this.name = 'IpvsValidationError';
    this.field = field;
    this.object = object;
  }
}

const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];
const FORWARDS: readonly ForwardMethod[] = ['masq', 'local', 'tunnel', 'route', 'bypass'];
const TUNNELS: readonly TunnelType[] = ['ipip', 'gue', 'gre'];

/** How a service is named in messages: "TCP 10.0.0.1:80", "TCP [fd00::1]:80", "FWM 7 (inet6)". */
export function describeService(key: ServiceKey): string {
  if (key.fwmark !== undefined) return `FWM ${key.fwmark}${key.family === 'inet6' ? ' (IPv6)' : ''}`;
  const host = key.family === 'inet6' ? `[${key.address}]` : key.address;
  return `${String(key.protocol).toUpperCase()} ${host}:${key.port}`;
}

export function describeServer(key: ServiceKey, server: RealServerKey): string {
  const host = server.address?.includes(':') ? `[${server.address}]` : server.address;
  return `real server ${host}:${server.port} of ${describeService(key)}`;
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/**
 * An address' family and canonical text, parsed once: this runs for every object of a batch (a
 * first sync at 10,000 Services checks 110,000), and parsing each address three or four times (the
 * family, then the canonical text, with node:net's regular expressions) was most of the cost of a
 * batch in the sandbox. Null if it is not an address.
 */
function addressOf(address: unknown): { family: Family; canonical: string } | null {
  if (typeof address !== 'string') return null;
  // A dotted quad without leading zeros is already canonical.
  if (isIPv4Text(address)) return { family: 'inet', canonical: address };
  const bytes = parseAddress(address);
  return bytes?.length === 16 ? { family: 'inet6', canonical: formatAddress(bytes) } : null;
}

export function validateServiceKey(key: ServiceKey): ServiceKey {
  const obj = () => {
    try { return `virtual service ${describeService(key)}`; } catch { return 'virtual service'; }
  };
  if (key.family !== 'inet' && key.family !== 'inet6') {
    throw new IpvsValidationError(obj(), 'family', `"${String(key.family)}" is not inet or inet6`);
  }
  if (key.fwmark !== undefined) {
    if (!isInt(key.fwmark, 1, 0xffffffff)) {
      throw new IpvsValidationError(obj(), 'fwmark', `${key.fwmark} is not an integer from 1 to 4294967295`);
    }
    return { family: key.family, fwmark: key.fwmark };
  }
  if (!PROTOCOLS.includes(key.protocol as Protocol)) {
    throw new IpvsValidationError(obj(), 'protocol', `"${String(key.protocol)}" is not tcp, udp or sctp`);
  }
  const a = addressOf(key.address);
  if (!a) throw new IpvsValidationError(obj(), 'address', `"${String(key.address)}" is not an IP address`);
  if (a.family !== key.family) {
    throw new IpvsValidationError(obj(), 'address', `${key.address} is not an ${key.family === 'inet' ? 'IPv4' : 'IPv6'} address`);
  }
  if (!isInt(key.port, 0, 65535)) throw new IpvsValidationError(obj(), 'port', `${key.port} is not from 0 to 65535`);
  return { family: key.family, protocol: key.protocol, address: a.canonical, port: key.port };
}

/** The persistence netmask when none is given: every client on its own (the kernel's default too). */
export function defaultNetmask(family: Family): string {
  return family === 'inet' ? '255.255.255.255' : '128';
}

export function validateService(svc: VirtualService): VirtualService {
  const key = validateServiceKey(svc);
  // Named only when something is wrong: a first sync checks 10,000 services that are not.
  const obj = () => `virtual service ${describeService(key)}`;
  if (typeof svc.scheduler !== 'string' || !(SCHEDULERS as readonly string[]).includes(svc.scheduler)) {
    throw new IpvsValidationError(obj(), 'scheduler', `"${String(svc.scheduler)}" is not one of ${SCHEDULERS.join(' ')}`);
  }
  // A literal, not the key spread into it (V8 builds those much slower; one per service of a sync).
  const out: VirtualService = key.fwmark !== undefined
    ? { family: key.family, fwmark: key.fwmark, scheduler: svc.scheduler }
    : { family: key.family, protocol: key.protocol, address: key.address, port: key.port, scheduler: svc.scheduler };
  if (svc.persistent) {
    const { timeout, netmask } = svc.persistent;
    if (!isInt(timeout, 1, 0x7fffffff)) throw new IpvsValidationError(obj(), 'persistent.timeout', `${timeout} is not a positive number of seconds`);
    let mask = netmask ?? defaultNetmask(key.family);
    if (key.family === 'inet' && !isIPv4Netmask(mask)) {
      throw new IpvsValidationError(obj(), 'persistent.netmask', `"${mask}" is not an IPv4 netmask`);
    }
    if (key.family === 'inet6') {
      mask = String(mask).replace(/^\//, '');
      if (!/^\d+$/.test(mask) || !isInt(Number(mask), 1, 128)) {
        throw new IpvsValidationError(obj(), 'persistent.netmask', `"${netmask}" is not an IPv6 prefix length from 1 to 128`);
      }
    }
    out.persistent = { timeout, netmask: mask };
  } else if (key.fwmark === undefined && key.port === 0) {
    throw new IpvsValidationError(obj(), 'port', 'port 0 is only allowed for persistent services');
  }
  if (svc.onePacket) {
    if (key.protocol !== 'udp') throw new IpvsValidationError(obj(), 'onePacket', 'one-packet scheduling is only for UDP virtual services');
    out.onePacket = true;
  }
  const f = svc.schedulerFlags ?? {};
  if ((f.shFallback || f.shPort) && svc.scheduler !== 'sh') {
    throw new IpvsValidationError(obj(), 'schedulerFlags', `sh-fallback and sh-port need the sh scheduler, not ${svc.scheduler}`);
  }
  if ((f.mhFallback || f.mhPort) && svc.scheduler !== 'mh') {
    throw new IpvsValidationError(obj(), 'schedulerFlags', `mh-fallback and mh-port need the mh scheduler, not ${svc.scheduler}`);
  }
  if (svc.schedulerFlags) {
    const flags = Object.fromEntries(Object.entries(f).filter(([, v]) => v === true));
    if (Object.keys(flags).length) out.schedulerFlags = flags;
  }
  if (svc.pe !== undefined && svc.pe !== '') {
    if (typeof svc.pe !== 'string' || svc.pe.length > 15) throw new IpvsValidationError(obj(), 'pe', `"${svc.pe}" is not a persistence engine name`);
    out.pe = svc.pe;
  }
  return out;
}

export function validateServerKey(service: ServiceKey, server: RealServerKey, family?: Family): RealServerKey {
  return serverKeyOf(service, server, addressOf(server.address), family);
}

function serverKeyOf(service: ServiceKey, server: RealServerKey, a: ReturnType<typeof addressOf>, family?: Family): RealServerKey {
  const obj = () => `real server ${String(server.address)}:${String(server.port)} of ${describeService(service)}`;
  if (!a) throw new IpvsValidationError(obj(), 'address', `"${String(server.address)}" is not an IP address`);
  if (family && a.family !== family) {
    throw new IpvsValidationError(obj(), 'address', `${server.address} is not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address`);
  }
  if (!isInt(server.port, 0, 65535)) throw new IpvsValidationError(obj(), 'port', `${server.port} is not from 0 to 65535`);
  return { address: a.canonical, port: server.port };
}

type ValidServer = Required<Pick<RealServer, 'forward' | 'weight' | 'upperThreshold' | 'lowerThreshold' | 'family'>> & RealServer;

export function validateServer(service: ServiceKey, server: RealServer): ValidServer {
  return validateServerOf(validateServiceKey(service), server);
}

/** validateServer() for a service key that validateServiceKey() has already returned (a batch checks each service once). */
export function validateServerOf(svcKey: ServiceKey, server: RealServer): ValidServer {
  const forward = server.forward ?? 'masq';
  const a = addressOf(server.address);
  const family = server.family ?? a?.family ?? svcKey.family;
  const key = serverKeyOf(svcKey, server, a, family);
  // Described only when something is wrong: formatting it for every server of a large batch costs.
  const obj = () => describeServer(svcKey, key);
  if (!FORWARDS.includes(forward)) throw new IpvsValidationError(obj(), 'forward', `"${String(forward)}" is not one of ${FORWARDS.join(' ')}`);
  if (family !== svcKey.family && forward !== 'tunnel') {
    throw new IpvsValidationError(obj(), 'family', `an ${family === 'inet' ? 'IPv4' : 'IPv6'} real server in an ${svcKey.family === 'inet' ? 'IPv4' : 'IPv6'} service needs tunnel forwarding`);
  }
  const weight = server.weight ?? 1;
  if (!isInt(weight, 0, 65535)) throw new IpvsValidationError(obj(), 'weight', `${weight} is not from 0 to 65535`);
  const upper = server.upperThreshold ?? 0;
  const lower = server.lowerThreshold ?? 0;
  if (!isInt(upper, 0, 0xffffffff)) throw new IpvsValidationError(obj(), 'upperThreshold', `${upper} is not from 0 to 4294967295`);
  if (!isInt(lower, 0, 0xffffffff)) throw new IpvsValidationError(obj(), 'lowerThreshold', `${lower} is not from 0 to 4294967295`);
  if (upper !== 0 && lower > upper) {
    throw new IpvsValidationError(obj(), 'lowerThreshold', `${lower} is above the upper threshold ${upper}`);
  }
  const out: ValidServer = { ...key, forward, weight, upperThreshold: upper, lowerThreshold: lower, family };
  if (server.tunnel) {
    if (forward !== 'tunnel') throw new IpvsValidationError(obj(), 'tunnel', 'tunnel settings need tunnel forwarding');
    const { type, port, checksum } = server.tunnel;
    if (!TUNNELS.includes(type)) throw new IpvsValidationError(obj(), 'tunnel.type', `"${String(type)}" is not one of ${TUNNELS.join(' ')}`);
    if (type === 'gue' && !isInt(port, 1, 65535)) throw new IpvsValidationError(obj(), 'tunnel.port', 'a GUE tunnel needs a port from 1 to 65535');
    if (port !== undefined && !isInt(port, 0, 65535)) throw new IpvsValidationError(obj(), 'tunnel.port', `${port} is not from 0 to 65535`);
    if (checksum !== undefined && !['none', 'csum', 'remcsum'].includes(checksum)) {
      throw new IpvsValidationError(obj(), 'tunnel.checksum', `"${String(checksum)}" is not none, csum or remcsum`);
    }
    if (type === 'ipip' && checksum && checksum !== 'none') {
      throw new IpvsValidationError(obj(), 'tunnel.checksum', 'an ipip tunnel has no checksum option');
    }
    out.tunnel = { type, port: port ?? 0, checksum: checksum ?? 'none' };
  }
  return out;
}

/**
 * Whether `server` is valid as it is and validateServerOf would change nothing the kernel sees: an
 * IPv4 real server of an IPv4 service, its address in canonical text, not tunnelled, port, weight and
 * thresholds in range. A batch then encodes the caller's object itself; the normalised copy and the
 * objects made on the way were the largest allocation of a first sync (a third at 10,000 Services).
 * False sends the server through validateServerOf, which says what is wrong.
 */
export function isPlainValidServer(svcKey: ServiceKey, server: RealServer): boolean {
  if (svcKey.family !== 'inet' || server.tunnel !== undefined || (server.family !== undefined && server.family !== 'inet')) return false;
  const f = server.forward;
  if (f !== undefined && f !== 'masq' && f !== 'local' && f !== 'route' && f !== 'bypass') return false;
  const weight = server.weight ?? 1;
  const upper = server.upperThreshold ?? 0;
  const lower = server.lowerThreshold ?? 0;
  if (!isInt(server.port, 0, 65535) || !isInt(weight, 0, 65535) || !isInt(upper, 0, 0xffffffff) || !isInt(lower, 0, 0xffffffff)) return false;
  if (upper !== 0 && lower > upper) return false;
  return typeof server.address === 'string' && isIPv4Text(server.address);
}

/** The kernel's view of a virtual service kipvs added (what a dump would return for it). */
export function serviceInfoOf(s: VirtualService): ServiceInfo {
  // Two plain literals, not a spread of one of two objects into a third: V8 builds that one
  // slowly (6 us a call on a fast machine against 0.05; a first sync makes one per service).
  const persistent = s.persistent ? { timeout: s.persistent.timeout, netmask: s.persistent.netmask ?? defaultNetmask(s.family) } : undefined;
  const schedulerFlags = s.schedulerFlags ? { ...s.schedulerFlags } : {};
  const onePacket = s.onePacket ?? false;
  if (s.fwmark !== undefined) {
    return { family: s.family, fwmark: s.fwmark, scheduler: s.scheduler, flags: serviceFlags(s), persistent, onePacket, schedulerFlags, pe: s.pe } as ServiceInfo;
  }
  return {
    family: s.family, protocol: s.protocol, address: s.address, port: s.port, scheduler: s.scheduler, flags: serviceFlags(s), persistent, onePacket, schedulerFlags, pe: s.pe,
  } as ServiceInfo;
}
