/**
 * One Nextcloud user's files, in memory: collections and files keyed by their path relative to
 * the user's root (`'a/b.txt'`, `''` for the root). Operations follow sabre/dav's rules (a parent
 * must exist, MKCOL on an existing resource is 405, …) and throw {@link DavError}s, so the HTTP
 * layer only maps methods onto them. Like Nextcloud, a change gives the resource and every
 * ancestor collection a new ETag and modification time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { davErrors } from './dav-error.js';

interface ResourceBase {
  modified: Date;
  etag: string;
  /** Nextcloud's numeric file id, unique within the server. */
  fileId: number;
}

export interface DavFile extends ResourceBase {
  kind: 'file';
  data: Buffer;
  sha1: string;
  md5: string;
}

export interface DavCollection extends ResourceBase {
  kind: 'collection';
}

export type DavResource = DavFile | DavCollection;

export type Depth = 0 | 1 | 'infinity';

/** `'a/b/c'` → `'a/b'`; `'a'` → `''` (the root). */
export function parentPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: string, ancestor: string): boolean {
  return ancestor === '' || path === ancestor || path.startsWith(`${ancestor}/`);
}

/** The checksums Nextcloud reports in `oc:checksums` (hex). */
export function fileChecksums(data: Buffer): { sha1: string; md5: string } {
  return { sha1: createHash('sha1').update(data).digest('hex'), md5: createHash('md5').update(data).digest('hex') };
}

function newEtag(): string {
  return randomBytes(8).toString('hex');
}

export class FileTree {
  private readonly resources = new Map<string, DavResource>();
  private readonly nextFileId: () => number;

  /** `nextFileId` hands out server-wide file ids (Nextcloud's are unique across users). */
  constructor(nextFileId: () => number) {
    this.nextFileId = nextFileId;
    this.resources.set('', this.newCollection(new Date()));
  }

  get(path: string): DavResource | undefined {
    return this.resources.get(path);
  }

  /** The resource at `path` and, as `depth` asks, its members; sorted by path. */
  list(path: string, depth: Depth): [string, DavResource][] {
    const self = this.resources.get(path);
    if (!self) throw davErrors.notFound(`File with name ${path} could not be located`);
    if (depth === 0 || self.kind === 'file') return [[path, self]];
    const members = [...this.resources].filter(
      ([candidate]) =>
        candidate !== path && isWithin(candidate, path) && (depth === 'infinity' || parentPath(candidate) === path),
    );
    return [[path, self], ...members.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))];
  }

  /** Every file's content by path (collections left out). */
  files(): Map<string, Buffer> {
    const result = new Map<string, Buffer>();
    for (const [path, resource] of this.resources) if (resource.kind === 'file') result.set(path, resource.data);
    return result;
  }

  /** Creates or replaces the file at `path` (PUT). The parent collection must exist. */
  writeFile(path: string, data: Buffer, modified: Date, checksums = fileChecksums(data)): { created: boolean; file: DavFile } {
    const existing = this.resources.get(path);
    if (existing?.kind === 'collection') throw davErrors.conflict('PUT is not allowed on non-files.');
    this.requireParentCollection(path, 'Files cannot be created in non-existent collections');
    const file: DavFile = {
      kind: 'file',
      data,
      modified,
      etag: newEtag(),
      fileId: existing?.fileId ?? this.nextFileId(),
      ...checksums,
    };
    this.resources.set(path, file);
    this.touchAncestors(path);
    return { created: existing === undefined, file };
  }

  /** Creates a collection (MKCOL). The parent must exist; the path must be free. */
  makeCollection(path: string): void {
    if (this.resources.has(path)) throw davErrors.methodNotAllowed('The resource you tried to create already exists');
    this.requireParentCollection(path, 'Parent node does not exist');
    this.resources.set(path, this.newCollection(new Date()));
    this.touchAncestors(path);
  }

  /** Creates `path` and any missing ancestors as collections (for seeding). */
  ensureCollection(path: string): void {
    if (path === '') return;
    const existing = this.resources.get(path);
    if (existing?.kind === 'collection') return;
    if (existing) throw davErrors.conflict(`${path} is a file`);
    this.ensureCollection(parentPath(path));
    this.makeCollection(path);
  }

  /** Removes a file or a whole collection (DELETE). */
  remove(path: string): void {
    if (path === '') throw davErrors.forbidden('The root of a user cannot be deleted');
    if (!this.resources.has(path)) throw davErrors.notFound(`File with name ${path} could not be located`);
    for (const candidate of [...this.resources.keys()]) if (isWithin(candidate, path)) this.resources.delete(candidate);
    this.touchAncestors(path);
  }

  /**
   * MOVE or COPY `from` to `to`. `overwrite` false refuses an existing destination (412);
   * otherwise it is replaced. A copy of depth 0 copies a collection without its members.
   * Returns whether the destination was newly created (201) rather than replaced (204).
   */
  transfer(from: string, to: string, options: { move: boolean; overwrite: boolean; depth: Depth }): { created: boolean } {
    if (!this.resources.has(from)) throw davErrors.notFound(`File with name ${from} could not be located`);
    if (from === to) throw davErrors.forbidden('Source and destination uri are identical.');
    if (from === '' || isWithin(to, from) || isWithin(from, to)) {
      throw davErrors.conflict('The destination may not be part of the same subtree as the source path.');
    }
    const existing = this.resources.get(to);
    if (existing && !options.overwrite) throw davErrors.preconditionFailed('The destination node already exists, and the overwrite header is set to false');
    this.requireParentCollection(to, 'The destination node is not found');
    if (existing) this.remove(to);

    const depth = options.move ? 'infinity' : options.depth;
    for (const [path, resource] of this.list(from, depth === 1 ? 'infinity' : depth)) {
      const target = to + path.slice(from.length);
      const fileId = options.move ? resource.fileId : this.nextFileId();
      this.resources.set(target, { ...resource, fileId, etag: newEtag() });
    }
    if (options.move) {
      for (const candidate of [...this.resources.keys()]) if (isWithin(candidate, from)) this.resources.delete(candidate);
      this.touchAncestors(from);
    }
    this.touchAncestors(to);
    return { created: existing === undefined };
  }

  private requireParentCollection(path: string, message: string): void {
    if (path === '') throw davErrors.forbidden('The root of a user cannot be replaced');
    if (this.resources.get(parentPath(path))?.kind !== 'collection') throw davErrors.conflict(message);
  }

  private newCollection(modified: Date): DavCollection {
    return { kind: 'collection', modified, etag: newEtag(), fileId: this.nextFileId() };
  }

  /** Nextcloud propagates a change upwards: every ancestor gets a new ETag and mtime. */
  private touchAncestors(path: string): void {
    const now = new Date();
    for (let ancestor = path; ancestor !== ''; ) {
      ancestor = parentPath(ancestor);
      const collection = this.resources.get(ancestor);
      if (collection) {
        collection.etag = newEtag();
        collection.modified = now;
      }
    }
  }
}
