// From settings (flags over the file) to the agent's configuration: kube-proxy's v1alpha1 defaults
// filled in and every value checked. A bad value is recorded in Problems and the check goes on, so that
// all of a file's errors are reported together.
import { hostname as osHostname } from 'node:os';
import { SCHEDULERS } from '../ipvs/types.js';
import { parseCidr } from '../netlink/cidr.js';
import { badInterfaceName } from '../iptables/local-detector.js';
import { familyOf, canonicalAddress } from '../netlink/address.js';
import { parseGoDurationMs } from './duration.js';
import { ConfigError, type Problems } from './errors.js';
import type { Settings, SettingValue } from './settings.js';
import type { AgentConfig, DetectLocalMode } from './types.js';
import { DEFAULT_HEAP, HEAP_FLAGS, isHeapMode } from './heap.js';
import { VIP_BINDINGS, type VipBinding } from '../link/route-codec.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const DETECT_LOCAL_MODES: DetectLocalMode[] = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];
const HEALTHZ_PORT = 10256;
const METRICS_PORT = 10249;

export interface ResolveDeps {
  hostname?: () => string;
}

// ---- value checks (each throws ConfigError naming source and field)

function checkScheduler(src: string, field: string, v: string): string {
  if (v === '') return 'rr';
  if (!(SCHEDULERS as readonly string[]).includes(v)) throw new ConfigError(src, field, `unknown scheduler "${v}" (one of ${SCHEDULERS.join(' ')})`);
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

/** `addr` with its port replaced (kube-proxy's deprecated --healthz-port / --metrics-port); 0 disables. */
function withPort(src: string, addr: string, port: number): string {
  if (port === 0) return '';
  if (!(port > 0 && port <= 65535)) throw new ConfigError(src, '', `${port} is not a port (1-65535, or 0 to disable)`);
  return addr === '' ? '' : `${addr.slice(0, addr.lastIndexOf(':'))}:${port}`;
}

export function resolveConfig(s: Settings, p: Problems, deps: ResolveDeps = {}): AgentConfig {
  const file = s.fileName;
  /** Source and field of a setting for messages: where it was given, or the file and field for a default. */
  const where = (key: string, sv: SettingValue | undefined): [string, string] => (sv ? [sv.source, sv.field] : [file, key]);
  const str = (key: string): string | undefined => s.value<string>(key);
  const check = <T>(f: () => T, fallback: T): T => p.check(f, fallback);

  const modeSv = s.get('mode');
  const mode = check(() => checkMode(...where('mode', modeSv), str('mode') ?? ''), 'ipvs' as const);
  const schedSv = s.get('ipvs.scheduler');
  const scheduler = check(() => checkScheduler(...where('ipvs.scheduler', schedSv), str('ipvs.scheduler') ?? ''), 'rr');
  const strictARP = s.value<boolean>('ipvs.strictARP') ?? false;

  /** A duration in ms (validated when read), or `dflt` when unset. */
  const ms = (key: string, dflt: number): [number, SettingValue | undefined] => {
    const sv = s.get(key);
    return [sv ? parseGoDurationMs(sv.value as string)! : dflt, sv];
  };
  const nonNegative = (key: string, v: number, sv: SettingValue | undefined): number => {
    if (v < 0) p.error(...where(key, sv), 'must not be negative');
    return Math.max(0, v);
  };
  /** kube-proxy's sync periods: 0 in the file means unset (v1alpha1 defaulting); a flag of 0 is an error. */
  const periods = (syncKey: string, minKey: string, dfltMin: number): [number, number] => {
    let [sync, syncSv] = ms(syncKey, 30_000);
    if (sync === 0 && syncSv?.field) sync = 30_000;
    if (sync <= 0) {
      p.error(...where(syncKey, syncSv), 'must be greater than 0');
      sync = 30_000;
    }
    const [min, minSv] = ms(minKey, dfltMin);
    nonNegative(minKey, min, minSv);
    if (min > sync) p.error(...where(minKey, minSv), `must not be greater than the sync period (${sync} ms)`);
    return [sync, Math.max(0, min)];
  };
  const [syncPeriodMs, minSyncPeriodMs] = periods('ipvs.syncPeriod', 'ipvs.minSyncPeriod', 0);
  const [iptSyncMs, iptMinMs] = periods('iptables.syncPeriod', 'iptables.minSyncPeriod', 1_000);
  const seconds = (key: string, dflt: number): number => {
    const [v, sv] = ms(key, dflt * 1000);
    return Math.trunc(nonNegative(key, v, sv) / 1000);
  };

  const iptSync = s.value<string>('iptables-sync') ?? 'partial';
  if (iptSync !== 'partial' && iptSync !== 'full') p.error('--iptables-sync', '', `"${iptSync}" is not partial or full`);
  const iptBackend = s.value<string>('iptables-backend');
  if (iptBackend !== undefined && iptBackend !== 'legacy' && iptBackend !== 'nft') p.error('--iptables-backend', '', `"${iptBackend}" is not legacy or nft`);
  const iptables: AgentConfig['iptables'] = {
    syncPeriodMs: iptSyncMs, minSyncPeriodMs: iptMinMs, sync: iptSync === 'full' ? 'full' : 'partial',
    localhostNodePorts: s.value<boolean>('iptables.localhostNodePorts') ?? true,
  };
  if (iptBackend === 'legacy' || iptBackend === 'nft') iptables.backend = iptBackend;

  const listOf = (key: string, f: (src: string, field: string, list: string[], indexed: boolean) => string[]): string[] => {
    const sv = s.get(key);
    return sv ? check(() => f(sv.source, sv.field, sv.value as string[], sv.field !== ''), []) : [];
  };
  const excludeCIDRs = listOf('ipvs.excludeCIDRs', checkCidrs);
  const nodePortAddresses = listOf('nodePortAddresses', checkNodePortAddresses);
  const cidrSv = s.get('clusterCIDR');
  const clusterCIDR = cidrSv ? check(() => checkClusterCidr(cidrSv.source, cidrSv.field, cidrSv.value as string), []) : [];

  const masqueradeAll = s.value<boolean>('iptables.masqueradeAll') ?? false;
  const bitSv = s.get('iptables.masqueradeBit');
  let masqueradeBit = (bitSv?.value as number | undefined) ?? 14;
  if (masqueradeBit < 0 || masqueradeBit > 31) {
    p.error(...where('iptables.masqueradeBit', bitSv), `${masqueradeBit} is not from 0 to 31`);
    masqueradeBit = 14;
  }

  const bindSv = s.get('bindAddress');
  let bindAddress = (bindSv?.value as string | undefined) ?? '';
  if (bindAddress !== '') {
    if (!familyOf(bindAddress)) {
      p.error(...where('bindAddress', bindSv), `"${bindAddress}" is not an IP address`);
      bindAddress = '';
    } else bindAddress = canonicalAddress(bindAddress);
  }
  const v6 = familyOf(bindAddress) === 'inet6';
  const server = (key: string, portFlag: string, dfltHost: string, port: number): string => {
    const sv = s.get(key);
    const v = sv?.value as string | undefined;
    let addr = `${dfltHost}:${port}`;
    if (sv && !(v === '' && sv.field)) addr = v === '' ? '' : check(() => checkBindAddress(sv.source, sv.field, v!, port), addr);
    const portSv = s.get(portFlag);
    if (portSv) addr = check(() => withPort(portSv.source, addr, portSv.value as number), addr);
    return addr;
  };
  // Loopback by default, unlike kube-proxy's 0.0.0.0:10256 (docs/migration.md): nothing is exposed unless asked.
  // The deploy manifests ask, for cloud load balancers that probe /healthz from outside.
  const healthzBindAddress = server('healthzBindAddress', 'healthz-port', v6 ? '[::1]' : '127.0.0.1', HEALTHZ_PORT);
  const metricsBindAddress = server('metricsBindAddress', 'metrics-port', v6 ? '[::1]' : '127.0.0.1', METRICS_PORT);

  const hostSv = s.get('hostnameOverride');
  const override = ((hostSv?.value as string | undefined) ?? '').trim();
  const nodeName = (override || (deps.hostname ?? osHostname)()).trim().toLowerCase();
  if (nodeName === '') p.error(...where('hostnameOverride', hostSv), 'empty node name');

  const dlmSv = s.get('detectLocalMode');
  const dlm = (dlmSv?.value as string | undefined) ?? '';
  let detectLocalMode = (dlm === '' ? 'ClusterCIDR' : dlm) as DetectLocalMode;
  if (!DETECT_LOCAL_MODES.includes(detectLocalMode)) {
    p.error(...where('detectLocalMode', dlmSv), `unknown mode "${dlm}" (one of ${DETECT_LOCAL_MODES.join(' ')})`);
    detectLocalMode = 'ClusterCIDR';
  }
  const detectLocal = {
    bridgeInterface: str('detectLocal.bridgeInterface') ?? '',
    interfaceNamePrefix: str('detectLocal.interfaceNamePrefix') ?? '',
  };
  // The interface the mode needs: set, and a name iptables takes (-i NAME, or -i PREFIX+).
  const needs: Partial<Record<DetectLocalMode, ['detectLocal.bridgeInterface' | 'detectLocal.interfaceNamePrefix', boolean]>> = {
    BridgeInterface: ['detectLocal.bridgeInterface', false],
    InterfaceNamePrefix: ['detectLocal.interfaceNamePrefix', true],
  };
  const need = needs[detectLocalMode];
  if (need) {
    const [field, prefix] = need;
    const value = field === 'detectLocal.bridgeInterface' ? detectLocal.bridgeInterface : detectLocal.interfaceNamePrefix;
    const sv = s.get(field);
    // Unset: named as a flag when the mode came from a flag, else as the file's field.
    const flag = field === 'detectLocal.bridgeInterface' ? '--pod-bridge-interface' : '--pod-interface-name-prefix';
    const modeFromFlag = dlmSv?.source.startsWith('--') ?? false;
    const unsetAt: [string, string] = modeFromFlag ? [flag, ''] : sv ? [sv.source, sv.field] : [where('detectLocalMode', dlmSv)[0], field];
    if (value === '') p.error(...unsetAt, `must be set when detectLocalMode is ${detectLocalMode}`);
    else {
      const bad = badInterfaceName(value, prefix);
      if (bad) p.error(...where(field, sv), `${bad}: "${value}"`);
    }
  }

  const vSv = s.get('logging.verbosity');
  let verbosity = (vSv?.value as number | undefined) ?? 0;
  if (verbosity < 0) {
    p.error(...where('logging.verbosity', vSv), 'must not be negative');
    verbosity = 0;
  }
  let logLevel = verbosity >= 6 ? 'trace' : verbosity >= 4 ? 'debug' : 'info';
  const level = s.value<string>('log-level');
  if (level !== undefined) {
    if (LOG_LEVELS.includes(level)) logLevel = level;
    else p.error('--log-level', '', `unknown level "${level}" (one of ${LOG_LEVELS.join(' ')})`);
  }
  const formatSv = s.get('logging.format');
  let logFormat: 'json' | 'text' = 'json';
  if (formatSv && !['', 'text', 'json'].includes(formatSv.value as string)) {
    p.error(formatSv.source, formatSv.field, `unknown log format ${JSON.stringify(formatSv.value)} (text or json)`);
  } else if (formatSv?.value === 'text') logFormat = 'text';

  const gttSv = s.get('graceful-termination-timeout');
  const gracefulTerminationTimeoutMs = gttSv ? nonNegative('graceful-termination-timeout', parseGoDurationMs(gttSv.value as string)!, gttSv) : 15 * 60_000;

  const count = (key: string, dflt: number): number => {
    const sv = s.get(key);
    const v = (sv?.value as number | undefined) ?? dflt;
    return nonNegative(key, v, sv);
  };
  const conntrack: AgentConfig['conntrack'] = {
    maxPerCore: count('conntrack.maxPerCore', 32_768),
    min: count('conntrack.min', 131_072),
    tcpEstablishedTimeoutS: seconds('conntrack.tcpEstablishedTimeout', 24 * 3600),
    tcpCloseWaitTimeoutS: seconds('conntrack.tcpCloseWaitTimeout', 3600),
    tcpBeLiberal: s.value<boolean>('conntrack.tcpBeLiberal') ?? false,
    udpTimeoutS: seconds('conntrack.udpTimeout', 0),
    udpStreamTimeoutS: seconds('conntrack.udpStreamTimeout', 0),
  };

  const vipBinding = s.value<string>('vip-binding') ?? 'address';
  const isVipBinding = (v: string): v is VipBinding => (VIP_BINDINGS as readonly string[]).includes(v);
  if (!isVipBinding(vipBinding)) p.error('--vip-binding', '', `"${vipBinding}" is not ${VIP_BINDINGS.join(' or ')}`);
  const v8Heap = s.value<string>('v8-heap') ?? DEFAULT_HEAP;
  if (!isHeapMode(v8Heap)) p.error('--v8-heap', '', `"${v8Heap}" is not ${Object.keys(HEAP_FLAGS).join(', ').replace(/, (\w+)$/, ' or $1')}`);
  const oomSv = s.get('oomScoreAdj');
  const oomScoreAdj = (oomSv?.value as number | undefined) ?? -999;
  if (oomScoreAdj < -1000 || oomScoreAdj > 1000) p.error(...where('oomScoreAdj', oomSv), `${oomScoreAdj} is not from -1000 to 1000`);

  const out: AgentConfig = {
    mode,
    nodeName,
    clusterCIDR,
    masqueradeAll,
    masqueradeBit,
    nodePortAddresses,
    healthzBindAddress,
    metricsBindAddress,
    ipvs: {
      scheduler, strictARP, syncPeriodMs, minSyncPeriodMs, excludeCIDRs,
      tcpTimeoutS: seconds('ipvs.tcpTimeout', 0), tcpFinTimeoutS: seconds('ipvs.tcpFinTimeout', 0), udpTimeoutS: seconds('ipvs.udpTimeout', 0),
    },
    iptables,
    conntrack,
    oomScoreAdj,
    v8Heap: isHeapMode(v8Heap) ? v8Heap : DEFAULT_HEAP,
    vipBinding: isVipBinding(vipBinding) ? vipBinding : 'address',
    cleanup: s.value<boolean>('cleanup') ?? false,
    stateSocket: s.value<string>('state-socket') ?? '/run/kipvs/state.sock',
    gracefulTerminationTimeoutMs,
    logLevel,
    logFormat,
    verbosity,
    bindAddress,
    detectLocalMode,
    detectLocal,
    help: s.value<boolean>('help') ?? false,
    version: s.value<boolean>('version') ?? false,
    warnings: [],
  };
  const configFile = s.value<string>('config');
  if (configFile) out.configFile = configFile;
  const kubeconfig = str('clientConnection.kubeconfig');
  if (kubeconfig) out.kubeconfig = kubeconfig;
  const master = s.value<string>('master');
  if (master) out.master = master;
  const manifests = s.value<string>('manifests');
  if (manifests) out.manifests = manifests;
  return out;
}
