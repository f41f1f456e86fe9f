// A command-line tokenizer with the behaviour of libpopt 1.19 as ipvsadm 1.31 uses it: short options
// cluster ("-Ln"), a short option's argument may be attached ("-t1.2.3.4:80", "-t=…") or follow,
// long options take "--name=value" or "--name value", "--" ends options, a lone "-" and every other
// non-option word is kept as a leftover argument (options after it are still parsed, unless
// POSIXLY_CORRECT is set), and a single dash never introduces a long option. Errors carry the argv
// word popt would blame (poptBadOption: the last word consumed).

export type ArgKind = 'none' | 'string' | 'optional';

export interface OptionDef {
  long: string;
  short?: string;
  arg: ArgKind;
  /** What the option returns (ipvsadm's switch tags). */
  val: string;
}

export type PoptErrorCode = 'NOARG' | 'UNWANTEDARG' | 'BADOPT';

export const POPT_MESSAGES: Record<PoptErrorCode, string> = {
  NOARG: 'missing argument',
  UNWANTEDARG: 'option does not take an argument',
  BADOPT: 'unknown option',
};

export type NextResult =
  | { kind: 'option'; val: string; arg: string | null }
  | { kind: 'error'; code: PoptErrorCode }
  | { kind: 'end' };

export class Popt {
  readonly #argv: readonly string[];
  readonly #table: readonly OptionDef[];
  #next = 0;
  #nextChar: string | null = null;
  #restLeftover = false;
  readonly #posix: boolean;
  readonly #leftovers: string[] = [];

  constructor(argv: readonly string[], table: readonly OptionDef[], posixlyCorrect = false) {
    this.#argv = argv;
    this.#table = table;
    this.#posix = posixlyCorrect;
  }

  /** The word popt blames for an error or an unexpected option (poptBadOption). */
  badOption(): string {
    return this.#argv[this.#next - 1] ?? '';
  }

  /** The next leftover (non-option) argument, in order (poptGetArg). */
  getArg(): string | null {
    return this.#leftovers.shift() ?? null;
  }

  getNextOpt(): NextResult {
    for (;;) {
      if (this.#nextChar === null && this.#next === this.#argv.length) return { kind: 'end' };
      let opt: OptionDef | undefined;
      let longArg: string | null = null;
      if (this.#nextChar === null) {
        const orig = this.#argv[this.#next++]!;
        if (this.#restLeftover || orig[0] !== '-' || orig === '-') {
          if (this.#posix) this.#restLeftover = true;
          this.#leftovers.push(orig);
          continue;
        }
        if (orig === '--') {
          this.#restLeftover = true;
          continue;
        }
        let s = orig.slice(1);
        let oneDash = true;
        if (s[0] === '-') {
          s = s.slice(1);
          oneDash = false;
        }
        const eq = s.indexOf('=');
        const name = eq >= 0 ? s.slice(0, eq) : s;
        if (eq >= 0) longArg = s.slice(eq + 1);
        // No option of ipvsadm's is marked "one dash", so a single dash always means short options.
        if (!oneDash) {
          opt = this.#table.find((o) => o.long === name);
          if (!opt) return { kind: 'error', code: 'BADOPT' };
        } else {
          this.#nextChar = orig.slice(1);
          longArg = null;
        }
      }
      if (this.#nextChar !== null) {
        const chars = this.#nextChar;
        this.#nextChar = null;
        opt = this.#table.find((o) => o.short === chars[0]);
        if (!opt) return { kind: 'error', code: 'BADOPT' };
        if (chars.length > 1) this.#nextChar = chars.slice(1);
      }
      if (!opt) return { kind: 'error', code: 'BADOPT' };
      if (opt.arg === 'none') {
        if (longArg !== null || (this.#nextChar !== null && this.#nextChar[0] === '=')) {
          return { kind: 'error', code: 'UNWANTEDARG' };
        }
        return { kind: 'option', val: opt.val, arg: null };
      }
      let arg: string | null;
      if (longArg !== null) {
        arg = longArg;
      } else if (this.#nextChar !== null) {
        arg = this.#nextChar[0] === '=' ? this.#nextChar.slice(1) : this.#nextChar;
        this.#nextChar = null;
      } else if (this.#next === this.#argv.length) {
        if (opt.arg !== 'optional') return { kind: 'error', code: 'NOARG' };
        arg = null;
      } else if (opt.arg === 'optional' && this.#argv[this.#next]![0] === '-') {
        arg = null;
      } else {
        arg = this.#argv[this.#next++]!;
      }
      return { kind: 'option', val: opt.val, arg };
    }
  }
}
