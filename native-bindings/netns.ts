// The FFI surface for network namespaces: libc's setns(2), through koffi. Nothing but the binding
// lives here; which namespace to enter, and coming back, is src/netlink/netns.ts's business.
import koffi from 'koffi';

/** clone(2)'s flag naming the network namespace type (linux/sched.h). */
export const CLONE_NEWNET = 0x40000000;

let setnsFn: ((fd: number, nstype: number) => number) | undefined;

/**
 * Move the calling thread into the namespace open on `fd` (setns(2)). Throws an Error carrying the
 * errno's number (`errno`) when the kernel refuses.
 */
export function setns(fd: number, nstype: number): void {
  setnsFn ??= koffi.load('libc.so.6').func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;
  if (setnsFn(fd, nstype) !== 0) {
    const errno = koffi.errno();
    throw Object.assign(new Error(`setns(${fd}, ${nstype === CLONE_NEWNET ? 'CLONE_NEWNET' : nstype}) failed (errno ${errno})`), { errno });
  }
}
