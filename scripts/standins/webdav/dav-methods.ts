/**
 * The WebDAV methods of one authenticated request on a user's files, with Nextcloud's extras
 * that rclone's nextcloud vendor relies on: `X-OC-Mtime` on PUT sets the modification time
 * (answered with `X-OC-Mtime: accepted`), `OC-Checksum` on PUT is verified against the body, and
 * PROPFIND reports `oc:checksums`. Bodies of PUT and GET pass through the server's byte budget.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http-util.js';
import type { ByteRateLimiter } from './byte-rate-limiter.js';
import { davErrors } from './dav-error.js';
import { fileChecksums, type Depth, type DavFile, type FileTree } from './file-tree.js';
import { parsePropfindRequest, renderMultistatus } from './propfind.js';

/** What the methods need to know about the request beyond `req`. */
export interface DavRequestContext {
  tree: FileTree;
  owner: string;
  /** The addressed resource's path relative to the owner's root ('' = root). */
  path: string;
  /** The `href` of a resource of the owner, as Nextcloud writes it. */
  hrefOf: (path: string, collection: boolean) => string;
  /** Resolves a `Destination` header to a path in the owner's root; throws a DavError otherwise. */
  destinationPath: (destination: string) => string;
  limiter: ByteRateLimiter;
  /** Counts body bytes that went through the byte budget. */
  countBytes: (direction: 'received' | 'sent', bytes: number) => void;
}

const SLICE_BYTES = 16 * 1024;
const PROPFIND_BODY_LIMIT = 1024 * 1024;

const ALLOWED_METHODS = ['OPTIONS', 'GET', 'HEAD', 'DELETE', 'PROPFIND', 'PUT', 'MKCOL', 'MOVE', 'COPY'];

export async function handleDavMethod(context: DavRequestContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  switch (req.method) {
    case 'OPTIONS':
      res.writeHead(200, { dav: '1, 3', allow: ALLOWED_METHODS.join(', '), 'ms-author-via': 'DAV', 'content-length': 0 });
      res.end();
      return;
    case 'PROPFIND':
      return propfind(context, req, res);
    case 'GET':
    case 'HEAD':
      return get(context, req, res);
    case 'PUT':
      return put(context, req, res);
    case 'MKCOL':
      context.tree.makeCollection(context.path);
      res.writeHead(201, { 'content-length': 0 });
      res.end();
      return;
    case 'DELETE':
      context.tree.remove(context.path);
      res.writeHead(204);
      res.end();
      return;
    case 'MOVE':
    case 'COPY':
      return moveOrCopy(context, req, res);
    default:
      throw davErrors.notImplemented(`There was no handler found for this "${req.method ?? ''}" method`);
  }
}

/** A request header's value (the first one if repeated). */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function depthHeader(req: IncomingMessage): Depth {
  const value = header(req, 'depth')?.trim().toLowerCase();
  if (value === undefined || value === 'infinity') return 'infinity';
  if (value === '0') return 0;
  if (value === '1') return 1;
  throw davErrors.badRequest(`Invalid Depth header: ${value}`);
}

async function propfind(context: DavRequestContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const request = parsePropfindRequest(await readBody(req, PROPFIND_BODY_LIMIT));
  const entries = context.tree.list(context.path, depthHeader(req)).map(([path, resource]) => ({
    href: context.hrefOf(path, resource.kind === 'collection'),
    resource,
    path,
    tree: context.tree,
    owner: context.owner,
  }));
  const body = renderMultistatus(entries, request);
  res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function fileHeaders(file: DavFile): Record<string, string> {
  return {
    etag: `"${file.etag}"`,
    'oc-etag': `"${file.etag}"`,
    'oc-fileid': String(file.fileId),
    'last-modified': file.modified.toUTCString(),
  };
}

/** A single `bytes=start-end` range (the only form clients such as rclone send), or undefined. */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  const start = first === '' ? Math.max(0, size - Number(last)) : Number(first);
  const end = first === '' || last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start > end || start >= size) throw davErrors.rangeNotSatisfiable(`The requested range ${header} is not satisfiable for ${size} bytes`);
  return { start, end };
}

async function get(context: DavRequestContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const resource = context.tree.get(context.path);
  if (!resource) throw davErrors.notFound(`File with name ${context.path} could not be located`);
  if (resource.kind === 'collection') throw davErrors.notImplemented('There was no plugin in the system that was willing to handle this GET method.');
  const size = resource.data.length;
  const range = byteRange(req.headers.range, size);
  const body = range ? resource.data.subarray(range.start, range.end + 1) : resource.data;
  res.writeHead(range ? 206 : 200, {
    ...fileHeaders(resource),
    'content-type': 'application/octet-stream',
    'content-length': body.length,
    'accept-ranges': 'bytes',
    ...(range ? { 'content-range': `bytes ${range.start}-${range.end}/${size}` } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await sendThrottled(context, res, body);
}

/** Writes `body` in slices as the byte budget allows; stops early if the client goes away. */
async function sendThrottled(context: DavRequestContext, res: ServerResponse, body: Buffer): Promise<void> {
  for (let offset = 0; offset < body.length && !res.destroyed; offset += SLICE_BYTES) {
    const slice = body.subarray(offset, offset + SLICE_BYTES);
    await context.limiter.take(slice.length);
    context.countBytes('sent', slice.length);
    if (!res.write(slice)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done).off('close', done);
          resolve();
        };
        res.on('drain', done).on('close', done);
      });
    }
  }
  res.end();
}

/** Reads the request body chunk by chunk as the byte budget allows (backpressure on the client). */
async function receiveThrottled(context: DavRequestContext, req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    context.countBytes('received', chunk.length);
    await context.limiter.take(chunk.length);
  }
  return Buffer.concat(chunks);
}

/** Nextcloud's `OC-Checksum: <ALGO>:<hex>`; a mismatch is refused with 400 like Nextcloud does. */
function verifyChecksum(header: string | undefined, file: { sha1: string; md5: string }): void {
  if (header === undefined) return;
  const match = /^(SHA1|MD5|ADLER32):([0-9a-f]+)$/i.exec(header.trim());
  if (!match) throw davErrors.badRequest(`Unsupported OC-Checksum header: ${header}`);
  const [, algorithm = '', value = ''] = match;
  const expected = algorithm.toUpperCase() === 'SHA1' ? file.sha1 : algorithm.toUpperCase() === 'MD5' ? file.md5 : undefined;
  if (expected !== undefined && expected !== value.toLowerCase()) {
    throw davErrors.badRequest('The computed checksum does not match the one received from the client.');
  }
}

/** `X-OC-Mtime` holds seconds since the epoch (Nextcloud accepts a fraction). */
function ocMtime(header: string | undefined): Date | undefined {
  if (header === undefined) return undefined;
  const seconds = Number(header.trim());
  if (!Number.isFinite(seconds) || seconds < 0) throw davErrors.badRequest(`X-OC-Mtime header must be a valid unix timestamp, got ${header}`);
  return new Date(Math.floor(seconds) * 1000);
}

async function put(context: DavRequestContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const modified = ocMtime(header(req, 'x-oc-mtime'));
  const data = await receiveThrottled(context, req);
  const checksums = fileChecksums(data);
  verifyChecksum(header(req, 'oc-checksum'), checksums);
  const { created, file } = context.tree.writeFile(context.path, data, modified ?? new Date(), checksums);
  res.writeHead(created ? 201 : 204, {
    ...fileHeaders(file),
    'content-length': 0,
    ...(modified ? { 'x-oc-mtime': 'accepted' } : {}),
  });
  res.end();
}

async function moveOrCopy(context: DavRequestContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const destination = header(req, 'destination');
  if (destination === undefined) throw davErrors.badRequest('The destination header was not supplied');
  const overwrite = header(req, 'overwrite')?.trim().toUpperCase() ?? 'T';
  if (overwrite !== 'T' && overwrite !== 'F') throw davErrors.badRequest('The HTTP Overwrite header should be either T or F');
  const { created } = context.tree.transfer(context.path, context.destinationPath(destination), {
    move: req.method === 'MOVE',
    overwrite: overwrite === 'T',
    depth: depthHeader(req),
  });
  res.writeHead(created ? 201 : 204, { 'content-length': 0 });
  res.end();
}
