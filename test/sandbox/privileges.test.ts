// What the agent needs of root, measured: `kipvs agent` started with only some capabilities (setpriv's
// bounding set: a root process then has exactly those) and, as in an unprivileged container, /proc/sys
// mounted read-only (in a mount namespace of its own). The DaemonSet's securityContext and docs follow
// from these cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { sh, shStatus, startBackend, httpGet, resetKernel, type Backend } from './helpers.js';

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

interface Run { programmed: boolean; exit: number | null; log: string }

/**
 * Start the agent with `caps` as its only capabilities (and /proc/sys read-only when asked); wait until
 * the Service is in the kernel or the agent exits; stop it.
 */
async function runAgent(caps: string[], readOnlySysctl: boolean, timeoutMs = 120_000): Promise<Run> {
  resetKernel();
  const bounding = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  const agent = [process.execPath, bin, 'agent', '--manifests', `${DIR}/manifests`, '--hostname-override', 'node-priv',
    '--healthz-bind-address', '', '--metrics-bind-address', '', '--state-socket', ''].map((a) => `'${a}'`).join(' ');
  const script = `${readOnlySysctl ? 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && ' : ''}exec setpriv --bounding-set ${bounding} --inh-caps -all ${agent}`;
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (c: Buffer) => { log += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { log += c.toString(); });
  let exit: number | null | undefined;
  child.on('exit', (code) => { exit = code; });
  const end = Date.now() + timeoutMs;
  let programmed = false;
  while (exit === undefined && Date.now() < end) {
    if (/10\.244\.93\.2:8080/.test(shStatus('ipvsadm -Ln -t 10.96.93.1:80').stdout) && /KUBE-POSTROUTING/.test(sh('iptables-save -t nat'))) {
      programmed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  if (programmed) {
    assert.equal((await httpGet('10.96.93.1', 80)).trim(), 'priv-be');
    child.kill('SIGTERM');
  } else if (exit === undefined) child.kill('SIGKILL');
  while (exit === undefined) await new Promise((r) => setTimeout(r, 100));
  return { programmed, exit: exit ?? null, log };
}

test('NET_ADMIN alone programs IPVS, kube-ipvs0, ipsets and iptables (nft backend), with /proc/sys writable', async () => {
  const r = await runAgent(['net_admin'], false);
  assert.ok(r.programmed, r.log.slice(-3000));
});

test('without NET_ADMIN the agent stops at start, saying the kernel refused it', async () => {
  const r = await runAgent(['net_raw', 'sys_module'], false);
  assert.equal(r.programmed, false);
  assert.notEqual(r.exit, 0);
  assert.match(r.log, /EPERM|operation not permitted|Permission denied/i, r.log.slice(-3000));
});

test('read-only /proc/sys (an unprivileged container): every capability is not enough', async () => {
  const r = await runAgent(['net_admin', 'net_raw', 'sys_module'], true);
  assert.equal(r.programmed, false, 'a sysctl it must set cannot be written');
  assert.match(r.log, /read-only file system|EROFS/i, r.log.slice(-3000));
});
