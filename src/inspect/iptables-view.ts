// Kubernetes-aware views of kube-proxy's iptables mode, for `kipvs list` and `kipvs explain` when the
// agent runs with --proxy-mode iptables: the rules really in the kernel (iptables-save text), followed
// from each Service frontend down to the DNAT of each endpoint, joined with the agent's state (which
// endpoints it chose and why). Pure: the CLI runs iptables-save and prints what these return. The text
// forms live in iptables-text.ts and are re-exported here.
import { parseSave, splitArgs, type SavedChain } from '../iptables/rules.js';
import { parseAddress, formatAddress, type Family } from '../netlink/address.js';
import { endpointString, EXT_PREFIX, FW_PREFIX, SEP_PREFIX, SVC_PREFIX, SVL_PREFIX } from '../backends/iptables/chains.js';
import type { AgentState } from '../agent/state.js';
import type { ServicePortDesired } from '../model/types.js';

import { NODE_ADDRESSES } from './iptables-text.js';

export { formatIptablesList, formatIptablesExplain, selectIptablesViews, NODE_ADDRESSES } from './iptables-text.js';

/** 'External': an external or load balancer IP known only from a filter rule (the agent's state tells which). */
export type FrontendKind = 'ClusterIP' | 'ExternalIP' | 'LoadBalancer' | 'External' | 'NodePort';

export interface EndpointRule {
  /** The KUBE-SEP- chain. */
  chain: string;
  /** The DNAT destination the SEP chain writes, "10.244.1.5:53" / "[fd00::5]:53"; '' when it has none. */
  endpoint: string;
  /** `--probability` as written in the balancing rule; absent on the last rule (it takes the rest). */
  probability?: string;
  /** The share of new connections this rule gets: p1, (1-p1)·p2, …, the last the remainder. */
  share: number;
  /** ClientIP affinity: `-m recent --rcheck --seconds T` sends a returning client back here. */
  affinitySeconds?: number;
  /** The SEP chain masquerades traffic from the endpoint itself (hairpin through the Service). */
  hairpin: boolean;
  /** What is wrong with the SEP chain (missing, no DNAT). */
  problem?: string;
  /** Joined: the endpoint runs on this node. */
  local?: boolean;
  /** Joined: the kernel and the agent disagree about it. */
  drift?: string;
}

/** A KUBE-SVC- or KUBE-SVL- chain: the random choice of an endpoint. */
export interface Balancer {
  chain: string;
  /** The condition of its KUBE-MARK-MASQ rule ("not from 10.0.0.0/8"), when it has one. */
  masquerade?: string;
  endpoints: EndpointRule[];
  /** The share no rule takes (the last rule has a probability too): those connections are not DNATed here. */
  unbalanced?: number;
  /** Joined: endpoints the agent chose that the chain lacks. */
  missing?: string[];
}

/** One way through the chains: the traffic it takes, the chains it passes, where it ends. */
export interface Route {
  /** Conditions, readable ("from this node"); empty: all traffic earlier routes did not take. */
  when: string[];
  /** The chains passed, from the frontend's jump to the balancer. */
  chains: string[];
  /** "yes", or the condition under which it is marked for masquerade; absent: not masqueraded. */
  masquerade?: string;
  /** The KUBE-SVC-/KUBE-SVL- chain choosing the endpoint; absent when the route ends without DNAT. */
  balancer?: string;
  /** Why the route ends without DNAT. */
  end?: string;
}

/** A filter rule that stops traffic to the frontend (no endpoints, no local endpoints, source ranges). */
export interface FilterVerdict {
  verdict: string;
  chain: string;
  comment: string;
}

export interface IptablesFrontend {
  family: Family;
  /** The Service port as the comments name it: "namespace/name:port". */
  name: string;
  kind: FrontendKind;
  /** Canonical address; NODE_ADDRESSES, or "127.0.0.0/8" for localhost NodePorts. */
  address: string;
  protocol: string;
  port: number;
  /** The chain the nat frontend rule jumps to; absent when only filter rules name the frontend. */
  chain?: string;
  routes: Route[];
  balancers: Balancer[];
  filter: FilterVerdict[];
}

export interface IptablesTables {
  family: Family;
  frontends: IptablesFrontend[];
  /** The addresses KUBE-SERVICES sends to KUBE-NODEPORTS when nodePortAddresses restricts them; absent: every local address. */
  nodePortAddresses?: string[];
}

/** A frontend joined with the agent's state. */
export interface IptablesView extends IptablesFrontend {
  inKernel: boolean;
  /** The Service port, as the agent sees it. */
  servicePort?: {
    service: string; portName: string;
    internalTrafficPolicy: 'Cluster' | 'Local';
    externalTrafficPolicy?: 'Cluster' | 'Local';
    affinitySeconds?: number; sourceRanges: string[]; hasEndpoints: boolean; notes: string[];
  };
  /** NodePort frontends: the addresses they are open on when restricted. */
  nodePortAddresses?: string[];
  /** Kernel and agent disagree. */
  drift: string[];
}

/** What of a rule the views need; a parse of iptables-save's text (any option order, quoted or not). */
interface Rule {
  target?: string; comment?: string; d?: string; p?: string; dport?: number;
  /** Source, interface and address-type matches, as readable conditions. */
  conds: string[];
  dstLocal: boolean; probability?: string; rcheck: boolean; seconds?: number; toDestination?: string;
}

/** Options whose value is skipped (so that it is not read as an option). */
const VALUED = new Set(['-m', '--mode', '--mask', '--name', '--ctstate', '--nfacct-name', '--reject-with', '--mark', '--set-xmark']);

/** Strip a host prefix and canonicalise an address ("10.96.0.10/32" → "10.96.0.10"). */
function canon(text: string): string {
  const host = text.replace(/\/(32|128)$/, '');
  const b = parseAddress(host);
  return b ? formatAddress(b) : host;
}

function parseRule(text: string): Rule {
  const a = splitArgs(text);
  const r: Rule = { conds: [], dstLocal: false, rcheck: false };
  for (let i = 0; i < a.length; i++) {
    const neg = a[i] === '!';
    const opt = neg ? a[++i]! : a[i]!;
    const val = () => a[++i] ?? '';
    const not = neg ? 'not ' : '';
    if (opt === '-j' || opt === '-g' || opt === '--jump' || opt === '--goto') r.target = val();
    else if (opt === '--comment') r.comment = val();
    else if (opt === '-d' || opt === '--destination') r.d = (neg ? '! ' : '') + canon(val());
    else if (opt === '-s' || opt === '--source') r.conds.push(`${not}from ${canon(val())}`);
    else if (opt === '-i' || opt === '--in-interface') r.conds.push(`${not}in on ${val()}`);
    else if (opt === '-p' || opt === '--protocol') r.p = val().toLowerCase();
    else if (opt === '--dport') r.dport = Number(val());
    else if (opt === '--src-type') r.conds.push(val() === 'LOCAL' ? `${not}from this node` : `${not}from a ${a[i]} address`);
    else if (opt === '--dst-type') r.dstLocal = val() === 'LOCAL';
    else if (opt === '--probability') r.probability = val();
    else if (opt === '--rcheck') r.rcheck = true;
    else if (opt === '--seconds') r.seconds = Number(val());
    else if (opt === '--to-destination') r.toDestination = val();
    else if (VALUED.has(opt)) i++;
  }
  return r;
}

/** The chains of one table, each rule parsed once. */
class Table {
  readonly #saved: Map<string, SavedChain>;
  readonly #parsed = new Map<string, Rule[]>();
  constructor(saved: Map<string, SavedChain> | undefined) {
    this.#saved = saved ?? new Map();
  }
  rules(chain: string): Rule[] | undefined {
    let r = this.#parsed.get(chain);
    if (!r) {
      const saved = this.#saved.get(chain);
      if (!saved) return undefined;
      this.#parsed.set(chain, (r = saved.rules.map(parseRule)));
    }
    return r;
  }
}

/** "10.244.1.5:53" / "[fd00::5]:53" in canonical form (the agent's endpointString). */
function endpointKey(text: string): string {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  return m ? endpointString(canon(m[1]!), Number(m[2])) : text;
}

/** A KUBE-SVC-/KUBE-SVL- chain: affinity checks, then one random pick per endpoint. */
function balancer(nat: Table, chain: string): Balancer {
  const b: Balancer = { chain, endpoints: [] };
  const affinity = new Map<string, number>();
  let left = 1;
  for (const r of nat.rules(chain) ?? []) {
    if (r.target === 'KUBE-MARK-MASQ') b.masquerade = r.conds.join(' and ') || 'all traffic';
    if (!r.target?.startsWith(SEP_PREFIX)) continue;
    if (r.rcheck) {
      affinity.set(r.target, r.seconds ?? 0);
      continue;
    }
    const p = r.probability === undefined ? 1 : Number(r.probability);
    const sep = endpointChain(nat, r.target);
    b.endpoints.push({ ...sep, ...(r.probability !== undefined ? { probability: r.probability } : {}), share: left * p });
    left *= 1 - p;
  }
  for (const e of b.endpoints) {
    const s = affinity.get(e.chain);
    if (s !== undefined) e.affinitySeconds = s;
  }
  if (left > 1e-9) b.unbalanced = left;
  return b;
}

function endpointChain(nat: Table, chain: string): Omit<EndpointRule, 'share'> {
  const rules = nat.rules(chain);
  if (!rules) return { chain, endpoint: '', hairpin: false, problem: `${chain} is missing from the kernel` };
  const dnat = rules.find((r) => r.target === 'DNAT');
  const e: Omit<EndpointRule, 'share'> = {
    chain, endpoint: dnat?.toDestination ? endpointKey(dnat.toDestination) : '',
    hairpin: rules.some((r) => r.target === 'KUBE-MARK-MASQ' && r.conds.some((c) => c.startsWith('from '))),
  };
  if (!dnat?.toDestination) e.problem = `${chain} has no DNAT rule`;
  return e;
}

const isRouteChain = (c: string | undefined): c is string =>
  c !== undefined && [SVC_PREFIX, SVL_PREFIX, EXT_PREFIX, FW_PREFIX].some((p) => c.startsWith(p));

/**
 * Follow a chain's jumps (EXT → SVC/SVL, FW → EXT) to the balancers, routes in the order they match.
 * `masq`: the KUBE-MARK-MASQ conditions met on the way ("yes" for an unconditional one).
 */
function follow(nat: Table, chain: string, when: string[], path: string[], masq: string[], out: Route[], seen: Map<string, Balancer>): void {
  const here = [...path, chain];
  if (chain.startsWith(SVC_PREFIX) || chain.startsWith(SVL_PREFIX)) {
    let b = seen.get(chain);
    if (!b) seen.set(chain, (b = balancer(nat, chain)));
    // The balancer's own masquerade rule matches the cluster IP only: it counts when the frontend jumps here.
    const marks = path.length === 0 && b.masquerade ? [...masq, b.masquerade === 'all traffic' ? 'yes' : b.masquerade] : masq;
    const m = marks.includes('yes') ? 'yes' : marks.join(' or ');
    out.push({ when, chains: here, ...(m ? { masquerade: m } : {}), balancer: chain });
    return;
  }
  const rules = nat.rules(chain);
  if (!rules) {
    out.push({ when, chains: here, end: `${chain} is missing from the kernel` });
    return;
  }
  let marks = [...masq];
  for (const r of rules) {
    const cond = r.conds.join(' and ');
    if (r.target === 'KUBE-MARK-MASQ') {
      marks.push(cond === '' ? 'yes' : cond);
    } else if (isRouteChain(r.target)) {
      if (!cond) return follow(nat, r.target, when, here, marks, out, seen);
      follow(nat, r.target, [...when, cond], here, marks.map((m) => (m === cond ? 'yes' : m)), out, seen);
      // That traffic is gone: a masquerade under the same condition no longer applies to later routes.
      marks = marks.filter((m) => m !== cond);
    } else if (!r.target) {
      // FW's last rule: no target, its comment says what becomes of the traffic.
      out.push({ when: cond ? [...when, cond] : when, chains: here, end: r.comment ?? `falls through ${chain}: not DNATed` });
      if (!cond) return;
    }
  }
  out.push({ when, chains: here, end: `falls through ${chain}: not DNATed` });
}

const SUFFIX: [RegExp, FrontendKind][] = [[/ cluster IP$/, 'ClusterIP'], [/ external IP$/, 'ExternalIP'], [/ loadbalancer IP$/, 'LoadBalancer']];

function frontend(family: Family, name: string, kind: FrontendKind, r: Rule, address: string): IptablesFrontend {
  return { family, name, kind, address, protocol: r.p ?? '', port: r.dport ?? 0, routes: [], balancers: [], filter: [] };
}

/**
 * Parse `iptables-save -t nat` (and `-t filter`) text of kube-proxy's iptables mode into its frontends,
 * each followed to its endpoints. `family` defaults to what the addresses in the text say.
 */
export function parseIptablesNat(natText: string, filterText?: string, family?: Family): IptablesTables {
  const nat = new Table(parseSave(natText).get('nat'));
  const filter = new Table(filterText === undefined ? undefined : parseSave(filterText).get('filter'));
  const fam: Family = family ?? (/^-A KUBE-\S+ .*(-d|--to-destination) \[?[0-9a-f]*:[0-9a-f:]*[:\]]/m.test(natText + '\n' + (filterText ?? '')) ? 'inet6' : 'inet');
  const out: IptablesFrontend[] = [];
  const tables: IptablesTables = { family: fam, frontends: out };
  const add = (f: IptablesFrontend, jump: string) => {
    const seen = new Map<string, Balancer>();
    f.chain = jump;
    follow(nat, jump, [], [], [], f.routes, seen);
    f.balancers = [...seen.values()];
    out.push(f);
  };
  for (const r of nat.rules('KUBE-SERVICES') ?? []) {
    if (r.target === 'KUBE-NODEPORTS') {
      if (r.d) (tables.nodePortAddresses ??= []).push(r.d);
      continue;
    }
    const s = SUFFIX.find(([re]) => re.test(r.comment ?? ''));
    // Older kube-proxy also wrote "cluster IP" rules jumping to KUBE-MARK-MASQ here: not frontends.
    if (s && isRouteChain(r.target) && r.d) add(frontend(fam, r.comment!.replace(s[0], ''), s[1], r, r.d), r.target);
  }
  for (const r of nat.rules('KUBE-NODEPORTS') ?? []) {
    if (r.comment && r.target?.startsWith(EXT_PREFIX)) add(frontend(fam, r.comment, 'NodePort', r, r.d ?? NODE_ADDRESSES), r.target);
  }
  // Traffic with nowhere to go is stopped in filter: REJECT (no endpoints), DROP (no local endpoints,
  // source outside loadBalancerSourceRanges).
  for (const chain of ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-PROXY-FIREWALL']) {
    for (const r of filter.rules(chain) ?? []) {
      const m = /^(.*?) (has no endpoints|has no local endpoints|traffic not accepted by \S+)$/.exec(r.comment ?? '');
      if (!m || !r.target) continue;
      const address = r.dstLocal ? NODE_ADDRESSES : r.d ?? NODE_ADDRESSES;
      const kind: FrontendKind = r.dstLocal ? 'NodePort' : chain === 'KUBE-SERVICES' ? 'ClusterIP' : chain === 'KUBE-PROXY-FIREWALL' ? 'LoadBalancer' : 'External';
      let f = out.find((x) => x.name === m[1] && x.address === address && x.port === r.dport && x.protocol === r.p);
      if (!f) out.push((f = frontend(fam, m[1]!, kind, r, address)));
      f.filter.push({ verdict: r.target, chain, comment: r.comment! });
    }
  }
  return tables;
}

const KIND_ORDER: FrontendKind[] = ['ClusterIP', 'ExternalIP', 'LoadBalancer', 'External', 'NodePort'];

/** The frontends the agent's Service port should have in the kernel, as (kind, address). */
function expectedFrontends(sp: ServicePortDesired): [FrontendKind, string, number][] {
  return [
    ['ClusterIP', sp.clusterIP, sp.port], ...sp.externalIPs.map((a): [FrontendKind, string, number] => ['ExternalIP', a, sp.port]),
    ...sp.loadBalancerIPs.map((a): [FrontendKind, string, number] => ['LoadBalancer', a, sp.port]),
    ...(sp.nodePort !== undefined ? [['NodePort', NODE_ADDRESSES, sp.nodePort] as [FrontendKind, string, number]] : []),
  ];
}

/** Compare a balancer's endpoints with those the agent chose for its chain (SVC: cluster, SVL: local). */
function joinBalancer(b: Balancer, sp: ServicePortDesired): Balancer {
  const chosen = b.chain.startsWith(SVL_PREFIX) ? sp.localEndpoints : sp.clusterEndpoints;
  const want = new Map(chosen.map((e) => [endpointString(canon(e.address), e.port), e]));
  const endpoints = b.endpoints.map((e) => {
    const w = want.get(e.endpoint);
    return w ? { ...e, local: w.local } : { ...e, drift: 'in the kernel, not chosen by the agent' };
  });
  const have = new Set(b.endpoints.map((e) => e.endpoint));
  const missing = [...want.keys()].filter((k) => !have.has(k));
  return { ...b, endpoints, ...(missing.length ? { missing } : {}) };
}

/**
 * Join the kernel's frontends (one IptablesTables per family read) with the agent's state: the Service
 * port of each, and drift both ways (endpoints, frontends). Sorted by Service port, then kind.
 */
export function joinIptablesView(parsed: IptablesTables | IptablesTables[], state: AgentState | undefined): IptablesView[] {
  const tables = Array.isArray(parsed) ? parsed : [parsed];
  const ports = new Map<string, ServicePortDesired>();
  for (const sp of state?.servicePorts ?? []) ports.set(`${sp.family}|${sp.protocol}|${sp.name}`, sp);
  const out: IptablesView[] = [];
  const found = new Set<string>();
  for (const t of tables) {
    for (const f of t.frontends) {
      const v: IptablesView = { ...f, inKernel: true, drift: [], ...(f.kind === 'NodePort' && t.nodePortAddresses ? { nodePortAddresses: t.nodePortAddresses } : {}) };
      out.push(v);
      const sp = ports.get(`${f.family}|${f.protocol}|${f.name}`);
      if (!sp) {
        if (state) v.drift.push('no Service port of the agent has this name (left by another proxy, or the agent has not synced)');
        continue;
      }
      const match = expectedFrontends(sp).find(([k, a, p]) => (k === f.kind || (f.kind === 'External' && k !== 'ClusterIP' && k !== 'NodePort')) && canon(a) === f.address && p === f.port);
      if (match) {
        v.kind = match[0];
        found.add(`${f.family}|${f.protocol}|${f.name}|${match[0]}|${f.address}|${f.port}`);
      } else if (f.address !== '127.0.0.0/8') {
        v.drift.push(`the agent does not give ${f.name} this ${f.kind} frontend`);
      }
      const externally = sp.nodePort !== undefined || sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0;
      v.servicePort = {
        service: sp.service, portName: sp.portName, internalTrafficPolicy: sp.internalLocal ? 'Local' : 'Cluster',
        ...(externally ? { externalTrafficPolicy: sp.externalLocal ? 'Local' : 'Cluster' } : {}),
        ...(sp.affinitySeconds !== undefined ? { affinitySeconds: sp.affinitySeconds } : {}),
        sourceRanges: sp.sourceRanges, hasEndpoints: sp.hasEndpoints, notes: [...sp.notes],
      };
      v.balancers = v.balancers.map((b) => joinBalancer(b, sp));
      if (!sp.hasEndpoints && v.balancers.some((b) => b.endpoints.length)) v.drift.push('the agent sees no endpoints, the kernel still balances');
      if (sp.hasEndpoints && v.filter.some((x) => x.verdict === 'REJECT')) v.drift.push('the kernel rejects (no endpoints), the agent has endpoints');
    }
  }
  const families = new Set(tables.map((t) => t.family));
  for (const sp of state?.servicePorts ?? []) {
    if (!families.has(sp.family)) continue;
    for (const [kind, address, port] of expectedFrontends(sp)) {
      if (found.has(`${sp.family}|${sp.protocol}|${sp.name}|${kind}|${canon(address)}|${port}`)) continue;
      out.push({
        family: sp.family, name: sp.name, kind, address: canon(address), protocol: sp.protocol, port, routes: [], balancers: [], filter: [],
        inKernel: false, drift: ['wanted by the agent, missing from the kernel'],
      });
    }
  }
  const rank = (v: IptablesView) => KIND_ORDER.indexOf(v.kind);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : rank(a) - rank(b) || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)));
}
