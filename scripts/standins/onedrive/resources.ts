/**
 * Microsoft Graph JSON for drives and driveItems (OneDrive personal), as far as rclone 1.60.1
 * and the worker read them: `parentReference.driveId` (rclone addresses every item as
 * `driveId#id`), `folder.childCount` / `file.hashes.sha1Hash` (upper-case hex; rclone
 * lower-cases it), and `fileSystemInfo.lastModifiedDateTime` (rclone's modification time).
 */
import type { DriveItem, DriveStore } from './drive-store.js';

/** Bytes the drive pretends to have (1 TiB, a Microsoft 365 personal plan). */
const QUOTA_BYTES = 1024 ** 4;

export function driveResource(store: DriveStore, owner: { id: string; displayName: string }): Record<string, unknown> {
  const used = store.usedBytes();
  return {
    id: store.driveId,
    driveType: 'personal',
    name: 'OneDrive',
    owner: { user: { displayName: owner.displayName, id: owner.id } },
    quota: { deleted: 0, remaining: QUOTA_BYTES - used, state: 'normal', total: QUOTA_BYTES, used },
  };
}

/**
 * A driveItem. `origin` is the scheme and host the client reached us on, so the pre-authenticated
 * download URL comes back through the same route (the proxy, or loopback directly).
 */
export function itemResource(store: DriveStore, item: DriveItem, downloadOrigin: string): Record<string, unknown> {
  const isRoot = item === store.root;
  const parentReference: Record<string, unknown> = { driveId: store.driveId, driveType: 'personal' };
  if (!isRoot && item.parentId !== undefined) {
    const parent = store.get(item.parentId)!;
    parentReference.id = parent.id;
    parentReference.path = parent === store.root ? '/drive/root:' : `/drive/root:${encodePath(store.path(parent))}`;
  }
  const resource: Record<string, unknown> = {
    id: item.id,
    name: item.name,
    size: item.kind === 'folder' ? folderSize(store, item) : item.data.length,
    createdDateTime: timestamp(item.createdDateTime),
    lastModifiedDateTime: timestamp(item.lastModifiedDateTime),
    eTag: `"{${item.id}},${item.version}"`,
    cTag: `"c:{${item.id}},${item.version}"`,
    webUrl: `https://onedrive.live.com/?cid=${store.driveId}&id=${encodeURIComponent(item.id)}`,
    parentReference,
    fileSystemInfo: {
      createdDateTime: timestamp(item.fileSystemInfo.createdDateTime),
      lastModifiedDateTime: timestamp(item.fileSystemInfo.lastModifiedDateTime),
    },
  };
  if (isRoot) resource.root = {};
  if (item.kind === 'folder') {
    resource.folder = { childCount: item.children.size, view: { viewType: 'thumbnails', sortBy: 'name', sortOrder: 'ascending' } };
  } else {
    resource.file = { mimeType: mimeType(item.name), hashes: { sha1Hash: item.sha1 } };
    resource['@microsoft.graph.downloadUrl'] = downloadUrl(downloadOrigin, item);
  }
  return resource;
}

/** The pre-authenticated URL a `GET …/content` redirects to. */
export function downloadUrl(origin: string, item: DriveItem): string {
  return `${origin}/dl/${encodeURIComponent(item.id)}/${item.downloadKey}`;
}

/** OneDrive keeps whole seconds and prints no fraction. */
export function timestamp(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function folderSize(store: DriveStore, folder: DriveItem): number {
  let size = 0;
  for (const child of store.children(folder)) size += child.kind === 'folder' ? folderSize(store, child) : child.data.length;
  return size;
}

function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

const MIME_TYPES: Record<string, string> = {
  txt: 'text/plain',
  json: 'application/json',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  pdf: 'application/pdf',
  zip: 'application/zip',
};

function mimeType(name: string): string {
  const ext = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
  return MIME_TYPES[ext] ?? 'application/octet-stream';
}
