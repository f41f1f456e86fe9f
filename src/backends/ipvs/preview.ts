// `kipvs diff` for IPVS mode: what the agent's first sync would change on this node, found by reading
// the kernel and planning exactly as the sync engine does (the same plan(), the same ownership rule:
// virtual services on kube-ipvs0 VIPs and node addresses are kipvs'), without writing anything. It
// covers what start-up and the first sync touch: the sysctls, kube-ipvs0 and its VIPs, virtual and
// real servers, the 34 ipsets and their entries, IPVS mode's chains and jumps, and the chains of
// iptables mode and the tables of nftables mode the first sync removes.
import type { IpvsClient } from '../../ipvs/client.js';
import { serviceKeyString, serverKeyString } from '../../ipvs/keys.js';
import type { RealServer, RealServerInfo, ServiceConfig, ServiceInfo, ServiceKey } from '../../ipvs/types.js';
import { localRouteText, type LinkClient, type VipBinding } from '../../link/link.js';
import { IpsetClient } from '../../ipset/client.js';
import { DEFAULT_MAXELEM } from '../../ipset/capacity.js';
import { Iptables, hasRandomFully, type ChainChange, type JumpEdit } from '../../iptables/iptables.js';
import { ruleArgsText, ruleWithoutComment } from '../../iptables/rules.js';
import { parseCidr, cidrContains } from '../../netlink/cidr.js';
import type { Family } from '../../netlink/address.js';
import { lbClosedToNode } from '../../model/ipsets.js';
import type { ProxyModel } from '../../model/model.js';
import type { Logger } from '../backend.js';
import { isIptablesModeOnlyChain } from '../leftovers.js';
import { iptablesChanges, leftoverChains, leftoverNftTables, sysctlChanges, type Preview, type PreviewChange } from '../preview.js';
import { ipvsRuleSet, nonEmptySetKeys, type IpvsRulesConfig } from './backend.js';
import { wantedSysctls } from './sysctls.js';
import { IpsetSync } from './ipsets.js';
import { plan, type KernelModel } from './plan.js';

export interface IpvsPreviewOptions {
  ipvs: IpvsClient;
  link: LinkClient;
  log: Logger;
  model: ProxyModel;
  excludeCIDRs: string[];
  /** This node's NodePort addresses (kipvs owns the virtual services on them). */
  nodeAddresses: readonly string[];
  strictARP: boolean;
  rules: IpvsRulesConfig | false;
  /** The iptables backend the plain `iptables` command writes with. */
  active: 'legacy' | 'nft';
  dummyName?: string;
  /** How VIPs are made local (default: addresses on kube-ipvs0). */
  vipBinding?: VipBinding;
  /** The IP families the node programs (default both). */
  families?: readonly Family[];
}

const FAMILIES: readonly Family[] = ['inet', 'inet6'];

export function previewIpvsMode(o: IpvsPreviewOptions): Preview {
  const out: Preview = { mode: 'ipvs', changes: [], foreign: [], unread: [] };
  sysctlChanges(wantedSysctls(o.strictARP), out);
  ipvsChanges(o, out);
  if (o.rules !== false) {
    ipsetChanges(o, out);
    const randomFully = hasRandomFully();
    for (const family of o.families ?? FAMILIES) ruleChanges(o, o.rules, family, randomFully, out);
  }
  leftoverChains(o.active, isIptablesModeOnlyChain, "iptables mode's leftover", o.log, out);
  leftoverNftTables(out);
  return out;
}

// ---- IPVS and kube-ipvs0 ----

function ipvsChanges(o: IpvsPreviewOptions, out: Preview): void {
  const dummy = o.dummyName ?? 'kube-ipvs0';
  const link = o.link.link(dummy);
  if (!link) out.changes.push({ object: 'link', action: 'add', name: dummy, after: [`ip link add ${dummy} type dummy`] });
  // VIPs bound the way --vip-binding says, and those bound the other way (removed once bound this way).
  const onDummy = link ? o.link.addresses(link.index).map((a) => a.address) : [];
  const routed = o.link.localRoutes().map((r) => r.destination);
  const byRoute = o.vipBinding === 'local-route';
  const kernel: KernelModel = { services: new Map(), boundAddresses: new Set(byRoute ? routed : onDummy) };
  const leftovers = new Set(byRoute ? onDummy : routed);
  o.ipvs.forEachEntry({ stats: false }, (service, servers) => {
    kernel.services.set(serviceKeyString(service), { service, servers: new Map(servers.map((s) => [serverKeyString(s), s])) });
  });
  const exclude = o.excludeCIDRs.map((c) => parseCidr(c)).filter((c) => c !== null);
  const excluded = (s: ServiceInfo) => s.address !== undefined && exclude.some((c) => cidrContains(c, s.address!));
  const nodeAddresses = new Set(o.nodeAddresses);
  const owns = (_key: string, s: ServiceInfo) => s.address !== undefined && (kernel.boundAddresses.has(s.address) || leftovers.has(s.address) || nodeAddresses.has(s.address));
  const desired = o.model.desired;
  const p = plan(desired, kernel, { owns, excluded, draining: new Set<string>() });

  const origin = (key: string) => {
    const d = o.model.originOf(key)?.origin;
    return d ? `${d.service}${d.portName ? `:${d.portName}` : ''} (${d.kind})` : undefined;
  };
  const draining = new Set(p.drain.map((d) => `${d.serviceKey}|${serverKeyString(d.server)}`));
  for (const op of p.operations) {
    const key = serviceKeyString(op.service);
    const svc = origin(key);
    const name = serviceName(op.service);
    const c: PreviewChange = { object: 'virtual-service', action: 'add', name, ...(svc ? { service: svc } : {}) };
    switch (op.op) {
      case 'add-service':
        out.changes.push({ ...c, after: [serviceRule(op.service)] });
        break;
      case 'update-service':
        out.changes.push({ ...c, action: 'change', before: [serviceRule(kernel.services.get(key)!.service)], after: [serviceRule(op.service)] });
        break;
      case 'delete-service': {
        const have = kernel.services.get(key)!;
        out.changes.push({ ...c, action: 'remove', before: [serviceRule(have.service), ...[...have.servers.values()].map((s) => serverRule(have.service, s))] });
        break;
      }
      case 'add-server':
      case 'update-server':
      case 'delete-server': {
        const sk = serverKeyString(op.server);
        const before = kernel.services.get(key)?.servers.get(sk);
        const action = op.op === 'add-server' ? 'add' : op.op === 'update-server' ? 'change' : 'remove';
        const r: PreviewChange = { ...c, object: 'real-server', action, name: `${name} -> ${hostPort(op.server.address, op.server.port)}` };
        if (before) r.before = [serverRule(op.service, before)];
        if (action !== 'remove') r.after = [serverRule(op.service, op.server)];
        if (draining.has(`${key}|${sk}`)) r.note = 'drains: weight 0 until its connections end, then deleted';
        out.changes.push(r);
        break;
      }
    }
  }
  const asAddress = (a: string) => `${a}/${a.includes(':') ? 128 : 32} dev ${dummy}`;
  const [object, text] = byRoute ? ['local-route' as const, localRouteText] : ['address' as const, asAddress];
  for (const a of p.bind) out.changes.push({ object, action: 'add', name: a, after: [text(a)] });
  for (const a of p.unbind) out.changes.push({ object, action: 'remove', name: a, before: [text(a)] });
  for (const a of leftovers) {
    out.changes.push(byRoute
      ? { object: 'address', action: 'remove', name: a, before: [asAddress(a)], note: 'bound as a local route instead (--vip-binding local-route)' }
      : { object: 'local-route', action: 'remove', name: a, before: [localRouteText(a)], note: 'bound as an address on kube-ipvs0 instead (--vip-binding address)' });
  }
  for (const [key, { service }] of kernel.services) {
    if (desired.services.has(key)) continue;
    if (excluded(service)) out.foreign.push({ object: 'virtual-service', name: serviceName(service), reason: 'in ipvs.excludeCIDRs' });
    else if (!owns(key, service)) out.foreign.push({ object: 'virtual-service', name: serviceName(service), reason: `not on a ${dummy} or node address` });
  }
}

/** "TCP 10.96.0.1:443", "FWM 7": how ipvsadm -L names a virtual service. */
export function serviceName(s: ServiceKey): string {
  if (s.fwmark !== undefined) return `FWM ${s.fwmark}${s.family === 'inet6' ? ' IPv6' : ''}`;
  return `${s.protocol.toUpperCase()} ${hostPort(s.address, s.port)}`;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function serviceSwitch(s: ServiceKey): string {
  if (s.fwmark !== undefined) return `-f ${s.fwmark}`;
  const flag = s.protocol === 'tcp' ? '-t' : s.protocol === 'udp' ? '-u' : '--sctp-service';
  return `${flag} ${hostPort(s.address, s.port)}`;
}

/** The virtual service as an `ipvsadm -S -n` line. */
export function serviceRule(s: ServiceKey & ServiceConfig): string {
  let line = `-A ${serviceSwitch(s)} -s ${s.scheduler || 'rr'}`;
  if (s.persistent) {
    line += ` -p ${s.persistent.timeout}`;
    const mask = s.persistent.netmask;
    if (mask && mask !== '255.255.255.255' && mask !== '128') line += ` -M ${mask}`;
  }
  if (s.pe) line += ` --pe ${s.pe}`;
  if (s.onePacket) line += ' -o';
  const f = s.schedulerFlags ?? {};
  const flags = [f.shFallback && 'sh-fallback', f.shPort && 'sh-port', f.mhFallback && 'mh-fallback', f.mhPort && 'mh-port'].filter(Boolean);
  if (flags.length) line += ` -b ${flags.join(',')}`;
  return line;
}

const FORWARD: Record<string, string> = { masq: '-m', local: '-g', route: '-g', tunnel: '-i', bypass: '-g' };

/** The real server as an `ipvsadm -S -n` line. */
export function serverRule(s: ServiceKey, r: RealServer | RealServerInfo): string {
  let line = `-a ${serviceSwitch(s)} -r ${hostPort(r.address, r.port)} ${FORWARD[r.forward ?? 'masq'] ?? '-m'} -w ${r.weight ?? 1}`;
  if (r.upperThreshold) line += ` -x ${r.upperThreshold}`;
  if (r.lowerThreshold) line += ` -y ${r.lowerThreshold}`;
  return line;
}

// ---- ipsets ----

function ipsetChanges(o: IpvsPreviewOptions, out: Preview): void {
  let client: IpsetClient;
  try {
    client = IpsetClient.open();
  } catch (err) {
    out.unread.push(`ipsets: ${(err as Error).message}`);
    return;
  }
  try {
    const p = new IpsetSync({ client, families: [...(o.families ?? FAMILIES)], log: o.log }).plan(o.model.ipsetEntries());
    for (const m of p.missing) {
      const range = m.type === 'bitmap:port' ? ' range 0-65535' : ` family ${m.family}${m.maxElem !== undefined && m.maxElem !== DEFAULT_MAXELEM ? ` maxelem ${m.maxElem}` : ''}`;
      out.changes.push({ object: 'ipset', action: 'add', name: m.name, after: [`create ${m.name} ${m.type}${range}`] });
    }
    for (const g of p.grow) {
      out.changes.push({ object: 'ipset', action: 'change', name: g.name, before: [`maxelem ${g.fromMaxElem}`], after: [`maxelem ${g.toMaxElem} (${g.entries} entries)`] });
    }
    for (const op of p.ops) {
      const line = `${op.op === 'add' ? 'add' : 'del'} ${op.set} ${op.entry}`;
      out.changes.push(op.op === 'add'
        ? { object: 'ipset-entry', action: 'add', name: `${op.set} ${op.entry}`, after: [line] }
        : { object: 'ipset-entry', action: 'remove', name: `${op.set} ${op.entry}`, before: [line] });
    }
  } finally {
    client.close();
  }
}

// ---- iptables ----

function ruleChanges(o: IpvsPreviewOptions, cfg: IpvsRulesConfig, family: Family, randomFully: boolean, out: Preview): void {
  const rs = ipvsRuleSet(cfg, family, { randomFully, closed: lbClosedToNode(o.model.ipsetEntries(), family), sets: nonEmptySetKeys(o.model, family) });
  let p: { chains: ChainChange[]; jumps: JumpEdit[] };
  try {
    p = new Iptables({ family, log: o.log }).preview(rs);
  } catch (err) {
    out.unread.push(`iptables (${family}): ${(err as Error).message}`);
    return;
  }
  iptablesChanges(`${family} (${o.active})`, p, out, { key: (l) => ruleWithoutComment(ruleArgsText(l).args, family) });
}
