// Without IPVS in the kernel: kipvs' client and `kipvs ipvsadm` fail the way they should. The IPVS
// modules are unloaded and the kernel's module loader is shadowed, which is the whole guest's state,
// not a network namespace's: this file runs alone (scripts/test.js RUN_ALONE), after the lanes, and
// loads everything again at the end of each test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { IpvsClient, IpvsUnavailableError } from '../../src/ipvs/client.js';
import { openSocketCount } from '../../native-bindings/libnl.js';
import { same } from './ipvsadm-compare.js';
import { sh, shStatus } from './helpers.js';

const tcp = (address: string, port: number) => ({ family: 'inet' as const, protocol: 'tcp' as const, address, port });

test('no IPVS in the kernel gives one clear error, and no socket leaks', () => {
  const fds = () => readdirSync('/proc/self/fd').length;
  const fdsBefore = fds();
  const socketsBefore = openSocketCount();
  for (let i = 0; i < 100; i++) IpvsClient.open().close();
  // Errors on the way must not leak either.
  for (let i = 0; i < 50; i++) {
    const c = IpvsClient.open();
    try { c.deleteService(tcp('10.99.0.1', 80)); } catch { /* ESRCH */ } finally { c.close(); }
  }
  assert.equal(openSocketCount(), socketsBefore);
  assert.equal(fds(), fdsBefore);
  // Unload IPVS, and stop the kernel from loading it again on demand (generic netlink autoloads it).
  sh("ipvsadm -C; echo /bin/false > /proc/sys/kernel/modprobe; for m in $(lsmod | awk '/^(ip_vs_|xt_ipvs)/ {print $1}'); do rmmod $m; done; rmmod ip_vs");
  try {
    assert.throws(() => IpvsClient.open(), (e: unknown) => e instanceof IpvsUnavailableError && /IPVS is not available in this kernel.*modprobe ip_vs/.test(e.message));
    assert.equal(openSocketCount(), socketsBefore);
    assert.equal(fds(), fdsBefore);
  } finally {
    sh('echo /sbin/modprobe > /proc/sys/kernel/modprobe');
    sh('modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_mh ip_vs_fo ip_vs_ovf xt_ipvs');
  }
});

test('without IPVS in the kernel: the message and status of ipvsadm', async () => {
  // ipvsadm runs /sbin/modprobe itself; shadow it (in the guest only; it is a link to kmod, so after
  // the modules are gone) so that nothing can load IPVS again.
  const unload = shStatus(`ipvsadm -C; echo /bin/false > /proc/sys/kernel/modprobe
      for m in $(lsmod | awk '/^(ip_vs_|xt_ipvs)/ {print $1}'); do rmmod $m; done
      rmmod ip_vs 2>&1 || { lsmod | grep ip_vs >&2; false; }
      mount --bind /bin/false /sbin/modprobe`);
  try {
    assert.equal(unload.status, 0, `unloading IPVS: ${unload.stderr}`);
    const r = await same(['-Ln']);
    assert.equal(r.status, 2);
    await same(['-L', '--foo']);
    await same(['-Lc']);
  } finally {
    sh('umount /sbin/modprobe; echo /sbin/modprobe > /proc/sys/kernel/modprobe');
    sh('modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_mh ip_vs_fo ip_vs_ovf xt_ipvs');
    shStatus('modprobe ip_vs_twos');
  }
});
