// The manifest-directory source: parsing, filtering, and the exact events a change of files produces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, renameSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { manifestSource, parseManifestText } from '../../src/sources/manifests.js';
import { readBounded } from '../../src/sources/manifest-parse.js';
import type { Kind, KubeObject, SourceEvents } from '../../src/sources/types.js';
import { silentLogger } from '../../src/sources/types.js';

class Recorder implements SourceEvents {
  events: string[] = [];
  errors: Error[] = [];
  objects = new Map<string, KubeObject>();
  upsert(kind: Kind, obj: KubeObject): void {
    this.events.push(`upsert ${kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`);
    this.objects.set(`${kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`, obj);
  }
  remove(kind: Kind, obj: KubeObject): void {
    this.events.push(`remove ${kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`);
    this.objects.delete(`${kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`);
  }
  synced(): void { this.events.push('synced'); }
  error(_kind: Kind | 'manifests', err: Error): void { this.errors.push(err); }
  take(): string[] { const e = this.events; this.events = []; return e; }
}

async function waitFor(what: string, cond: () => boolean, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
---
# a comment-only document and an empty one follow
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: 10.96.0.11, ports: [{port: 5432}]}
`;

const LIST = `
apiVersion: v1
kind: List
items:
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  endpoints: [{addresses: [10.1.0.1], conditions: {ready: true}}]
  ports: [{name: http, port: 8080, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1beta1
  kind: EndpointSlice
  metadata: {name: old, namespace: shop}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
- apiVersion: v1
  kind: Node
  metadata: {name: node-a}
  status: {addresses: [{type: InternalIP, address: 192.168.1.10}]}
- apiVersion: v1
  kind: Node
  metadata: {name: node-b}
`;

test('parse: multi-document YAML, List expansion, other kinds and other nodes ignored, default namespace', () => {
  const a = parseManifestText(SERVICES, 'svc.yaml', 'node-a');
  assert.equal(a.error, undefined);
  assert.deepEqual(a.entries.map((e) => e.key), ['Service/shop/web', 'Service/default/db']);
  const web = a.entries[0]!.obj as any;
  assert.equal(web.spec.clusterIP, '10.96.0.10');
  assert.equal(web.spec.ports[0].targetPort, 8080);
  const b = parseManifestText(LIST, 'list.yaml', 'node-a');
  assert.deepEqual(b.entries.map((e) => e.key), ['EndpointSlice/shop/web-abc', 'Node//node-a']);
  assert.equal((b.entries[0]!.obj as any).endpoints[0].conditions.ready, true);
  // A typed list (kubectl get services -o yaml) gives its items their kind.
  const typed = parseManifestText('apiVersion: v1\nkind: ServiceList\nitems:\n- metadata: {name: x, namespace: y}\n  spec: {clusterIP: 10.96.0.12}\n', 't.yaml', 'n');
  assert.deepEqual(typed.entries.map((e) => e.key), ['Service/y/x']);
  // JSON files.
  const j = parseManifestText(JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'j' } }), 'j.json', 'n');
  assert.deepEqual(j.entries.map((e) => e.key), ['Service/default/j']);
  // A Service without a name is skipped with a warning; the rest of the file is used.
  const w = parseManifestText('kind: Service\napiVersion: v1\nmetadata: {}\n---\nkind: Service\napiVersion: v1\nmetadata: {name: ok}\n', 'w.yaml', 'n');
  assert.deepEqual(w.entries.map((e) => e.key), ['Service/default/ok']);
  assert.equal(w.warnings.length, 1);
  assert.match(w.warnings[0]!, /w\.yaml document 1: Service without metadata\.name/);
});

test('parse errors name the file, line and column', () => {
  const y = parseManifestText('apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n', 'bad.yaml', 'n');
  assert.ok(y.error);
  assert.match(y.error.message, /^bad\.yaml:\d+:\d+: invalid YAML: /);
  const y2 = parseManifestText('a: 1\nb: {x: 1\nc: 2\n', 'bad2.yml', 'n');
  assert.equal(y2.error!.message, 'bad2.yml:3:1: invalid YAML: Flow map in block collection must be sufficiently indented and end with a }');
  const j = parseManifestText('{\n  "kind": "Service",\n  oops\n}', 'bad.json', 'n');
  assert.match(j.error!.message, /^bad\.json:3:\d+: invalid JSON/);
});

test('readBounded: whole files whatever the stat said, nothing past the limit', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'f.json');
  const text = 'é'.repeat(100_000); // 200,000 bytes
  writeFileSync(file, text);
  assert.equal(readBounded(file, 1 << 20), text, 'no size given');
  assert.equal(readBounded(file, 1 << 20, 200_000), text, 'the right size');
  assert.equal(readBounded(file, 1 << 20, 10), text, 'grew after the stat');
  assert.equal(readBounded(file, 1 << 20, 0), text, 'was empty at the stat');
  assert.equal(readBounded(file, 1 << 20, 500_000), text, 'shrank after the stat');
  assert.equal(readBounded(file, 200_000, 200_000), text, 'exactly the limit');
  assert.equal(readBounded(file, 199_999, 200_000), undefined, 'one byte over the limit');
  assert.equal(readBounded(file, 199_999, 10), undefined, 'over the limit, grown after the stat');
  writeFileSync(file, '');
  assert.equal(readBounded(file, 100, 0), '');
});

function tempDir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'kipvs-manifests-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('directory: first read then synced; changes give exact diffs; broken file keeps its objects; removal removes', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'svc.yaml'), SERVICES);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'list.yml'), LIST);
  writeFileSync(join(dir, 'notes.txt'), 'kind: Service\napiVersion: v1\nmetadata: {name: ignored}\n');
  mkdirSync(join(dir, '.hidden'));
  writeFileSync(join(dir, '.hidden', 'x.yaml'), 'kind: Service\napiVersion: v1\nmetadata: {name: hidden}\n');
  const source = manifestSource({ dir, nodeName: 'node-a', log: silentLogger, pollMs: 100, debounceMs: 10 });
  const rec = new Recorder();
  t.after(() => source.stop());
  await source.start(rec);
  // Files in path order (sub/list.yml before svc.yaml), documents in file order; notes.txt and .hidden skipped.
  assert.deepEqual(rec.take(), [
    'upsert EndpointSlice shop/web-abc', 'upsert Node /node-a', 'upsert Service shop/web', 'upsert Service default/db', 'synced',
  ]);
  assert.equal(rec.errors.length, 0);
  assert.equal(source.describe(), `manifests in ${dir} (node node-a)`);

  // Change one Service's content and give the other its default namespace explicitly (same content): one upsert.
  writeFileSync(join(dir, 'svc.yaml'), SERVICES.replace('10.96.0.10', '10.96.0.20').replace('metadata: {name: db}', 'metadata: {name: db, namespace: default}'));
  await waitFor('web changed', () => rec.events.length >= 1);
  await sleep(250);
  assert.deepEqual(rec.take(), ['upsert Service shop/web']);
  assert.equal((rec.objects.get('Service/shop/web') as any).spec.clusterIP, '10.96.0.20');

  // Break the file: an error naming it and the position; its objects stay.
  writeFileSync(join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata:\n  name: [oops\n');
  await waitFor('error', () => rec.errors.length === 1);
  await sleep(250);
  assert.match(rec.errors[0]!.message, /^svc\.yaml:\d+:\d+: invalid YAML/);
  assert.equal(rec.errors.length, 1, 'reported once, not at every poll');
  assert.deepEqual(rec.take(), []);

  // Fixed again, without db: db is removed, web unchanged from before the breakage → no event for it.
  writeFileSync(join(dir, 'svc.yaml'), SERVICES.replace('10.96.0.10', '10.96.0.20').split('---').slice(0, 3).join('---'));
  await waitFor('db removed', () => rec.events.length >= 1);
  await sleep(250);
  assert.deepEqual(rec.take(), ['remove Service default/db']);

  // A new file (written elsewhere and renamed in, as editors and ConfigMap updates do).
  writeFileSync(join(dir, '.tmp-new'), 'apiVersion: v1\nkind: Service\nmetadata: {name: new, namespace: shop}\nspec: {clusterIP: 10.96.0.30}\n');
  renameSync(join(dir, '.tmp-new'), join(dir, 'new.json.yaml'));
  await waitFor('new', () => rec.events.length >= 1);
  await sleep(250);
  assert.deepEqual(rec.take(), ['upsert Service shop/new']);

  // The list file removed: its objects are removed.
  rmSync(join(dir, 'sub', 'list.yml'));
  await waitFor('list removed', () => rec.events.length >= 2);
  await sleep(250);
  assert.deepEqual(rec.take().sort(), ['remove EndpointSlice shop/web-abc', 'remove Node /node-a']);
  assert.equal(rec.errors.length, 1);
});

test('directory: an object moving between files and a missing directory', async (t) => {
  const dir = tempDir(t);
  const missing = join(dir, 'later');
  const source = manifestSource({ dir: missing, nodeName: 'node-a', log: silentLogger, pollMs: 50, debounceMs: 10 });
  const rec = new Recorder();
  t.after(() => source.stop());
  await source.start(rec);
  assert.equal(rec.errors.length, 1);
  assert.match(rec.errors[0]!.message, /cannot read manifests directory/);
  assert.deepEqual(rec.take(), [], 'no sync before the directory can be read');
  await sleep(150);
  assert.equal(rec.errors.length, 1, 'the same problem is reported once');
  mkdirSync(missing);
  const one = 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.1}\n';
  writeFileSync(join(missing, 'a.yaml'), one);
  await waitFor('synced', () => rec.events.includes('synced'));
  assert.deepEqual(rec.take(), ['upsert Service default/a', 'synced']);
  // Moving the same object to another file in one step (rename) is no change at all.
  renameSync(join(missing, 'a.yaml'), join(missing, 'b.yaml'));
  await sleep(300);
  assert.deepEqual(rec.take(), []);
});

test('directory: fs.watch notices a change long before the poll would', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.1}\n');
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 60_000, debounceMs: 10 });
  const rec = new Recorder();
  t.after(() => source.stop());
  await source.start(rec);
  assert.deepEqual(rec.take(), ['upsert Service default/a', 'synced']);
  writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.2}\n');
  await waitFor('change via fs.watch', () => rec.events.length === 1, 2000);
  assert.deepEqual(rec.take(), ['upsert Service default/a']);
  rmSync(join(dir, 'a.yaml'));
  await waitFor('removal via fs.watch', () => rec.events.length === 1, 2000);
  assert.deepEqual(rec.take(), ['remove Service default/a']);
  await source.stop();
  writeFileSync(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: b}\n');
  await sleep(100);
  assert.deepEqual(rec.take(), [], 'nothing after stop');
});

test('directory: a change only the poll found says so at debug level, naming the file; one the watch reported does not', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.1}\n');
  const said: { msg: string; file?: string }[] = [];
  const log = { ...silentLogger, debug: (o: object, msg: string) => said.push({ msg, ...(o as { file?: string }) }) };
  // The watch's reread waits a minute, the poll comes every 50 ms: the poll finds the change.
  const polled = manifestSource({ dir, nodeName: 'n', log, pollMs: 50, debounceMs: 60_000 });
  const rec = new Recorder();
  t.after(() => polled.stop());
  await polled.start(rec);
  assert.deepEqual(rec.take(), ['upsert Service default/a', 'synced']);
  assert.deepEqual(said, [], 'the first read is no change');
  writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.2}\n');
  await waitFor('change via the poll', () => rec.events.length === 1, 3000);
  assert.deepEqual(rec.take(), ['upsert Service default/a']);
  assert.deepEqual(said, [{ msg: 'manifest file changed: found by the poll, not by a watch event', file: 'a.yaml' }]);
  await polled.stop();
  // The watch first (poll a minute away): nothing said.
  said.length = 0;
  const watched = manifestSource({ dir, nodeName: 'n', log, pollMs: 60_000, debounceMs: 10 });
  t.after(() => watched.stop());
  const rec2 = new Recorder();
  await watched.start(rec2);
  rec2.take();
  writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.3}\n');
  await waitFor('change via fs.watch', () => rec2.events.length === 1, 2000);
  assert.deepEqual(said, []);
});

test('directory: the same object in two files (the later path wins, the earlier one shows again when the later goes); a rename seen by fs.watch is no change', async (t) => {
  const dir = tempDir(t);
  const svc = (name: string, ip: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: ${ip}}\n`;
  writeFileSync(join(dir, 'a.yaml'), svc('x', '10.96.0.1'));
  writeFileSync(join(dir, 'b.yaml'), svc('x', '10.96.0.2') + '---\n' + svc('y', '10.96.0.3'));
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 60_000, debounceMs: 20 });
  const rec = new Recorder();
  t.after(() => source.stop());
  await source.start(rec);
  assert.deepEqual(rec.take(), ['upsert Service default/x', 'upsert Service default/y', 'synced']);
  assert.equal((rec.objects.get('Service/default/x') as any).spec.clusterIP, '10.96.0.2', 'b.yaml, the later path, wins');
  rmSync(join(dir, 'b.yaml'));
  await waitFor('b.yaml gone', () => rec.events.length >= 2, 2000);
  await sleep(150);
  assert.deepEqual(rec.take().sort(), ['remove Service default/y', 'upsert Service default/x']);
  assert.equal((rec.objects.get('Service/default/x') as any).spec.clusterIP, '10.96.0.1', 'a.yaml holds x again');
  // A rename: both names come in one watch window and are read together.
  renameSync(join(dir, 'a.yaml'), join(dir, 'c.yaml'));
  await sleep(400);
  assert.deepEqual(rec.take(), []);
  // And the renamed file is the one read now: editing it is seen.
  writeFileSync(join(dir, 'c.yaml'), svc('x', '10.96.0.9'));
  await waitFor('c.yaml edited', () => rec.events.length >= 1, 2000);
  assert.deepEqual(rec.take(), ['upsert Service default/x']);
  assert.equal((rec.objects.get('Service/default/x') as any).spec.clusterIP, '10.96.0.9');
});

test('directory: a file written as a hidden temporary and renamed into place is read through the watch alone', async (t) => {
  const dir = tempDir(t);
  const svc = (ip: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: ${ip}}\n`;
  writeFileSync(join(dir, 'a.yaml'), svc('10.96.0.1'));
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 60_000, debounceMs: 10 });
  const rec = new Recorder();
  t.after(() => source.stop());
  await source.start(rec);
  assert.deepEqual(rec.take(), ['upsert Service default/a', 'synced']);
  for (const ip of ['10.96.0.2', '10.96.0.3']) {
    writeFileSync(join(dir, '.next'), svc(ip));
    renameSync(join(dir, '.next'), join(dir, 'a.yaml'));
    await waitFor(`a.yaml now ${ip}`, () => rec.events.length === 1, 2000);
    assert.deepEqual(rec.take(), ['upsert Service default/a']);
    assert.equal((rec.objects.get('Service/default/a') as any).spec.clusterIP, ip);
  }
});

test('directory: watched files are reread while a full scan is held up; the full scans after it drop nothing', async (t) => {
  const dir = tempDir(t);
  const svc = (name: string, ip: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: ${ip}}\n`;
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `s${i}.yaml`), svc(`s${i}`, `10.96.1.${i}`));
  writeFileSync(join(dir, 'a.yaml'), svc('a', '10.96.0.1'));
  // Once armed, a full scan waits for `release` at its first yield (one file per slice): a full scan
  // that takes as long as the test wants, as one over 10,000 files under a busy agent does.
  let armed = false;
  let fullHeld = false;
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  const pause = async (lane: 'full' | 'paths'): Promise<void> => {
    if (armed && lane === 'full') { fullHeld = true; await released; }
    await new Promise((r) => setImmediate(r));
  };
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 20, debounceMs: 10, sliceMs: 0, pause });
  const rec = new Recorder();
  t.after(() => { release(); return source.stop(); });
  await source.start(rec);
  assert.equal(rec.take().length, 22);
  armed = true;
  await waitFor('a full scan (the poll) held up', () => fullHeld, 2000);
  // Written aside and renamed in: the hidden name asks for a full scan, the visible one for a reread.
  writeFileSync(join(dir, '.next'), svc('a', '10.96.0.2'));
  renameSync(join(dir, '.next'), join(dir, 'a.yaml'));
  writeFileSync(join(dir, 'n.yaml'), svc('n', '10.96.0.3'));
  await waitFor('a.yaml and n.yaml reread while the full scan waits', () => rec.events.length === 2, 2000);
  assert.deepEqual(rec.take().sort(), ['upsert Service default/a', 'upsert Service default/n']);
  assert.equal((rec.objects.get('Service/default/a') as any).spec.clusterIP, '10.96.0.2');
  release();
  armed = false;
  await sleep(300); // the held scan and the polls after it
  assert.deepEqual(rec.take(), [], 'the full scans find nothing more to say, and drop nothing');
  assert.ok(rec.objects.has('Service/default/n'));
});

test('directory: stopped from its synced() handler, the source leaves no poll timer behind', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.1}\n');
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 60_000, debounceMs: 10 });
  let stopping: Promise<void> | undefined;
  const rec = new (class extends Recorder { override synced(): void { super.synced(); stopping = source.stop(); } })();
  const started = source.start(rec);
  await started;
  await stopping;
  assert.equal(timers(), before, 'no timer left: a process that stops its source can exit');
});

test('directory: a file written aside and renamed in is reread without a full scan; a ConfigMap-style ..data swap rescans, through the watch alone', async (t) => {
  const dir = tempDir(t);
  const svc = (name: string, ip: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: ${ip}}\n`;
  writeFileSync(join(dir, 'a.yaml'), svc('a', '10.96.0.1'));
  // A mounted ConfigMap: visible symlinks into ..data, itself a symlink to a timestamped directory.
  mkdirSync(join(dir, '..v1'));
  writeFileSync(join(dir, '..v1', 'cm.yaml'), svc('cm', '10.96.1.1'));
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync(join('..data', 'cm.yaml'), join(dir, 'cm.yaml'));
  let fullSlices = 0;
  const pause = async (lane: 'full' | 'paths'): Promise<void> => { if (lane === 'full') fullSlices++; await new Promise((r) => setImmediate(r)); };
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 60_000, debounceMs: 10, sliceMs: 0, pause });
  const rec = new Recorder();
  t.after(() => source.stop());
  await source.start(rec);
  assert.deepEqual(rec.take(), ['upsert Service default/a', 'upsert Service default/cm', 'synced']);
  fullSlices = 0;
  writeFileSync(join(dir, '.next'), svc('a', '10.96.0.2'));
  renameSync(join(dir, '.next'), join(dir, 'a.yaml'));
  await waitFor('a.yaml reread', () => rec.events.length === 1, 2000);
  await sleep(100);
  assert.deepEqual(rec.take(), ['upsert Service default/a']);
  assert.equal(fullSlices, 0, 'no full scan for a temporary renamed away');
  // The swap as the kubelet does it: a new directory, ..data_tmp pointing at it, renamed over ..data.
  mkdirSync(join(dir, '..v2'));
  writeFileSync(join(dir, '..v2', 'cm.yaml'), svc('cm', '10.96.1.2'));
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  await waitFor('the ConfigMap change, through a full scan', () => rec.events.length === 1, 2000);
  assert.deepEqual(rec.take(), ['upsert Service default/cm']);
  assert.equal((rec.objects.get('Service/default/cm') as any).spec.clusterIP, '10.96.1.2');
  assert.ok(fullSlices > 0);
});

test('directory: the source keeps no objects, yet a removal names what the model needs and a removed Node is its last state', async (t) => {
  const dir = tempDir(t);
  const slice = 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web, team: a}}\naddressType: IPv4\nendpoints: []\n';
  const node = 'apiVersion: v1\nkind: Node\nmetadata: {name: n, deletionTimestamp: "2026-12-05T10:00:00Z"}\n';
  writeFileSync(join(dir, 'slice.yaml'), slice);
  writeFileSync(join(dir, 'node.yaml'), node);
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 60_000, debounceMs: 10 });
  const removed: KubeObject[] = [];
  const rec = new Recorder();
  const orig = rec.remove.bind(rec);
  rec.remove = (kind, obj) => { removed.push(obj); orig(kind, obj); };
  t.after(() => source.stop());
  await source.start(rec);
  assert.deepEqual(rec.take(), ['upsert Node /n', 'upsert EndpointSlice shop/web-1', 'synced']);
  rmSync(join(dir, 'slice.yaml'));
  rmSync(join(dir, 'node.yaml'));
  await waitFor('both removed', () => rec.events.length >= 2, 2000);
  assert.deepEqual(rec.take().sort(), ['remove EndpointSlice shop/web-1', 'remove Node /n']);
  const bySlice = removed.find((o) => o.kind === 'EndpointSlice')!;
  assert.deepEqual(bySlice.metadata, { name: 'web-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } }, "the slice's name and its Service");
  const byNode = removed.find((o) => o.kind === 'Node')!;
  assert.equal((byNode.metadata as { deletionTimestamp?: string }).deletionTimestamp, '2026-12-05T10:00:00Z', 'the Node as it last was');
});

test('directory: the objects handed on are not kept by the source (collected once the receiver drops them)', async (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `s${i}.yaml`), `apiVersion: v1\nkind: Service\nmetadata: {name: s${i}}\nspec: {clusterIP: 10.96.0.${i + 1}}\n`);
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 60_000, debounceMs: 10 });
  t.after(() => source.stop());
  const refs: WeakRef<object>[] = [];
  let synced = false;
  await source.start({ upsert(_k, obj) { refs.push(new WeakRef(obj)); }, remove() {}, synced() { synced = true; }, error() {} });
  assert.ok(synced);
  assert.equal(refs.length, 20);
  await new Promise((r) => setImmediate(r));
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  assert.deepEqual(refs.filter((r) => r.deref() !== undefined).length, 0, 'objects still reachable after a full collection');
});

test('directory: a scan hands on what each slice read before it goes on; an object moved to a file later in path order is no removal', async (t) => {
  const dir = tempDir(t);
  const svc = (name: string, ip: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: ${ip}}\n`;
  for (let i = 0; i < 6; i++) writeFileSync(join(dir, `s${i}.yaml`), svc(`s${i}`, `10.96.1.${i}`));
  writeFileSync(join(dir, 'a.yaml'), svc('x', '10.96.0.1'));
  // One file per slice; the first scan is held at its fourth yield.
  let yields = 0;
  let held = false;
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  const pause = async (lane: 'full' | 'paths'): Promise<void> => {
    if (lane === 'full' && ++yields === 4) { held = true; await released; }
    await new Promise((r) => setImmediate(r));
  };
  const source = manifestSource({ dir, nodeName: 'n', log: silentLogger, pollMs: 60_000, debounceMs: 10, sliceMs: 0, pause });
  const rec = new Recorder();
  t.after(() => { release(); return source.stop(); });
  const started = source.start(rec);
  await waitFor('the first scan held', () => held, 2000);
  // Path order: a.yaml, s0.yaml, s1.yaml, s2.yaml are read, each handed on at its slice's end.
  assert.deepEqual(rec.take(), ['upsert Service default/x', 'upsert Service default/s0', 'upsert Service default/s1', 'upsert Service default/s2']);
  release();
  await started;
  assert.deepEqual(rec.take(), ['upsert Service default/s3', 'upsert Service default/s4', 'upsert Service default/s5', 'synced']);
  // x moves from a.yaml to z.yaml (read in a later slice of the same rescan): nothing to hand on.
  writeFileSync(join(dir, 'z.yaml'), svc('x', '10.96.0.1'));
  rmSync(join(dir, 'a.yaml'));
  await sleep(300);
  assert.deepEqual(rec.take(), [], 'no removal of x, and no upsert either');
  // And gone for good: removed at the end of the scan that finds no file holding it.
  rmSync(join(dir, 'z.yaml'));
  await waitFor('x removed', () => rec.events.length >= 1, 2000);
  assert.deepEqual(rec.take(), ['remove Service default/x']);
});
