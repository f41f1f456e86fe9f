// What a manifests directory holds, as the source (manifests.ts) keeps it between scans, and what to
// hand on when files change: per file its signature and the objects it holds, per object key the
// files holding it (the greatest path wins), and what was last handed on per key. No objects are kept:
// per object a Held record (its identity and a digest of its JSON), enough to tell a changed object
// from one rewritten the same or moved between files, and to hand on a removal. An object is handed on
// from the scan that read it (`fresh`), or read again from its file in the one case that needs an
// object no scan just read: the later file holding a key goes, and an earlier file's object shows again.
import { createHash } from 'node:crypto';
import type { Entry } from './manifest-parse.js';
import type { KubeObject, Logger, SourceEvents } from './types.js';
import { identityMetadata, serviceLabel } from './slim.js';

/** What the source keeps of an object it read: enough to remove it and to tell whether it changed. */
export interface Held {
  kind: Entry['kind'];
  /**
   * sha1 of its JSON as parsed (key order as written: an object rewritten with its keys reordered
   * counts as changed, one upsert more, which the model finds changes nothing). Not the canonical JSON
   * (keys sorted): that took twice as long, 0.2 s per 20,000 objects on the host and seconds in the
   * sandbox, on a new node's way to its first sync.
   */
  digest: string;
  /** Its identifying metadata as read (what a removal reads: feedModel), namespace "default" when unset. */
  namespace?: string;
  name: string;
  /** An EndpointSlice's kubernetes.io/service-name label. */
  service?: string;
  /** This node's Node object, kept whole: a removed Node is judged by its last state (the agent's nodeEligible). */
  node?: KubeObject;
}

export interface FileState {
  /** mtime, ctime, size and inode: a file whose signature did not move is not read again. */
  sig: string;
  entries: Map<string, Held>;
}

export function held(e: Entry): Held {
  // parseManifestText checked these: a name, a namespace that is a string (or none, for a Node).
  const meta = e.obj.metadata as { name: string; namespace?: string };
  const h: Held = { kind: e.kind, digest: createHash('sha1').update(JSON.stringify(e.obj)).digest('base64'), name: meta.name };
  if (meta.namespace !== undefined) h.namespace = meta.namespace;
  const service = serviceLabel(e.obj);
  if (typeof service === 'string') h.service = service;
  if (e.kind === 'Node') h.node = e.obj;
  return h;
}

/** What a removal hands on for an object the source no longer keeps. */
function stubOf(h: Held): KubeObject {
  return h.node ?? ({ kind: h.kind, metadata: identityMetadata(h.name, h.namespace, h.service) } as KubeObject);
}

/**
 * The objects a scan read and has not handed on yet, by the record made of each: a record in the index
 * that is not in a lane's map (the other lane read the file since) is not handed on from it.
 */
export type Fresh = Map<Held, KubeObject>;

export interface ManifestIndexOptions {
  log: Logger;
  /** A path as log lines show it (relative to the directory). */
  relative: (path: string) => string;
  /** The object of `key` in file `path` as it is now on disk, read again; undefined when it cannot be. */
  reread: (path: string, key: string) => KubeObject | undefined;
}

export class ManifestIndex {
  readonly #o: ManifestIndexOptions;
  readonly #files = new Map<string, FileState>();
  /** Per object key, the file holding it, or the files: a Set only for a key in several. */
  readonly #holders = new Map<string, string | Set<string>>();
  /** What was last handed on per key. */
  readonly #emitted = new Map<string, Held>();
  /** Keys whose winner could not be read again (see emit): tried again at the next full scan. */
  readonly #retry = new Set<string>();

  constructor(o: ManifestIndexOptions) {
    this.#o = o;
  }

  file(path: string): FileState | undefined {
    return this.#files.get(path);
  }

  paths(): string[] {
    return [...this.#files.keys()];
  }

  get fileCount(): number {
    return this.#files.size;
  }

  get objectCount(): number {
    return this.#emitted.size;
  }

  /** The keys a full scan hands on again although no file of theirs changed (their winner could not be read). */
  takeRetries(): string[] {
    const keys = [...this.#retry];
    this.#retry.clear();
    return keys;
  }

  /** Sets a file's entries (undefined: the file is gone) and notes in `changed` the keys whose winner may change. */
  setFile(path: string, state: FileState | undefined, changed: string[]): void {
    const old = this.#files.get(path);
    if (old) for (const key of old.entries.keys()) { changed.push(key); this.#dropHolder(key, path); }
    if (!state) { this.#files.delete(path); return; }
    this.#files.set(path, state);
    for (const key of state.entries.keys()) {
      changed.push(key);
      this.#addHolder(key, path);
    }
  }

  #holdersOf(key: string): string[] {
    const h = this.#holders.get(key);
    return h === undefined ? [] : typeof h === 'string' ? [h] : [...h];
  }

  #addHolder(key: string, path: string): void {
    const h = this.#holders.get(key);
    if (h === undefined || h === path) this.#holders.set(key, path);
    else if (typeof h === 'string') this.#holders.set(key, new Set([h, path]));
    else h.add(path);
  }

  #dropHolder(key: string, path: string): void {
    const h = this.#holders.get(key);
    if (h === path) this.#holders.delete(key);
    else if (typeof h === 'object') {
      h.delete(path);
      if (h.size === 1) this.#holders.set(key, [...h][0]!);
    }
  }

  /**
   * Hands on what one slice of a scan read, so that a scan never holds every object of the directory
   * at once (all of them, ~41 MB at 10,000 Services x 10 endpoints, were alive at the end of a new
   * node's first read): the keys some file holds. A key no file holds any more stays in `changed` for
   * the end of the scan, where it is removed unless a file read since holds it (an object moved to a
   * file later in path order is no removal). In the first scan a key in two files read in different
   * slices may be upserted from the earlier file, then from the later one: before synced(), so no
   * sync sees the first.
   */
  emitSlice(changed: string[], fresh: Fresh, ev: SourceEvents): void {
    const now: string[] = [];
    const left: string[] = [];
    for (const key of changed) (this.#holders.has(key) ? now : left).push(key);
    changed.length = 0;
    changed.push(...left);
    this.emit(now, fresh, ev);
    fresh.clear();
  }

  /**
   * Hands on the keys whose winner may have changed, in the order given (path order and, within a
   * file, document order). Reads the current state, so a key handed on by the other lane of scans
   * meanwhile is not handed on twice.
   */
  emit(keys: readonly string[], fresh: Fresh, ev: SourceEvents): void {
    const { log, relative, reread } = this.#o;
    for (const key of new Set(keys)) {
      const h = this.#holdersOf(key).sort();
      let winner: Held | undefined;
      let from = '';
      if (h.length > 0) {
        from = h[h.length - 1]!;
        winner = this.#files.get(from)!.entries.get(key);
        if (h.length > 1) log.warn({ key, files: h.map(relative) }, 'object defined in two files; the later one wins');
      }
      const prev = this.#emitted.get(key);
      if (!winner) {
        if (prev) { this.#emitted.delete(key); ev.remove(prev.kind, stubOf(prev)); }
      } else if (!prev || prev.digest !== winner.digest) {
        // Read in this scan, or (an earlier file's object showing again, or a file the other lane read
        // since this one did) read again now.
        const obj = fresh.get(winner) ?? reread(from, key);
        if (obj === undefined) {
          // Unreadable for now, or in a parse error (whose last good objects were not kept): what was
          // handed on stays, and the next full scan tries again.
          this.#retry.add(key);
          log.warn({ key, file: relative(from) }, 'object not found again in its file; left as it was until the next full scan');
          continue;
        }
        this.#retry.delete(key);
        this.#emitted.set(key, winner);
        ev.upsert(winner.kind, obj);
      } else this.#emitted.set(key, winner);
    }
  }
}
