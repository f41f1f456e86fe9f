// The manifests source's index (src/sources/manifest-index.ts): what it hands on when the files holding
// an object change, without keeping the objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestIndex, held, type Fresh } from '../../src/sources/manifest-index.js';
import type { Kind, KubeObject, SourceEvents } from '../../src/sources/types.js';
import { silentLogger } from '../../src/sources/types.js';

const svc = (ip: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: 'default' }, spec: { clusterIP: ip } }) as unknown as KubeObject;
const KEY = 'Service/default/x';

class Recorder implements SourceEvents {
  events: string[] = [];
  upsert(kind: Kind, obj: KubeObject): void { this.events.push(`upsert ${kind} ${(obj as any).spec.clusterIP}`); }
  remove(kind: Kind, obj: KubeObject): void { this.events.push(`remove ${kind} ${obj.metadata?.namespace}/${obj.metadata?.name}`); }
  synced(): void {}
  error(): void {}
}

/** An index over in-memory "files" (path -> object of KEY), read again from there. */
function setup() {
  const disk = new Map<string, KubeObject | undefined>();
  const rereads: string[] = [];
  const index = new ManifestIndex({ log: silentLogger, relative: (p) => p, reread: (p) => { rereads.push(p); return disk.get(p); } });
  /** What a scan's read of `path` does: the index records the file, the scan's fresh map keeps the object. */
  const read = (path: string, obj: KubeObject, fresh: Fresh, changed: string[]) => {
    disk.set(path, obj);
    const h = held({ kind: 'Service', key: KEY, obj, file: path });
    fresh.set(h, obj);
    index.setFile(path, { sig: (obj as any).spec.clusterIP, entries: new Map([[KEY, h]]) }, changed);
  };
  return { index, disk, rereads, read };
}

test('a lane never hands on an older object than the index records (the other lane read the file since)', () => {
  const { index, rereads, read } = setup();
  const rec = new Recorder();
  const full: Fresh = new Map();
  const fullChanged: string[] = [];
  read('a.yaml', svc('10.96.0.1'), full, fullChanged);
  // Before the full lane hands on, the paths lane reads the file again, changed.
  const paths: Fresh = new Map();
  const pathsChanged: string[] = [];
  read('a.yaml', svc('10.96.0.2'), paths, pathsChanged);
  index.emit(fullChanged, full, rec);
  assert.deepEqual(rec.events, ['upsert Service 10.96.0.2'], "the object the index's record was made of, read again");
  assert.deepEqual(rereads, ['a.yaml']);
  index.emit(pathsChanged, paths, rec);
  assert.deepEqual(rec.events, ['upsert Service 10.96.0.2'], 'and not handed on twice');
});

test('an earlier file whose object cannot be read again when the later one goes: left as it was, tried again at the next full scan', () => {
  const { index, disk, read } = setup();
  const rec = new Recorder();
  const fresh: Fresh = new Map();
  const changed: string[] = [];
  read('a.yaml', svc('10.96.0.1'), fresh, changed);
  read('b.yaml', svc('10.96.0.2'), fresh, changed);
  index.emit(changed, fresh, rec);
  assert.deepEqual(rec.events, ['upsert Service 10.96.0.2'], 'b.yaml, the later path, wins');
  rec.events = [];
  // b.yaml goes while a.yaml cannot be read (unreadable, or broken since its last good read).
  disk.set('a.yaml', undefined);
  const gone: string[] = [];
  index.setFile('b.yaml', undefined, gone);
  index.emit(gone, new Map(), rec);
  assert.deepEqual(rec.events, [], 'nothing handed on: the model keeps what it had');
  assert.deepEqual(index.takeRetries(), [KEY], 'the key waits for the next full scan');
  assert.deepEqual(index.takeRetries(), [], 'once');
  // The next full scan: a.yaml readable again.
  disk.set('a.yaml', svc('10.96.0.1'));
  index.emit([KEY], new Map(), rec);
  assert.deepEqual(rec.events, ['upsert Service 10.96.0.1'], "a.yaml's object shows again");
  // And when no file holds it any more: removed, naming it.
  rec.events = [];
  const last: string[] = [];
  index.setFile('a.yaml', undefined, last);
  index.emit(last, new Map(), rec);
  assert.deepEqual(rec.events, ['remove Service default/x']);
});
