// ipvsadm 1.31's option table (popt order matters: short options resolve to the first match) and the
// first-option check that answers -h and -v. Imports nothing else, so -h/-v start fast.
import { Popt, type OptionDef } from './popt.js';

/** ipvsadm's option table, in its order (short options are looked up first match). */
export const OPTIONS: readonly OptionDef[] = [
  { long: 'add-service', short: 'A', arg: 'none', val: 'A' },
  { long: 'edit-service', short: 'E', arg: 'none', val: 'E' },
  { long: 'delete-service', short: 'D', arg: 'none', val: 'D' },
  { long: 'clear', short: 'C', arg: 'none', val: 'C' },
  { long: 'list', short: 'L', arg: 'none', val: 'L' },
  { long: 'list', short: 'l', arg: 'none', val: 'l' },
  { long: 'zero', short: 'Z', arg: 'none', val: 'Z' },
  { long: 'add-server', short: 'a', arg: 'none', val: 'a' },
  { long: 'edit-server', short: 'e', arg: 'none', val: 'e' },
  { long: 'delete-server', short: 'd', arg: 'none', val: 'd' },
  { long: 'set', arg: 'none', val: 'set' },
  { long: 'help', short: 'h', arg: 'none', val: 'h' },
  { long: 'version', short: 'v', arg: 'none', val: 'v' },
  { long: 'restore', short: 'R', arg: 'none', val: 'R' },
  { long: 'save', short: 'S', arg: 'none', val: 'S' },
  { long: 'start-daemon', arg: 'string', val: 'start-daemon' },
  { long: 'stop-daemon', arg: 'string', val: 'stop-daemon' },
  { long: 'tcp-service', short: 't', arg: 'string', val: 't' },
  { long: 'udp-service', short: 'u', arg: 'string', val: 'u' },
  { long: 'sctp-service', arg: 'string', val: 'sctp-service' },
  { long: 'fwmark-service', short: 'f', arg: 'string', val: 'f' },
  { long: 'scheduler', short: 's', arg: 'string', val: 's' },
  { long: 'persistent', short: 'p', arg: 'optional', val: 'p' },
  { long: 'netmask', short: 'M', arg: 'string', val: 'M' },
  { long: 'real-server', short: 'r', arg: 'string', val: 'r' },
  { long: 'masquerading', short: 'm', arg: 'none', val: 'm' },
  { long: 'ipip', short: 'i', arg: 'none', val: 'i' },
  { long: 'gatewaying', short: 'g', arg: 'none', val: 'g' },
  { long: 'weight', short: 'w', arg: 'string', val: 'w' },
  { long: 'u-threshold', short: 'x', arg: 'string', val: 'x' },
  { long: 'l-threshold', short: 'y', arg: 'string', val: 'y' },
  { long: 'numeric', short: 'n', arg: 'none', val: 'n' },
  { long: 'connection', short: 'c', arg: 'none', val: 'c' },
  { long: 'mcast-interface', arg: 'string', val: 'mcast-interface' },
  { long: 'syncid', arg: 'string', val: 'I' },
  { long: 'timeout', arg: 'none', val: 'timeout' },
  { long: 'daemon', arg: 'none', val: 'daemon' },
  { long: 'stats', arg: 'none', val: 'stats' },
  { long: 'rate', arg: 'none', val: 'rate' },
  { long: 'thresholds', arg: 'none', val: 'thresholds' },
  { long: 'persistent-conn', arg: 'none', val: 'persistent-conn' },
  { long: 'nosort', arg: 'none', val: 'nosort' },
  { long: 'sort', arg: 'none', val: 'sort' },
  { long: 'exact', short: 'X', arg: 'none', val: 'X' },
  { long: 'ipv6', short: '6', arg: 'none', val: '6' },
  { long: 'ops', short: 'o', arg: 'none', val: 'o' },
  { long: 'pe', arg: 'string', val: 'pe' },
  { long: 'sched-flags', short: 'b', arg: 'string', val: 'b' },
  { long: 'mcast-group', arg: 'string', val: 'mcast-group' },
  { long: 'mcast-port', arg: 'string', val: 'mcast-port' },
  { long: 'mcast-ttl', arg: 'string', val: 'mcast-ttl' },
  { long: 'sync-maxlen', arg: 'string', val: 'sync-maxlen' },
  { long: 'tun-info', arg: 'none', val: 'tun-info' },
  { long: 'tun-type', arg: 'string', val: 'tun-type' },
  { long: 'tun-port', arg: 'string', val: 'tun-port' },
  { long: 'tun-nocsum', arg: 'none', val: 'tun-nocsum' },
  { long: 'tun-csum', arg: 'none', val: 'tun-csum' },
  { long: 'tun-remcsum', arg: 'none', val: 'tun-remcsum' },
];

/** The first option decides -h and -v without anything else being looked at (as in ipvsadm). */
export function firstOption(argv: readonly string[], posixlyCorrect = false): string | null {
  const r = new Popt(argv, OPTIONS, posixlyCorrect).getNextOpt();
  return r.kind === 'option' ? r.val : null;
}

