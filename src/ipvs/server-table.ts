// One virtual service's real servers as the desired state keeps them: an array, read as a ReadonlyMap
// by serverKeyString. The desired state holds one per virtual service for as long as it lives; as a
// Map, each cost its hash table and a key string per server (8 MB of a 67 MB heap at 10,000 Services
// x 10 endpoints, a new node's, where the array costs about 1 MB). Lookups scan the array (most
// services have a few servers) and build an index once a table is larger than INDEX_FROM.
import type { RealServerKey } from './types.js';
import { serverKeyString } from './keys.js';

/** Tables of more servers than this index them by key on their first lookup. */
export const INDEX_FROM = 16;

export class ServerTable<S extends RealServerKey> implements ReadonlyMap<string, S> {
  readonly #list: readonly S[];
  #index: Map<string, S> | undefined;

  /** `servers`: distinct by address and port (not checked), never changed after. */
  constructor(servers: readonly S[]) {
    this.#list = servers;
  }

  get size(): number {
    return this.#list.length;
  }

  /** The servers in their order (read-only). */
  get list(): readonly S[] {
    return this.#list;
  }

  get(key: string): S | undefined {
    const list = this.#list;
    if (list.length > INDEX_FROM) return this.#indexed().get(key);
    // "address/port": compared in place, without cutting the key in two. The port as serverKeyString
    // writes it: 1 to 5 digits, no leading zero.
    const slash = key.lastIndexOf('/');
    const digits = key.length - slash - 1;
    if (slash < 1 || digits < 1 || digits > 5 || (digits > 1 && key.charCodeAt(slash + 1) === 48)) return undefined;
    let port = 0;
    for (let i = slash + 1; i < key.length; i++) {
      const d = key.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return undefined;
      port = port * 10 + d;
    }
    for (const s of list) if (s.port === port && s.address.length === slash && key.startsWith(s.address)) return s;
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  values(): MapIterator<S> {
    return this.#list.values();
  }

  *keys(): MapIterator<string> {
    for (const s of this.#list) yield serverKeyString(s);
  }

  *entries(): MapIterator<[string, S]> {
    for (const s of this.#list) yield [serverKeyString(s), s];
  }

  [Symbol.iterator](): MapIterator<[string, S]> {
    return this.entries();
  }

  forEach(fn: (value: S, key: string, map: ReadonlyMap<string, S>) => void, thisArg?: unknown): void {
    for (const s of this.#list) fn.call(thisArg, s, serverKeyString(s), this);
  }

  get [Symbol.toStringTag](): string {
    return 'ServerTable';
  }

  #indexed(): Map<string, S> {
    if (!this.#index) {
      const index = new Map<string, S>();
      for (const s of this.#list) index.set(serverKeyString(s), s);
      this.#index = index;
    }
    return this.#index;
  }
}
