// The iptables rules of kube-proxy's IPVS mode, generated from the proxy's configuration, and the
// iptables-restore/iptables-save text around them. Pure: no processes, no kernel.
//
// IPVS does the load balancing; these rules only mark traffic for masquerade, accept what IPVS will
// handle, enforce loadBalancerSourceRanges and keep host ports from being reached through a VIP. They
// match ipsets (see names.ts) instead of listing services, so the rule count is the same for 1 Service
// or 10,000 and only changes with the configuration.
import { parseCidr } from '../netlink/cidr.js';
import { badInterfaceName, detectorArgs, type LocalDetector } from './local-detector.js';
import { familyOf, formatAddress, parseAddress } from '../netlink/address.js';
import { FILTER_CHAINS, NAT_CHAINS, OWNED_CHAINS, ipsetName, type Family, type IpsetKey, type Table } from './names.js';

export type { Family, Table } from './names.js';

export interface IptablesConfig {
  family: Family;
  /** Masquerade all traffic to cluster IPs, not only traffic from outside the cluster. */
  masqueradeAll: boolean;
  /** The fwmark bit that asks for SNAT, 0..31 (kube-proxy's default 14 → 0x4000). */
  masqueradeBit: number;
  /** How to tell this node's pod traffic from the rest (detectLocalMode); absent: no detector. */
  localDetector?: LocalDetector;
  /** MASQUERADE --random-fully. */
  randomFully?: boolean;
  /** Load balancer IP:ports whose sourceRanges exclude the node itself: the node may not reach them. */
  lbOutFilter?: { address: string; protocol: 'tcp' | 'udp' | 'sctp'; port: number }[];
  /**
   * The sets that have entries. Given, a rule matching an empty set is left out, as kube-proxy leaves
   * it out (the same sets: the per-set rules, cluster and external IP rules, the ACCEPTs). Absent, every
   * rule is written, so the rule set depends on the configuration alone.
   */
  nonEmptySets?: Iterable<IpsetKey>;
}

export interface TableRules {
  /** The chains kipvs owns in this table: each is flushed and rewritten as a whole. */
  chains: string[];
  /** iptables-restore lines, "-A CHAIN ...", in order. */
  rules: string[];
}

export type BuiltinChain = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';

/** A jump from a built-in chain into a kipvs chain; inserted at the top of the built-in chain if missing. */
export interface Jump {
  table: Table;
  chain: BuiltinChain;
  /** The kipvs chain jumped to. */
  target: string;
  /** The rule's arguments after "-A CHAIN" (comment match included). */
  args: string[];
  comment: string;
}

export interface RuleSet {
  family: Family;
  nat: TableRules;
  filter: TableRules;
  /** In kube-proxy's insertion order: each is inserted at position 1, so later ones end up first. */
  jumps: Jump[];
}

const MAX_MASQ_BIT = 31;

/** The mark value for a bit, as iptables-save prints it ("0x4000"). */
export function markFor(bit: number): string {
  return '0x' + (2 ** bit).toString(16);
}

function fail(field: string, why: string): never {
  throw new Error(`iptables rules: ${field}: ${why}`);
}

/** Quote an argument for iptables-restore if it needs it (as iptables-save does). */
export function quoteArg(arg: string): string {
  if (arg === '') return '""';
  if (!/[\s"'\\]/.test(arg)) return arg;
  return '"' + arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

function line(chain: string, args: string[]): string {
  return ['-A', chain, ...args].map(quoteArg).join(' ');
}

const comment = (text: string): string[] => ['-m', 'comment', '--comment', text];

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

/** The detector's "not from a pod" match, checked (a CIDR in canonical form); null without one. */
function notLocalArgs(d: LocalDetector | undefined, family: Family): string[] | null {
  if (!d) return null;
  switch (d.kind) {
    case 'cidr': {
      const c = parseCidr(String(d.cidr));
      if (!c) fail('localDetector.cidr', `not a CIDR: ${JSON.stringify(d.cidr)}`);
      if (c.family !== family) fail('localDetector.cidr', `${c.text} is not an ${family === 'inet' ? 'IPv4' : 'IPv6'} CIDR`);
      return ['!', '-s', c.text];
    }
    case 'bridge': {
      const bad = badInterfaceName(String(d.interface));
      if (bad) fail('localDetector.interface', `${bad}: ${JSON.stringify(d.interface)}`);
      break;
    }
    case 'interfacePrefix': {
      const bad = badInterfaceName(String(d.prefix), true);
      if (bad) fail('localDetector.prefix', `${bad}: ${JSON.stringify(d.prefix)}`);
      break;
    }
    default:
      fail('localDetector.kind', `must be "cidr", "bridge" or "interfacePrefix", got ${JSON.stringify((d as { kind: unknown }).kind)}`);
  }
  return detectorArgs(d, family)!.ifNotLocal;
}

/** The rules of IPVS mode for one family, in kube-proxy's order. Throws an Error naming a bad field. */
export function ipvsModeRules(cfg: IptablesConfig): RuleSet {
  const family = cfg.family;
  if (family !== 'inet' && family !== 'inet6') fail('family', `must be "inet" or "inet6", got ${JSON.stringify(family)}`);
  if (!Number.isInteger(cfg.masqueradeBit) || cfg.masqueradeBit < 0 || cfg.masqueradeBit > MAX_MASQ_BIT) {
    fail('masqueradeBit', `must be an integer 0..${MAX_MASQ_BIT}, got ${String(cfg.masqueradeBit)}`);
  }
  const notLocal = notLocalArgs(cfg.localDetector, family);
  const outFilter = (cfg.lbOutFilter ?? []).map((e, i) => {
    const at = `lbOutFilter[${i}]`;
    const bytes = typeof e.address === 'string' ? parseAddress(e.address) : null;
    if (!bytes || familyOf(e.address) !== family) fail(`${at}.address`, `not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address: ${JSON.stringify(e.address)}`);
    if (!PROTOCOLS.has(e.protocol)) fail(`${at}.protocol`, `must be tcp, udp or sctp, got ${JSON.stringify(e.protocol)}`);
    if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) fail(`${at}.port`, `must be 1..65535, got ${String(e.port)}`);
    return { address: formatAddress(bytes), protocol: e.protocol, port: e.port };
  });
  const nonEmpty = cfg.nonEmptySets ? new Set(cfg.nonEmptySets) : null;
  const has = (key: IpsetKey): boolean => nonEmpty === null || nonEmpty.has(key);
  const set = (key: IpsetKey): string => ipsetName(key, family);
  const mark = markFor(cfg.masqueradeBit);
  const loopback = family === 'inet' ? '127.0.0.0/8' : '::1/128';

  const nat: string[] = [];
  const filter: string[] = [];

  nat.push(line('KUBE-SERVICES', ['-s', loopback, ...comment('leave connections from localhost alone'), '-j', 'RETURN']));

  // One rule per set, kube-proxy's ipsetWithIptablesChain order.
  const perSet: [Table, IpsetKey, string, string | null, string, string, string][] = [
    ['nat', 'loopBack', 'KUBE-POSTROUTING', null, 'dst,dst,src', 'MASQUERADE', 'masquerade hairpin traffic (endpoint to itself)'],
    ['nat', 'loadBalancer', 'KUBE-SERVICES', null, 'dst,dst', 'KUBE-LOAD-BALANCER', 'traffic to load balancer IPs'],
    ['nat', 'loadBalancerLocal', 'KUBE-LOAD-BALANCER', null, 'dst,dst', 'RETURN', 'no masquerade for load balancers with policy Local'],
    ['nat', 'nodePortLocalTCP', 'KUBE-NODE-PORT', 'tcp', 'dst', 'RETURN', 'no masquerade for TCP node ports with policy Local'],
    ['nat', 'nodePortTCP', 'KUBE-NODE-PORT', 'tcp', 'dst', 'KUBE-MARK-MASQ', 'masquerade TCP node port traffic'],
    ['nat', 'nodePortLocalUDP', 'KUBE-NODE-PORT', 'udp', 'dst', 'RETURN', 'no masquerade for UDP node ports with policy Local'],
    ['nat', 'nodePortUDP', 'KUBE-NODE-PORT', 'udp', 'dst', 'KUBE-MARK-MASQ', 'masquerade UDP node port traffic'],
    ['nat', 'nodePortLocalSCTP', 'KUBE-NODE-PORT', 'sctp', 'dst,dst', 'RETURN', 'no masquerade for SCTP node ports with policy Local'],
    ['nat', 'nodePortSCTP', 'KUBE-NODE-PORT', 'sctp', 'dst,dst', 'KUBE-MARK-MASQ', 'masquerade SCTP node port traffic'],
    ['filter', 'loadBalancerFW', 'KUBE-PROXY-FIREWALL', null, 'dst,dst', 'KUBE-SOURCE-RANGES-FIREWALL', 'load balancers with source ranges'],
    ['filter', 'loadBalancerSourceCIDR', 'KUBE-SOURCE-RANGES-FIREWALL', null, 'dst,dst,src', 'RETURN', 'allow sources in the source ranges'],
    ['filter', 'loadBalancerSourceIP', 'KUBE-SOURCE-RANGES-FIREWALL', null, 'dst,dst,src', 'RETURN', 'allow the load balancer itself as source'],
  ];
  for (const [table, key, chain, proto, match, target, text] of perSet) {
    if (!has(key)) continue;
    const args = [...(proto ? ['-p', proto] : []), ...comment(text), '-m', 'set', '--match-set', set(key), match, '-j', target];
    (table === 'nat' ? nat : filter).push(line(chain, args));
  }

  if (has('clusterIP')) {
    const match = ['-m', 'set', '--match-set', set('clusterIP')];
    if (cfg.masqueradeAll) {
      nat.push(line('KUBE-SERVICES', [...comment('masquerade all traffic to cluster IPs'), ...match, 'dst,dst', '-j', 'KUBE-MARK-MASQ']));
    } else if (notLocal !== null) {
      // kube-proxy's IPVS mode: traffic to a cluster IP that is not from a pod is masqueraded (an off-node
      // client routed through this node must get its replies back through it).
      nat.push(line('KUBE-SERVICES', [...notLocal, ...comment('masquerade off-cluster traffic to cluster IPs'), ...match, 'dst,dst', '-j', 'KUBE-MARK-MASQ']));
    } else {
      nat.push(line('KUBE-SERVICES', [...comment('masquerade node traffic sent from a cluster IP'), ...match, 'src,dst', '-j', 'KUBE-MARK-MASQ']));
    }
  }

  const externalAccepts = (key: IpsetKey, what: string): void => {
    const match = ['-m', 'set', '--match-set', set(key), 'dst,dst'];
    nat.push(line('KUBE-SERVICES', [...comment(`accept off-node traffic to ${what}`), ...match, '-m', 'physdev', '!', '--physdev-is-in', '-m', 'addrtype', '!', '--src-type', 'LOCAL', '-j', 'ACCEPT']));
    nat.push(line('KUBE-SERVICES', [...comment(`accept traffic to ${what} that are local addresses`), ...match, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'ACCEPT']));
  };
  if (has('externalIP')) {
    nat.push(line('KUBE-SERVICES', [...comment('masquerade traffic to external IPs'), '-m', 'set', '--match-set', set('externalIP'), 'dst,dst', '-j', 'KUBE-MARK-MASQ']));
    externalAccepts('externalIP', 'external IPs');
  }
  if (has('externalIPLocal')) externalAccepts('externalIPLocal', 'external IPs with policy Local');

  nat.push(line('KUBE-SERVICES', [...comment('node ports: traffic to local addresses'), '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'KUBE-NODE-PORT']));
  nat.push(line('KUBE-LOAD-BALANCER', [...comment('masquerade load balancer traffic'), '-j', 'KUBE-MARK-MASQ']));
  filter.push(line('KUBE-SOURCE-RANGES-FIREWALL', [...comment('drop sources outside the source ranges'), '-j', 'DROP']));
  for (const e of outFilter) {
    filter.push(line('KUBE-IPVS-OUT-FILTER', [
      '-s', e.address, ...comment('node outside the load balancer source ranges'),
      '-m', 'ipvs', '--vaddr', e.address, '--vproto', e.protocol, '--vport', String(e.port), '-j', 'DROP',
    ]));
  }

  // Accept what IPVS will handle, in case later rules would drop it.
  if (has('clusterIP')) nat.push(line('KUBE-SERVICES', [...comment('accept traffic to cluster IPs for IPVS'), '-m', 'set', '--match-set', set('clusterIP'), 'dst,dst', '-j', 'ACCEPT']));
  if (has('loadBalancer')) nat.push(line('KUBE-SERVICES', [...comment('accept traffic to load balancer IPs for IPVS'), '-m', 'set', '--match-set', set('loadBalancer'), 'dst,dst', '-j', 'ACCEPT']));

  filter.push(line('KUBE-FORWARD', [...comment('forward traffic marked for masquerade'), '-m', 'mark', '--mark', `${mark}/${mark}`, '-j', 'ACCEPT']));
  filter.push(line('KUBE-FORWARD', [...comment('forward replies and related traffic'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']));
  filter.push(line('KUBE-NODE-PORT', [...comment('accept health check node ports'), '-m', 'set', '--match-set', set('healthCheckNodePort'), 'dst', '-j', 'ACCEPT']));
  const vipOk: [IpsetKey, string, string][] = [
    ['loadBalancer', 'dst,dst', 'load balancer ip,port'],
    ['clusterIP', 'dst,dst', 'cluster ip,port'],
    ['externalIP', 'dst,dst', 'external ip,port'],
    ['externalIPLocal', 'dst,dst', 'external ip,port with policy Local'],
    ['healthCheckNodePort', 'dst', 'health check node port'],
  ];
  for (const [key, match, what] of vipOk) {
    filter.push(line('KUBE-IPVS-FILTER', [...comment(`service ${what}`), '-m', 'set', '--match-set', set(key), match, '-j', 'RETURN']));
  }
  filter.push(line('KUBE-IPVS-FILTER', [...comment('reject new connections to other ports of kube-ipvs0 addresses'), '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'set', '--match-set', set('ipvsIPs'), 'dst', '-j', 'REJECT']));

  nat.push(line('KUBE-POSTROUTING', [...comment('only traffic marked for masquerade'), '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN']));
  nat.push(line('KUBE-POSTROUTING', [...comment('clear the masquerade mark'), '-j', 'MARK', '--xor-mark', mark]));
  nat.push(line('KUBE-POSTROUTING', [...comment('service traffic that needs SNAT'), '-j', 'MASQUERADE', ...(cfg.randomFully ? ['--random-fully'] : [])]));
  nat.push(line('KUBE-MARK-MASQ', [...comment('mark for masquerade'), '-j', 'MARK', '--or-mark', mark]));

  // kube-proxy's own comments on its jumps: it finds its jumps by their full text (iptables -C), so with
  // the same text a node can go from kube-proxy to kipvs and back without a doubled jump either way.
  const jumps: Jump[] = [
    jump('nat', 'OUTPUT', 'KUBE-SERVICES', 'kubernetes service portals'),
    jump('nat', 'PREROUTING', 'KUBE-SERVICES', 'kubernetes service portals'),
    jump('nat', 'POSTROUTING', 'KUBE-POSTROUTING', 'kubernetes postrouting rules'),
    jump('filter', 'FORWARD', 'KUBE-FORWARD', 'kubernetes forwarding rules'),
    jump('filter', 'INPUT', 'KUBE-NODE-PORT', 'kubernetes health check rules'),
    jump('filter', 'INPUT', 'KUBE-PROXY-FIREWALL', 'kube-proxy firewall rules'),
    jump('filter', 'FORWARD', 'KUBE-PROXY-FIREWALL', 'kube-proxy firewall rules'),
    jump('filter', 'INPUT', 'KUBE-IPVS-FILTER', 'kubernetes ipvs access filter'),
    jump('filter', 'OUTPUT', 'KUBE-IPVS-OUT-FILTER', 'kubernetes ipvs access filter'),
  ];

  return {
    family,
    nat: { chains: [...NAT_CHAINS], rules: nat },
    filter: { chains: [...FILTER_CHAINS], rules: filter },
    jumps,
  };
}

function jump(table: Table, chain: BuiltinChain, target: string, text: string): Jump {
  return { table, chain, target, args: [...comment(text), '-j', target], comment: text };
}

/** One table's block of iptables-restore input: chain lines (each flushes the chain), then lines. */
export function tableBlock(table: Table, chains: readonly string[], lines: readonly string[]): string {
  return [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...lines, 'COMMIT', ''].join('\n');
}

/**
 * iptables-restore input that, run with --noflush, rewrites every kipvs chain of both tables (the
 * ":CHAIN - [0:0]" line creates or flushes it) and touches no other chain. The jumps are not in it:
 * they live in built-in chains and are inserted only when missing.
 */
export function restoreInput(rs: RuleSet): string {
  return tableBlock('nat', rs.nat.chains, rs.nat.rules) + tableBlock('filter', rs.filter.chains, rs.filter.rules);
}

// ---- iptables-save text ----

export interface SavedChain {
  /** "ACCEPT"/"DROP" for a built-in chain, "-" for a user chain. */
  policy: string;
  /** Each rule's text after "-A CHAIN ", as printed. */
  rules: string[];
}

/** Tables of iptables-save output: table name → chain name → chain. Comment lines are skipped. */
export function parseSave(text: string): Map<string, Map<string, SavedChain>> {
  const tables = new Map<string, Map<string, SavedChain>>();
  let cur: Map<string, SavedChain> | null = null;
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) continue;
    if (l.startsWith('*')) {
      cur = new Map();
      tables.set(l.slice(1), cur);
    } else if (l === 'COMMIT') {
      cur = null;
    } else if (cur && l.startsWith(':')) {
      const [name, policy] = l.slice(1).split(/\s+/);
      if (name) cur.set(name, { policy: policy ?? '-', rules: [] });
    } else if (cur && l.startsWith('-A ')) {
      const m = /^-A\s+(\S+)\s*(.*)$/.exec(l);
      if (!m) continue;
      let chain = cur.get(m[1]!);
      if (!chain) cur.set(m[1]!, (chain = { policy: '-', rules: [] }));
      chain.rules.push(m[2]!);
    }
  }
  return tables;
}

/** Split a rule's text into arguments as iptables-restore does (double quotes, backslash escapes). */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    let arg = '';
    let quoted = false;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (quoted) {
        if (c === '\\' && i + 1 < text.length) arg += text[++i];
        else if (c === '"') quoted = false;
        else arg += c;
      } else if (c === '"') {
        quoted = true;
      } else if (/\s/.test(c)) {
        break;
      } else {
        arg += c;
      }
    }
    out.push(arg);
  }
  return out;
}

const LEADING: Record<string, string> = {
  '-s': 's', '--source': 's', '--src': 's',
  '-d': 'd', '--destination': 'd', '--dst': 'd',
  '-i': 'i', '--in-interface': 'i',
  '-o': 'o', '--out-interface': 'o',
  '-p': 'p', '--protocol': 'p',
};
const LEADING_ORDER = ['s', 'd', 'i', 'o', 'p'];
const IP_PROTO: Record<string, string> = { tcp: '6', udp: '17', sctp: '132', icmp: '1', 'ipv6-icmp': '58' };

function canonicalNet(text: string): string {
  const c = parseCidr(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);
  return c ? c.text : text;
}

function hex(text: string): string {
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 ? '0x' + n.toString(16) : text;
}

function hexPair(text: string): string {
  const [v, m] = text.split('/');
  return m === undefined ? hex(v!) : `${hex(v!)}/${hex(m)}`;
}

/**
 * A rule's canonical form without its comment match: two jumps that differ only in their comment do
 * the same thing. kube-proxy's own jumps ("kubernetes service portals", …) compare equal to kipvs'
 * this way, so a node taken over from kube-proxy keeps one jump per built-in chain, not two.
 */
export function ruleWithoutComment(text: string, family: Family): string {
  const args = splitArgs(text);
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-m' && args[i + 1] === 'comment' && args[i + 2] === '--comment' && i + 3 < args.length) {
      i += 3;
      continue;
    }
    kept.push(args[i]!);
  }
  return normaliseRule(kept.map(quoteArg).join(' '), family);
}

/**
 * A rule's arguments in one canonical form, so that a rule as written and the same rule as
 * iptables-save prints it compare equal: addresses, protocol and interfaces first (as iptables-save
 * puts them) with canonical CIDRs; quotes gone; marks in hex; MARK --or-mark/--xor-mark/--and-mark as
 * the --set-xmark iptables-save shows; REJECT's default --reject-with filled in; ipvs' --vaddr as a CIDR
 * and --vproto as a number.
 */
export function normaliseRule(text: string, family: Family): string {
  const args = splitArgs(text);
  const leading = new Map<string, string[]>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const neg = args[i] === '!' && i + 1 < args.length && LEADING[args[i + 1]!] !== undefined;
    const opt = LEADING[args[neg ? i + 1 : i]!];
    if (opt !== undefined && i + (neg ? 2 : 1) < args.length) {
      let value = args[i + (neg ? 2 : 1)]!;
      if (opt === 's' || opt === 'd') value = canonicalNet(value);
      if (opt === 'p') value = value.toLowerCase();
      leading.set(opt, [...(neg ? ['!'] : []), `-${opt}`, value]);
      i += neg ? 2 : 1;
      continue;
    }
    rest.push(args[i]!);
  }
  sortIpvsOptions(rest);
  const out: string[] = [];
  for (const k of LEADING_ORDER) out.push(...(leading.get(k) ?? []));
  let target = '';
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const next = rest[i + 1];
    if ((a === '-j' || a === '--jump') && next !== undefined) {
      target = next;
      out.push('-j', next);
      i++;
    } else if (target === 'MARK' && next !== undefined && (a === '--or-mark' || a === '--xor-mark' || a === '--and-mark' || a === '--set-mark')) {
      const v = Number(next);
      const m = a === '--or-mark' ? v : a === '--xor-mark' ? 0 : a === '--and-mark' ? ~v >>> 0 : 0xffffffff;
      const value = a === '--and-mark' ? 0 : v;
      out.push('--set-xmark', `${hex(String(value))}/${hex(String(m))}`);
      i++;
    } else if ((a === '--set-xmark' || a === '--mark') && next !== undefined) {
      out.push(a, hexPair(next));
      i++;
    } else if (a === '--vaddr' && next !== undefined) {
      out.push(a, canonicalNet(next));
      i++;
    } else if (a === '--vproto' && next !== undefined) {
      out.push(a, IP_PROTO[next.toLowerCase()] ?? next);
      i++;
    } else {
      out.push(a);
    }
  }
  if (target === 'REJECT' && !out.includes('--reject-with')) {
    out.push('--reject-with', family === 'inet' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable');
  }
  return out.map(quoteArg).join(' ');
}

/** libxt_ipvs' options, in the order its save prints them, and whether each takes a value. */
const IPVS_OPTS: [string, boolean][] = [['--ipvs', false], ['--vproto', true], ['--vaddr', true], ['--vport', true], ['--vdir', true], ['--vmethod', true], ['--vportctl', true]];

/** Put the options of each "-m ipvs" in the order iptables-save prints them (in place). */
function sortIpvsOptions(args: string[]): void {
  const order = new Map(IPVS_OPTS.map(([o, v], i) => [o, { i, v }]));
  for (let m = 0; m < args.length - 1; m++) {
    if (args[m] !== '-m' || args[m + 1] !== 'ipvs') continue;
    const groups: { i: number; toks: string[] }[] = [];
    let k = m + 2;
    while (k < args.length) {
      const neg = args[k] === '!';
      const info = order.get(args[neg ? k + 1 : k]!);
      if (!info) break;
      const len = (neg ? 1 : 0) + 1 + (info.v ? 1 : 0);
      groups.push({ i: info.i, toks: args.slice(k, k + len) });
      k += len;
    }
    groups.sort((a, b) => a.i - b.i);
    args.splice(m + 2, k - (m + 2), ...groups.flatMap((g) => g.toks));
  }
}

/** The text after "-A CHAIN " of a restore line (as the generator writes them). */
export function ruleArgsText(restoreLine: string): { chain: string; args: string } {
  const m = /^-A\s+(\S+)\s*(.*)$/.exec(restoreLine);
  if (!m) throw new Error(`not an -A line: ${restoreLine}`);
  return { chain: m[1]!, args: m[2]! };
}

/** Is `chain` one of kipvs' chains in `table`? */
export function isOwnedChain(table: Table, chain: string): boolean {
  return OWNED_CHAINS[table].includes(chain);
}
