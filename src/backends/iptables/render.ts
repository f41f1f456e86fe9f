// kube-proxy's iptables mode as iptables-restore input: the rules syncProxyRules (pkg/proxy/iptables/
// proxier.go, Kubernetes 1.31-1.34) writes, line for line and in its order, so that a node moving between
// kube-proxy and kipvs ends with the same chains and `iptables-save` shows the same rules. Pure: the caller
// reads the kernel (restore.ts) and says which chains exist and which Services changed.
//
// One deliberate difference from kube-proxy's text: marks are written as iptables-save prints them
// ("0x4000"), where kube-proxy writes Go's "%#08x" ("0x00004000"); the kernel holds the same value.
import type { PortEndpoint, ServicePortDesired } from '../../model/types.js';
import type { Family } from '../../netlink/address.js';
import { cidrContains, isLoopback, parseCidr } from '../../netlink/cidr.js';
import { TOP_CHAINS, commentName, detector, endpointChain, endpointString, isServiceChainName, portChains, probability, type LocalDetector } from './chains.js';

export type { LocalDetector };

export interface RenderOptions {
  family: Family;
  /** iptables.masqueradeBit; default 14 (mark 0x4000). */
  masqueradeBit?: number;
  masqueradeAll?: boolean;
  /** Pod traffic detection; a CIDR of the other family counts as none. */
  localDetector?: LocalDetector;
  /**
   * The node addresses NodePorts are open on when nodePortAddresses restricts them (kube-proxy's
   * GetNodeIPs); undefined when it does not (no CIDRs for this family, or a 0.0.0.0/0 or ::/0 one).
   * Decides KUBE-SERVICES' last rule: `-m addrtype --dst-type LOCAL`, or one `-d IP` per address.
   */
  nodePortAddresses?: readonly string[] | undefined;
  /** iptables.localhostNodePorts; default true, as in kube-proxy. Never applies to IPv6. */
  localhostNodePorts?: boolean;
  /** This node's IP of the family: a source range holding it also admits the load balancer IPs. */
  nodeIP?: string;
  /** iptables supports MASQUERADE --random-fully. */
  randomFully?: boolean;
  /** spec.healthCheckNodePort by Service "namespace/name" (externalTrafficPolicy Local load balancers). */
  healthCheckNodePorts?: ReadonlyMap<string, number>;
  /** nf_conntrack_tcp_be_liberal is set: kube-proxy then writes no INVALID drop rule. */
  conntrackTCPLiberal?: boolean;
  /** The nfacct counters exist (kube-proxy counts INVALID drops and localhost NodePorts with them). */
  nfacct?: boolean;
  /** Force kube-proxy's large cluster mode (no per-endpoint comments); default: > 1000 endpoints. */
  largeClusterMode?: boolean;
}

export interface RenderInput extends RenderOptions {
  /** Every Service port (ports of the other family are ignored). */
  ports: Iterable<ServicePortDesired>;
  /** The nat table's chains now in the kernel: unused per-Service ones among them get deleted (-X). */
  existingChains?: Iterable<string>;
  /**
   * Partial sync: the Services ("namespace/name") whose chains to rewrite. The top-level chains are
   * always written whole. A Service whose chains are not all in `existingChains` is written too.
   */
  changedServices?: ReadonlySet<string>;
}

export interface RenderCounts { filterRules: number; natRules: number; filterChains: number; natChains: number }

export interface RenderResult {
  /** iptables-restore input (filter, then nat), for `--noflush`. */
  text: string;
  partial: boolean;
  /** Lines of `text`. */
  lines: number;
  /** What `text` writes; `deletedChains` counts the -X lines (not in natRules). */
  written: RenderCounts & { deletedChains: number };
  /** The whole rule set, as a full sync would write it (without deletions). */
  total: RenderCounts;
  /** Every per-Service and per-endpoint nat chain of the rule set. */
  activeChains: Set<string>;
  largeClusterMode: boolean;
}

/** kube-proxy switches to large cluster mode above this many endpoints. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

const NODEPORTS_COMMENT = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"';

/** Some lines of restore text, with how many rules (or chain lines) they hold. */
interface Block { text: string; n: number; lines: number }

/** Lines of one kind for one table, counted; blocks of lines are taken whole, or only counted. */
class Lines {
  readonly parts: string[] = [];
  /** Rules (or chains) held or counted, and lines of text held. */
  n = 0;
  phys = 0;
  add(line: string): void {
    this.parts.push(line), this.n++, this.phys++;
  }
  /** A line that is not a rule or a chain (-X). */
  other(line: string): void {
    this.parts.push(line), this.phys++;
  }
  block(b: Block): void {
    if (b.lines > 0) this.parts.push(b.text);
    this.n += b.n, this.phys += b.lines;
  }
  /** A block a partial sync leaves out: counted for the totals only. */
  count(b: Block): void {
    this.n += b.n;
  }
  toBlock(): Block {
    return { text: this.parts.join('\n'), n: this.n, lines: this.phys };
  }
}

/**
 * One port's rendered text, remembered per ServicePortDesired object (the model hands out a new object
 * whenever a port changes and never alters one it gave): an unchanged port costs a lookup on the next sync
 * instead of sorting, hashing and formatting again, which is what makes a partial sync of 10,000 Services
 * cheap. `sig` holds what else the text depends on (the options, the port's health check node port).
 */
interface PortBlocks {
  sig: string;
  hc: number | undefined;
  chains: string[];
  /** Filter rules; nat KUBE-SERVICES and KUBE-NODEPORTS rules (both written on every sync); the port's
   * own nat chains, their chain lines and their rules. */
  filter: Block; front: Block; decl: Block; rules: Block;
}

const blockCache = new WeakMap<ServicePortDesired, PortBlocks>();

function blocksFor(sp: ServicePortDesired, ctx: Ctx): PortBlocks {
  const hc = ctx.hcPorts?.get(sp.service);
  const hit = blockCache.get(sp);
  if (hit && hit.sig === ctx.sig && hit.hc === hc) return hit;
  const plan = planPort(sp);
  const filter = new Lines(), front = new Lines(), decl = new Lines(), rules = new Lines();
  writeFrontends(sp, plan, ctx, hc, filter, front);
  writeChains(sp, plan, ctx, decl, rules);
  const b: PortBlocks = { sig: ctx.sig, hc, chains: plan.chains, filter: filter.toBlock(), front: front.toBlock(), decl: decl.toBlock(), rules: rules.toBlock() };
  blockCache.set(sp, b);
  return b;
}

interface Ctx {
  /** The options below as one string: a port's cached text is valid for the same signature. */
  sig: string;
  masqueradeAll: boolean; ifLocal: string | null; ifNotLocal: string | null; nodeIP: string | undefined;
  localhostNfacct: boolean; large: boolean;
  hcPorts: ReadonlyMap<string, number> | undefined;
}

/** An endpoint of a port: its "ip:port" (kube-proxy's sort key and DNAT target) and its KUBE-SEP- chain. */
interface Ep { key: string; address: string; chain: string }

const byKey = (a: Ep, b: Ep): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Endpoints as kube-proxy orders them: by their "ip:port" text. */
function sorted(sp: ServicePortDesired, eps: readonly PortEndpoint[]): Ep[] {
  const out = eps.map((e) => {
    const key = endpointString(e.address, e.port);
    return { key, address: e.address, chain: endpointChain(sp.name, sp.protocol, key) };
  });
  if (out.length > 1) out.sort(byKey);
  return out;
}

/** The restore text of kube-proxy's iptables mode for one family: full, or partial (changedServices). */
export function renderIptablesMode(input: RenderInput): RenderResult {
  const family = input.family;
  const bit = input.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw new Error(`masqueradeBit ${bit} is not from 0 to 31`);
  const mark = '0x' + (2 ** bit).toString(16);
  const ports = [...input.ports].filter((p) => p.family === family);
  const ex = input.existingChains;
  const existing: ReadonlySet<string> | undefined = ex === undefined ? undefined : ex instanceof Set ? ex : new Set(ex);
  const changed = input.changedServices;
  const matchAll = input.nodePortAddresses === undefined;
  const npIPs = (input.nodePortAddresses ?? []).filter((a) => a.includes(':') === (family === 'inet6'));
  // kube-proxy turns localhost NodePorts off unless the NodePort addresses include 127.0.0.0/8, and the
  // IPv6 proxier never has them.
  const localhost = family === 'inet' && (input.localhostNodePorts ?? true) && (matchAll || npIPs.some(isLoopback));
  const det = detector(input.localDetector, family);
  let endpoints = 0;
  for (const p of ports) endpoints += endpointCount(p);
  const large = input.largeClusterMode ?? endpoints > LARGE_CLUSTER_ENDPOINTS;

  const filterChains = new Lines(), filterRules = new Lines();
  const natChains = new Lines(), natRules = new Lines();
  const skipChains = new Lines(), skipRules = new Lines();
  for (const c of TOP_CHAINS.filter) filterChains.add(`:${c} - [0:0]`);
  for (const c of TOP_CHAINS.nat) natChains.add(`:${c} - [0:0]`);
  natRules.add(`-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`);
  natRules.add(`-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`);
  natRules.add(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${input.randomFully ? ' --random-fully' : ''}`);
  natRules.add(`-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`);
  if (localhost) {
    // route_localnet opens 127.0.0.0/8 to the network; kube-proxy (like kubelet) closes it again here.
    filterChains.add(':KUBE-FIREWALL - [0:0]');
    filterRules.add('-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP');
  }

  const opts = {
    masqueradeAll: input.masqueradeAll ?? false, ifLocal: det?.ifLocal ?? null, ifNotLocal: det?.ifNotLocal ?? null,
    nodeIP: input.nodeIP, localhostNfacct: localhost && (input.nfacct ?? false), large,
  };
  const ctx: Ctx = { sig: JSON.stringify(opts), ...opts, hcPorts: input.healthCheckNodePorts };
  const active = new Set<string>();
  for (const sp of ports) {
    const b = blocksFor(sp, ctx);
    for (const c of b.chains) active.add(c);
    filterRules.block(b.filter);
    natRules.block(b.front);
    if (!changed || changed.has(sp.service) || (existing !== undefined && b.chains.some((c) => !existing.has(c)))) {
      natChains.block(b.decl);
      natRules.block(b.rules);
    } else {
      skipChains.count(b.decl);
      skipRules.count(b.rules);
    }
  }

  let deleted = 0;
  for (const c of existing ?? []) {
    if (active.has(c) || !isServiceChainName(c)) continue;
    // A chain line flushes the chain, which -X needs; nothing else refers to it any more.
    natChains.add(`:${c} - [0:0]`);
    natRules.other(`-X ${c}`);
    deleted++;
  }

  // Last in KUBE-SERVICES: everything addressed to the node goes on to KUBE-NODEPORTS.
  if (matchAll) {
    const not = family === 'inet6' ? ' ! -d ::1/128' : localhost ? '' : ' ! -d 127.0.0.0/8';
    natRules.add(`-A KUBE-SERVICES -m comment --comment ${NODEPORTS_COMMENT} -m addrtype --dst-type LOCAL${not} -j KUBE-NODEPORTS`);
  } else {
    for (const ip of npIPs) {
      if (isLoopback(ip) && !localhost) continue;
      natRules.add(`-A KUBE-SERVICES -m comment --comment ${NODEPORTS_COMMENT} -d ${ip} -j KUBE-NODEPORTS`);
    }
  }
  if (!input.conntrackTCPLiberal) {
    filterRules.add(`-A KUBE-FORWARD -m conntrack --ctstate INVALID${input.nfacct ? ' -m nfacct --nfacct-name ct_state_invalid_dropped_pkts' : ''} -j DROP`);
  }
  filterRules.add(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`);
  filterRules.add('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');

  const text = '*filter\n' + join(filterChains) + join(filterRules) + 'COMMIT\n*nat\n' + join(natChains) + join(natRules) + 'COMMIT\n';
  return {
    text,
    partial: changed !== undefined,
    lines: 4 + filterChains.phys + filterRules.phys + natChains.phys + natRules.phys,
    written: { filterRules: filterRules.n, natRules: natRules.n, filterChains: filterChains.n, natChains: natChains.n - deleted, deletedChains: deleted },
    total: { filterRules: filterRules.n, natRules: natRules.n + skipRules.n, filterChains: filterChains.n, natChains: natChains.n - deleted + skipChains.n },
    activeChains: active,
    largeClusterMode: large,
  };
}

function join(l: Lines): string {
  return l.phys === 0 ? '' : l.parts.join('\n') + '\n';
}

/** The endpoints kube-proxy counts for large cluster mode (all of the port's; here those the model chose). */
function endpointCount(sp: ServicePortDesired): number {
  let n = sp.clusterEndpoints.length;
  for (const l of sp.localEndpoints) if (!sp.clusterEndpoints.some((c) => c.address === l.address && c.port === l.port)) n++;
  return n;
}

/** kube-proxy's decisions for one Service port (the variables at the top of its per-port loop). */
interface Plan {
  chainNames: ReturnType<typeof portChains>;
  externally: boolean; externalLocal: boolean;
  /** The Cluster-policy and Local-policy endpoints, and all those this node may send to (SEP chains). */
  cluster: Ep[]; local: Ep[]; reachable: Ep[];
  hasEndpoints: boolean; hasInternal: boolean; hasExternal: boolean;
  internalChain: string; externalPolicyChain: string;
  usesExt: boolean; usesFw: boolean;
  /** Every nat chain of the port, endpoints' included. */
  chains: string[];
}

function planPort(sp: ServicePortDesired): Plan {
  const names = portChains(sp.name, sp.protocol);
  const externally = sp.nodePort !== undefined || sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0;
  const externalLocal = sp.externalLocal && externally;
  // Cluster endpoints serve Cluster-policy traffic and, with eTP Local, the short circuit for traffic
  // from this node and its pods; Local ones serve whichever policy is Local.
  const usesCluster = !sp.internalLocal || externally;
  const usesLocal = sp.internalLocal || externalLocal;
  const cluster = usesCluster ? sorted(sp, sp.clusterEndpoints) : [];
  const local = usesLocal ? sorted(sp, sp.localEndpoints) : [];
  // The model's "any usable endpoint anywhere" equals kube-proxy's; when Cluster endpoints are used they
  // are non-empty exactly when it holds, and testing them keeps every jump pointing at a written chain.
  const hasEndpoints = usesCluster ? cluster.length > 0 : sp.hasEndpoints;
  const hasInternal = hasEndpoints && (!sp.internalLocal || local.length > 0);
  const hasExternal = hasEndpoints && (!externalLocal || local.length > 0);
  const usesExt = hasEndpoints && externally;
  const usesFw = hasEndpoints && sp.loadBalancerIPs.length > 0 && sp.sourceRanges.length > 0;
  let reachable = !usesLocal || local.length === 0 ? cluster : !usesCluster ? local : cluster;
  if (usesLocal && usesCluster && local.length > 0) {
    const keys = new Set(cluster.map((e) => e.key));
    const extra = local.filter((e) => !keys.has(e.key));
    if (extra.length > 0) reachable = [...cluster, ...extra].sort(byKey);
  }
  const chains: string[] = [];
  if (usesExt) chains.push(names.ext);
  if (usesFw) chains.push(names.fw);
  if (cluster.length > 0) chains.push(names.svc);
  if (local.length > 0) chains.push(names.svl);
  for (const e of reachable) chains.push(e.chain);
  return {
    chainNames: names, externally, externalLocal, cluster, local, hasEndpoints, hasInternal, hasExternal,
    internalChain: sp.internalLocal ? names.svl : names.svc, externalPolicyChain: externalLocal ? names.svl : names.svc,
    usesExt, usesFw, chains, reachable,
  };
}

/** KUBE-SERVICES, KUBE-NODEPORTS and the filter rules of one port: written on every sync. */
function writeFrontends(sp: ServicePortDesired, p: Plan, ctx: Ctx, hc: number | undefined, fr: Lines, nr: Lines): void {
  const name = commentName(sp.name);
  const m = `-m ${sp.protocol} -p ${sp.protocol}`;
  const dport = `--dport ${sp.port}`;
  // Filter rules for traffic with nowhere to go: REJECT when no endpoint exists anywhere, DROP when the
  // Local policy has none on this node.
  const target = p.hasEndpoints ? 'DROP' : 'REJECT';
  const comment = p.hasEndpoints ? `"${name} has no local endpoints"` : `"${name} has no endpoints"`;
  if (p.hasInternal) nr.add(`-A KUBE-SERVICES -m comment --comment "${name} cluster IP" ${m} -d ${sp.clusterIP} ${dport} -j ${p.internalChain}`);
  else fr.add(`-A KUBE-SERVICES -m comment --comment ${comment} ${m} -d ${sp.clusterIP} ${dport} -j ${target}`);
  for (const ip of sp.externalIPs) {
    if (p.hasEndpoints) nr.add(`-A KUBE-SERVICES -m comment --comment "${name} external IP" ${m} -d ${ip} ${dport} -j ${p.chainNames.ext}`);
    if (!p.hasExternal) fr.add(`-A KUBE-EXTERNAL-SERVICES -m comment --comment ${comment} ${m} -d ${ip} ${dport} -j ${target}`);
  }
  const lbChain = p.usesFw ? p.chainNames.fw : p.chainNames.ext;
  for (const ip of sp.loadBalancerIPs) {
    if (p.hasEndpoints) nr.add(`-A KUBE-SERVICES -m comment --comment "${name} loadbalancer IP" ${m} -d ${ip} ${dport} -j ${lbChain}`);
    if (p.usesFw) fr.add(`-A KUBE-PROXY-FIREWALL -m comment --comment "${name} traffic not accepted by ${p.chainNames.fw}" ${m} -d ${ip} ${dport} -j DROP`);
  }
  if (!p.hasExternal) {
    for (const ip of sp.loadBalancerIPs) fr.add(`-A KUBE-EXTERNAL-SERVICES -m comment --comment ${comment} ${m} -d ${ip} ${dport} -j ${target}`);
  }
  if (sp.nodePort !== undefined) {
    if (p.hasEndpoints) {
      // NodePorts are not subject to loadBalancerSourceRanges (kube-proxy cannot change that now).
      if (ctx.localhostNfacct) {
        nr.add(`-A KUBE-NODEPORTS -m comment --comment ${name} ${m} -d 127.0.0.0/8 --dport ${sp.nodePort} -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${p.chainNames.ext}`);
      }
      nr.add(`-A KUBE-NODEPORTS -m comment --comment ${name} ${m} --dport ${sp.nodePort} -j ${p.chainNames.ext}`);
    }
    if (!p.hasExternal) {
      fr.add(`-A KUBE-EXTERNAL-SERVICES -m comment --comment ${comment} -m addrtype --dst-type LOCAL ${m} --dport ${sp.nodePort} -j ${target}`);
    }
  }
  if (hc) fr.add(`-A KUBE-NODEPORTS -m comment --comment "${name} health check node port" -m tcp -p tcp --dport ${hc} -j ACCEPT`);
}

/** The port's own nat chains (SVC, SVL, EXT, FW, SEP): written when the Service changed, else counted. */
function writeChains(sp: ServicePortDesired, p: Plan, ctx: Ctx, nc: Lines, nr: Lines): void {
  const name = commentName(sp.name);
  const proto = sp.protocol;
  if (p.hasInternal) {
    const match = `-m comment --comment "${name} cluster IP" -m ${proto} -p ${proto} -d ${sp.clusterIP} --dport ${sp.port}`;
    // Off-cluster traffic to a cluster IP may be routed here from elsewhere and must come back the same way.
    if (ctx.masqueradeAll) nr.add(`-A ${p.internalChain} ${match} -j KUBE-MARK-MASQ`);
    else if (ctx.ifNotLocal) nr.add(`-A ${p.internalChain} ${match} ${ctx.ifNotLocal} -j KUBE-MARK-MASQ`);
  }
  const { svc, ext, fw } = p.chainNames;
  if (p.usesExt) {
    nc.add(`:${ext} - [0:0]`);
    if (!p.externalLocal) {
      nr.add(`-A ${ext} -m comment --comment "masquerade traffic for ${name} external destinations" -j KUBE-MARK-MASQ`);
    } else {
      // Pods and the node itself reach an eTP Local Service through all its endpoints, as if they went out
      // to the load balancer and came back; the node's own traffic needs masquerade (its source is local).
      if (ctx.ifLocal) nr.add(`-A ${ext} -m comment --comment "pod traffic for ${name} external destinations" ${ctx.ifLocal} -j ${svc}`);
      nr.add(`-A ${ext} -m comment --comment "masquerade LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`);
      nr.add(`-A ${ext} -m comment --comment "route LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${svc}`);
    }
    if (p.hasExternal) nr.add(`-A ${ext} -j ${p.externalPolicyChain}`);
  }
  if (p.usesFw) {
    nc.add(`:${fw} - [0:0]`);
    const head = `-A ${fw} -m comment --comment "${name} loadbalancer IP"`;
    let fromNode = false;
    for (const cidr of sp.sourceRanges) {
      nr.add(`${head} -s ${cidr} -j ${ext}`);
      const c = parseCidr(cidr);
      if (c && ctx.nodeIP && cidrContains(c, ctx.nodeIP)) fromNode = true;
    }
    // A VIP-like load balancer IP is often local: the node's own requests then come from that IP.
    if (fromNode) for (const ip of sp.loadBalancerIPs) nr.add(`${head} -s ${ip} -j ${ext}`);
    // No target: what gets here was not DNATed and meets KUBE-PROXY-FIREWALL's DROP in filter.
    nr.add(`-A ${fw} -m comment --comment "other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL"`);
  }
  if (p.cluster.length > 0) writeBalancing(sp, ctx, nc, nr, svc, p.cluster);
  if (p.local.length > 0) writeBalancing(sp, ctx, nc, nr, p.chainNames.svl, p.local);
  const comment = ctx.large ? '' : ` -m comment --comment ${name}`;
  const recent = sp.affinitySeconds !== undefined;
  for (const e of p.reachable) {
    const sep = e.chain;
    nc.add(`:${sep} - [0:0]`);
    // Hairpin: an endpoint reaching itself through the Service must be masqueraded to get the reply back.
    nr.add(`-A ${sep}${comment} -s ${e.address} -j KUBE-MARK-MASQ`);
    nr.add(`-A ${sep}${comment}${recent ? ` -m recent --name ${sep} --set` : ''} -m ${proto} -p ${proto} -j DNAT --to-destination ${e.key}`);
  }
}

/** A KUBE-SVC/KUBE-SVL chain: affinity checks first, then one random pick per endpoint, the last certain. */
function writeBalancing(sp: ServicePortDesired, ctx: Ctx, nc: Lines, nr: Lines, chain: string, eps: Ep[]): void {
  nc.add(`:${chain} - [0:0]`);
  const name = commentName(sp.name);
  const c = (e: Ep) => (ctx.large ? '' : ` -m comment --comment "${name} -> ${e.key}"`);
  if (sp.affinitySeconds !== undefined) {
    for (const e of eps) nr.add(`-A ${chain}${c(e)} -m recent --name ${e.chain} --rcheck --seconds ${sp.affinitySeconds} --reap -j ${e.chain}`);
  }
  const n = eps.length;
  for (let i = 0; i < n; i++) {
    const e = eps[i]!;
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
    nr.add(`-A ${chain}${c(e)}${stat} -j ${e.chain}`);
  }
}
