/**
 * JSON resources of the Drive v3 API as the Go `drive/v3` client decodes them (int64 fields as
 * strings, times in RFC 3339 with milliseconds, MD5 in hex), and the schemas the `fields`
 * parameter is checked against.
 */
import type { DriveFile, DriveStore } from './drive-store.js';
import { FOLDER_MIME_TYPE } from './drive-store.js';
import { parseFields, type FieldMask, type FieldSchema } from './fields.js';

export interface DriveUser {
  displayName: string;
  emailAddress: string;
}

const USER_SCHEMA: FieldSchema = { kind: null, displayName: null, emailAddress: null, me: null, permissionId: null, photoLink: null };

/**
 * Every File field a client may select. Fields the stand-in never fills (shortcuts, Docs
 * export links, resource keys) are valid selections that are simply absent, as on a drive
 * without such files.
 */
export const FILE_SCHEMA: FieldSchema = {
  kind: null,
  id: null,
  name: null,
  mimeType: null,
  description: null,
  parents: null,
  size: null,
  md5Checksum: null,
  quotaBytesUsed: null,
  modifiedTime: null,
  createdTime: null,
  trashed: null,
  explicitlyTrashed: null,
  starred: null,
  version: null,
  webViewLink: null,
  owners: USER_SCHEMA,
  shortcutDetails: { targetId: null, targetMimeType: null, targetResourceKey: null },
  exportLinks: null,
  resourceKey: null,
};

export const FILE_LIST_SCHEMA: FieldSchema = { kind: null, nextPageToken: null, incompleteSearch: null, files: FILE_SCHEMA };

export const ABOUT_SCHEMA: FieldSchema = {
  kind: null,
  user: USER_SCHEMA,
  storageQuota: { limit: null, usage: null, usageInDrive: null, usageInDriveTrash: null },
  importFormats: null,
  exportFormats: null,
  maxUploadSize: null,
  canCreateDrives: null,
};

/** What Drive v3 answers when a request has no `fields` parameter. */
export const DEFAULT_FILE_FIELDS = 'kind,id,name,mimeType';
export const DEFAULT_FILE_LIST_FIELDS = 'kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)';

/**
 * The File fields a request selects: its `fields` parameter, or the default when it has none
 * or an empty one (rclone trashes with `fields=` and ignores the answer).
 */
export function fileMask(url: URL): FieldMask {
  return parseFields(url.searchParams.get('fields') || DEFAULT_FILE_FIELDS, FILE_SCHEMA);
}

/** The FileList fields a files.list request selects. */
export function fileListMask(url: URL): FieldMask {
  return parseFields(url.searchParams.get('fields') || DEFAULT_FILE_LIST_FIELDS, FILE_LIST_SCHEMA);
}

export function fileResource(file: DriveFile, store: DriveStore, owner: DriveUser): Record<string, unknown> {
  const isFolder = file.mimeType === FOLDER_MIME_TYPE;
  return {
    kind: 'drive#file',
    id: file.id,
    name: file.name,
    mimeType: file.mimeType,
    ...(file.description === undefined ? {} : { description: file.description }),
    ...(file.parents.length === 0 ? {} : { parents: [...file.parents] }),
    ...(file.content ? { size: String(file.content.data.length), md5Checksum: file.content.md5Checksum } : {}),
    quotaBytesUsed: String(file.content?.data.length ?? 0),
    starred: false,
    trashed: store.isTrashed(file),
    explicitlyTrashed: file.explicitlyTrashed,
    version: String(file.version),
    webViewLink: isFolder ? `https://drive.google.com/drive/folders/${file.id}` : `https://drive.google.com/file/d/${file.id}/view?usp=drivesdk`,
    createdTime: file.createdTime.toISOString(),
    modifiedTime: file.modifiedTime.toISOString(),
    owners: [userResource(owner)],
  };
}

export function userResource(user: DriveUser): Record<string, unknown> {
  return { kind: 'drive#user', displayName: user.displayName, emailAddress: user.emailAddress, me: true, permissionId: '00000000000000000001' };
}
