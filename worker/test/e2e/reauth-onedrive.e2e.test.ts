/**
 * side-by-side.md S2 on the OneDrive stand-in: the grant is revoked mid-job together with its
 * access tokens, and the user re-authenticates 10 s later. rclone 1.60.1's OneDrive error says
 * `InvalidAuthenticationToken` (no "401"), and rclone keeps its token until that token's expiry −
 * 10 s. Before this fix the job ended DoneWithErrors with part of the files, 5 s after the new
 * credentials had arrived (T1, T2); now the worker recognises the failure, waits for the new
 * grant and gives the job a fresh run on a reloaded remote at once.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loggedAt, makeTree } from '../../../scripts/sandbox.js';
import { runsOf } from './reauth-support.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

describe('OneDrive: a grant revoked with its access tokens mid-job, new credentials 10 s later', () => {
  it('ends DoneSuccess once with every file, on the new grant', { timeout: 240_000 }, async () => {
    // 60 s tokens: rclone alone would keep the revoked one for up to 50 s. 40 × 30 kB at 30 kB/s: ~40 s.
    const sandbox = await startSandbox({ onedrive: { tokenLifetimeSeconds: 60, bytesPerSecond: 30_000 } });
    const onedrive = sandbox.onedrive!;
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage, grant } = sandbox.addOnedriveStorage('od');
    const source = join(sandbox.dir, 'src40');
    const files = await makeTree(source, 40, 30_000);
    const rule = sandbox.addRule('to onedrive', { storage: laptop, path: source }, { storage, path: 'sbs/s2' });
    const worker = sandbox.spawnWorker('a', { WORKER_REAUTH_WAIT_SECONDS: '600' });
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rcPassword = rcPasswordOf(worker.rclonePid());

    const job = sandbox.hub.createJob(rule.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
    // At about 30 %, as in the lab.
    await expect.poll(() => onedrive.files().size, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(12);
    onedrive.oauth.revokeGrant(grant.refreshToken);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const regrant = onedrive.oauth.issueGrant();
    const reauthAt = Date.now();
    sandbox.hub.updateStorage(storage.id, { accessToken: regrant.accessToken, refreshToken: regrant.refreshToken, expiresAt: regrant.expiresAt.toISOString() });

    const reports = await waitForTerminalReport(sandbox, job.id, 180_000);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    for (const [rel, bytes] of files) expect(onedrive.file(`/sbs/s2/${rel}`)?.equals(bytes), rel).toBe(true);

    // The OneDrive 401 was recognised (T1), and the job's last run began right after the new
    // grant arrived, not at rclone's switch point (T2).
    expect(onedrive.stats.unauthorized).toBeGreaterThan(0);
    const recognised = [...logsOf(worker, 'rclone reports an auth failure; refreshing the token now'), ...logsOf(worker, 'job failed with an auth error; refreshing its token and re-running it')];
    expect(recognised.some((r) => r.signature === 'InvalidAuthenticationToken')).toBe(true);
    const runs = runsOf(worker, job.id);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const lastRunAfter = loggedAt(runs.at(-1)!) - reauthAt;
    expect(lastRunAfter).toBeGreaterThanOrEqual(0);
    expect(lastRunAfter).toBeLessThan(5_000);
    expect(sandbox.hub.getStorage(storage.id)?.refreshToken).toBe(onedrive.oauth.latestRefreshToken(regrant.grantId));
    console.log(`[measure] OneDrive S2: DoneSuccess once, ${files.size}/${files.size} files, runs ${runs.length}, last run ${lastRunAfter} ms after the re-authentication, 401s ${onedrive.stats.unauthorized}`);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
