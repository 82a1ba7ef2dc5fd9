/**
 * Object uploads at `/upload/storage/v1/b/{bucket}/o`: `uploadType=multipart` (metadata + media
 * in one `multipart/related` body), `uploadType=media`, and `uploadType=resumable` (a session
 * started by POST, then chunks with `Content-Range` to the session URL (POST from the Go client,
 * PUT per the docs), answered "308 incomplete" until the last one).
 * The Go client rclone uses switches to resumable once a file reaches its 16 MiB chunk size.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '../http-util.js';
import { sendBadRequest, sendNotFound } from './google-errors.js';
import { parseMultipart, multipartBoundary } from './multipart.js';
import type { ObjectAttributes, ObjectStore } from './objects.js';
import { objectResource } from './resources.js';
import { noteUploadChunk, type GcsStandinStats, type UploadType } from './stats.js';
import type { BandwidthPacer } from './throttle.js';
import { parseJsonObject, writableAttributes } from './request-json.js';

/** Largest object body (or resumable chunk) accepted. */
const MAX_BODY_BYTES = 1024 * 1024 * 1024;
const MAX_METADATA_BYTES = 1024 * 1024;

interface ResumableSession {
  bucket: string;
  name: string;
  attributes: ObjectAttributes;
  chunks: Buffer[];
  received: number;
  /** Body bytes of every chunk request read for this session (repeats included). */
  bodyBytes: number;
  /** Total size, once the client has declared it. */
  total: number | undefined;
}

/** A parsed `Content-Range` of a resumable PUT: `bytes a-b/total`, `bytes a-b/*`, `bytes *\/total`. */
export interface ContentRange {
  first: number | undefined;
  last: number | undefined;
  total: number | undefined;
}

export class ObjectUploads {
  readonly #sessions = new Map<string, ResumableSession>();

  constructor(
    private readonly store: ObjectStore,
    private readonly pacer: BandwidthPacer,
    private readonly stats: GcsStandinStats,
    private readonly baseUrl: string,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string): Promise<void> {
    if (!this.store.bucket(bucket)) {
      req.resume();
      sendNotFound(res, 'The specified bucket does not exist.');
      return;
    }
    const uploadType = url.searchParams.get('uploadType');
    const uploadId = url.searchParams.get('upload_id');
    if (req.method === 'POST' && uploadType === 'multipart') return this.#multipart(req, res, url, bucket);
    if (req.method === 'POST' && uploadType === 'media') return this.#media(req, res, url, bucket);
    if (req.method === 'POST' && uploadType === 'resumable' && uploadId === null) return this.#startResumable(req, res, url, bucket);
    if ((req.method === 'PUT' || req.method === 'POST') && uploadId !== null) return this.#resumableChunk(req, res, bucket, uploadId);
    req.resume();
    sendBadRequest(res, `Unsupported upload: ${req.method ?? ''} uploadType=${uploadType ?? ''}`);
  }

  async #multipart(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string): Promise<void> {
    const boundary = multipartBoundary(req.headers['content-type']);
    if (!boundary) {
      req.resume();
      sendBadRequest(res, 'Multipart upload needs a multipart/related body.');
      return;
    }
    // rclone's client names the object in the query too; the metadata part is read only at the end.
    const body = await this.#readObjectBody(req, bucket, url.searchParams.get('name') ?? '');
    const parts = parseMultipart(body, boundary);
    const [metadataPart, mediaPart] = parts ?? [];
    const metadata = metadataPart && parseJsonObject(metadataPart.body);
    if (!metadata || !mediaPart || parts?.length !== 2) {
      sendBadRequest(res, 'Multipart upload needs exactly a JSON metadata part and a media part.');
      return;
    }
    const attributes = writableAttributes(metadata);
    attributes.contentType ??= mediaPart.headers.get('content-type');
    const name = typeof metadata.name === 'string' ? metadata.name : url.searchParams.get('name');
    this.#finish(res, bucket, name, mediaPart.body, attributes, 'multipart', body.length);
  }

  async #media(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string): Promise<void> {
    const name = url.searchParams.get('name');
    const data = await this.#readObjectBody(req, bucket, name ?? '');
    this.#finish(res, bucket, name, data, { contentType: req.headers['content-type'] }, 'media', data.length);
  }

  async #startResumable(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string): Promise<void> {
    const body = await readBody(req, MAX_METADATA_BYTES);
    const metadata = body.length === 0 ? {} : parseJsonObject(body);
    if (!metadata) {
      sendBadRequest(res, 'Resumable upload metadata must be a JSON object.');
      return;
    }
    const name = typeof metadata.name === 'string' ? metadata.name : url.searchParams.get('name');
    if (!name) {
      sendBadRequest(res, 'Required: object name.');
      return;
    }
    const attributes = writableAttributes(metadata);
    const uploadContentType = req.headers['x-upload-content-type'];
    attributes.contentType ??= typeof uploadContentType === 'string' ? uploadContentType : undefined;
    const declaredLength = Number(req.headers['x-upload-content-length']);
    const uploadId = randomBytes(16).toString('base64url');
    this.#sessions.set(uploadId, {
      bucket,
      name,
      attributes,
      chunks: [],
      received: 0,
      bodyBytes: 0,
      total: Number.isSafeInteger(declaredLength) && declaredLength >= 0 ? declaredLength : undefined,
    });
    const location = `${this.baseUrl}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${uploadId}`;
    res.writeHead(200, { location, 'content-length': '0' });
    res.end();
  }

  async #resumableChunk(req: IncomingMessage, res: ServerResponse, bucket: string, uploadId: string): Promise<void> {
    const session = this.#sessions.get(uploadId);
    if (session?.bucket !== bucket) {
      req.resume();
      sendNotFound(res, 'No such upload session.');
      return;
    }
    const header = req.headers['content-range'];
    const range = header === undefined ? undefined : parseContentRange(header);
    if (range === null) {
      req.resume();
      sendBadRequest(res, `Invalid Content-Range: ${header ?? ''}`);
      return;
    }
    const data = await this.#readObjectBody(req, bucket, session.name);
    session.bodyBytes += data.length;
    // Without Content-Range the body is the whole (rest of the) object.
    const first = range?.first ?? session.received;
    const last = range?.last;
    const total = range ? (range.total ?? session.total) : session.received + data.length;
    if (first > session.received) {
      sendBadRequest(res, `Upload offset ${first} is beyond the ${session.received} bytes received so far.`);
      return;
    }
    if (last !== undefined && last - first + 1 !== data.length) {
      sendBadRequest(res, `Content-Range covers ${last - first + 1} bytes but the body has ${data.length}.`);
      return;
    }
    const fresh = data.subarray(session.received - first);
    if (fresh.length > 0) {
      session.chunks.push(fresh);
      session.received += fresh.length;
    }
    session.total = total;
    if (total !== undefined && session.received > total) {
      sendBadRequest(res, `Received ${session.received} bytes, more than the declared ${total}.`);
      return;
    }
    if (total !== undefined && session.received === total) {
      this.#sessions.delete(uploadId);
      this.#finish(res, bucket, session.name, Buffer.concat(session.chunks), session.attributes, 'resumable', session.bodyBytes);
      return;
    }
    sendResumeIncomplete(req, res, session.received);
  }

  /** Reads an object body at the link's pace, counting its chunks for `bucket/name` (stats.uploadBodyBytes). */
  #readObjectBody(req: IncomingMessage, bucket: string, name: string): Promise<Buffer> {
    const object = `${bucket}/${name}`;
    return readBody(req, MAX_BODY_BYTES, (bytes) => {
      noteUploadChunk(this.stats, object, bytes);
      return this.pacer.consume(bytes);
    });
  }

  #finish(
    res: ServerResponse,
    bucket: string,
    name: string | null,
    data: Buffer,
    attributes: ObjectAttributes,
    uploadType: UploadType,
    bodyBytes: number,
  ): void {
    if (!name) {
      sendBadRequest(res, 'Required: object name.');
      return;
    }
    const stored = this.store.put(bucket, name, data, attributes);
    if (!stored) {
      sendNotFound(res, 'The specified bucket does not exist.');
      return;
    }
    this.stats.uploads[uploadType]++;
    this.stats.storedUploadBodyBytes.set(`${bucket}/${name}`, bodyBytes);
    sendJson(res, 200, objectResource(stored, this.baseUrl));
  }
}

/**
 * "Upload incomplete, send the rest": 308 with the received range. A client that sent
 * `X-GUploader-No-308: yes` (the Go client does, since Go's HTTP client treats 308 as a
 * redirect) gets 200 with `X-HTTP-Status-Code-Override: 308` instead.
 */
export function sendResumeIncomplete(req: IncomingMessage, res: ServerResponse, received: number): void {
  const headers: Record<string, string> = { 'content-length': '0' };
  if (received > 0) headers.range = `bytes=0-${received - 1}`;
  const no308 = req.headers['x-guploader-no-308']?.toString().toLowerCase() === 'yes';
  if (no308) headers['x-http-status-code-override'] = '308';
  res.writeHead(no308 ? 200 : 308, headers);
  res.end();
}

export function parseContentRange(header: string): ContentRange | null {
  const match = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(header.trim());
  if (!match) return null;
  const [, first, last, total] = match;
  return {
    first: first === undefined ? undefined : Number(first),
    last: last === undefined ? undefined : Number(last),
    total: total === undefined || total === '*' ? undefined : Number(total),
  };
}
