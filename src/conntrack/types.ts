// What the conntrack client hands out and takes: one tracked flow's tuples, and the outcome of a scan.
import type { Family } from '../netlink/address.js';
export type { Family };

/** One direction of a flow: addresses in canonical text, ports in host order. */
export interface FlowTuple {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
}

/** A tracked flow as `conntrack -L` shows its tuples. */
export interface ConntrackFlow {
  family: Family;
  /** IP protocol number (17: UDP). */
  protocol: number;
  original: FlowTuple;
  reply: FlowTuple;
  /** Conntrack zone (0: the default one). */
  zone: number;
  /** The kernel's id of the entry (CTA_ID), when it sent one. */
  id?: number;
}

/** What a scan (dump, match, delete) found and did. */
export interface ScanResult {
  /** Flows of the family and protocol looked at. */
  scanned: number;
  /** Flows the predicate chose. */
  matched: number;
  /** Of those, the ones the kernel deleted. */
  deleted: number;
  /** Of those, the ones already gone when the delete arrived (expired meanwhile: ENOENT). */
  gone: number;
  /** Deletes the kernel refused for another reason, with the flow and the errno's name. */
  failures: { flow: ConntrackFlow; code: string }[];
  /** Whether the kernel filtered the dump by protocol (CTA_FILTER), or every flow came up. */
  kernelFiltered: boolean;
  ms: number;
}
