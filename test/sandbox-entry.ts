// One node process runs many sandbox test files in turn (node takes seconds to start inside the sandbox;
// scripts/sandbox-lanes.js runs two such processes at once). scripts/test.js passes the compiled test
// files' paths after this module's. Each file is imported
// inside a suite of its own: node:test attaches top-level before/after hooks to the enclosing suite,
// so without one, every file's before() would run ahead of the first file's tests (and one file's
// kernel reset would wipe another's state).
//
// Each file of test/sandbox runs in a fresh network namespace of its own (kt-FILE, loopback up), so
// that no file depends on what another left behind, or on the order they run in: its IPVS table,
// links, addresses, iptables rules, ipsets, conntrack table and per-namespace sysctls start empty.
// The main thread enters it before the file's first hook and leaves it after the file's last one;
// the processes the tests spawn (ipvsadm, ipset, ip, the agent as a process) fork from the main
// thread and start there too, and so do the sockets the tests open. Files listed in
// INITIAL_NAMESPACE stay in the initial namespace, each for the reason given.
//
// Some kernel state is not per namespace: nf_conntrack_max and the conntrack hash size are global, and
// only the initial namespace may write them. An agent started with kube-proxy's defaults writes
// nf_conntrack_max when it differs from max(32768 × CPUs, 131072), which a fresh namespace refuses; so
// before each file the entry sets both (from the initial namespace) as kube-proxy's defaults leave
// them, whatever the file before left.
import { describe, before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import { basename, dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { enterNetworkNamespace } from '../src/netlink/netns.js';

const INITIAL_NAMESPACE: Record<string, string> = {
  'conntrack-sysctls': 'nf_conntrack_max and the hash size are writable only in the initial network namespace',
};

const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The global conntrack limits as kube-proxy's defaults leave them (maxPerCore 32768, min 131072). */
const CONNTRACK_DEFAULTS = `modprobe nf_conntrack
  max=$((32768 * $(nproc --all))); [ $max -lt 131072 ] && max=131072
  echo $max > /proc/sys/net/netfilter/nf_conntrack_max
  h=/sys/module/nf_conntrack/parameters/hashsize; [ $(cat $h) -lt $((max / 4)) ] && echo $((max / 4)) > $h; true`;

/** Give the suite of `name` a fresh network namespace: hooks registered around the file's own. */
function freshNamespace(name: string): { enter(): void; leave(): void } {
  const ns = `kt-${name}`.slice(0, 40);
  let back: (() => void) | undefined;
  return {
    enter() {
      sh(CONNTRACK_DEFAULTS);
      sh(`ip netns del ${ns} 2>/dev/null; ip netns add ${ns} && ip -n ${ns} link set lo up`);
      back = enterNetworkNamespace(`/var/run/netns/${ns}`);
    },
    leave() {
      back?.();
      sh(`ip netns del ${ns}`);
    },
  };
}

const files = process.argv.slice(2).filter((a) => a.endsWith('.test.js'));
for (const f of files) {
  const name = basename(f, '.test.js');
  const own = basename(dirname(f)) === 'sandbox' && !(name in INITIAL_NAMESPACE) ? freshNamespace(name) : undefined;
  describe(own ? name : `${name} (initial network namespace${INITIAL_NAMESPACE[name] ? `: ${INITIAL_NAMESPACE[name]}` : ''})`, async () => {
    // Registered before the file's hooks, so it runs first; the leaving hook after them, so last.
    if (own) before(() => own.enter());
    await import(pathToFileURL(f).href);
    if (own) after(() => own.leave());
  });
}
