// What each proxy mode leaves in the kernel that the other does not use, and its removal. A node that
// moves between modes (kube-proxy's or kipvs') must not keep the old mode's rules: iptables-mode DNAT
// chains would shadow IPVS, and IPVS-mode virtual services would catch traffic iptables mode routes.
// Both iptables backends are searched: legacy and nft tables are both live in the kernel, so rules a
// previous proxy wrote with the other binary still apply. kube-proxy's nftables mode keeps all of its
// rules in one nftables table per family; its DNAT chains hook prerouting and output as iptables
// mode's do, so they shadow either kipvs mode until the tables go.
import { existsSync, readFileSync } from 'node:fs';
import { isOwnedChain } from '../iptables/rules.js';
import type { Table } from '../iptables/names.js';
import { Iptables, execRun, type ChainFilter, type Run } from '../iptables/iptables.js';
import type { Family } from '../netlink/address.js';
import type { Logger } from './backend.js';
import { listTables } from '../nftables/tables.js';

/**
 * Chains of kube-proxy's iptables mode named per Service port or endpoint; KUBE-XLB- is what versions
 * before 1.24 named the externalTrafficPolicy Local chain (KUBE-SVL- and KUBE-EXT- since).
 */
const PER_SERVICE_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-', 'KUBE-XLB-'];

/** Top-level chains iptables mode uses and IPVS mode does not (per table). */
const IPTABLES_MODE_ONLY: Record<Table, readonly string[]> = {
  nat: ['KUBE-NODEPORTS'],
  filter: ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-NODEPORTS'],
};

/** Chains IPVS mode uses and iptables mode does not (per table). */
const IPVS_MODE_ONLY: Record<Table, readonly string[]> = {
  nat: ['KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER'],
  filter: ['KUBE-NODE-PORT', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER'],
};

/** Is this a chain only iptables mode writes (so IPVS mode removes it)? */
export function isIptablesModeOnlyChain(table: Table, chain: string): boolean {
  return IPTABLES_MODE_ONLY[table].includes(chain) || (table === 'nat' && PER_SERVICE_PREFIXES.some((p) => chain.startsWith(p)));
}

/** Is this a chain only IPVS mode writes (so iptables mode removes it)? */
export function isIpvsModeOnlyChain(table: Table, chain: string): boolean {
  return IPVS_MODE_ONLY[table].includes(chain);
}

/** Any chain of either mode (what `kipvs cleanup` removes), kube-proxy's flush canary included. */
export function isProxyChain(table: Table, chain: string): boolean {
  return isOwnedChain(table, chain) || isIptablesModeOnlyChain(table, chain) || chain === 'KUBE-PROXY-CANARY';
}

const COMMANDS = ['iptables-legacy', 'iptables-nft'] as const;
const FAMILIES: readonly Family[] = ['inet', 'inet6'];

/** The backend the plain `iptables` command writes with (Debian's alternatives): it prints "(nf_tables)" or "(legacy)". */
export function alternativesBackend(run: Run = execRun): 'legacy' | 'nft' {
  try {
    return /legacy/.test(run('iptables', ['--version'])) ? 'legacy' : 'nft';
  } catch {
    return 'nft';
  }
}

/**
 * Remove the chains `which` selects, and the jumps into them from built-in chains, in both families.
 * In the `active` backend (the one this proxy writes with) only those; in the other backend every
 * proxy chain goes (isProxyChain), since nothing of ours belongs there. A missing binary or family is
 * skipped, as is a family of the active backend that `knownClean` vouches for. Returns the chains removed.
 */
export function removeChains(which: ChainFilter, log: Logger, what: string, active: 'legacy' | 'nft', knownClean?: (family: Family) => boolean): number {
  let removed = 0;
  for (const { command, family, iptables, filter, mine } of leftoverScopes(which, active, log)) {
    // The active backend's chains were just read by the caller (its rules' own iptables-save): no
    // second save for a family where none of them is one `which` selects.
    if (mine && knownClean?.(family)) continue;
    try {
      const n = iptables.cleanup(filter);
      if (n) log.info({ command, family, chains: n }, `removed ${what}`);
      removed += n;
    } catch (err) {
      log.debug({ command, family, err: (err as Error).message }, `cannot look for ${what}`);
    }
  }
  return removed;
}

/**
 * Where leftovers are looked for, and which: each iptables backend and family (a family without legacy
 * tables is skipped), with `which` in the `active` backend and every proxy chain in the other.
 * removeChains() removes them; `kipvs diff` lists them.
 */
export function leftoverScopes(which: ChainFilter, active: 'legacy' | 'nft', log: Logger): { command: (typeof COMMANDS)[number]; family: Family; iptables: Iptables; filter: ChainFilter; mine: boolean }[] {
  const out = [];
  for (const command of COMMANDS) {
    const mine = command.endsWith(active);
    for (const family of FAMILIES) {
      if (command === 'iptables-legacy' && !hasLegacyTables(family)) continue;
      out.push({ command, family, iptables: new Iptables({ family, command, log }), filter: mine ? which : isProxyChain, mine });
    }
  }
  return out;
}

/**
 * Whether the legacy (x_tables) backend holds any table in this network namespace. The kernel lists
 * them in /proc/net/ip_tables_names (ip6_tables_names), absent when the module is not even loaded;
 * reading it creates nothing. An empty list means no legacy rules, and saves two iptables-legacy-save
 * processes per family (most of a second each in the emulated sandbox) at every start.
 */
export function hasLegacyTables(family: Family, procNet = '/proc/net'): boolean {
  try {
    return readFileSync(`${procNet}/${family === 'inet6' ? 'ip6' : 'ip'}_tables_names`, 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

/** kube-proxy's nftables mode: one table per family, both named "kube-proxy" (its proxier's kubeProxyTable). */
export const NFT_PROXY_TABLES: readonly string[] = ['ip kube-proxy', 'ip6 kube-proxy'];

/** How the tables are listed: "family name" strings (default: over netlink, nftables/tables.ts). */
export type ListTables = () => string[];

/**
 * The tables of kube-proxy's nftables mode that exist now, as "family name" ("ip kube-proxy"). Without
 * nf_tables in the kernel (no /sys/module/nf_tables) there are none, and nothing is asked: listing
 * would load the module on a node that never used it. Listed over netlink, not with `nft list tables`:
 * running nft forks the agent, a fifth of a second of every first sync in the sandbox. Throws when the
 * kernel cannot be asked although nf_tables is there (the caller says it could not look).
 */
export function nftProxyTables(list: ListTables = listTables, sysModule = '/sys/module'): string[] {
  if (!existsSync(`${sysModule}/nf_tables`)) return [];
  return list().filter((t) => NFT_PROXY_TABLES.includes(t));
}

/** The nft script deleting these tables: one transaction, so either every table goes or none does. */
export function nftDeleteScript(tables: readonly string[]): string {
  return tables.map((t) => `delete table ${t}\n`).join('');
}

/**
 * Remove kube-proxy's nftables-mode tables, those that exist, with one `nft -f`. A node without nft or
 * nf_tables has none to remove. Returns the tables removed.
 */
export function removeNftTables(log: Logger, run: Run = execRun, sysModule = '/sys/module', list: ListTables = listTables): string[] {
  let tables: string[];
  try {
    tables = nftProxyTables(list, sysModule);
  } catch (err) {
    log.debug({ err: (err as Error).message }, "cannot look for kube-proxy's nftables tables");
    return [];
  }
  if (tables.length === 0) return [];
  try {
    run('nft', ['-f', '-'], nftDeleteScript(tables));
  } catch (err) {
    log.warn({ tables, err: (err as Error).message }, "cannot remove kube-proxy's nftables tables");
    return [];
  }
  log.info({ tables }, "removed kube-proxy's nftables-mode tables");
  return tables;
}
