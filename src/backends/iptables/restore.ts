// Puts kube-proxy's iptables mode (render.ts) into the kernel the way kube-proxy does: one
// `iptables-restore --noflush` per family per sync, with the jumps from the built-in chains and the
// KUBE-PROXY-CANARY chains added when missing. Works with either iptables backend, chosen as kube-proxy's
// image chooses it (its iptables-wrapper), because rules written through the other backend would sit in
// the other kernel subsystem, ordered unpredictably against the node's own.
import { performance } from 'node:perf_hooks';
import { execRun, IptablesError, type Run } from '../../iptables/iptables.js';
import { normaliseRule, quoteArg, splitArgs } from '../../iptables/rules.js';
import type { Family } from '../../netlink/address.js';
import { BUILTIN_JUMPS, TOP_CHAINS, isServiceChainName } from './chains.js';

export type XtablesBackend = 'legacy' | 'nft';

export interface Binaries {
  save: string;
  restore: string;
}

/** iptables-nft-save, ip6tables-legacy-restore, … */
export function binaries(backend: XtablesBackend, family: Family): Binaries {
  const base = family === 'inet6' ? 'ip6tables' : 'iptables';
  return { save: `${base}-${backend}-save`, restore: `${base}-${backend}-restore` };
}

export interface Detection {
  backend: XtablesBackend;
  reason: string;
}

/** Run, or '' when the binary fails or is missing (detection is best effort, as the wrapper's is). */
function quiet(run: Run, cmd: string, args: string[]): string {
  try {
    return run(cmd, args);
  } catch {
    return '';
  }
}

const HINT = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;
const count = (text: string, re: RegExp): number => text.match(re)?.length ?? 0;

/**
 * The backend the node already uses, as kube-proxy's iptables-wrapper decides: kubelet's hint chains
 * in the mangle table, through nft first (`-t mangle`), then through legacy (whole tables: naming a table
 * would make the legacy kernel module create it). Without hints: the backend holding KUBE- rules, then the
 * one holding more rules; nft when both are empty.
 */
export function detectBackend(run: Run = execRun): Detection {
  for (const fam of ['iptables', 'ip6tables']) {
    if (HINT.test(quiet(run, `${fam}-nft-save`, ['-t', 'mangle']))) return { backend: 'nft', reason: `kubelet's chains in ${fam}-nft mangle` };
  }
  const legacy = quiet(run, 'iptables-legacy-save', []) + quiet(run, 'ip6tables-legacy-save', []);
  if (HINT.test(legacy)) return { backend: 'legacy', reason: "kubelet's chains in legacy iptables" };
  const nft = quiet(run, 'iptables-nft-save', []) + quiet(run, 'ip6tables-nft-save', []);
  const kube = { legacy: count(legacy, /^-A .*KUBE-/gm), nft: count(nft, /^-A .*KUBE-/gm) };
  if (kube.legacy !== kube.nft) {
    const backend = kube.legacy > kube.nft ? 'legacy' : 'nft';
    return { backend, reason: `${kube[backend]} KUBE- rules in ${backend} (${kube.legacy} legacy, ${kube.nft} nft)` };
  }
  const all = { legacy: count(legacy, /^-A /gm), nft: count(nft, /^-A /gm) };
  if (all.legacy > all.nft) return { backend: 'legacy', reason: `more rules in legacy (${all.legacy} against ${all.nft})` };
  return { backend: 'nft', reason: all.nft > 0 ? `more rules in nft (${all.nft} against ${all.legacy})` : 'no rules anywhere: nft by default' };
}

/** One table as iptables-save showed it: its KUBE- chains, and the rules of its built-in chains. */
export interface TableState {
  chains: Set<string>;
  builtin: Map<string, string[]>;
}

export interface KernelState {
  nat: TableState;
  filter: TableState;
  /** Read only when asked (reading it through legacy creates the table). */
  mangle?: TableState;
}

const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
const CANARY = 'KUBE-PROXY-CANARY';

/** The KUBE- chains and built-in rules of one table's save output; a scan, fast on 100,000 chains. */
export function parseTable(text: string): TableState {
  const chains = new Set<string>();
  const builtin = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line.startsWith(':KUBE-')) {
      chains.add(line.slice(1, line.indexOf(' ') > 0 ? line.indexOf(' ') : undefined));
    } else if (line.startsWith('-A ') && !line.startsWith('-A KUBE-')) {
      const sp = line.indexOf(' ', 3);
      const chain = line.slice(3, sp);
      if (!BUILTIN.has(chain)) continue;
      let rules = builtin.get(chain);
      if (!rules) builtin.set(chain, (rules = []));
      rules.push(line.slice(sp + 1));
    }
  }
  return { chains, builtin };
}

/**
 * A rule's text in one form whatever printed it: rules.ts' canonical form, plus what iptables-save shows
 * differently for kube-proxy's matches (statistic's probability with 11 decimals, the rounding the kernel
 * keeps; recent's options in its own order, with the default --mask and --rsource).
 */
export function canonicalRule(text: string, family: Family): string {
  const args = splitArgs(text);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    out.push(args[i]!);
    if (args[i] !== '-m' || (args[i + 1] !== 'recent' && args[i + 1] !== 'statistic')) continue;
    const kind = args[++i]!;
    out.push(kind);
    const opts: string[] = [];
    // The match's own options run to the next "-m", "-j" or leading option ("!" may negate one of its own).
    const own = (k: number) => args[k]?.startsWith('--') === true || (args[k] === '!' && args[k + 1]?.startsWith('--') === true);
    while (own(i + 1)) {
      let opt = args[++i]!;
      if (opt === '!') opt += ' ' + args[++i]!;
      const valued = /^(--name|--seconds|--hitcount|--mask|--mode|--probability|--every|--packet)$/.test(opt);
      let value = valued ? args[++i]! : '';
      if (opt === '--probability') value = String(Math.round(Number(value) * 0x80000000));
      if (opt === '--rsource' || (opt === '--mask' && /^(255\.255\.255\.255|(ffff:){7}ffff)$/.test(value))) continue;
      opts.push(valued ? `${opt} ${value}` : opt);
    }
    out.push(...opts.sort().flatMap((o) => o.split(' ')));
  }
  return normaliseRule(out.map(quoteArg).join(' '), family);
}

/** iptables-restore refused the input: the table and the line it names. */
export class IptablesRestoreError extends IptablesError {
  constructor(command: string, table: string, reason: string, readonly line: number | undefined, readonly lineText: string | undefined) {
    super(command, table, line === undefined ? reason : `${reason} (line ${line}: ${lineText ?? '?'})`);
    this.name = 'IptablesRestoreError';
  }
}

export interface ApplyResult {
  ms: number;
  /** Lines of input given to iptables-restore (jumps and canaries included). */
  lines: number;
  /** Jumps from built-in chains that were missing and were inserted. */
  jumpsInserted: number;
}

export interface ApplierOptions {
  family: Family;
  backend: XtablesBackend;
  run?: Run;
}

export class IptablesModeApplier {
  readonly family: Family;
  readonly backend: XtablesBackend;
  readonly bin: Binaries;
  private readonly run: Run;

  constructor(opts: ApplierOptions) {
    this.family = opts.family;
    this.backend = opts.backend;
    this.bin = binaries(opts.backend, opts.family);
    this.run = opts.run ?? execRun;
  }

  /** One table's iptables-save output. */
  save(table: 'nat' | 'filter' | 'mangle'): string {
    try {
      return this.run(this.bin.save, ['-t', table]);
    } catch (err) {
      throw new IptablesError(this.bin.save, table, reasonOf(err));
    }
  }

  /** The nat and filter tables (and mangle when asked): KUBE- chains and built-in chains' rules. */
  read(opts: { mangle?: boolean } = {}): KernelState {
    const state: KernelState = { nat: parseTable(this.save('nat')), filter: parseTable(this.save('filter')) };
    if (opts.mangle) state.mangle = parseTable(this.save('mangle'));
    return state;
  }

  /**
   * Restore `text` (render.ts' output: filter then nat) with one iptables-restore. Given the kernel state
   * read before rendering, also insert the jumps that are missing (kube-proxy checks them on full syncs)
   * and create missing KUBE-PROXY-CANARY chains (kube-proxy's flush detector keeps one per table).
   */
  apply(text: string, state?: KernelState): ApplyResult {
    const start = performance.now();
    let input = text;
    let inserted = 0;
    if (state) {
      const extra = this.extraLines(state, text);
      inserted = extra.inserted;
      input = withLines(withLines(text, 'filter', extra.filter), 'nat', extra.nat) + extra.mangle;
    }
    this.restore(input);
    return { ms: performance.now() - start, lines: countLines(input), jumpsInserted: inserted };
  }

  /**
   * Take kube-proxy's iptables mode away (as its CleanupLeftovers does, and fully): the jumps into it
   * from built-in chains, then every top-level and per-Service chain, flushed and deleted. The kubelet's
   * KUBE-FIREWALL and the canaries stay.
   */
  cleanup(): void {
    const state = this.read();
    const lines = { filter: [] as string[], nat: [] as string[] };
    for (const table of ['filter', 'nat'] as const) {
      const t = state[table];
      const ours = new Set<string>([...TOP_CHAINS[table], ...[...t.chains].filter(isServiceChainName)].filter((c) => t.chains.has(c)));
      for (const [chain, rules] of t.builtin) {
        // By number, last first, so that the numbers before stay right.
        for (let i = rules.length - 1; i >= 0; i--) if (ours.has(jumpTarget(rules[i]!) ?? '')) lines[table].push(`-D ${chain} ${i + 1}`);
      }
      for (const c of ours) lines[table].push(`:${c} - [0:0]`);
      for (const c of ours) lines[table].push(`-X ${c}`);
    }
    const block = (t: 'filter' | 'nat') => (lines[t].length ? `*${t}\n${lines[t].join('\n')}\nCOMMIT\n` : '');
    const input = block('filter') + block('nat');
    if (input) this.restore(input);
  }

  /** The lines that make each jump present (kube-proxy's order of prepends) and each canary exist. */
  private extraLines(state: KernelState, text: string): { filter: string[]; nat: string[]; mangle: string; inserted: number } {
    const out = { filter: [] as string[], nat: [] as string[], mangle: '', inserted: 0 };
    // The text declares the top-level chains, and KUBE-FIREWALL when it fills it (in filter, searched alone:
    // the nat part can be tens of megabytes).
    const filterText = text.slice(0, text.indexOf('*nat\n'));
    const inText = (table: 'filter' | 'nat', c: string) =>
      table === 'nat' ? (TOP_CHAINS.nat as readonly string[]).includes(c) : filterText.includes(`\n:${c} - [0:0]\n`);
    const declared = (table: 'filter' | 'nat', c: string) => state[table].chains.has(c) || inText(table, c) || out[table].includes(`:${c} - [0:0]`);
    for (const j of BUILTIN_JUMPS) {
      const want = canonicalRule(j.rule, this.family);
      const have = state[j.table].builtin.get(j.chain) ?? [];
      if (have.some((r) => canonicalRule(r, this.family) === want)) continue;
      // A jump needs its target: KUBE-FIREWALL is filled only for IPv4 with localhost NodePorts.
      if (!declared(j.table, j.target)) out[j.table].unshift(`:${j.target} - [0:0]`);
      out[j.table].push(`-I ${j.chain} 1 ${j.rule}`);
      out.inserted++;
    }
    for (const t of ['filter', 'nat'] as const) if (!declared(t, CANARY)) out[t].unshift(`:${CANARY} - [0:0]`);
    if (state.mangle && !state.mangle.chains.has(CANARY)) out.mangle = `*mangle\n:${CANARY} - [0:0]\nCOMMIT\n`;
    return out;
  }

  private restore(input: string): void {
    try {
      this.run(this.bin.restore, ['--noflush', '--wait'], input);
    } catch (err) {
      const reason = reasonOf(err);
      const m = /line:? (\d+)/.exec(reason);
      const n = m ? Number(m[1]) : undefined;
      const lines = input.split('\n');
      let table = '';
      for (let i = 0; i < (n ?? lines.length) && i < lines.length; i++) if (lines[i]!.startsWith('*')) table = lines[i]!.slice(1);
      throw new IptablesRestoreError(this.bin.restore, table || 'nat,filter', reason, n, n !== undefined ? lines[n - 1] : undefined);
    }
  }
}

/** `lines` added to `table`'s block of restore text: chain lines right after "*table", rules before COMMIT. */
function withLines(text: string, table: string, lines: string[]): string {
  if (lines.length === 0) return text;
  const head = `*${table}\n`;
  const at = text.indexOf(head);
  if (at < 0) return text + head + lines.join('\n') + '\nCOMMIT\n';
  const end = text.indexOf('COMMIT\n', at);
  const decl = lines.filter((l) => l.startsWith(':'));
  const rules = lines.filter((l) => !l.startsWith(':'));
  const join = (l: string[]) => (l.length ? l.join('\n') + '\n' : '');
  return text.slice(0, at + head.length) + join(decl) + text.slice(at + head.length, end) + join(rules) + text.slice(end);
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function jumpTarget(rule: string): string | null {
  const m = / -[jg] (\S+)/.exec(` ${rule}`);
  return m ? m[1]! : null;
}

/** An error's stderr without iptables' "vX.Y (backend):" prefix and usage hint. */
function reasonOf(err: unknown): string {
  const e = err as { stderr?: unknown; message?: unknown };
  const text = typeof e.stderr === 'string' && e.stderr.trim() !== '' ? e.stderr : String(e.message ?? err);
  const lines = text.split('\n').map((l) => l.trim().replace(/^ip6?tables(-\w+)*( v[\d.]+)?( \([^)]*\))?:\s*/, ''));
  return lines.filter((l) => l !== '' && !l.startsWith('Try `')).join('; ') || text.trim();
}
