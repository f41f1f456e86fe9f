// The conntrack settings, end to end: a real `kipvs agent` process started with a KubeProxyConfiguration
// file and flags, in each proxy mode; the kernel's files read back with the shell once it says it
// started. nf_conntrack_max is CPUs × maxPerCore or min, whichever is larger, hashsize is raised to a
// quarter of it, each timeout lands in its file; and a sysctl that cannot be written (a read-only
// /proc/sys file, as some container runtimes mount it) stops the start with the file named.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { sh, shStatus, resetKernel } from './helpers.js';
import { DEFAULT_HEAP, NODE_FLAGS } from '../../src/config/heap.js';

const DIR = '/tmp/kipvs-conntrack';
const NF = '/proc/sys/net/netfilter';
const HASHSIZE = '/sys/module/nf_conntrack/parameters/hashsize';
const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
const read = (path: string) => Number(sh(`cat ${path}`).trim());
const cpus = () => Number(sh('nproc --all').trim());

/** Runs the agent until it logs that it started (or exits); returns its exit code (null: it was running) and stderr. */
function runAgent(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS[DEFAULT_HEAP], bin, 'agent', '--manifests', `${DIR}/manifests`, '--hostname-override', 'ct-node',
      '--healthz-bind-address=', '--metrics-bind-address=', '--state-socket=', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`agent did not start in 120 s: ${stderr}`)); }, 120_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('"kipvs agent started"')) {
        clearTimeout(timer);
        child.once('exit', () => resolve({ code: null, stderr }));
        child.kill('SIGTERM');
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

before(() => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(`${DIR}/manifests`, { recursive: true });
  writeFileSync(`${DIR}/manifests/node.yaml`, 'apiVersion: v1\nkind: Node\nmetadata:\n  name: ct-node\n');
  sh('modprobe nf_conntrack');
  // Start from small values, so that each one the agent writes is seen to change.
  sh(`echo 1024 > ${HASHSIZE}; echo 4096 > ${NF}/nf_conntrack_max; echo 0 > ${NF}/nf_conntrack_tcp_be_liberal`);
});

after(() => {
  resetKernel();
  rmSync(DIR, { recursive: true, force: true });
});

test('IPVS mode: maxPerCore × CPUs above min, hashsize raised to max/4, every timeout from the file and the flags', async () => {
  const maxPerCore = 70_000;
  writeFileSync(`${DIR}/config.yaml`, [
    'apiVersion: kubeproxy.config.k8s.io/v1alpha1', 'kind: KubeProxyConfiguration',
    'conntrack:', `  maxPerCore: ${maxPerCore}`, '  min: 1000', '  tcpEstablishedTimeout: 2h', '  tcpCloseWaitTimeout: 30m',
    '  tcpBeLiberal: true', '  udpTimeout: 45s', '',
  ].join('\n'));
  const r = await runAgent(['--config', `${DIR}/config.yaml`, '--conntrack-udp-timeout-stream=150s']);
  assert.equal(r.code, null, `the agent started: ${r.stderr}`);
  const max = maxPerCore * cpus();
  assert.equal(read(`${NF}/nf_conntrack_max`), max);
  // The kernel rounds the table up to whole pages of buckets (512 per 4 KiB page).
  const hashsize = read(HASHSIZE);
  assert.ok(hashsize >= Math.floor(max / 4) && hashsize < Math.floor(max / 4) + 512, `hashsize ${hashsize} for max ${max}`);
  assert.equal(read(`${NF}/nf_conntrack_tcp_timeout_established`), 7200);
  assert.equal(read(`${NF}/nf_conntrack_tcp_timeout_close_wait`), 1800);
  assert.equal(read(`${NF}/nf_conntrack_tcp_be_liberal`), 1);
  assert.equal(read(`${NF}/nf_conntrack_udp_timeout`), 45);
  assert.equal(read(`${NF}/nf_conntrack_udp_timeout_stream`), 150);
  assert.match(r.stderr, /"sysctl":"\/proc\/sys\/net\/netfilter\/nf_conntrack_max","before":4096,"after":\d+,"msg":"conntrack setting changed"/);
});

test('iptables mode: min above maxPerCore × CPUs wins; a larger hashsize is not lowered; 0 keeps a timeout', async () => {
  sh(`echo 300000 > ${HASHSIZE}; echo 33 > ${NF}/nf_conntrack_udp_timeout`);
  const hashsize = read(HASHSIZE); // 300000, rounded up by the kernel
  const min = 250_000;
  const r = await runAgent(['--proxy-mode', 'iptables', '--conntrack-max-per-core=1', `--conntrack-min=${min}`,
    '--conntrack-tcp-timeout-established=3h', '--conntrack-udp-timeout=0s']);
  assert.equal(r.code, null, `the agent started: ${r.stderr}`);
  assert.ok(cpus() < min, 'min is the larger');
  assert.equal(read(`${NF}/nf_conntrack_max`), min);
  assert.equal(read(HASHSIZE), hashsize, 'already above max/4: left alone');
  assert.equal(read(`${NF}/nf_conntrack_tcp_timeout_established`), 10800);
  assert.equal(read(`${NF}/nf_conntrack_udp_timeout`), 33, '0 keeps the kernel value');
});

test('a sysctl that cannot be written stops the start, naming it; the agent exits 1', async (t) => {
  const file = `${NF}/nf_conntrack_tcp_timeout_close_wait`;
  sh(`echo 60 > ${file}; mount --bind ${file} ${file}; mount -o remount,bind,ro ${file}`);
  t.after(() => void shStatus(`umount ${file}`));
  const r = await runAgent(['--conntrack-tcp-timeout-close-wait=1h']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /kipvs agent: conntrack settings: cannot set \/proc\/sys\/net\/netfilter\/nf_conntrack_tcp_timeout_close_wait to 3600: EROFS/);
  assert.equal(read(file), 60);
});
