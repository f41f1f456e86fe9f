// What the agent needs of root, measured: `kipvs agent` started with only some capabilities (setpriv's
// bounding set: a root process then has exactly those) and, as in an unprivileged container, /proc/sys
// mounted read-only (in a mount namespace of its own). The DaemonSet's securityContext and docs follow
// from these cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { sh, shStatus, startBackend, httpGet, resetKernel, type Backend } from '../sandbox/helpers.js';
import { DEFAULT_HEAP, NODE_FLAGS } from '../../src/config/heap.js';

const DIR = '/tmp/kipvs-privileges';
const bin = new URL('../../../bin/kipvs.js', import.meta.url).pathname;
let backend: Backend | undefined;

before(() => {
  resetKernel();
  backend = startBackend('priv-be', 93);
  mkdirSync(`${DIR}/manifests`, { recursive: true });
  writeFileSync(`${DIR}/manifests/web.yaml`, [
    'apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: web}\nspec:\n  clusterIP: 10.96.93.1\n  clusterIPs: [10.96.93.1]\n  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]',
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: default\n  name: web-1\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n  - addresses: [${backend.address}]\n    conditions: {ready: true}\n`,
  ].join('\n---\n'));
});

after(() => {
  backend?.stop();
  resetKernel();
});

interface Run { done: boolean; exit: number | null; log: string }

/** The Service is in IPVS and IPVS mode's rules are in iptables. */
const programmed = () => /10\.244\.93\.2:8080/.test(shStatus('ipvsadm -Ln -t 10.96.93.1:80').stdout) && /KUBE-POSTROUTING/.test(sh('iptables-save -t nat'));

/**
 * Start the agent with `caps` as its only capabilities (and /proc/sys read-only when asked); wait until
 * `until(log)` holds or the agent exits (node starts slowly in the emulated guest: minutes); stop it.
 */
async function runAgent(caps: string[], readOnlySysctl: boolean, until: (log: string) => boolean, timeoutMs = 240_000): Promise<Run> {
  resetKernel();
  const bounding = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  const agent = [process.execPath, ...NODE_FLAGS[DEFAULT_HEAP], bin, 'agent', '--manifests', `${DIR}/manifests`, '--hostname-override', 'node-priv',
    '--healthz-bind-address', '', '--metrics-bind-address', '', '--state-socket', ''].map((a) => `'${a}'`).join(' ');
  const script = `${readOnlySysctl ? 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && ' : ''}exec setpriv --bounding-set ${bounding} --inh-caps -all ${agent}`;
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (c: Buffer) => { log += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { log += c.toString(); });
  let exit: number | null | undefined;
  child.on('exit', (code) => { exit = code; });
  const end = Date.now() + timeoutMs;
  let done = false;
  while (exit === undefined && Date.now() < end && !(done = until(log))) await new Promise((r) => setTimeout(r, 300));
  if (exit === undefined) child.kill('SIGKILL');
  while (exit === undefined) await new Promise((r) => setTimeout(r, 100));
  return { done: done || until(log), exit: exit ?? null, log };
}

test('NET_ADMIN and NET_RAW are enough with /proc/sys writable', async () => {
  const r = await runAgent(['net_admin', 'net_raw'], false, programmed);
  assert.ok(r.done, r.log.slice(-3000));
  // What it programmed carries traffic (the kernel keeps it after the agent is gone).
  assert.equal((await httpGet('10.96.93.1', 80)).trim(), 'priv-be');
});

test('NET_ADMIN alone: IPVS, kube-ipvs0 and ipsets work, but iptables cannot load rules that match ipsets (a raw socket)', async () => {
  const vsIn = () => /10\.244\.93\.2:8080/.test(shStatus('ipvsadm -Ln -t 10.96.93.1:80').stdout);
  const r = await runAgent(['net_admin'], false, (log) => vsIn() && /Can't open socket to ipset/.test(log));
  assert.ok(r.done, r.log.slice(-3000));
  assert.doesNotMatch(sh('iptables-save -t nat'), /KUBE-POSTROUTING/, 'no rule of IPVS mode made it in');
});

test('without NET_ADMIN the agent stops at start, saying the kernel refused it', async () => {
  const r = await runAgent(['net_raw', 'sys_module'], false, () => false);
  assert.equal(programmed(), false);
  assert.notEqual(r.exit, 0);
  assert.match(r.log, /EPERM|operation not permitted|Permission denied/i, r.log.slice(-3000));
});

test('read-only /proc/sys (an unprivileged container): the sysctls kipvs must set cannot be written, and it says which', async () => {
  // Values kipvs changes, so that it has to write them.
  sh('sysctl -qw net.ipv4.vs.conntrack=0 net.ipv4.vs.expire_nodest_conn=0');
  try {
    const named = /net\/ipv4\/vs\/conntrack[^\n]*(read-only|EROFS)|(read-only|EROFS)[^\n]*net\/ipv4\/vs\/conntrack/i;
    const r = await runAgent(['net_admin', 'net_raw', 'sys_module'], true, (log) => named.test(log));
    assert.ok(r.done, r.log.slice(-3000));
    assert.equal(sh('sysctl -n net.ipv4.vs.conntrack').trim(), '0', 'not written');
  } finally {
    sh('sysctl -qw net.ipv4.vs.conntrack=1 net.ipv4.vs.expire_nodest_conn=1');
  }
});
