// The built image, run as a node runs it: its OCI layout as umoci unpacked it (scripts/image does, on
// the host: in the emulated guest it takes minutes), its entry point and command from the runtime
// config, started in a chroot of its root filesystem with the host's network, /proc, /sys and /dev.
// The agent inside programs IPVS from a manifests directory and HTTP through the ClusterIP reaches a
// backend. Run by `npm run test:image` (scripts/image first).
//   KIPVS_IMAGE_BUNDLE: the unpacked bundle (default build/image/bundle), KIPVS_IMAGE_TAG (default the
//   package version).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh, shStatus, startBackend, httpGet, resetKernel, waitFor, type Backend } from '../sandbox/helpers.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
const bundle = process.env.KIPVS_IMAGE_BUNDLE ?? join(root, 'build', 'image', 'bundle');
const tag = process.env.KIPVS_IMAGE_TAG ?? (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const rootfs = `${bundle}/rootfs`;

interface RuntimeConfig { process: { args: string[]; env: string[] } }
let config: RuntimeConfig;
let backend: Backend | undefined;
let agent: ChildProcess | undefined;
let agentLog = '';

/** A command in the image, as the runtime would start it: chroot, the image's environment only. */
function inImage(args: string[]): ChildProcess {
  return spawn('chroot', [rootfs, '/usr/bin/env', '-i', ...config.process.env, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}
function runInImage(args: string[]): { status: number; out: string } {
  const r = shStatus(`chroot ${rootfs} /usr/bin/env -i ${config.process.env.map((e) => `'${e}'`).join(' ')} ${args.map((a) => `'${a}'`).join(' ')} 2>&1`);
  return { status: r.status, out: r.stdout + r.stderr };
}

before(() => {
  assert.ok(existsSync(join(bundle, 'config.json')), `no unpacked image at ${bundle}: run scripts/image first`);
  resetKernel();
  config = JSON.parse(readFileSync(`${bundle}/config.json`, 'utf8')) as RuntimeConfig;
  for (const m of ['proc', 'sys', 'dev', 'run']) sh(`mkdir -p ${rootfs}/${m} && mount --rbind /${m} ${rootfs}/${m}`);
  backend = startBackend('img-be', 91);
});

after(() => {
  agent?.kill('SIGKILL');
  backend?.stop();
  for (const m of ['run', 'dev', 'sys', 'proc']) shStatus(`umount -R ${rootfs}/${m}`);
  shStatus(`rm -rf ${rootfs}/manifests`);
  resetKernel();
});

test('the image config starts the entry point with the agent command; kipvs version names the build', () => {
  assert.deepEqual(config.process.args, ['/usr/local/bin/kipvs-entrypoint', 'agent']);
  const v = runInImage(['kipvs', 'version']);
  assert.equal(v.status, 0, v.out);
  assert.match(v.out, new RegExp(`^kipvs ${tag.replace(/\./g, '\\.')} \\(commit [0-9a-f]{12}(-dirty)?, node v2[2-9]\\.`));
});

test('the agent inside the image programs IPVS from a manifests directory; HTTP through the ClusterIP reaches the backend', async () => {
  mkdirSync(`${rootfs}/manifests`, { recursive: true });
  writeFileSync(`${rootfs}/manifests/web.yaml`, [
    'apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: web}\nspec:\n  clusterIP: 10.96.91.1\n  clusterIPs: [10.96.91.1]\n  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]',
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: default\n  name: web-1\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n  - addresses: [${backend!.address}]\n    conditions: {ready: true}\n`,
  ].join('\n---\n'));
  agent = inImage([...config.process.args, '--manifests', '/manifests', '--hostname-override', 'node-img',
    '--healthz-bind-address', '127.0.0.1:10256', '--metrics-bind-address', '127.0.0.1:10249']);
  agent.stdout!.on('data', (c: Buffer) => { agentLog += c.toString(); });
  agent.stderr!.on('data', (c: Buffer) => { agentLog += c.toString(); });
  let exited: number | null | undefined;
  agent.on('exit', (code) => { exited = code; });
  // Node starts slowly in the emulated guest: allow minutes, but stop early if the agent dies.
  const deadline = Date.now() + 240_000;
  const until = async (done: () => boolean, notYet: string, everyMs: number) => {
    while (!done()) {
      assert.equal(exited, undefined, `the agent exited (${exited}):\n${agentLog}`);
      assert.ok(Date.now() < deadline, `${notYet} in 240 s:\n${agentLog}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  await until(() => /10\.244\.91\.2:8080/.test(shStatus('ipvsadm -Ln -t 10.96.91.1:80').stdout), 'not programmed', 500);
  assert.match(agentLog, /iptables backend: (nft|legacy) \(/, 'the entry point chose the iptables backend first');
  // The real server shows while the first sync still runs (its ipsets and rules come after the IPVS
  // part): the request waits for the sync's own log line, as the in-process tests wait for firstSync().
  await until(() => /"msg":"sync"/.test(agentLog), 'the first sync did not end', 200);
  const body = await httpGet('10.96.91.1', 80).catch((err: Error) => assert.fail(`HTTP through the ClusterIP after the first sync: ${err.message}\n${agentLog}`));
  assert.equal(body.trim(), 'img-be');
  // The image's own tools see the same kernel: kipvsadm in the image prints what ipvsadm prints.
  const listed = runInImage(['kipvsadm', '-Ln']);
  assert.equal(listed.out, sh('ipvsadm -Ln'));
  assert.match(sh('iptables-save -t nat'), /KUBE-POSTROUTING/);
  waitFor(() => shStatus('busybox wget -q -O - http://127.0.0.1:10256/healthz').status === 0, 30_000, '/healthz answering');
  agent.kill('SIGTERM');
  const end = Date.now() + 60_000;
  while (exited === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  assert.equal(exited, 0, `the agent stops cleanly on SIGTERM:\n${agentLog.slice(-2000)}`);
  agent = undefined;
});
