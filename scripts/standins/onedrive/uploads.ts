/**
 * Uploads as rclone 1.60.1 makes them (research/rclone-providers-lab.md Q2): every non-empty
 * file through an upload session (`createUploadSession`, then `PUT <uploadUrl>` chunks with
 * `Content-Range: bytes a-b/total`), and empty files with a simple `PUT …:/content`.
 *
 * Chunk answers follow Graph: `202 {expirationDateTime, nextExpectedRanges}` until the last one,
 * then `201` (new file) or `200` (new version) with the driveItem. The last chunk must never be
 * answered 202: rclone 1.60.1 then dereferences a nil item and panics (lab Q2). A chunk that does
 * not start where the session stands gets `416` and rclone asks `GET <uploadUrl>` for
 * `nextExpectedRanges`; `DELETE <uploadUrl>` cancels.
 *
 * The upload URL is on `api.onedrive.com` (through the proxy) or this server (loopback). At
 * Microsoft it is pre-authenticated: the URL is the credential and the docs warn against
 * sending an Authorization header. rclone 1.60.1 sends its Bearer token anyway (lab Q4.2). The
 * stand-in therefore does not check it by default (`uploadUrlAuth: 'preauthenticated'`) but
 * counts chunks that carried a token no longer valid (`invalidTokenOnUploadUrl`), so a test
 * sees whether rclone's token switch ever lagged inside an open session; `'bearer'` makes such
 * chunks 401 instead, the strictest reading.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fingerprint } from '../../../worker/src/log/fingerprint.js';
import { bearerToken, readBody, sendJson } from '../http-util.js';
import type { BandwidthPacer } from '../gcs/throttle.js';
import type { ProviderOAuth } from '../oauth/provider-oauth.js';
import { increment } from '../oauth/stats.js';
import type { ConflictBehavior, DriveItem, DriveStore, FileSystemInfo } from './drive-store.js';
import { sendGraphError, sendInvalidRequest, sendItemNotFound, sendNameAlreadyExists } from './graph-errors.js';
import { itemResource } from './resources.js';
import type { OnedriveStandinStats } from './stats.js';

export type UploadUrlAuth = 'preauthenticated' | 'bearer';

/** Largest chunk or simple upload accepted (Graph: 60 MiB per fragment). */
const MAX_FRAGMENT_BYTES = 60 * 1024 * 1024;
const MAX_JSON_BYTES = 64 * 1024;
const SESSION_LIFETIME_MS = 15 * 60_000;

interface UploadSession {
  readonly id: string;
  readonly parentId: string;
  readonly name: string;
  readonly path: string;
  readonly fileSystemInfo: Partial<FileSystemInfo>;
  readonly conflict: ConflictBehavior;
  readonly chunks: Buffer[];
  received: number;
  total: number | undefined;
  readonly expiresAt: Date;
}

export interface UploadContext {
  /** Scheme + host for URLs handed to the client (`https://api.onedrive.com` through the proxy). */
  uploadOrigin: string;
  /** Scheme + host the client reached this request on (for download URLs in items). */
  requestOrigin: string;
}

export class Uploads {
  readonly #sessions = new Map<string, UploadSession>();

  constructor(
    private readonly store: DriveStore,
    private readonly pacer: BandwidthPacer,
    private readonly oauth: ProviderOAuth,
    private readonly stats: OnedriveStandinStats,
    private readonly uploadUrlAuth: UploadUrlAuth,
  ) {}

  /** `POST …/{parent}:/{name}:/createUploadSession`. */
  async createSession(req: IncomingMessage, res: ServerResponse, parent: DriveItem, name: string, context: UploadContext): Promise<void> {
    const body = parseJson(await readBody(req, MAX_JSON_BYTES));
    if (body === undefined) {
      sendInvalidRequest(res, 'Invalid request body.');
      return;
    }
    const item = isObject(body.item) ? body.item : {};
    const existing = this.store.child(parent, name);
    const conflict = conflictBehavior(item['@microsoft.graph.conflictBehavior']) ?? 'replace';
    if (existing && (existing.kind === 'folder' || conflict === 'fail')) {
      sendNameAlreadyExists(res);
      return;
    }
    const session: UploadSession = {
      id: randomBytes(18).toString('base64url'),
      parentId: parent.id,
      name,
      path: joinPath(this.store.path(parent), name),
      fileSystemInfo: fileSystemInfo(item.fileSystemInfo),
      conflict,
      chunks: [],
      received: 0,
      total: undefined,
      expiresAt: new Date(Date.now() + SESSION_LIFETIME_MS),
    };
    this.#sessions.set(session.id, session);
    increment(this.stats.uploadSessionsByPath, session.path);
    sendJson(res, 200, {
      uploadUrl: `${context.uploadOrigin}/rup/${session.id}`,
      expirationDateTime: session.expiresAt.toISOString(),
      nextExpectedRanges: ['0-'],
    });
  }

  /** Requests to an upload URL (`/rup/{session}`): PUT a chunk, GET the status, DELETE to cancel. */
  async session(req: IncomingMessage, res: ServerResponse, sessionId: string, context: UploadContext): Promise<void> {
    const call = req.method === 'PUT' ? 'uploadChunk' : req.method === 'DELETE' ? 'cancelUploadSession' : 'uploadSessionStatus';
    increment(this.stats.requestsByCall, call);
    if (this.uploadUrlAuth === 'bearer') {
      if (!this.oauth.authorize(req, res, call)) return;
    } else {
      const state = this.oauth.observe(req);
      if (state !== 'valid' && state !== 'missing') this.stats.invalidTokenOnUploadUrl++;
    }
    const session = this.#sessions.get(sessionId);
    if (!session) {
      req.resume();
      sendGraphError(res, 404, 'itemNotFound', 'The upload session was not found.');
      return;
    }
    switch (req.method) {
      case 'PUT': {
        const token = bearerToken(req);
        if (token !== undefined) {
          const tokens = this.stats.uploadTokensByPath.get(session.path) ?? new Set<string>();
          tokens.add(fingerprint(token));
          this.stats.uploadTokensByPath.set(session.path, tokens);
        }
        return this.#chunk(req, res, session, context);
      }
      case 'GET':
        sendJson(res, 200, this.#status(session));
        return;
      case 'DELETE':
        this.#sessions.delete(session.id);
        res.writeHead(204);
        res.end();
        return;
      default:
        req.resume();
        sendGraphError(res, 405, 'invalidRequest', 'Method not allowed.');
    }
  }

  /** `PUT …/{parent}:/{name}:/content`: a whole file in one request (rclone: empty files). */
  async simpleUpload(req: IncomingMessage, res: ServerResponse, parent: DriveItem, name: string, context: UploadContext): Promise<void> {
    const path = joinPath(this.store.path(parent), name);
    const data = await this.#receive(req, path, MAX_FRAGMENT_BYTES);
    const written = this.store.writeFile(parent, name, data, {});
    if (!written.ok) {
      sendNameAlreadyExists(res);
      return;
    }
    this.#completed(path, data.length);
    sendJson(res, written.created ? 201 : 200, itemResource(this.store, written.item, context.requestOrigin));
  }

  async #chunk(req: IncomingMessage, res: ServerResponse, session: UploadSession, context: UploadContext): Promise<void> {
    const range = parseContentRange(req.headers['content-range']);
    if (!range) {
      req.resume();
      sendInvalidRequest(res, 'The Content-Range header is missing or malformed.');
      return;
    }
    if (range.first !== session.received || (session.total !== undefined && range.total !== session.total) || range.last >= range.total) {
      req.resume();
      sendGraphError(res, 416, 'invalidRange', 'The uploaded fragment does not start at the next expected byte.', { 'content-type': 'application/json' });
      return;
    }
    const chunk = await this.#receive(req, session.path, MAX_FRAGMENT_BYTES);
    if (chunk.length !== range.last - range.first + 1) {
      sendInvalidRequest(res, 'The fragment length does not match the Content-Range header.');
      return;
    }
    session.total = range.total;
    session.chunks.push(chunk);
    session.received += chunk.length;
    if (session.received < session.total) {
      sendJson(res, 202, this.#status(session));
      return;
    }
    this.#sessions.delete(session.id);
    const parent = this.store.get(session.parentId);
    if (!parent) {
      sendItemNotFound(res);
      return;
    }
    const written = this.store.writeFile(parent, session.name, Buffer.concat(session.chunks), session.fileSystemInfo, session.conflict);
    if (!written.ok) {
      sendNameAlreadyExists(res);
      return;
    }
    this.#completed(session.path, session.received);
    sendJson(res, written.created ? 201 : 200, itemResource(this.store, written.item, context.requestOrigin));
  }

  #completed(path: string, size: number): void {
    increment(this.stats.completedUploadsByPath, path);
    if (!this.stats.firstUploadSizeByPath.has(path)) this.stats.firstUploadSizeByPath.set(path, size);
  }

  #status(session: UploadSession): Record<string, unknown> {
    return { expirationDateTime: session.expiresAt.toISOString(), nextExpectedRanges: [`${session.received}-`] };
  }

  /** Reads an upload body at the throttle's pace, counting every byte that arrives for `path`. */
  #receive(req: IncomingMessage, path: string, limit: number): Promise<Buffer> {
    return readBody(req, limit, async (bytes) => {
      this.stats.bytesReceivedByPath.set(path, (this.stats.bytesReceivedByPath.get(path) ?? 0) + bytes);
      await this.pacer.consume(bytes);
    });
  }
}

export function joinPath(folderPath: string, name: string): string {
  return folderPath === '/' ? `/${name}` : `${folderPath}/${name}`;
}

export function conflictBehavior(value: unknown): ConflictBehavior | undefined {
  return value === 'fail' || value === 'replace' || value === 'rename' ? value : undefined;
}

/** `fileSystemInfo` of a request body: only well-formed dates are taken. */
export function fileSystemInfo(value: unknown): Partial<FileSystemInfo> {
  const info: Partial<FileSystemInfo> = {};
  if (!isObject(value)) return info;
  for (const key of ['createdDateTime', 'lastModifiedDateTime'] as const) {
    const text = value[key];
    const date = typeof text === 'string' ? new Date(text) : undefined;
    if (date && !Number.isNaN(date.getTime())) info[key] = date;
  }
  return info;
}

export function parseJson(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseContentRange(header: string | undefined): { first: number; last: number; total: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header?.trim() ?? '');
  if (!match) return undefined;
  const [first, last, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return last >= first ? { first, last, total } : undefined;
}
