// The agent's configuration: a KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1, YAML or
// JSON, as in kube-proxy's ConfigMap) named by --config, then kube-proxy's flags over it, then kipvs'
// own flags. Every bad value is a ConfigError naming the file (or flag) and the field path.
import { readFile as fsReadFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { SCHEDULERS } from '../ipvs/types.js';
import { badInterfaceName } from '../iptables/local-detector.js';
import { parseCidr } from '../netlink/cidr.js';
import { familyOf, canonicalAddress } from '../netlink/address.js';
import { parseGoDurationMs } from './duration.js';

export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

export interface AgentConfig {
  mode: 'ipvs' | 'iptables';
  configFile?: string;
  kubeconfig?: string;
  manifests?: string;
  /** hostnameOverride, else os.hostname(); lower-cased and trimmed as kube-proxy does. */
  nodeName: string;
  /** Pod CIDRs (at most one per family), canonical. */
  clusterCIDR: string[];
  masqueradeAll: boolean;
  masqueradeBit: number;
  /** CIDRs (canonical) and/or the keyword "primary"; empty means every node address. */
  nodePortAddresses: string[];
  /** "host:port"; "" disables the server. */
  healthzBindAddress: string;
  metricsBindAddress: string;
  ipvs: {
    scheduler: string;
    strictARP: boolean;
    syncPeriodMs: number;
    minSyncPeriodMs: number;
    excludeCIDRs: string[];
    tcpTimeoutS: number;
    tcpFinTimeoutS: number;
    udpTimeoutS: number;
  };
  /** iptables mode: its sync periods, how each sync restores, and which iptables backend writes. */
  iptables: {
    syncPeriodMs: number;
    minSyncPeriodMs: number;
    /** 'partial': only changed Services' chains (kube-proxy today); 'full': everything every sync. */
    sync: 'partial' | 'full';
    /** undefined: the backend the node already uses (as kube-proxy's image chooses). */
    backend?: 'legacy' | 'nft';
  };
  cleanup: boolean;
  stateSocket: string;
  gracefulTerminationTimeoutMs: number;
  logLevel: string;
  /** kube-proxy's --v (klog verbosity). */
  verbosity: number;
  /** bindAddress (kube-proxy's historical name for the node's primary IP override); "" when unset. */
  bindAddress: string;
  detectLocalMode: DetectLocalMode;
  detectLocal: { bridgeInterface: string; interfaceNamePrefix: string };
  /** --help / -h was given: print usage() and exit. */
  help: boolean;
}

/** Bad configuration: the message names the file or flag and the field. */
export class ConfigError extends Error {
  readonly source: string;
  readonly field: string;
  constructor(source: string, field: string, reason: string) {
    super(field ? `${source}: ${field}: ${reason}` : `${source}: ${reason}`);
    this.name = 'ConfigError';
    this.source = source;
    this.field = field;
  }
}

export interface LoadDeps {
  readFile?: (path: string) => Promise<string>;
  hostname?: () => string;
}

const API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
const KIND = 'KubeProxyConfiguration';
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const DETECT_LOCAL_MODES: DetectLocalMode[] = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];

// ---- the file's schema: every field of the real v1alpha1 type (and a few legacy ones), so an
// unknown field is an error while a real one kipvs does not use is accepted and ignored.
type Leaf = 'string' | 'bool' | 'int' | 'number' | 'duration' | 'strings' | 'boolMap' | 'any';
type Schema = { [field: string]: Leaf | Schema };

const SCHEMA: Schema = {
  apiVersion: 'string',
  kind: 'string',
  featureGates: 'boolMap',
  clientConnection: { kubeconfig: 'string', acceptContentTypes: 'string', contentType: 'string', qps: 'number', burst: 'int' },
  logging: { format: 'string', flushFrequency: 'any', verbosity: 'int', vmodule: 'any', options: 'any' },
  hostnameOverride: 'string',
  bindAddress: 'string',
  healthzBindAddress: 'string',
  metricsBindAddress: 'string',
  bindAddressHardFail: 'bool',
  enableProfiling: 'bool',
  showHiddenMetricsForVersion: 'string',
  mode: 'string',
  iptables: { masqueradeBit: 'int', masqueradeAll: 'bool', localhostNodePorts: 'bool', syncPeriod: 'duration', minSyncPeriod: 'duration' },
  ipvs: {
    syncPeriod: 'duration', minSyncPeriod: 'duration', scheduler: 'string', excludeCIDRs: 'strings', strictARP: 'bool',
    tcpTimeout: 'duration', tcpFinTimeout: 'duration', udpTimeout: 'duration',
  },
  nftables: { masqueradeBit: 'int', masqueradeAll: 'bool', syncPeriod: 'duration', minSyncPeriod: 'duration' },
  winkernel: { networkName: 'string', sourceVip: 'string', enableDSR: 'bool', rootHnsEndpointName: 'string', forwardHealthCheckVip: 'bool' },
  detectLocalMode: 'string',
  detectLocal: { bridgeInterface: 'string', interfaceNamePrefix: 'string' },
  clusterCIDR: 'string',
  nodePortAddresses: 'strings',
  oomScoreAdj: 'int',
  conntrack: {
    maxPerCore: 'int', min: 'int', max: 'int', tcpEstablishedTimeout: 'duration', tcpCloseWaitTimeout: 'duration',
    tcpBeLiberal: 'bool', udpTimeout: 'duration', udpStreamTimeout: 'duration',
  },
  configSyncPeriod: 'duration',
  portRange: 'string',
  udpIdleTimeout: 'duration',
  windowsRunAsService: 'bool',
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** Checks types and unknown fields against SCHEMA; throws ConfigError. */
function checkSchema(src: string, obj: Record<string, Json>, schema: Schema, prefix: string): void {
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    const want = schema[k];
    if (want === undefined) throw new ConfigError(src, path, 'unknown field');
    if (v === null) continue; // unset, as Go's decoder treats null
    if (typeof want === 'object') {
      if (!isObject(v)) throw new ConfigError(src, path, `must be an object, not ${describe(v)}`);
      checkSchema(src, v, want, path);
      continue;
    }
    switch (want) {
      case 'string':
        if (typeof v !== 'string') throw new ConfigError(src, path, `must be a string, not ${describe(v)}`);
        break;
      case 'bool':
        if (typeof v !== 'boolean') throw new ConfigError(src, path, `must be true or false, not ${describe(v)}`);
        break;
      case 'int':
        if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(src, path, `must be an integer, not ${describe(v)}`);
        break;
      case 'number':
        if (typeof v !== 'number') throw new ConfigError(src, path, `must be a number, not ${describe(v)}`);
        break;
      case 'duration':
        if (typeof v !== 'string' || parseGoDurationMs(v) === null) {
          throw new ConfigError(src, path, `${describe(v)} is not a duration (e.g. "30s", "1m0s", "500ms")`);
        }
        break;
      case 'strings':
        if (!Array.isArray(v)) throw new ConfigError(src, path, `must be a list of strings, not ${describe(v)}`);
        v.forEach((item, i) => {
          if (typeof item !== 'string') throw new ConfigError(src, `${path}[${i}]`, `must be a string, not ${describe(item)}`);
        });
        break;
      case 'boolMap':
        if (!isObject(v)) throw new ConfigError(src, path, `must be a map of names to true/false, not ${describe(v)}`);
        for (const [g, b] of Object.entries(v)) {
          if (typeof b !== 'boolean') throw new ConfigError(src, `${path}.${g}`, `must be true or false, not ${describe(b)}`);
        }
        break;
      case 'any':
        break;
    }
  }
}

// ---- value checks shared by the file and the flags

function checkScheduler(src: string, field: string, v: string): string {
  if (v === '') return 'rr';
  if (!(SCHEDULERS as readonly string[]).includes(v)) {
    throw new ConfigError(src, field, `unknown scheduler "${v}" (one of ${SCHEDULERS.join(' ')})`);
  }
  return v;
}

function checkMode(src: string, field: string, v: string): 'ipvs' | 'iptables' {
  if (v === '' || v === 'ipvs') return 'ipvs';
  if (v === 'iptables') return 'iptables';
  throw new ConfigError(src, field, `unsupported proxy mode "${v}" (kipvs implements "ipvs" and "iptables")`);
}

function checkCidrs(src: string, field: string, list: string[], indexed: boolean): string[] {
  return list.map((c, i) => {
    const p = parseCidr(c.trim());
    if (!p) throw new ConfigError(src, indexed ? `${field}[${i}]` : field, `"${c}" is not a CIDR`);
    return p.text;
  });
}

function checkClusterCidr(src: string, field: string, text: string): string[] {
  if (text.trim() === '') return [];
  const out = checkCidrs(src, field, text.split(','), false);
  if (out.length > 2 || (out.length === 2 && parseCidr(out[0]!)!.family === parseCidr(out[1]!)!.family)) {
    throw new ConfigError(src, field, `"${text}" must be one CIDR, or two of different IP families (dual-stack)`);
  }
  return out;
}

function checkNodePortAddresses(src: string, field: string, list: string[], indexed: boolean): string[] {
  return list.map((c, i) => {
    const t = c.trim();
    if (t === 'primary') return t;
    const p = parseCidr(t);
    if (!p) throw new ConfigError(src, indexed ? `${field}[${i}]` : field, `"${c}" is not a CIDR or "primary"`);
    return p.text;
  });
}

function durationMs(src: string, field: string, v: string): number {
  const ms = parseGoDurationMs(v);
  if (ms === null) throw new ConfigError(src, field, `"${v}" is not a duration (e.g. "30s", "1m0s", "500ms")`);
  return ms;
}

function nonNegative(src: string, field: string, ms: number): number {
  if (ms < 0) throw new ConfigError(src, field, 'must not be negative');
  return ms;
}

/** "ip:port" or "[v6]:port", or a bare IP that gets `defaultPort` (kube-proxy's AppendPortIfNeeded). */
function checkBindAddress(src: string, field: string, v: string, defaultPort: number): string {
  if (familyOf(v) === 'inet') return `${v}:${defaultPort}`;
  if (familyOf(v) === 'inet6') return `[${canonicalAddress(v)}]:${defaultPort}`;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(v);
  const host = m ? (m[1] ?? m[2])! : '';
  const port = m ? Number(m[3]) : NaN;
  const fam = familyOf(host);
  if (!m || !fam || (m[1] !== undefined) !== (fam === 'inet6') || !(port >= 1 && port <= 65535)) {
    throw new ConfigError(src, field, `"${v}" is not an IP address with a port (e.g. "0.0.0.0:10256", "[::]:10256")`);
  }
  return fam === 'inet6' ? `[${canonicalAddress(host)}]:${port}` : `${host}:${port}`;
}

// ---- flags

type FlagKind = 'string' | 'bool' | 'int';
interface FlagSpec { kind: FlagKind; arg?: string; help: string; kipvs?: boolean }

const FLAGS: Record<string, FlagSpec> = {
  config: { kind: 'string', arg: 'PATH', help: 'KubeProxyConfiguration file (YAML or JSON); flags override it' },
  kubeconfig: { kind: 'string', arg: 'PATH', help: 'kubeconfig file (default: in-cluster configuration)' },
  'hostname-override': { kind: 'string', arg: 'NAME', help: "this node's name, if not the host name" },
  'proxy-mode': { kind: 'string', arg: 'MODE', help: 'ipvs (default) or iptables' },
  'iptables-sync-period': { kind: 'string', arg: 'DURATION', help: 'iptables mode: full resync period (default 30s)' },
  'iptables-min-sync-period': { kind: 'string', arg: 'DURATION', help: 'iptables mode: minimum time between syncs (default 1s)' },
  'ipvs-scheduler': { kind: 'string', arg: 'NAME', help: `IPVS scheduler: ${SCHEDULERS.join(' ')} (default rr)` },
  'ipvs-strict-arp': { kind: 'bool', help: 'set arp_ignore=1 and arp_announce=2 (needed for MetalLB L2)' },
  'ipvs-sync-period': { kind: 'string', arg: 'DURATION', help: 'full resync period (default 30s)' },
  'ipvs-min-sync-period': { kind: 'string', arg: 'DURATION', help: 'minimum time between syncs (default 0s: sync on every change)' },
  'ipvs-exclude-cidrs': { kind: 'string', arg: 'CIDRS', help: 'comma-separated CIDRs whose virtual services are never touched' },
  'ipvs-tcp-timeout': { kind: 'string', arg: 'DURATION', help: 'IPVS idle TCP timeout (0: keep the kernel value)' },
  'ipvs-tcpfin-timeout': { kind: 'string', arg: 'DURATION', help: 'IPVS TCP timeout after FIN (0: keep)' },
  'ipvs-udp-timeout': { kind: 'string', arg: 'DURATION', help: 'IPVS UDP timeout (0: keep)' },
  'nodeport-addresses': { kind: 'string', arg: 'CIDRS', help: 'comma-separated CIDRs (or "primary") of the node addresses that serve NodePorts (default: all)' },
  'cluster-cidr': { kind: 'string', arg: 'CIDRS', help: 'pod CIDR(s), comma-separated for dual-stack' },
  'detect-local-mode': { kind: 'string', arg: 'MODE', help: `how pod traffic is told from the rest: ${DETECT_LOCAL_MODES.join(' ')} (default ClusterCIDR)` },
  'pod-bridge-interface': { kind: 'string', arg: 'NAME', help: 'the bridge the pods are on (detect-local-mode BridgeInterface)' },
  'pod-interface-name-prefix': { kind: 'string', arg: 'PREFIX', help: "the name prefix of the pods' host-side interfaces (detect-local-mode InterfaceNamePrefix)" },
  'masquerade-all': { kind: 'bool', help: 'SNAT all traffic to Service cluster IPs' },
  'iptables-masquerade-bit': { kind: 'int', arg: 'BIT', help: 'fwmark bit used to mark packets for SNAT, 0-31 (default 14)' },
  'bind-address': { kind: 'string', arg: 'IP', help: "override of the node's primary IP; an IPv6 one makes the default server addresses IPv6" },
  'healthz-bind-address': { kind: 'string', arg: 'HOST:PORT', help: 'health server address (default 0.0.0.0:10256; empty disables)' },
  'metrics-bind-address': { kind: 'string', arg: 'HOST:PORT', help: 'metrics server address (default 127.0.0.1:10249; empty disables)' },
  cleanup: { kind: 'bool', help: 'remove what kipvs/kube-proxy programmed, then exit' },
  v: { kind: 'int', arg: 'N', help: 'log verbosity, as klog\'s (4 and above: debug, 6 and above: trace)' },
  manifests: { kind: 'string', arg: 'DIR', help: 'read Services and EndpointSlices from YAML/JSON files in DIR instead of the API server', kipvs: true },
  'state-socket': { kind: 'string', arg: 'PATH', help: 'read-only state socket for "kipvs list"/"explain" (default /run/kipvs/state.sock; empty disables)', kipvs: true },
  'graceful-termination-timeout': { kind: 'string', arg: 'DURATION', help: 'longest a removed TCP real server drains at weight 0 (default 15m; 0: no limit)', kipvs: true },
  'log-level': { kind: 'string', arg: 'LEVEL', help: `${LOG_LEVELS.join(' ')} (default info)`, kipvs: true },
  'iptables-sync': { kind: 'string', arg: 'partial|full', help: 'iptables mode: restore only changed Services\' chains (partial, default) or every chain on every sync (full)', kipvs: true },
  'iptables-backend': { kind: 'string', arg: 'legacy|nft', help: 'iptables mode: the iptables backend to write with (default: the one the node already uses)', kipvs: true },
  help: { kind: 'bool', help: 'print this help' },
};

const SHORT: Record<string, string> = { v: 'v', h: 'help' };

/** Parses argv into flag name → raw value (strings; bools as "true"/"false"). Last one wins. */
function parseFlags(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    let name: string | undefined;
    let value: string | undefined;
    if (m) {
      name = m[1]!;
      value = m[2];
    } else if ((m = /^-([a-z])(?:=(.*))?$/s.exec(arg)) && SHORT[m[1]!]) {
      name = SHORT[m[1]!]!;
      value = m[2];
    } else {
      throw new ConfigError('command line', '', `unexpected argument "${arg}"`);
    }
    const spec = FLAGS[name];
    if (!spec) throw new ConfigError(`--${name}`, '', 'unknown flag (see --help)');
    if (value === undefined) {
      if (spec.kind === 'bool') value = 'true';
      else {
        if (i + 1 >= argv.length) throw new ConfigError(`--${name}`, '', `needs a value${spec.arg ? ` (${spec.arg})` : ''}`);
        value = argv[++i]!;
      }
    }
    out.set(name, value);
  }
  return out;
}

function flagBool(name: string, v: string): boolean {
  if (v === 'true' || v === '1' || v === 't' || v === 'True' || v === 'TRUE') return true;
  if (v === 'false' || v === '0' || v === 'f' || v === 'False' || v === 'FALSE') return false;
  throw new ConfigError(`--${name}`, '', `"${v}" is not true or false`);
}

function flagInt(name: string, v: string): number {
  if (!/^-?[0-9]+$/.test(v)) throw new ConfigError(`--${name}`, '', `"${v}" is not an integer`);
  return Number(v);
}

function splitList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

// ---- putting it together

/** Parses a KubeProxyConfiguration document (YAML is a superset of JSON). `name` is used in errors. */
export function parseConfigFile(text: string, name: string): Record<string, Json> {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: false });
  } catch (err) {
    throw new ConfigError(name, '', `not valid YAML or JSON: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (!isObject(doc)) throw new ConfigError(name, '', 'must hold a KubeProxyConfiguration object');
  checkSchema(name, doc, SCHEMA, '');
  if (doc.apiVersion !== API_VERSION) {
    throw new ConfigError(name, 'apiVersion', `must be "${API_VERSION}", not ${describe(doc.apiVersion ?? '')}`);
  }
  if (doc.kind !== KIND) throw new ConfigError(name, 'kind', `must be "${KIND}", not ${describe(doc.kind ?? '')}`);
  return doc;
}

function get(obj: Record<string, Json>, path: string): Json | undefined {
  let cur: Json | undefined = obj;
  for (const part of path.split('.')) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur === null ? undefined : cur;
}

/**
 * Reads --config (if any), applies flags over it, fills in kube-proxy's v1alpha1 defaults, validates.
 * Throws ConfigError.
 */
export async function loadConfig(argv: string[], deps: LoadDeps = {}): Promise<AgentConfig> {
  const flags = parseFlags(argv);
  const configFile = flags.get('config') || undefined;
  let file: Record<string, Json> = {};
  if (configFile) {
    let text: string;
    try {
      text = await (deps.readFile ?? ((p: string) => fsReadFile(p, 'utf8')))(configFile);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      throw new ConfigError(configFile, '', `cannot read: ${code ?? (err instanceof Error ? err.message : String(err))}`);
    }
    file = parseConfigFile(text, configFile);
  }
  return resolveConfig(file, configFile, flags, deps);
}

function resolveConfig(file: Record<string, Json>, configFile: string | undefined, flags: Map<string, string>, deps: LoadDeps): AgentConfig {
  const src = configFile ?? 'config';
  const str = (p: string): string | undefined => get(file, p) as string | undefined;
  const bool = (p: string): boolean | undefined => get(file, p) as boolean | undefined;
  const int = (p: string): number | undefined => get(file, p) as number | undefined;
  const list = (p: string): string[] | undefined => get(file, p) as string[] | undefined;

  // Each setting: the flag if given, else the file, else the default.
  const fl = (name: string) => flags.get(name);

  let mode: 'ipvs' | 'iptables';
  if (fl('proxy-mode') !== undefined) mode = checkMode('--proxy-mode', '', fl('proxy-mode')!);
  else mode = checkMode(src, 'mode', str('mode') ?? '');

  let scheduler: string;
  if (fl('ipvs-scheduler') !== undefined) scheduler = checkScheduler('--ipvs-scheduler', '', fl('ipvs-scheduler')!);
  else scheduler = checkScheduler(src, 'ipvs.scheduler', str('ipvs.scheduler') ?? '');

  const strictARP = fl('ipvs-strict-arp') !== undefined ? flagBool('ipvs-strict-arp', fl('ipvs-strict-arp')!) : bool('ipvs.strictARP') ?? false;

  const dur = (flag: string, path: string, dflt: number): [number, string, string] => {
    const f = fl(flag);
    if (f !== undefined) return [durationMs(`--${flag}`, '', f), `--${flag}`, ''];
    const v = str(path);
    return [v === undefined ? dflt : durationMs(src, path, v), src, path];
  };
  let [syncPeriodMs, spSrc, spField] = dur('ipvs-sync-period', 'ipvs.syncPeriod', 30_000);
  if (syncPeriodMs === 0 && spField !== '') syncPeriodMs = 30_000; // v1alpha1 defaulting: 0 means unset
  if (syncPeriodMs <= 0) throw new ConfigError(spSrc, spField, 'must be greater than 0');
  const [minSyncPeriodMs, mspSrc, mspField] = dur('ipvs-min-sync-period', 'ipvs.minSyncPeriod', 0);
  nonNegative(mspSrc, mspField, minSyncPeriodMs);
  if (minSyncPeriodMs > syncPeriodMs) {
    throw new ConfigError(mspSrc, mspField, `must not be greater than the sync period (${syncPeriodMs} ms)`);
  }
  const timeoutS = (flag: string, path: string): number => {
    const [ms, s, f] = dur(flag, path, 0);
    return Math.trunc(nonNegative(s, f, ms) / 1000);
  };
  const tcpTimeoutS = timeoutS('ipvs-tcp-timeout', 'ipvs.tcpTimeout');
  const tcpFinTimeoutS = timeoutS('ipvs-tcpfin-timeout', 'ipvs.tcpFinTimeout');
  const udpTimeoutS = timeoutS('ipvs-udp-timeout', 'ipvs.udpTimeout');

  let [iptSyncMs, iptSrc, iptField] = dur('iptables-sync-period', 'iptables.syncPeriod', 30_000);
  if (iptSyncMs === 0 && iptField !== '') iptSyncMs = 30_000;
  if (iptSyncMs <= 0) throw new ConfigError(iptSrc, iptField, 'must be greater than 0');
  const [iptMinMs, iptMinSrc, iptMinField] = dur('iptables-min-sync-period', 'iptables.minSyncPeriod', 1_000);
  nonNegative(iptMinSrc, iptMinField, iptMinMs);
  if (iptMinMs > iptSyncMs) throw new ConfigError(iptMinSrc, iptMinField, `must not be greater than the sync period (${iptSyncMs} ms)`);
  const iptSync = fl('iptables-sync') ?? 'partial';
  if (iptSync !== 'partial' && iptSync !== 'full') throw new ConfigError('--iptables-sync', '', `"${iptSync}" is not partial or full`);
  const iptBackend = fl('iptables-backend');
  if (iptBackend !== undefined && iptBackend !== 'legacy' && iptBackend !== 'nft') throw new ConfigError('--iptables-backend', '', `"${iptBackend}" is not legacy or nft`);
  const iptables: AgentConfig['iptables'] = { syncPeriodMs: iptSyncMs, minSyncPeriodMs: iptMinMs, sync: iptSync };
  if (iptBackend !== undefined) iptables.backend = iptBackend;

  const excludeCIDRs = fl('ipvs-exclude-cidrs') !== undefined
    ? checkCidrs('--ipvs-exclude-cidrs', '', splitList(fl('ipvs-exclude-cidrs')!), false)
    : checkCidrs(src, 'ipvs.excludeCIDRs', list('ipvs.excludeCIDRs') ?? [], true);

  const nodePortAddresses = fl('nodeport-addresses') !== undefined
    ? checkNodePortAddresses('--nodeport-addresses', '', splitList(fl('nodeport-addresses')!), false)
    : checkNodePortAddresses(src, 'nodePortAddresses', list('nodePortAddresses') ?? [], true);

  const clusterCIDR = fl('cluster-cidr') !== undefined
    ? checkClusterCidr('--cluster-cidr', '', fl('cluster-cidr')!)
    : checkClusterCidr(src, 'clusterCIDR', str('clusterCIDR') ?? '');

  const masqueradeAll = fl('masquerade-all') !== undefined ? flagBool('masquerade-all', fl('masquerade-all')!) : bool('iptables.masqueradeAll') ?? false;
  let masqueradeBit: number;
  if (fl('iptables-masquerade-bit') !== undefined) {
    masqueradeBit = flagInt('iptables-masquerade-bit', fl('iptables-masquerade-bit')!);
    if (masqueradeBit < 0 || masqueradeBit > 31) throw new ConfigError('--iptables-masquerade-bit', '', `${masqueradeBit} is not from 0 to 31`);
  } else {
    masqueradeBit = int('iptables.masqueradeBit') ?? 14;
    if (masqueradeBit < 0 || masqueradeBit > 31) throw new ConfigError(src, 'iptables.masqueradeBit', `${masqueradeBit} is not from 0 to 31`);
  }

  let bindAddress = fl('bind-address') ?? str('bindAddress') ?? '';
  if (bindAddress !== '') {
    if (!familyOf(bindAddress)) {
      throw new ConfigError(fl('bind-address') !== undefined ? '--bind-address' : src, fl('bind-address') !== undefined ? '' : 'bindAddress', `"${bindAddress}" is not an IP address`);
    }
    bindAddress = canonicalAddress(bindAddress);
  }
  const v6 = familyOf(bindAddress) === 'inet6';
  const server = (flag: string, path: string, dfltHost: string, port: number): string => {
    const f = fl(flag);
    if (f !== undefined) return f === '' ? '' : checkBindAddress(`--${flag}`, '', f, port);
    const v = str(path);
    if (v === undefined || v === '') return `${dfltHost}:${port}`;
    return checkBindAddress(src, path, v, port);
  };
  const healthzBindAddress = server('healthz-bind-address', 'healthzBindAddress', v6 ? '[::]' : '0.0.0.0', 10256);
  const metricsBindAddress = server('metrics-bind-address', 'metricsBindAddress', v6 ? '[::1]' : '127.0.0.1', 10249);

  const override = (fl('hostname-override') ?? str('hostnameOverride') ?? '').trim();
  const nodeName = (override || (deps.hostname ?? osHostname)()).trim().toLowerCase();
  if (nodeName === '') {
    throw new ConfigError(fl('hostname-override') !== undefined ? '--hostname-override' : src, fl('hostname-override') !== undefined ? '' : 'hostnameOverride', 'empty node name');
  }

  const kubeconfig = fl('kubeconfig') || str('clientConnection.kubeconfig') || undefined;

  // Each setting from its flag when given, else from the file; an error names the one that was used (a
  // missing interface setting: its flag when the mode came from a flag, else its field).
  const from = (flag: string, field: string): [string, string, string | undefined] =>
    fl(flag) !== undefined || (str(field) === undefined && fl('detect-local-mode') !== undefined) ? [`--${flag}`, '', fl(flag)] : [src, field, str(field)];
  const [dlmSrc, dlmField, dlm = ''] = from('detect-local-mode', 'detectLocalMode');
  const detectLocalMode = (dlm === '' ? 'ClusterCIDR' : dlm) as DetectLocalMode;
  if (!DETECT_LOCAL_MODES.includes(detectLocalMode)) {
    throw new ConfigError(dlmSrc, dlmField, `unknown mode "${dlm}" (one of ${DETECT_LOCAL_MODES.join(' ')})`);
  }
  const [brSrc, brField, bridgeInterface = ''] = from('pod-bridge-interface', 'detectLocal.bridgeInterface');
  const [pfSrc, pfField, interfaceNamePrefix = ''] = from('pod-interface-name-prefix', 'detectLocal.interfaceNamePrefix');
  const detectLocal = { bridgeInterface, interfaceNamePrefix };
  if (detectLocalMode === 'BridgeInterface') {
    const bad = badInterfaceName(bridgeInterface);
    if (bad) throw new ConfigError(brSrc, brField, bridgeInterface === '' ? 'must be set when detectLocalMode is BridgeInterface' : `${bad}: "${bridgeInterface}"`);
  }
  if (detectLocalMode === 'InterfaceNamePrefix') {
    const bad = badInterfaceName(interfaceNamePrefix, true);
    if (bad) throw new ConfigError(pfSrc, pfField, interfaceNamePrefix === '' ? 'must be set when detectLocalMode is InterfaceNamePrefix' : `${bad}: "${interfaceNamePrefix}"`);
  }

  const cleanup = fl('cleanup') !== undefined ? flagBool('cleanup', fl('cleanup')!) : false;
  const help = fl('help') !== undefined ? flagBool('help', fl('help')!) : false;

  let verbosity = int('logging.verbosity') ?? 0;
  if (fl('v') !== undefined) verbosity = flagInt('v', fl('v')!);
  if (verbosity < 0) throw new ConfigError('--v', '', 'must not be negative');
  let logLevel = verbosity >= 6 ? 'trace' : verbosity >= 4 ? 'debug' : 'info';
  if (fl('log-level') !== undefined) {
    logLevel = fl('log-level')!;
    if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('--log-level', '', `unknown level "${logLevel}" (one of ${LOG_LEVELS.join(' ')})`);
  }

  let gracefulTerminationTimeoutMs = 15 * 60_000;
  if (fl('graceful-termination-timeout') !== undefined) {
    gracefulTerminationTimeoutMs = nonNegative('--graceful-termination-timeout', '', durationMs('--graceful-termination-timeout', '', fl('graceful-termination-timeout')!));
  }

  const out: AgentConfig = {
    mode,
    nodeName,
    clusterCIDR,
    masqueradeAll,
    masqueradeBit,
    nodePortAddresses,
    healthzBindAddress,
    metricsBindAddress,
    ipvs: { scheduler, strictARP, syncPeriodMs, minSyncPeriodMs, excludeCIDRs, tcpTimeoutS, tcpFinTimeoutS, udpTimeoutS },
    iptables,
    cleanup,
    stateSocket: fl('state-socket') ?? '/run/kipvs/state.sock',
    gracefulTerminationTimeoutMs,
    logLevel,
    verbosity,
    bindAddress,
    detectLocalMode,
    detectLocal,
    help,
  };
  if (configFile) out.configFile = configFile;
  if (kubeconfig) out.kubeconfig = kubeconfig;
  if (fl('manifests')) out.manifests = fl('manifests')!;
  return out;
}

/** Help text for `kipvs agent --help`. */
export function usage(): string {
  const line = (name: string, spec: FlagSpec) => {
    const left = `  --${name}${spec.arg ? ` ${spec.arg}` : ''}`;
    return `${left.padEnd(44)} ${spec.help}`;
  };
  const kube = Object.entries(FLAGS).filter(([, s]) => !s.kipvs).map(([n, s]) => line(n, s));
  const own = Object.entries(FLAGS).filter(([, s]) => s.kipvs).map(([n, s]) => line(n, s));
  return [
    'Usage: kipvs agent [options]',
    '',
    'Programs IPVS as kube-proxy --proxy-mode=ipvs does (or, with --proxy-mode iptables, the rules of',
    "kube-proxy's iptables mode). Settings come from a KubeProxyConfiguration",
    `file (${API_VERSION}) named by --config; the flags below override it.`,
    'Durations are Go durations: 30s, 1m0s, 1h2m3.5s, 500ms.',
    '',
    'kube-proxy flags:',
    ...kube,
    '',
    'kipvs flags:',
    ...own,
    '',
  ].join('\n');
}
