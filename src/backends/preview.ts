// What a first sync would change, found without changing anything (`kipvs diff`). Each backend reads
// the kernel, plans exactly as its sync does, and describes the plan as changes grouped by the object
// they touch; what kipvs would leave alone because it is not its own is listed apart. Lines are in the
// kernel tools' own syntax (ipvsadm -S, ipset save, iptables-save), so an operator can read them as
// they read those tools' output.
import { readFileSync } from 'node:fs';
import { diffArrays } from 'diff';
import type { ChainChange, ChainFilter, JumpEdit } from '../iptables/iptables.js';
import type { Logger } from './backend.js';
import { execRun, type Run } from '../iptables/iptables.js';
import { leftoverScopes, nftProxyTables, type ListTables } from './leftovers.js';

export type PreviewAction = 'add' | 'change' | 'remove';

/** The kinds of object a sync touches, in the order the diff prints them. */
export const PREVIEW_OBJECTS = [
  'link', 'sysctl', 'virtual-service', 'real-server', 'address', 'local-route', 'ipset', 'ipset-entry', 'iptables-chain', 'iptables-jump', 'nft-table',
] as const;
export type PreviewObject = (typeof PREVIEW_OBJECTS)[number];

export interface PreviewChange {
  object: PreviewObject;
  action: PreviewAction;
  /** Which one, e.g. "TCP 10.96.0.1:443", "KUBE-CLUSTER-IP", "inet nat KUBE-SERVICES". */
  name: string;
  /** The object as the kernel holds it now (absent when added), in the tool's syntax. */
  before?: string[];
  /** The object as the sync would leave it (absent when removed). */
  after?: string[];
  /** The Service ("namespace/name:port") it serves, when one does. */
  service?: string;
  /** Why, when the action alone does not say (drain, leftover of the other mode, …). */
  note?: string;
  /** For a changed chain: its rules line by line, prefixed ' ', '-' or '+' (see lineDiff). */
  diff?: string[];
}

export interface PreviewForeign {
  object: PreviewObject;
  name: string;
  /** Why kipvs leaves it alone. */
  reason: string;
}

export interface Preview {
  mode: 'ipvs' | 'iptables';
  changes: PreviewChange[];
  foreign: PreviewForeign[];
  /** Parts of the kernel that could not be read (a missing binary or family); the rest is still compared. */
  unread: string[];
}

/** Counts by object and action, for the summary line and JSON. */
export function previewSummary(p: Preview): Record<string, Record<PreviewAction, number>> {
  const out: Record<string, Record<PreviewAction, number>> = {};
  for (const c of p.changes) {
    const s = (out[c.object] ??= { add: 0, change: 0, remove: 0 });
    s[c.action]++;
  }
  return out;
}

/**
 * A line diff of two rule lists (a chain before and after) by a key that ignores how a tool prints a
 * rule (jsdiff's Myers diff over the keys). Returns lines prefixed with ' ', '-' or '+'.
 */
export function lineDiff(before: readonly string[], after: readonly string[], key: (line: string) => string = (l) => l): string[] {
  const out: string[] = [];
  let i = 0, j = 0;
  for (const part of diffArrays(before.map(key), after.map(key))) {
    for (let k = 0; k < (part.count ?? part.value.length); k++) {
      if (part.added) out.push(`+${after[j++]}`);
      else if (part.removed) out.push(`-${before[i++]}`);
      else out.push(` ${before[i++]}`), j++;
    }
  }
  return out;
}

/** Each sysctl whose value differs from the wanted one. */
export function sysctlChanges(wanted: [string, string][], out: Preview): void {
  for (const [path, value] of wanted) {
    let now: string;
    try {
      now = readFileSync(path, 'utf8').trim();
    } catch (err) {
      out.unread.push(`${path}: ${(err as Error).message}`);
      continue;
    }
    if (now !== value) out.changes.push({ object: 'sysctl', action: 'change', name: path, before: [now], after: [value] });
  }
}

/**
 * Chain and jump edits as changes, named "<where> <table> <chain>". `key` compares two rules however a
 * tool printed them (a changed chain gets its line diff by it).
 */
export function iptablesChanges(where: string, p: { chains: ChainChange[]; jumps: JumpEdit[] }, out: Preview, opts: { note?: string; key?: (line: string) => string } = {}): void {
  const { note, key } = opts;
  for (const c of p.chains) {
    const action = c.before === null ? 'add' : c.after.length === 0 ? 'remove' : 'change';
    const ch: PreviewChange = { object: 'iptables-chain', action, name: `${where} ${c.table} ${c.chain}` };
    // An added or removed chain shows its declaration too: an empty chain is still a change.
    const decl = `:${c.chain} - [0:0]`;
    if (c.before !== null) ch.before = action === 'remove' ? [decl, ...c.before] : c.before;
    if (action === 'add') ch.after = [decl, ...c.after];
    else if (action === 'change') ch.after = c.after;
    if (action === 'change') ch.diff = lineDiff(c.before!, c.after, key);
    if (note) ch.note = note;
    out.changes.push(ch);
  }
  for (const j of p.jumps) {
    const line = `-t ${j.table} -A ${j.chain} ${j.rule}`;
    out.changes.push(j.action === 'add'
      ? { object: 'iptables-jump', action: 'add', name: `${where} ${j.table} ${j.chain}`, after: [line] }
      : { object: 'iptables-jump', action: 'remove', name: `${where} ${j.table} ${j.chain}`, before: [line], note: note ?? 'a second jump into the same chain' });
  }
}

/**
 * The chains `which` selects in the backend the proxy writes with, and every proxy chain in the other
 * backend, with the jumps into them: what removeChains() would delete, as removals.
 */
export function leftoverChains(active: 'legacy' | 'nft', which: ChainFilter, note: string, log: Logger, out: Preview): void {
  for (const { command, family, iptables, filter, mine } of leftoverScopes(which, active, log)) {
    try {
      const p = iptables.chainsMatching(filter);
      iptablesChanges(`${family} (${command.slice('iptables-'.length)})`, p, out, { note: mine ? note : `a proxy's leftover in the backend kipvs does not write with (${active} is)` });
    } catch {
      // A backend or family this node lacks holds nothing to remove.
    }
  }
}

/**
 * kube-proxy's nftables-mode tables that exist, as removals with their content (`nft list table`):
 * what the first sync's removeNftTables() would delete, whichever kipvs mode runs.
 */
export function leftoverNftTables(out: Preview, run: Run = execRun, sysModule?: string, list?: ListTables): void {
  let tables: string[];
  try {
    tables = nftProxyTables(list, sysModule);
  } catch (err) {
    out.unread.push(`nftables: ${(err as Error).message}`);
    return;
  }
  for (const t of tables) {
    let before: string[];
    try {
      before = run('nft', ['list', 'table', ...t.split(' ')]).split('\n').filter((l) => l.trim() !== '');
    } catch (err) {
      before = [`table ${t}`];
      out.unread.push(`nftables table ${t}: ${(err as Error).message}`);
    }
    out.changes.push({ object: 'nft-table', action: 'remove', name: t, before, note: "kube-proxy's nftables mode's leftover" });
  }
}
