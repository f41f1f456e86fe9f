// The connection-tracking limits and timeouts kube-proxy sets at start (its `conntrack:` settings), in
// both proxy modes: what should be written is computed by conntrackSysctlPlan() from the settings, the
// CPU count and the values the kernel holds now; applyConntrackSysctls() reads and writes the files.
// The rules are kube-proxy's:
//   - nf_conntrack_max = maxPerCore × CPUs, raised to `min` if that is larger; maxPerCore 0 leaves the
//     limit (and `min`) alone;
//   - when the limit is set and the module's hash table has fewer than max/4 buckets, hashsize is
//     raised to max/4 (never lowered: a larger table is left as it is);
//   - each timeout is written when above 0 (0 keeps the kernel's value), in whole seconds;
//   - tcpBeLiberal true writes nf_conntrack_tcp_be_liberal=1 (false leaves it alone);
//   - a value already equal to the wanted one is not written;
//   - any failure stops the start.
import type { AgentConfig } from '../config/types.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Logger } from './backend.js';
import type { Preview } from './preview.js';

/**
 * kube-proxy's conntrack settings as the configuration resolves them: maxPerCore (0 leaves nf_conntrack_max
 * alone and ignores min), min (the least nf_conntrack_max whatever the CPU count), and timeouts in seconds
 * (0 leaves the kernel's value).
 */
export type ConntrackSettings = AgentConfig['conntrack'];

export const NETFILTER_SYSCTLS = '/proc/sys/net/netfilter';
export const HASHSIZE_PATH = '/sys/module/nf_conntrack/parameters/hashsize';

export interface SysctlWrite {
  path: string;
  /** What the kernel holds now (null: could not be read). */
  before: number | null;
  after: number;
}

/** nf_conntrack_max as kube-proxy computes it; 0 means "leave it alone". */
export function conntrackMax(s: Pick<ConntrackSettings, 'maxPerCore' | 'min'>, cpuCount: number): number {
  if (!(s.maxPerCore > 0)) return 0;
  return Math.max(s.maxPerCore * cpuCount, s.min > 0 ? s.min : 0);
}

/**
 * The writes that make the kernel match `s`, in the order kube-proxy makes them. `read` gives a
 * file's current integer (null if unreadable); `root` and `hashsizePath` let tests point elsewhere.
 */
export function conntrackSysctlPlan(
  s: ConntrackSettings,
  cpuCount: number,
  read: (path: string) => number | null,
  root: string = NETFILTER_SYSCTLS,
  hashsizePath: string = HASHSIZE_PATH,
): SysctlWrite[] {
  const out: SysctlWrite[] = [];
  const want = (name: string, value: number) => {
    const path = `${root}/${name}`;
    const before = read(path);
    if (before !== value) out.push({ path, before, after: value });
  };
  const max = conntrackMax(s, cpuCount);
  if (max > 0) {
    want('nf_conntrack_max', max);
    const buckets = Math.floor(max / 4);
    const hashsize = read(hashsizePath);
    // Unreadable: planned anyway, so that the applier's write fails with the file named.
    if (hashsize === null || hashsize < buckets) out.push({ path: hashsizePath, before: hashsize, after: buckets });
  }
  if (s.tcpEstablishedTimeoutS > 0) want('nf_conntrack_tcp_timeout_established', s.tcpEstablishedTimeoutS);
  if (s.tcpCloseWaitTimeoutS > 0) want('nf_conntrack_tcp_timeout_close_wait', s.tcpCloseWaitTimeoutS);
  if (s.tcpBeLiberal) want('nf_conntrack_tcp_be_liberal', 1);
  if (s.udpTimeoutS > 0) want('nf_conntrack_udp_timeout', s.udpTimeoutS);
  if (s.udpStreamTimeoutS > 0) want('nf_conntrack_udp_timeout_stream', s.udpStreamTimeoutS);
  return out;
}

/** The integer in a sysctl or module parameter file, or null. */
export function readIntFile(path: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isNaN(n) ? null : n;
  } catch {
    return null;
  }
}

/**
 * The CPUs kube-proxy counts: every online logical CPU of the machine, not the ones this process may
 * run on (a CPU-pinned container still shares the machine's one connection table).
 */
export function cpuCount(): number {
  return Math.max(1, cpus().length);
}

export interface ConntrackIo {
  cpus?: number;
  read?: (path: string) => number | null;
  write?: (path: string, value: string) => void;
  root?: string;
  hashsizePath?: string;
}

/** Writes what conntrackSysctlPlan() says; throws an Error naming the file on the first failure. */
export function applyConntrackSysctls(s: ConntrackSettings, log: Logger, io: ConntrackIo = {}): SysctlWrite[] {
  const plan = conntrackSysctlPlan(s, io.cpus ?? cpuCount(), io.read ?? readIntFile, io.root, io.hashsizePath);
  const write = io.write ?? ((path: string, value: string) => writeFileSync(path, value));
  for (const w of plan) {
    try {
      write(w.path, String(w.after));
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      const hint = why === 'ENOENT' ? ' (is the nf_conntrack module loaded?)' : '';
      throw new Error(`conntrack settings: cannot set ${w.path} to ${w.after}: ${why}${hint}`);
    }
    log.info({ sysctl: w.path, before: w.before, after: w.after }, 'conntrack setting changed');
  }
  return plan;
}

/** `kipvs diff`: the conntrack writes the agent's start would make, as sysctl changes. */
export function conntrackChanges(s: ConntrackSettings, out: Preview, io: Pick<ConntrackIo, 'cpus' | 'read'> = {}): void {
  for (const w of conntrackSysctlPlan(s, io.cpus ?? cpuCount(), io.read ?? readIntFile)) {
    if (w.before === null) out.unread.push(`${w.path}: unreadable (the agent would try to write ${w.after})`);
    else out.changes.push({ object: 'sysctl', action: 'change', name: w.path, before: [String(w.before)], after: [String(w.after)] });
  }
}
