// The manifests in deploy/: every file parsed; kinds, RBAC verbs, probes, mounts and the image name
// checked against what the image build makes and the agent serves; the ConfigMap's configuration and
// kubeconfig loaded with kipvs' own loaders; kubeadm's kube-proxy configuration (the overlay's input)
// accepted. Where kubectl is installed, `kubectl kustomize` renders the base and the overlay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/config.js';
import { loadKubeconfig } from '../../src/sources/kubeconfig.js';
import { filesUnder } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const deploy = join(root, 'deploy');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const files = (dir: string): string[] => filesUnder(dir, (p) => p.endsWith('.yaml'));
function docs(path: string): Doc[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
    assert.deepEqual(d.errors.map((e) => e.message), [], relative(root, path));
    return d.toJS() as Doc;
  });
}
const base = (name: string) => docs(join(deploy, 'base', name));
const daemonSet = () => base('daemonset.yaml')[0]!;
const container = () => daemonSet().spec.template.spec.containers[0] as Doc;

test('every file in deploy/ parses; the base lists exactly its resources and tags the image with the package version', () => {
  const all = files(deploy);
  assert.ok(all.length >= 7, all.join(', '));
  for (const f of all) docs(f);
  const k = base('kustomization.yaml')[0]!;
  assert.deepEqual([...k.resources].sort(), readdirSync(join(deploy, 'base')).filter((f) => f !== 'kustomization.yaml').sort());
  assert.deepEqual(k.images, [{ name: 'ghcr.io/kipvs/kipvs', newTag: version }]);
  const kinds = k.resources.flatMap((r: string) => base(r).map((d) => d.kind)).sort();
  assert.deepEqual(kinds, ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'ServiceAccount']);
});

test('RBAC: list/watch on Services, EndpointSlices and Nodes, create/patch on Events, nothing more', () => {
  const [role, binding] = base('rbac.yaml');
  const grants = new Set<string>();
  for (const rule of role!.rules as Doc[]) {
    for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) grants.add(`${g || 'core'}/${r}:${v}`);
  }
  assert.deepEqual([...grants].sort(), [
    'core/events:create', 'core/events:patch', 'core/nodes:list', 'core/nodes:watch', 'core/services:list', 'core/services:watch',
    'discovery.k8s.io/endpointslices:list', 'discovery.k8s.io/endpointslices:watch',
    'events.k8s.io/events:create', 'events.k8s.io/events:patch',
  ]);
  assert.deepEqual(binding!.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kipvs' });
  assert.deepEqual(binding!.subjects, [{ kind: 'ServiceAccount', name: 'kipvs', namespace: 'kube-system' }]);
  assert.equal(daemonSet().spec.template.spec.serviceAccountName, 'kipvs');
});

test('DaemonSet: every Linux node whatever its taints, host network without cluster DNS, node-critical, the image scripts/image builds', () => {
  const spec = daemonSet().spec.template.spec;
  assert.equal(spec.hostNetwork, true);
  assert.ok(spec.dnsPolicy === undefined || spec.dnsPolicy === 'ClusterFirst' || spec.dnsPolicy === 'Default', `dnsPolicy ${spec.dnsPolicy}: cluster DNS goes through a ClusterIP`);
  assert.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
  assert.ok(spec.tolerations.some((t: Doc) => t.operator === 'Exists' && t.key === undefined), 'tolerates every taint');
  assert.equal(spec.priorityClassName, 'system-node-critical');
  const c = container();
  assert.equal(c.image, `ghcr.io/kipvs/kipvs:${version}`);
  const imageScript = readFileSync(join(root, 'scripts', 'image'), 'utf8');
  assert.match(imageScript, /docker-archive:[^\n]*ghcr\.io\/kipvs\/kipvs:\$version/, 'scripts/image tags the same name');
  assert.equal(c.command, undefined, 'the image entry point (iptables backend selection) is kept');
  assert.equal(c.args[0], 'agent');
  assert.ok(c.args.includes('--hostname-override=$(NODE_NAME)'));
  assert.deepEqual(c.env.find((e: Doc) => e.name === 'NODE_NAME').valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
});

test('DaemonSet mounts: configuration, /lib/modules read-only, the shared xtables lock, the state socket directory', () => {
  const spec = daemonSet().spec.template.spec;
  const volumes = new Map<string, Doc>(spec.volumes.map((v: Doc) => [v.name, v]));
  const mounts = new Map<string, Doc>(container().volumeMounts.map((m: Doc) => [m.mountPath, m]));
  const volumeAt = (path: string): Doc => {
    const m = mounts.get(path);
    assert.ok(m, `a mount at ${path}`);
    const v = volumes.get(m.name);
    assert.ok(v, `volume ${m.name}`);
    return v;
  };
  assert.equal(mounts.get('/lib/modules')?.readOnly, true);
  assert.deepEqual(volumeAt('/lib/modules').hostPath, { path: '/lib/modules' });
  assert.deepEqual(volumeAt('/run/xtables.lock').hostPath, { path: '/run/xtables.lock', type: 'FileOrCreate' });
  assert.equal(volumeAt('/run/kipvs').hostPath.path, '/run/kipvs');
  const configArg = container().args.find((a: string) => a.startsWith('--config='))!.slice('--config='.length);
  assert.equal(volumeAt(dirname(configArg)).configMap.name, 'kipvs');
});

test('the ConfigMap\'s configuration loads with kipvs\' loader; probes and kubeconfig match it', async () => {
  const cm = base('configmap.yaml')[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-deploy-'));
  const configArg = container().args.find((a: string) => a.startsWith('--config='))!.slice('--config='.length);
  assert.ok(cm.data[configArg.slice(configArg.lastIndexOf('/') + 1)], `the ConfigMap has ${configArg}`);
  writeFileSync(join(dir, 'config.conf'), cm.data['config.conf']);
  const config = await loadConfig(['--config', join(dir, 'config.conf'), '--hostname-override', 'node-a']);
  assert.equal(config.mode, 'ipvs');
  // The kubeconfig is read from the same mounted ConfigMap.
  assert.equal(dirname(config.kubeconfig!), dirname(configArg));
  assert.ok(cm.data['kubeconfig.conf'], 'the ConfigMap carries the kubeconfig');
  // kube-proxy's address, explicitly (kipvs' default is loopback): cloud load balancers probe it.
  assert.equal(config.healthzBindAddress, '0.0.0.0:10256');
  assert.match(readFileSync(join(deploy, 'base', 'configmap.yaml'), 'utf8'), /#.*load balancers probe[^\n]*\n( *#[^\n]*\n)* *healthzBindAddress: 0\.0\.0\.0:10256/);
  const port = Number(config.healthzBindAddress.split(':').pop());
  const c = container();
  for (const [probe, path] of [['livenessProbe', '/livez'], ['readinessProbe', '/healthz']] as const) {
    assert.equal(c[probe].httpGet.path, path);
    assert.equal(c[probe].httpGet.port, port, `${probe} on the healthz port`);
  }
  writeFileSync(join(dir, 'kubeconfig.conf'), cm.data['kubeconfig.conf']);
  const kc = loadKubeconfig(join(dir, 'kubeconfig.conf'));
  const server = kc.getCurrentCluster()!.server;
  assert.doesNotMatch(server, /kubernetes\.default|svc\.cluster\.local|^https:\/\/10\.96\./, 'never the kubernetes Service');
  assert.deepEqual(kc.getCurrentUser()!.authProvider, { name: 'tokenFile', config: { tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' } });
});

test('kubeadm overlay: kube-proxy\'s ServiceAccount and ConfigMap, whose configuration (as kubeadm writes it) kipvs loads', async () => {
  const k = docs(join(deploy, 'overlays', 'kubeadm', 'kustomization.yaml'))[0]!;
  assert.deepEqual(k.resources, ['../../base']);
  const deleted = k.patches.filter((p: Doc) => p.patch).map((p: Doc) => docs0(p.patch)).map((d: Doc) => `${d.kind}/${d.metadata.name}`).sort();
  assert.deepEqual(deleted, ['ClusterRole/kipvs', 'ClusterRoleBinding/kipvs', 'ConfigMap/kipvs', 'ServiceAccount/kipvs']);
  const ds = docs(join(deploy, 'overlays', 'kubeadm', 'daemonset.yaml'))[0]!.spec.template.spec;
  assert.equal(ds.serviceAccountName, 'kube-proxy');
  assert.equal(ds.volumes.find((v: Doc) => v.name === 'kube-proxy').configMap.name, 'kube-proxy');
  const configArg = ds.containers[0].args.find((a: string) => a.startsWith('--config='))!.slice('--config='.length);
  const mount = ds.containers[0].volumeMounts.find((m: Doc) => m.name === 'kube-proxy');
  assert.equal(dirname(configArg), mount.mountPath);
  // kubeadm's generated config.conf: every field present, nulls and zero durations for "default".
  const config = await loadConfig(['--config', join(root, 'test', 'unit', 'fixtures', 'kubeadm-kube-proxy-config.conf'), '--hostname-override', 'node-a']);
  assert.equal(config.mode, 'ipvs', 'kubeadm\'s mode "" is kipvs\' default, IPVS');
  assert.equal(config.kubeconfig, `${mount.mountPath}/kubeconfig.conf`);
  // kubeadm leaves healthzBindAddress empty (kube-proxy's 0.0.0.0:10256, kipvs' loopback): the overlay's flag keeps kube-proxy's.
  assert.equal(config.healthzBindAddress, '127.0.0.1:10256');
  const withArgs = await loadConfig([...ds.containers[0].args.slice(1).filter((a: string) => !a.startsWith('--config=') && !a.startsWith('--hostname-override=')),
    '--config', join(root, 'test', 'unit', 'fixtures', 'kubeadm-kube-proxy-config.conf'), '--hostname-override', 'node-a']);
  assert.equal(withArgs.healthzBindAddress, '0.0.0.0:10256');
  assert.match(readFileSync(join(deploy, 'overlays', 'kubeadm', 'daemonset.yaml'), 'utf8'), /load balancers probe/);
});

test('least-privilege overlay: not privileged; NET_ADMIN, NET_RAW and SYS_MODULE only, the measured needs', () => {
  const k = docs(join(deploy, 'overlays', 'least-privilege', 'kustomization.yaml'))[0]!;
  assert.deepEqual(k.resources, ['../../base']);
  const ds = docs0(k.patches[0].patch);
  const sc = ds.spec.template.spec.containers[0].securityContext;
  assert.deepEqual(sc, { privileged: false, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SYS_MODULE'] } });
  // Each capability is explained next to it, as test/image/privileges.test.ts measured.
  const text = readFileSync(join(deploy, 'overlays', 'least-privilege', 'kustomization.yaml'), 'utf8');
  for (const cap of sc.capabilities.add) assert.match(text, new RegExp(`^#\\s+${cap}\\s+\\S`, 'm'), cap);
});

function docs0(text: string): Doc {
  return parseAllDocuments(text)[0]!.toJS() as Doc;
}

test('kubectl kustomize renders the base and both overlays', (t) => {
  let kubectl = true;
  try { execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' }); } catch { kubectl = false; }
  if (!kubectl) { t.skip('kubectl is not installed'); return; }
  const render = (dir: string) => parseAllDocuments(execFileSync('kubectl', ['kustomize', join(deploy, dir)], { encoding: 'utf8' })).map((d) => d.toJS() as Doc);
  assert.deepEqual(render('base').map((d) => `${d.kind}/${d.metadata.name}`).sort(),
    ['ClusterRole/kipvs', 'ClusterRoleBinding/kipvs', 'ConfigMap/kipvs', 'DaemonSet/kipvs', 'ServiceAccount/kipvs']);
  const lp = render('overlays/least-privilege').find((d) => d.kind === 'DaemonSet')!;
  assert.equal(lp.spec.template.spec.containers[0].securityContext.privileged, false);
  assert.deepEqual(lp.spec.template.spec.containers[0].securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW', 'SYS_MODULE']);
  const overlay = render('overlays/kubeadm');
  assert.deepEqual(overlay.map((d) => `${d.kind}/${d.metadata.name}`), ['DaemonSet/kipvs']);
  const spec = overlay[0]!.spec.template.spec;
  assert.equal(spec.serviceAccountName, 'kube-proxy');
  assert.deepEqual(spec.containers[0].volumeMounts.map((m: Doc) => m.mountPath).sort(), ['/lib/modules', '/run/kipvs', '/run/xtables.lock', '/var/lib/kube-proxy']);
  assert.deepEqual(spec.volumes.map((v: Doc) => v.name).sort(), ['kube-proxy', 'lib-modules', 'run', 'xtables-lock']);
});
