// Name resolution as ipvsadm does it without -n: ports through getservbyport/getservbyname (the
// "files" source: /etc/services, first matching line wins) and addresses through gethostbyaddr /
// gethostbyname, i.e. the system resolver (NSS: /etc/hosts, DNS, …). Node's dns.lookupService is
// getnameinfo(NI_NAMEREQD), which glibc answers with gethostbyaddr_r: the same h_name. Lookups are
// done once per distinct address, concurrently, before anything is printed.
import { readFileSync } from 'node:fs';
import { formatAddress } from '../../netlink/address.js';
import type { Lookups } from './args.js';

export type Proto = 'tcp' | 'udp' | 'sctp';

interface ServEntry { name: string; aliases: string[]; port: number; proto: string }

let servicesCache: ServEntry[] | null = null;
let servicesPath = '/etc/services';

/** For tests: read services from another file. */
export function setServicesFile(path: string): void {
  servicesPath = path;
  servicesCache = null;
}

/** Parse an /etc/services text the way glibc's files backend does. */
export function parseServices(text: string): ServEntry[] {
  const out: ServEntry[] = [];
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const line = hash >= 0 ? raw.slice(0, hash) : raw;
    const fields = line.split(/[ \t\r\f\v]+/).filter(Boolean);
    if (fields.length < 2) continue;
    const m = /^(\d+)\/(\S+)$/.exec(fields[1]!);
    if (!m) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    out.push({ name: fields[0]!, aliases: fields.slice(2), port, proto: m[2]! });
  }
  return out;
}

function services(): ServEntry[] {
  if (!servicesCache) {
    try {
      servicesCache = parseServices(readFileSync(servicesPath, 'utf8'));
    } catch {
      servicesCache = [];
    }
  }
  return servicesCache;
}

/** getservbyport(port, proto)->s_name, or null. */
export function portToService(port: number, proto: Proto): string | null {
  for (const e of services()) if (e.port === port && e.proto === proto) return e.name;
  return null;
}

/** getservbyname(name, proto)->s_port, or null. */
export function serviceToPort(name: string, proto: Proto): number | null {
  for (const e of services()) if (e.proto === proto && (e.name === name || e.aliases.includes(name))) return e.port;
  return null;
}

/** port_to_anyname: the service name, or the number. */
export function portToAnyname(port: number, proto: number): string {
  const p: Proto | null = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 132 ? 'sctp' : null;
  return (p && portToService(port, p)) || String(port);
}

/** Host names of addresses, looked up through the system resolver, falling back to the address. */
export class HostNames {
  readonly #names = new Map<string, string>();
  readonly #pending = new Map<string, Promise<void>>();

  /** Queue a lookup of an address (text as inet_ntop writes it). */
  want(address: string): void {
    if (this.#names.has(address) || this.#pending.has(address)) return;
    this.#pending.set(address, (async () => {
      const dns = await import('node:dns');
      const name = await new Promise<string | null>((resolve) => {
        dns.lookupService(address, 0, (err, hostname) => resolve(err ? null : hostname));
      });
      this.#names.set(address, name ?? address);
    })());
  }

  async settle(): Promise<void> {
    await Promise.all(this.#pending.values());
    this.#pending.clear();
  }

  /** addr_to_anyname: the host name, or the address when it has none. */
  name(address: string): string {
    return this.#names.get(address) ?? address;
  }
}

/** The lookups the argument parser needs. */
export const systemLookups: Lookups = {
  async hostToAddr4(name: string): Promise<Uint8Array | null> {
    const dns = await import('node:dns');
    return new Promise((resolve) => {
      dns.lookup(name, { family: 4 }, (err, address) => {
        if (err) return resolve(null);
        resolve(Uint8Array.from(address.split('.').map(Number)));
      });
    });
  },
  serviceToPort,
};

export { formatAddress };
