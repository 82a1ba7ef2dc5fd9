/**
 * Google Drive end to end (issue 8): a copy spanning six 20 s access-token lifetimes, through the
 * worker process, the real rclone, the sandbox's TLS proxy (www.googleapis.com) and the Drive v3
 * stand-in with Google's token endpoint (the refresh token is kept). The family's checks are in
 * provider-support.ts; Drive adds its own.
 */
import { describe, expect, it } from 'vitest';
import { copyAcrossLifetimes, GOOGLE_DRIVE } from './provider-support.js';
import { sandboxPerTest } from './support.js';

const startSandbox = sandboxPerTest();

describe('Google Drive: a copy across six token lifetimes', () => {
  it('ends DoneSuccess once, every file once, 0 × 401, no token request by rclone, one rclone', { timeout: 330_000 }, async () => {
    // 50 × 50 kB through a 20 kB/s link: at least 125 s.
    await copyAcrossLifetimes(startSandbox, GOOGLE_DRIVE, { tokenLifetimeSeconds: 20, lifetimes: 6, bytesPerSecond: 20_000, fileCount: 50, fileSize: 50_000 }, ({ sandbox, files }) => {
      const drive = sandbox.gdrive!.standin;
      // Drive's own request log: no request answered 401, every file one multipart upload.
      expect(drive.stats.unauthorized).toBe(0);
      expect(drive.stats.requestLog.filter((r) => r.tokenState !== 'valid')).toEqual([]);
      expect(drive.stats.uploads.multipart).toBe(files.size);
      // rclone went through the proxy; the worker's token calls went to the stand-in directly.
      expect(sandbox.proxy!.stats.requestsByHost.get('www.googleapis.com')).toBeGreaterThan(files.size);
      expect(sandbox.proxy!.stats.requestsByHost.get('oauth2.googleapis.com')).toBeUndefined();
    });
  });
});
