/**
 * The Microsoft Graph side of the OneDrive stand-in: every request that is not the token
 * endpoint. Graph calls (`/v1.0/…`) need a valid Bearer token (401 `InvalidAuthenticationToken`
 * otherwise, counted by call and user agent); upload URLs (`/rup/…`) and download URLs (`/dl/…`)
 * are pre-authenticated, as at Microsoft.
 *
 *   GET    /v1.0/me, /v1.0/me/drive, /v1.0/me/drives, /v1.0/drives/{d}
 *   GET    …/root | …/items/{id} [:/path[:]]                 item (404 itemNotFound)
 *   GET    …/children?$top=N[&$skiptoken=…]                  listing, paged with @odata.nextLink
 *   POST   …/children {name, folder, @…conflictBehavior}     mkdir (409 nameAlreadyExists)
 *   POST   …:/name:/createUploadSession                       upload session (see uploads.ts)
 *   PUT    …:/name:/content                                   simple upload
 *   GET    …/content                                          302 to the item's download URL
 *   PATCH  … {name?, parentReference?, fileSystemInfo?}      rename, move, set modification time
 *   DELETE …                                                  204 (folders recursively)
 *
 * Server-side copy (`/copy`, an async job at Graph) is not offered: rclone uses it only between
 * two paths of the same remote, which the worker's jobs never do; it is answered 501.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '../http-util.js';
import type { BandwidthPacer } from '../gcs/throttle.js';
import type { ProviderOAuth } from '../oauth/provider-oauth.js';
import { increment } from '../oauth/stats.js';
import type { DriveItem, DriveStore } from './drive-store.js';
import { sendGraphError, sendInvalidRequest, sendItemNotFound, sendNameAlreadyExists } from './graph-errors.js';
import { parseGraphPath, type GraphAddress } from './graph-path.js';
import { downloadUrl, driveResource, itemResource } from './resources.js';
import type { OnedriveStandinStats } from './stats.js';
import { conflictBehavior, fileSystemInfo, isObject, parseJson, Uploads, type UploadContext, type UploadUrlAuth } from './uploads.js';

const MAX_JSON_BYTES = 64 * 1024;
/** Graph's largest page for `$top`. */
const MAX_PAGE_SIZE = 1000;

export interface GraphApiOptions {
  /** The signed-in user (`me`). */
  user: { id: string; displayName: string; userPrincipalName: string };
  /** Largest listing page the stand-in returns whatever `$top` asks (forces paging in tests). */
  maxPageSize: number;
  uploadUrlAuth: UploadUrlAuth;
  /** This server's own loopback origin (`http://127.0.0.1:<port>`). */
  loopbackOrigin: string;
}

export class GraphApi {
  readonly #uploads: Uploads;

  constructor(
    private readonly store: DriveStore,
    private readonly oauth: ProviderOAuth,
    private readonly pacer: BandwidthPacer,
    private readonly stats: OnedriveStandinStats,
    private readonly options: GraphApiOptions,
  ) {
    this.#uploads = new Uploads(store, pacer, oauth, stats, options.uploadUrlAuth);
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const context = this.#context(req);
    const upload = /^\/rup\/([\w-]+)$/.exec(url.pathname);
    if (upload) return this.#uploads.session(req, res, upload[1]!, context);
    const download = /^\/dl\/([^/]+)\/([\w-]+)$/.exec(url.pathname);
    if (download) return this.#preauthenticatedDownload(req, res, decodeURIComponent(download[1]!), download[2]!);

    const address = parseGraphPath(url.pathname);
    const call = callName(req.method ?? 'GET', address);
    increment(this.stats.requestsByCall, call);
    if (!this.oauth.authorize(req, res, call)) return;
    if (!address) {
      req.resume();
      sendGraphError(res, 400, 'BadRequest', `Resource not found for the segment '${url.pathname.split('/').at(-1) ?? ''}'.`);
      return;
    }
    switch (address.kind) {
      case 'me':
        this.#getOnly(req, res, () => ({ ...this.options.user }));
        return;
      case 'drives':
        this.#getOnly(req, res, () => ({ value: [this.#drive()] }));
        return;
      case 'drive':
        if (address.driveId !== undefined && address.driveId.toLowerCase() !== this.store.driveId) {
          req.resume();
          sendGraphError(res, 404, 'itemNotFound', 'The requested drive was not found.');
          return;
        }
        this.#getOnly(req, res, () => this.#drive());
        return;
      case 'item':
        return this.#item(req, res, url, address, context);
    }
  }

  async #item(req: IncomingMessage, res: ServerResponse, url: URL, address: Extract<GraphAddress, { kind: 'item' }>, context: UploadContext): Promise<void> {
    if (address.driveId !== undefined && address.driveId.toLowerCase() !== this.store.driveId) {
      req.resume();
      sendItemNotFound(res);
      return;
    }
    // `items/root` is Graph's alias of the root.
    const base = 'root' in address.base || address.base.id === 'root' ? this.store.root : this.store.get(address.base.id);
    const method = req.method ?? 'GET';
    // Uploads name an item that need not exist yet: the path's last segment below its folder.
    if ((address.action === 'createUploadSession' || (address.action === 'content' && method === 'PUT')) && address.path.length > 0) {
      const parent = base && this.store.resolve(base, address.path.slice(0, -1));
      if (!parent || parent.kind !== 'folder') {
        req.resume();
        sendItemNotFound(res);
        return;
      }
      const name = address.path.at(-1)!;
      if (address.action === 'createUploadSession') return this.#uploads.createSession(req, res, parent, name, context);
      return this.#uploads.simpleUpload(req, res, parent, name, context);
    }
    const item = base && this.store.resolve(base, address.path);
    if (!item) {
      req.resume();
      sendItemNotFound(res);
      return;
    }
    switch (`${method} ${address.action}`) {
      case 'GET ':
        sendJson(res, 200, itemResource(this.store, item, context.requestOrigin));
        return;
      case 'GET children':
        this.#listChildren(res, url, item, context);
        return;
      case 'POST children':
        return this.#createFolder(req, res, item, context);
      case 'GET content':
        this.#redirectToDownload(res, item, context);
        return;
      case 'PATCH ':
        return this.#updateItem(req, res, item, context);
      case 'DELETE ':
        if (item === this.store.root) {
          sendGraphError(res, 403, 'accessDenied', 'The root of a drive cannot be deleted.');
          return;
        }
        this.store.delete(item);
        res.writeHead(204);
        res.end();
        return;
      case 'POST copy':
        req.resume();
        sendGraphError(res, 501, 'notSupported', 'Server-side copy is not offered by this stand-in.');
        return;
      default:
        req.resume();
        sendGraphError(res, 405, 'invalidRequest', `${method} is not supported on this resource.`);
    }
  }

  #listChildren(res: ServerResponse, url: URL, folder: DriveItem, context: UploadContext): void {
    if (folder.kind !== 'folder') {
      sendItemNotFound(res);
      return;
    }
    const top = Number(url.searchParams.get('$top') ?? MAX_PAGE_SIZE);
    if (!Number.isSafeInteger(top) || top < 1) {
      sendInvalidRequest(res, `Invalid $top value: ${url.searchParams.get('$top') ?? ''}`);
      return;
    }
    const pageSize = Math.min(top, this.options.maxPageSize, MAX_PAGE_SIZE);
    const offset = decodeSkipToken(url.searchParams.get('$skiptoken'));
    if (offset === undefined) {
      sendInvalidRequest(res, 'Invalid $skiptoken.');
      return;
    }
    const children = this.store.children(folder);
    const page = children.slice(offset, offset + pageSize);
    const body: Record<string, unknown> = { value: page.map((item) => itemResource(this.store, item, context.requestOrigin)) };
    if (offset + pageSize < children.length) {
      const next = new URL(`${context.requestOrigin}${url.pathname}`);
      next.searchParams.set('$top', String(pageSize));
      next.searchParams.set('$skiptoken', encodeSkipToken(offset + pageSize));
      body['@odata.nextLink'] = next.toString();
    }
    sendJson(res, 200, body);
  }

  async #createFolder(req: IncomingMessage, res: ServerResponse, parent: DriveItem, context: UploadContext): Promise<void> {
    const body = parseJson(await readBody(req, MAX_JSON_BYTES));
    if (!body || typeof body.name !== 'string' || body.name === '' || !isObject(body.folder)) {
      sendInvalidRequest(res, 'A folder needs a name and a folder facet.');
      return;
    }
    // rclone 1.60.1 sends `@name.conflictBehavior`; Graph documents `@microsoft.graph.conflictBehavior`.
    const conflict = conflictBehavior(body['@microsoft.graph.conflictBehavior'] ?? body['@name.conflictBehavior']) ?? 'fail';
    const created = this.store.createFolder(parent, body.name, conflict);
    if (!created.ok) {
      if (created.error === 'nameAlreadyExists') sendNameAlreadyExists(res);
      else sendInvalidRequest(res, 'The parent is not a folder.');
      return;
    }
    sendJson(res, 201, itemResource(this.store, created.item, context.requestOrigin));
  }

  async #updateItem(req: IncomingMessage, res: ServerResponse, item: DriveItem, context: UploadContext): Promise<void> {
    const body = parseJson(await readBody(req, MAX_JSON_BYTES));
    if (!body) {
      sendInvalidRequest(res, 'Invalid request body.');
      return;
    }
    let parent: DriveItem | undefined;
    if (isObject(body.parentReference) && typeof body.parentReference.id === 'string') {
      parent = this.store.get(body.parentReference.id);
      if (!parent) {
        sendItemNotFound(res);
        return;
      }
    }
    const updated = this.store.update(item, {
      ...(typeof body.name === 'string' && body.name !== '' ? { name: body.name } : {}),
      ...(parent ? { parent } : {}),
      ...(isObject(body.fileSystemInfo) ? { fileSystemInfo: fileSystemInfo(body.fileSystemInfo) } : {}),
    });
    if (!updated.ok) {
      if (updated.error === 'nameAlreadyExists') sendNameAlreadyExists(res);
      else sendInvalidRequest(res, 'An item cannot be moved there.');
      return;
    }
    sendJson(res, 200, itemResource(this.store, updated.item, context.requestOrigin));
  }

  /** Graph answers `…/content` with a redirect to a pre-authenticated URL on another host. */
  #redirectToDownload(res: ServerResponse, item: DriveItem, context: UploadContext): void {
    if (item.kind !== 'file') {
      sendItemNotFound(res);
      return;
    }
    res.writeHead(302, { location: downloadUrl(context.uploadOrigin, item), 'content-length': '0' });
    res.end();
  }

  async #preauthenticatedDownload(req: IncomingMessage, res: ServerResponse, itemId: string, key: string): Promise<void> {
    increment(this.stats.requestsByCall, 'download');
    req.resume();
    const item = this.store.get(itemId);
    if (!item || item.kind !== 'file' || item.downloadKey !== key || (req.method !== 'GET' && req.method !== 'HEAD')) {
      sendGraphError(res, 404, 'itemNotFound', 'Item does not exist');
      return;
    }
    const range = byteRange(req.headers.range, item.data.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${item.data.length}` });
      res.end();
      return;
    }
    const body = range ? item.data.subarray(range.first, range.last + 1) : item.data;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(body.length), 'accept-ranges': 'bytes' };
    if (range) headers['content-range'] = `bytes ${range.first}-${range.last}/${item.data.length}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') res.end();
    else await this.pacer.writeBody(res, body);
  }

  #getOnly(req: IncomingMessage, res: ServerResponse, resource: () => Record<string, unknown>): void {
    req.resume();
    if (req.method !== 'GET') {
      sendGraphError(res, 405, 'invalidRequest', `${req.method ?? ''} is not supported on this resource.`);
      return;
    }
    sendJson(res, 200, resource());
  }

  #drive(): Record<string, unknown> {
    return driveResource(this.store, this.options.user);
  }

  /**
   * Where the client reached us: through the proxy (`Host: graph.microsoft.com`) links go to the
   * real hosts over https, so they come back through the proxy; on loopback they stay here.
   */
  #context(req: IncomingMessage): UploadContext {
    const host = req.headers.host ?? '';
    if (host === '' || /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i.test(host)) {
      return { uploadOrigin: this.options.loopbackOrigin, requestOrigin: this.options.loopbackOrigin };
    }
    return { uploadOrigin: 'https://api.onedrive.com', requestOrigin: `https://${host}` };
  }
}

/** The name a Graph request is counted under (401s by call, requests by call). */
function callName(method: string, address: GraphAddress | undefined): string {
  if (!address) return 'unknown';
  switch (address.kind) {
    case 'me':
      return 'me';
    case 'drives':
      return 'me/drives';
    case 'drive':
      return address.driveId === undefined ? 'me/drive' : 'drive';
  }
  const byAction: Record<string, string> = {
    'GET ': 'getItem',
    'PATCH ': 'updateItem',
    'DELETE ': 'deleteItem',
    'GET children': 'listChildren',
    'POST children': 'createFolder',
    'POST createUploadSession': 'createUploadSession',
    'PUT content': 'putContent',
    'GET content': 'download',
    'POST copy': 'copy',
  };
  return byAction[`${method} ${address.action}`] ?? `${method} ${address.action}`;
}

function encodeSkipToken(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString('base64url');
}

function decodeSkipToken(token: string | null): number | undefined {
  if (token === null) return 0;
  const match = /^offset:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}

function byteRange(header: string | undefined, size: number): { first: number; last: number } | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let first: number;
  let last: number;
  if (match[1] === '') {
    first = Math.max(0, size - Number(match[2]));
    last = size - 1;
  } else {
    first = Number(match[1]);
    last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  return first > last || first >= size ? 'unsatisfiable' : { first, last };
}
