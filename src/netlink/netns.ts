// Opening sockets in another network namespace. A netlink socket stays bound to the namespace it was
// created in, whichever namespace its thread is in later; so, as other netlink libraries' handles do,
// a client can be opened "in" a namespace: the calling thread enters it (setns), creates the socket,
// and returns to the namespace it came from. Namespaces are named by a path: /var/run/netns/NAME (what
// `ip netns add` makes) or /proc/PID/ns/net.
import { openSync, closeSync } from 'node:fs';
import { constants as os } from 'node:os';
import { setns, CLONE_NEWNET } from '../../native-bindings/netns.js';

/** Where to open a kernel client's socket. */
export interface NamespaceOption {
  /** A network namespace's path (/var/run/netns/NAME, /proc/PID/ns/net); the caller's own when unset. */
  netns?: string;
}

/** The calling thread's own network namespace (not the process leader's: setns works per thread). */
const OWN_NAMESPACE = '/proc/thread-self/ns/net';

function errnoName(errno: number): string {
  return Object.entries(os.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
}

function openNamespace(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw new Error(`network namespace ${path}: cannot open it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/** setns into the namespace open on `fd`; `what` names it in the error. */
function enter(fd: number, what: string): void {
  try {
    setns(fd, CLONE_NEWNET);
  } catch (err) {
    const errno = (err as { errno?: number }).errno ?? 0;
    const why = errno === os.errno.EINVAL ? 'not a network namespace' : errno === os.errno.EPERM ? 'it needs CAP_SYS_ADMIN' : 'refused';
    throw new Error(`${what}: cannot enter it: ${why} (${errnoName(errno)})`, { cause: err });
  }
}

/**
 * Move the calling thread into the network namespace at `path`; returns the function that moves it
 * back (and must be called on the same thread). Processes the thread spawns meanwhile start there.
 */
export function enterNetworkNamespace(path: string): () => void {
  const original = openNamespace(OWN_NAMESPACE);
  try {
    const target = openNamespace(path);
    try {
      enter(target, `network namespace ${path}`);
    } finally {
      closeSync(target);
    }
  } catch (err) {
    closeSync(original);
    throw err;
  }
  let returned = false;
  return () => {
    if (returned) return;
    try {
      // Failing here leaves the thread in the other namespace: the error says so.
      enter(original, 'the thread\'s original network namespace');
    } finally {
      returned = true;
      closeSync(original);
    }
  };
}

/** Run `create` with the calling thread in the network namespace at `path` (or here, when unset). */
export function inNetworkNamespace<T>(path: string | undefined, create: () => T): T {
  if (path === undefined) return create();
  const back = enterNetworkNamespace(path);
  try {
    return create();
  } finally {
    back();
  }
}
