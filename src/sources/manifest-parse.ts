// Reading manifest files: one file's text into the Services, EndpointSlices and Node it holds (pure,
// never throws), and a bounded read. The source that watches the directory is manifests.ts.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { Kind, KubeObject } from './types.js';

export interface Entry {
  kind: Kind;
  key: string;
  obj: KubeObject;
  file: string;
}

export interface ParsedFile {
  entries: Entry[];
  /** A parse failure: the whole file is rejected. */
  error?: Error;
  /** Problems with single objects (skipped); the rest of the file is used. */
  warnings: string[];
}


/**
 * Bounds on what is read: a file larger than this is refused unread (a YAML parse holds many times the
 * text in memory; split large sets into several files); an object whose JSON is larger than this is
 * skipped (the API server refuses objects over 1.5 MiB, etcd's request limit).
 */
export const MANIFEST_LIMITS = { fileBytes: 16 << 20, objectBytes: 3 << 20 };
const API_VERSION: Record<Kind, string> = { Service: 'v1', EndpointSlice: 'discovery.k8s.io/v1', Node: 'v1' };
export const MANIFEST_RE = /\.(ya?ml|json)$/i;

function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1, last = -1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) { line++; last = i; }
  return { line, col: offset - last };
}

/** Parses one file's text into the objects this source keeps. Pure: exported for tests. Never throws. */
export function parseManifestText(text: string, file: string, nodeName: string): ParsedFile {
  try {
    return parse(text, file, nodeName);
  } catch (err) {
    // What the parsers and serialisers throw on pathological input (nesting deep enough to exhaust the
    // stack): this file is refused, the others are still read.
    return { entries: [], warnings: [], error: new Error(`${file}: cannot be read: ${(err as Error).message}`) };
  }
}

function parse(text: string, file: string, nodeName: string): ParsedFile {
  const docs: unknown[] = [];
  const isJson = /\.json$/i.test(file);
  if (isJson) {
    try {
      if (text.trim() !== '') docs.push(JSON.parse(text));
    } catch (err) {
      const msg = (err as Error).message;
      const m = /position (\d+)/.exec(msg);
      const where = m ? lineCol(text, Number(m[1])) : undefined;
      return { entries: [], warnings: [], error: new Error(`${file}${where ? `:${where.line}:${where.col}` : ''}: invalid JSON: ${msg}`) };
    }
  } else {
    const parsed = parseAllDocuments(text);
    const all = Array.isArray(parsed) ? parsed : [];
    for (const doc of all) {
      const e = doc.errors[0];
      if (e) {
        const pos = e.linePos?.[0];
        const first = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return { entries: [], warnings: [], error: new Error(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${first}`) };
      }
      try {
        // toJS refuses alias bombs (more than maxAliasCount expansions) by throwing.
        docs.push(doc.toJS());
      } catch (err) {
        return { entries: [], warnings: [], error: new Error(`${file}: invalid YAML: ${(err as Error).message}`) };
      }
    }
  }
  const entries: Entry[] = [];
  const warnings: string[] = [];
  const visit = (o: unknown, where: string, inherited?: { kind?: string; apiVersion?: string }): void => {
    if (o === null || o === undefined) return; // an empty document
    if (typeof o !== 'object' || Array.isArray(o)) { warnings.push(`${where}: not an object`); return; }
    const obj = o as Record<string, unknown>;
    const kind = typeof obj.kind === 'string' ? obj.kind : inherited?.kind;
    const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : inherited?.apiVersion;
    if (kind === undefined) { warnings.push(`${where}: no kind`); return; }
    if ((kind === 'List' || kind.endsWith('List')) && Array.isArray(obj.items)) {
      const itemKind = kind === 'List' ? undefined : kind.slice(0, -'List'.length);
      obj.items.forEach((item, i) => visit(item, `${where} item ${i}`, itemKind ? { kind: itemKind, ...(apiVersion ? { apiVersion } : {}) } : undefined));
      return;
    }
    if (kind !== 'Service' && kind !== 'EndpointSlice' && kind !== 'Node') return;
    if (apiVersion !== API_VERSION[kind]) return; // e.g. discovery.k8s.io/v1beta1
    const meta = obj.metadata as Record<string, unknown> | undefined;
    if (!meta || typeof meta !== 'object' || typeof meta.name !== 'string' || meta.name === '') {
      warnings.push(`${where}: ${kind} without metadata.name`);
      return;
    }
    if (kind === 'Node' && meta.name !== nodeName) return;
    const raw = { ...obj, kind, apiVersion, metadata: { ...meta } } as Record<string, unknown> & { metadata: Record<string, unknown> };
    if (kind === 'Node') delete raw.metadata.namespace;
    else if (raw.metadata.namespace !== undefined && raw.metadata.namespace !== null && typeof raw.metadata.namespace !== 'string') {
      warnings.push(`${where}: ${kind} ${meta.name}: metadata.namespace must be a string, not ${JSON.stringify(raw.metadata.namespace)}; skipped`);
      return;
    } else if (typeof raw.metadata.namespace !== 'string' || raw.metadata.namespace === '') raw.metadata.namespace = 'default';
    // An object's JSON is at most ~5.3 times the JSON text it was parsed from (a number such as 1e20
    // written out in full), so a small JSON file needs no measuring; YAML can expand through aliases.
    if (!isJson || text.length * 8 > MANIFEST_LIMITS.objectBytes) {
      const bytes = JSON.stringify(raw).length;
      if (bytes > MANIFEST_LIMITS.objectBytes) {
        const label = `${where}: ${kind} ${raw.metadata.namespace === undefined ? '' : `${String(raw.metadata.namespace)}/`}${meta.name}`;
        warnings.push(`${label}: ${bytes} bytes of JSON, more than the limit of ${MANIFEST_LIMITS.objectBytes}; skipped`);
        return;
      }
    }
    // The object goes to the model as read (plain JSON, timestamps as text), not through client-node's
    // ObjectSerializer: the model reads both shapes and checks every field it uses, and loading the
    // serialiser's ~230 generated model files cost 28 MB of RSS and most of a manifests agent's start.
    const typed = raw as unknown as KubeObject;
    // Kept by the index for as long as the object is (flat: join, not a template literal's concatenations).
    const key = [kind, (raw.metadata.namespace as string | undefined) ?? '', meta.name].join('/');
    entries.push({ kind, key, obj: typed, file });
  };
  docs.forEach((d, i) => visit(d, `${file} document ${i + 1}`));
  return { entries, warnings };
}

/**
 * The file's text, or undefined when it holds more than `limit` bytes (never reading more than limit + 1).
 * `sizeHint` is the size a stat just gave (else the handle is stat'ed): one buffer of that size plus the
 * byte that shows the end, so a small file costs an open, one read and a close. (A fixed 1-MiB buffer
 * per read, and a second read to find the end, made reading 1,000 small manifests allocate 2 GB.)
 * Synchronous: see manifests.ts (the source reads in time slices).
 */
export function readBounded(path: string, limit: number, sizeHint?: number): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = sizeHint ?? fstatSync(fd).size;
    let buf = Buffer.allocUnsafe(Math.min(size, limit) + 1);
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        // It grew since the stat: room for more, up to the limit and the byte past it.
        if (total > limit) return undefined;
        const bigger = Buffer.allocUnsafe(Math.min(limit + 1, Math.max(total * 2, total + (64 << 10))));
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const want = buf.length - total;
      const bytesRead = readSync(fd, buf, total, want, null);
      total += bytesRead;
      // The end: nothing more, or a short read that stops at the size the stat gave (a short read
      // anywhere else, as some network and FUSE file systems give, reads on).
      if (bytesRead === 0 || (bytesRead < want && total === size)) break;
    }
    if (total > limit) return undefined;
    return buf.toString('utf8', 0, total);
  } finally {
    closeSync(fd);
  }
}
