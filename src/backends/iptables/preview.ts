// `kipvs diff` for iptables mode: what start-up and the first (full) sync would change, read-only. The
// rules are rendered as the sync renders them and compared chain by chain with iptables-save of the
// backend the agent would write with; chains of iptables mode that nothing would use any more are
// removed by that sync, missing jumps inserted. What IPVS mode left (its chains, sets, virtual services
// and kube-ipvs0) is removed once the rules are in, so it shows as removals too.
import { existsSync } from 'node:fs';
import { IpvsClient } from '../../ipvs/client.js';
import { IpsetClient } from '../../ipset/client.js';
import { IPSETS } from '../../iptables/names.js';
import { parseSave, ruleArgsText } from '../../iptables/rules.js';
import { localRouteText, type LinkClient } from '../../link/link.js';
import type { Family } from '../../netlink/address.js';
import type { ProxyModel } from '../../model/model.js';
import type { Logger } from '../backend.js';
import { isIpvsModeOnlyChain } from '../leftovers.js';
import { iptablesChanges, leftoverChains, leftoverNftTables, sysctlChanges, type Preview } from '../preview.js';
import { serviceName, serviceRule, serverRule } from '../ipvs/preview.js';
import { allPorts, healthCheckPorts, renderInput, type IptablesModeOptions } from './backend.js';
import { BUILTIN_JUMPS } from './chains.js';
import { renderIptablesMode } from './render.js';
import { IptablesModeApplier, canonicalRule, detectBackend, type XtablesBackend } from './restore.js';
import { hasRandomFully, type ChainChange, type JumpEdit } from '../../iptables/iptables.js';

export function previewIptablesMode(o: IptablesModeOptions, model: ProxyModel, log: Logger): Preview {
  const out: Preview = { mode: 'iptables', changes: [], foreign: [], unread: [] };
  const backend: XtablesBackend = o.backend ?? detectBackend().backend;
  if (o.randomFully === undefined) o = { ...o, randomFully: hasRandomFully(`iptables-${backend}`) };
  if (o.localhostNodePorts ?? true) sysctlChanges([[`${o.procSys ?? '/proc/sys'}/net/ipv4/conf/all/route_localnet`, '1']], out);
  const ports = allPorts(model);
  const healthCheck = healthCheckPorts(model);
  for (const family of o.families ?? (['inet', 'inet6'] as const)) {
    const applier = new IptablesModeApplier({ family, backend });
    let saved: ReturnType<typeof parseSave>;
    try {
      saved = parseSave(applier.save('filter') + applier.save('nat'));
    } catch (err) {
      out.unread.push(`iptables (${family}, ${backend}): ${(err as Error).message}`);
      continue;
    }
    const existing = [...(saved.get('nat')?.keys() ?? [])].filter((c) => c.startsWith('KUBE-'));
    const r = renderIptablesMode(renderInput(o, family, { ports, healthCheck, nodePorts: o.nodePortAddresses(), existing }));
    iptablesChanges(`${family} (${backend})`, compareRendered(r.text, saved, family), out, { key: (l) => canonicalRule(ruleArgsText(l).args, family) });
  }
  leftoverChains(backend, isIpvsModeOnlyChain, "IPVS mode's leftover", log, out);
  leftoverNftTables(out);
  ipvsModeLeftovers(o.link, o.nodePortAddresses(), out);
  return out;
}

/**
 * The restore text against the tables as saved: each chain the text writes whose rules differ, each chain
 * it deletes (-X), and each of kube-proxy's jumps from built-in chains that is missing.
 */
export function compareRendered(text: string, saved: ReturnType<typeof parseSave>, family: Family): { chains: ChainChange[]; jumps: JumpEdit[] } {
  const out: { chains: ChainChange[]; jumps: JumpEdit[] } = { chains: [], jumps: [] };
  const key = (line: string) => canonicalRule(ruleArgsText(line).args, family);
  let table: 'nat' | 'filter' | null = null;
  const written = { nat: new Map<string, string[]>(), filter: new Map<string, string[]>() };
  const deleted = { nat: [] as string[], filter: [] as string[] };
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line === '*nat' ? 'nat' : line === '*filter' ? 'filter' : null;
    else if (!table) continue;
    else if (line.startsWith(':')) written[table].set(line.slice(1, line.indexOf(' ')), []);
    else if (line.startsWith('-A ')) written[table].get(ruleArgsText(line).chain)?.push(line);
    else if (line.startsWith('-X ')) deleted[table].push(line.slice(3).trim());
  }
  for (const t of ['filter', 'nat'] as const) {
    const have = saved.get(t) ?? new Map();
    for (const [chain, after] of written[t]) {
      // kube-proxy's restore declares (flushes) a chain before deleting it: a removal, listed below.
      if (deleted[t].includes(chain)) continue;
      const h = have.get(chain);
      const before = h ? h.rules.map((r: string) => `-A ${chain} ${r}`) : null;
      if (before && before.length === after.length && before.every((l: string, i: number) => key(l) === key(after[i]!))) continue;
      out.chains.push({ table: t, chain, before, after });
    }
    for (const chain of deleted[t]) {
      const h = have.get(chain);
      if (h) out.chains.push({ table: t, chain, before: h.rules.map((r: string) => `-A ${chain} ${r}`), after: [] });
    }
  }
  for (const j of BUILTIN_JUMPS) {
    const want = canonicalRule(j.rule, family);
    const rules: string[] = saved.get(j.table)?.get(j.chain)?.rules ?? [];
    if (!rules.some((r) => canonicalRule(r, family) === want)) out.jumps.push({ table: j.table, chain: j.chain, action: 'add', rule: j.rule });
  }
  return out;
}

/** IPVS mode's sets, its virtual services on kube-ipvs0 VIPs and node addresses, and kube-ipvs0. */
function ipvsModeLeftovers(link: LinkClient, nodeAddresses: readonly string[], out: Preview): void {
  try {
    const client = IpsetClient.open();
    try {
      const have = new Set(client.list());
      for (const info of IPSETS) for (const f of ['inet', 'inet6'] as const) {
        const name = info.name(f);
        if (have.has(name)) out.changes.push({ object: 'ipset', action: 'remove', name, before: [`create ${name} ${info.type}`], note: "IPVS mode's leftover" });
      }
    } finally {
      client.close();
    }
  } catch (err) {
    out.unread.push(`ipsets: ${(err as Error).message}`);
  }
  const dummy = link.link('kube-ipvs0');
  // As the sync: IPVS is looked at only when the kernel has it (iptables mode must not load ip_vs).
  if (!existsSync('/proc/net/ip_vs') && !dummy) return;
  const bound = new Set(dummy ? link.addresses(dummy.index).map((a) => a.address) : []);
  // VIPs IPVS mode bound as local routes (--vip-binding local-route): its too.
  const routed = new Set(link.localRoutes().map((r) => r.destination));
  const node = new Set(nodeAddresses);
  const ipvs = IpvsClient.open();
  try {
    ipvs.forEachEntry({ stats: false }, (service, servers) => {
      const a = service.address;
      if (a !== undefined && (bound.has(a) || routed.has(a) || node.has(a))) {
        out.changes.push({ object: 'virtual-service', action: 'remove', name: serviceName(service), before: [serviceRule(service), ...servers.map((s) => serverRule(service, s))], note: "IPVS mode's leftover" });
      } else {
        out.foreign.push({ object: 'virtual-service', name: serviceName(service), reason: 'not on a kube-ipvs0 or node address' });
      }
    });
  } finally {
    ipvs.close();
  }
  if (dummy) out.changes.push({ object: 'link', action: 'remove', name: 'kube-ipvs0', before: [...bound].map((a) => `${a} dev kube-ipvs0`), note: "IPVS mode's leftover" });
  for (const a of routed) {
    out.changes.push({ object: 'local-route', action: 'remove', name: a, before: [localRouteText(a)], note: "IPVS mode's leftover" });
  }
}
