// Runs a parsed ipvsadm command against the kernel: opens IPVS the way ipvsadm does (trying
// /sbin/modprobe ip_vs once when the kernel has none), then lists, saves, zeroes, flushes or sets
// timeouts, printing what ipvsadm prints.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { formatAddress } from '../../netlink/address.js';
import { IpvsClient, IpvsUnavailableError } from '../../ipvs/client.js';
import { KernelError } from '../../netlink/connection.js';
import type { ServiceKey, IpvsInfo } from '../../ipvs/types.js';
import { parseCommand, IpvsadmExit, CMD, OPTC, FMT, AF, IPPROTO, optBit, type ParsedCommand, type SvcSpec } from './args.js';
import { HostNames, systemLookups } from './names.js';
import { listAll, listService, timeoutLine, daemonLines, type TableEntry, type NameSource } from './format.js';
import { CONN_PROC_FILE, parseConnTable, connHeader, connLine } from './conn.js';
import { servicesJson, servicesWide, connectionsJson, connectionsWide, timeoutJson, daemonsJson } from './output.js';
import type { Io, OutputMode } from './main.js';

const MIN_IPVS_VERSION = (1 << 16) | (2 << 8) | 0;

/** ipvs_strerror for the calls a listing makes: the kernel's errno, in ipvsadm's words. */
function ipvsStrerror(err: unknown, what: 'get' | 'zero' | 'other'): string {
  if (!(err instanceof KernelError)) return err instanceof Error ? err.message : String(err);
  switch (err.code) {
    case 'ESRCH': return what === 'other' ? 'No such process' : 'No such service';
    case 'EPERM': return 'Permission denied (you must be root)';
    case 'EINVAL': return 'Invalid operation.  Possibly wrong module version, address not unicast, ...';
    case 'ENOPROTOOPT': return 'Protocol not available';
    case 'ENOMEM': return 'Memory allocation problem';
    case 'EOPNOTSUPP': return 'Operation not supported with IPv6';
    case 'EAFNOSUPPORT': return 'Operation not supported with specified address family';
    case 'EMSGSIZE': return 'Module is wrong version';
    default: return err.message;
  }
}

function openIpvs(): IpvsClient | null {
  try {
    return IpvsClient.open();
  } catch (err) {
    if (!(err instanceof IpvsUnavailableError)) throw err;
  }
  const r = spawnSync('/sbin/modprobe', ['--', 'ip_vs'], { stdio: 'ignore' });
  if (r.status !== 0) return null;
  try {
    return IpvsClient.open();
  } catch (err) {
    if (err instanceof IpvsUnavailableError) return null;
    throw err;
  }
}

export function serviceKeyOf(svc: SvcSpec): ServiceKey {
  const family = svc.af === AF.INET6 ? 'inet6' as const : 'inet' as const;
  if (svc.fwmark) return { family, fwmark: svc.fwmark };
  const protocol = svc.protocol === IPPROTO.UDP ? 'udp' as const : svc.protocol === IPPROTO.SCTP ? 'sctp' as const : 'tcp' as const;
  return { family, protocol, address: formatAddress(svc.addr.subarray(0, family === 'inet' ? 4 : 16), family), port: svc.port };
}

const NUMERIC_NAMES: NameSource = { name: (a) => a };

async function resolveTable(table: TableEntry[], format: number, mode: OutputMode): Promise<NameSource> {
  if (format & FMT.NUMERIC) return NUMERIC_NAMES;
  const hosts = new HostNames();
  for (const e of table) {
    if (!e.service.fwmark && e.service.address) hosts.want(e.service.address);
    // The save format and the JSON name every server too; so does every text view.
    for (const d of e.servers) hosts.want(d.address);
  }
  void mode;
  await hosts.settle();
  return hosts;
}

export async function execute(argv: string[], mode: OutputMode, io: Io): Promise<number> {
  let client: IpvsClient | null;
  client = openIpvs();
  if (!client) {
    io.err("Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n");
    return 2;
  }
  try {
    const info = client.info();
    if (info.versionCode < MIN_IPVS_VERSION) {
      const v = (c: number) => `${(c >> 16) & 0xff}.${(c >> 8) & 0xff}.${c & 0xff}`;
      io.err(`Warning: IPVS version mismatch: \n  Kernel compiled with IPVS version ${v(info.versionCode)}\n  ipvsadm v1.31  requires minimum IPVS version 1.2.0\n\n`);
    }
    let ce: ParsedCommand;
    if (argv.length === 0) {
      return await list(client, info, { cmd: CMD.LIST, options: 0n, format: 0 } as ParsedCommand, mode, io);
    }
    try {
      ce = await parseCommand(argv, io.prog, systemLookups, io.posixlyCorrect);
    } catch (err) {
      if (err instanceof IpvsadmExit) {
        if (err.stdout) io.out(err.stdout);
        io.err(err.stderr);
        return err.code;
      }
      throw err;
    }
    switch (ce.cmd) {
      case CMD.LIST:
        return await list(client, info, ce, mode, io);
      case CMD.SAVE: {
        const table = client.dump({ stats: false });
        const names = await resolveTable(table, ce.format, mode);
        io.out(listAll(info, table, ce.format | FMT.RULE, names));
        return 0;
      }
      case CMD.FLUSH:
        return simple(io, () => client!.flush(), 'other');
      case CMD.ZERO:
        return simple(io, () => client!.zero(ce.options & optBit(OPTC.SERVICE) ? serviceKeyOf(ce.svc) : undefined), 'zero');
      case CMD.TIMEOUT:
        return simple(io, () => client!.setTimeouts(ce.timeouts!), 'other');
      default:
        io.err(`${io.prog}: this command is not supported by kipvs (it lists, saves, zeroes, flushes and sets timeouts); use ipvsadm to edit the table\n`);
        return 2;
    }
  } finally {
    client.close();
  }
}

function simple(io: Io, fn: () => void, what: 'zero' | 'other'): number {
  try {
    fn();
    return 0;
  } catch (err) {
    io.err(`${ipvsStrerror(err, what)}\n`);
    return 255;
  }
}

async function list(client: IpvsClient, info: IpvsInfo, ce: ParsedCommand, mode: OutputMode, io: Io): Promise<number> {
  const o = ce.options;
  const format = ce.format;
  if (o & optBit(OPTC.CONNECTION)) {
    let text: string;
    try {
      text = readFileSync(io.connFile ?? CONN_PROC_FILE, 'latin1');
    } catch {
      io.err(`cannot open file ${CONN_PROC_FILE}\n`);
      return 1;
    }
    if (text === '') {
      io.err(`unexpected input from ${CONN_PROC_FILE}\n`);
      return 1;
    }
    const conns = parseConnTable(text);
    let names: NameSource = NUMERIC_NAMES;
    if (!(format & FMT.NUMERIC)) {
      const hosts = new HostNames();
      for (const c of conns) {
        hosts.want(c.client.address);
        hosts.want(c.virtual.address);
        hosts.want(c.destination.address);
      }
      await hosts.settle();
      names = hosts;
    }
    if (mode === 'json') io.out(connectionsJson(conns, format, names));
    else if (mode === 'wide') io.out(connectionsWide(conns, format, names));
    else io.out(connHeader(format) + conns.map((c) => connLine(c, format, names)).join(''));
    return 0;
  }
  const stats = (format & (FMT.STATS | FMT.RATE)) !== 0 || mode !== 'text';
  if (o & optBit(OPTC.SERVICE)) {
    const key = serviceKeyOf(ce.svc);
    let entry: TableEntry;
    try {
      const service = client.getService(key);
      if (!service) {
        io.err('No such service\n');
        return 1;
      }
      entry = { service, servers: stats ? client.servers(key) : client.servers(key, { stats: false }) };
    } catch (err) {
      io.err(`${ipvsStrerror(err, 'get')}\n`);
      return 1;
    }
    const names = await resolveTable([entry], format, mode);
    if (mode === 'json') io.out(servicesJson(null, [entry], format, names));
    else if (mode === 'wide') io.out(servicesWide([entry], format, names));
    else io.out(listService(entry, format, names));
    return 0;
  }
  if (o & optBit(OPTC.TIMEOUT)) {
    const t = client.timeouts();
    io.out(mode === 'json' ? timeoutJson(t) : timeoutLine(t));
    return 0;
  }
  if (o & optBit(OPTC.DAEMON)) {
    const d = client.daemons();
    io.out(mode === 'json' ? daemonsJson(d) : daemonLines(d));
    return 0;
  }
  let table: TableEntry[];
  try {
    table = stats ? client.dump() : client.dump({ stats: false });
  } catch (err) {
    if (mode === 'text' && !(format & FMT.RULE)) io.out(`IP Virtual Server version ${info.version} (size=${info.connTableSize})\n`);
    io.err(`${ipvsStrerror(err, 'get')}\n`);
    return 1;
  }
  const names = await resolveTable(table, format, mode);
  if (mode === 'json') io.out(servicesJson(info, table, format, names));
  else if (mode === 'wide') io.out(servicesWide(table, format, names));
  else io.out(listAll(info, table, format, names));
  return 0;
}
