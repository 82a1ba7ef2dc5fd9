/**
 * File metadata in request bodies (files.create, files.update, files.copy, the JSON part of
 * uploads), read strictly: only the fields a method may write, with their types checked.
 * A read-only field is Drive's 403 `fieldNotWritable`; a field the stand-in does not model is
 * refused by name rather than dropped.
 */
import { DriveError, driveErrors } from './drive-errors.js';

export interface FileMetadata {
  name?: string;
  mimeType?: string;
  /** The one parent id (Drive keeps a single parent per file). */
  parent?: string;
  description?: string;
  /** Truncated to the millisecond, as Drive stores it. */
  modifiedTime?: Date;
  trashed?: boolean;
}

type WritableField = 'name' | 'mimeType' | 'parents' | 'description' | 'modifiedTime' | 'trashed';

const READ_ONLY_FIELDS = new Set(['id', 'kind', 'size', 'md5Checksum', 'createdTime', 'version', 'explicitlyTrashed', 'webViewLink', 'owners', 'quotaBytesUsed']);

/** What each kind of request may write. `parents` moves go through `addParents`/`removeParents` on update. */
export const WRITABLE = {
  create: ['name', 'mimeType', 'parents', 'description', 'modifiedTime'],
  update: ['name', 'mimeType', 'description', 'modifiedTime', 'trashed'],
  copy: ['name', 'parents', 'description', 'modifiedTime'],
} as const satisfies Record<string, readonly WritableField[]>;

/** Parses a metadata body (empty = `{}`); throws the API's 400/403 for anything it cannot take. */
export function parseFileMetadata(body: Buffer, writable: readonly WritableField[]): FileMetadata {
  const resource = parseJsonObject(body);
  const metadata: FileMetadata = {};
  for (const [field, value] of Object.entries(resource)) {
    if (!(writable as readonly string[]).includes(field)) {
      if (READ_ONLY_FIELDS.has(field) || field === 'parents' || field === 'trashed') throw driveErrors.notWritable(field);
      throw driveErrors.unsupported(`the file field '${field}'`);
    }
    switch (field as WritableField) {
      case 'name':
        metadata.name = stringField(field, value);
        break;
      case 'mimeType':
        metadata.mimeType = stringField(field, value);
        break;
      case 'description':
        metadata.description = stringField(field, value);
        break;
      case 'parents': {
        const parents = Array.isArray(value) && value.every((id) => typeof id === 'string') ? (value as string[]) : undefined;
        if (!parents) throw invalidField(field);
        if (parents.length > 1) throw driveErrors.singleParent();
        if (parents[0] !== undefined) metadata.parent = parents[0];
        break;
      }
      case 'modifiedTime': {
        const time = typeof value === 'string' ? parseRfc3339(value) : undefined;
        if (!time) throw invalidField(field);
        metadata.modifiedTime = time;
        break;
      }
      case 'trashed':
        if (typeof value !== 'boolean') throw invalidField(field);
        metadata.trashed = value;
        break;
    }
  }
  return metadata;
}

/**
 * An RFC 3339 time with up to nanoseconds (rclone sends `2006-01-02T15:04:05.000000000Z07:00`),
 * truncated to milliseconds; undefined when malformed.
 */
export function parseRfc3339(value: string): Date | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(value);
  if (!match) return undefined;
  const [, seconds = '', fraction = '', zone = ''] = match;
  const time = new Date(`${seconds}.${fraction.padEnd(3, '0').slice(0, 3)}${zone.toUpperCase()}`);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

function parseJsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw driveErrors.parseError();
  }
  if (parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw driveErrors.parseError();
  return parsed as Record<string, unknown>;
}

function stringField(field: string, value: unknown): string {
  if (typeof value !== 'string') throw invalidField(field);
  return value;
}

function invalidField(field: string): DriveError {
  return driveErrors.invalidParameter(field, `Invalid value for field ${field}.`);
}
