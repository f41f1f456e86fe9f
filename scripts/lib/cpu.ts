// CPU time as the benchmarks count it: this process' threads (process.cpuUsage: the main thread, libuv's
// pool, V8's helpers) and the children it has waited for (iptables-save/-restore, ipset), which
// process.cpuUsage does not see.
import { readdirSync, readFileSync } from 'node:fs';

/** A process.cpuUsage() difference in ms (user + system). */
export const cpuMs = (u: NodeJS.CpuUsage): number => Math.round((u.user + u.system) / 1000);

/** A /proc stat file's fields after the command name, in ms where they are clock ticks (10 ms: USER_HZ = 100):
 * [11] utime, [12] stime, [13] cutime, [14] cstime. */
const statTicksMs = (text: string) => text.split(') ')[1]!.split(' ').map((v) => Number(v) * 10);

/** CPU time of waited-for children so far: /proc/self/stat cutime + cstime, in ms. */
export function childCpuMs(): number {
  const f = statTicksMs(readFileSync('/proc/self/stat', 'utf8'));
  return f[13]! + f[14]!;
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
    const f = statTicksMs(stat);
    const user = f[11]!, sys = f[12]!;
    if (Number(tid) === process.pid) { r.mainUser += user; r.mainSys += sys; } else { r.otherUser += user; r.otherSys += sys; }
  }
  return r;
}

export const threadCpuSince = (a: ThreadCpu, b: ThreadCpu = threadCpuMs()): ThreadCpu => ({
  mainUser: b.mainUser - a.mainUser, mainSys: b.mainSys - a.mainSys, otherUser: b.otherUser - a.otherUser, otherSys: b.otherSys - a.otherSys,
});
