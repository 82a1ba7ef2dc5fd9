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
}

export function createStats(): GcsStandinStats {
  return {
    ...createOAuthStats(),
    uploads: { multipart: 0, media: 0, resumable: 0 },
    throttleDelayMs: 0,
  };
}
