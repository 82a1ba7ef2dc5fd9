/**
 * Helpers for tests of the Drive stand-in at the HTTP level: requests shaped exactly as rclone
 * 1.60.1 sends them (rclone-providers-lab.md, Q2 Google Drive).
 */
import { randomBytes } from 'node:crypto';

export const FOLDER = 'application/vnd.google-apps.folder';
const SHORTCUT = 'application/vnd.google-apps.shortcut';

/** The `fields` of rclone's listings and of its file answers. */
export const PARTIAL_FIELDS =
  'id,name,size,md5Checksum,trashed,explicitlyTrashed,modifiedTime,createdTime,mimeType,parents,webViewLink,shortcutDetails,exportLinks,resourceKey';
export const LIST_FIELDS = `files(${PARTIAL_FIELDS}),nextPageToken,incompleteSearch`;

/** The files.list URL rclone builds for a listing (`name` given: a lookup; `folders`: directories only). */
export function listUrl(base: string, parentId: string, options: { name?: string; folders?: boolean } = {}): string {
  const terms = ['trashed=false', `('${parentId}' in parents)`];
  if (options.name !== undefined) terms.push(`(name='${options.name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}')`);
  if (options.folders) terms.push(`(mimeType='${FOLDER}' or mimeType='${SHORTCUT}')`);
  const params = new URLSearchParams({
    alt: 'json',
    fields: LIST_FIELDS,
    includeItemsFromAllDrives: 'true',
    pageSize: '1000',
    prettyPrint: 'false',
    q: terms.join(' and '),
    supportsAllDrives: 'true',
  });
  return `${base}/drive/v3/files?${params.toString()}`;
}

/** A `multipart/related` body as Go's googleapi client writes it: JSON metadata, then the media. */
export function multipartBody(metadata: Record<string, unknown>, media: Buffer, mediaType = 'application/octet-stream'): { body: Buffer; contentType: string } {
  const boundary = randomBytes(30).toString('hex');
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(metadata)}\r\n--${boundary}\r\nContent-Type: ${mediaType}\r\n\r\n`),
    media,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/related; boundary=${boundary}` };
}

export interface DriveFileJson {
  id: string;
  name: string;
  mimeType: string;
  parents?: string[];
  size?: string;
  md5Checksum?: string;
  modifiedTime: string;
  trashed?: boolean;
  explicitlyTrashed?: boolean;
}

export interface FileListJson {
  files: DriveFileJson[];
  nextPageToken?: string;
  incompleteSearch?: boolean;
}
