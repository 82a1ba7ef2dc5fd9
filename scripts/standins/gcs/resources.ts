/**
 * JSON resources of the GCS JSON API (`storage#object`, `storage#bucket`) as the Go `storage/v1`
 * client decodes them: int64 fields as strings, times in RFC 3339, hashes in base64, and a
 * `mediaLink` pointing back at this server.
 */
import type { StoredBucket, StoredObject } from './objects.js';

export interface ObjectResource {
  kind: 'storage#object';
  id: string;
  selfLink: string;
  mediaLink: string;
  name: string;
  bucket: string;
  generation: string;
  metageneration: string;
  contentType: string;
  storageClass: 'STANDARD';
  size: string;
  md5Hash: string;
  crc32c: string;
  etag: string;
  timeCreated: string;
  updated: string;
  timeStorageClassUpdated: string;
  metadata?: Record<string, string>;
}

/** The path of an object below `storage/v1/` (or `download/storage/v1/`), each name fully escaped. */
function objectPath(bucket: string, name: string): string {
  return `b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`;
}

export function objectResource(object: StoredObject, baseUrl: string): ObjectResource {
  const path = objectPath(object.bucket, object.name);
  const resource: ObjectResource = {
    kind: 'storage#object',
    id: `${object.bucket}/${object.name}/${object.generation}`,
    selfLink: `${baseUrl}/storage/v1/${path}`,
    mediaLink: `${baseUrl}/download/storage/v1/${path}?generation=${object.generation}&alt=media`,
    name: object.name,
    bucket: object.bucket,
    generation: object.generation,
    metageneration: String(object.metageneration),
    contentType: object.contentType,
    storageClass: 'STANDARD',
    size: String(object.data.length),
    md5Hash: object.md5Hash,
    crc32c: object.crc32c,
    etag: objectEtag(object),
    timeCreated: object.timeCreated.toISOString(),
    updated: object.updated.toISOString(),
    timeStorageClassUpdated: object.timeCreated.toISOString(),
  };
  if (Object.keys(object.metadata).length > 0) resource.metadata = { ...object.metadata };
  return resource;
}

export function objectEtag(object: StoredObject): string {
  return Buffer.from(`${object.generation}/${object.metageneration}`).toString('base64');
}

export function bucketResource(bucket: StoredBucket, baseUrl: string): Record<string, unknown> {
  const created = bucket.timeCreated.toISOString();
  return {
    kind: 'storage#bucket',
    id: bucket.name,
    selfLink: `${baseUrl}/storage/v1/b/${encodeURIComponent(bucket.name)}`,
    projectNumber: '0',
    name: bucket.name,
    timeCreated: created,
    updated: created,
    metageneration: '1',
    location: 'US',
    locationType: 'multi-region',
    storageClass: 'STANDARD',
    etag: 'CAE=',
    iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, bucketPolicyOnly: { enabled: true } },
  };
}
