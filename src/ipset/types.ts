// The ipset client's public types.

/** The set types kipvs creates and reads (those kube-proxy's IPVS mode uses). */
export type SetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';
export const SET_TYPES: readonly SetType[] = ['hash:ip', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'bitmap:port'];

import type { Family } from '../netlink/address.js';
export type { Family };

export interface SetSpec {
  name: string;
  type: SetType;
  /** Address family of the members; bitmap:port sets are 'inet' only. */
  family: Family;
  /** bitmap:port only (required there): the ports the set can hold, inclusive. */
  range?: { from: number; to: number };
  /** hash types only: initial hash size (the kernel rounds it to a power of two). */
  hashSize?: number;
  /** hash types only: most members the set may hold. */
  maxElem?: number;
}

/**
 * A member in ipset's own text form, exactly as `ipset list` prints it:
 * "10.0.0.1" | "10.0.0.1,tcp:80" | "10.0.0.1,udp:53,10.0.0.2" | "10.0.0.1,tcp:80,10.0.0.0/8" | "3001" |
 * "fd00::1,tcp:80" | "10.0.0.1,sctp:3001". Protocols are tcp, udp and sctp.
 */
export type Entry = string;

export interface SetOp {
  op: 'add' | 'del';
  set: string;
  entry: Entry;
}

export interface SetHeader {
  type: SetType;
  family: Family;
  /** Members in the set (0 when the kernel did not say: see entriesCounted). */
  entries: number;
  /** The kernel said how many members the set holds (kernels before 4.x's element count do not). */
  entriesCounted: boolean;
  /** Kernel references (iptables rules, list:set members) that keep it from being destroyed. */
  references: number;
  /** The set type's revision. */
  revision: number;
  /** hash types: the most members the set may hold (the kernel refuses more with IPSET_ERR_HASH_FULL). */
  maxElem?: number;
  /** hash types: the current size of the hash table. */
  hashSize?: number;
}

export type Protocol = 'tcp' | 'udp' | 'sctp';

/** An entry taken apart; `text` is its canonical form (what `ipset list` would print). */
export interface ParsedEntry {
  text: string;
  /** The first address (hash types): 4 or 16 bytes. */
  ip?: Uint8Array;
  protocol?: Protocol;
  port?: number;
  /** The second address (hash:ip,port,ip and hash:ip,port,net). */
  ip2?: Uint8Array;
  /** Prefix length of ip2 (hash:ip,port,net). */
  cidr2?: number;
}
