/**
 * The worker process, as users run it, copying to OneDrive: the sandbox's OneDrive stand-in
 * behind the TLS proxy (rclone reaches graph.microsoft.com / api.onedrive.com through it), the
 * worker's own drive lookup and token refreshes going to the stand-in directly, 20-second
 * access tokens and Microsoft's rotating refresh tokens.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { expectNoSecretsLeaked, JobState, rcPasswordOf, sandboxPerTest, waitForTerminalReport } from './support.js';
import { expectOneRclone, finishedRecord } from './tokens-support.js';

const TOKEN_LIFETIME_S = 20;

const startSandbox = sandboxPerTest();

describe('a OneDrive copy job through the TLS proxy', () => {
  it('succeeds across token lifetimes: every file once, 0 × 401, no token call by rclone, the hub holds the latest refresh token', { timeout: 240_000 }, async () => {
    // 30 × 40 kB through a 20 kB/s link: the copy takes about a minute, three token lifetimes.
    const sandbox = await startSandbox({ onedrive: { tokenLifetimeSeconds: TOKEN_LIFETIME_S, bytesPerSecond: 20_000 } });
    const onedrive = sandbox.onedrive!;
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage, grant } = sandbox.addOnedriveStorage('od');
    const source = join(sandbox.dir, 'photos');
    const files = await makeTree(source, 30, 40_000);
    const rule = sandbox.addRule('photos to onedrive', { storage: laptop, path: source }, { storage, path: 'backup/photos' });

    const worker = sandbox.spawnWorker('a', { TOKEN_REFRESH_THRESHOLD_SECONDS: '5' });
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);
    const job = sandbox.hub.createJob(rule.id);
    const reports = await waitForTerminalReport(sandbox, job.id, 200_000);

    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    expect(finishedRecord(worker, job.id)?.durationS).toBeGreaterThanOrEqual(2 * TOKEN_LIFETIME_S);
    for (const [rel, bytes] of files) expect(onedrive.file(`/backup/photos/${rel}`)?.equals(bytes), rel).toBe(true);
    expect(onedrive.resentBytes()).toBe(0);
    expectOneRclone(worker, rclonePid);

    expect(onedrive.stats.unauthorized).toBe(0);
    expect(onedrive.stats.invalidTokenOnUploadUrl).toBe(0);
    expect(onedrive.stats.tokenRequestsByRclone).toBe(0);
    expect([...onedrive.stats.tokenRequestsByUserAgent.keys()]).toEqual(['rclone-sync-worker']);
    expect(onedrive.stats.tokenResults).toEqual(new Map([['ok', onedrive.stats.tokenRequests]]));
    // rclone went through the proxy; the worker's own calls went to the stand-in directly.
    expect(sandbox.proxy!.stats.requestsByHost.get('graph.microsoft.com')).toBeGreaterThan(0);
    expect(sandbox.proxy!.stats.requestsByHost.get('api.onedrive.com')).toBeGreaterThanOrEqual(files.size);
    expect(sandbox.proxy!.stats.requestsByHost.get('login.microsoftonline.com')).toBeUndefined();

    // Microsoft rotates the refresh token on every refresh: the hub must end on the newest one,
    // and the worker never spent an old generation.
    expect(onedrive.stats.tokenRequests).toBeGreaterThanOrEqual(2);
    expect(onedrive.stats.staleGenerationRefreshes).toBe(0);
    expect(sandbox.hub.getStorage(storage.id)?.refreshToken).toBe(onedrive.oauth.latestRefreshToken(grant.grantId));

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
