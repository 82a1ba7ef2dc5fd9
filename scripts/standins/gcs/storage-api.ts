/**
 * The storage side of the stand-in: every request that is not the token endpoint. It counts
 * the request, checks the bearer token strictly (401 with Google's body otherwise; counted
 * per call as `<method> storage|upload|download`), and routes:
 *
 *   /storage/v1/b                                   GET list buckets, POST insert bucket
 *   /storage/v1/b/{b}                               GET, DELETE bucket
 *   /storage/v1/b/{b}/o                             GET list objects (prefix, delimiter, pages)
 *   /storage/v1/b/{b}/o/{o}                         GET metadata or alt=media, PATCH, PUT, DELETE
 *   /storage/v1/b/{b}/o/{o}/(copyTo|rewriteTo)/b/{b}/o/{o}   POST server-side copy
 *   /upload/storage/v1/b/{b}/o                      uploads (see uploads.ts)
 *   /download/storage/v1/b/{b}/o/{o}                media download (the `mediaLink`)
 *
 * Path segments arrive percent-encoded (object names with `/` come as `%2F`), so the path is
 * split before decoding.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { delay, readBody, sendJson } from '../http-util.js';
import type { ProviderOAuth } from '../oauth/provider-oauth.js';
import { sendMedia } from './downloads.js';
import { sendBadRequest, sendGoogleError, sendNotFound } from './google-errors.js';
import type { ObjectStore, StoredObject } from './objects.js';
import { attributePatch, parseJsonObject, type JsonObject } from './request-json.js';
import { bucketResource, objectResource } from './resources.js';
import type { GcsStandinStats } from './stats.js';
import type { BandwidthPacer } from './throttle.js';
import { ObjectUploads } from './uploads.js';

const MAX_JSON_BYTES = 1024 * 1024;
const MAX_LIST_RESULTS = 1000;

export interface StorageApiOptions {
  baseUrl: string;
  /** Delay added before each request is handled (simulated network round trip). */
  requestLatencyMs: number;
}

export class StorageApi {
  readonly #uploads: ObjectUploads;

  constructor(
    private readonly store: ObjectStore,
    private readonly oauth: ProviderOAuth,
    private readonly pacer: BandwidthPacer,
    private readonly stats: GcsStandinStats,
    private readonly options: StorageApiOptions,
  ) {
    this.#uploads = new ObjectUploads(store, pacer, stats, options.baseUrl);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.options.requestLatencyMs > 0) await delay(this.options.requestLatencyMs);
    const url = new URL(req.url ?? '/', this.options.baseUrl);
    if (!this.oauth.authorize(req, res, `${req.method ?? ''} ${url.pathname.split('/')[1] ?? ''}`)) return;
    const segments = decodePath(url.pathname);
    if (!segments) {
      req.resume();
      sendBadRequest(res, 'Malformed percent-encoding in the request path.');
      return;
    }
    if (hasPrefix(segments, ['storage', 'v1', 'b'])) return this.#storage(req, res, url, segments.slice(3));
    if (hasPrefix(segments, ['upload', 'storage', 'v1', 'b'])) {
      const [bucket, o, ...rest] = segments.slice(4);
      if (bucket !== undefined && o === 'o' && rest.length === 0) return this.#uploads.handle(req, res, url, bucket);
    }
    if (hasPrefix(segments, ['download', 'storage', 'v1', 'b']) && req.method === 'GET') {
      const [bucket, o, object, ...rest] = segments.slice(4);
      if (bucket !== undefined && o === 'o' && object !== undefined && rest.length === 0) return this.#download(req, res, url, bucket, object);
    }
    req.resume();
    sendNotFound(res, 'Not Found');
  }

  /** Routes below `/storage/v1/b`. */
  async #storage(req: IncomingMessage, res: ServerResponse, url: URL, path: string[]): Promise<void> {
    const method = req.method ?? 'GET';
    const [bucket, o, object, copyKind, b, destinationBucket, o2, destinationObject, ...rest] = path;
    if (bucket === undefined) {
      if (method === 'GET') this.#listBuckets(res);
      else if (method === 'POST') await this.#insertBucket(req, res);
      else sendMethodNotAllowed(req, res);
    } else if (o === undefined) {
      if (method === 'GET') this.#getBucket(res, bucket);
      else if (method === 'DELETE') this.#deleteBucket(res, bucket);
      else sendMethodNotAllowed(req, res);
    } else if (o === 'o' && object === undefined) {
      if (method === 'GET') this.#listObjects(res, url, bucket);
      else sendMethodNotAllowed(req, res);
    } else if (o === 'o' && object !== undefined && copyKind === undefined) {
      if (method === 'GET' && url.searchParams.get('alt') === 'media') await this.#download(req, res, url, bucket, object);
      else if (method === 'GET') this.#getObject(res, url, bucket, object);
      else if (method === 'PATCH' || method === 'PUT') await this.#updateObject(req, res, bucket, object, method === 'PUT');
      else if (method === 'DELETE') this.#deleteObject(res, bucket, object);
      else sendMethodNotAllowed(req, res);
    } else if (
      o === 'o' &&
      object !== undefined &&
      (copyKind === 'copyTo' || copyKind === 'rewriteTo') &&
      b === 'b' &&
      destinationBucket !== undefined &&
      o2 === 'o' &&
      destinationObject !== undefined &&
      rest.length === 0
    ) {
      if (method === 'POST') await this.#copyObject(req, res, { bucket, object }, { bucket: destinationBucket, object: destinationObject }, copyKind);
      else sendMethodNotAllowed(req, res);
    } else {
      req.resume();
      sendNotFound(res, 'Not Found');
    }
  }

  #listBuckets(res: ServerResponse): void {
    const items = this.store.buckets().map((bucket) => bucketResource(bucket, this.options.baseUrl));
    sendJson(res, 200, { kind: 'storage#buckets', ...(items.length > 0 ? { items } : {}) });
  }

  async #insertBucket(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.#readJson(req, res);
    if (!body) return;
    if (typeof body.name !== 'string' || body.name === '') {
      sendBadRequest(res, 'Required: bucket name.');
      return;
    }
    if (!this.store.createBucket(body.name)) {
      sendGoogleError(res, 409, 'Your previous request to create the named bucket succeeded and you already own it.', { reason: 'conflict' });
      return;
    }
    sendJson(res, 200, bucketResource(this.store.bucket(body.name)!, this.options.baseUrl));
  }

  #getBucket(res: ServerResponse, name: string): void {
    const bucket = this.store.bucket(name);
    if (!bucket) sendNotFound(res, 'The specified bucket does not exist.');
    else sendJson(res, 200, bucketResource(bucket, this.options.baseUrl));
  }

  #deleteBucket(res: ServerResponse, name: string): void {
    switch (this.store.deleteBucket(name)) {
      case 'notFound':
        sendNotFound(res, 'The specified bucket does not exist.');
        return;
      case 'notEmpty':
        sendGoogleError(res, 409, 'The bucket you tried to delete is not empty.', { reason: 'conflict' });
        return;
      case 'deleted':
        sendNoContent(res);
    }
  }

  #listObjects(res: ServerResponse, url: URL, bucket: string): void {
    const maxResultsParam = url.searchParams.get('maxResults');
    const maxResults = maxResultsParam === null ? MAX_LIST_RESULTS : Number(maxResultsParam);
    if (!Number.isSafeInteger(maxResults) || maxResults < 1) {
      sendBadRequest(res, `Invalid value for maxResults: ${maxResultsParam ?? ''}`);
      return;
    }
    const page = this.store.list(bucket, {
      prefix: url.searchParams.get('prefix') ?? '',
      delimiter: url.searchParams.get('delimiter') || undefined,
      maxResults: Math.min(maxResults, MAX_LIST_RESULTS),
      pageToken: url.searchParams.get('pageToken') || undefined,
    });
    if (page === 'noSuchBucket') {
      sendNotFound(res, 'The specified bucket does not exist.');
      return;
    }
    if (page === 'invalidPageToken') {
      sendBadRequest(res, 'Invalid pageToken.');
      return;
    }
    sendJson(res, 200, {
      kind: 'storage#objects',
      ...(page.prefixes.length > 0 ? { prefixes: page.prefixes } : {}),
      ...(page.items.length > 0 ? { items: page.items.map((item) => objectResource(item, this.options.baseUrl)) } : {}),
      ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }),
    });
  }

  #getObject(res: ServerResponse, url: URL, bucket: string, name: string): void {
    const object = this.#lookup(res, url, bucket, name);
    if (object) sendJson(res, 200, objectResource(object, this.options.baseUrl));
  }

  async #download(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string, name: string): Promise<void> {
    const object = this.#lookup(res, url, bucket, name);
    if (object) await sendMedia(req, res, object, this.pacer);
  }

  async #updateObject(req: IncomingMessage, res: ServerResponse, bucket: string, name: string, replace: boolean): Promise<void> {
    const body = await this.#readJson(req, res);
    if (!body) return;
    const updated = this.store.updateAttributes(bucket, name, attributePatch(body), replace);
    if (!updated) sendNotFound(res, `No such object: ${bucket}/${name}`);
    else sendJson(res, 200, objectResource(updated, this.options.baseUrl));
  }

  #deleteObject(res: ServerResponse, bucket: string, name: string): void {
    if (this.store.delete(bucket, name)) sendNoContent(res);
    else sendNotFound(res, `No such object: ${bucket}/${name}`);
  }

  /**
   * Server-side copy. The body, when it carries `metadata` or `contentType`, overrides the
   * source's (rclone copies an object onto itself to change its modification time).
   */
  async #copyObject(
    req: IncomingMessage,
    res: ServerResponse,
    source: { bucket: string; object: string },
    destination: { bucket: string; object: string },
    kind: 'copyTo' | 'rewriteTo',
  ): Promise<void> {
    const body = await this.#readJson(req, res);
    if (!body) return;
    const original = this.store.get(source.bucket, source.object);
    if (!original) {
      sendNotFound(res, `No such object: ${source.bucket}/${source.object}`);
      return;
    }
    const override = attributePatch(body);
    const metadata: Record<string, string> = {};
    for (const [key, value] of Object.entries(override.metadata ?? original.metadata)) if (value !== null) metadata[key] = value;
    const copy = this.store.put(destination.bucket, destination.object, original.data, {
      contentType: override.contentType ?? original.contentType,
      metadata,
    });
    if (!copy) {
      sendNotFound(res, 'The specified bucket does not exist.');
      return;
    }
    const resource = objectResource(copy, this.options.baseUrl);
    if (kind === 'copyTo') {
      sendJson(res, 200, resource);
      return;
    }
    const size = String(copy.data.length);
    sendJson(res, 200, { kind: 'storage#rewriteResponse', totalBytesRewritten: size, objectSize: size, done: true, resource });
  }

  /** The live object, honouring a `generation` parameter; answers 404 itself when absent. */
  #lookup(res: ServerResponse, url: URL, bucket: string, name: string): StoredObject | undefined {
    const object = this.store.get(bucket, name);
    const generation = url.searchParams.get('generation');
    if (!object || (generation !== null && generation !== object.generation)) {
      sendNotFound(res, this.store.bucket(bucket) ? `No such object: ${bucket}/${name}` : 'The specified bucket does not exist.');
      return undefined;
    }
    return object;
  }

  /** Reads a JSON object body; answers 400 itself and returns undefined when it is not one. */
  async #readJson(req: IncomingMessage, res: ServerResponse): Promise<JsonObject | undefined> {
    const body = parseJsonObject(await readBody(req, MAX_JSON_BYTES));
    if (!body) sendBadRequest(res, 'Parse Error');
    return body;
  }
}

function sendMethodNotAllowed(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  sendGoogleError(res, 405, `Method ${req.method ?? ''} is not supported here.`, { reason: 'methodNotAllowed' });
}

function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

function hasPrefix(segments: readonly string[], prefix: readonly string[]): boolean {
  return prefix.every((segment, index) => segments[index] === segment);
}

/** Splits a raw path into decoded segments; undefined when a segment is badly encoded. */
function decodePath(pathname: string): string[] | undefined {
  try {
    return pathname.split('/').slice(1).map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}
