/**
 * Re-authenticating a storage while a long job runs on it is applied with the least disruption:
 * the new grant's token is pushed into the running rclone, which takes it at the old token's
 * switch point; no restart, no re-run, no failed file (issue: "Re-authentication is applied with
 * the least disruption, never by a blind restart").
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import {
  copiedObjects,
  decisionNames,
  isAlive,
  issuedAccessTokenFingerprints,
  rcloneErrors,
  rcloneStarts,
  refreshesWith,
  runsOf,
  timelinePerTest,
} from './reauth-support.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();
const startTimeline = timelinePerTest();

describe('re-authentication during a running job', () => {
  it('switches the running job to the new grant without restart, re-run or failed file', { timeout: 180_000 }, async () => {
    // 20 s tokens: the worker refreshes every ~7 s, so the job lives through several tokens of
    // each grant. 1 MB at 40 kB/s keeps the job running for ~25 s.
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: 20, bytesPerSecond: 40_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs, grant: oldGrant } = sandbox.addGcsStorage('gcs');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 25, 40_000);
    const rule = sandbox.addRule('to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'bucket/live' });

    const worker = sandbox.spawnWorker('a');
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    const timeline = startTimeline(sandbox.gcs.stats);
    const job = sandbox.hub.createJob(rule.id);
    const started = await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
    // Re-authenticate right after one of the worker's own token saves has landed (the hub has no
    // compare-and-set: an edit between the worker's read and its PUT would be overwritten).
    const startedAt = worker.logs.indexOf(started);
    await worker.waitForLog((r) => r.msg === 'token saved to the hub' && worker.logs.indexOf(r) > startedAt, 30_000);
    expect(refreshesWith(sandbox, oldGrant.refreshToken).filter((e) => e.status === 200).length).toBeGreaterThan(0);

    const oldGrantTokens = issuedAccessTokenFingerprints(sandbox);
    const newGrant = sandbox.gcs.issueGrant();
    const switchedAt = Date.now();
    sandbox.hub.updateStorage(gcs.id, {
      accessToken: newGrant.accessToken,
      refreshToken: newGrant.refreshToken,
      expiresAt: newGrant.expiresAt.toISOString(),
    });

    const reports = await waitForTerminalReport(sandbox, job.id, 120_000);
    timeline.stop();
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    // The re-authentication was judged a new grant and applied by pushing its token.
    const adopted = logsOf(worker, 'adopted new credentials from the hub').filter((r) => r.storage === 'gcs');
    expect(adopted.map((r) => r.decision)).toEqual(['new-grant']);
    const decisions = decisionNames(worker, 'gcs');
    expect(decisions).toContain('token-pushed');
    expect(decisions.filter((d) => d !== 'token-pushed' && d !== 'nothing-changed')).toEqual([]);

    // One run, no restart of rclone, no failed file.
    expect(runsOf(worker, job.id)).toHaveLength(1);
    expect(logsOf(worker, 'job finished').find((r) => r.jobId === job.id)?.runs).toBe(1);
    expect(rcloneStarts(worker)).toBe(1);
    expect(isAlive(rclonePid)).toBe(true);
    expect(rcloneErrors(worker)).toEqual([]);
    expect(sandbox.gcs.stats.unauthorized).toBe(0);
    expect(new Set(copiedObjects(worker))).toEqual(new Set(files.keys()));
    const stored = sandbox.gcs.objects('bucket');
    for (const [rel, bytes] of files) expect(stored.get(`live/${rel}`)?.equals(bytes), rel).toBe(true);

    // The token endpoint: after the switch only the new refresh token is used.
    expect(refreshesWith(sandbox, oldGrant.refreshToken, switchedAt)).toEqual([]);
    const newRefreshes = refreshesWith(sandbox, newGrant.refreshToken, switchedAt);
    expect(newRefreshes.filter((e) => e.status === 200).length).toBeGreaterThanOrEqual(1);

    // rclone's API requests: every access token issued since the switch belongs to the new grant
    // (no old-grant refresh happened since); once rclone used one, it never went back.
    const isNewGrant = (fp: string): boolean => !oldGrantTokens.has(fp);
    const newUses = timeline.usesWhere(isNewGrant);
    const oldUses = timeline.usesWhere((fp) => oldGrantTokens.has(fp));
    expect(newUses.length).toBeGreaterThan(0);
    expect(oldUses.length).toBeGreaterThan(0);
    expect(Math.max(...oldUses)).toBeLessThanOrEqual(Math.min(...newUses));
    const newGrantRequests = [...sandbox.gcs.stats.requestsByAccessToken].filter(([fp]) => isNewGrant(fp));
    expect(newGrantRequests.reduce((sum, [, n]) => sum + n, 0)).toBeGreaterThan(0);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
