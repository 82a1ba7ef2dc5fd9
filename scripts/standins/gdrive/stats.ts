/**
 * What the Drive stand-in counts, so tests can state the OAuth story as numbers: 401s by call
 * and client, requests per access token (with when each was first and last seen), media
 * bytes received and upload sessions opened per file — "0 bytes uploaded twice" is
 * `bytesReceived(path) === size` with one session.
 */
import type { ThrottleStats } from '../gcs/throttle.js';
import type { AccessTokenState } from '../oauth/authority.js';

/** Drive API methods by Google's names, plus the upload protocol steps. */
export type DriveCall =
  | 'about.get'
  | 'files.list'
  | 'files.get'
  | 'files.download'
  | 'files.create'
  | 'files.update'
  | 'files.copy'
  | 'files.delete'
  | 'files.emptyTrash'
  | 'upload.multipart'
  | 'upload.media'
  | 'upload.resumableStart'
  | 'upload.resumableChunk'
  | 'unknown';

export type UploadType = 'multipart' | 'media' | 'resumable';

/** One API request, recorded when its answer was sent. */
export interface DriveRequestRecord {
  at: number;
  call: DriveCall;
  method: string;
  status: number;
  /** `fingerprint(accessToken)`; `none` without a bearer token. */
  accessTokenFingerprint: string;
  tokenState: AccessTokenState;
  userAgent: string;
  /** The resumable session a start or chunk belongs to. */
  uploadId?: string;
}

export interface AccessTokenUse {
  requests: number;
  /** Requests answered 401 (the token was expired, revoked or unknown when presented). */
  unauthorized: number;
  firstAt: number;
  lastAt: number;
}

export interface GdriveStandinStats extends ThrottleStats {
  apiRequests: number;
  requestsByCall: Map<DriveCall, number>;
  /** Requests answered 401. */
  unauthorized: number;
  /** Requests answered 401, keyed `<call> <user agent>` (rclone sends `rclone/v1.60.1-DEV`). */
  unauthorizedByCall: Map<string, number>;
  /** Keyed by `fingerprint(accessToken)`. */
  requestsByAccessToken: Map<string, AccessTokenUse>;
  /** Media bytes received per file path (every byte that arrived, re-sent ones included). */
  bytesReceived: Map<string, number>;
  /** Uploads begun per file path: one per multipart/media request, one per resumable session. */
  uploadSessions: Map<string, number>;
  /** Uploads that completed (the file was written), per protocol. */
  uploads: Record<UploadType, number>;
  /** Requests answered with an injected fault. */
  faultsInjected: number;
  /** Every request, in the order answered. */
  requestLog: DriveRequestRecord[];
}

export function createStats(): GdriveStandinStats {
  return {
    apiRequests: 0,
    requestsByCall: new Map(),
    unauthorized: 0,
    unauthorizedByCall: new Map(),
    requestsByAccessToken: new Map(),
    bytesReceived: new Map(),
    uploadSessions: new Map(),
    uploads: { multipart: 0, media: 0, resumable: 0 },
    faultsInjected: 0,
    requestLog: [],
    throttleDelayMs: 0,
  };
}

export function increment<K>(map: Map<K, number>, key: K, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
