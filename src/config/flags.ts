// kube-proxy's command line (pflag syntax: --name=value, --name value, bare --bool, -v=N, -v N, -vN,
// -h; "_" and "-" are the same in names, as kube-proxy's normaliser makes them), by the settings table.
import { parseGoDurationMs } from './duration.js';
import { BY_FLAG, BY_SHORT, type Setting } from './table.js';
import { ConfigError, type Problems } from './errors.js';

/** Parses argv into flag name → raw text (bools as "true"/"false"); the last one wins. */
export function parseFlags(argv: readonly string[], p: Problems): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let row: Setting | undefined;
    let name: string;
    let value: string | undefined;
    let m: RegExpExecArray | null;
    if ((m = /^--([A-Za-z0-9_-]+)(?:=(.*))?$/s.exec(arg))) {
      name = m[1]!.replace(/_/g, '-');
      value = m[2];
      row = BY_FLAG.get(name);
    } else if ((m = /^-([A-Za-z])(?:=?(.*))?$/s.exec(arg)) && BY_SHORT.has(m[1]!)) {
      row = BY_SHORT.get(m[1]!)!;
      name = row.flag!;
      value = m[2] === '' && !arg.includes('=') ? undefined : m[2];
    } else {
      p.error('command line', '', `unexpected argument "${arg}"`);
      continue;
    }
    if (!row) {
      p.error(`--${name}`, '', 'unknown flag (see --help)');
      continue;
    }
    if (value === undefined) {
      if (row.type === 'bool') value = 'true';
      else if (i + 1 < argv.length) value = argv[++i]!;
      else {
        p.error(`--${name}`, '', `needs a value${row.arg ? ` (${row.arg})` : ''}`);
        continue;
      }
    }
    out.set(name, value);
  }
  return out;
}

export function flagBool(name: string, v: string): boolean {
  if (['true', '1', 't', 'T', 'True', 'TRUE'].includes(v)) return true;
  if (['false', '0', 'f', 'F', 'False', 'FALSE'].includes(v)) return false;
  throw new ConfigError(`--${name}`, '', `"${v}" is not true or false`);
}

/** The value a flag's text stands for, typed as the file's field would be. Throws ConfigError. */
export function flagValue(row: Setting, text: string): unknown {
  const name = row.flag!;
  switch (row.type) {
    case 'string':
    case 'any':
      return text;
    case 'bool':
      return flagBool(name, text);
    case 'int':
      if (!/^[-+]?[0-9]+$/.test(text)) throw new ConfigError(`--${name}`, '', `"${text}" is not an integer`);
      return Number(text);
    case 'float':
      if (text.trim() === '' || !Number.isFinite(Number(text))) throw new ConfigError(`--${name}`, '', `"${text}" is not a number`);
      return Number(text);
    case 'duration':
      if (parseGoDurationMs(text) === null) throw new ConfigError(`--${name}`, '', `"${text}" is not a duration (e.g. "30s", "1m0s", "500ms")`);
      return text;
    case 'strings':
      return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'boolMap': {
      const out: Record<string, boolean> = {};
      for (const pair of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
        const [k, v] = pair.split('=', 2) as [string, string | undefined];
        if (!k || v === undefined) throw new ConfigError(`--${name}`, '', `"${pair}" is not NAME=true or NAME=false`);
        out[k.trim()] = flagBool(name, v.trim());
      }
      return out;
    }
  }
}
