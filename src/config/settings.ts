// One view of the file and the flags: each setting's value comes from its flag if given, else from the
// file, with where it came from (for messages). Then the honesty pass: settings kipvs accepts without
// effect get a warning, settings it cannot honour are errors, unless their value asks for nothing.
import { parseGoDurationMs } from './duration.js';
import { flagValue } from './flags.js';
import type { ParsedFile } from './file.js';
import { describe } from './file.js';
import { BY_FIELD, BY_FLAG, SETTINGS, type Setting } from './table.js';
import type { Problems } from './errors.js';

export interface SettingValue {
  value: unknown;
  /** "--flag" or "file:line:col". */
  source: string;
  /** The field path for a file value; "" for a flag. */
  field: string;
}

export class Settings {
  readonly #file: ParsedFile | undefined;
  readonly #flags: ReadonlyMap<string, string>;
  readonly #p: Problems;
  readonly #flagValues = new Map<string, unknown>();

  constructor(file: ParsedFile | undefined, flags: ReadonlyMap<string, string>, p: Problems) {
    this.#file = file;
    this.#flags = flags;
    this.#p = p;
    for (const [name, text] of flags) {
      const row = BY_FLAG.get(name)!;
      const v = p.check(() => flagValue(row, text), undefined);
      if (v !== undefined) this.#flagValues.set(name, v);
    }
  }

  /** The file's name, or "config" when there is none (for messages about defaults). */
  get fileName(): string {
    return this.#file?.name ?? 'config';
  }

  /** Was the flag given (even with a bad value)? */
  hasFlag(name: string): boolean {
    return this.#flags.has(name);
  }

  /** A setting by field path or flag name: the flag's value if given, else the file's; undefined if neither. */
  get(key: string): SettingValue | undefined {
    const row = BY_FIELD.get(key) ?? BY_FLAG.get(key);
    if (!row) throw new Error(`no setting ${key}`);
    if (row.flag && this.#flagValues.has(row.flag)) return { value: this.#flagValues.get(row.flag), source: `--${row.flag}`, field: '' };
    if (row.flag && this.#flags.has(row.flag)) return undefined; // a bad flag value, already reported
    if (row.field && this.#file?.values.has(row.field)) {
      return { value: this.#file.values.get(row.field), source: this.#file.where(row.field), field: row.field };
    }
    return undefined;
  }

  /** The value alone, typed by the caller (the table's type was checked when it was read). */
  value<T>(key: string): T | undefined {
    return this.get(key)?.value as T | undefined;
  }

  /** Warnings for settings without effect, errors for refused ones (unless neutral). */
  checkHonesty(): void {
    for (const row of SETTINGS) {
      if (row.status !== 'warn' && row.status !== 'refused') continue;
      const sv = this.get(row.field ?? row.flag!);
      if (!sv || isNeutral(row, sv.value)) continue;
      const what = `${describe(sv.value)}`;
      if (row.status === 'warn') this.#p.warn(sv.source, sv.field, `${what} has no effect in kipvs: ${row.note}`);
      else this.#p.error(sv.source, sv.field, `${what} is not supported by kipvs: ${row.note}`);
    }
  }
}

/** Does `v` ask for nothing (null, or one of the row's neutral values; durations compared by length)? */
export function isNeutral(row: Setting, v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (!row.neutral) return false;
  return row.neutral.some((n) => {
    if (row.type === 'duration' && typeof n === 'string' && typeof v === 'string') return parseGoDurationMs(n) === parseGoDurationMs(v);
    return JSON.stringify(n) === JSON.stringify(v);
  });
}
