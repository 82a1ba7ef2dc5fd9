/**
 * One OneDrive personal drive in memory: a tree of folders and files addressed by item id,
 * names unique per folder **case-insensitively** (as OneDrive; rclone's onedrive backend is
 * declared case-insensitive), files with their bytes and SHA-1, and the two clocks OneDrive
 * keeps: the server's `lastModifiedDateTime` and the client's `fileSystemInfo` (what rclone
 * reads as the modification time).
 */
import { createHash, randomBytes } from 'node:crypto';

export interface FileSystemInfo {
  createdDateTime: Date;
  lastModifiedDateTime: Date;
}

export interface DriveItem {
  readonly id: string;
  name: string;
  parentId: string | undefined;
  readonly kind: 'folder' | 'file';
  /** Child ids by lower-cased name (folders only). */
  readonly children: Map<string, string>;
  data: Buffer;
  /** Upper-case hex, as OneDrive personal reports `sha1Hash`. */
  sha1: string;
  readonly createdDateTime: Date;
  lastModifiedDateTime: Date;
  fileSystemInfo: FileSystemInfo;
  /** Bumped on every change (eTag / cTag). */
  version: number;
  /** Secret of the item's pre-authenticated download URL. */
  readonly downloadKey: string;
}

export type ConflictBehavior = 'fail' | 'replace' | 'rename';

export type WriteResult = { ok: true; item: DriveItem; created: boolean } | { ok: false; error: 'nameAlreadyExists' | 'notAFolder' };

const EMPTY_SHA1 = sha1Hex(Buffer.alloc(0));

export class DriveStore {
  readonly root: DriveItem;
  readonly #items = new Map<string, DriveItem>();
  #nextId = 101;

  constructor(readonly driveId: string) {
    this.root = this.#newItem('root', undefined, 'folder');
  }

  get(id: string): DriveItem | undefined {
    return this.#items.get(id);
  }

  child(folder: DriveItem, name: string): DriveItem | undefined {
    const id = folder.children.get(name.toLowerCase());
    return id === undefined ? undefined : this.#items.get(id);
  }

  /** The item at `segments` below `base` (decoded names); undefined when any step is missing. */
  resolve(base: DriveItem, segments: readonly string[]): DriveItem | undefined {
    let item: DriveItem | undefined = base;
    for (const segment of segments) {
      if (!item || item.kind !== 'folder') return undefined;
      item = this.child(item, segment);
    }
    return item;
  }

  /** A folder's children in name order (case-insensitive, as OneDrive lists). */
  children(folder: DriveItem): DriveItem[] {
    return [...folder.children.values()]
      .map((id) => this.#items.get(id)!)
      .sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()) || a.name.localeCompare(b.name));
  }

  createFolder(parent: DriveItem, name: string, conflict: ConflictBehavior): WriteResult {
    if (parent.kind !== 'folder') return { ok: false, error: 'notAFolder' };
    const existing = this.child(parent, name);
    if (existing) {
      if (conflict === 'fail') return { ok: false, error: 'nameAlreadyExists' };
      if (conflict === 'rename') return this.createFolder(parent, this.#freeName(parent, name), 'fail');
      this.delete(existing);
    }
    const folder = this.#newItem(name, parent, 'folder');
    return { ok: true, item: folder, created: true };
  }

  /**
   * Writes a file. An existing file of that name gets new content under the same id (a new
   * version, as OneDrive does); a folder of that name is a conflict.
   */
  writeFile(parent: DriveItem, name: string, data: Buffer, fileSystemInfo: Partial<FileSystemInfo>, conflict: ConflictBehavior = 'replace'): WriteResult {
    if (parent.kind !== 'folder') return { ok: false, error: 'notAFolder' };
    const existing = this.child(parent, name);
    if (existing && (existing.kind === 'folder' || conflict === 'fail')) return { ok: false, error: 'nameAlreadyExists' };
    if (existing && conflict === 'rename') return this.writeFile(parent, this.#freeName(parent, name), data, fileSystemInfo, 'fail');
    const now = new Date();
    const item = existing ?? this.#newItem(name, parent, 'file');
    item.data = data;
    item.sha1 = sha1Hex(data);
    item.lastModifiedDateTime = now;
    item.fileSystemInfo = {
      createdDateTime: fileSystemInfo.createdDateTime ?? (existing ? item.fileSystemInfo.createdDateTime : now),
      lastModifiedDateTime: fileSystemInfo.lastModifiedDateTime ?? now,
    };
    item.version++;
    this.#touch(parent);
    return { ok: true, item, created: !existing };
  }

  /** Renames, moves and/or sets the client's times. */
  update(item: DriveItem, change: { name?: string; parent?: DriveItem; fileSystemInfo?: Partial<FileSystemInfo> }): WriteResult {
    const parent = change.parent ?? (item.parentId === undefined ? undefined : this.#items.get(item.parentId));
    const name = change.name ?? item.name;
    if (parent && (parent.id !== item.parentId || name !== item.name)) {
      if (parent.kind !== 'folder' || this.#isWithin(parent, item)) return { ok: false, error: 'notAFolder' };
      const clash = this.child(parent, name);
      if (clash && clash !== item) return { ok: false, error: 'nameAlreadyExists' };
      const oldParent = item.parentId === undefined ? undefined : this.#items.get(item.parentId);
      oldParent?.children.delete(item.name.toLowerCase());
      item.name = name;
      item.parentId = parent.id;
      parent.children.set(name.toLowerCase(), item.id);
      if (oldParent) this.#touch(oldParent);
      this.#touch(parent);
    }
    if (change.fileSystemInfo) item.fileSystemInfo = { ...item.fileSystemInfo, ...change.fileSystemInfo };
    item.lastModifiedDateTime = new Date();
    item.version++;
    return { ok: true, item, created: false };
  }

  /** Deletes an item and, for a folder, everything below it. */
  delete(item: DriveItem): void {
    for (const childId of item.children.values()) {
      const child = this.#items.get(childId);
      if (child) this.delete(child);
    }
    this.#items.delete(item.id);
    const parent = item.parentId === undefined ? undefined : this.#items.get(item.parentId);
    if (parent) {
      parent.children.delete(item.name.toLowerCase());
      this.#touch(parent);
    }
  }

  /** `/a/b` for an item (`/` for the root). */
  path(item: DriveItem): string {
    const names: string[] = [];
    for (let at: DriveItem | undefined = item; at && at !== this.root; at = at.parentId === undefined ? undefined : this.#items.get(at.parentId)) {
      names.unshift(at.name);
    }
    return `/${names.join('/')}`;
  }

  /** Every file by path. */
  files(): Map<string, DriveItem> {
    const files = new Map<string, DriveItem>();
    const walk = (folder: DriveItem) => {
      for (const child of this.children(folder)) {
        if (child.kind === 'folder') walk(child);
        else files.set(this.path(child), child);
      }
    };
    walk(this.root);
    return files;
  }

  /** Total bytes stored (the drive's `quota.used`). */
  usedBytes(): number {
    let used = 0;
    for (const item of this.#items.values()) used += item.data.length;
    return used;
  }

  #newItem(name: string, parent: DriveItem | undefined, kind: DriveItem['kind']): DriveItem {
    const now = new Date();
    const item: DriveItem = {
      id: `${this.driveId.toUpperCase()}!${this.#nextId++}`,
      name,
      parentId: parent?.id,
      kind,
      children: new Map(),
      data: Buffer.alloc(0),
      sha1: EMPTY_SHA1,
      createdDateTime: now,
      lastModifiedDateTime: now,
      fileSystemInfo: { createdDateTime: now, lastModifiedDateTime: now },
      version: 1,
      downloadKey: randomBytes(12).toString('base64url'),
    };
    this.#items.set(item.id, item);
    if (parent) {
      parent.children.set(name.toLowerCase(), item.id);
      this.#touch(parent);
    }
    return item;
  }

  #touch(folder: DriveItem): void {
    folder.lastModifiedDateTime = new Date();
    folder.version++;
  }

  /** Whether `candidate` is `item` or lies below it (a folder cannot move into itself). */
  #isWithin(candidate: DriveItem, item: DriveItem): boolean {
    for (let at: DriveItem | undefined = candidate; at; at = at.parentId === undefined ? undefined : this.#items.get(at.parentId)) {
      if (at === item) return true;
    }
    return false;
  }

  /** `name 1.ext`, `name 2.ext`, … : the first free name for conflictBehavior=rename. */
  #freeName(parent: DriveItem, name: string): string {
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    for (let n = 1; ; n++) {
      const candidate = `${stem} ${n}${ext}`;
      if (!this.child(parent, candidate)) return candidate;
    }
  }
}

function sha1Hex(data: Buffer): string {
  return createHash('sha1').update(data).digest('hex').toUpperCase();
}
