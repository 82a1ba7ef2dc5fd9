/**
 * Google Drive end to end (issue 8), side-by-side.md S2: at ~30 % of a job's bytes the grant is revoked
 * together with its access tokens, as Google does on re-authorisation; 10 s later the user's new
 * grant is saved at the hub, which broadcasts `StorageReauthenticated`. rclone keeps the token it
 * holds until that token's expiry − 10 s (50 s with these 60 s tokens) and never re-reads it on
 * a 401, so without the worker the job would end `DoneWithErrors` with part of its files.
 * Through the worker process, the real rclone, the TLS proxy and the Drive v3 stand-in (its 401:
 * `UNAUTHENTICATED` / `authError`). The family's checks are in provider-support.ts.
 */
import { describe, it } from 'vitest';
import { GOOGLE_DRIVE, reauthAfterRevocation } from './provider-support.js';
import { sandboxPerTest } from './support.js';

const startSandbox = sandboxPerTest();

describe('Google Drive: grant revoked with its access tokens mid-job, new grant at the hub 10 s later', () => {
  it('ends DoneSuccess once with every file, on the new grant', { timeout: 240_000 }, async () => {
    // 40 × 30 kB through a 30 kB/s link: about 40 s of uploads.
    await reauthAfterRevocation(startSandbox, GOOGLE_DRIVE, { tokenLifetimeSeconds: 60, bytesPerSecond: 30_000, fileCount: 40, fileSize: 30_000, revokeAtShare: 0.3, reauthAfterMs: 10_000, rerunWithinMs: 5_000 });
  });
});
