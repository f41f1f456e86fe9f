// A directory of manifests as a source, for running without an API server: every *.yaml, *.yml and *.json
// file under the directory (recursively; names starting with "." are skipped, which also skips the
// ..data/..timestamp entries of a mounted ConfigMap while following its visible symlinks).
//
// - YAML files may hold many documents; a `kind: List` or any `*List` with `items` (kubectl get -o yaml)
//   is expanded; JSON files are parsed as JSON.
// - Kept: Services (v1), EndpointSlices (discovery.k8s.io/v1), and the Node whose name is nodeName. Other
//   kinds and versions are ignored. Namespaced objects without a namespace go to "default", as kubectl does.
// - Objects are keyed by kind/namespace/name; the same key in two files: the later file (path order) wins.
// - Changes are found by fs.watch plus a poll (mtime, ctime, size, inode of every file), and only the
//   differences are emitted: upsert for an added or changed object (different content), remove for one that
//   is gone. A file that fails to parse is reported (file, line, column) and its previously loaded objects
//   stay until it parses again or is removed.
// - synced() follows the first complete read of the directory; until the directory can be read there is an
//   error per attempt and no sync.
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Kind, KubeObject, Logger, Source, SourceEvents } from './types.js';

export interface ManifestSourceOptions {
  dir: string;
  nodeName: string;
  log: Logger;
  /** Poll interval in ms (default 1000); the poll catches what fs.watch misses. */
  pollMs?: number;
  /** Delay between an fs.watch notification and the rescan, to let writers finish (default 50 ms). */
  debounceMs?: number;
}

interface Entry {
  kind: Kind;
  key: string;
  obj: KubeObject;
  /** Canonical JSON of the object as read: equal text = unchanged. */
  canon: string;
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
const MANIFEST_RE = /\.(ya?ml|json)$/i;

/** JSON with object keys sorted, so that two equal objects give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v as Record<string, unknown>).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}

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
  if (/\.json$/i.test(file)) {
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
    const canon = canonicalJson(raw);
    const label = `${where}: ${kind} ${raw.metadata.namespace === undefined ? '' : `${String(raw.metadata.namespace)}/`}${meta.name}`;
    if (canon.length > MANIFEST_LIMITS.objectBytes) {
      warnings.push(`${label}: ${canon.length} bytes of JSON, more than the limit of ${MANIFEST_LIMITS.objectBytes}; skipped`);
      return;
    }
    // The object goes to the model as read (plain JSON, timestamps as text), not through client-node's
    // ObjectSerializer: the model reads both shapes and checks every field it uses, and loading the
    // serialiser's ~230 generated model files cost 28 MB of RSS and most of a manifests agent's start.
    const typed = raw as unknown as KubeObject;
    const key = `${kind}/${(raw.metadata.namespace as string | undefined) ?? ''}/${meta.name}`;
    entries.push({ kind, key, obj: typed, canon, file });
  };
  docs.forEach((d, i) => visit(d, `${file} document ${i + 1}`));
  return { entries, warnings };
}

/** The file's text, or undefined when it holds more than `limit` bytes (never reading more than limit + 1). */
async function readBounded(path: string, limit: number): Promise<string | undefined> {
  const fh = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) return undefined;
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await fh.close();
  }
}

interface FileState {
  sig: string;
  entries: Entry[];
}

export function manifestSource(options: ManifestSourceOptions): Source {
  const { dir, nodeName, log } = options;
  const pollMs = options.pollMs ?? 1000;
  const debounceMs = options.debounceMs ?? 50;
  let events: SourceEvents | undefined;
  let stopped = false;
  let syncedSent = false;
  const files = new Map<string, FileState>();
  let emitted = new Map<string, Entry>();
  let watcher: FSWatcher | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let debounceTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let rescan = false;
  let lastDirError = '';

  async function walk(d: string, out: string[]): Promise<void> {
    const names = await readdir(d);
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      let st;
      try { st = await stat(p); } catch { continue; } // vanished, or a dangling symlink
      if (st.isDirectory()) await walk(p, out);
      else if (st.isFile() && MANIFEST_RE.test(name)) out.push(p);
    }
  }

  async function scanOnce(): Promise<void> {
    let paths: string[] = [];
    try {
      await walk(dir, paths);
    } catch (err) {
      const msg = `cannot read manifests directory ${dir}: ${(err as Error).message}`;
      if (msg !== lastDirError) {
        lastDirError = msg;
        log.warn({ dir }, msg);
        events?.error('manifests', new Error(msg));
      }
      return;
    }
    lastDirError = '';
    ensureWatcher();
    const seen = new Set(paths);
    for (const p of [...files.keys()]) if (!seen.has(p)) files.delete(p);
    for (const p of paths) {
      let sig: string;
      try {
        const st = await stat(p);
        sig = `${st.mtimeMs}:${st.ctimeMs}:${st.size}:${st.ino}`;
      } catch {
        files.delete(p);
        continue;
      }
      const old = files.get(p);
      if (old && old.sig === sig) continue;
      let text: string | undefined;
      const rel = relative(dir, p) || p;
      try {
        text = await readBounded(p, MANIFEST_LIMITS.fileBytes);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') { files.delete(p); continue; }
        events?.error('manifests', new Error(`${p}: ${(err as Error).message}`));
        continue; // keep what it had; retried on the next change
      }
      if (text === undefined) {
        const msg = `${rel}: larger than the limit of ${MANIFEST_LIMITS.fileBytes} bytes; not read (split it into several files)`;
        log.warn({ file: p }, msg);
        events?.error('manifests', new Error(msg));
        files.set(p, { sig, entries: old?.entries ?? [] });
        continue;
      }
      const parsed = parseManifestText(text, rel, nodeName);
      if (parsed.error) {
        log.warn({ file: p, err: parsed.error.message }, 'manifest file does not parse; keeping its previous objects');
        events?.error('manifests', parsed.error);
        files.set(p, { sig, entries: old?.entries ?? [] });
        continue;
      }
      for (const w of parsed.warnings) {
        log.warn({ file: p }, w);
        events?.error('manifests', new Error(w));
      }
      files.set(p, { sig, entries: parsed.entries });
    }
    // Merge (later paths win) and emit the differences.
    const next = new Map<string, Entry>();
    for (const p of [...files.keys()].sort()) {
      for (const e of files.get(p)!.entries) {
        const prev = next.get(e.key);
        if (prev && prev.file !== e.file) log.warn({ key: e.key, files: [prev.file, e.file] }, 'object defined in two files; the later one wins');
        next.set(e.key, e);
      }
    }
    if (!events || stopped) return;
    const ev = events;
    for (const [key, e] of emitted) if (!next.has(key)) ev.remove(e.kind, e.obj);
    for (const [key, e] of next) {
      const prev = emitted.get(key);
      if (!prev || prev.canon !== e.canon) ev.upsert(e.kind, e.obj);
    }
    emitted = next;
    if (!syncedSent) {
      syncedSent = true;
      log.info({ dir, files: files.size, objects: next.size }, 'manifests read');
      ev.synced();
    }
  }

  /** Runs scans one at a time; a request during a scan runs one more afterwards. */
  function scan(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (scanning) { rescan = true; return scanning; }
    scanning = (async () => {
      try {
        do {
          rescan = false;
          await scanOnce();
        } while (rescan && !stopped);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'manifest scan failed');
        events?.error('manifests', err as Error);
      } finally {
        scanning = undefined;
      }
    })();
    return scanning;
  }

  function ensureWatcher(): void {
    if (watcher || stopped) return;
    const onChange = (): void => {
      if (debounceTimer) clearTimeout(debounceTimer);
      debounceTimer = setTimeout(() => { debounceTimer = undefined; void scan(); }, debounceMs);
    };
    try {
      watcher = fsWatch(dir, { recursive: true, persistent: false }, onChange);
    } catch {
      try { watcher = fsWatch(dir, { persistent: false }, onChange); } catch { return; }
    }
    watcher.on('error', () => {
      watcher?.close();
      watcher = undefined; // recreated by the next scan; the poll covers the gap
    });
  }

  return {
    describe() {
      return `manifests in ${dir} (node ${nodeName})`;
    },
    async start(ev: SourceEvents) {
      if (events) throw new Error('manifest source already started');
      events = ev;
      await scan();
      const tick = (): void => {
        if (stopped) return;
        void scan().finally(() => {
          if (!stopped) pollTimer = setTimeout(tick, pollMs);
        });
      };
      pollTimer = setTimeout(tick, pollMs);
    },
    async stop() {
      stopped = true;
      if (pollTimer) clearTimeout(pollTimer);
      if (debounceTimer) clearTimeout(debounceTimer);
      watcher?.close();
      watcher = undefined;
      await scanning;
    },
  };
}
