/**
 * The `restart` strategy: the .NET worker's mid-job token mechanism (research/anchor-backer.md
 * §6.5, commit 95bc93f). rclone is given the access token the worker has and nothing to refresh
 * it with; when a job stalls or fails on auth, the worker refreshes, restarts rclone and runs the
 * jobs again (the restart itself is `BaselineDriver`'s).
 */
import type { Storage } from '../../../shared/hannibal.js';
import { BaselineDriver, type Custody, type DriverOptions, type GcsEndpoints } from './driver.js';
import type { HeldToken } from './token-client.js';

export const RESTART_CUSTODY: Custody = {
  strategy: 'restart',
  gcsRemote(_storage: Storage, token: HeldToken, gcs: GcsEndpoints): Record<string, string> {
    return {
      type: 'gcs',
      endpoint: gcs.apiEndpoint,
      bucket_policy_only: 'true',
      // Where rclone would refresh, so an attempt would show at the stand-in; it has no refresh token.
      token_url: gcs.tokenUrl,
      token: JSON.stringify({ access_token: token.accessToken, token_type: 'Bearer', expiry: token.expiresAt.toISOString() }),
    };
  },
};

export function startRestartDriver(options: Omit<DriverOptions, 'custody'>): Promise<BaselineDriver> {
  return BaselineDriver.start({ ...options, custody: RESTART_CUSTODY });
}
