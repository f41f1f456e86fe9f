// ipvsadm 1.31's command line: which command, which options, the virtual service, and the checks and
// error messages ipvsadm applies before it talks to the kernel (parse_options, generic_opt_check and
// the list-command checks of process_options). Pure apart from name lookups, which come in through
// `Lookups` (hosts through the system resolver, service names from /etc/services).
import { Popt, POPT_MESSAGES } from './popt.js';
import { OPTIONS } from './options.js';
import { inetAton, inetPton4, inetPton6 } from './inet.js';

/** ipvsadm ends with this status and these bytes on stderr (and maybe stdout). */
export class IpvsadmExit extends Error {
  readonly code: number;
  readonly stderr: string;
  readonly stdout: string;
  constructor(code: number, stderr: string, stdout = '') {
    super(stderr.trimEnd() || `exit ${code}`);
    this.name = 'IpvsadmExit';
    this.code = code;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

/** fail(): the message, a newline, exit status 2 (or the one given). */
export const fail = (msg: string, code = 2): IpvsadmExit => new IpvsadmExit(code, `${msg}\n`);

export const tryHelp = (prog: string): IpvsadmExit =>
  new IpvsadmExit(255, `Try \`${prog} -h' or '${prog} --help' for more information.\n`);

export const CMD = {
  NONE: 0, ADD: 1, EDIT: 2, DEL: 3, FLUSH: 4, LIST: 5, ADDDEST: 6, DELDEST: 7, EDITDEST: 8, TIMEOUT: 9,
  STARTDAEMON: 10, STOPDAEMON: 11, RESTORE: 12, SAVE: 13, ZERO: 14,
} as const;
const CMD_NAMES = [
  'add-service', 'edit-service', 'delete-service', 'flush', 'list', 'add-server', 'delete-server', 'edit-server',
  'set', 'start-daemon', 'stop-daemon', 'restore', 'save', 'zero',
];

/** Option indices (OPTC_*), in ipvsadm's order, with the names its messages use. */
export const OPTC = {
  NUMERIC: 0, CONNECTION: 1, SERVICE: 2, SCHEDULER: 3, PERSISTENT: 4, NETMASK: 5, SERVER: 6, FORWARD: 7,
  WEIGHT: 8, UTHRESHOLD: 9, LTHRESHOLD: 10, MCAST: 11, TIMEOUT: 12, DAEMON: 13, STATS: 14, RATE: 15,
  THRESHOLDS: 16, PERSISTENTCONN: 17, NOSORT: 18, SYNCID: 19, EXACT: 20, ONEPACKET: 21, PE: 22,
  SCHED_FLAGS: 23, MCAST_GROUP: 24, MCAST_PORT: 25, MCAST_TTL: 26, SYNC_MAXLEN: 27, TUN_INFO: 28,
  TUN_TYPE: 29, TUN_PORT: 30, TUN_NOCSUM: 31, TUN_CSUM: 32, TUN_REMCSUM: 33,
} as const;
const OPT_NAMES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout', 'daemon', 'stats',
  'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe', 'sched-flags', 'mcast-group',
  'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
];
export const optBit = (c: number): bigint => 1n << BigInt(c);

// Legal command/option combinations: '+' required, 'x' illegal, '1' at most one of them, ' ' optional.
// Columns follow OPTC; rows follow CMD (1-based).
const COMMANDS_V_OPTIONS = [
  /* ADD     */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx',
  /* EDIT    */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx',
  /* DEL     */ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* FLUSH   */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* LIST    */ ' 11xxxxxxxxx11       xxxxxxx xxxxx',
  /* ADDSRV  */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     ',
  /* DELSRV  */ 'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* EDITSRV */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     ',
  /* TIMEOUT */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* STARTD  */ 'xxxxxxxxxxx xxxxxxx xxxx    xxxxxx',
  /* STOPD   */ 'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx',
  /* RESTORE */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* SAVE    */ ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* ZERO    */ 'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
];

/** Printing format flags (FMT_*). */
export const FMT = {
  NUMERIC: 0x1, RULE: 0x2, STATS: 0x4, RATE: 0x8, THRESHOLDS: 0x10, PERSISTENTCONN: 0x20, NOSORT: 0x40,
  EXACT: 0x80, TUN_INFO: 0x100,
} as const;

export const IPPROTO = { IP: 0, TCP: 6, UDP: 17, SCTP: 132 } as const;
export const AF = { INET: 2, INET6: 10 } as const;
export const SVC_F = { PERSISTENT: 0x1, ONEPACKET: 0x4, SCHED1: 0x8, SCHED2: 0x10, SCHED3: 0x20 } as const;
export const CONN_F = { MASQ: 0, LOCALNODE: 1, TUNNEL: 2, DROUTE: 3 } as const;
const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 0x7fffffff;

/** A virtual service as ipvsadm's parser fills it. */
export interface SvcSpec {
  af: number;
  protocol: number;
  /** 16 bytes; IPv4 in the first four. */
  addr: Uint8Array;
  port: number;
  fwmark: number;
  flags: number;
  timeout: number;
  /** IPv4: the mask as a 32-bit number (network order value); IPv6: a prefix length. */
  netmask: number;
  scheduler: string;
  pe: string;
}

export interface DestSpec {
  af: number;
  addr: Uint8Array;
  port: number;
  connFlags: number;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: number;
  tunPort: number;
  tunFlags: number;
}

export interface DaemonSpec {
  state: 'master' | 'backup' | null;
  mcastIfn: string;
  syncId: number;
  mcastGroup: string | null;
  mcastPort: number;
  mcastTtl: number;
  syncMaxLen: number;
}

export interface ParsedCommand {
  cmd: number;
  options: bigint;
  format: number;
  svc: SvcSpec;
  dest: DestSpec;
  daemon: DaemonSpec;
  timeouts: { tcp: number; tcpFin: number; udp: number } | null;
}

/** Name lookups the parser needs: gethostbyname (IPv4) and getservbyname. */
export interface Lookups {
  hostToAddr4(name: string): Promise<Uint8Array | null>;
  serviceToPort(name: string, proto: 'tcp' | 'udp' | 'sctp'): number | null;
}

/** strtol(s, 10) accepted whole and within [min, max], else -1 (string_to_number). */
export function stringToNumber(s: string, min: number, max: number): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(s);
  if (!m) return -1;
  const n = Number(m[1] === '-' ? -BigInt(m[2]!) : BigInt(m[2]!));
  return n >= min && n <= max ? n : -1;
}

const strIsDigit = (s: string) => /^[0-9]*$/.test(s);

const SERVICE_ADDR = 1;
const SERVICE_PORT = 2;

const protoName = (p: number): 'tcp' | 'udp' | 'sctp' | null =>
  p === IPPROTO.TCP ? 'tcp' : p === IPPROTO.UDP ? 'udp' : p === IPPROTO.SCTP ? 'sctp' : null;

/** parse_service: host[:port], [ipv6]:port or a bare IPv6 address; returns SERVICE_* bits. */
export async function parseService(buf: string, svc: { af: number; addr: Uint8Array; port: number; netmask: number; protocol: number }, lk: Lookups): Promise<number> {
  if (strIsDigit(buf)) return 0;
  let text = buf;
  let portText: string | null = null;
  if (text[0] === '[') {
    text = text.slice(1);
    const close = text.indexOf(']');
    if (close < 0) return 0;
    const after = text.slice(close + 1);
    text = text.slice(0, close);
    if (after[0] !== ':') return 0;
    portText = after.slice(1);
  }
  const v6 = inetPton6(text);
  if (v6) {
    svc.addr = v6;
    svc.af = AF.INET6;
    svc.netmask = 128;
  } else {
    // The bracket form's port is forgotten here when the address is not IPv6 (as in ipvsadm).
    const colon = text.lastIndexOf(':');
    portText = colon >= 0 ? text.slice(colon + 1) : null;
    if (colon >= 0) text = text.slice(0, colon);
    const v4 = inetAton(text) ?? (await lk.hostToAddr4(text));
    if (!v4) return 0;
    const a = new Uint8Array(16);
    a.set(v4);
    svc.addr = a;
    svc.af = AF.INET;
  }
  let result = SERVICE_ADDR;
  if (portText !== null) {
    result |= SERVICE_PORT;
    let n = stringToNumber(portText, 0, 65535);
    if (n === -1) {
      const proto = protoName(svc.protocol);
      n = proto ? (lk.serviceToPort(portText, proto) ?? -1) : -1;
    }
    if (n === -1) return 0;
    svc.port = n;
  }
  return result;
}

function newSvc(): SvcSpec {
  return { af: 0, protocol: 0, addr: new Uint8Array(16), port: 0, fwmark: 0, flags: 0, timeout: 0, netmask: 0xffffffff, scheduler: '', pe: '' };
}

/** Parse ipvsadm's argv (without the program name) and apply its checks; throws IpvsadmExit. */
export async function parseCommand(argv: readonly string[], prog: string, lk: Lookups, posixlyCorrect = false): Promise<ParsedCommand> {
  const ce: ParsedCommand = {
    cmd: CMD.NONE,
    options: 0n,
    format: 0,
    svc: newSvc(),
    dest: { af: 0, addr: new Uint8Array(16), port: 0, connFlags: CONN_F.DROUTE, weight: 1, uThreshold: 0, lThreshold: 0, tunType: 0, tunPort: 0, tunFlags: 0 },
    daemon: { state: null, mcastIfn: '', syncId: 0, mcastGroup: null, mcastPort: 0, mcastTtl: 0, syncMaxLen: 0 },
    timeouts: null,
  };
  const popt = new Popt(argv, OPTIONS, posixlyCorrect);
  const setOption = (c: number) => {
    const bit = optBit(c);
    if (ce.options & bit) throw fail(`multiple '${OPT_NAMES[c]}' options specified`);
    ce.options |= bit;
  };
  let schedFlagsArg = '';

  const first = popt.getNextOpt();
  if (first.kind !== 'option') throw tryHelp(prog);
  const daemonState = (arg: string, msg: string) => {
    if (arg === 'master') ce.daemon.state = 'master';
    else if (arg === 'backup') ce.daemon.state = 'backup';
    else throw fail(msg);
  };
  switch (first.val) {
    case 'A': ce.cmd = CMD.ADD; break;
    case 'E': ce.cmd = CMD.EDIT; break;
    case 'D': ce.cmd = CMD.DEL; break;
    case 'a': ce.cmd = CMD.ADDDEST; break;
    case 'e': ce.cmd = CMD.EDITDEST; break;
    case 'd': ce.cmd = CMD.DELDEST; break;
    case 'C': ce.cmd = CMD.FLUSH; break;
    case 'L': case 'l': ce.cmd = CMD.LIST; break;
    case 'Z': ce.cmd = CMD.ZERO; break;
    case 'set': ce.cmd = CMD.TIMEOUT; break;
    case 'R': ce.cmd = CMD.RESTORE; break;
    case 'S': ce.cmd = CMD.SAVE; break;
    case 'start-daemon': ce.cmd = CMD.STARTDAEMON; daemonState(first.arg!, 'illegal start-daemon parameter specified'); break;
    case 'stop-daemon': ce.cmd = CMD.STOPDAEMON; daemonState(first.arg!, 'illegal start_daemon specified'); break;
    default: throw tryHelp(prog); // -h and -v are answered before parsing
  }

  for (;;) {
    const r = popt.getNextOpt();
    if (r.kind === 'end') break;
    if (r.kind === 'error') {
      throw new IpvsadmExit(255, `${popt.badOption()}: ${POPT_MESSAGES[r.code]}\n`);
    }
    const arg = r.arg;
    switch (r.val) {
      case 't': case 'u': case 'sctp-service': {
        setOption(OPTC.SERVICE);
        ce.svc.protocol = r.val === 't' ? IPPROTO.TCP : r.val === 'u' ? IPPROTO.UDP : IPPROTO.SCTP;
        const parse = await parseService(arg!, ce.svc, lk);
        if (!(parse & SERVICE_ADDR)) throw fail('illegal virtual server address[:port] specified');
        break;
      }
      case 'f':
        setOption(OPTC.SERVICE);
        ce.svc.af = AF.INET;
        ce.svc.protocol = IPPROTO.TCP;
        ce.svc.fwmark = parseFwmark(arg!);
        break;
      case 's':
        setOption(OPTC.SCHEDULER);
        ce.svc.scheduler = arg!.slice(0, 15);
        break;
      case 'p':
        setOption(OPTC.PERSISTENT);
        ce.svc.flags |= SVC_F.PERSISTENT;
        ce.svc.timeout = parseTimeout(arg, 1, MAX_TIMEOUT);
        break;
      case 'M':
        setOption(OPTC.NETMASK);
        if (ce.svc.af !== AF.INET6) {
          const m = inetAton(arg!) ?? (await lk.hostToAddr4(arg!));
          if (!m) throw fail('illegal virtual server persistent mask specified');
          ce.svc.netmask = ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | m[3]!) >>> 0;
        } else {
          const n = atoi(arg!);
          if (n < 1 || n > 128) throw fail('illegal ipv6 netmask specified');
          ce.svc.netmask = n;
        }
        break;
      case 'r': {
        setOption(OPTC.SERVER);
        const t = { ...ce.svc, addr: ce.svc.addr };
        const parse = await parseService(arg!, t, lk);
        ce.dest.af = t.af;
        ce.dest.addr = t.addr;
        ce.dest.port = t.port;
        if (!(parse & SERVICE_ADDR)) throw fail('illegal real server address[:port] specified');
        if (parse === SERVICE_ADDR) ce.dest.port = ce.svc.port;
        break;
      }
      case 'i': setOption(OPTC.FORWARD); ce.dest.connFlags = CONN_F.TUNNEL; break;
      case 'g': setOption(OPTC.FORWARD); ce.dest.connFlags = CONN_F.DROUTE; break;
      case 'm': setOption(OPTC.FORWARD); ce.dest.connFlags = CONN_F.MASQ; break;
      case 'w':
        setOption(OPTC.WEIGHT);
        if ((ce.dest.weight = stringToNumber(arg!, 0, 65535)) === -1) throw fail('illegal weight specified');
        break;
      case 'x':
        setOption(OPTC.UTHRESHOLD);
        if ((ce.dest.uThreshold = stringToNumber(arg!, 0, INT_MAX)) === -1) throw fail('illegal u_threshold specified');
        break;
      case 'y':
        setOption(OPTC.LTHRESHOLD);
        if ((ce.dest.lThreshold = stringToNumber(arg!, 0, INT_MAX)) === -1) throw fail('illegal l_threshold specified');
        break;
      case 'c': setOption(OPTC.CONNECTION); break;
      case 'n': setOption(OPTC.NUMERIC); ce.format |= FMT.NUMERIC; break;
      case 'mcast-interface': setOption(OPTC.MCAST); ce.daemon.mcastIfn = arg!.slice(0, 15); break;
      case 'I':
        setOption(OPTC.SYNCID);
        if ((ce.daemon.syncId = stringToNumber(arg!, 0, 255)) === -1) throw fail('illegal syncid specified');
        break;
      case 'timeout': setOption(OPTC.TIMEOUT); break;
      case 'daemon': setOption(OPTC.DAEMON); break;
      case 'stats': setOption(OPTC.STATS); ce.format |= FMT.STATS; break;
      case 'rate': setOption(OPTC.RATE); ce.format |= FMT.RATE; break;
      case 'thresholds': setOption(OPTC.THRESHOLDS); ce.format |= FMT.THRESHOLDS; break;
      case 'persistent-conn': setOption(OPTC.PERSISTENTCONN); ce.format |= FMT.PERSISTENTCONN; break;
      case 'nosort': setOption(OPTC.NOSORT); ce.format |= FMT.NOSORT; break;
      case 'sort': break;
      case 'X': setOption(OPTC.EXACT); ce.format |= FMT.EXACT; break;
      case '6':
        if (ce.svc.fwmark) {
          ce.svc.af = AF.INET6;
          ce.svc.netmask = 128;
        } else {
          throw fail('-6 used before -f\n');
        }
        break;
      case 'o': setOption(OPTC.ONEPACKET); ce.svc.flags |= SVC_F.ONEPACKET; break;
      case 'pe': setOption(OPTC.PE); ce.svc.pe = arg!.slice(0, 16); break;
      case 'b': setOption(OPTC.SCHED_FLAGS); schedFlagsArg = arg!.slice(0, 127); break;
      case 'mcast-group':
        setOption(OPTC.MCAST_GROUP);
        if (arg!.includes(':')) {
          const g = inetPton6(arg!);
          if (!g || g[0] !== 0xff) throw fail(`invalid IPv6 mcast-group \`${arg}'`);
        } else {
          const g = inetPton4(arg!);
          if (!g || (g[0]! & 0xf0) !== 0xe0) throw fail(`invalid IPv4 mcast-group \`${arg}'`);
        }
        ce.daemon.mcastGroup = arg!;
        break;
      case 'mcast-port': {
        setOption(OPTC.MCAST_PORT);
        const n = stringToNumber(arg!, 1, 65535);
        if (n === -1) throw fail('illegal mcast-port specified');
        ce.daemon.mcastPort = n;
        break;
      }
      case 'mcast-ttl': {
        setOption(OPTC.MCAST_TTL);
        const n = stringToNumber(arg!, 1, 255);
        if (n === -1) throw fail('illegal mcast-ttl specified');
        ce.daemon.mcastTtl = n;
        break;
      }
      case 'sync-maxlen': {
        setOption(OPTC.SYNC_MAXLEN);
        const n = stringToNumber(arg!, 1, 65535 - 20 - 8);
        if (n === -1) throw fail('illegal sync-maxlen specified');
        ce.daemon.syncMaxLen = n;
        break;
      }
      case 'tun-info': setOption(OPTC.TUN_INFO); ce.format |= FMT.TUN_INFO; break;
      case 'tun-type': {
        setOption(OPTC.TUN_TYPE);
        const t = ['ipip', 'gue', 'gre'].indexOf(arg!);
        if (t < 0) throw fail('illegal tunnel type specified');
        ce.dest.tunType = t;
        break;
      }
      case 'tun-port': {
        setOption(OPTC.TUN_PORT);
        const n = stringToNumber(arg!, 1, 65535);
        if (n === -1) throw fail('illegal tunnel port specified');
        ce.dest.tunPort = n;
        break;
      }
      case 'tun-nocsum': setOption(OPTC.TUN_NOCSUM); break;
      case 'tun-csum': setOption(OPTC.TUN_CSUM); ce.dest.tunFlags |= 1; break;
      case 'tun-remcsum': setOption(OPTC.TUN_REMCSUM); ce.dest.tunFlags |= 2; break;
      default:
        throw fail(`invalid option \`${popt.badOption()}'`);
    }
  }

  if (ce.cmd === CMD.TIMEOUT) {
    const a = popt.getArg();
    const b = a !== null ? popt.getArg() : null;
    const c = b !== null ? popt.getArg() : null;
    if (a === null || b === null || c === null) throw fail('--set option requires 3 timeout values');
    ce.timeouts = { tcp: parseTimeout(a, 0, MAX_TIMEOUT), tcpFin: parseTimeout(b, 0, MAX_TIMEOUT), udp: parseTimeout(c, 0, MAX_TIMEOUT) };
  }
  const extra = popt.getArg();
  if (extra !== null) throw fail(`unexpected argument ${extra}`);

  if (schedFlagsArg) {
    ce.svc.flags &= ~(SVC_F.SCHED1 | SVC_F.SCHED2 | SVC_F.SCHED3);
    ce.svc.flags |= parseSchedFlags(ce.svc.scheduler, schedFlagsArg);
  }

  genericOptCheck(ce.cmd, ce.options);

  if (ce.cmd === CMD.LIST) {
    const o = ce.options;
    const any = (...cs: number[]) => cs.some((c) => (o & optBit(c)) !== 0n);
    if ((any(OPTC.CONNECTION, OPTC.TIMEOUT, OPTC.DAEMON) && any(OPTC.STATS, OPTC.RATE, OPTC.THRESHOLDS))
      || (any(OPTC.TIMEOUT, OPTC.DAEMON) && any(OPTC.PERSISTENTCONN))) {
      throw fail('options conflicts in the list command');
    }
  }
  return ce;
}

/** generic_opt_check: the command/option table. */
export function genericOptCheck(cmd: number, options: bigint): void {
  const row = COMMANDS_V_OPTIONS[cmd - 1]!;
  let last = 0;
  let count = 0;
  for (let j = 0; j < OPT_NAMES.length; j++) {
    const rule = row[j];
    if (!(options & optBit(j))) {
      if (rule === '+') throw fail(`You need to supply the '${OPT_NAMES[j]}' option for the '${CMD_NAMES[cmd - 1]}' command`);
    } else {
      if (rule === 'x') throw fail(`Illegal '${OPT_NAMES[j]}' option with the '${CMD_NAMES[cmd - 1]}' command`);
      if (rule === '1') {
        count++;
        if (count === 1) {
          last = j;
          continue;
        }
        throw fail(`The option '${OPT_NAMES[j]}' conflicts with the '${OPT_NAMES[last]}' option in the '${CMD_NAMES[cmd - 1]}' command`);
      }
    }
  }
}

function parseTimeout(buf: string | null, min: number, max: number): number {
  if (buf === null) return 300;
  const i = stringToNumber(buf, min, max);
  if (i === -1) throw fail(`invalid timeout value \`${buf}' specified`);
  return i;
}

function parseFwmark(buf: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(buf);
  const v = m ? (m[1] === '-' ? -BigInt(m[2]!) : BigInt(m[2]!)) : 0n;
  // strtol into a long: out of range is ERANGE; then 1..UINT_MAX.
  if (!m || v <= 0n || v > 0xffffffffn) throw fail(`invalid fwmark value \`${buf}' specified`);
  return Number(v);
}

function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  return m ? Number(BigInt.asIntN(32, BigInt(m[1]!))) : 0;
}

function parseSchedFlags(sched: string, arg: string): number {
  const s = sched || 'wlc';
  let flags = 0;
  const parts = arg.split(',').filter((p) => p !== '');
  for (const flag of parts.length ? parts : ['']) {
    const need = (name: string) => {
      if (s !== name) throw fail(`incompatible scheduler flag \`${flag}'`);
    };
    switch (flag) {
      case 'flag-1': flags |= SVC_F.SCHED1; break;
      case 'flag-2': flags |= SVC_F.SCHED2; break;
      case 'flag-3': flags |= SVC_F.SCHED3; break;
      case 'sh-fallback': flags |= SVC_F.SCHED1; need('sh'); break;
      case 'sh-port': flags |= SVC_F.SCHED2; need('sh'); break;
      case 'mh-fallback': flags |= SVC_F.SCHED1; need('mh'); break;
      case 'mh-port': flags |= SVC_F.SCHED2; need('mh'); break;
      default: throw fail(`invalid scheduler flag \`${flag}'`);
    }
  }
  return flags;
}

export { OPT_NAMES, CMD_NAMES, OPTIONS };
