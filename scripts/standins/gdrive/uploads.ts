/**
 * Uploads at `/upload/drive/v3/files` (create, POST) and `/upload/drive/v3/files/{id}` (new
 * content for an existing file, PATCH), as rclone's drive backend sends them
 * (rclone-providers-lab.md, Q2 Google Drive):
 *
 * - `uploadType=multipart`: one `multipart/related` body, JSON metadata then the bytes; rclone
 *   uses it below `upload_cutoff`.
 * - `uploadType=media`: the bytes alone.
 * - `uploadType=resumable`: a start request with the JSON metadata and `X-Upload-Content-Length`
 *   / `X-Upload-Content-Type`, answered 200 with the session URL in `Location`; then chunks to
 *   that URL — **POST** from rclone (PUT per Google's docs, accepted too) — with
 *   `Content-Range: bytes s-e/total`, each answered `308` with `Range: bytes=0-N` until the last
 *   one, which gets 200 and the File. `bytes *\/total` with no body asks how far the session got.
 *
 * Every media byte that arrives is counted against the file's path, re-sent ones included, so
 * a test can tell "uploaded once" from "uploaded twice". All media bodies go through the shared
 * pacer (one link for every concurrent upload).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseContentRange, sendResumeIncomplete } from '../gcs/uploads.js';
import { multipartBoundary, parseMultipart } from '../gcs/multipart.js';
import type { BandwidthPacer } from '../gcs/throttle.js';
import { readBody, sendJson } from '../http-util.js';
import { driveErrors } from './drive-errors.js';
import { DEFAULT_MIME_TYPE, type DriveFile, type DriveStore } from './drive-store.js';
import type { FieldMask } from './fields.js';
import { parseFileMetadata, WRITABLE, type FileMetadata } from './file-metadata.js';
import { fileMask } from './resources.js';
import { increment, type GdriveStandinStats, type UploadType } from './stats.js';

/** Largest media body (or resumable chunk) accepted. */
const MAX_MEDIA_BYTES = 1024 * 1024 * 1024;
const MAX_METADATA_BYTES = 1024 * 1024;

/** What an upload writes: a new file, or new content (and metadata) for an existing one. */
interface UploadTarget {
  /** Set for an update (PATCH …/files/{id}). */
  fileId: string | undefined;
  metadata: FileMetadata;
  /** `addParents` / `removeParents` of an update. */
  move: { addParent: string | undefined; removeParent: string | undefined };
  /** The file's path when the upload began: the key of the per-file counters. */
  path: string;
}

interface ResumableSession {
  target: UploadTarget;
  mediaType: string | undefined;
  /** The `fields` of the start request: what the final answer carries. */
  mask: FieldMask;
  chunks: Buffer[];
  received: number;
  /** Total size, once declared (`X-Upload-Content-Length` or a `Content-Range` total). */
  total: number | undefined;
  /** The file written when the last byte arrived; later status queries get it again. */
  result: DriveFile | undefined;
}

/** An upload request after routing: the file it updates, if any. */
export interface UploadRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  fileId: string | undefined;
  /** Set here, so the request log can tie a chunk to its session. */
  uploadId?: string;
}

export class DriveUploads {
  readonly #sessions = new Map<string, ResumableSession>();

  constructor(
    private readonly store: DriveStore,
    private readonly pacer: BandwidthPacer,
    private readonly stats: GdriveStandinStats,
    private readonly resource: (file: DriveFile, mask: FieldMask) => unknown,
  ) {}

  /** `uploadType=multipart` or `media`: the whole file in one request. */
  async single(request: UploadRequest, uploadType: 'multipart' | 'media'): Promise<void> {
    const { req, res, url } = request;
    const mask = fileMask(url);
    let metadataBody: Buffer = Buffer.alloc(0);
    let mediaType: string | undefined;
    let data: Buffer;
    if (uploadType === 'multipart') {
      const boundary = multipartBoundary(req.headers['content-type']);
      if (!boundary) throw driveErrors.badRequest('Multipart upload needs a multipart/related body.');
      const body = await this.pacer.readBody(req, MAX_MEDIA_BYTES);
      const parts = parseMultipart(body, boundary);
      const [metadataPart, mediaPart] = parts ?? [];
      if (!metadataPart || !mediaPart || parts?.length !== 2) throw driveErrors.badRequest('Multipart upload needs exactly a JSON metadata part and a media part.');
      metadataBody = metadataPart.body;
      mediaType = mediaPart.headers.get('content-type');
      data = mediaPart.body;
    } else {
      data = await this.pacer.readBody(req, MAX_MEDIA_BYTES);
      mediaType = req.headers['content-type'];
    }
    const target = this.#target(request, metadataBody);
    increment(this.stats.uploadSessions, target.path);
    increment(this.stats.bytesReceived, target.path, data.length);
    const file = this.#write(target, data, mediaType, uploadType);
    sendJson(res, 200, this.resource(file, mask));
  }

  /** `uploadType=resumable` without `upload_id`: opens a session. */
  async startResumable(request: UploadRequest): Promise<void> {
    const { req, res, url } = request;
    const mask = fileMask(url);
    const target = this.#target(request, await readBody(req, MAX_METADATA_BYTES));
    const declared = req.headers['x-upload-content-length'];
    const total = declared === undefined ? undefined : Number(declared);
    if (total !== undefined && !(Number.isSafeInteger(total) && total >= 0)) throw driveErrors.badRequest(`Invalid X-Upload-Content-Length: ${String(declared)}`);
    const uploadId = randomBytes(24).toString('base64url');
    request.uploadId = uploadId;
    const mediaType = req.headers['x-upload-content-type'];
    this.#sessions.set(uploadId, {
      target,
      mediaType: typeof mediaType === 'string' ? mediaType : undefined,
      mask,
      chunks: [],
      received: 0,
      total,
      result: undefined,
    });
    increment(this.stats.uploadSessions, target.path);
    const sessionUrl = new URL(url.pathname, publicOrigin(req));
    sessionUrl.searchParams.set('uploadType', 'resumable');
    sessionUrl.searchParams.set('upload_id', uploadId);
    res.writeHead(200, { location: sessionUrl.href, 'x-guploader-uploadid': uploadId, 'content-length': '0' });
    res.end();
  }

  /** A chunk (or a status query) for the session `upload_id`. */
  async chunk(request: UploadRequest, uploadId: string): Promise<void> {
    const { req, res } = request;
    request.uploadId = uploadId;
    const session = this.#sessions.get(uploadId);
    if (!session) throw driveErrors.invalidParameter('upload_id', 'No such upload session.');
    const header = req.headers['content-range'];
    const range = header === undefined ? undefined : parseContentRange(header);
    if (range === null) throw driveErrors.badRequest(`Invalid Content-Range: ${header ?? ''}`);
    const data = await this.pacer.readBody(req, MAX_MEDIA_BYTES);
    increment(this.stats.bytesReceived, session.target.path, data.length);
    if (session.result) {
      sendJson(res, 200, this.resource(this.store.get(session.result.id), session.mask));
      return;
    }
    // Without Content-Range the body is the whole rest of the file.
    const first = range?.first ?? session.received;
    const total = range ? (range.total ?? session.total) : session.received + data.length;
    if (range?.last !== undefined && range.last - first + 1 !== data.length) {
      throw driveErrors.badRequest(`Content-Range covers ${range.last - first + 1} bytes but the body has ${data.length}.`);
    }
    if (first > session.received) throw driveErrors.badRequest(`Upload offset ${first} is beyond the ${session.received} bytes received so far.`);
    if (session.total !== undefined && total !== undefined && total !== session.total) {
      throw driveErrors.badRequest(`Content-Range total ${total} differs from the declared length ${session.total}.`);
    }
    // A chunk may repeat bytes already received (a retry after a lost answer): keep only the new ones.
    const fresh = data.subarray(session.received - first);
    if (total !== undefined && session.received + fresh.length > total) {
      throw driveErrors.badRequest(`Received ${session.received + fresh.length} bytes, more than the declared ${total}.`);
    }
    session.chunks.push(fresh);
    session.received += fresh.length;
    session.total = total;
    if (total === undefined || session.received < total) {
      sendResumeIncomplete(req, res, session.received);
      return;
    }
    const file = this.#write(session.target, Buffer.concat(session.chunks), session.mediaType, 'resumable');
    session.result = file;
    session.chunks = [];
    sendJson(res, 200, this.resource(file, session.mask));
  }

  /** Reads and checks what an upload will write, before any byte of it is stored. */
  #target(request: UploadRequest, metadataBody: Buffer): UploadTarget {
    const { url, fileId } = request;
    const move = { addParent: url.searchParams.get('addParents') ?? undefined, removeParent: url.searchParams.get('removeParents') ?? undefined };
    if (fileId !== undefined) {
      const metadata = parseFileMetadata(metadataBody, WRITABLE.update);
      return { fileId, metadata, move, path: this.store.path(this.store.get(fileId)) };
    }
    const metadata = parseFileMetadata(metadataBody, WRITABLE.create);
    const parent = this.store.folder(metadata.parent ?? 'root');
    const parentPath = this.store.path(parent);
    const name = metadata.name ?? 'Untitled';
    return { fileId: undefined, metadata, move, path: parentPath === '' ? name : `${parentPath}/${name}` };
  }

  #write(target: UploadTarget, data: Buffer, mediaType: string | undefined, uploadType: UploadType): DriveFile {
    const { metadata } = target;
    const file =
      target.fileId === undefined
        ? this.store.create({
            name: metadata.name ?? 'Untitled',
            mimeType: metadata.mimeType ?? mediaType ?? DEFAULT_MIME_TYPE,
            parent: metadata.parent,
            description: metadata.description,
            modifiedTime: metadata.modifiedTime,
            data,
          })
        : this.store.update(target.fileId, { ...metadata, ...target.move, data });
    this.stats.uploads[uploadType]++;
    return file;
  }
}

/**
 * Where the client reached us: a client that came through the TLS proxy (Host
 * `www.googleapis.com`) must send its chunks back the same way, so the session URL is https
 * on that host; a client that came straight to the loopback port gets a plain http URL.
 */
function publicOrigin(req: IncomingMessage): string {
  const host = req.headers.host ?? '127.0.0.1';
  const loopback = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/.test(host);
  return `${loopback ? 'http' : 'https'}://${host}`;
}
