// CPU time as the benchmarks count it: this process' threads (process.cpuUsage: the main thread, libuv's
// pool, V8's helpers) and the children it has waited for (iptables-save/-restore, ipset), which
// process.cpuUsage does not see.
import { readFileSync } from 'node:fs';

/** A process.cpuUsage() difference in ms (user + system). */
export const cpuMs = (u: NodeJS.CpuUsage): number => Math.round((u.user + u.system) / 1000);

/** CPU time of waited-for children so far: /proc/self/stat cutime + cstime, in ms. */
export function childCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[13]) + Number(f[14])) * 10; // clock ticks of 10 ms (USER_HZ = 100)
}
