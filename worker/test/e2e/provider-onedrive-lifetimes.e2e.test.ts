/**
 * OneDrive end to end (issue 8): a copy spanning six 20 s access-token lifetimes, through the
 * worker process, the real rclone, the sandbox's TLS proxy (graph.microsoft.com,
 * api.onedrive.com) and the Microsoft Graph stand-in, whose token endpoint rotates the refresh
 * token on every refresh. The family's checks are in provider-support.ts; OneDrive adds its own.
 */
import { describe, expect, it } from 'vitest';
import { copyAcrossLifetimes, ONEDRIVE } from './provider-support.js';
import { sandboxPerTest } from './support.js';

const startSandbox = sandboxPerTest();

describe('OneDrive: a copy across six token lifetimes', () => {
  it('ends DoneSuccess once, every file once, 0 × 401, no token request by rclone, the hub on the newest refresh token', { timeout: 330_000 }, async () => {
    // 50 × 50 kB through a 20 kB/s link: at least 125 s.
    await copyAcrossLifetimes(startSandbox, ONEDRIVE, { tokenLifetimeSeconds: 20, lifetimes: 6, bytesPerSecond: 20_000, fileCount: 50, fileSize: 50_000 }, ({ sandbox, files }) => {
      const onedrive = sandbox.onedrive!;
      // Upload URLs are pre-authenticated, so a stale token there is accepted; rclone never sent one.
      expect(onedrive.stats.invalidTokenOnUploadUrl).toBe(0);
      expect(onedrive.resentBytes()).toBe(0);
      // rclone went through the proxy; the worker's token and drive calls went to the stand-in directly.
      const proxied = sandbox.proxy!.stats.requestsByHost;
      expect(proxied.get('graph.microsoft.com')).toBeGreaterThan(0);
      expect(proxied.get('api.onedrive.com')).toBeGreaterThanOrEqual(files.size);
      expect(proxied.get('login.microsoftonline.com')).toBeUndefined();
      expect(onedrive.stats.requestsByCall.get('me/drive')).toBeGreaterThanOrEqual(1);
    });
  });
});
