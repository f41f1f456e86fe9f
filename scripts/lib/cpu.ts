// CPU time as the benchmarks count it: this process' threads (process.cpuUsage: the main thread, libuv's
// pool, V8's helpers) and the children it has waited for (iptables-save/-restore, ipset), which
// process.cpuUsage does not see.
import { readdirSync, readFileSync } from 'node:fs';

/** A process.cpuUsage() difference in ms (user + system). */
export const cpuMs = (u: NodeJS.CpuUsage): number => Math.round((u.user + u.system) / 1000);

/** CPU time of waited-for children so far: /proc/self/stat cutime + cstime, in ms. */
export function childCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[13]) + Number(f[14])) * 10; // clock ticks of 10 ms (USER_HZ = 100)
}

/** CPU time so far by thread, ms: the main thread (JavaScript, and the system calls it makes itself) and
 * the others (libuv's pool doing the netlink sends, V8's helpers: GC, compiles), each as user and system.
 * Node 20 does not name its threads, so only the main one (tid = pid) can be told apart. */
export interface ThreadCpu { mainUser: number; mainSys: number; otherUser: number; otherSys: number }

export function threadCpuMs(): ThreadCpu {
  const r: ThreadCpu = { mainUser: 0, mainSys: 0, otherUser: 0, otherSys: 0 };
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try { stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'); } catch { continue; } // the thread ended
    const f = stat.split(') ')[1]!.split(' ');
    const user = Number(f[11]) * 10, sys = Number(f[12]) * 10;
    if (Number(tid) === process.pid) { r.mainUser += user; r.mainSys += sys; } else { r.otherUser += user; r.otherSys += sys; }
  }
  return r;
}

export const threadCpuSince = (a: ThreadCpu, b: ThreadCpu = threadCpuMs()): ThreadCpu => ({
  mainUser: b.mainUser - a.mainUser, mainSys: b.mainSys - a.mainSys, otherUser: b.otherUser - a.otherUser, otherSys: b.otherSys - a.otherSys,
});
