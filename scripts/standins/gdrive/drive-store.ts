/**
 * The stand-in's drive: files and folders in memory, addressed by id as Drive does. Like the
 * real Drive (and unlike a file system) names are not unique within a folder, a file has
 * exactly one parent, and trashing a folder trashes everything below it without marking the
 * descendants `explicitlyTrashed`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { DriveError, driveErrors } from './drive-errors.js';

export const FOLDER_MIME_TYPE = 'application/vnd.google-apps.folder';
export const DEFAULT_MIME_TYPE = 'application/octet-stream';
/** The alias Drive accepts for the user's root folder wherever a file id goes. */
export const ROOT_ALIAS = 'root';

export interface FileContent {
  readonly data: Buffer;
  /** Hex MD5 of `data`, the `md5Checksum` rclone compares after every upload. */
  readonly md5Checksum: string;
}

/** One file or folder. A change replaces the whole record, so callers hold stable snapshots. */
export interface DriveFile {
  readonly id: string;
  /** Creation order: listings follow it, so page tokens survive concurrent changes. */
  readonly seq: number;
  readonly name: string;
  readonly mimeType: string;
  /** Exactly one parent, except for the root folder (none). */
  readonly parents: readonly string[];
  readonly description: string | undefined;
  /** The bytes of a file; undefined for a folder. */
  readonly content: FileContent | undefined;
  readonly createdTime: Date;
  readonly modifiedTime: Date;
  /** Trashed by a request on this very file; descendants of a trashed folder are trashed implicitly. */
  readonly explicitlyTrashed: boolean;
  /** Bumped by every change, as Drive's `version`. */
  readonly version: number;
}

export interface NewFile {
  name: string;
  mimeType: string;
  /** Parent folder id (or `root`); default the root folder. */
  parent?: string | undefined;
  description?: string | undefined;
  modifiedTime?: Date | undefined;
  /** Required for files, absent for folders. */
  data?: Buffer | undefined;
}

export interface FilePatch {
  name?: string | undefined;
  mimeType?: string | undefined;
  description?: string | undefined;
  modifiedTime?: Date | undefined;
  trashed?: boolean | undefined;
  /** New content (a new revision of the file). */
  data?: Buffer | undefined;
  /** Move: the new parent, and the parent it leaves (Drive's `addParents` / `removeParents`). */
  addParent?: string | undefined;
  removeParent?: string | undefined;
}

export interface ListPage {
  files: DriveFile[];
  nextPageToken: string | undefined;
}

export class DriveStore {
  readonly root: DriveFile;
  readonly #files = new Map<string, DriveFile>();
  #seq = 0;

  constructor() {
    const now = new Date();
    this.root = {
      id: `0A${randomBytes(10).toString('base64url').slice(0, 13)}Uk9PVA`,
      seq: this.#seq++,
      name: 'My Drive',
      mimeType: FOLDER_MIME_TYPE,
      parents: [],
      description: undefined,
      content: undefined,
      createdTime: now,
      modifiedTime: now,
      explicitlyTrashed: false,
      version: 1,
    };
    this.#files.set(this.root.id, this.root);
  }

  /** The file with this id (`root` is the root folder); throws Drive's 404 when there is none. */
  get(id: string): DriveFile {
    const file = this.find(id);
    if (!file) throw driveErrors.fileNotFound(id);
    return file;
  }

  find(id: string): DriveFile | undefined {
    return this.#files.get(id === ROOT_ALIAS ? this.root.id : id);
  }

  /** Trashed itself, or below a trashed folder. */
  isTrashed(file: DriveFile): boolean {
    for (let at: DriveFile | undefined = file; at; at = this.#parentOf(at)) if (at.explicitlyTrashed) return true;
    return false;
  }

  /** Whether `file` sits directly in the folder `folderId` (`root` allowed). */
  isChildOf(file: DriveFile, folderId: string): boolean {
    return file.parents[0] === (folderId === ROOT_ALIAS ? this.root.id : folderId);
  }

  /** Slash-separated path from the root folder ('' for the root itself). */
  path(file: DriveFile): string {
    const names: string[] = [];
    for (let at: DriveFile | undefined = file; at && at !== this.root; at = this.#parentOf(at)) names.unshift(at.name);
    return names.join('/');
  }

  create(spec: NewFile): DriveFile {
    const parent = this.folder(spec.parent ?? this.root.id);
    const isFolder = spec.mimeType === FOLDER_MIME_TYPE;
    if (isFolder && spec.data !== undefined) throw driveErrors.badRequest('A folder cannot have content.');
    const now = new Date();
    const file: DriveFile = {
      id: newFileId(),
      seq: this.#seq++,
      name: spec.name,
      mimeType: spec.mimeType,
      parents: [parent.id],
      description: spec.description,
      content: isFolder ? undefined : fileContent(spec.data ?? Buffer.alloc(0)),
      createdTime: now,
      modifiedTime: spec.modifiedTime ?? now,
      explicitlyTrashed: false,
      version: 1,
    };
    this.#files.set(file.id, file);
    return file;
  }

  update(id: string, patch: FilePatch): DriveFile {
    const current = this.get(id);
    if (current === this.root && (patch.trashed || patch.addParent !== undefined || patch.name !== undefined)) {
      throw driveErrors.badRequest('The root folder cannot be renamed, moved or trashed.');
    }
    let parents = current.parents;
    if (patch.addParent !== undefined || patch.removeParent !== undefined) parents = this.#moved(current, patch.addParent, patch.removeParent);
    if (patch.data !== undefined && current.content === undefined) throw driveErrors.badRequest('A folder cannot have content.');
    if (patch.mimeType !== undefined && (patch.mimeType === FOLDER_MIME_TYPE) !== (current.mimeType === FOLDER_MIME_TYPE)) {
      throw driveErrors.badRequest('A file cannot become a folder, nor a folder a file.');
    }
    const updated: DriveFile = {
      ...current,
      name: patch.name ?? current.name,
      mimeType: patch.mimeType ?? current.mimeType,
      description: patch.description ?? current.description,
      parents,
      content: patch.data === undefined ? current.content : fileContent(patch.data),
      // New content without a modification time is modified now, as on Drive.
      modifiedTime: patch.modifiedTime ?? (patch.data === undefined ? current.modifiedTime : new Date()),
      explicitlyTrashed: patch.trashed ?? current.explicitlyTrashed,
      version: current.version + 1,
    };
    this.#files.set(id === ROOT_ALIAS ? this.root.id : id, updated);
    return updated;
  }

  /** A copy of a file (not a folder: Drive cannot copy folders) under a new id. */
  copy(id: string, spec: Partial<Omit<NewFile, 'data' | 'mimeType'>>): DriveFile {
    const source = this.get(id);
    if (!source.content) throw new DriveError(403, 'cannotCopyFile', 'This file cannot be copied by the user.');
    return this.create({
      name: spec.name ?? `Copy of ${source.name}`,
      mimeType: source.mimeType,
      parent: spec.parent ?? source.parents[0],
      description: spec.description ?? source.description,
      modifiedTime: spec.modifiedTime ?? source.modifiedTime,
      data: source.content.data,
    });
  }

  /** Deletes a file, or a folder with everything below it, skipping the trash. */
  delete(id: string): void {
    const file = this.get(id);
    if (file === this.root) throw driveErrors.badRequest('The root folder cannot be deleted.');
    for (const doomed of this.#subtree(file)) this.#files.delete(doomed.id);
  }

  /** Deletes everything in the trash for good. */
  emptyTrash(): void {
    for (const file of [...this.#files.values()]) if (file.explicitlyTrashed && this.#files.has(file.id)) this.delete(file.id);
  }

  /** One page of the files matching `filter`, in creation order. */
  list(filter: (file: DriveFile) => boolean, pageSize: number, pageToken: string | undefined): ListPage {
    const after = pageToken === undefined ? -1 : decodePageToken(pageToken);
    if (after === undefined) throw driveErrors.invalidParameter('pageToken', 'Invalid Value');
    const matches: DriveFile[] = [];
    for (const file of this.#files.values()) {
      if (file === this.root || file.seq <= after || !filter(file)) continue;
      if (matches.length === pageSize) return { files: matches, nextPageToken: encodePageToken(matches.at(-1)!.seq) };
      matches.push(file);
    }
    return { files: matches, nextPageToken: undefined };
  }

  /** Every file and folder except the root, in creation order. */
  all(): DriveFile[] {
    return [...this.#files.values()].filter((file) => file !== this.root);
  }

  /** The live (untrashed) item at `path` below the root; throws when the name is ambiguous. */
  resolve(path: string): DriveFile | undefined {
    let at: DriveFile = this.root;
    for (const name of path.split('/').filter((segment) => segment !== '')) {
      const matches = this.all().filter((file) => file.name === name && this.isChildOf(file, at.id) && !this.isTrashed(file));
      if (matches.length > 1) throw new Error(`${matches.length} live items named ${name} in ${this.path(at) || '/'}`);
      const next = matches[0];
      if (!next) return undefined;
      at = next;
    }
    return at;
  }

  /** The folder at `path`, created (with its ancestors) when missing. */
  ensureFolder(path: string): DriveFile {
    let at = this.root;
    for (const name of path.split('/').filter((segment) => segment !== '')) {
      const existing = this.resolve(this.path(at) === '' ? name : `${this.path(at)}/${name}`);
      if (existing && existing.mimeType !== FOLDER_MIME_TYPE) throw new Error(`${this.path(existing)} is a file, not a folder`);
      at = existing ?? this.create({ name, mimeType: FOLDER_MIME_TYPE, parent: at.id });
    }
    return at;
  }

  /** A folder to put something in (`root` allowed); Drive answers 404 for a missing parent. */
  folder(id: string): DriveFile {
    const folder = this.find(id);
    if (!folder) throw driveErrors.parentNotFound(id);
    if (folder.mimeType !== FOLDER_MIME_TYPE) throw driveErrors.notAFolder(id);
    return folder;
  }

  #parentOf(file: DriveFile): DriveFile | undefined {
    const parentId = file.parents[0];
    return parentId === undefined ? undefined : this.#files.get(parentId);
  }

  /** The parents after `addParents` / `removeParents`: a file keeps exactly one parent. */
  #moved(file: DriveFile, addParent: string | undefined, removeParent: string | undefined): string[] {
    const current = file.parents[0];
    const removing = removeParent === undefined ? undefined : (this.find(removeParent)?.id ?? removeParent);
    if (removing !== undefined && removing !== current) throw driveErrors.invalidParameter('removeParents', `${removeParent ?? ''} is not a parent of ${file.id}.`);
    if (addParent === undefined) throw driveErrors.badRequest('A file must keep exactly one parent.');
    if (removing === undefined && this.folder(addParent).id !== current) throw driveErrors.singleParent();
    const target = this.folder(addParent);
    if (this.#subtree(file).includes(target)) throw driveErrors.badRequest('A folder cannot be moved into itself or its descendants.');
    return [target.id];
  }

  #subtree(file: DriveFile): DriveFile[] {
    const below = [file];
    for (let i = 0; i < below.length; i++) {
      const folder = below[i]!;
      for (const candidate of this.#files.values()) if (candidate.parents[0] === folder.id) below.push(candidate);
    }
    return below;
  }
}

function fileContent(data: Buffer): FileContent {
  return { data, md5Checksum: createHash('md5').update(data).digest('hex') };
}

/** Drive file ids are 33 characters of URL-safe base64. */
function newFileId(): string {
  return `1${randomBytes(24).toString('base64url')}`;
}

function encodePageToken(seq: number): string {
  return Buffer.from(`after:${seq}`).toString('base64url');
}

/** The creation sequence number a token resumes after; undefined when this server did not issue it. */
function decodePageToken(token: string): number | undefined {
  const match = /^after:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}
