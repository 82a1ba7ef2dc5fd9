/**
 * What the GCS stand-in counts, so tests can assert on the OAuth story end to end
 * ("0 requests rejected with 401, 0 token calls made by rclone itself").
 */
import type { ThrottleStats } from './throttle.js';

export type UploadType = 'multipart' | 'media' | 'resumable';

export interface GcsStandinStats extends ThrottleStats {
  /** Every POST to the token endpoint. */
  tokenRequests: number;
  /** Token POSTs whose User-Agent starts with `rclone/` (Debian 1.60.1 sends exactly that): rclone refreshing by itself. */
  tokenRequestsByRclone: number;
  /** Token POSTs answered 200. */
  tokenSuccesses: number;
  /** Token POSTs answered otherwise, including injected faults (reset, abandoned timeout). */
  tokenFailures: number;
  /** Every request to the storage API (JSON API, uploads, media downloads). */
  apiRequests: number;
  /** API requests answered 401 (missing, unknown, expired or revoked access token). */
  unauthorized: number;
  /** API requests per access token presented, keyed by `fingerprint(accessToken)`. */
  requestsByAccessToken: Map<string, number>;
  /** Completed object uploads per upload protocol. */
  uploads: Record<UploadType, number>;
}

/** One POST to the token endpoint, recorded once its outcome is known (status 0 = no answer). */
export interface TokenLogEntry {
  at: number;
  userAgent: string;
  grantType: string;
  clientId: string;
  status: number;
  refreshTokenFingerprint: string;
}

export function createStats(): GcsStandinStats {
  return {
    tokenRequests: 0,
    tokenRequestsByRclone: 0,
    tokenSuccesses: 0,
    tokenFailures: 0,
    apiRequests: 0,
    unauthorized: 0,
    requestsByAccessToken: new Map(),
    uploads: { multipart: 0, media: 0, resumable: 0 },
    throttleDelayMs: 0,
  };
}
