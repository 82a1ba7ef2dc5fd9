/**
 * The stand-in's storage: buckets of immutable object versions kept in memory, with the
 * listing semantics of the GCS JSON API (lexicographic order, prefix, delimiter, page tokens).
 */
import { createHash } from 'node:crypto';
import { crc32cBase64 } from './crc32c.js';

/** One stored object version. A write replaces the whole record (new generation). */
export interface StoredObject {
  readonly bucket: string;
  readonly name: string;
  readonly data: Buffer;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly generation: string;
  readonly metageneration: number;
  readonly timeCreated: Date;
  readonly updated: Date;
  /** base64 of the MD5 digest, as GCS reports it. */
  readonly md5Hash: string;
  readonly crc32c: string;
}

export interface StoredBucket {
  readonly name: string;
  readonly timeCreated: Date;
}

/** Writable object attributes (the subset of the object resource the stand-in honours). */
export interface ObjectAttributes {
  contentType?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

/** A metadata change as a PATCH body expresses it: `null` removes a key. */
export interface AttributePatch {
  contentType?: string | undefined;
  metadata?: Record<string, string | null> | null | undefined;
}

export interface ListQuery {
  prefix: string;
  delimiter: string | undefined;
  maxResults: number;
  pageToken: string | undefined;
}

export interface ListPage {
  items: StoredObject[];
  prefixes: string[];
  nextPageToken: string | undefined;
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Where a listing resumes: after an object name, or after every name under a prefix. */
interface ListPosition {
  key: string;
  isPrefix: boolean;
}

export class ObjectStore {
  readonly #buckets = new Map<string, { bucket: StoredBucket; objects: Map<string, StoredObject> }>();
  #lastGeneration = 0;

  /** Creates a bucket; false when it already exists. */
  createBucket(name: string): boolean {
    if (this.#buckets.has(name)) return false;
    this.#buckets.set(name, { bucket: { name, timeCreated: new Date() }, objects: new Map() });
    return true;
  }

  bucket(name: string): StoredBucket | undefined {
    return this.#buckets.get(name)?.bucket;
  }

  buckets(): StoredBucket[] {
    return [...this.#buckets.values()].map((entry) => entry.bucket).sort((a, b) => compareNames(a.name, b.name));
  }

  deleteBucket(name: string): 'deleted' | 'notFound' | 'notEmpty' {
    const entry = this.#buckets.get(name);
    if (!entry) return 'notFound';
    if (entry.objects.size > 0) return 'notEmpty';
    this.#buckets.delete(name);
    return 'deleted';
  }

  get(bucket: string, name: string): StoredObject | undefined {
    return this.#buckets.get(bucket)?.objects.get(name);
  }

  /** The live objects of a bucket (empty when the bucket does not exist). */
  objects(bucket: string): ReadonlyMap<string, StoredObject> {
    return this.#buckets.get(bucket)?.objects ?? new Map<string, StoredObject>();
  }

  /** Stores a new version of an object; undefined when the bucket does not exist. */
  put(bucket: string, name: string, data: Buffer, attributes: ObjectAttributes = {}): StoredObject | undefined {
    const objects = this.#buckets.get(bucket)?.objects;
    if (!objects) return undefined;
    const now = new Date();
    const stored: StoredObject = {
      bucket,
      name,
      data,
      contentType: attributes.contentType ?? DEFAULT_CONTENT_TYPE,
      metadata: { ...attributes.metadata },
      generation: this.#nextGeneration(),
      metageneration: 1,
      timeCreated: now,
      updated: now,
      md5Hash: createHash('md5').update(data).digest('base64'),
      crc32c: crc32cBase64(data),
    };
    objects.set(name, stored);
    return stored;
  }

  /** Applies a metadata patch (PATCH) or a full replacement (`replace`, for PUT) to the live version. */
  updateAttributes(bucket: string, name: string, patch: AttributePatch, replace: boolean): StoredObject | undefined {
    const objects = this.#buckets.get(bucket)?.objects;
    const current = objects?.get(name);
    if (!objects || !current) return undefined;
    const metadata: Record<string, string> = replace ? {} : { ...current.metadata };
    for (const [key, value] of Object.entries(patch.metadata ?? {})) {
      if (value === null) Reflect.deleteProperty(metadata, key);
      else metadata[key] = value;
    }
    const contentType = patch.contentType ?? (replace ? DEFAULT_CONTENT_TYPE : current.contentType);
    const updated: StoredObject = { ...current, metadata, contentType, metageneration: current.metageneration + 1, updated: new Date() };
    objects.set(name, updated);
    return updated;
  }

  delete(bucket: string, name: string): boolean {
    return this.#buckets.get(bucket)?.objects.delete(name) ?? false;
  }

  /** One page of a listing. */
  list(bucket: string, query: ListQuery): ListPage | 'noSuchBucket' | 'invalidPageToken' {
    const objects = this.#buckets.get(bucket)?.objects;
    if (!objects) return 'noSuchBucket';
    const resumeAfter = query.pageToken === undefined ? undefined : decodePageToken(query.pageToken);
    if (resumeAfter === null) return 'invalidPageToken';
    const names = [...objects.keys()].filter((name) => name.startsWith(query.prefix)).sort(compareNames);
    const page: ListPage = { items: [], prefixes: [], nextPageToken: undefined };
    let last: ListPosition | undefined;
    for (const name of names) {
      if (resumeAfter && isAtOrBefore(name, resumeAfter)) continue;
      const prefix = commonPrefix(name, query);
      if (prefix !== undefined && prefix === last?.key) continue;
      if (page.items.length + page.prefixes.length === query.maxResults) {
        page.nextPageToken = last && encodePageToken(last);
        break;
      }
      if (prefix === undefined) {
        page.items.push(objects.get(name)!);
        last = { key: name, isPrefix: false };
      } else {
        page.prefixes.push(prefix);
        last = { key: prefix, isPrefix: true };
      }
    }
    return page;
  }

  /** GCS generations are microsecond timestamps; keep them strictly increasing. */
  #nextGeneration(): string {
    this.#lastGeneration = Math.max(this.#lastGeneration + 1, Date.now() * 1000);
    return String(this.#lastGeneration);
  }
}

/** The "directory" a name rolls up into under a delimiter listing, if any. */
function commonPrefix(name: string, query: ListQuery): string | undefined {
  if (!query.delimiter) return undefined;
  const at = name.indexOf(query.delimiter, query.prefix.length);
  return at < 0 ? undefined : name.slice(0, at + query.delimiter.length);
}

function isAtOrBefore(name: string, position: ListPosition): boolean {
  return compareNames(name, position.key) <= 0 || (position.isPrefix && name.startsWith(position.key));
}

/** GCS orders names by their UTF-8 bytes. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function encodePageToken(position: ListPosition): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

/** The position a page token encodes; null when the token is not one this server issued. */
function decodePageToken(token: string): ListPosition | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'key' in parsed && 'isPrefix' in parsed) {
      const { key, isPrefix } = parsed;
      if (typeof key === 'string' && typeof isPrefix === 'boolean') return { key, isPrefix };
    }
  } catch {
    // not JSON: not a token this server issued
  }
  return null;
}
