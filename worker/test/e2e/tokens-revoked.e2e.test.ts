/**
 * A refresh token revoked in the middle of a job, end to end (issue "Tokens stay valid for the
 * whole life of a job, without restarting rclone"): real rclone, two GCS storages on the
 * stand-in (each with its own grant, 20 s tokens) and the worker process. The revoked storage's
 * job must fail with a clear "re-authentication needed" reason after one refused refresh — a
 * terminal DoneWithErrors, which the real hub does not hand out again at once (real-hannibal.md
 * F1) — while the other storage's job goes on refreshing and succeeds; with new credentials from
 * the hub, the rule's next job runs.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import type { GcsStandin } from '../../../scripts/standins/gcs/server.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';
import { expectOneRclone, finishedRecord, loggedAt, sameObjects, tokenRequestsWith } from './tokens-support.js';

const REAUTH_NEEDED = /re-authentication needed: the provider refused the refresh token \(invalid_grant/;

const startSandbox = sandboxPerTest();

describe('a refresh token revoked mid-job', () => {
  it('fails that job for re-authentication after one token request, leaves the other storage alone, and runs again with new credentials', { timeout: 240_000 }, async () => {
    // Both jobs share a 40 kB/s link: the job on beta (1.6 MB) outlasts the one on alpha.
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: 20, bytesPerSecond: 40_000 } });
    const gcsStandin = sandbox.gcs;
    const laptop = sandbox.addLocalStorage('laptop');
    const alpha = sandbox.addGcsStorage('alpha', { bucket: 'alpha-bucket' });
    const beta = sandbox.addGcsStorage('beta', { bucket: 'beta-bucket' });
    const sourceA = join(sandbox.dir, 'a');
    const sourceB = join(sandbox.dir, 'b');
    const filesA = await makeTree(sourceA, 40, 25_000);
    const filesB = await makeTree(sourceB, 64, 25_000);
    const ruleA = sandbox.addRule('a to alpha', { storage: laptop, path: sourceA }, { storage: alpha.storage, path: 'alpha-bucket/a' });
    const ruleB = sandbox.addRule('b to beta', { storage: laptop, path: sourceB }, { storage: beta.storage, path: 'beta-bucket/b' });

    const worker = sandbox.spawnWorker('a', { TOKEN_REFRESH_THRESHOLD_SECONDS: '5', WORKER_REAUTH_WAIT_SECONDS: '5' });
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    const jobA = sandbox.hub.createJob(ruleA.id);
    const jobB = sandbox.hub.createJob(ruleB.id);
    const startedA = await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === jobA.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === jobB.id);
    // Revoke once alpha's token was refreshed during the job, as a user revoking access would.
    await worker.waitForLog((r) => r.msg === 'token refreshed' && r.storage === 'alpha' && loggedAt(r) > loggedAt(startedA));
    const revokedAt = Date.now();
    gcsStandin.revokeRefreshToken(alpha.grant.refreshToken);

    // Alpha's job fails with the re-authentication reason, in the hub report and the log.
    const [failure] = await waitForTerminalReport(sandbox, jobA.id, 90_000);
    expect(failure).toEqual(expect.objectContaining({ state: JobState.DoneWithErrors, owner: 'worker-a' }));
    expect(failure?.reason).toMatch(/^re-authentication did not come in time: /);
    expect(failure?.reason).toMatch(REAUTH_NEEDED);
    expect(failure?.reason).toMatch(/alpha/);
    const waits = logsOf(worker, 'job waits for re-authentication of its storage').filter((r) => r.jobId === jobA.id);
    expect(waits.length).toBeGreaterThanOrEqual(1);
    expect(String(waits[0]?.reason)).toMatch(REAUTH_NEEDED);
    expect(finishedRecord(worker, jobA.id)).toEqual(expect.objectContaining({ state: 'DoneWithErrors', reason: failure?.reason }));
    const breaker = worker.find((r) => r.component === 'tokens' && r.storage === 'alpha' && r.level >= 50 && REAUTH_NEEDED.test(r.msg));
    expect(breaker).toHaveLength(1);
    expect(breaker[0]?.msg).toMatch(/no further token requests for this storage until the hub brings new credentials/);

    // Beta's job is not affected: it succeeds in one run while its tokens keep being refreshed.
    const [success] = await waitForTerminalReport(sandbox, jobB.id, 150_000);
    expect(success?.state).toBe(JobState.DoneSuccess);
    expect(terminalReports(sandbox, jobB.id)).toHaveLength(1);
    expect(finishedRecord(worker, jobB.id)?.runs).toBe(1);
    expect(sameObjects(gcsStandin, 'beta-bucket', 'b', filesB)).toBe(filesB.size);
    expect(worker.find((r) => r.jobId === jobB.id && /auth|re-run/.test(r.msg))).toEqual([]);
    expect(worker.find((r) => r.component === 'rclone' && r.level >= 50 && r.msg.includes('beta'))).toEqual([]);
    const betaRefreshesAfterRevoke = tokenRequestsWith(gcsStandin, beta.grant.refreshToken).filter((e) => e.at >= revokedAt);
    expect(betaRefreshesAfterRevoke.length).toBeGreaterThanOrEqual(2);
    expect(betaRefreshesAfterRevoke.every((e) => e.status === 200)).toBe(true);

    // One refused token request for alpha, and none since; the job ended once and was not handed out again.
    const alphaRequestsAfterRevoke = (): GcsStandin['tokenLog'] => tokenRequestsWith(gcsStandin, alpha.grant.refreshToken).filter((e) => e.at >= revokedAt);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    expect(terminalReports(sandbox, jobA.id)).toHaveLength(1);
    expect(sandbox.hub.acquisitions.filter((a) => a.jobId === jobA.id)).toHaveLength(1);
    expect(alphaRequestsAfterRevoke()).toEqual([expect.objectContaining({ status: 400 })]);

    // New credentials arrive through the hub, and the rule's next job (as the hub's scheduler
    // creates it) runs and completes.
    const regrant = gcsStandin.issueGrant();
    sandbox.hub.updateStorage(alpha.storage.id, {
      accessToken: regrant.accessToken,
      refreshToken: regrant.refreshToken,
      expiresAt: regrant.expiresAt.toISOString(),
    });
    const nextA = sandbox.hub.createJob(ruleA.id);
    expect(await waitForTerminalReport(sandbox, nextA.id, 90_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(terminalReports(sandbox, jobA.id)).toHaveLength(1);
    expect(sameObjects(gcsStandin, 'alpha-bucket', 'a', filesA)).toBe(filesA.size);
    expect(alphaRequestsAfterRevoke()).toHaveLength(1);
    const regrantRequests = tokenRequestsWith(gcsStandin, regrant.refreshToken);
    expect(regrantRequests.length).toBeGreaterThanOrEqual(1);
    expect(regrantRequests.every((e) => e.status === 200)).toBe(true);

    expectOneRclone(worker, rclonePid);
    expect(gcsStandin.stats.unauthorized).toBe(0);
    expect(gcsStandin.stats.tokenRequestsByRclone).toBe(0);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
