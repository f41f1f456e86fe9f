// Puts a RuleSet (rules.ts) into the kernel with the iptables binaries, as kube-proxy does: one
// iptables-save to read what is there, and, only when something differs, one iptables-restore --noflush
// that rewrites the kipvs chains of the tables that differ and inserts missing jumps. Chains and rules
// that are not kipvs' are never touched.
import { execFile, execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { OWNED_CHAINS, type Family, type Table } from './names.js';
import { isOwnedChain, normaliseRule, parseSave, quoteArg, ruleArgsText, ruleWithoutComment, splitArgs, tableBlock, type RuleSet, type SavedChain } from './rules.js';

/** Runs a binary; returns its stdout; throws an Error carrying `stderr` when it fails. */
export type Run = (cmd: string, args: string[], input?: string) => string;
/** Run's asynchronous twin: the binary runs while this thread goes on (see Iptables.applyAsync). */
export type RunAsync = (cmd: string, args: string[], input?: string) => Promise<string>;

export interface IptablesLog {
  warn(o: object, m?: string): void;
}

export interface IptablesOptions {
  family: Family;
  log?: IptablesLog;
  run?: Run;
  /**
   * The iptables variant: 'iptables' (default: whichever the system's alternatives select),
   * 'iptables-legacy' or 'iptables-nft'; the ip6tables one is derived for inet6.
   */
  command?: 'iptables' | 'iptables-legacy' | 'iptables-nft';
  runAsync?: RunAsync;
}

/** Which chains a cleanup removes: a table's chain name in, yes or no out. */
export type ChainFilter = (table: Table, chain: string) => boolean;

export class IptablesError extends Error {
  constructor(
    readonly command: string,
    readonly table: string,
    readonly stderr: string,
  ) {
    super(`${command} (table ${table}) failed: ${stderr}`);
    this.name = 'IptablesError';
  }
}

const TABLES: readonly Table[] = ['nat', 'filter'];
const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/** A failed run as an Error carrying `stderr`: the binary's own words, or that it is not there. */
function runFailure(cmd: string, err: { code?: unknown; message?: unknown }, stderr: unknown): Error {
  const text = typeof stderr === 'string' && stderr.trim() !== '' ? stderr : err.code === 'ENOENT' ? `${cmd}: not found` : String(err.message);
  return Object.assign(new Error(text), { stderr: text });
}

/** The default Run: execFileSync, stderr captured. */
export function execRun(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      input,
      encoding: 'utf8',
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      maxBuffer: 1 << 28,
    });
  } catch (err) {
    throw runFailure(cmd, err as { code?: unknown; message?: unknown }, (err as { stderr?: unknown }).stderr);
  }
}

/** The default RunAsync: execFile, stderr captured, failures shaped as execRun's. */
export function execRunAsync(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
      if (err) reject(runFailure(cmd, err, stderr));
      else resolve(stdout);
    });
    // A binary that exits before reading its input (a bad option) closes the pipe: EPIPE is not the error to report.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

/** The iptables binary's version ("iptables v1.8.9 (nf_tables)" → [1, 8, 9]), or null when it cannot run. */
export function iptablesVersion(command = 'iptables', run: Run = execRun): number[] | null {
  try {
    const m = /v(\d+)\.(\d+)(?:\.(\d+))?/.exec(run(command, ['--version']));
    return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
  } catch {
    return null;
  }
}

/**
 * Whether MASQUERADE takes --random-fully: iptables 1.6.2 or later, the check kube-proxy makes (on the
 * binary, not the kernel). With it, SNAT picks source ports at random and avoids the port races
 * (conntrack insert failures) that a sequential search causes under many parallel connections.
 */
export function hasRandomFully(command = 'iptables', run: Run = execRun): boolean {
  const v = iptablesVersion(command, run);
  if (!v) return false;
  const [a = 0, b = 0, c = 0] = v;
  return a > 1 || (a === 1 && (b > 6 || (b === 6 && c >= 2)));
}

/** The first meaningful line of an error's stderr. */
function stderrOf(err: unknown): string {
  const e = err as { stderr?: unknown; message?: unknown };
  const text = typeof e.stderr === 'string' && e.stderr.trim() !== '' ? e.stderr : String(e.message ?? err);
  // iptables-restore prefixes "iptables-restore v1.8.9 (nf_tables): " (sometimes on a line of its own)
  // and ends with a "Try `iptables-restore -h'" hint.
  const lines = text
    .split('\n')
    .map((l) => l.trim().replace(/^ip6?tables(-restore|-save)? v[\d.]+( \([^)]*\))?:\s*/, ''))
    .filter((l) => l !== '' && !l.startsWith('Try `'));
  return lines.join('; ') || text.trim();
}

/** The rule's jump target (-j/-g), or null. */
function targetOf(ruleText: string): string | null {
  const args = splitArgs(ruleText);
  for (let i = 0; i < args.length - 1; i++) if (args[i] === '-j' || args[i] === '-g' || args[i] === '--jump' || args[i] === '--goto') return args[i + 1]!;
  return null;
}

type Saved = Map<string, Map<string, SavedChain>>;

export class Iptables {
  readonly family: Family;
  private readonly run: Run;
  private readonly runAsync: RunAsync;
  private readonly log: IptablesLog | undefined;
  private readonly saveCmd: string;
  private readonly restoreCmd: string;
  /** Per table: the wanted rules and the raw iptables-save text of our chains right after we restored them. */
  private readonly applied = new Map<Table, { want: string; saved: string }>();
  private warnedFormat = false;
  /** The chain names (per table) of the iptables-save the last apply() read before it wrote anything. */
  private lastChains: ReadonlyMap<string, readonly string[]> | undefined;

  constructor(opts: IptablesOptions) {
    this.family = opts.family;
    this.run = opts.run ?? execRun;
    this.runAsync = opts.runAsync ?? execRunAsync;
    this.log = opts.log;
    const base = opts.command ?? 'iptables';
    const bin = opts.family === 'inet6' ? base.replace(/^iptables/, 'ip6tables') : base;
    this.saveCmd = `${bin}-save`;
    this.restoreCmd = `${bin}-restore`;
  }

  /**
   * Make the kernel hold `rs`: the kipvs chains exactly as wanted, each jump once. Costs one
   * iptables-save when nothing differs; otherwise also one iptables-restore (and an iptables-save to
   * check what it did).
   */
  apply(rs: RuleSet): { changed: boolean; ms: number } {
    const start = performance.now();
    this.checkFamily(rs);
    const edit = this.editFor(rs, this.noteChains(this.readSaved()));
    if (!edit) return { changed: false, ms: performance.now() - start };
    this.restore(edit.input);
    if (edit.restored.length > 0) this.remember(rs, edit.restored, this.readSaved());
    return { changed: true, ms: performance.now() - start };
  }

  /**
   * apply() with the binaries run apart: this thread goes on while they run (a sync has both families'
   * rules written beside its ipset sync: rules-sync.ts). Same reads, same writes, same result.
   */
  async applyAsync(rs: RuleSet): Promise<{ changed: boolean; ms: number }> {
    const start = performance.now();
    this.checkFamily(rs);
    const edit = this.editFor(rs, this.noteChains(parseSave(await this.saveAsync())));
    if (!edit) return { changed: false, ms: performance.now() - start };
    await this.restoreAsync(edit.input);
    if (edit.restored.length > 0) this.remember(rs, edit.restored, parseSave(await this.saveAsync()));
    return { changed: true, ms: performance.now() - start };
  }

  /**
   * The chains the last apply() saw in the kernel (in the tables it reads, nat and filter among them),
   * before it wrote: whatever else is looked for in those chains needs no iptables-save of its own.
   */
  chainsSeen(): ReadonlyMap<string, readonly string[]> | undefined {
    return this.lastChains;
  }

  private noteChains(saved: Saved): Saved {
    this.lastChains = new Map([...saved].map(([table, chains]) => [table, [...chains.keys()]]));
    return saved;
  }

  /** The iptables-restore input that makes `saved` hold `rs`, and the tables it rewrites; null: nothing to do. */
  private editFor(rs: RuleSet, saved: Saved): { input: string; restored: Table[] } | null {
    const blocks: string[] = [];
    const restored: Table[] = [];
    for (const table of TABLES) {
      const tableSaved = saved.get(table) ?? new Map<string, SavedChain>();
      const chainsOk = this.chainsMatch(table, rs, tableSaved);
      const jumpLines = this.jumpLines(table, rs, tableSaved).lines;
      if (chainsOk && jumpLines.length === 0) continue;
      const want = rs[table];
      blocks.push(chainsOk ? tableBlock(table, [], jumpLines) : tableBlock(table, want.chains, [...want.rules, ...jumpLines]));
      if (!chainsOk) restored.push(table);
    }
    return blocks.length === 0 ? null : { input: blocks.join(''), restored };
  }

  /** Insert the jumps that are missing (creating their target chains if absent); returns how many. */
  ensureJumps(rs: RuleSet): number {
    this.checkFamily(rs);
    const saved = this.readSaved();
    const blocks: string[] = [];
    let inserted = 0;
    for (const table of TABLES) {
      const tableSaved = saved.get(table) ?? new Map<string, SavedChain>();
      const { lines, missing } = this.jumpLines(table, rs, tableSaved);
      if (lines.length === 0) continue;
      const absent = [...new Set(rs.jumps.filter((j) => j.table === table && !tableSaved.has(j.target)).map((j) => j.target))];
      blocks.push(tableBlock(table, absent, lines));
      inserted += missing;
    }
    if (blocks.length > 0) this.restore(blocks.join(''));
    return inserted;
  }

  /**
   * Remove every rule in a built-in chain that jumps to a kipvs chain, then flush and delete the kipvs
   * chains, in both tables. Nothing to remove is fine. A kipvs chain that a foreign chain still jumps to
   * is flushed but kept (with a warning): deleting it would mean editing a chain that is not ours.
   */
  cleanup(which: ChainFilter = isOwnedChain): number {
    this.applied.clear();
    const saved = this.readSaved();
    const blocks: string[] = [];
    let removed = 0;
    for (const table of TABLES) {
      const tableSaved = saved.get(table);
      if (!tableSaved) continue;
      const owned = [...tableSaved.keys()].filter((c) => !BUILTIN.has(c) && which(table, c));
      if (owned.length === 0) continue;
      const lines: string[] = [];
      const kept = new Set<string>();
      for (const [name, chain] of tableSaved) {
        if (owned.includes(name)) continue;
        const hits: number[] = [];
        chain.rules.forEach((r, i) => {
          const t = targetOf(r);
          if (t !== null && owned.includes(t)) {
            if (chain.policy !== '-' || BUILTIN.has(name)) hits.push(i + 1);
            else kept.add(t);
          }
        });
        // By number, last first, so earlier numbers stay valid.
        for (const n of hits.reverse()) lines.push(`-D ${name} ${n}`);
      }
      for (const c of owned) lines.push(`-F ${c}`);
      for (const c of owned) if (!kept.has(c)) lines.push(`-X ${c}`);
      if (kept.size > 0) this.log?.warn({ table, chains: [...kept] }, 'iptables: kipvs chains still referenced by other chains; flushed, not deleted');
      blocks.push(tableBlock(table, [], lines));
      removed += owned.length - kept.size;
    }
    if (blocks.length > 0) this.restore(blocks.join(''));
    return removed;
  }

  /** The iptables-save text of the kipvs chains and the jumps into them (nat and filter), for inspection. */
  saved(): string {
    const text = this.save();
    const out: string[] = [];
    let table: Table | null = null;
    let block: string[] = [];
    for (const raw of text.split('\n')) {
      const l = raw.trim();
      if (l.startsWith('*')) {
        const name = l.slice(1);
        table = name === 'nat' || name === 'filter' ? name : null;
        block = [];
      } else if (!table || l === '' || l.startsWith('#')) {
        continue;
      } else if (l === 'COMMIT') {
        if (block.length > 0) out.push(`*${table}`, ...block, 'COMMIT');
        table = null;
      } else if (l.startsWith(':')) {
        if (isOwnedChain(table, l.slice(1).split(/\s/)[0]!)) block.push(l);
      } else if (l.startsWith('-A ')) {
        const { chain, args } = ruleArgsText(l);
        const t = targetOf(args);
        if (isOwnedChain(table, chain) || (t !== null && isOwnedChain(table, t))) block.push(l);
      }
    }
    return out.length ? out.join('\n') + '\n' : '';
  }

  // ---- internals ----

  private checkFamily(rs: RuleSet): void {
    if (rs.family !== this.family) throw new Error(`iptables: a rule set for ${rs.family} given to the ${this.family} applier`);
  }

  private save(): string {
    try {
      return this.run(this.saveCmd, []);
    } catch (err) {
      throw this.saveFailed(err);
    }
  }

  private saveAsync(): Promise<string> {
    return this.runAsync(this.saveCmd, []).catch((err: unknown) => { throw this.saveFailed(err); });
  }

  private saveFailed(err: unknown): IptablesError {
    return new IptablesError(this.saveCmd, 'nat,filter', stderrOf(err));
  }

  private readSaved(): Saved {
    return parseSave(this.save());
  }

  private restore(input: string): void {
    try {
      this.run(this.restoreCmd, ['--noflush', '--wait'], input);
    } catch (err) {
      throw this.restoreFailed(input, err);
    }
  }

  private async restoreAsync(input: string): Promise<void> {
    await this.runAsync(this.restoreCmd, ['--noflush', '--wait'], input).catch((err: unknown) => { throw this.restoreFailed(input, err); });
  }

  /** The table whose line the restore names in its complaint, and the complaint. */
  private restoreFailed(input: string, err: unknown): IptablesError {
    const reason = stderrOf(err);
    return new IptablesError(this.restoreCmd, tableAtLine(input, reason), reason);
  }

  private wantKey(table: Table, rs: RuleSet): string {
    return rs[table].chains.join(' ') + '\n' + rs[table].rules.join('\n');
  }

  private static rawKey(table: Table, tableSaved: Map<string, SavedChain>): string {
    return OWNED_CHAINS[table].map((c) => {
      const ch = tableSaved.get(c);
      return ch ? `${c}\n${ch.rules.join('\n')}` : `${c} absent`;
    }).join('\n\n');
  }

  /**
   * The first difference between the wanted chains and the saved ones, or null. Rules are compared
   * without their comments (they change nothing a packet meets): the chains kube-proxy's IPVS mode
   * wrote, the same rules under its own comments, are taken over as they are, not rewritten.
   */
  private difference(table: Table, rs: RuleSet, tableSaved: Map<string, SavedChain>): string | null {
    const want = new Map<string, string[]>(rs[table].chains.map((c) => [c, []]));
    for (const l of rs[table].rules) {
      const { chain, args } = ruleArgsText(l);
      want.get(chain)?.push(ruleWithoutComment(args, this.family));
    }
    for (const [chain, rules] of want) {
      const have = tableSaved.get(chain);
      if (!have) return `${chain} missing`;
      const got = have.rules.map((r) => ruleWithoutComment(r, this.family));
      for (let i = 0; i < Math.max(rules.length, got.length); i++) {
        if (rules[i] !== got[i]) return `${chain} rule ${i + 1}: want ${rules[i] ?? '(none)'}, have ${got[i] ?? '(none)'}`;
      }
    }
    return null;
  }

  private chainsMatch(table: Table, rs: RuleSet, tableSaved: Map<string, SavedChain>): boolean {
    if (this.difference(table, rs, tableSaved) === null) return true;
    // iptables versions print some rules differently from how they were written; if the chains are
    // byte for byte what we saw right after restoring these same rules, they are still ours.
    const memo = this.applied.get(table);
    return memo !== undefined && memo.want === this.wantKey(table, rs) && memo.saved === Iptables.rawKey(table, tableSaved);
  }

  /** What the tables just restored read back as (`saved`), for chainsMatch's comparison with later reads. */
  private remember(rs: RuleSet, tables: Table[], saved: Saved): void {
    for (const table of tables) {
      const tableSaved = saved.get(table) ?? new Map<string, SavedChain>();
      this.applied.set(table, { want: this.wantKey(table, rs), saved: Iptables.rawKey(table, tableSaved) });
      const diff = this.difference(table, rs, tableSaved);
      if (diff !== null && !this.warnedFormat) {
        this.warnedFormat = true;
        this.log?.warn({ table, diff }, 'iptables: rules read back differ in form from those written; comparing with the text read back after each restore');
      }
    }
  }

  /** Restore lines that make each of the table's jumps present exactly once. */
  private jumpLines(table: Table, rs: RuleSet, tableSaved: Map<string, SavedChain>): { lines: string[]; missing: number } {
    const edits = this.jumpEdits(table, rs, tableSaved);
    const lines = edits.map((e) => (e.action === 'add' ? `-I ${e.chain} 1 ${e.rule}` : `-D ${e.chain} ${e.rule}`));
    return { lines, missing: edits.filter((e) => e.action === 'add').length };
  }

  /** The jumps to insert (missing) and to delete (a second one into the same chain) in one table. */
  private jumpEdits(table: Table, rs: RuleSet, tableSaved: Map<string, SavedChain>): JumpEdit[] {
    const out: JumpEdit[] = [];
    for (const j of rs.jumps) {
      if (j.table !== table) continue;
      const text = j.args.map(quoteArg).join(' ');
      // Any comment will do: kube-proxy's jump is adopted, not doubled (see ruleWithoutComment).
      const want = ruleWithoutComment(text, this.family);
      const same = (tableSaved.get(j.chain)?.rules ?? []).filter((r) => ruleWithoutComment(r, this.family) === want);
      if (same.length === 0) out.push({ table, chain: j.chain, action: 'add', rule: text });
      // One stays: the one with exactly our text if there is one, else the first; the others go,
      // deleted by their own text.
      const exact = normaliseRule(text, this.family);
      const keep = Math.max(0, same.findIndex((r) => normaliseRule(r, this.family) === exact));
      same.forEach((extra, i) => {
        if (i !== keep) out.push({ table, chain: j.chain, action: 'remove', rule: extra });
      });
    }
    return out;
  }

  /**
   * What apply() would change, without changing anything: each kipvs chain whose rules differ from the
   * wanted ones (before: as iptables-save prints them, null when the chain is absent; after: as they
   * would be written), and each jump it would insert or delete.
   */
  preview(rs: RuleSet): { chains: ChainChange[]; jumps: JumpEdit[] } {
    this.checkFamily(rs);
    const saved = this.readSaved();
    const out: { chains: ChainChange[]; jumps: JumpEdit[] } = { chains: [], jumps: [] };
    for (const table of TABLES) {
      const tableSaved = saved.get(table) ?? new Map<string, SavedChain>();
      out.jumps.push(...this.jumpEdits(table, rs, tableSaved));
      if (this.chainsMatch(table, rs, tableSaved)) continue;
      for (const chain of rs[table].chains) {
        const after = rs[table].rules.filter((l) => ruleArgsText(l).chain === chain);
        const have = tableSaved.get(chain);
        const before = have ? have.rules.map((r) => `-A ${chain} ${r}`) : null;
        const key = (l: string) => ruleWithoutComment(ruleArgsText(l).args, this.family);
        if (before && before.length === after.length && before.every((l, i) => key(l) === key(after[i]!))) continue;
        out.chains.push({ table, chain, before, after });
      }
    }
    return out;
  }

  /**
   * The chains a cleanup(`which`) would remove, with their rules, and the jumps into them from built-in
   * chains that would go with them; read-only.
   */
  chainsMatching(which: ChainFilter): { chains: ChainChange[]; jumps: JumpEdit[] } {
    const saved = this.readSaved();
    const out: { chains: ChainChange[]; jumps: JumpEdit[] } = { chains: [], jumps: [] };
    for (const table of TABLES) {
      const tableSaved = saved.get(table);
      if (!tableSaved) continue;
      for (const [name, chain] of tableSaved) {
        if (BUILTIN.has(name)) {
          for (const r of chain.rules) {
            const t = targetOf(r);
            if (t !== null && !BUILTIN.has(t) && which(table, t)) out.jumps.push({ table, chain: name, action: 'remove', rule: r });
          }
        } else if (which(table, name)) {
          out.chains.push({ table, chain: name, before: chain.rules.map((r) => `-A ${name} ${r}`), after: [] });
        }
      }
    }
    return out;
  }
}

/** A kipvs chain whose rules would change (`after` empty and a `before`: it would be removed). */
export interface ChainChange {
  table: Table;
  chain: string;
  before: string[] | null;
  after: string[];
}

/** A jump from a built-in chain, to insert at the top or to delete; `rule` is the text after "-A CHAIN". */
export interface JumpEdit {
  table: Table;
  chain: string;
  action: 'add' | 'remove';
  rule: string;
}

/** The table an iptables-restore error is about: from its "line N" if it has one. */
function tableAtLine(input: string, reason: string): string {
  const m = /line:? (\d+)/.exec(reason);
  const lines = input.split('\n');
  const upto = m ? Math.min(Number(m[1]), lines.length) : lines.length;
  const tables = new Set<string>();
  let last = '';
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.startsWith('*')) {
      tables.add(lines[i]!.slice(1));
      if (i < upto) last = lines[i]!.slice(1);
    }
  }
  return m && last ? last : [...tables].join(',');
}
