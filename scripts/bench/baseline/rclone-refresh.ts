/**
 * The `rclone-refresh` strategy: rclone is given the refresh token, the client id and secret and
 * the token endpoint, and refreshes by itself at its token's expiry − 10 s (rclone-lab.md Q5a),
 * writing what it gets — rotated refresh tokens included — into its own config file, out of the
 * hub's sight. This is what the .NET worker does since commit 8bd598f (OneDrive `token_url`),
 * with the restart of `BaselineDriver` as its fallback for auth trouble.
 */
import type { Storage } from '../../../shared/hannibal.js';
import { BaselineDriver, type Custody, type DriverOptions, type GcsEndpoints } from './driver.js';
import type { HeldToken } from './token-client.js';

export const RCLONE_REFRESH_CUSTODY: Custody = {
  strategy: 'rclone-refresh',
  gcsRemote(storage: Storage, token: HeldToken, gcs: GcsEndpoints): Record<string, string> {
    return {
      type: 'gcs',
      endpoint: gcs.apiEndpoint,
      bucket_policy_only: 'true',
      client_id: storage.clientId ?? '',
      client_secret: storage.clientSecret ?? '',
      token_url: gcs.tokenUrl,
      token: JSON.stringify({
        access_token: token.accessToken,
        token_type: 'Bearer',
        refresh_token: token.refreshToken ?? '',
        expiry: token.expiresAt.toISOString(),
      }),
    };
  },
};

export function startRcloneRefreshDriver(options: Omit<DriverOptions, 'custody'>): Promise<BaselineDriver> {
  return BaselineDriver.start({ ...options, custody: RCLONE_REFRESH_CUSTODY });
}
