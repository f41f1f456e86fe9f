// Reading Kubernetes' fields into IPVS terms (protocols, address types, IP addresses, ports) and
// collecting the warnings about those that are bad. Shared by the computation of a Service (compute.ts)
// and the selection of its endpoints (endpoints.ts).
import type { Family, Protocol } from '../ipvs/types.js';
import { parseAddress, formatAddress, isIPv4Text } from '../netlink/address.js';
import type { ModelWarning } from './types.js';

// Null prototypes: a protocol named "constructor" or "__proto__" must not find Object's properties.
export const PROTOCOLS: Record<string, Protocol> = Object.assign(Object.create(null) as Record<string, Protocol>, { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' });
export const ADDRESS_TYPES: Record<string, Family> = Object.assign(Object.create(null) as Record<string, Family>, { IPv4: 'inet', IPv6: 'inet6' });

/** A value in a message: JSON (strings quoted, control characters escaped), cut at 80 characters. Never throws. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export class Warnings {
  readonly list: ModelWarning[] = [];
  private seen = new Set<string>();
  add(object: string, field: string, message: string): void {
    const k = `${object}\0${field}\0${message}`;
    if (this.seen.has(k)) return;
    this.seen.add(k);
    this.list.push({ object, field, message });
  }
}

export function validIp(text: unknown): { address: string; family: Family } | null {
  if (typeof text !== 'string') return null;
  // Most addresses are dotted quads: checked without making their bytes (110,000 in a first sync at
  // 10,000 Services, each once for the virtual services and once for the ipset entries).
  if (isIPv4Text(text)) return { address: text, family: 'inet' };
  if (text.includes('%')) return null;
  const bytes = parseAddress(text);
  if (!bytes) return null;
  // Dotted quads that parse are already canonical (no leading zeros); IPv6 text is reformatted.
  return bytes.length === 4 ? { address: text, family: 'inet' } : { address: formatAddress(bytes), family: 'inet6' };
}

export const validPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
