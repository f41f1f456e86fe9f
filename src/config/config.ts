// The agent's configuration: a KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1, YAML or
// JSON, as in kube-proxy's ConfigMap) named by --config, then kube-proxy's flags over it, then kipvs'
// own flags. What each setting does in kipvs is in the table (table.ts, docs/configuration.md). Every
// bad value is a ConfigError naming the file (with line and column) or flag and the field; all of them
// are reported together. Settings accepted without effect come back as warnings.
import { readFile as fsReadFile, stat } from 'node:fs/promises';
import { Problems } from './errors.js';
import { parseConfigText, API_VERSION, type ParsedFile } from './file.js';
import { parseFlags } from './flags.js';
import { resolveConfig } from './resolve.js';
import { Settings } from './settings.js';
import { SETTINGS, type Setting } from './table.js';
import type { AgentConfig } from './types.js';

/** A KubeProxyConfiguration is a few KiB; a larger file is refused before it is read. */
export const MAX_CONFIG_FILE_BYTES = 1 << 20;

async function readConfigFile(path: string): Promise<string> {
  const { size } = await stat(path);
  if (size > MAX_CONFIG_FILE_BYTES) throw new Error(`${size} bytes, more than the limit of ${MAX_CONFIG_FILE_BYTES}`);
  return fsReadFile(path, 'utf8');
}

export interface LoadDeps {
  readFile?: (path: string) => Promise<string>;
  hostname?: () => string;
}

/** Parses and checks a KubeProxyConfiguration document; throws ConfigError(s). `name` is used in errors. */
export function parseConfigFile(text: string, name: string): ParsedFile {
  const p = new Problems();
  const file = parseConfigText(text, name, p);
  p.throwIfAny();
  return file;
}

/**
 * Reads --config (if any), applies flags over it, fills in kube-proxy's v1alpha1 defaults, validates.
 * Throws ConfigError (ConfigErrors when there are several).
 */
export async function loadConfig(argv: string[], deps: LoadDeps = {}): Promise<AgentConfig> {
  const p = new Problems();
  const flags = parseFlags(argv, p);
  const configFile = flags.get('config') || undefined;
  let file: ParsedFile | undefined;
  if (configFile) {
    try {
      const text = await (deps.readFile ?? readConfigFile)(configFile);
      file = parseConfigText(text, configFile, p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      p.error(configFile, '', `cannot read: ${code ?? (err instanceof Error ? err.message : String(err))}`);
    }
  }
  const settings = new Settings(file, flags, p);
  settings.checkHonesty();
  const config = resolveConfig(settings, p, deps.hostname ? { hostname: deps.hostname } : {});
  p.throwIfAny();
  config.warnings = p.warnings;
  return config;
}

/** Help text for `kipvs agent --help`. */
export function usage(): string {
  const line = (s: Setting) => {
    const left = `  ${s.short ? `-${s.short}, ` : ''}--${s.flag}${s.arg ? ` ${s.arg}` : ''}`;
    return `${left.padEnd(44)} ${s.note}`;
  };
  const flags = SETTINGS.filter((s) => s.flag);
  const names = (status: Setting['status']) => flags.filter((s) => s.status === status).map((s) => `--${s.flag}`).join(' ');
  return [
    'Usage: kipvs agent [options]',
    '',
    'Programs IPVS as kube-proxy --proxy-mode=ipvs does (or, with --proxy-mode iptables, the rules of',
    "kube-proxy's iptables mode). Settings come from a KubeProxyConfiguration",
    `file (${API_VERSION}) named by --config; the flags below override it.`,
    'Durations are Go durations: 30s, 1m0s, 1h2m3.5s, 500ms. docs/configuration.md lists every field.',
    '',
    'kube-proxy flags:',
    ...flags.filter((s) => s.status === 'honoured').map(line),
    '',
    'kipvs flags:',
    ...flags.filter((s) => s.status === 'kipvs').map(line),
    '',
    `Accepted with a warning, without effect: ${names('warn')}`,
    `Refused: ${names('refused')}`,
    '',
  ].join('\n');
}
