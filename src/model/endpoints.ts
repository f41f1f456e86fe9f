// Which endpoints a Service port gets: its endpoints collected from the Service's (compact)
// EndpointSlices, kube-proxy's categorisation of them into the cluster and local sets (topology hints,
// serving-terminating fallbacks), the choice per traffic policy, and why an endpoint was left out.
// Separate from compute.ts because a computed virtual service runs it again when its endpoints are read.
import type { Family, Protocol, RealServer } from '../ipvs/types.js';
import type { ServerTable } from '../ipvs/server-table.js';
import { serverKeyString } from '../ipvs/keys.js';
import { LABEL_ZONE } from './labels.js';
import { READY, SERVING, TERMINATING, STRIDE, NONE, type CompactSlice, type EndpointExtra } from './compact.js';
import { PROTOCOLS, show, validIp, validPort, type Warnings } from './validate.js';
import { isIPv4Text } from '../netlink/address.js';

/** collectEndpoints looks for duplicates among this many endpoints by scanning them (no Set, no keys). */
const SCAN_UP_TO = 16;

/** No endpoints (frozen: shared by every categorisation that has none). */
const NO_EPS = Object.freeze([]) as unknown as Ep[];

/** An endpoint while computing (not kept). */
export interface Ep {
  address: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  local: boolean;
  zones: string[] | undefined;
  nodeHints: string[] | undefined;
  /** Where it is packed: slice.eps[i...]. */
  slice: CompactSlice;
  i: number;
}

function readEndpoint(slice: CompactSlice, i: number, address: string, port: number, nodeName: string): Ep {
  const eps = slice.eps!;
  const fx = eps[i + 1] as number | EndpointExtra;
  const x = typeof fx === 'number' ? undefined : fx;
  const f = x ? x.f : fx as number;
  const node = eps[i + 2];
  return {
    address,
    port,
    ready: (f & READY) !== 0,
    serving: (f & SERVING) !== 0,
    terminating: (f & TERMINATING) !== 0,
    local: node !== undefined && node === nodeName,
    zones: x?.zones,
    nodeHints: x?.nodeHints,
    slice,
    i,
  };
}

export interface Choice {
  servers: Ep[];
  policy: 'Cluster' | 'Local';
  zone?: string | undefined;
  node?: string | undefined;
  notes: string[];
  /** Why an endpoint not chosen was left out (besides not serving), when there is a particular reason. */
  why: (ep: Ep) => string | undefined;
  /** The real servers, made once and shared by the virtual services with this choice. */
  serverTable?: ServerTable<RealServer>;
}

/** `chosen`: the endpoints chosen, the same objects as those collected (choose() picks, never copies). */
export function notChosenReason(ep: Ep, chosen: ReadonlySet<Ep>, why: (ep: Ep) => string | undefined): string | undefined {
  if (chosen.has(ep)) return undefined;
  if (!ep.serving) return ep.terminating ? 'terminating and not serving' : 'not ready';
  return why(ep) ?? (ep.ready ? 'not chosen' : 'not ready (ready endpoints exist)');
}

// The predicates of the common path, made once: an arrow written inside categorize() is a new
// function object at each call until TurboFan inlines it (after 30,000 calls: src/config/tiering.ts),
// and the first commit calls it once per Service port.
const isReady = (e: Ep): boolean => e.ready;
const isLocal = (e: Ep): boolean => e.local;
const hasHints = (e: Ep): boolean => !!(e.nodeHints || e.zones);
const noParticularReason = (): undefined => undefined;

/**
 * kube-proxy's categorisation: the cluster set (topology-filtered when hints are usable), the local set,
 * each preferring ready endpoints and falling back to serving-and-terminating ones.
 *
 * Hints are used whenever they are usable, with no annotation or trafficDistribution needed (kube-proxy's
 * topologyModeFromHints: the EndpointSlice controller writes hints only when the Service asks for them,
 * so their presence is the request). Same node first: every ready endpoint has node hints and one names
 * this node. Else same zone: every ready endpoint has zone hints and one names this node's zone.
 */
export function categorize(eps: Ep[], zone: string | undefined, nodeName: string) {
  // Arrays are made only where a subset differs (most endpoints are ready, and most not on this node).
  const ready = eps.every(isReady) ? eps : eps.filter(isReady);
  const notes: string[] = [];
  let cluster: Ep[];
  let usedZone: string | undefined;
  let usedNode: string | undefined;
  if (ready.some(hasHints)) {
    if (ready.some((e) => e.nodeHints)) {
      if (ready.some((e) => !e.nodeHints)) notes.push('node hints ignored: some ready endpoints have none');
      else if (!ready.some((e) => e.nodeHints!.includes(nodeName))) notes.push(`node hints ignored: no endpoint is hinted for node ${nodeName}`);
      else usedNode = nodeName;
    }
    if (usedNode === undefined) {
      const noHints = ready.find((e) => !e.zones);
      if (noHints) notes.push(`zone hints ignored: endpoint ${noHints.address} has none`);
      else if (!zone) notes.push(`zone hints ignored: the node has no ${LABEL_ZONE} label`);
      else if (!ready.some((e) => e.zones!.includes(zone))) notes.push(`zone hints ignored: no endpoint is hinted for zone ${zone}`);
      else usedZone = zone;
    }
  }
  let clusterNote: string | undefined;
  if (usedNode !== undefined) {
    cluster = ready.filter((e) => e.nodeHints!.includes(usedNode!));
  } else if (usedZone !== undefined) {
    cluster = ready.filter((e) => e.zones!.includes(usedZone!));
  } else if (ready.length > 0) {
    cluster = ready;
  } else {
    cluster = eps.filter((e) => e.serving && e.terminating);
    if (cluster.length > 0) clusterNote = 'no ready endpoints: using serving terminating endpoints';
  }
  const readyLocal = ready.some(isLocal) ? ready.filter(isLocal) : NO_EPS;
  let local: Ep[];
  let localNote: string | undefined;
  if (readyLocal.length > 0) local = readyLocal;
  else {
    local = eps.some(isLocal) ? eps.filter((e) => e.local && e.serving && e.terminating) : NO_EPS;
    if (local.length > 0) localNote = 'no ready local endpoints: using serving terminating local endpoints';
  }
  return { cluster, local, usedZone, usedNode, notes, clusterNote, localNote };
}

/**
 * The real servers of one virtual service. `externallyReachable`: the Service also accepts traffic from
 * outside (a node port, external or load-balancer IPs). kube-proxy then computes its cluster endpoints
 * even under internalTrafficPolicy Local, and its IPVS mode gives them to the ClusterIP when no endpoint
 * is local (syncEndpoint; kubernetes#97081), so that local Pods still reach the Service.
 */
export function choose(eps: Ep[], which: 'cluster' | 'local-internal' | 'local-external', cat: ReturnType<typeof categorize>, externallyReachable: boolean): Choice {
  const notes = [...cat.notes];
  let servers: Ep[];
  let policy: 'Cluster' | 'Local' = 'Cluster';
  let zone: string | undefined;
  let node: string | undefined;
  let why: (ep: Ep) => string | undefined = noParticularReason;
  if (which === 'cluster') {
    servers = cat.cluster;
    zone = cat.usedZone;
    node = cat.usedNode;
    if (cat.clusterNote) notes.push(cat.clusterNote);
    if (zone !== undefined) why = (ep) => (ep.ready && !ep.zones?.includes(zone!) ? `not hinted for zone ${zone}` : undefined);
    if (node !== undefined) why = (ep) => (ep.ready && !ep.nodeHints?.includes(node!) ? `not hinted for node ${node}` : undefined);
  } else {
    policy = 'Local';
    // Topology does not apply to the local path.
    notes.length = 0;
    if (cat.local.length > 0) {
      servers = cat.local;
      if (cat.localNote) notes.push(cat.localNote);
      why = (ep) => (!ep.local ? `not on this node (${which === 'local-internal' ? 'internal' : 'external'}TrafficPolicy: Local)` : undefined);
    } else if (which === 'local-internal' && !externallyReachable) {
      servers = [];
      notes.push('internalTrafficPolicy Local: no local endpoints, so no real servers');
      why = () => 'not on this node (internalTrafficPolicy: Local)';
    } else {
      servers = cat.cluster;
      zone = cat.usedZone;
      node = cat.usedNode;
      notes.push(...cat.notes, which === 'local-internal'
        ? 'internalTrafficPolicy Local: no local endpoints and the Service is reachable from outside, so all endpoints (as kube-proxy\'s IPVS mode)'
        : 'externalTrafficPolicy Local: no local endpoints, falling back to all endpoints');
      if (cat.clusterNote) notes.push(cat.clusterNote);
    }
  }
  return { servers, policy, zone, node, notes, why };
}

/**
 * Whether any endpoint of `slices` names `nodeName` as its node: when none does, no endpoint that
 * collectEndpoints() returns is local.
 */
export function hasNodeEndpoint(slices: readonly CompactSlice[], nodeName: string): boolean {
  for (const slice of slices) {
    const eps = slice.eps;
    if (!eps) continue;
    for (let i = 2; i < eps.length; i += STRIDE) if (eps[i] === nodeName) return true;
  }
  return false;
}

/** Endpoints of the slice ports that match the Service port by name and protocol, deduplicated by address/port. */
export function collectEndpoints(slices: readonly CompactSlice[], portName: string, protocol: Protocol, family: Family, nodeName: string, w: Warnings): Ep[] {
  const out: Ep[] = [];
  // Endpoints are told apart by address and port. Up to SCAN_UP_TO of them, by looking through what
  // was collected; beyond, by a Set of "address/port" (made from what was collected by then).
  let seen: Set<string> | undefined;
  const isNew = (address: string, port: number): boolean => {
    if (seen === undefined) {
      for (let k = 0; k < out.length; k++) if (out[k]!.port === port && out[k]!.address === address) return false;
      if (out.length < SCAN_UP_TO) return true;
      seen = new Set();
      for (const e of out) seen.add(serverKeyString(e));
    }
    const key = serverKeyString({ address, port });
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  };
  for (let si = 0; si < slices.length; si++) {
    const slice = slices[si]!;
    const sobj = `EndpointSlice ${slice.name}`;
    if (slice.problem) { w.add(sobj, slice.problem.field, `${slice.problem.message}; the slice is ignored`); continue; }
    (slice.ports ?? []).forEach((sp, j) => {
      if (typeof sp !== 'object' || sp === null || Array.isArray(sp)) { w.add(sobj, `ports[${j}]`, `must be an object, not ${show(sp)}; ignored`); return; }
      if (sp.name !== undefined && sp.name !== null && typeof sp.name !== 'string') { w.add(sobj, `ports[${j}].name`, `must be a string, not ${show(sp.name)}; ignored`); return; }
      const spProto = typeof (sp.protocol ?? 'TCP') === 'string' ? PROTOCOLS[sp.protocol ?? 'TCP'] : undefined;
      if (!spProto) { w.add(sobj, `ports[${j}].protocol`, `unknown protocol ${show(sp.protocol)} (TCP, UDP or SCTP)`); return; }
      if ((sp.name ?? '') !== portName || spProto !== protocol) return;
      if (!validPort(sp.port)) { w.add(sobj, `ports[${j}].port`, `${show(sp.port)} is not from 1 to 65535`); return; }
      const eps = slice.eps ?? [];
      const port = sp.port!;
      for (let i = 0, k = 0; i < eps.length; i += STRIDE, k++) {
        const fx = eps[i + 1];
        if (fx === NONE) continue;
        const bad = typeof fx === 'object' && fx !== null ? (fx as EndpointExtra).bad : undefined;
        if (bad) { w.add(sobj, bad.field ? `endpoints[${k}].${bad.field}` : `endpoints[${k}]`, `${bad.message}; the endpoint is ignored`); continue; }
        const raw = eps[i];
        // A dotted quad (nearly every endpoint) is its own canonical form: no object made for it.
        let address: string;
        if (family === 'inet' && typeof raw === 'string' && isIPv4Text(raw)) address = raw;
        else {
          const v = validIp(raw);
          if (!v) { w.add(sobj, `endpoints[${k}].addresses[0]`, `${show(raw)} is not an IP address`); continue; }
          if (v.family !== family) {
            w.add(sobj, `endpoints[${k}].addresses[0]`, `${v.address} is not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address (addressType ${String(slice.addressType)})`);
            continue;
          }
          address = v.address;
        }
        if (!isNew(address, port)) continue;
        out.push(readEndpoint(slice, i, address, port, nodeName));
      }
    });
  }
  return out;
}
