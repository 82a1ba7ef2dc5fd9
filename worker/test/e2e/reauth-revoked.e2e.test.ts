/**
 * A grant revoked during a job, then a re-authentication in the hub. rclone keeps the access token
 * it holds until that token's expiry − 10 s and never re-reads it on a 401, so once the old grant
 * is known dead the worker does not wait for that switch point: as soon as the new grant is
 * there, the jobs on it are stopped, the remote reloaded and the jobs run again (issue 8.5,
 * side-by-side.md T1/T2). If rclone has failed the job before, the worker keeps it waiting for
 * re-authentication and re-runs only that job once the new grant is there.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree, Sandbox, type WorkerProcess } from '../../../scripts/sandbox.js';
import type { Grant } from '../../../scripts/standins/gcs/server.js';
import type { Storage } from '../../../shared/hannibal.js';
import {
  decisionNames,
  isAlive,
  issuedAccessTokenFingerprints,
  loggedAt,
  rcloneStarts,
  refreshesWith,
  runsOf,
  timelinePerTest,
} from './reauth-support.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();
const startTimeline = timelinePerTest();

const BREAKER_OPENED = 'no further token requests for this storage until the hub brings new credentials';

/** As if the user re-authorised the storage in the hub: a new grant, saved to the storage. */
function reauthenticate(box: Sandbox, storage: Storage): Grant {
  const grant = box.gcs.issueGrant();
  box.hub.updateStorage(storage.id, {
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    expiresAt: grant.expiresAt.toISOString(),
  });
  return grant;
}

/** The worker opened the storage's breaker after the token endpoint answered invalid_grant. */
async function breakerOpened(worker: WorkerProcess, uriSchema: string): Promise<void> {
  await worker.waitForLog((r) => r.storage === uriSchema && r.msg.endsWith(BREAKER_OPENED), 60_000);
}

/**
 * One job from a local folder to a GCS storage on the stand-in (`tokenLifetimeSeconds` tokens,
 * 40 kB/s), a worker that waits long for re-authentication, and the job started in rclone.
 */
async function gcsJobRunning(options: { tokenLifetimeSeconds: number; files: number; size: number; path: string }) {
  const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: options.tokenLifetimeSeconds, bytesPerSecond: 40_000 } });
  const laptop = sandbox.addLocalStorage('laptop');
  const { storage: gcs, grant: oldGrant } = sandbox.addGcsStorage('gcs');
  const source = join(sandbox.dir, 'src');
  const files = await makeTree(source, options.files, options.size);
  const rule = sandbox.addRule('to gcs', { storage: laptop, path: source }, { storage: gcs, path: `bucket/${options.path}` });
  const worker = sandbox.spawnWorker('a', { WORKER_REAUTH_WAIT_SECONDS: '600' });
  await worker.waitForLog((r) => r.msg === 'rclone ready');
  const rclonePid = worker.rclonePid();
  const rcPassword = rcPasswordOf(rclonePid);
  const timeline = startTimeline(sandbox.gcs.stats);
  const job = sandbox.hub.createJob(rule.id);
  await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
  return { sandbox, gcs, oldGrant, files, worker, rclonePid, rcPassword, timeline, job };
}

describe('a grant revoked during a job, then re-authentication', () => {
  it('re-runs the job on the new grant as soon as it arrives, before rclone would drop the dead grant’s token', { timeout: 180_000 }, async () => {
    // 30 s tokens: the worker refreshes ~15.5 s after issue and gets invalid_grant; rclone would
    // keep the last token of the dead grant until its expiry − 10 s. 1.25 MB at 40 kB/s: ~31 s.
    const { sandbox, gcs, oldGrant, files, worker, rclonePid, rcPassword, timeline, job } = await gcsJobRunning({ tokenLifetimeSeconds: 30, files: 25, size: 50_000, path: 'early' });
    sandbox.gcs.revokeRefreshToken(oldGrant.refreshToken);
    await breakerOpened(worker, 'gcs');

    const oldGrantTokens = issuedAccessTokenFingerprints(sandbox);
    const newGrant = reauthenticate(sandbox, gcs);
    const adopted = await worker.waitForLog((r) => r.msg === 'adopted new credentials from the hub' && r.storage === 'gcs');
    expect(adopted).toMatchObject({ decision: 'new-grant', breakerWasOpen: true });
    const adoptedAt = worker.logs.indexOf(adopted);
    const lastOldToken = logsOf(worker, 'token refreshed')
      .filter((r) => r.storage === 'gcs' && worker.logs.indexOf(r) < adoptedAt)
      .at(-1);
    const oldSwitchPoint = Date.parse(String(lastOldToken?.expiresAt)) - 10_000;
    // The case: the new grant is there before rclone would give up the old grant's token.
    expect(loggedAt(adopted)).toBeLessThan(oldSwitchPoint);

    const reports = await waitForTerminalReport(sandbox, job.id, 120_000);
    timeline.stop();
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    // The grant was known dead (breaker open), so the job did not wait for the switch point:
    // stopped, remote reloaded (rclone's cached Fs with the old token gone), run again at once.
    const runs = runsOf(worker, job.id);
    expect(runs.map((r) => r.run)).toEqual([1, 2]);
    const reloaded = logsOf(worker, 'remote reloaded: rclone builds it afresh for the next run').find((r) => r.remote === 'gcs');
    expect(reloaded).toBeDefined();
    expect(loggedAt(reloaded!)).toBeGreaterThanOrEqual(loggedAt(adopted));
    expect(loggedAt(runs[1]!)).toBeGreaterThanOrEqual(loggedAt(reloaded!));
    expect(loggedAt(runs[1]!)).toBeLessThan(oldSwitchPoint);
    expect(logsOf(worker, 'job finished').find((r) => r.jobId === job.id)?.runs).toBe(2);
    expect(logsOf(worker, 'job waits for re-authentication of its storage')).toEqual([]);
    expect(refreshesWith(sandbox, oldGrant.refreshToken).map((e) => e.status).filter((s) => s !== 200)).toEqual([400]);
    expect(sandbox.gcs.stats.unauthorized).toBe(0);
    expect(rcloneStarts(worker)).toBe(1);
    expect(isAlive(rclonePid)).toBe(true);
    const stored = sandbox.gcs.objects('bucket');
    for (const [rel, bytes] of files) expect(stored.get(`early/${rel}`)?.equals(bytes), rel).toBe(true);

    // After the fresh run started, only the new grant's tokens were used.
    const newUses = timeline.usesWhere((fp) => !oldGrantTokens.has(fp));
    const oldUses = timeline.usesWhere((fp) => oldGrantTokens.has(fp));
    expect(newUses.length).toBeGreaterThan(0);
    expect(Math.max(...oldUses)).toBeLessThanOrEqual(loggedAt(runs[1]!) + 250);
    expect(refreshesWith(sandbox, newGrant.refreshToken).every((e) => e.status === 200)).toBe(true);
    console.log(`[measure] dead grant, new credentials early: fresh run ${loggedAt(runs[1]!) - loggedAt(adopted)} ms after adoption, ${oldSwitchPoint - loggedAt(runs[1]!)} ms before rclone's switch point`);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });

  it('a grant revoked with its access tokens (as Google does), new credentials 10 s later: DoneSuccess once, every file, on the new grant', { timeout: 180_000 }, async () => {
    // 60 s tokens: without the worker, rclone would use the revoked token for up to 50 s.
    const { sandbox, gcs, oldGrant, files, worker, rcPassword, timeline, job } = await gcsJobRunning({ tokenLifetimeSeconds: 60, files: 30, size: 40_000, path: 'revoked' });
    await expect.poll(() => sandbox.gcs.objects('bucket').size, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(8);
    const oldGrantTokens = issuedAccessTokenFingerprints(sandbox);
    sandbox.gcs.oauth.revokeGrant(oldGrant.refreshToken);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const reauthAt = Date.now();
    reauthenticate(sandbox, gcs);

    const reports = await waitForTerminalReport(sandbox, job.id, 120_000);
    timeline.stop();
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    // rclone met the revoked token (401 authError); the worker recognised it, found the grant dead
    // (one refused refresh), and ran the job again on the new grant as soon as it came.
    expect(sandbox.gcs.stats.unauthorized).toBeGreaterThan(0);
    const recognised = [...logsOf(worker, 'rclone reports an auth failure; refreshing the token now'), ...logsOf(worker, 'job failed with an auth error; refreshing its token and re-running it')];
    expect(recognised.length).toBeGreaterThan(0);
    // The dead grant's refresh token was refused at most once: no hammering of the token endpoint.
    expect(refreshesWith(sandbox, oldGrant.refreshToken).filter((e) => e.status !== 200).length).toBeLessThanOrEqual(1);
    const runs = runsOf(worker, job.id);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(loggedAt(runs.at(-1)!)).toBeGreaterThanOrEqual(reauthAt);
    expect(loggedAt(runs.at(-1)!) - reauthAt).toBeLessThan(5_000);
    const oldUses = timeline.usesWhere((fp) => oldGrantTokens.has(fp));
    expect(Math.max(...oldUses)).toBeLessThan(reauthAt);
    const stored = sandbox.gcs.objects('bucket');
    for (const [rel, bytes] of files) expect(stored.get(`revoked/${rel}`)?.equals(bytes), rel).toBe(true);
    console.log(`[measure] grant + access tokens revoked, new credentials 10 s later: runs ${runs.length}, last run ${loggedAt(runs.at(-1)!) - reauthAt} ms after the re-authentication, 401s ${sandbox.gcs.stats.unauthorized}`);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });

  it('re-runs only that job, once, on the new grant when the credentials come after rclone failed it', { timeout: 180_000 }, async () => {
    // 20 s tokens: the refresh at ~7 s gets invalid_grant, rclone fails the job at ~10 s.
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: 20, bytesPerSecond: 40_000 }, webdav: { bytesPerSecond: 60_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs, grant: oldGrant } = sandbox.addGcsStorage('gcs');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'alice', 'alice-e2e-password-7');
    const gcsSource = join(sandbox.dir, 'src-gcs');
    const gcsFiles = await makeTree(gcsSource, 30, 30_000);
    const ncSource = join(sandbox.dir, 'src-nc');
    const ncFiles = await makeTree(ncSource, 24, 50_000);
    const toGcs = sandbox.addRule('to gcs', { storage: laptop, path: gcsSource }, { storage: gcs, path: 'bucket/late' });
    const toNextcloud = sandbox.addRule('to nextcloud', { storage: laptop, path: ncSource }, { storage: nextcloud, path: 'backup' });

    const worker = sandbox.spawnWorker('a', { WORKER_REAUTH_WAIT_SECONDS: '600' });
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    const timeline = startTimeline(sandbox.gcs.stats);
    const other = sandbox.hub.createJob(toNextcloud.id);
    const job = sandbox.hub.createJob(toGcs.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === other.id);
    sandbox.gcs.revokeRefreshToken(oldGrant.refreshToken);
    await breakerOpened(worker, 'gcs');
    await worker.waitForLog((r) => r.msg === 'job waits for re-authentication of its storage' && r.jobId === job.id, 60_000);
    // rclone failed the run with the auth error; the other job is still running.
    const failedRun = logsOf(worker, 'job failed with an auth error; refreshing its token and re-running it').filter((r) => r.jobId === job.id);
    expect(failedRun).toHaveLength(1);
    expect(String(failedRun[0]?.error)).toContain("token expired and there's no refresh token");
    expect(terminalReports(sandbox, other.id)).toEqual([]);

    const oldGrantTokens = issuedAccessTokenFingerprints(sandbox);
    const reauthAt = Date.now();
    const newGrant = reauthenticate(sandbox, gcs);

    const reports = await waitForTerminalReport(sandbox, job.id, 120_000);
    const otherReports = await waitForTerminalReport(sandbox, other.id, 120_000);
    timeline.stop();
    // Reported exactly once, DoneSuccess, with no DoneFailure before it.
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(otherReports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    // Only the failed job was re-run, once, after the new grant was adopted.
    const runs = runsOf(worker, job.id);
    expect(runs.map((r) => r.run)).toEqual([1, 2]);
    expect(logsOf(worker, 'job finished').find((r) => r.jobId === job.id)?.runs).toBe(2);
    const adopted = logsOf(worker, 'adopted new credentials from the hub').filter((r) => r.storage === 'gcs');
    expect(adopted.map((r) => [r.decision, r.breakerWasOpen])).toEqual([['new-grant', true]]);
    expect(logsOf(worker, 'storage re-authenticated; running the waiting job').map((r) => r.jobId)).toEqual([job.id]);
    expect(loggedAt(runs[1]!)).toBeGreaterThanOrEqual(loggedAt(adopted[0]!));
    expect(runsOf(worker, other.id)).toHaveLength(1);
    expect(sandbox.hub.reports.find((r) => r.jobId === other.id && r.state === JobState.DoneSuccess)?.at).toBeGreaterThan(loggedAt(runs[1]!));
    expect(logsOf(worker, 'job finished').find((r) => r.jobId === other.id)?.runs).toBe(1);
    expect(logsOf(worker, 'job stopped for a re-run')).toEqual([]);
    expect(decisionNames(worker, 'gcs').filter((d) => d !== 'token-pushed' && d !== 'nothing-changed')).toEqual([]);
    expect(rcloneStarts(worker)).toBe(1);
    expect(isAlive(rclonePid)).toBe(true);

    // The old grant was refused once and never tried again; the re-run refreshed with the new one.
    expect(refreshesWith(sandbox, oldGrant.refreshToken).map((e) => e.status).filter((s) => s !== 200)).toEqual([400]);
    expect(refreshesWith(sandbox, oldGrant.refreshToken, reauthAt)).toEqual([]);
    expect(refreshesWith(sandbox, newGrant.refreshToken, reauthAt).filter((e) => e.status === 200).length).toBeGreaterThanOrEqual(1);
    // rclone gave up on the expired token itself; the stand-in never saw an invalid one.
    expect(sandbox.gcs.stats.unauthorized).toBe(0);
    const newUses = timeline.usesWhere((fp) => !oldGrantTokens.has(fp));
    const oldUses = timeline.usesWhere((fp) => oldGrantTokens.has(fp));
    expect(newUses.length).toBeGreaterThan(0);
    expect(Math.max(...oldUses)).toBeLessThan(reauthAt);
    expect(Math.min(...newUses)).toBeGreaterThanOrEqual(reauthAt);

    const stored = sandbox.gcs.objects('bucket');
    for (const [rel, bytes] of gcsFiles) expect(stored.get(`late/${rel}`)?.equals(bytes), rel).toBe(true);
    const ncStored = sandbox.webdav.files('alice');
    for (const [rel, bytes] of ncFiles) expect(ncStored.get(`backup/${rel}`)?.equals(bytes), rel).toBe(true);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
