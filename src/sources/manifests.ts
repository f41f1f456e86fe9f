// A directory of manifests as a source, for running without an API server: every *.yaml, *.yml and *.json
// file under the directory (recursively; names starting with "." are skipped, which also skips the
// ..data/..timestamp entries of a mounted ConfigMap while following its visible symlinks).
//
// - YAML files may hold many documents; a `kind: List` or any `*List` with `items` (kubectl get -o yaml)
//   is expanded; JSON files are parsed as JSON (manifest-parse.ts).
// - Kept: Services (v1), EndpointSlices (discovery.k8s.io/v1), and the Node whose name is nodeName. Other
//   kinds and versions are ignored. Namespaced objects without a namespace go to "default", as kubectl does.
// - Objects are keyed by kind/namespace/name; the same key in two files: the later file (path order) wins.
// - Changes are found by fs.watch plus a poll (mtime, ctime, size, inode of every file), and only the
//   differences are emitted: upsert for an added or changed object (different content), remove for one that
//   is gone. A file that fails to parse is reported (file, line, column) and its previously loaded objects
//   stay until it parses again or is removed.
// - synced() follows the first complete read of the directory; until the directory can be read there is an
//   error per attempt and no sync.
//
// Cost at scale (10,000 files, one per Service): reading a file is an open, one read of its size and a
// close; each object read is handed on within the slice of the scan that read it and not kept: the
// source keeps its identity and a digest of its JSON (manifest-index.ts: what the directory holds, and
// what to hand on), so a scan never holds the whole directory's objects (keeping them all cost ~41 MB of
// heap at 10,000 Services x 10 endpoints, .json Lists; the model keeps only compact records of them;
// the digests cost ~0.1 s of that read on the host). A watch event
// naming a manifest file rereads that file only; only the keys of files that changed are merged again;
// the poll stats every file but parses nothing unchanged, and waits at least 4 times its own duration
// before the next poll, so that on a slow machine it cannot take the process over. Stats and reads are
// synchronous calls in slices of 10 ms between yields (refreshAll), and a watch event's reread does not
// wait behind a full scan (scan). (Before:
// every poll stat'ed each file twice, one at a time, and merged and compared every object of the
// directory; a one-file change took 16-50 s to reach the kernel at 1,000-5,000 Services in the sandbox.
// Reading used a 1-MiB buffer per read and kept every object's canonical JSON: 1,000 files took 20 s in
// the sandbox, 5,000 files 4.3 s on the host against 0.6 s now.)
import { lstatSync, statSync, watch as fsWatch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { MANIFEST_LIMITS, MANIFEST_RE, parseManifestText, readBounded } from './manifest-parse.js';
import { ManifestIndex, held, type Fresh, type Held } from './manifest-index.js';
import type { KubeObject, Logger, Source, SourceEvents } from './types.js';

export { parseManifestText, MANIFEST_LIMITS, type ParsedFile } from './manifest-parse.js';

export interface ManifestSourceOptions {
  dir: string;
  nodeName: string;
  log: Logger;
  /** Least interval between polls in ms (default 1000); the poll catches what fs.watch misses. */
  pollMs?: number;
  /** Delay between an fs.watch notification and the rescan, to let writers finish (default 50 ms). */
  debounceMs?: number;
  /** Longest stretch of reading between two yields to the event loop, in ms (default 10). */
  sliceMs?: number;
  /** The yield between two slices (default: setImmediate); tests hold a lane up here. */
  pause?: (lane: 'full' | 'paths') => Promise<void>;
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A watch event's file name with a hidden part (".next", "..data/x.yaml"). */
function isHidden(filename: string): boolean {
  return filename.split(sep).some((part) => part.startsWith('.'));
}

/** A watch event's file name worth a targeted reread: a manifest, with no part hidden (".x") or empty. */
function targetOf(dir: string, filename: string | Buffer | null): string | undefined {
  if (typeof filename !== 'string' || filename === '' || !MANIFEST_RE.test(filename)) return undefined;
  if (isHidden(filename) || filename.split(sep).includes('')) return undefined;
  return join(dir, filename);
}

export function manifestSource(options: ManifestSourceOptions): Source {
  const { dir, nodeName, log } = options;
  const pollMs = options.pollMs ?? 1000;
  const debounceMs = options.debounceMs ?? 50;
  const sliceMs = options.sliceMs ?? 10;
  const pause = options.pause ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
  let events: SourceEvents | undefined;
  let stopped = false;
  let syncedSent = false;
  /** A path as messages name it: relative to the directory. */
  const rel = (p: string): string => relative(dir, p) || p;
  const index = new ManifestIndex({ log, relative: rel, reread });
  /** One watch per directory read (not fs.watch's recursive mode: see ensureWatchers). */
  const watchers = new Map<string, FSWatcher>();
  /** What watch events asked for within the debounce window, handed to scan() when it ends. */
  const pending = new Set<string>();
  /** Hidden names among them: looked at when the debounce ends (see onChange). */
  const pendingHidden = new Set<string>();
  let pendingFull = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let debounceTimer: NodeJS.Timeout | undefined;
  /** The full scan (walk and stat everything) and the targeted rereads run apart: see scan(). */
  let scanningFull: Promise<void> | undefined;
  let scanningPaths: Promise<void> | undefined;
  let wantFull = false;
  const wantPaths = new Set<string>();
  let lastDirError = '';
  let lastFullMs = 0;

  async function walk(d: string, out: string[], dirs: string[]): Promise<void> {
    dirs.push(d);
    const names = await readdir(d, { withFileTypes: true });
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const ent of names) {
      if (ent.name.startsWith('.')) continue;
      const p = join(d, ent.name);
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      if (ent.isSymbolicLink()) {
        try {
          const st = await stat(p);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch { continue; } // a dangling symlink
      }
      if (isDir) await walk(p, out, dirs);
      else if (isFile && MANIFEST_RE.test(ent.name)) out.push(p);
    }
  }

  /**
   * Stat, and when its signature moved, read and parse one file; the keys it touched go to `changed`,
   * its objects to `fresh` (by the record made of each) for the index to hand on.
   */
  function refresh(p: string, changed: string[], fresh: Fresh, lane?: 'full' | 'paths'): void {
    let sig: string;
    let size: number;
    try {
      const st = statSync(p);
      size = st.size;
      if (!st.isFile()) { index.setFile(p, undefined, changed); return; }
      // join() makes one flat string; a template literal leaves a tree of 4 number strings and 6
      // concatenations (~350 B per file, 3.5 MB at 10,000 files: most of what the index kept).
      sig = [st.mtimeMs, st.ctimeMs, st.size, st.ino].join(':');
    } catch {
      index.setFile(p, undefined, changed);
      return;
    }
    const old = index.file(p);
    if (old && old.sig === sig) return;
    // A change the watch did not report (or not yet): it waited for the poll. Logged to test a guess
    // about slow changes on an idle agent (bench-results/ab-46); those fell where V8's memory reducer
    // ran (bench-results/ab-47), and no run has shown this line since.
    if (lane === 'full' && old && syncedSent) log.debug({ file: rel(p) }, 'manifest file changed: found by the poll, not by a watch event');
    let text: string | undefined;
    try {
      text = readBounded(p, MANIFEST_LIMITS.fileBytes, size);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') { index.setFile(p, undefined, changed); return; }
      events?.error('manifests', new Error(`${p}: ${(err as Error).message}`));
      return; // keep what it had; retried on the next change
    }
    const keep = (): void => index.setFile(p, { sig, entries: old?.entries ?? new Map() }, changed);
    if (text === undefined) {
      const msg = `${rel(p)}: larger than the limit of ${MANIFEST_LIMITS.fileBytes} bytes; not read (split it into several files)`;
      log.warn({ file: p }, msg);
      events?.error('manifests', new Error(msg));
      keep();
      return;
    }
    const parsed = parseManifestText(text, rel(p), nodeName);
    if (parsed.error) {
      log.warn({ file: p, err: parsed.error.message }, 'manifest file does not parse; keeping its previous objects');
      events?.error('manifests', parsed.error);
      keep();
      return;
    }
    for (const w of parsed.warnings) {
      log.warn({ file: p }, w);
      events?.error('manifests', new Error(w));
    }
    // Within one file, too, the later object of a key wins.
    const entries = new Map<string, Held>();
    for (const e of parsed.entries) {
      const h = held(e);
      entries.set(e.key, h);
      fresh.set(h, e.obj);
    }
    index.setFile(p, { sig, entries }, changed);
  }

  /**
   * The object of `key` in file `p` as it is now on disk, read again (the source keeps no objects):
   * undefined when the file cannot be read or parsed, or no longer holds the key (then its next
   * refresh sees it changed).
   */
  function reread(p: string, key: string): KubeObject | undefined {
    try {
      const text = readBounded(p, MANIFEST_LIMITS.fileBytes);
      if (text === undefined) return undefined;
      const parsed = parseManifestText(text, rel(p), nodeName);
      let obj: KubeObject | undefined;
      for (const e of parsed.entries) if (e.key === key) obj = e.obj;
      return obj;
    } catch {
      return undefined;
    }
  }

  /**
   * refresh() of each path, on this thread, yielding to the event loop every sliceMs. Synchronous
   * calls, because a manifest directory is local (a ConfigMap's tmpfs, the node's disk) where a stat
   * or a small read takes microseconds, and through the thread pool each one cost about ten times that
   * in promises and hops: 10,000 files stat'ed in 570-650 ms against 47-75 ms, and read and parsed in
   * 2.5-3.4 s against 0.6 s (this host). The keys the files touched go to `changed`, in path order;
   * each slice's are handed on before the yield (emitSlice), those left wait in `changed`.
   */
  async function refreshAll(lane: 'full' | 'paths', paths: readonly string[], changed: string[], fresh: Fresh): Promise<void> {
    let since = performance.now();
    for (const p of paths) {
      if (stopped) return;
      refresh(p, changed, fresh, lane);
      if (performance.now() - since >= sliceMs) {
        if (events && !stopped) index.emitSlice(changed, fresh, events);
        await pause(lane);
        since = performance.now();
      }
    }
  }

  /** Walks the directory and refreshes every file; the first one is followed by synced(). */
  async function scanFull(): Promise<void> {
    const t0 = performance.now();
    const found: string[] = [];
    const dirs: string[] = [];
    try {
      await walk(dir, found, dirs);
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
    ensureWatchers(dirs);
    const seen = new Set(found);
    // Keys whose winner could not be read again last time go again. A file the walk did not see is
    // refreshed rather than dropped: a targeted reread may have found it after the walk's readdir; the
    // stat tells gone (dropped) from new (kept).
    const changed: string[] = index.takeRetries();
    const fresh: Fresh = new Map();
    for (const p of index.paths()) if (!seen.has(p)) refresh(p, changed, fresh);
    await refreshAll('full', found, changed, fresh);
    lastFullMs = performance.now() - t0;
    if (events && !stopped) index.emit(changed, fresh, events);
    if (events && !stopped && !syncedSent) {
      syncedSent = true;
      log.info({ dir, files: index.fileCount, objects: index.objectCount }, 'manifests read');
      events.synced();
    }
  }

  /** Rereads the files that watch events named. */
  async function scanPaths(paths: string[]): Promise<void> {
    const changed: string[] = [];
    const fresh: Fresh = new Map();
    await refreshAll('paths', paths.sort(), changed, fresh);
    if (events && !stopped) index.emit(changed, fresh, events);
  }

  /**
   * Runs full scans one at a time and targeted rereads one batch at a time, the two apart: a watch
   * event's reread does not wait behind a full scan, which at 10,000 files under a busy agent took
   * seconds (a file written aside and renamed in took 8.2 s to reach the kernel of a new node in the
   * sandbox bench, its hidden temporary's name having asked for a full scan). What is asked while a
   * lane runs, runs next in that lane.
   */
  function scan(full: boolean, paths: readonly string[] = []): Promise<void> {
    if (stopped) return Promise.resolve();
    const runs: Promise<void>[] = [];
    if (full) {
      wantFull = true;
      scanningFull ??= lane(() => wantFull, () => { wantFull = false; return scanFull(); }, () => { scanningFull = undefined; });
      runs.push(scanningFull);
    }
    if (paths.length > 0) {
      for (const p of paths) wantPaths.add(p);
      scanningPaths ??= lane(() => wantPaths.size > 0, () => { const ps = [...wantPaths]; wantPaths.clear(); return scanPaths(ps); }, () => { scanningPaths = undefined; });
      runs.push(scanningPaths);
    }
    return Promise.all(runs).then(() => undefined);
  }

  async function lane(wanted: () => boolean, once: () => Promise<void>, done: () => void): Promise<void> {
    await undefined; // the caller keeps this lane's promise before done() can run
    try {
      while (wanted() && !stopped) await once();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'manifest scan failed');
      events?.error('manifests', err as Error);
    } finally {
      done();
    }
  }

  /**
   * A plain inotify watch on each directory the walk read, closed when the directory is gone. Not
   * fs.watch's recursive mode: on Linux, Node 20 builds it from per-file watches, and a second file
   * renamed over the same name was not reported at all (test: "written as a hidden temporary and renamed
   * into place"), so such a change waited for the poll (21 s at 5,000 files in the sandbox).
   */
  function ensureWatchers(dirs: readonly string[]): void {
    if (stopped) return;
    const keep = new Set(dirs);
    for (const [d, w] of watchers) if (!keep.has(d)) { w.close(); watchers.delete(d); }
    for (const d of dirs) {
      if (watchers.has(d)) continue;
      const sub = relative(dir, d);
      let w: FSWatcher;
      try {
        w = fsWatch(d, { persistent: false }, (_event, name) => onChange(typeof name === 'string' ? (sub ? join(sub, name) : name) : null));
      } catch { continue; } // gone meanwhile; the poll covers it
      w.on('error', () => { w.close(); if (watchers.get(d) === w) watchers.delete(d); }); // remade by the next full scan
      watchers.set(d, w);
    }
  }

  function onChange(filename: string | null): void {
    // A manifest's name rereads that file; a hidden name is looked at when the debounce ends; anything
    // else (a directory, a name the watch did not give) rescans the directory.
    const target = targetOf(dir, filename);
    if (target) pending.add(target);
    else if (typeof filename === 'string' && filename !== '' && isHidden(filename)) pendingHidden.add(join(dir, filename));
    else pendingFull = true;
    if (debounceTimer) clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => {
      debounceTimer = undefined;
      // A hidden name gone by now was a writer's temporary, renamed over a manifest (whose name has an
      // event of its own) or deleted: nothing more to read. One that exists (a ConfigMap's ..data,
      // swapped to a new directory) may stand for every file under it: the directory is rescanned.
      // (Each file written aside and renamed in cost a full scan, 10,000 stats, before.)
      const full = pendingFull || [...pendingHidden].some(exists);
      const paths = [...pending];
      pendingFull = false;
      pending.clear();
      pendingHidden.clear();
      void scan(full, paths);
    }, debounceMs);
  }

  return {
    describe() {
      return `manifests in ${dir} (node ${nodeName})`;
    },
    async start(ev: SourceEvents) {
      if (events) throw new Error('manifest source already started');
      events = ev;
      await scan(true);
      // The next poll: pollMs after this one, or 4 times its duration when that is longer.
      // (Not once stopped: stop() may come from the synced() handler, before start() gets here.)
      const next = (): void => { if (!stopped) pollTimer = setTimeout(tick, Math.max(pollMs, 4 * lastFullMs)); };
      const tick = (): void => {
        if (stopped) return;
        void scan(true).finally(() => { if (!stopped) next(); });
      };
      next();
    },
    async stop() {
      stopped = true;
      if (pollTimer) clearTimeout(pollTimer);
      if (debounceTimer) clearTimeout(debounceTimer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      await Promise.all([scanningFull, scanningPaths]);
    },
  };
}
