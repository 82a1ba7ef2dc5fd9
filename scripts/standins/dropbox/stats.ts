/**
 * What the Dropbox stand-in counts, so tests can assert the whole story of a job: "0 × 401",
 * "every file committed exactly once", "0 bytes uploaded twice", "no token request by rclone".
 * Paths are keyed by `path_lower`; access tokens by their fingerprint (never the token).
 */
import type { ThrottleStats } from '../gcs/throttle.js';
import { createOAuthStats, type OAuthStats } from '../oauth/stats.js';

/** Per file (its `path_lower` when committed). */
export interface FileUploadStats {
  /** Body bytes received for this file over all its commits (uploads, appends, finishes). */
  bytesReceived: number;
  /** Upload sessions committed to this file. */
  sessions: number;
  /** Successful commits (files/upload, upload_session/finish, batch entries). */
  commits: number;
}

/**
 * The OAuth counters (token requests, 401s by route — `unauthorizedByCall` — and by user agent,
 * requests per access token) come from the shared provider OAuth module; these add the API's.
 */
export interface DropboxStandinStats extends OAuthStats, ThrottleStats {
  /** Every API request (both hosts; the token endpoint is not counted here). */
  requests: number;
  requestsByRoute: Map<string, number>;
  /** Content requests whose `Dropbox-API-Arg` carried raw UTF-8 instead of `\\uXXXX` escapes. */
  rawUtf8ArgHeaders: number;
  /** Requests answered 429 by an injected fault. */
  rateLimited: number;
  sessionsStarted: number;
  /** Upload body bytes received in total (uploads and session appends). */
  bytesReceived: number;
  /** Body bytes of uploads and sessions whose commit failed (conflict, or refused with 429). */
  discardedUploadBytes: number;
  files: Map<string, FileUploadStats>;
  /** Number of entries of each finish_batch / finish_batch_v2 call, in arrival order. */
  batchSizes: number[];
}

export function createStats(): DropboxStandinStats {
  return {
    ...createOAuthStats(),
    requests: 0,
    requestsByRoute: new Map(),
    rawUtf8ArgHeaders: 0,
    rateLimited: 0,
    sessionsStarted: 0,
    bytesReceived: 0,
    discardedUploadBytes: 0,
    files: new Map(),
    batchSizes: [],
    throttleDelayMs: 0,
  };
}

export function increment<K>(map: Map<K, number>, key: K, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

export function fileStats(stats: DropboxStandinStats, pathLower: string): FileUploadStats {
  let entry = stats.files.get(pathLower);
  if (!entry) {
    entry = { bytesReceived: 0, sessions: 0, commits: 0 };
    stats.files.set(pathLower, entry);
  }
  return entry;
}
