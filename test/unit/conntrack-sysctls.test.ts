// kube-proxy's conntrack rules, computed without a kernel: the limit from CPUs × maxPerCore with its
// floor, the hash table raised to a quarter of it, timeouts written only when set, nothing written that
// already has the wanted value, and a failed write stopping with the file named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conntrackMax, conntrackSysctlPlan, applyConntrackSysctls, conntrackChanges, type ConntrackSettings } from '../../src/backends/conntrack-sysctls.js';
import type { Preview } from '../../src/backends/preview.js';

const R = '/proc/sys/net/netfilter';
const H = '/sys/module/nf_conntrack/parameters/hashsize';
/** kube-proxy's defaults. */
const DEFAULTS: ConntrackSettings = {
  maxPerCore: 32768, min: 131072, tcpEstablishedTimeoutS: 86400, tcpCloseWaitTimeoutS: 3600,
  tcpBeLiberal: false, udpTimeoutS: 0, udpStreamTimeoutS: 0,
};
const silent = { info() {}, warn() {}, error() {}, debug() {} };

/** A kernel as a map of files; unreadable files are absent. */
function kernel(values: Record<string, number>): (p: string) => number | null {
  return (p) => (p in values ? values[p]! : null);
}

test('nf_conntrack_max: CPUs × maxPerCore, at least min; maxPerCore 0 leaves it alone', () => {
  assert.equal(conntrackMax(DEFAULTS, 2), 131072, '2 × 32768 = 65536 is below min');
  assert.equal(conntrackMax(DEFAULTS, 8), 262144, '8 × 32768 is above min');
  assert.equal(conntrackMax({ maxPerCore: 0, min: 500000 }, 64), 0, 'maxPerCore 0: min is ignored too');
  assert.equal(conntrackMax({ maxPerCore: 1000, min: 0 }, 3), 3000);
});

test('kube-proxy defaults on a fresh 2-CPU node: max to min, hashsize raised to max/4, both TCP timeouts', () => {
  const plan = conntrackSysctlPlan(DEFAULTS, 2, kernel({
    [`${R}/nf_conntrack_max`]: 65536, [H]: 16384,
    [`${R}/nf_conntrack_tcp_timeout_established`]: 432000, [`${R}/nf_conntrack_tcp_timeout_close_wait`]: 60,
    [`${R}/nf_conntrack_tcp_be_liberal`]: 0, [`${R}/nf_conntrack_udp_timeout`]: 30, [`${R}/nf_conntrack_udp_timeout_stream`]: 120,
  }));
  assert.deepEqual(plan, [
    { path: `${R}/nf_conntrack_max`, before: 65536, after: 131072 },
    { path: H, before: 16384, after: 32768 },
    { path: `${R}/nf_conntrack_tcp_timeout_established`, before: 432000, after: 86400 },
    { path: `${R}/nf_conntrack_tcp_timeout_close_wait`, before: 60, after: 3600 },
  ]);
});

test('hashsize is only raised: a table of max/4 buckets or more is left alone', () => {
  const base = { [`${R}/nf_conntrack_max`]: 131072, [`${R}/nf_conntrack_tcp_timeout_established`]: 86400, [`${R}/nf_conntrack_tcp_timeout_close_wait`]: 3600 };
  assert.deepEqual(conntrackSysctlPlan(DEFAULTS, 2, kernel({ ...base, [H]: 32768 })), [], 'exactly max/4: nothing to write');
  assert.deepEqual(conntrackSysctlPlan(DEFAULTS, 2, kernel({ ...base, [H]: 262144 })), [], 'larger: not lowered');
  assert.deepEqual(conntrackSysctlPlan({ ...DEFAULTS, maxPerCore: 10, min: 10 }, 1, kernel({ ...base, [`${R}/nf_conntrack_max`]: 10, [H]: 1 })), [
    { path: H, before: 1, after: 2 },
  ], 'max/4 rounds down (10/4 = 2)');
});

test('a value that already matches is not written; maxPerCore 0 touches neither max nor hashsize', () => {
  const s: ConntrackSettings = { ...DEFAULTS, maxPerCore: 0, tcpBeLiberal: true, udpTimeoutS: 30, udpStreamTimeoutS: 180 };
  const plan = conntrackSysctlPlan(s, 4, kernel({
    [`${R}/nf_conntrack_max`]: 7, [H]: 1,
    [`${R}/nf_conntrack_tcp_timeout_established`]: 86400, [`${R}/nf_conntrack_tcp_timeout_close_wait`]: 3600,
    [`${R}/nf_conntrack_tcp_be_liberal`]: 0, [`${R}/nf_conntrack_udp_timeout`]: 30, [`${R}/nf_conntrack_udp_timeout_stream`]: 120,
  }));
  assert.deepEqual(plan, [
    { path: `${R}/nf_conntrack_tcp_be_liberal`, before: 0, after: 1 },
    { path: `${R}/nf_conntrack_udp_timeout_stream`, before: 120, after: 180 },
  ]);
});

test('timeouts of 0 and tcpBeLiberal false leave the kernel alone', () => {
  const s: ConntrackSettings = { maxPerCore: 0, min: 0, tcpEstablishedTimeoutS: 0, tcpCloseWaitTimeoutS: 0, tcpBeLiberal: false, udpTimeoutS: 0, udpStreamTimeoutS: 0 };
  assert.deepEqual(conntrackSysctlPlan(s, 2, kernel({})), []);
});

test('an unreadable sysctl is planned (before: null); the applier names the file that could not be written', () => {
  const s: ConntrackSettings = { ...DEFAULTS, tcpEstablishedTimeoutS: 0, tcpCloseWaitTimeoutS: 0 };
  const plan = conntrackSysctlPlan(s, 2, kernel({}));
  assert.deepEqual(plan.map((w) => [w.path, w.before, w.after]), [[`${R}/nf_conntrack_max`, null, 131072], [H, null, 32768]]);
  const written: string[] = [];
  assert.throws(() => applyConntrackSysctls(s, silent, {
    cpus: 2, read: kernel({}),
    write: (p, v) => {
      if (p === H) throw Object.assign(new Error('no'), { code: 'EACCES' });
      written.push(`${p}=${v}`);
    },
  }), /^Error: conntrack settings: cannot set \/sys\/module\/nf_conntrack\/parameters\/hashsize to 32768: EACCES$/);
  assert.deepEqual(written, [`${R}/nf_conntrack_max=131072`]);
  assert.throws(() => applyConntrackSysctls(s, silent, { cpus: 2, read: kernel({}), write: () => { throw Object.assign(new Error('x'), { code: 'ENOENT' }); } }),
    /nf_conntrack_max to 131072: ENOENT \(is the nf_conntrack module loaded\?\)/);
});

test('the applier writes the plan in order and logs each change', () => {
  const files: Record<string, number> = { [`${R}/nf_conntrack_max`]: 65536, [H]: 16384, [`${R}/nf_conntrack_tcp_timeout_established`]: 86400, [`${R}/nf_conntrack_tcp_timeout_close_wait`]: 3600 };
  const logged: object[] = [];
  const log = { ...silent, info: (o: object) => void logged.push(o) };
  const plan = applyConntrackSysctls(DEFAULTS, log, { cpus: 8, read: kernel(files), write: (p, v) => { files[p] = Number(v); } });
  assert.equal(files[`${R}/nf_conntrack_max`], 262144);
  assert.equal(files[H], 65536);
  assert.equal(plan.length, 2);
  assert.deepEqual(logged, [
    { sysctl: `${R}/nf_conntrack_max`, before: 65536, after: 262144 },
    { sysctl: H, before: 16384, after: 65536 },
  ]);
  assert.deepEqual(conntrackSysctlPlan(DEFAULTS, 8, kernel(files)), [], 'a second start writes nothing');
});

test('kipvs diff: the writes as sysctl changes; an unreadable file is listed as unread, not as a change', () => {
  const out: Preview = { mode: 'ipvs', changes: [], foreign: [], unread: [] };
  conntrackChanges({ ...DEFAULTS, udpTimeoutS: 60 }, out, { cpus: 2, read: kernel({ [`${R}/nf_conntrack_max`]: 65536, [H]: 65536, [`${R}/nf_conntrack_tcp_timeout_established`]: 86400, [`${R}/nf_conntrack_tcp_timeout_close_wait`]: 3600 }) });
  assert.deepEqual(out.changes, [{ object: 'sysctl', action: 'change', name: `${R}/nf_conntrack_max`, before: ['65536'], after: ['131072'] }]);
  assert.deepEqual(out.unread, [`${R}/nf_conntrack_udp_timeout: unreadable (the agent would try to write 60)`]);
});
