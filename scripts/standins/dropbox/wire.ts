/**
 * The JSON on the wire: reading route arguments (RPC bodies and the `Dropbox-API-Arg` header of
 * content routes) and writing metadata the way Dropbox does.
 *
 * HTTP headers are ASCII: Dropbox documents that non-ASCII characters of the header JSON are
 * sent escaped as `\uXXXX` (UTF-16 code units, so astral characters become surrogate pairs),
 * and it escapes `Dropbox-API-Result` the same way. The Go SDK in rclone 1.60.1 (v6.0.4) does
 * not escape: it sends the UTF-8 bytes as they are (seen with `--dump headers` for
 * `files/upload`). The stand-in accepts both and counts the raw form.
 */
import type { IncomingMessage } from 'node:http';
import { BadInputError, tag, type Tagged } from './errors.js';
import type { Commit, Entry, FileEntry, WriteMode } from './namespace.js';
import { lowerPath } from './namespace.js';

export type Args = Record<string, unknown>;

/**
 * The argument of a content route: `Dropbox-API-Arg` header, else the `arg` query parameter.
 * `rawUtf8` tells that the header carried unescaped non-ASCII bytes.
 */
export function contentArgs(req: IncomingMessage, url: URL): { args: Args; rawUtf8: boolean } {
  const header = req.headers['dropbox-api-arg'];
  if (typeof header !== 'string') {
    const query = url.searchParams.get('arg');
    if (query === null) throw new BadInputError('Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".');
    return { args: parseArgs(query), rawUtf8: false };
  }
  // Node reads header bytes as latin1: anything above 0x7e came from a raw non-ASCII byte.
  const rawUtf8 = /[^\x20-\x7e]/.test(header);
  const decoded = rawUtf8 ? Buffer.from(header, 'latin1').toString('utf8') : header;
  // Bytes that are no UTF-8 were latin1 text: keep them as they came.
  const text = decoded.includes('\ufffd') ? header : decoded;
  try {
    return { args: parseArgs(text), rawUtf8 };
  } catch {
    throw new BadInputError('HTTP header "Dropbox-API-Arg": could not decode input as JSON');
  }
}

export function parseArgs(text: string): Args {
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? null : JSON.parse(text);
  } catch {
    throw new BadInputError('could not decode input as JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadInputError('request body: expected an object');
  return parsed as Args;
}

/** JSON whose every character above 0x7e is written `\uXXXX`: safe for an HTTP header. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function stringArg(args: Args, key: string, options: { optional: true }): string | undefined;
export function stringArg(args: Args, key: string): string;
export function stringArg(args: Args, key: string, options: { optional?: boolean } = {}): string | undefined {
  const value = args[key];
  if (value === undefined || value === null) {
    if (options.optional) return undefined;
    throw new BadInputError(`request body: missing required field '${key}'`);
  }
  if (typeof value !== 'string') throw new BadInputError(`request body: ${key}: expected string, got ${typeof value}`);
  return value;
}

export function boolArg(args: Args, key: string, fallback: boolean): boolean {
  const value = args[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new BadInputError(`request body: ${key}: expected boolean`);
  return value;
}

export function uintArg(args: Args, key: string, fallback?: number): number {
  const value = args[key];
  if ((value === undefined || value === null) && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new BadInputError(`request body: ${key}: expected unsigned integer`);
  return value;
}

export function objectArg(args: Args, key: string): Args {
  const value = args[key];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadInputError(`request body: missing required field '${key}'`);
  return value as Args;
}

const PATH = /^(\/(.|[\r\n])*|id:.*|rev:[0-9a-f]{9,}|ns:[0-9]+(\/.*)?)$/;

/**
 * A path argument: `""` (root, where `allowRoot`), `/a/b`, or `id:…`. A trailing slash is
 * refused, as Dropbox does (`malformed_path`). Returns the path as given (case kept).
 */
export function pathArg(args: Args, key: string, options: { allowRoot?: boolean } = {}): string {
  const path = stringArg(args, key);
  if (path === '' && options.allowRoot) return '';
  if (!PATH.test(path)) throw new BadInputError(`request body: ${key}: '${path}' did not match pattern '${PATH.source}'`);
  return path;
}

/** True when a slash path is well formed (no trailing or doubled slash). */
export function isWellFormed(path: string): boolean {
  return path.startsWith('id:') || (!path.endsWith('/') && !path.includes('//'));
}

/** `CommitInfo` (files/upload arg, `commit` of upload_session/finish). */
export function commitArg(args: Args): Commit {
  const path = pathArg(args, 'path');
  const clientModified = stringArg(args, 'client_modified', { optional: true });
  if (clientModified !== undefined && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(clientModified)) {
    throw new BadInputError(`request body: client_modified: time data '${clientModified}' does not match format '%Y-%m-%dT%H:%M:%SZ'`);
  }
  return {
    path,
    mode: writeMode(args.mode),
    autorename: boolArg(args, 'autorename', false),
    clientModified,
    strictConflict: boolArg(args, 'strict_conflict', false),
  };
}

function writeMode(value: unknown): WriteMode {
  if (value === undefined || value === null) return { kind: 'add' };
  const name: unknown = typeof value === 'string' ? value : (value as Partial<Tagged>)['.tag'];
  if (name === 'add' || name === 'overwrite') return { kind: name };
  if (name === 'update' && typeof value === 'object' && typeof (value as Tagged).update === 'string') return { kind: 'update', rev: (value as Tagged).update as string };
  throw new BadInputError(`request body: mode: unknown tag '${String(name)}'`);
}

/** `UploadSessionCursor`. */
export function cursorArg(args: Args): { sessionId: string; offset: number } {
  const cursor = objectArg(args, 'cursor');
  return { sessionId: stringArg(cursor, 'session_id'), offset: uintArg(cursor, 'offset') };
}

function base(entry: Entry): Record<string, unknown> {
  const name = entry.pathDisplay.slice(entry.pathDisplay.lastIndexOf('/') + 1);
  return { name, path_lower: lowerPath(entry.pathDisplay), path_display: entry.pathDisplay, id: entry.id };
}

/** `FileMetadata` without the union tag (the result of uploads and downloads). */
export function fileMetadata(file: FileEntry): Record<string, unknown> {
  return {
    ...base(file),
    client_modified: file.clientModified,
    server_modified: file.serverModified,
    rev: file.rev,
    size: file.data.length,
    is_downloadable: true,
    content_hash: file.contentHash,
  };
}

/** `Metadata` as a union member (`.tag` file or folder), for listings and get_metadata. */
export function taggedMetadata(entry: Entry): Tagged {
  return entry.kind === 'file' ? tag('file', fileMetadata(entry)) : tag('folder', base(entry));
}
