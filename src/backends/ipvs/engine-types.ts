// The sync engine's options, result and tuning constants (engine.ts is the engine itself).
import type { IpvsClient, OperationFailure } from '../../ipvs/client.js';
import type { LinkClient, VipBinding } from '../../link/link.js';
import type { Logger } from '../backend.js';

export interface EngineOptions {
  ipvs: IpvsClient;
  link: LinkClient;
  log: Logger;
  dummyName?: string;
  /** How VIPs are made local: addresses on kube-ipvs0 (default, as kube-proxy) or local routes. */
  vipBinding?: VipBinding;
  /** ipvs.excludeCIDRs: virtual services on these addresses are never deleted (wanted ones are still kept right). */
  excludeCIDRs?: string[];
  /** Addresses of this node's interfaces (NodePort virtual services live on them). */
  nodeAddresses?: () => Iterable<string>;
  /** Upper bound on draining a TCP real server (kube-proxy has none). Default 15 min. */
  gracefulTimeoutMs?: number;
  /** Called when that bound deletes a server that still has connections. */
  onDrainTimeout?: (serviceKey: string, server: string, connections: number) => void;
  now?: () => number;
}

export interface SyncResult {
  kind: 'incremental' | 'full';
  operations: number;
  failures: OperationFailure[];
  bound: number;
  unbound: number;
  drained: number;
  /** Operations that repaired drift found by a full reconcile. */
  repaired: number;
  durationMs: number;
  /**
   * Where the time went: reading the kernel, planning, binding VIPs, IPVS operations, unbinding.
   * Binds made apart (BINDS_APART_FROM) overlap the IPVS operations: then bindMs is their own time.
   */
  phases: { readMs: number; planMs: number; bindMs: number; applyMs: number; unbindMs: number };
  counts: Record<string, number>;
  /** 1, or more when a netlink fault (timeout, ENOBUFS, …) made the engine read the kernel again and retry. */
  attempts: number;
}

/**
 * A sync that hits a netlink fault is made once more at once, from a fresh read of the kernel;
 * a second fault fails the sync (the agent retries it later, again from a fresh read).
 */
export const SYNC_ATTEMPTS = 2;

/**
 * From this many VIPs to bind in one sync (a first sync, a new node), and with IPVS operations to
 * send too (or more slices of services to plan: SYNC_SLICE_SERVICES), the binds go apart, on another
 * CPU, while this thread sends the IPVS operations: two kernel subsystems under two different locks
 * (rtnl, the IPVS service mutex). Below it they go first, so that a changed service is reachable the
 * moment IPVS has it.
 */
export const BINDS_APART_FROM = 256;

/**
 * From this many IPVS operations in one paced sync, each piece goes to the kernel on libuv's thread
 * pool while this thread encodes the next and the event loop runs (IpvsClient.applySteps' `apart`).
 * A change's few operations go at once, blocking, which is quicker for them.
 */
export const OPERATIONS_APART_FROM = 1024;

/**
 * A full sync plans, applies and records this many services at a time (see SyncEngine's syncOnce), so
 * that a large first sync's operations are never all alive at once. At 10 real servers each, a slice is
 * ~11,000 operations: over OPERATIONS_APART_FROM, so each still goes to the kernel apart.
 */
export const SYNC_SLICE_SERVICES = 1000;

/**
 * A finished reconcile read older than this is not planned on again (see freshRead): drift made since
 * would wait a whole period more. The few changes a reconcile gives way to take far less.
 */
export const FRESH_READ_MS = 60_000;

/** Operation kinds, for metrics: add-service, delete-server, … plus bind and unbind. */
export type OperationCounts = Record<string, number>;
