/**
 * OneDrive end to end (issue 8), side-by-side.md S2: at ~30 % of a job's bytes the grant is revoked
 * together with its access tokens, as Google does on re-authorisation; 10 s later the user's new
 * grant is saved at the hub, which broadcasts `StorageReauthenticated`. rclone keeps the token it
 * holds until that token's expiry − 10 s (50 s with these 60 s tokens) and never re-reads it on
 * a 401, so without the worker the job would end `DoneWithErrors` with part of its files.
 * Through the worker process, the real rclone, the TLS proxy and the Microsoft Graph stand-in (its
 * 401: `InvalidAuthenticationToken`, which rclone 1.60.1 does not retry). The family's checks are
 * in provider-support.ts; this one adds the OneDrive findings of side-by-side.md §5: the
 * `InvalidAuthenticationToken` failure is recognised (T1), and the job's last run starts right
 * after the new grant arrives, not at rclone's switch point (T2; before: `DoneWithErrors`, 16/40).
 */
import { describe, expect, it } from 'vitest';
import { ONEDRIVE, reauthAfterRevocation } from './provider-support.js';
import { logsOf, sandboxPerTest } from './support.js';

const startSandbox = sandboxPerTest();

describe('OneDrive: grant revoked with its access tokens mid-job, new grant at the hub 10 s later', () => {
  it('ends DoneSuccess once with every file, on the new grant', { timeout: 240_000 }, async () => {
    // 40 × 30 kB through a 30 kB/s link: about 40 s of uploads.
    const options = { tokenLifetimeSeconds: 60, bytesPerSecond: 30_000, fileCount: 40, fileSize: 30_000, revokeAtShare: 0.3, reauthAfterMs: 10_000, rerunWithinMs: 5_000 };
    await reauthAfterRevocation(startSandbox, ONEDRIVE, options, ({ worker, oauth, runs }) => {
      expect(oauth.stats.unauthorized).toBeGreaterThan(0);
      const recognised = [
        ...logsOf(worker, 'rclone reports an auth failure; refreshing the token now'),
        ...logsOf(worker, 'job failed with an auth error; refreshing its token and re-running it'),
      ];
      expect(recognised.some((r) => r.signature === 'InvalidAuthenticationToken')).toBe(true);
      expect(runs.length).toBeGreaterThanOrEqual(2);
    });
  });
});
