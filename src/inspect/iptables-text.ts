// The text of `kipvs list` and `kipvs explain` in iptables mode, and the choice of views an address
// names: what iptables-view.ts found in the kernel, worded for an operator. Pure.
import { parseAddress, formatAddress } from '../netlink/address.js';
import { cidrContains, parseCidr } from '../netlink/cidr.js';
import { endpointText } from './view.js';
import type { Balancer, EndpointRule, FilterVerdict, IptablesView, Route } from './iptables-view.js';

/** The address of a NodePort frontend (KUBE-NODEPORTS matches no address of its own). */
export const NODE_ADDRESSES = 'node addresses';

/** "50%", "33.3%" */
function pct(share: number): string {
  return `${Number((share * 100).toFixed(1))}%`;
}

function frontendText(v: IptablesView): string {
  const at = v.address === NODE_ADDRESSES ? `<node address>:${v.port}` : endpointText(v.address, v.port);
  return `${at}/${v.protocol}`;
}

/** "eTP Local" when the traffic policy that applies to this kind of frontend is Local, else ''. */
function policyText(v: IptablesView): string {
  const sp = v.servicePort;
  if (!sp) return '';
  if (v.kind === 'ClusterIP') return sp.internalTrafficPolicy === 'Local' ? 'iTP Local' : '';
  return sp.externalTrafficPolicy === 'Local' ? 'eTP Local' : '';
}

/** One endpoint in prose: "10.244.1.5:53 via KUBE-SEP-AAAA p=0.5000000000 (50% of new connections)". */
function endpointProse(e: EndpointRule, n: number): string {
  const share = n === 1 && e.probability === undefined ? ' (all new connections)'
    : e.probability !== undefined ? ` p=${e.probability} (${pct(e.share)} of new connections)` : ` (the rest, ${pct(e.share)})`;
  const extra = [e.local ? 'on this node' : '', e.problem ?? '', e.drift ? `drift: ${e.drift}` : ''].filter(Boolean);
  return `${e.endpoint || '(no DNAT)'} via ${e.chain}${share}${extra.length ? ` [${extra.join('; ')}]` : ''}`;
}

/** The session affinity timeout when every endpoint has the same one. */
function affinityOf(b: Balancer): number | undefined {
  const s = new Set(b.endpoints.map((e) => e.affinitySeconds));
  return s.size === 1 ? [...s][0] : undefined;
}

function balancerProse(b: Balancer): string {
  const n = b.endpoints.length;
  const parts = [n ? `${n} endpoint${n === 1 ? '' : 's'}: ${b.endpoints.map((e) => endpointProse(e, n)).join(', ')}` : 'no endpoints'];
  const a = affinityOf(b);
  if (a !== undefined) parts.push(`session affinity ClientIP: a client returns to its endpoint for ${a}s`);
  if (b.unbalanced) parts.push(`${pct(b.unbalanced)} of new connections match no rule and are not DNATed`);
  if (b.missing?.length) parts.push(`drift: chosen by the agent, missing from the kernel: ${b.missing.join(', ')}`);
  return parts.join('; ');
}

function masqText(m: string | undefined): string {
  return m === undefined ? '' : m === 'yes' ? ' (masqueraded)' : ` (masqueraded if ${m})`;
}

/** A route; with `b`, the endpoints of its balancer follow (when only one route, so each is said once). */
function routeProse(r: Route, several: boolean, b?: Balancer): string {
  const head = several ? `${r.when.length ? r.when.join(' and ') : 'otherwise'}: ` : '';
  const path = `chain ${r.chains.join(' → ')}${masqText(r.masquerade)}`;
  return r.balancer ? `${head}${path}${b ? `, ${balancerProse(b)}` : ''}` : `${head}${path}: ${r.end ?? 'not DNATed'}`;
}

/** A filter verdict in words. */
function filterProse(f: FilterVerdict): string {
  const why = / has no endpoints$/.test(f.comment) ? 'connections are refused: the Service port has no endpoints'
    : / has no local endpoints$/.test(f.comment) ? 'traffic the nat rules do not DNAT is dropped: no endpoint on this node (Local policy)'
    : / traffic not accepted by /.test(f.comment) ? 'sources outside loadBalancerSourceRanges are dropped'
    : `"${f.comment}"`;
  return `${why} (filter ${f.chain} ${f.verdict})`;
}

/** What applies to the whole frontend: the Service port's settings as the agent has them, and drift. */
function aboutLines(v: IptablesView): string[] {
  const out: string[] = [];
  const sp = v.servicePort;
  if (sp) {
    const policies = [`internalTrafficPolicy ${sp.internalTrafficPolicy}`];
    if (sp.externalTrafficPolicy) policies.push(`externalTrafficPolicy ${sp.externalTrafficPolicy}`);
    if (sp.affinitySeconds !== undefined) policies.push(`sessionAffinity ClientIP ${sp.affinitySeconds}s`);
    out.push(policies.join(', '));
    if (sp.sourceRanges.length && v.kind === 'LoadBalancer') out.push(`loadBalancerSourceRanges: ${sp.sourceRanges.join(', ')}`);
    if (!sp.hasEndpoints) out.push('the agent sees no ready or serving endpoint');
    for (const n of sp.notes) out.push(`note: ${n}`);
  }
  if (v.nodePortAddresses) out.push(`open on ${v.nodePortAddresses.join(', ')} only (nodePortAddresses)`);
  const eps = v.balancers.flatMap((b) => b.endpoints);
  if (eps.length && eps.every((e) => e.hairpin)) out.push('an endpoint reaching itself through the Service is masqueraded (hairpin)');
  for (const d of v.drift) out.push(`drift: ${d}`);
  return out;
}

/** `kipvs explain` in iptables mode: what serves the address, through which chains, and why. */
export function formatIptablesExplain(target: string, views: IptablesView[]): string {
  if (!views.length) return `${target}: no rule of kube-proxy's iptables mode serves this address.\n`;
  const out: string[] = [];
  for (const v of views) {
    const policy = policyText(v);
    let head = `${frontendText(v)} → Service ${v.name} (${v.kind}${policy ? `, ${policy}` : ''})`;
    if (!v.inKernel) head += ': NOT in the kernel';
    const simple = v.routes.length === 1 && v.routes[0]!.when.length === 0;
    if (simple) head += `, ${routeProse(v.routes[0]!, false, v.balancers[0])}`;
    out.push(head);
    if (!simple) {
      for (const r of v.routes) out.push(`  ${routeProse(r, true)}`);
      for (const b of v.balancers) out.push(`  ${b.chain}: ${balancerProse(b)}`);
    }
    for (const f of v.filter) out.push(`  ${filterProse(f)}`);
    for (const l of aboutLines(v)) out.push(`  ${l}`);
  }
  return out.join('\n') + '\n';
}

function endpointLine(e: EndpointRule, n: number): string {
  const share = n === 1 ? '100%' : e.probability !== undefined ? `${pct(e.share)} p=${e.probability}` : `${pct(e.share)} rest`;
  const bits = [e.local ? 'local' : '', e.affinitySeconds !== undefined ? `affinity ${e.affinitySeconds}s` : '', e.problem ?? '', e.drift ? `[drift: ${e.drift}]` : ''];
  return `    -> ${e.endpoint || '(no DNAT)'}  ${share}  ${e.chain}${bits.filter(Boolean).map((b) => `  ${b}`).join('')}`;
}

/** `kipvs list` in iptables mode: one block per frontend, its routes and endpoints. */
export function formatIptablesList(views: IptablesView[]): string {
  const lines: string[] = [];
  for (const v of views) {
    const at = v.address === NODE_ADDRESSES ? `${NODE_ADDRESSES}:${v.port}` : endpointText(v.address, v.port);
    const simple = v.routes.length === 1 && v.routes[0]!.when.length === 0;
    let what = !v.inKernel ? '[missing from kernel]'
      : v.routes.length === 0 ? v.filter.map((f) => `${f.verdict} (${f.comment.slice(v.name.length + 1)})`).join(', ')
      : simple ? v.routes[0]!.chains.join(' → ') + masqText(v.routes[0]!.masquerade) : (v.chain ?? '');
    if (simple && v.routes[0]!.end) what += `: ${v.routes[0]!.end}`;
    const policy = policyText(v);
    lines.push(`${v.protocol.toUpperCase()} ${at}  ${v.name} ${v.kind}${policy ? ` (${policy})` : ''}  ${what}`);
    if (!simple) for (const r of v.routes) lines.push(`  ${r.when.length ? r.when.join(' and ') : 'otherwise'}: ${r.chains.join(' → ')}${masqText(r.masquerade)}${r.end ? `: ${r.end}` : ''}`);
    if (v.routes.length) for (const f of v.filter) lines.push(`  ${f.verdict} in filter ${f.chain}: ${f.comment.slice(v.name.length + 1)}`);
    for (const b of v.balancers) {
      if (v.balancers.length > 1 || !simple) lines.push(`  ${b.chain}: ${b.endpoints.length} endpoint${b.endpoints.length === 1 ? '' : 's'}`);
      for (const e of b.endpoints) lines.push(endpointLine(e, b.endpoints.length));
      for (const m of b.missing ?? []) lines.push(`    -> ${m}  [drift: chosen by the agent, missing from the kernel]`);
    }
    for (const d of v.drift) if (v.inKernel) lines.push(`  [drift: ${d}]`);
  }
  return lines.map((l) => l + '\n').join('');
}

const canonical = (a: string): string => {
  const b = parseAddress(a);
  return b ? formatAddress(b) : a.toLowerCase();
};

/**
 * The views an address (and port) names. NodePort frontends match an address of this node
 * (`nodeAddresses`; without it any address) or one nodePortAddresses lists; "127.0.0.0/8" ones a
 * loopback address.
 */
export function selectIptablesViews(views: IptablesView[], target: { address: string; port?: number }, o: { protocol?: string; nodeAddresses?: readonly string[] } = {}): IptablesView[] {
  const addr = canonical(target.address);
  const node = o.nodeAddresses?.map(canonical);
  return views.filter((v) => {
    if ((target.port !== undefined && v.port !== target.port) || (o.protocol && v.protocol !== o.protocol)) return false;
    if (v.address === NODE_ADDRESSES) return v.nodePortAddresses ? v.nodePortAddresses.map(canonical).includes(addr) : !node || node.includes(addr);
    const cidr = v.address.includes('/') ? parseCidr(v.address) : null;
    return cidr ? cidrContains(cidr, addr) : v.address === addr;
  });
}
