// The IPVS object model: the shapes kipvs reads from and writes to the kernel. A virtual service is
// identified by family + protocol + address + port, or by family + firewall mark; a real server by its
// service plus address + port. No Kubernetes types here.

export type { Family } from '../netlink/address.js';
import type { Family } from '../netlink/address.js';
export type Protocol = 'tcp' | 'udp' | 'sctp';
export type ForwardMethod = 'masq' | 'local' | 'tunnel' | 'route' | 'bypass';
export type TunnelType = 'ipip' | 'gue' | 'gre';

/** Schedulers the kernel ships (ip_vs_*.ko); the names ipvsadm takes with -s. */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf', 'twos'] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

export type ServiceKey =
  | { family: Family; protocol: Protocol; address: string; port: number; fwmark?: undefined }
  | { family: Family; fwmark: number; protocol?: undefined; address?: undefined; port?: undefined };

/**
 * Scheduler flags, by what they mean. sh-* apply to the sh scheduler and mh-* to mh; the kernel
 * stores both pairs in the same two bits (IP_VS_SVC_F_SCHED1/SCHED2).
 */
export interface SchedulerFlags {
  shFallback?: boolean;
  shPort?: boolean;
  mhFallback?: boolean;
  mhPort?: boolean;
}

export interface ServiceConfig {
  scheduler: string;
  /** Persistence: timeout in seconds (> 0), and the netmask that groups clients. */
  persistent?: { timeout: number; netmask?: string } | undefined;
  onePacket?: boolean;
  schedulerFlags?: SchedulerFlags;
  /** Persistence engine name (e.g. "sip"); rarely used. */
  pe?: string | undefined;
}

export type VirtualService = ServiceKey & ServiceConfig;

export interface RealServerKey {
  address: string;
  port: number;
}

export interface RealServerConfig {
  forward?: ForwardMethod;
  weight?: number;
  upperThreshold?: number;
  lowerThreshold?: number;
  /** Address family of the real server; defaults to the service's (only tunnels may differ). */
  family?: Family;
  tunnel?: { type: TunnelType; port?: number; checksum?: 'none' | 'csum' | 'remcsum' };
}

export type RealServer = RealServerKey & RealServerConfig;

export interface Stats {
  conns: bigint;
  inPackets: bigint;
  outPackets: bigint;
  inBytes: bigint;
  outBytes: bigint;
  cps: bigint;
  inPps: bigint;
  outPps: bigint;
  inBps: bigint;
  outBps: bigint;
}

/** A virtual service as the kernel reports it, without its statistics. */
export type ServiceInfo = ServiceKey & {
  scheduler: string;
  /** Raw IP_VS_SVC_F_* flags, HASHED removed. */
  flags: number;
  persistent?: { timeout: number; netmask: string } | undefined;
  onePacket: boolean;
  schedulerFlags: SchedulerFlags;
  pe?: string | undefined;
};

/** A virtual service as the kernel reports it, with counters and rates. */
export type ServiceEntry = ServiceInfo & { stats: Stats };

/** A real server as the kernel reports it, without its statistics. */
export interface RealServerInfo {
  address: string;
  port: number;
  family: Family;
  forward: ForwardMethod;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  activeConns: number;
  inactiveConns: number;
  persistentConns: number;
  tunnel?: { type: TunnelType; port: number; checksum: 'none' | 'csum' | 'remcsum' } | undefined;
}

/** A real server as the kernel reports it, with counters and rates. */
export interface RealServerEntry extends RealServerInfo {
  stats: Stats;
}

/**
 * What a listing decodes: `{ stats: false }` leaves out the counters and rates, which are most of the
 * cost of decoding a large table and of no use to a reconcile or a plain listing.
 */
export interface ListOptions {
  stats?: boolean;
  /**
   * forEachEntry: leave out a service deleted between the service dump and its real-server dump
   * instead of listing it with no servers: a reader that keeps a model must not bring it back.
   */
  skipGone?: boolean;
}

export interface Timeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

export interface IpvsInfo {
  /** e.g. "1.2.1" */
  version: string;
  versionCode: number;
  connTableSize: number;
}

export interface SyncDaemon {
  state: 'master' | 'backup';
  mcastInterface: string;
  syncId: number;
  syncMaxLen?: number | undefined;
  mcastGroup?: string | undefined;
  mcastPort?: number | undefined;
  mcastTtl?: number | undefined;
}

/** One change to apply, for batches. */
export type Operation =
  | { op: 'add-service'; service: VirtualService }
  | { op: 'update-service'; service: VirtualService }
  | { op: 'delete-service'; service: ServiceKey }
  | { op: 'add-server'; service: ServiceKey; server: RealServer }
  | { op: 'update-server'; service: ServiceKey; server: RealServer }
  | { op: 'delete-server'; service: ServiceKey; server: RealServerKey };
