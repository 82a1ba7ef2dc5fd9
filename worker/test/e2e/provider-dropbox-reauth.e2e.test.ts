/**
 * Dropbox end to end (issue 8), side-by-side.md S2: at ~30 % of a job's bytes the grant is revoked
 * together with its access tokens, as Google does on re-authorisation; 10 s later the user's new
 * grant is saved at the hub, which broadcasts `StorageReauthenticated`. rclone keeps the token it
 * holds until that token's expiry − 10 s (50 s with these 60 s tokens) and never re-reads it on
 * a 401, so without the worker the job would end `DoneWithErrors` with part of its files.
 * Through the worker process, the real rclone, the TLS proxy and the Dropbox stand-in (its 401:
 * `invalid_access_token` for a revoked token), rclone batching its commits. The family's checks are
 * in provider-support.ts.
 */
import { describe, it } from 'vitest';
import { DROPBOX, reauthAfterRevocation } from './provider-support.js';
import { sandboxPerTest } from './support.js';

const startSandbox = sandboxPerTest();

describe('Dropbox: grant revoked with its access tokens mid-job, new grant at the hub 10 s later', () => {
  it('ends DoneSuccess once with every file, on the new grant', { timeout: 240_000 }, async () => {
    // 40 × 30 kB through a 30 kB/s link: about 40 s of uploads.
    // The re-run waits for the old run to stop, and rclone 1.60.1's Dropbox backend does not stop
    // quickly here: no failure shows until a batch commit gives up (~15 s after the revocation,
    // its 401s retried at debug level), and after `job/stop` the old run's uploads keep retrying
    // on the revoked token past the worker's 30 s stop bound (measured: re-run 32–36 s after the
    // re-authentication). Nothing of that run can be committed, but the worker waits all the same.
    // That old run may then never finish in rclone at all (its Fs was shut down under it by the
    // reload; measured: rc calls about it hang), so the worker's drain at the end spends its whole
    // rclone stop budget before it SIGTERMs rclone (provider-support.ts shortens that budget).
    await reauthAfterRevocation(startSandbox, DROPBOX, {
      tokenLifetimeSeconds: 60,
      bytesPerSecond: 30_000,
      fileCount: 40,
      fileSize: 30_000,
      revokeAtShare: 0.3,
      reauthAfterMs: 10_000,
      rerunWithinMs: 45_000,
    });
  });
});
