// What kube-proxy's IPVS mode would program for one Service: its virtual services (per port, per IP
// family, per address kind), their real servers, the VIPs to bind and the health-check node port.
// Pure: the Service, its EndpointSlices and a context in, data out; bad input becomes a warning and the
// rest is still computed. Never throws.
// The labels it reads are in labels.ts, the compact records it reads in compact.ts, the choice of
// endpoints in endpoints.ts, the checks of fields in validate.ts.
import type { V1Service, V1EndpointSlice, V1ServicePort } from '@kubernetes/client-node';
import { SCHEDULERS } from '../ipvs/types.js';
import type { Family, Protocol, RealServer, VirtualService } from '../ipvs/types.js';
import { serverKeyString, serviceKeyString } from '../ipvs/keys.js';
import { ServerTable } from '../ipvs/server-table.js';
import { familyOf } from '../netlink/address.js';
import { parseCidr, cidrContains, type Cidr } from '../netlink/cidr.js';
import type {
  ModelContext, ModelWarning, ServiceDesired, DesiredVirtualService, EndpointInfo, VsOrigin, ServicePortDesired, PortEndpoint,
} from './types.js';
import { ANNOTATION_SCHEDULER, DEFAULT_AFFINITY_TIMEOUT, flat, isIgnoredService, serviceName } from './labels.js';
import { compactSlice, type CompactSlice, type EndpointExtra } from './compact.js';
import { collectEndpoints, categorize, choose, hasNodeEndpoint, notChosenReason, type Ep, type Choice } from './endpoints.js';
import { PROTOCOLS, ADDRESS_TYPES, Warnings, show, validIp, validPort } from './validate.js';
import { checkService } from './shape.js';

const MAX_AFFINITY_TIMEOUT = 86400;

const NO_NOTES: string[] = Object.freeze([]) as unknown as string[];
const NO_WARNINGS: ModelWarning[] = Object.freeze([]) as unknown as ModelWarning[];
const NO_PORTS: ServicePortDesired[] = Object.freeze([]) as unknown as ServicePortDesired[];

/** What of the context a Service's endpoints were chosen with (one per computed Service). */
interface ChoiceContext {
  nodeName: string;
  zone: string | undefined;
  /** A node port, external or load-balancer IP: see choose(). */
  externallyReachable: boolean;
}

type Which = 'cluster' | 'local-internal' | 'local-external';
const WHICH: readonly Which[] = ['cluster', 'local-internal', 'local-external'];
const BOUND = 4;

/**
 * A computed virtual service. `endpoints` (only `kipvs list`/`explain` read them) is not kept: it is
 * computed again on each read from the compact slices of the commit, which do not change, with the port
 * name and protocol of its origin and the family of its service.
 */
class ComputedVs implements DesiredVirtualService {
  readonly #slices: readonly CompactSlice[];
  readonly #cc: ChoiceContext;
  /** Index in WHICH, | BOUND when its address is bound on kube-ipvs0. */
  readonly #flags: number;
  constructor(
    readonly service: VirtualService,
    readonly servers: ServerTable<RealServer>,
    readonly origin: VsOrigin,
    slices: readonly CompactSlice[],
    cc: ChoiceContext,
    which: Which,
    bound: boolean,
  ) {
    this.#slices = slices;
    this.#cc = cc;
    this.#flags = WHICH.indexOf(which) | (bound ? BOUND : 0);
  }

  get bound(): boolean {
    return (this.#flags & BOUND) !== 0;
  }

  /** The endpoints of this virtual service's slice port, collected again from its commit's slices. */
  #collect(): Ep[] {
    return collectEndpoints(this.#slices, this.origin.portName, this.origin.protocol, this.service.family, this.#cc.nodeName, new Warnings());
  }

  localEndpoints(): { address: string; port: number }[] {
    // Asked of every virtual service (for KUBE-LOOP-BACK) and most have no endpoint on this node: look
    // for one in the packed slices before collecting (and validating) them all.
    if (!hasNodeEndpoint(this.#slices, this.#cc.nodeName)) return [];
    try {
      return this.#collect().filter((e) => e.local);
    } catch {
      return [];
    }
  }

  get endpoints(): Map<string, EndpointInfo> {
    const out = new Map<string, EndpointInfo>();
    const c = this.#cc;
    try {
      const eps = this.#collect();
      const choice = choose(eps, WHICH[this.#flags & 3]!, categorize(eps, c.zone, c.nodeName), c.externallyReachable);
      const chosen = new Set(choice.servers);
      for (const e of eps) {
        const used = chosen.has(e);
        const info: EndpointInfo = {
          address: e.address, port: e.port, ready: e.ready, serving: e.serving, terminating: e.terminating, local: e.local, used,
        };
        const packed = e.slice.eps!;
        const podName = packed[e.i + 4] as string | undefined;
        const node = packed[e.i + 2] as string | undefined;
        const zone = packed[e.i + 3] as string | undefined;
        const fx = packed[e.i + 1] as number | EndpointExtra;
        if (podName !== undefined) info.pod = `${(typeof fx === 'number' ? undefined : fx.podNs) ?? e.slice.namespace}/${podName}`;
        if (node !== undefined) info.node = node;
        if (zone !== undefined) info.zone = zone;
        const reason = notChosenReason(e, chosen, choice.why);
        if (reason !== undefined && !used) info.reason = reason;
        out.set(serverKeyString(e), info);
      }
    } catch {
      // The same inputs computed without error at commit; nothing to add.
    }
    return out;
  }
}

/** One Service's contribution; its `addresses` are those of its virtual services that are bound. */
class ComputedService implements ServiceDesired {
  readonly virtualServices = new Map<string, ComputedVs>();
  ports: ServicePortDesired[] = NO_PORTS;
  declare healthCheckNodePort?: { port: number; localEndpoints: number };
  constructor(readonly name: string, public warnings: ModelWarning[]) {}

  get addresses(): string[] {
    const out: string[] = [];
    this.virtualServices.forEach((d) => {
      if (d.bound && !out.includes(d.service.address!)) out.push(d.service.address!);
    });
    return out;
  }
}

/** Computes one Service's contribution. `slices` are the Service's EndpointSlices (any family). */
export function computeService(svc: V1Service, slices: Iterable<V1EndpointSlice>, ctx: ModelContext): ServiceDesired {
  return computeCompact(svc, [...slices].map((s) => compactSlice(s)), ctx);
}

/** computeService on the compact records the model keeps (see compactService, compactSlice). */
export function computeCompact(svc: V1Service, slices: readonly CompactSlice[], ctx: ModelContext): ServiceDesired {
  const name = serviceName(svc);
  const object = `Service ${name}`;
  const w = new Warnings();
  const out = new ComputedService(name, w.list);
  try {
    build(svc, slices, ctx, out, w);
  } catch (err) {
    // Defensive: malformed objects of shapes the types do not allow must not stop the model.
    w.add(object, 'spec', `could not be processed: ${err instanceof Error ? err.message : show(err)}`);
  }
  if (out.warnings.length === 0) out.warnings = NO_WARNINGS;
  return out;
}

function build(raw: V1Service, slices: readonly CompactSlice[], ctx: ModelContext, out: ComputedService, w: Warnings): void {
  const name = out.name;
  const object = `Service ${name}`;
  const svc = checkService(raw, object, w);
  const spec = svc?.spec;
  if (!svc || !spec || isIgnoredService(svc)) return;
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName') return;
  const clusterIPs = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const ipsField = spec.clusterIPs && spec.clusterIPs.length > 0 ? 'spec.clusterIPs' : 'spec.clusterIP';
  if (clusterIPs.length === 0 || clusterIPs[0] === 'None' || clusterIPs[0] === '') return;

  // Scheduler: the per-Service annotation, else the configured one (default rr).
  const dflt = ctx.config.scheduler || 'rr';
  let scheduler = dflt;
  const ann = svc.metadata?.annotations?.[ANNOTATION_SCHEDULER];
  if (ann !== undefined) {
    if ((SCHEDULERS as readonly string[]).includes(ann)) scheduler = ann;
    else w.add(object, `metadata.annotations[${ANNOTATION_SCHEDULER}]`, `unknown scheduler ${show(ann)} (one of ${SCHEDULERS.join(' ')}); using ${dflt}`);
  }
  // Session affinity.
  let persistent: VirtualService['persistent'];
  if (spec.sessionAffinity === 'ClientIP') {
    let timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_AFFINITY_TIMEOUT) {
      w.add(object, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', `${show(timeout)} is not from 1 to ${MAX_AFFINITY_TIMEOUT}; using ${DEFAULT_AFFINITY_TIMEOUT}`);
      timeout = DEFAULT_AFFINITY_TIMEOUT;
    }
    persistent = { timeout };
  }
  const externallyAccessible = type === 'NodePort' || type === 'LoadBalancer' || (spec.externalIPs?.length ?? 0) > 0;
  const eLocal = spec.externalTrafficPolicy === 'Local' && externallyAccessible;
  const iLocal = spec.internalTrafficPolicy === 'Local';

  // Cluster IPs by family (the first of each family, as kube-proxy takes).
  const cipByFamily = new Map<Family, { address: string; field: string }>();
  for (let i = 0; i < clusterIPs.length; i++) {
    const ip = clusterIPs[i];
    const v = validIp(ip);
    const field = ipsField === 'spec.clusterIPs' ? keptField('spec.clusterIPs[', i, ']') : 'spec.clusterIP';
    if (!v) { w.add(object, field, `${show(ip)} is not an IP address`); continue; }
    if (!cipByFamily.has(v.family)) cipByFamily.set(v.family, { address: v.address, field });
  }

  // Validate the ports once.
  const ports: { port: V1ServicePort; index: number; protocol: Protocol; portName: string }[] = [];
  const specPorts = spec.ports ?? NONE;
  for (let i = 0; i < specPorts.length; i++) {
    const port = specPorts[i];
    if (!port) continue; // warned about by checkService
    const protoText = port.protocol ?? 'TCP';
    const protocol = typeof protoText === 'string' ? PROTOCOLS[protoText] : undefined;
    if (!protocol) { w.add(object, `spec.ports[${i}].protocol`, `unknown protocol ${show(protoText)} (TCP, UDP or SCTP)`); continue; }
    if (!validPort(port.port)) { w.add(object, `spec.ports[${i}].port`, `${show(port.port)} is not from 1 to 65535`); continue; }
    if (ports.some((p) => p.protocol === protocol && p.port.port === port.port)) { w.add(object, `spec.ports[${i}]`, `duplicate port ${port.port}/${protoText}; ignored`); continue; }
    ports.push({ port, index: i, protocol, portName: port.name ?? '' });
  }

  // External addresses by family, validated once.
  const externalIPs: { address: string; family: Family; field: string }[] = [];
  const specExternal = spec.externalIPs ?? NONE;
  for (let i = 0; i < specExternal.length; i++) {
    const ip = specExternal[i];
    const v = validIp(ip);
    if (!v) { w.add(object, `spec.externalIPs[${i}]`, `${show(ip)} is not an IP address`); continue; }
    externalIPs.push({ ...v, field: keptField('spec.externalIPs[', i, ']') });
  }
  const lbIPs: { address: string; family: Family; field: string }[] = [];
  const ingress = svc.status?.loadBalancer?.ingress ?? NONE;
  for (let i = 0; i < ingress.length; i++) {
    const ing = ingress[i];
    if (!ing || ing.ip === undefined || ing.ip === '') continue; // hostname-only ingress: nothing to program
    const v = validIp(ing.ip);
    if (!v) { w.add(object, `status.loadBalancer.ingress[${i}].ip`, `${show(ing.ip)} is not an IP address`); continue; }
    if (ing.ipMode === 'Proxy') continue;
    lbIPs.push({ ...v, field: keptField('status.loadBalancer.ingress[', i, '].ip') });
  }

  // kube-proxy's ExternallyAccessible, per Service rather than per port (every port of a NodePort or
  // LoadBalancer Service gets a node port, so the two differ only for ports without one).
  const externallyReachable = ports.some(({ port }) => !!port.nodePort) || externalIPs.length > 0 || lbIPs.length > 0;
  const cc: ChoiceContext = { nodeName: ctx.config.nodeName, zone: ctx.zone || undefined, externallyReachable };

  // loadBalancerSourceRanges: who may reach the load balancer IPs (KUBE-LOAD-BALANCER-FW and its
  // source sets). A range that contains a node address also lets the node itself in.
  const sourceRanges: Cidr[] = [];
  const specRanges = spec.loadBalancerSourceRanges ?? NONE;
  for (let i = 0; i < specRanges.length; i++) {
    const text = specRanges[i];
    const c = typeof text === 'string' ? parseCidr(text.trim()) : null;
    if (!c) { w.add(object, `spec.loadBalancerSourceRanges[${i}]`, `${show(text)} is not a CIDR`); continue; }
    sourceRanges.push(c);
  }

  // Slices by family (FQDN slices are not for proxies). The computed virtual services keep these arrays:
  // `slices` itself when it is all of one family (the model never changes an array it passed in).
  const sliceFamily = (s: CompactSlice) => (typeof s.addressType === 'string' ? ADDRESS_TYPES[s.addressType] : undefined);
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i]!;
    if (s.problem) w.add(`EndpointSlice ${s.name}`, s.problem.field, `${s.problem.message}; the slice is ignored`);
    else if (!sliceFamily(s) && s.addressType !== 'FQDN') w.add(`EndpointSlice ${s.name}`, 'addressType', `unknown address type ${show(s.addressType)} (IPv4, IPv6 or FQDN); the slice is ignored`);
  }
  const slicesOf = (family: Family): readonly CompactSlice[] =>
    slices.every((s) => sliceFamily(s) === family) ? slices : slices.filter((s) => sliceFamily(s) === family);

  // The loops over arrays here and in collectEndpoints are indexed: until TurboFan takes a function
  // (30,000 calls, src/config/tiering.ts) every step of an array's for-of allocated its result, and
  // the first commit calls these once per Service (these loops and collectEndpoints' took 20 MB off the
  // 112 MB that a first commit at 10,000 Services allocated).
  let localReady: Set<string> | undefined; // made for the first local ready endpoint (most Services have none)
  const families = ctx.config.families;
  for (let fi = 0; fi < families.length; fi++) {
    const family = families[fi]!;
    const cip = cipByFamily.get(family);
    if (!cip) continue;
    const famSlices = slicesOf(family);
    for (let pi = 0; pi < ports.length; pi++) {
      const { port, index, protocol, portName } = ports[pi]!;
      const eps = collectEndpoints(famSlices, portName, protocol, family, ctx.config.nodeName, w);
      for (let ei = 0; ei < eps.length; ei++) {
        const e = eps[ei]!;
        if (e.local && e.ready) (localReady ??= new Set()).add(e.address);
      }
      const cat = categorize(eps, ctx.zone || undefined, ctx.config.nodeName);
      if (ctx.config.backend === 'iptables') {
        const nodePort = checkedNodePort(port, index, object, w);
        const ranges = sourceRanges.filter((c) => c.family === family);
        const sp: ServicePortDesired = {
          name: portName === '' ? name : flat(`${name}:${portName}`),
          service: name, portName, family, protocol, port: port.port, clusterIP: cip.address,
          externalIPs: externalIPs.filter((e) => e.family === family).map((e) => e.address),
          loadBalancerIPs: lbIPs.filter((e) => e.family === family).map((e) => e.address),
          // A range of every address restricts nothing.
          sourceRanges: ranges.some((c) => c.prefix === 0) ? [] : ranges.map((c) => c.text),
          internalLocal: iLocal, externalLocal: eLocal,
          clusterEndpoints: cat.cluster.map(portEndpoint),
          localEndpoints: cat.local.map(portEndpoint),
          hasEndpoints: eps.some((e) => e.ready || (e.serving && e.terminating)),
          // UDP ports only (the only ones whose flows are cleaned up): no per-port array for the rest.
          servingAddresses: protocol === 'udp' ? [...new Set(eps.filter((e) => e.serving).map((e) => e.address))] : NO_ADDRESSES,
          notes: [...cat.notes, ...(cat.clusterNote ? [cat.clusterNote] : []), ...(eps.length === 0 ? ['no endpoints'] : [])],
        };
        if (nodePort !== undefined) sp.nodePort = nodePort;
        if (persistent) sp.affinitySeconds = persistent.timeout;
        if (out.ports === NO_PORTS) out.ports = [];
        out.ports.push(sp);
        continue;
      }
      const internal = choose(eps, iLocal ? 'local-internal' : 'cluster', cat, externallyReachable);
      const internalWhich = iLocal ? 'local-internal' : 'cluster';
      const externalWhich = eLocal ? 'local-external' : 'cluster';
      const external = eLocal ? choose(eps, 'local-external', cat, externallyReachable) : internal.policy === 'Cluster' ? internal : choose(eps, 'cluster', cat, externallyReachable);
      const add = (kind: VsOrigin['kind'], address: string, vport: number, choice: Choice, field: string, bind: boolean) => {
        const vs: VirtualService = { family, protocol, address, port: vport, scheduler };
        if (persistent) vs.persistent = { ...persistent };
        if (scheduler === 'mh') vs.schedulerFlags = { mhPort: true };
        const key = flat(serviceKeyString(vs));
        if (out.virtualServices.has(key)) {
          const prev = out.virtualServices.get(key)!.origin;
          w.add(object, field, `${kind} ${describeVs(vs)} duplicates the ${prev.kind} virtual service from ${prev.field ?? 'spec'}; ignored`);
          return;
        }
        // collectEndpoints gave each address and port once. Forwarding and weight are RealServer's
        // defaults (masquerade, 1), left unset: 16 B less per real server the model keeps.
        const servers = (choice.serverTable ??= new ServerTable(choice.servers.map((e): RealServer => ({ address: e.address, port: e.port }))));
        const notes = eps.length === 0 ? [...choice.notes, 'no endpoints'] : choice.notes.length > 0 ? [...choice.notes] : NO_NOTES;
        const origin: VsOrigin = {
          service: name, portName, servicePort: port.port, protocol, kind, trafficPolicy: choice.policy, notes, field,
        };
        if (choice.zone !== undefined) origin.topologyZone = choice.zone;
        if (choice.node !== undefined) origin.topologyNode = choice.node;
        const which = choice === internal ? internalWhich : externalWhich;
        out.virtualServices.set(key, new ComputedVs(vs, servers, origin, famSlices, cc, which, bind));
      };
      add('ClusterIP', cip.address, port.port, internal, cip.field, true);
      for (let xi = 0; xi < externalIPs.length; xi++) {
        const ext = externalIPs[xi]!;
        if (ext.family !== family) continue;
        add('ExternalIP', ext.address, port.port, external, ext.field, !ctx.localAddresses.has(ext.address));
      }
      for (let li = 0; li < lbIPs.length; li++) {
        const lb = lbIPs[li]!;
        if (lb.family !== family) continue;
        add('LoadBalancer', lb.address, port.port, external, lb.field, !ctx.localAddresses.has(lb.address));
        const ranges = sourceRanges.filter((c) => c.family === family);
        // A range of every address (0.0.0.0/0, ::/0) restricts nothing, and ipset cannot hold it.
        if (ranges.length > 0 && !ranges.some((c) => c.prefix === 0)) {
          const origin = out.virtualServices.get(flat(serviceKeyString({ family, protocol, address: lb.address, port: port.port })))?.origin;
          if (origin?.kind === 'LoadBalancer') {
            origin.sourceRanges = ranges.map((c) => c.text);
            origin.allowFromNode = [...ctx.localAddresses].some((a) => ranges.some((c) => cidrContains(c, a)));
          }
        }
      }
      const nodePort = checkedNodePort(port, index, object, w);
      if (nodePort !== undefined) {
        for (let ni = 0; ni < ctx.nodePortAddresses.length; ni++) {
          const nodeIp = ctx.nodePortAddresses[ni]!;
          if (familyOf(nodeIp) !== family) continue;
          add('NodePort', nodeIp, nodePort, external, keptField('spec.ports[', index, '].nodePort'), false);
        }
      }
    }
  }
  if (eLocal && spec.healthCheckNodePort) {
    if (!validPort(spec.healthCheckNodePort)) w.add(object, 'spec.healthCheckNodePort', `${show(spec.healthCheckNodePort)} is not from 1 to 65535`);
    else out.healthCheckNodePort = { port: spec.healthCheckNodePort, localEndpoints: localReady?.size ?? 0 };
  }
}

/** The port's nodePort when it has a valid one (a bad one is a warning). */
function checkedNodePort(port: V1ServicePort, index: number, object: string, w: Warnings): number | undefined {
  if (port.nodePort === undefined || port.nodePort === null || port.nodePort === 0) return undefined;
  if (validPort(port.nodePort)) return port.nodePort;
  w.add(object, `spec.ports[${index}].nodePort`, `${show(port.nodePort)} is not from 1 to 65535`);
  return undefined;
}

const NO_ADDRESSES: readonly string[] = Object.freeze([]);
/** An absent list of the spec, read as empty. */
const NONE: readonly never[] = Object.freeze([]);

/**
 * A field name with an index that a virtual service's origin keeps ("spec.clusterIPs[0]"): one string
 * per field and small index for all Services, not a template literal's two concatenations per origin
 * (0.6 MB at 10,000 Services).
 */
const keptFields = new Map<string, string[]>();
function keptField(before: string, i: number, after: string): string {
  if (i >= 16) return [before, i, after].join('');
  let list = keptFields.get(before + after);
  if (!list) keptFields.set(before + after, (list = []));
  return (list[i] ??= [before, i, after].join(''));
}
const portEndpoint = (e: Ep): PortEndpoint => ({ address: e.address, port: e.port, local: e.local });

function describeVs(vs: VirtualService): string {
  const host = vs.family === 'inet6' ? `[${vs.address}]` : vs.address;
  return `${vs.protocol!.toUpperCase()} ${host}:${vs.port}`;
}
