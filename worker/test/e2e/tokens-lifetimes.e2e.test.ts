/**
 * A copy job that outlives many access tokens, end to end (issue "Tokens stay valid for the
 * whole life of a job, without restarting rclone"): real rclone, the GCS stand-in with 20 s
 * tokens and the worker process. The worker refreshes and pushes tokens into the running rclone,
 * which adopts each one at its old token's expiry − 10 s.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';
import { accessTokensUsed, accessTokensUsedSince, expectOneRclone, finishedRecord, sameObjects } from './tokens-support.js';

const TOKEN_LIFETIME_S = 20;

const startSandbox = sandboxPerTest();

describe('a job lasting many access-token lifetimes', () => {
  it('succeeds on one rclone with tokens pushed live: no 401, no token call by rclone, no failed file', { timeout: 300_000 }, async () => {
    // 50 × 50 kB through a 20 kB/s link: the copy takes at least 125 s, over 6 token lifetimes.
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_S, bytesPerSecond: 20_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs } = sandbox.addGcsStorage('gcs', { bucket: 'backups' });
    const source = join(sandbox.dir, 'photos');
    const files = await makeTree(source, 50, 50_000);
    const rule = sandbox.addRule('photos to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'backups/photos' });

    const worker = sandbox.spawnWorker('a', { TOKEN_REFRESH_THRESHOLD_SECONDS: '5', WORKER_HEARTBEAT_SECONDS: '5' });
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);
    const tokensBefore = accessTokensUsed(sandbox.gcs);

    const job = sandbox.hub.createJob(rule.id);
    const reports = await waitForTerminalReport(sandbox, job.id, 280_000);

    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    // The premise: the job really outlived at least six token lifetimes, in a single run.
    const finished = finishedRecord(worker, job.id);
    expect(finished?.durationS).toBeGreaterThanOrEqual(6 * TOKEN_LIFETIME_S);
    expect(finished?.runs).toBe(1);
    expect(logsOf(worker, 'job started in rclone').filter((r) => r.jobId === job.id)).toHaveLength(1);

    // 0 failed files: every object byte for byte, each uploaded exactly once, no rclone error.
    expect(sameObjects(sandbox.gcs, 'backups', 'photos', files)).toBe(files.size);
    const { multipart, media, resumable } = sandbox.gcs.stats.uploads;
    expect(multipart + media + resumable).toBe(files.size);
    expect(worker.find((r) => r.component === 'rclone' && r.level >= 50)).toEqual([]);

    // 0 rclone restarts.
    expectOneRclone(worker, rclonePid);

    // The storage never saw an expired token, and rclone never refreshed by itself.
    expect(sandbox.gcs.stats.unauthorized).toBe(0);
    expect(sandbox.gcs.stats.tokenRequestsByRclone).toBe(0);
    expect(sandbox.gcs.tokenLog.every((entry) => entry.userAgent === 'rclone-sync-worker' && entry.status === 200)).toBe(true);

    // The running rclone adopted the pushed tokens live: at least six different access tokens
    // reached the storage during the one run.
    const used = accessTokensUsedSince(sandbox.gcs, tokensBefore);
    expect(used.length).toBeGreaterThanOrEqual(6);
    const refreshedByWorker = new Set(logsOf(worker, 'token refreshed').map((r) => r.tokenFp));
    expect(used.filter((fp) => !refreshedByWorker.has(fp))).toEqual([]);
    expect(logsOf(worker, 'token pushed to rclone').length).toBeGreaterThanOrEqual(6);
    expect(terminalReports(sandbox, job.id)).toHaveLength(1);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
