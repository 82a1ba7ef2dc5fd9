/**
 * The Drive v3 API of the stand-in: every request is classified by the route table below,
 * counted, checked for a valid access token (Google's 401 otherwise), offered to the fault
 * plan, and handled. Routes (paths as on www.googleapis.com):
 *
 *   GET    /drive/v3/about                      about.get (fields required, as on Drive)
 *   GET    /drive/v3/files                      files.list (q, pageSize, pageToken, fields)
 *   POST   /drive/v3/files                      files.create (metadata only: folders, empty files)
 *   DELETE /drive/v3/files/trash                files.emptyTrash
 *   GET    /drive/v3/files/{id}                 files.get, or files.download with alt=media (Range)
 *   PATCH  /drive/v3/files/{id}                 files.update (rename, modifiedTime, trash, move)
 *   DELETE /drive/v3/files/{id}                 files.delete (skips the trash)
 *   POST   /drive/v3/files/{id}/copy            files.copy
 *   POST   /upload/drive/v3/files               uploads of new files (see uploads.ts)
 *   PATCH  /upload/drive/v3/files/{id}          uploads of new content for a file
 *   POST|PUT /upload/drive/v3/files[/{id}]?upload_id=…   resumable chunks
 *
 * Query parameters outside the known set are refused by name: a parameter that would change
 * the answer on the real API (orderBy, driveId, corpora=drive, …) must not be silently ignored.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fingerprint } from '../../../worker/src/log/fingerprint.js';
import { parseRange } from '../gcs/downloads.js';
import type { BandwidthPacer } from '../gcs/throttle.js';
import { bearerToken, delay, readBody, sendJson } from '../http-util.js';
import { googleUnauthorized } from '../oauth/unauthorized.js';
import type { BearerCheck } from './access.js';
import { DriveError, driveErrors, sendDriveError } from './drive-errors.js';
import { FOLDER_MIME_TYPE, DEFAULT_MIME_TYPE, type DriveFile, type DriveStore } from './drive-store.js';
import type { FaultPlan } from './faults.js';
import { applyFields, parseFields, type FieldMask } from './fields.js';
import { parseFileMetadata, WRITABLE } from './file-metadata.js';
import { compileQuery, type FileFilter } from './query.js';
import { ABOUT_SCHEMA, fileListMask, fileMask, fileResource, userResource, type DriveUser } from './resources.js';
import { increment, type DriveCall, type DriveRequestRecord, type GdriveStandinStats } from './stats.js';
import { DriveUploads, type UploadRequest } from './uploads.js';

const MAX_METADATA_BYTES = 1024 * 1024;
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
/** What the stand-in reports as the user's quota (15 GiB, the free tier). */
const QUOTA_LIMIT = 15 * 1024 * 1024 * 1024;

/**
 * Query parameters the stand-in takes: honoured (q, fields, pageSize, …) or without effect on a
 * single user's My Drive (supportsAllDrives, includeItemsFromAllDrives, prettyPrint, …).
 * Values that would change the answer are checked in `checkParameters`.
 */
const KNOWN_PARAMETERS = new Set([
  'alt',
  'fields',
  'prettyPrint',
  'key',
  'quotaUser',
  'q',
  'pageSize',
  'pageToken',
  'spaces',
  'corpora',
  'supportsAllDrives',
  'supportsTeamDrives',
  'includeItemsFromAllDrives',
  'includeTeamDriveItems',
  'acknowledgeAbuse',
  'keepRevisionForever',
  'setModifiedDate',
  'useContentAsIndexableText',
  'ignoreDefaultVisibility',
  'addParents',
  'removeParents',
  'uploadType',
  'upload_id',
]);

export interface DriveApiOptions {
  bearer: BearerCheck;
  owner: DriveUser;
  /** Delay before each request is handled (a simulated network round trip). */
  requestLatencyMs: number;
}

/** A request once routed. */
interface ApiRequest extends UploadRequest {
  call: DriveCall;
}

interface Route {
  method: string;
  /** Path segments; `{id}` matches one (decoded) file id. */
  path: readonly string[];
  call: DriveCall | ((url: URL) => DriveCall);
}

/** Which step of an upload a request to `/upload/drive/v3/files[/{id}]` is. */
function uploadCall(url: URL): DriveCall {
  if (url.searchParams.has('upload_id')) return 'upload.resumableChunk';
  switch (url.searchParams.get('uploadType')) {
    case 'multipart':
      return 'upload.multipart';
    case 'media':
      return 'upload.media';
    case 'resumable':
      return 'upload.resumableStart';
    default:
      return 'unknown';
  }
}

const FILES = ['drive', 'v3', 'files'];
const FILE = [...FILES, '{id}'];
const UPLOADS = ['upload', ...FILES];
const UPLOAD = [...UPLOADS, '{id}'];

/** Requests → Drive methods; `#dispatch` maps each method to its handler. */
const ROUTES: readonly Route[] = [
  { method: 'GET', path: ['drive', 'v3', 'about'], call: 'about.get' },
  { method: 'GET', path: FILES, call: 'files.list' },
  { method: 'POST', path: FILES, call: 'files.create' },
  { method: 'DELETE', path: [...FILES, 'trash'], call: 'files.emptyTrash' },
  { method: 'GET', path: FILE, call: (url) => (url.searchParams.get('alt') === 'media' ? 'files.download' : 'files.get') },
  { method: 'PATCH', path: FILE, call: 'files.update' },
  { method: 'DELETE', path: FILE, call: 'files.delete' },
  { method: 'POST', path: [...FILE, 'copy'], call: 'files.copy' },
  ...['POST', 'PUT'].flatMap((method) => [UPLOADS, UPLOAD].map((path) => ({ method, path, call: uploadCall }))),
  { method: 'PATCH', path: UPLOAD, call: uploadCall },
];

export class DriveApi {
  readonly #uploads: DriveUploads;

  constructor(
    private readonly store: DriveStore,
    pacer: BandwidthPacer,
    private readonly faults: FaultPlan,
    private readonly stats: GdriveStandinStats,
    private readonly options: DriveApiOptions,
  ) {
    this.#uploads = new DriveUploads(store, pacer, stats, (file, mask) => this.#resource(file, mask));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://www.googleapis.com');
    const method = req.method ?? 'GET';
    const routed = route(method, url);
    const call = routed?.call ?? 'unknown';
    const accessToken = bearerToken(req);
    const state = this.options.bearer.check(req, call);
    const userAgent = req.headers['user-agent'] ?? '';
    const request: ApiRequest = { req, res, url, call, fileId: routed?.fileId };
    this.#account(request, method, accessToken, state, userAgent);
    if (this.options.requestLatencyMs > 0) await delay(this.options.requestLatencyMs);
    try {
      if (state !== 'valid') {
        this.stats.unauthorized++;
        increment(this.stats.unauthorizedByCall, `${call} ${userAgent}`);
        req.resume();
        googleUnauthorized(res, state);
        return;
      }
      if (!routed) throw new DriveError(404, 'notFound', `The Drive stand-in has no route for ${method} ${url.pathname}.`);
      checkParameters(url, call);
      const fault = this.faults.take(call);
      if (fault) this.stats.faultsInjected++;
      if (fault === 'reset') {
        // The whole request arrives, the answer never leaves: the worst instant for a chunk.
        req.resume();
        req.once('end', () => req.socket.destroy());
        return;
      }
      if (fault) throw fault;
      await this.#dispatch(request);
    } catch (err) {
      if (!(err instanceof DriveError) || res.headersSent) throw err;
      req.resume();
      sendDriveError(res, err);
    }
  }

  #dispatch(request: ApiRequest): Promise<void> {
    switch (request.call) {
      case 'about.get':
        return this.#about(request);
      case 'files.list':
        return this.#list(request);
      case 'files.get':
        return this.#get(request);
      case 'files.download':
        return this.#download(request);
      case 'files.create':
        return this.#create(request);
      case 'files.update':
        return this.#update(request);
      case 'files.copy':
        return this.#copy(request);
      case 'files.delete':
        return this.#delete(request);
      case 'files.emptyTrash':
        return this.#emptyTrash(request);
      case 'upload.multipart':
      case 'upload.media':
      case 'upload.resumableStart':
      case 'upload.resumableChunk':
      case 'unknown': // only the upload routes classify a request as `unknown` (no or another uploadType)
        return this.#upload(request);
    }
  }

  async #about(request: ApiRequest): Promise<void> {
    const fields = request.url.searchParams.get('fields');
    if (fields === null) throw driveErrors.invalidParameter('fields', "The 'fields' parameter is required for this method.");
    const mask = parseFields(fields, ABOUT_SCHEMA);
    let usage = 0;
    let inTrash = 0;
    for (const file of this.store.all()) {
      const size = file.content?.data.length ?? 0;
      usage += size;
      if (this.store.isTrashed(file)) inTrash += size;
    }
    const about = {
      kind: 'drive#about',
      user: userResource(this.options.owner),
      storageQuota: { limit: String(QUOTA_LIMIT), usage: String(usage), usageInDrive: String(usage), usageInDriveTrash: String(inTrash) },
      importFormats: {},
      exportFormats: {},
      maxUploadSize: '5242880000000',
      canCreateDrives: false,
    };
    sendJson(request.res, 200, applyFields(about, mask));
  }

  async #list(request: ApiRequest): Promise<void> {
    const { url, res } = request;
    const mask = fileListMask(url);
    const q = url.searchParams.get('q');
    const filter: FileFilter = q === null ? () => true : compileQuery(q);
    const page = this.store.list((file) => filter(file, this.store), pageSize(url), url.searchParams.get('pageToken') ?? undefined);
    const body = {
      kind: 'drive#fileList',
      incompleteSearch: false,
      ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }),
      files: page.files.map((file) => fileResource(file, this.store, this.options.owner)),
    };
    sendJson(res, 200, applyFields(body, mask));
  }

  async #get(request: ApiRequest): Promise<void> {
    const mask = fileMask(request.url);
    sendJson(request.res, 200, this.#resource(this.store.get(fileIdOf(request)), mask));
  }

  async #download(request: ApiRequest): Promise<void> {
    const { req, res } = request;
    const file = this.store.get(fileIdOf(request));
    if (!file.content) throw driveErrors.notDownloadable();
    const { data, md5Checksum } = file.content;
    const headers: Record<string, string> = {
      'content-type': file.mimeType,
      'accept-ranges': 'bytes',
      etag: `"${md5Checksum}"`,
      'last-modified': file.modifiedTime.toUTCString(),
    };
    const range = parseRange(req.headers.range, data.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${data.length}`, 'content-length': '0' });
      res.end();
      return;
    }
    const body = range ? data.subarray(range.first, range.last + 1) : data;
    if (range) headers['content-range'] = `bytes ${range.first}-${range.last}/${data.length}`;
    headers['content-length'] = String(body.length);
    res.writeHead(range ? 206 : 200, headers);
    res.end(body);
  }

  async #create(request: ApiRequest): Promise<void> {
    const mask = fileMask(request.url);
    const metadata = parseFileMetadata(await readBody(request.req, MAX_METADATA_BYTES), WRITABLE.create);
    const mimeType = metadata.mimeType ?? DEFAULT_MIME_TYPE;
    const file = this.store.create({
      name: metadata.name ?? 'Untitled',
      mimeType,
      parent: metadata.parent,
      description: metadata.description,
      modifiedTime: metadata.modifiedTime,
      // A metadata-only create of a file makes an empty one, as on Drive.
      data: mimeType === FOLDER_MIME_TYPE ? undefined : Buffer.alloc(0),
    });
    sendJson(request.res, 200, this.#resource(file, mask));
  }

  async #update(request: ApiRequest): Promise<void> {
    const { url } = request;
    const mask = fileMask(url);
    const metadata = parseFileMetadata(await readBody(request.req, MAX_METADATA_BYTES), WRITABLE.update);
    const file = this.store.update(fileIdOf(request), {
      ...metadata,
      addParent: url.searchParams.get('addParents') ?? undefined,
      removeParent: url.searchParams.get('removeParents') ?? undefined,
    });
    sendJson(request.res, 200, this.#resource(file, mask));
  }

  async #copy(request: ApiRequest): Promise<void> {
    const mask = fileMask(request.url);
    const metadata = parseFileMetadata(await readBody(request.req, MAX_METADATA_BYTES), WRITABLE.copy);
    const file = this.store.copy(fileIdOf(request), metadata);
    sendJson(request.res, 200, this.#resource(file, mask));
  }

  async #delete(request: ApiRequest): Promise<void> {
    this.store.delete(fileIdOf(request));
    sendNoContent(request);
  }

  async #emptyTrash(request: ApiRequest): Promise<void> {
    this.store.emptyTrash();
    sendNoContent(request);
  }

  async #upload(request: ApiRequest): Promise<void> {
    const { req, url, fileId } = request;
    const uploadId = url.searchParams.get('upload_id');
    // A new file is POSTed, new content for a file PATCHed; chunks go to the session URL by POST or PUT.
    const opens = (req.method === 'POST' && fileId === undefined) || (req.method === 'PATCH' && fileId !== undefined);
    const continues = uploadId !== null && (req.method === 'POST' || req.method === 'PUT');
    if (request.call === 'upload.multipart' && opens) return this.#uploads.single(request, 'multipart');
    if (request.call === 'upload.media' && opens) return this.#uploads.single(request, 'media');
    if (request.call === 'upload.resumableStart' && opens) return this.#uploads.startResumable(request);
    if (request.call === 'upload.resumableChunk' && continues) return this.#uploads.chunk(request, uploadId);
    throw driveErrors.unsupported(`${req.method ?? ''} ${url.pathname} with uploadType=${url.searchParams.get('uploadType') ?? ''}`);
  }

  #resource(file: DriveFile, mask: FieldMask): unknown {
    return applyFields(fileResource(file, this.store, this.options.owner), mask);
  }

  #account(request: ApiRequest, method: string, accessToken: string | undefined, state: DriveRequestRecord['tokenState'], userAgent: string): void {
    const at = Date.now();
    this.stats.apiRequests++;
    increment(this.stats.requestsByCall, request.call);
    const key = fingerprint(accessToken);
    const use = this.stats.requestsByAccessToken.get(key) ?? { requests: 0, unauthorized: 0, firstAt: at, lastAt: at };
    use.requests++;
    use.lastAt = at;
    if (state !== 'valid') use.unauthorized++;
    this.stats.requestsByAccessToken.set(key, use);
    const record: DriveRequestRecord = { at, call: request.call, method, status: 0, accessTokenFingerprint: key, tokenState: state, userAgent };
    this.stats.requestLog.push(record);
    request.res.once('close', () => {
      record.status = request.res.headersSent ? request.res.statusCode : 0;
      if (request.uploadId !== undefined) record.uploadId = request.uploadId;
    });
  }
}

/** The route a request takes, with the file id its path names. */
function route(method: string, url: URL): { call: DriveCall; fileId: string | undefined } | undefined {
  let segments: string[];
  try {
    segments = url.pathname.split('/').slice(1).map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
  for (const candidate of ROUTES) {
    if (candidate.method !== method || candidate.path.length !== segments.length) continue;
    let fileId: string | undefined;
    const matches = candidate.path.every((part, i) => {
      if (part !== '{id}') return part === segments[i];
      fileId = segments[i];
      return fileId !== '';
    });
    if (matches) return { call: typeof candidate.call === 'string' ? candidate.call : candidate.call(url), fileId };
  }
  return undefined;
}

/** Refuses parameters the stand-in does not know, and values of known ones it cannot honour. */
function checkParameters(url: URL, call: DriveCall): void {
  for (const [name, value] of url.searchParams) {
    if (!KNOWN_PARAMETERS.has(name)) throw driveErrors.unsupported(`the query parameter '${name}'`);
    const refused =
      (name === 'alt' && value !== 'json' && !(value === 'media' && call === 'files.download')) ||
      (name === 'spaces' && value !== 'drive') ||
      (name === 'corpora' && value !== 'user');
    if (refused) throw driveErrors.unsupported(`${name}=${value}`);
  }
}

function pageSize(url: URL): number {
  const raw = url.searchParams.get('pageSize');
  if (raw === null) return DEFAULT_PAGE_SIZE;
  const size = Number(raw);
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_PAGE_SIZE) throw driveErrors.invalidParameter('pageSize', `Invalid value '${raw}'. Values must be within the range: [1, 1000]`);
  return size;
}

function fileIdOf(request: ApiRequest): string {
  if (request.fileId === undefined) throw new Error(`route for ${request.call} has no file id`);
  return request.fileId;
}

function sendNoContent(request: ApiRequest): void {
  request.req.resume();
  request.res.writeHead(204);
  request.res.end();
}
