// The manifest-directory source against random and malformed files (issue 11, bad input): no text makes
// the parser throw; random and malformed objects read from files go through the model without throwing;
// a directory full of bad files (garbage, alias bombs, deep nesting, a file over the size limit, an
// object over the object limit) still gives the well-formed file's objects, with an error naming each
// bad file, and the model programs the well-formed Service exactly as it would alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { manifestSource, parseManifestText, MANIFEST_LIMITS } from '../../src/sources/manifests.js';
import type { Kind, KubeObject, SourceEvents } from '../../src/sources/types.js';
import { silentLogger } from '../../src/sources/types.js';
import { ProxyModel } from '../../src/model/index.js';
import { feedModel } from '../../src/agent/feed.js';
import { objectMix, NODE_NAME, type Obj } from './arbitraries.js';

const RUNS = Number(process.env.KIPVS_PROPERTY_RUNS ?? 100);

const API: Record<Kind, string> = { Service: 'v1', EndpointSlice: 'discovery.k8s.io/v1', Node: 'v1' };
const asManifest = (o: Obj): unknown => (typeof o.obj === 'object' && o.obj !== null ? { apiVersion: API[o.kind], kind: o.kind, ...o.obj } : o.obj);

const newModel = () => {
  const m = new ProxyModel({ scheduler: '', nodeName: NODE_NAME, families: ['inet', 'inet6'] });
  m.setNodeAddresses(['192.168.1.10'], ['192.168.1.10']);
  return m;
};

test('property: no text, YAML or JSON, makes the manifest parser throw', () => {
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 400 }),
    fc.string({ unit: 'grapheme', maxLength: 400 }),
    // Text that is nearly YAML: fragments of manifests in random order.
    fc.array(fc.constantFrom('apiVersion: v1\n', 'kind: Service\n', 'kind: List\n', 'items:\n', '- ', 'metadata: {name: x}\n', '---\n', '  ', '&a ', '*a ', '[', ']', '{', '}', ': ', '"', "'", '\t', '#', '!!binary ', '? '), { maxLength: 60 }).map((a) => a.join('')),
  );
  fc.assert(fc.property(text, fc.constantFrom('f.yaml', 'f.json'), (t, name) => {
    const r = parseManifestText(t, name, NODE_NAME);
    assert.ok(r.error === undefined || r.error.message.startsWith(name), 'an error names the file');
  }), { numRuns: RUNS * 3 });
});

test('property: random and malformed objects read from YAML and JSON files go through the model without throwing', () => {
  fc.assert(fc.property(objectMix, (objs) => {
    const yaml = objs.map((o) => stringify(asManifest(o))).join('---\n');
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs.map(asManifest) });
    const m = newModel();
    for (const [text, name] of [[yaml, 'r.yaml'], [json, 'r.json']] as const) {
      const parsed = parseManifestText(text, name, NODE_NAME);
      assert.equal(parsed.error, undefined, `the file parses: ${parsed.error?.message}`);
      for (const w of parsed.warnings) assert.ok(w.startsWith(name), `a warning names the file: ${w}`);
      for (const e of parsed.entries) feedModel(m, NODE_NAME, e.kind, e.obj, false);
      m.commit();
      m.warnings();
      for (const e of parsed.entries) feedModel(m, NODE_NAME, e.kind, e.obj, true);
      m.commit();
    }
  }), { numRuns: Math.ceil(RUNS / 2) });
});

const FIXED_FILE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: fixed}
spec: {clusterIP: 10.200.0.1, ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: fixed, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.3.0.1]}, {addresses: [10.3.0.2]}]
`;

/** What the source emitted (the objects now present) and the errors it reported. */
class Recorder {
  objects = new Map<string, { kind: Kind; obj: KubeObject }>();
  errors: string[] = [];
  upsert(kind: Kind, obj: KubeObject): void { this.objects.set(`${kind}/${JSON.stringify(obj.metadata?.namespace)}/${JSON.stringify(obj.metadata?.name)}`, { kind, obj }); }
  remove(kind: Kind, obj: KubeObject): void { this.objects.delete(`${kind}/${JSON.stringify(obj.metadata?.namespace)}/${JSON.stringify(obj.metadata?.name)}`); }
  error(_k: Kind | 'manifests', err: Error): void { this.errors.push(err.message); }
}

async function readDir(files: Record<string, string>, extra?: (dir: string) => void): Promise<Recorder> {
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-manifest-prop-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    extra?.(dir);
    const rec = new Recorder();
    let synced = false;
    const src = manifestSource({ dir, nodeName: NODE_NAME, log: silentLogger, pollMs: 60_000 });
    const events: SourceEvents = { upsert: (k, o) => rec.upsert(k, o), remove: (k, o) => rec.remove(k, o), synced: () => { synced = true; }, error: (k, e) => rec.error(k, e) };
    await src.start(events);
    await src.stop();
    assert.ok(synced, 'the first read completes');
    return rec;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fixed Service's virtual services and real servers in a model fed with `objects`. */
function fixedProgrammed(objects: Iterable<{ kind: Kind; obj: KubeObject }>): string[] {
  const m = newModel();
  for (const { kind, obj } of objects) feedModel(m, NODE_NAME, kind, obj, false);
  m.commit();
  return [...m.service('fixed', 'web')?.virtualServices.keys() ?? []].map((k) => `${k} ${[...m.desired.services.get(k)?.servers.keys() ?? []].sort().join(',')}`).sort();
}

test('property: a directory of random and malformed files still gives the well-formed file\'s objects, programmed as alone', async () => {
  const alone = fixedProgrammed((await readDir({ 'fixed.yaml': FIXED_FILE })).objects.values());
  assert.deepEqual(alone, ['inet/tcp/10.200.0.1/80 10.3.0.1/8080,10.3.0.2/8080']);
  const badFile = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 200 }),
    objectMix.map((objs) => objs.map((o) => stringify(asManifest(o))).join('---\n')),
    objectMix.map((objs) => JSON.stringify(objs.map(asManifest))),
  );
  await fc.assert(fc.asyncProperty(fc.array(fc.tuple(badFile, fc.boolean()), { maxLength: 4 }), async (bad) => {
    const files: Record<string, string> = { 'm-fixed.yaml': FIXED_FILE };
    bad.forEach(([text, json], i) => { files[`${i % 2 ? 'a' : 'z'}-${i}.${json ? 'json' : 'yaml'}`] = text; });
    const rec = await readDir(files);
    assert.deepEqual(fixedProgrammed(rec.objects.values()), alone);
  }), { numRuns: Math.ceil(RUNS / 4) });
});

test('bounds: a file over the size limit is refused unread, an object over the object limit skipped, alias bombs and deep nesting refused; the rest is read', async () => {
  const aliasBomb = 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
  const deep = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"deep"},"spec":${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}}`;
  const bigObject = JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'big', namespace: 'x', annotations: { pad: 'p'.repeat(MANIFEST_LIMITS.objectBytes) } }, spec: { clusterIP: '10.96.0.9' } });
  const rec = await readDir({ 'fixed.yaml': FIXED_FILE, 'bomb.yaml': aliasBomb, 'deep.json': deep, 'big-object.json': bigObject }, (dir) => {
    // A sparse file: as large as it says, without writing it.
    writeFileSync(join(dir, 'huge.yaml'), '');
    truncateSync(join(dir, 'huge.yaml'), MANIFEST_LIMITS.fileBytes + 1);
  });
  assert.deepEqual(fixedProgrammed(rec.objects.values()), ['inet/tcp/10.200.0.1/80 10.3.0.1/8080,10.3.0.2/8080']);
  const errorAbout = (re: RegExp) => rec.errors.find((e) => re.test(e));
  assert.ok(errorAbout(/^huge\.yaml: larger than the limit of 16777216 bytes; not read/), rec.errors.join('\n'));
  assert.ok(errorAbout(/^bomb\.yaml: invalid YAML: .*alias/i), rec.errors.join('\n'));
  assert.ok(errorAbout(/^deep\.json: /), rec.errors.join('\n'));
  assert.ok(errorAbout(/^big-object\.json document 1: Service x\/big: \d+ bytes of JSON, more than the limit of 3145728; skipped/), rec.errors.join('\n'));
  assert.equal([...rec.objects.keys()].filter((k) => k.includes('big') || k.includes('deep')).length, 0);
});
