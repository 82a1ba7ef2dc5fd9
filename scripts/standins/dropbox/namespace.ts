/**
 * One Dropbox namespace (a user's "Dropbox" folder) kept in memory, with Dropbox's path rules:
 * paths are case-insensitive (`path_lower` is the key, `path_display` keeps the case they were
 * created with), parent folders come into being when a file is committed below them, a file is
 * replaced in place by an overwrite (same `id`, new `rev`), and deleting a folder deletes what is
 * under it. Every entry has an `id:` that can stand for its path.
 */
import { randomBytes } from 'node:crypto';
import { contentHash } from './content-hash.js';

export interface FolderEntry {
  readonly kind: 'folder';
  readonly id: string;
  readonly pathDisplay: string;
}

export interface FileEntry {
  readonly kind: 'file';
  readonly id: string;
  readonly pathDisplay: string;
  readonly data: Buffer;
  readonly contentHash: string;
  /** What the client said (second precision, `YYYY-MM-DDTHH:MM:SSZ`). */
  readonly clientModified: string;
  readonly serverModified: string;
  readonly rev: string;
}

export type Entry = FolderEntry | FileEntry;

/** How a commit treats an existing file (`WriteMode`). */
export type WriteMode = { kind: 'add' } | { kind: 'overwrite' } | { kind: 'update'; rev: string };

export interface Commit {
  path: string;
  mode: WriteMode;
  autorename: boolean;
  clientModified: string | undefined;
  strictConflict: boolean;
}

/** Why a write failed, as Dropbox names it (`WriteError` / `RelocationError` tags). */
export type WriteConflict = 'file' | 'folder' | 'file_ancestor';

export type CommitOutcome = { ok: true; file: FileEntry } | { ok: false; error: 'conflict'; conflict: WriteConflict };

export type RelocationOutcome =
  | { ok: true; entry: Entry }
  | { ok: false; error: 'from_lookup_not_found' | 'to_conflict' | 'cant_move_folder_into_itself' | 'duplicated_or_nested_paths'; conflict?: WriteConflict };

export function lowerPath(path: string): string {
  return path.toLowerCase();
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '' : path.slice(0, slash);
}

function leafOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Dropbox timestamps have second precision and a `Z`. */
export function dropboxTime(at: Date = new Date()): string {
  return `${at.toISOString().slice(0, 19)}Z`;
}

export class Namespace {
  /** By `path_lower`; the root ("") is implicit. */
  readonly #entries = new Map<string, Entry>();
  readonly #byId = new Map<string, string>();
  #revCounter = 0x5a000000;

  /** The entry at a path (`/a/b`, any case) or `id:…`; undefined when absent. The root has no entry. */
  get(pathOrId: string): Entry | undefined {
    if (pathOrId.startsWith('id:')) {
      const path = this.#byId.get(pathOrId);
      return path === undefined ? undefined : this.#entries.get(path);
    }
    return this.#entries.get(lowerPath(pathOrId));
  }

  /** Resolves `id:…` to the entry's current lower-case path; plain paths are lower-cased. */
  resolve(pathOrId: string): string | undefined {
    if (pathOrId.startsWith('id:')) return this.#byId.get(pathOrId);
    return lowerPath(pathOrId);
  }

  /** Whether `path` names the root or an existing folder. */
  isFolder(path: string): boolean {
    return path === '' || this.get(path)?.kind === 'folder';
  }

  files(): FileEntry[] {
    return [...this.#entries.values()].filter((e): e is FileEntry => e.kind === 'file');
  }

  /**
   * The entries below a folder (`""` = root), sorted by path: direct children, or every
   * descendant when `recursive`. Undefined when `path` is not a folder.
   */
  list(path: string, recursive: boolean): Entry[] | undefined {
    const folder = lowerPath(path);
    if (!this.isFolder(folder)) return undefined;
    const prefix = `${folder}/`;
    return [...this.#entries.entries()]
      .filter(([key]) => key.startsWith(prefix) && (recursive || !key.slice(prefix.length).includes('/')))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, entry]) => entry);
  }

  /** Creates a folder and its missing parents; conflict when something is already there. */
  createFolder(path: string): { ok: true; folder: FolderEntry } | { ok: false; conflict: WriteConflict } {
    const existing = this.get(path);
    if (existing) return { ok: false, conflict: existing.kind };
    const ancestor = this.#ensureParents(path);
    if (ancestor) return { ok: false, conflict: 'file_ancestor' };
    const folder: FolderEntry = { kind: 'folder', id: newId(), pathDisplay: this.#display(path) };
    this.#put(folder);
    return { ok: true, folder };
  }

  /** Stores `data` at `commit.path` following the write mode (Dropbox's commit of an upload). */
  commit(commit: Commit, data: Buffer, now: Date = new Date()): CommitOutcome {
    let path = commit.path;
    const hash = contentHash(data);
    const existing = this.get(path);
    let replace: FileEntry | undefined;
    if (existing?.kind === 'folder') {
      if (!commit.autorename) return { ok: false, error: 'conflict', conflict: 'folder' };
      path = this.#freeName(path);
    } else if (existing?.kind === 'file') {
      // Identical content is no conflict for "add" and "update" unless the client asks for strictness.
      const unchanged = existing.contentHash === hash && !commit.strictConflict;
      const mode = commit.mode;
      if (mode.kind === 'overwrite' || (mode.kind === 'update' && mode.rev === existing.rev)) replace = existing;
      else if (unchanged) return { ok: true, file: existing };
      else if (!commit.autorename) return { ok: false, error: 'conflict', conflict: 'file' };
      else path = this.#freeName(path);
    }
    if (!replace && this.#ensureParents(path)) return { ok: false, error: 'conflict', conflict: 'file_ancestor' };
    const file: FileEntry = {
      kind: 'file',
      id: replace?.id ?? newId(),
      pathDisplay: replace?.pathDisplay ?? this.#display(path),
      data,
      contentHash: hash,
      clientModified: commit.clientModified ?? dropboxTime(now),
      serverModified: dropboxTime(now),
      rev: this.#nextRev(),
    };
    this.#put(file);
    return { ok: true, file };
  }

  /** Deletes a file, or a folder with everything below it; returns what was at the path. */
  delete(pathOrId: string): Entry | undefined {
    const key = this.resolve(pathOrId);
    const entry = key === undefined ? undefined : this.#entries.get(key);
    if (!entry || key === undefined) return undefined;
    for (const path of this.#subtree(key)) this.#remove(path);
    return entry;
  }

  /** Server-side move or copy of a file or folder (with what is below it). */
  relocate(fromPathOrId: string, toPath: string, copy: boolean): RelocationOutcome {
    const from = this.resolve(fromPathOrId);
    const source = from === undefined ? undefined : this.#entries.get(from);
    if (!source || from === undefined) return { ok: false, error: 'from_lookup_not_found' };
    const to = lowerPath(toPath);
    if (to === from) return { ok: false, error: 'duplicated_or_nested_paths' };
    if (to.startsWith(`${from}/`)) return { ok: false, error: 'cant_move_folder_into_itself' };
    const target = this.#entries.get(to);
    if (target) return { ok: false, error: 'to_conflict', conflict: target.kind };
    if (this.#ensureParents(toPath)) return { ok: false, error: 'to_conflict', conflict: 'file_ancestor' };
    const targetDisplay = this.#display(toPath);
    const moved: Entry[] = [];
    for (const path of this.#subtree(from)) {
      const entry = this.#entries.get(path)!;
      const rest = entry.pathDisplay.slice(source.pathDisplay.length);
      const pathDisplay = `${targetDisplay}${rest}`;
      const relocated: Entry = copy
        ? entry.kind === 'file'
          ? { ...entry, id: newId(), pathDisplay, rev: this.#nextRev() }
          : { ...entry, id: newId(), pathDisplay }
        : { ...entry, pathDisplay };
      if (!copy) this.#remove(path);
      moved.push(relocated);
    }
    for (const entry of moved) this.#put(entry);
    return { ok: true, entry: moved[0]! };
  }

  /** Every path at or below `key`, parents first. */
  #subtree(key: string): string[] {
    return [...this.#entries.keys()].filter((path) => path === key || path.startsWith(`${key}/`)).sort();
  }

  /** Creates missing parent folders; returns true when a parent is a file (nothing created). */
  #ensureParents(path: string): boolean {
    const missing: string[] = [];
    for (let parent = parentOf(path); parent !== ''; parent = parentOf(parent)) {
      const entry = this.get(parent);
      if (entry?.kind === 'file') return true;
      if (entry) break;
      missing.unshift(parent);
    }
    for (const folder of missing) this.#put({ kind: 'folder', id: newId(), pathDisplay: this.#display(folder) });
    return false;
  }

  /** The display path: existing ancestors keep their case, the rest is as given. */
  #display(path: string): string {
    const parent = parentOf(path);
    if (parent === '') return path;
    const existing = this.get(parent);
    return `${existing ? existing.pathDisplay : this.#display(parent)}/${leafOf(path)}`;
  }

  /** `name (1).ext`, `name (2).ext`, … : Dropbox's autorename. */
  #freeName(path: string): string {
    const leaf = leafOf(path);
    const dot = leaf.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [leaf.slice(0, dot), leaf.slice(dot)] : [leaf, ''];
    for (let n = 1; ; n++) {
      const candidate = `${parentOf(path)}/${stem} (${n})${ext}`;
      if (!this.get(candidate)) return candidate;
    }
  }

  #nextRev(): string {
    this.#revCounter += 1;
    return `0${this.#revCounter.toString(16)}0001`;
  }

  #put(entry: Entry): void {
    const key = lowerPath(entry.pathDisplay);
    const previous = this.#entries.get(key);
    if (previous && previous.id !== entry.id) this.#byId.delete(previous.id);
    this.#entries.set(key, entry);
    this.#byId.set(entry.id, key);
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#byId.delete(entry.id);
  }
}

function newId(): string {
  return `id:${randomBytes(16).toString('base64url')}`;
}
