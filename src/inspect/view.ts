// Kubernetes-aware views of the IPVS table: the kernel's virtual and real servers joined with the
// agent's state (which Service port each came from, which pod each real server is). Pure functions;
// the CLI reads the kernel and the state socket and prints what these return.
import type { ServiceInfo, RealServerInfo, RealServer, ServiceKey } from '../ipvs/types.js';
import { serviceKeyString, serverKeyString } from '../ipvs/keys.js';
import type { AgentState, VirtualServiceState } from '../agent/state.js';
import type { EndpointInfo, VsOrigin } from '../model/types.js';

export type Condition = 'ready' | 'serving' | 'terminating' | 'not-serving' | 'draining' | 'unknown';

export interface RealServerView {
  address: string;
  port: number;
  weight: number;
  forward: string;
  activeConns: number;
  inactiveConns: number;
  /** The endpoint behind it, when the agent knows it. */
  pod?: string | undefined;
  node?: string | undefined;
  zone?: string | undefined;
  local?: boolean | undefined;
  condition: Condition;
  /** ISO time it went to weight 0, when draining. */
  drainingSince?: string | undefined;
  /** Kernel and agent disagree about this server (missing, extra, other weight). */
  drift?: string | undefined;
}

export interface VirtualServiceView {
  key: string;
  protocol: string;
  address: string;
  port: number;
  fwmark?: number | undefined;
  family: string;
  scheduler: string;
  persistentTimeout?: number | undefined;
  inKernel: boolean;
  /** Where it came from; absent for a virtual service kipvs does not manage. */
  origin?: VsOrigin | undefined;
  servers: RealServerView[];
  /** Endpoints the agent considered and did not use, with the reason. */
  unused: EndpointInfo[];
}

export interface KernelEntry {
  service: ServiceInfo;
  servers: RealServerInfo[];
}

function condition(e: EndpointInfo | undefined, weight: number, draining: boolean): Condition {
  if (draining) return 'draining';
  if (!e) return weight === 0 ? 'draining' : 'unknown';
  if (e.ready) return 'ready';
  if (e.serving && e.terminating) return 'terminating';
  if (e.serving) return 'serving';
  return 'not-serving';
}

/** A real server the agent wants and the kernel lacks. */
function missingServer(w: RealServer, e: EndpointInfo | undefined): RealServerView {
  return {
    address: w.address, port: w.port, weight: w.weight ?? 1, forward: w.forward ?? 'masq', activeConns: 0, inactiveConns: 0,
    pod: e?.pod, node: e?.node, zone: e?.zone, local: e?.local, condition: condition(e, 1, false),
    drift: 'wanted by the agent, missing from the kernel',
  };
}

/** The fields of a virtual service's view that come from its key and scheduling settings. */
function serviceFields(key: string, s: ServiceKey & { scheduler: string; persistent?: { timeout: number } | undefined }) {
  return {
    key, protocol: s.fwmark !== undefined ? 'fwmark' : s.protocol!, address: s.address ?? '', port: s.port ?? 0,
    fwmark: s.fwmark, family: s.family, scheduler: s.scheduler, persistentTimeout: s.persistent?.timeout,
  };
}

/** Join the kernel table with the agent's state, in the kernel's order, agent-only entries last. */
export function joinView(kernel: KernelEntry[], state: AgentState | undefined): VirtualServiceView[] {
  const byKey = new Map<string, VirtualServiceState>();
  for (const vs of state?.virtualServices ?? []) byKey.set(vs.key, vs);
  const draining = new Map((state?.draining ?? []).map((d) => [`${d.serviceKey}|${d.server}`, d.since]));
  const out: VirtualServiceView[] = [];
  const seen = new Set<string>();
  for (const { service, servers } of kernel) {
    const key = serviceKeyString(service);
    seen.add(key);
    const want = byKey.get(key);
    const endpoints = new Map((want?.endpoints ?? []).map((e) => [serverKeyString(e), e]));
    const wanted = new Map((want?.servers ?? []).map((s) => [serverKeyString(s), s]));
    const views: RealServerView[] = servers.map((rs) => {
      const sk = serverKeyString(rs);
      const e = endpoints.get(sk);
      const since = draining.get(`${key}|${sk}`);
      const w = wanted.get(sk);
      let drift: string | undefined;
      if (want && !w && since === undefined) drift = 'in the kernel, not wanted by the agent';
      else if (w && (w.weight ?? 1) !== rs.weight) drift = `weight ${rs.weight}, agent wants ${w.weight ?? 1}`;
      return {
        address: rs.address, port: rs.port, weight: rs.weight, forward: rs.forward,
        activeConns: rs.activeConns, inactiveConns: rs.inactiveConns,
        pod: e?.pod, node: e?.node, zone: e?.zone, local: e?.local,
        condition: condition(e, rs.weight, since !== undefined), drainingSince: since, drift,
      };
    });
    const inKernel = new Set(servers.map((rs) => serverKeyString(rs)));
    for (const [sk, w] of wanted) if (!inKernel.has(sk)) views.push(missingServer(w, endpoints.get(sk)));
    out.push({
      ...serviceFields(key, service),
      inKernel: true, origin: want?.origin, servers: views,
      unused: [...endpoints.values()].filter((e) => !e.used),
    });
  }
  for (const [key, want] of byKey) {
    if (seen.has(key)) continue;
    const endpoints = new Map(want.endpoints.map((e) => [serverKeyString(e), e]));
    out.push({
      ...serviceFields(key, want.service),
      inKernel: false, origin: want.origin,
      servers: want.servers.map((w) => missingServer(w, endpoints.get(serverKeyString(w)))),
      unused: want.endpoints.filter((e) => !e.used),
    });
  }
  return out;
}

/** "10.96.0.10:53", "[fd00::a]:53", "fwmark 7" */
export function endpointText(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function vsText(v: Pick<VirtualServiceView, 'protocol' | 'address' | 'port' | 'fwmark'>): string {
  return v.fwmark !== undefined ? `FWM ${v.fwmark}` : `${v.protocol.toUpperCase()} ${endpointText(v.address, v.port)}`;
}

/** Parse "ip:port", "[v6]:port" or a bare address (any port). */
export function parseTarget(text: string): { address: string; port?: number } | null {
  let m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text);
  if (!m) m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(text);
  if (!m && /^[0-9a-fA-F:]+$/.test(text) && text.includes('::')) m = [text, text, undefined] as unknown as RegExpExecArray;
  if (!m) return null;
  const port = m[2] !== undefined ? Number(m[2]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) return null;
  return { address: m[1]!, ...(port !== undefined ? { port } : {}) };
}

/** `kipvs list` as text: one block per virtual service. */
export function formatList(views: VirtualServiceView[], haveState: boolean): string {
  const lines: string[] = [];
  if (!haveState) lines.push('# no agent state (is kipvs agent running? see --state-socket): kernel view only');
  for (const v of views) {
    const o = v.origin;
    const from = o ? `${o.service}${o.portName ? `:${o.portName}` : `:${o.servicePort}`} ${o.kind}${o.trafficPolicy === 'Local' ? ' (Local)' : ''}` : '(not managed by kipvs)';
    const persist = v.persistentTimeout ? ` persistent ${v.persistentTimeout}` : '';
    lines.push(`${vsText(v)} ${v.scheduler}${persist}  ${from}${v.inKernel ? '' : '  [missing from kernel]'}`);
    for (const s of v.servers) {
      const who = s.pod ? ` pod=${s.pod}` : '';
      const where = `${s.node ? ` node=${s.node}` : ''}${s.zone ? ` zone=${s.zone}` : ''}${s.local ? ' local' : ''}`;
      const drain = s.drainingSince ? ` since ${s.drainingSince}` : '';
      const drift = s.drift ? `  [drift: ${s.drift}]` : '';
      lines.push(`  -> ${endpointText(s.address, s.port)} weight=${s.weight} ${s.condition}${drain} active=${s.activeConns} inactive=${s.inactiveConns}${who}${where}${drift}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** `kipvs explain` as text: what serves the address and why. */
export function formatExplain(target: string, views: VirtualServiceView[], state: AgentState | undefined): string {
  if (!views.length) return `${target}: no IPVS virtual service serves this address${state ? ' and the agent wants none' : ''}.\n`;
  const out: string[] = [];
  for (const v of views) {
    out.push(`${vsText(v)}`);
    const o = v.origin;
    if (!o) {
      out.push('  not managed by kipvs: no Service of this node\'s agent maps to it (added by hand or by another tool).');
    } else {
      out.push(`  Service ${o.service}, port ${o.portName ? `"${o.portName}" ` : ''}${o.servicePort}/${o.protocol.toUpperCase()}, as ${o.kind}`);
      const policyText = o.kind === 'ClusterIP' ? 'internalTrafficPolicy' : 'externalTrafficPolicy';
      out.push(`  ${policyText}: ${o.trafficPolicy}${o.trafficPolicy === 'Local' ? ' (only endpoints on this node)' : ''}`);
      if (o.topologyZone) out.push(`  topology: endpoints hinted for zone ${o.topologyZone}`);
      if (o.sourceRanges?.length) {
        out.push(`  loadBalancerSourceRanges: ${o.sourceRanges.join(', ')}; other clients are dropped${o.allowFromNode ? '' : ', and so is the node itself (no range holds a node address)'}`);
      }
      for (const n of o.notes) out.push(`  note: ${n}`);
    }
    out.push(`  scheduler ${v.scheduler}${v.persistentTimeout ? `, persistent for ${v.persistentTimeout}s (session affinity ClientIP)` : ''}; ${v.inKernel ? 'in the kernel' : 'NOT in the kernel yet'}`);
    if (state && v.address) {
      const bound = state.boundAddresses.includes(v.address);
      const where = state.vipBinding === 'local-route' ? 'by a local route of kipvs (table local, proto 107)' : 'on kube-ipvs0';
      out.push(`  ${v.address} ${bound ? `is bound ${where}` : `is not bound ${where} (a node address, or not local)`}`);
    }
    if (!v.servers.length) out.push('  no real servers: connections to it are refused');
    for (const s of v.servers) {
      const bits = [s.condition, `weight ${s.weight}`];
      if (s.pod) bits.push(`pod ${s.pod}`);
      if (s.node) bits.push(`node ${s.node}${s.local ? ' (this node)' : ''}`);
      if (s.zone) bits.push(`zone ${s.zone}`);
      if (s.drainingSince) bits.push(`draining since ${s.drainingSince}, ${s.activeConns} active and ${s.inactiveConns} inactive connections left`);
      if (s.drift) bits.push(`drift: ${s.drift}`);
      out.push(`  -> ${endpointText(s.address, s.port)}: ${bits.join(', ')}`);
    }
    for (const e of v.unused) {
      out.push(`  not used: ${endpointText(e.address, e.port)}${e.pod ? ` (pod ${e.pod})` : ''}: ${e.reason ?? 'not chosen'}`);
    }
  }
  return out.join('\n') + '\n';
}
