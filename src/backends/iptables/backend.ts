// kube-proxy's iptables mode as a backend: the model's per-port view becomes KUBE-SERVICES, KUBE-SVC-…,
// KUBE-SEP-… chains (render.ts), written with one iptables-restore --noflush per family per sync
// (restore.ts). A change rewrites only the chains of the Services it touched (kube-proxy's partial
// sync), unless configured to restore everything every time; a full sync reads the kernel back, puts
// missing jumps in again and deletes chains nothing uses any more.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { LinkClient } from '../../link/link.js';
import type { ProxyModel } from '../../model/model.js';
import type { ServicePortDesired } from '../../model/types.js';
import { familyOf, type Family } from '../../netlink/address.js';
import { localDetectorFor, type DetectLocalOptions } from '../../iptables/local-detector.js';
import type { BackendFailure, BackendStats, BackendSyncInput, BackendSyncResult, Logger, ProxyBackend } from '../backend.js';
import { isIpvsModeOnlyChain, removeNftTables } from '../leftovers.js';
import { hasRandomFully } from '../../iptables/iptables.js';
import { removeIpvsMode } from '../ipvs/cleanup.js';
import { TOP_CHAINS } from './chains.js';
import { renderIptablesMode, type RenderCounts, type RenderInput } from './render.js';
import { IptablesModeApplier, detectBackend, type XtablesBackend } from './restore.js';

export interface IptablesModeOptions {
  log: Logger;
  /** The IP families the node programs (default both): no rules are written for the others. */
  families?: readonly Family[];
  link: LinkClient;
  masqueradeAll: boolean;
  masqueradeBit: number;
  clusterCIDRs: string[];
  /** detectLocalMode and its interface settings; default ClusterCIDR. */
  detectLocal?: DetectLocalOptions;
  /** This Node's spec.podCIDRs as the agent last read them (NodeCIDR mode's detector). */
  podCIDRs?: () => readonly string[];
  /** 'partial' (kube-proxy today): changed Services' chains only; 'full': every chain, every sync. */
  sync: 'partial' | 'full';
  /** The iptables backend; default: the one the node already uses. */
  backend?: XtablesBackend;
  /** nodePortAddresses as configured: empty means every local address (`--dst-type LOCAL`). */
  nodePortConfig: readonly string[];
  /** The node addresses NodePorts are served on, as the agent last read them. */
  nodePortAddresses: () => readonly string[];
  /** The node's primary IPs (a source range holding one admits the node to a load balancer). */
  nodeIPs: () => readonly string[];
  /** iptables.localhostNodePorts (default true): NodePorts answer on 127.0.0.1 too (IPv4). */
  localhostNodePorts?: boolean;
  /** Where to write the kernel's sysctls (tests point it elsewhere); default /proc/sys. */
  procSys?: string;
  /** MASQUERADE --random-fully; start() sets it from the backend binary's version, as kube-proxy does. */
  randomFully?: boolean;
}

interface FamilyState {
  family: Family;
  applier: IptablesModeApplier;
  /** nat chains now in the kernel, as of the last read or restore; undefined: read before the next restore. */
  chains?: Set<string>;
  total?: RenderCounts;
  /** The Services ("namespace/name") with ports of this family as of the last restore. */
  services: Set<string>;
}

export class IptablesBackend implements ProxyBackend {
  readonly mode = 'iptables' as const;
  #o: IptablesModeOptions;
  #families: FamilyState[] = [];
  #dirty = false;
  #ipvsChecked = false;
  #backend: XtablesBackend = 'nft';
  /** The Node's podCIDRs the rules were last written with (NodeCIDR mode: every Service's chain matches them). */
  #podCIDRs = '';

  constructor(opts: IptablesModeOptions) {
    this.#o = opts;
  }

  get backend(): XtablesBackend {
    return this.#backend;
  }

  start(): void {
    const o = this.#o;
    if (o.backend) {
      this.#backend = o.backend;
      o.log.info({ backend: o.backend }, 'iptables backend as configured');
    } else {
      const d = detectBackend();
      this.#backend = d.backend;
      o.log.info({ backend: d.backend, reason: d.reason }, 'iptables backend detected');
    }
    if (o.randomFully === undefined) this.#o = { ...o, randomFully: hasRandomFully(`iptables-${this.#backend}`) };
    for (const family of ['inet', 'inet6'] as const) {
      if (o.families && !o.families.includes(family)) continue;
      const applier = new IptablesModeApplier({ family, backend: this.#backend });
      try {
        applier.save('nat');
      } catch (err) {
        // A node without IPv6 (or without ip6tables) is single-stack: the other family still works.
        if (family === 'inet') throw err;
        o.log.warn({ family, err: (err as Error).message }, 'no ip6tables: IPv6 Services are not programmed');
        continue;
      }
      this.#families.push({ family, applier, services: new Set() });
    }
    // NodePorts on 127.0.0.1 need the kernel to route loopback-sourced traffic (kube-proxy sets it too,
    // and its KUBE-FIREWALL rule keeps the rest of 127.0.0.0/8 closed).
    if (o.localhostNodePorts ?? true) {
      try {
        writeFileSync(`${o.procSys ?? '/proc/sys'}/net/ipv4/conf/all/route_localnet`, '1');
      } catch (err) {
        o.log.warn({ err: (err as Error).message }, 'cannot set net.ipv4.conf.all.route_localnet; NodePorts will not answer on localhost');
      }
    }
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  sync({ full, changes, model }: BackendSyncInput): BackendSyncResult {
    const t0 = performance.now();
    const o = this.#o;
    // Rewrite everything when asked to, when a previous restore failed, when our chains are unknown, or
    // when NodeCIDR mode's detector changed with the Node's podCIDRs (every Service's chains use it).
    const podCIDRs = o.detectLocal?.mode === 'NodeCIDR' ? (o.podCIDRs?.() ?? []).join() : '';
    const everything = full || this.#dirty || o.sync === 'full' || podCIDRs !== this.#podCIDRs;
    this.#podCIDRs = podCIDRs;
    const counts: Record<string, number> = {};
    const failures: BackendFailure[] = [];
    const phases: Record<string, number> = { readMs: 0, renderMs: 0, restoreMs: 0 };
    let lines = 0;
    const ports = allPorts(model);
    const healthCheck = healthCheckPorts(model);
    const npAll = o.nodePortAddresses();
    const changed = new Set(changes.changedServices);
    for (const f of this.#families) {
      const mine = servicesOf(ports, f.family);
      // As kube-proxy's per-family proxiers: a change that touches no Service of this family (before or
      // after) leaves its tables alone.
      if (!everything && f.chains && ![...changed].some((n) => mine.has(n) || f.services.has(n))) continue;
      let t = performance.now();
      const state = full || !f.chains ? f.applier.read() : undefined;
      if (state) f.chains = state.nat.chains;
      phases.readMs! += performance.now() - t;
      t = performance.now();
      const r = renderIptablesMode(renderInput(o, f.family, { ports, healthCheck, nodePorts: npAll, existing: f.chains ?? [], ...(everything ? {} : { changed }) }));
      phases.renderMs! += performance.now() - t;
      t = performance.now();
      try {
        const a = f.applier.apply(r.text, state);
        lines += a.lines;
        if (a.jumpsInserted) counts['insert-jump'] = (counts['insert-jump'] ?? 0) + a.jumpsInserted;
        f.chains = new Set([...r.activeChains, ...TOP_CHAINS.nat]);
        f.total = r.total;
        f.services = mine;
      } catch (err) {
        const op = r.partial ? 'iptables-partial-restore' : 'iptables-restore';
        failures.push({ op, message: (err as Error).message, family: f.family });
        o.log.warn({ family: f.family, partial: r.partial, err: (err as Error).message }, 'iptables-restore failed; the next sync restores everything');
        this.#dirty = true;
        f.chains = undefined;
      }
      phases.restoreMs! += performance.now() - t;
    }
    if (failures.length === 0) this.#dirty = false;
    if (lines) counts['restore-lines'] = lines;
    if (!this.#ipvsChecked && failures.length === 0) this.#removeIpvsMode(counts);
    return {
      kind: everything ? 'full' : 'incremental',
      operations: lines,
      counts,
      failures,
      repaired: 0,
      durationMs: performance.now() - t0,
      phases,
    };
  }

  /**
   * Once our rules carry the traffic: what IPVS mode left (its chains, sets, virtual services,
   * kube-ipvs0), and kube-proxy's nftables-mode tables, whose DNATs run beside ours and could win.
   */
  #removeIpvsMode(counts: Record<string, number>): void {
    this.#ipvsChecked = true;
    const t = removeNftTables(this.#o.log).length;
    if (t) counts['delete-nft-table'] = t;
    try {
      const r = removeIpvsMode({ link: this.#o.link, log: this.#o.log, chains: isIpvsModeOnlyChain, active: this.#backend });
      if (r.services) counts['delete-service'] = r.services;
      if (r.chains) counts['delete-chain'] = r.chains;
      if (r.sets) counts['ipset-destroy'] = r.sets;
      if (r.services || r.chains || r.sets) this.#o.log.info(r, "removed what IPVS mode left behind");
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, "cannot remove what IPVS mode left behind");
    }
  }

  housekeeping(): number {
    return 0;
  }

  stats(): BackendStats {
    const rules: Record<string, number> = { nat: 0, filter: 0 };
    const byFamily: NonNullable<BackendStats['iptablesRulesByFamily']> = [];
    for (const f of this.#families) {
      rules.nat! += f.total?.natRules ?? 0;
      rules.filter! += f.total?.filterRules ?? 0;
      byFamily.push({ family: f.family, table: 'nat', rules: f.total?.natRules ?? 0 }, { family: f.family, table: 'filter', rules: f.total?.filterRules ?? 0 });
    }
    return { iptablesRules: rules, iptablesRulesByFamily: byFamily };
  }

  close(): void {}
}

/** The renderer's input for one family: the configuration, the node, the model's ports. */
export function renderInput(o: IptablesModeOptions, family: Family, d: {
  ports: ServicePortDesired[]; healthCheck: Map<string, number>; nodePorts: readonly string[]; existing: Iterable<string>; changed?: ReadonlySet<string>;
}): RenderInput {
  const localDetector = localDetectorFor(o, family, o.podCIDRs?.() ?? []);
  const nodeIP = nodeIPOf(o.nodeIPs(), family);
  return {
    family,
    masqueradeBit: o.masqueradeBit,
    masqueradeAll: o.masqueradeAll,
    ...(localDetector ? { localDetector } : {}),
    nodePortAddresses: o.nodePortConfig.length ? d.nodePorts.filter((a) => familyOf(a) === family) : undefined,
    localhostNodePorts: o.localhostNodePorts ?? true,
    randomFully: o.randomFully ?? false,
    ...(nodeIP ? { nodeIP } : {}),
    healthCheckNodePorts: d.healthCheck,
    ports: d.ports,
    existingChains: d.existing,
    ...(d.changed ? { changedServices: d.changed } : {}),
  };
}

/** kube-proxy's health-check node ports by Service ("namespace/name"). */
export function healthCheckPorts(model: ProxyModel): Map<string, number> {
  const out = new Map<string, number>();
  for (const [port, h] of model.healthCheckNodePorts()) out.set(h.service, port);
  return out;
}

/** Every Service port the model holds (both families; the renderer takes its own). */
export function allPorts(model: ProxyModel): ServicePortDesired[] {
  const out: ServicePortDesired[] = [];
  for (const s of model.services()) for (const p of s.ports) out.push(p);
  return out;
}

function servicesOf(ports: readonly ServicePortDesired[], family: Family): Set<string> {
  const out = new Set<string>();
  for (const p of ports) if (p.family === family) out.add(p.service);
  return out;
}

function nodeIPOf(ips: readonly string[], family: Family): string | undefined {
  return ips.find((a) => familyOf(a) === family);
}
