// Run (after `npm run build` and `scripts/image`): scripts/sandbox --timeout 900 -- node bench-results/ab-40/first-sync-reset/race.mjs ROUNDS [keep]
// (it imports dist/test/sandbox/helpers.js by the absolute path /work/main: adjust to your checkout).
// Reproduce the image test's mid-sync request: agent in the image (chroot), one Service from a manifests dir,
// the request sent as soon as ipvsadm shows the real server; N rounds; record outcomes and where in the sync.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { sh, shStatus, startBackend, httpGet, resetKernel } from '/work/main/dist/test/sandbox/helpers.js';
const bundle = '/work/main/build/image/bundle', rootfs = `${bundle}/rootfs`;
const config = JSON.parse(readFileSync(`${bundle}/config.json`, 'utf8'));
const N = Number(process.argv[2] ?? 6);
resetKernel();
for (const m of ['proc', 'sys', 'dev', 'run']) sh(`mkdir -p ${rootfs}/${m} && mount --rbind /${m} ${rootfs}/${m}`);
const backend = startBackend('img-be', 91);
mkdirSync(`${rootfs}/manifests`, { recursive: true });
writeFileSync(`${rootfs}/manifests/web.yaml`, [
  'apiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: web}\nspec:\n  clusterIP: 10.96.91.1\n  clusterIPs: [10.96.91.1]\n  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]',
  `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: default\n  name: web-1\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n  - addresses: [${backend.address}]\n    conditions: {ready: true}\n`,
].join('\n---\n'));
const keep = process.argv[3] === 'keep';
for (let round = 1; round <= N; round++) {
  if (keep && round > 1) shStatus('ipvsadm -C; ip link del kube-ipvs0'); else resetKernel();
  let log = '';
  const agent = spawn('chroot', [rootfs, '/usr/bin/env', '-i', ...config.process.env, ...config.process.args, '--manifests', '/manifests', '--hostname-override', 'node-img',
    '--healthz-bind-address', '127.0.0.1:10256', '--metrics-bind-address', '127.0.0.1:10249'], { stdio: ['ignore', 'pipe', 'pipe'] });
  agent.stdout.on('data', (c) => { log += c; });
  agent.stderr.on('data', (c) => { log += c; });
  while (!/10\.244\.91\.2:8080/.test(shStatus('ipvsadm -Ln -t 10.96.91.1:80').stdout)) await new Promise((r) => setTimeout(r, 100));
  const seenAt = Date.now();
  const tries = [];
  // Requests back to back for 4 s: each outcome with its time from the moment the real server showed.
  while (Date.now() - seenAt < 4000) {
    const t = Date.now() - seenAt;
    const syncDone = /"msg":"sync"/.test(log);
    try { tries.push(`${t}${syncDone ? 's' : ''}:${(await httpGet('10.96.91.1', 80, '/', 2000)).trim()}`); }
    catch (err) { tries.push(`${t}${syncDone ? 's' : ''}:ERR ${err.code ?? err.message}`); }
  }
  const errs = tries.filter((x) => x.includes('ERR'));
  console.log(`round ${round}: ${tries.length} requests, ${errs.length} failed; first: ${tries.slice(0, 4).join(' | ')}; failures: ${errs.slice(0, 6).join(' | ')}`);
  if (errs.length) {
    console.log('--- agent log (sync lines and warnings):');
    for (const l of log.split('\n')) if (/"msg":"(sync|iptables rules written|initial lists)|warn|error|iptables backend/.test(l)) console.log(l.slice(0, 400));
    console.log('--- iptables-save filter (KUBE):'); console.log(shStatus('iptables-save -t filter | grep KUBE').stdout);
    console.log('--- sysctl vs.conntrack:', shStatus('sysctl -n net.ipv4.vs.conntrack').stdout.trim());
  }
  agent.kill('SIGTERM');
  await new Promise((r) => agent.on('exit', r));
}
backend.stop();
for (const m of ['run', 'dev', 'sys', 'proc']) shStatus(`umount -R ${rootfs}/${m}`);
shStatus(`rm -rf ${rootfs}/manifests`);
resetKernel();
