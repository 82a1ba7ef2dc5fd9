/**
 * What the GCS stand-in counts, so tests can assert on the OAuth story end to end
 * ("0 requests rejected with 401, 0 token calls made by rclone itself"). The OAuth counters
 * (token endpoint, 401s, requests per access token) are the shared ones of oauth/stats.ts.
 */
import { createOAuthStats, type OAuthStats } from '../oauth/stats.js';
import type { ThrottleStats } from './throttle.js';

export type { TokenLogEntry } from '../oauth/stats.js';

export type UploadType = 'multipart' | 'media' | 'resumable';

export interface GcsStandinStats extends OAuthStats, ThrottleStats {
  /** Completed object uploads per upload protocol. */
  uploads: Record<UploadType, number>;
  /**
   * Upload body bytes read per object (`bucket/name`), every attempt counted: interrupted and
   * repeated uploads included. Requests refused at the bearer check are not read, so not counted.
   */
  uploadBodyBytes: Map<string, number>;
  /** Body bytes of the upload (request, or resumable session) that stored each object last. */
  storedUploadBodyBytes: Map<string, number>;
  /** When the last upload body chunk was read (epoch ms). */
  lastUploadChunkAt: number | undefined;
  /** Longest time between two upload body chunks read, in ms: how long uploads stood still. */
  longestUploadGapMs: number;
}

export function createStats(): GcsStandinStats {
  return {
    ...createOAuthStats(),
    uploads: { multipart: 0, media: 0, resumable: 0 },
    throttleDelayMs: 0,
    uploadBodyBytes: new Map(),
    storedUploadBodyBytes: new Map(),
    lastUploadChunkAt: undefined,
    longestUploadGapMs: 0,
  };
}

/** Counts an upload body chunk of `bytes` for `object` (`bucket/name`) and the gap since the last one. */
export function noteUploadChunk(stats: GcsStandinStats, object: string, bytes: number): void {
  const now = Date.now();
  if (stats.lastUploadChunkAt !== undefined) stats.longestUploadGapMs = Math.max(stats.longestUploadGapMs, now - stats.lastUploadChunkAt);
  stats.lastUploadChunkAt = now;
  stats.uploadBodyBytes.set(object, (stats.uploadBodyBytes.get(object) ?? 0) + bytes);
}
