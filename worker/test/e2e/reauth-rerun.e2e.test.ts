/**
 * When a running job's remote changes in a way rclone cannot take live (a Nextcloud password:
 * rclone's running job keeps the credentials it started with), the narrowest action is to re-run
 * only the jobs on that remote: the other running job is not touched and rclone is not restarted
 * (issue: "Re-authentication is applied with the least disruption, never by a blind restart").
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree, type LogRecord } from '../../../scripts/sandbox.js';
import { fingerprint } from '../../src/log/fingerprint.js';
import { decisionsFor, isAlive, loggedAt, rcloneStarts, runsOf } from './reauth-support.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

describe('a changed parameter of a remote in use', () => {
  it('re-runs only the jobs on that remote, without restarting rclone', { timeout: 180_000 }, async () => {
    const oldPassword = 'dave-e2e-password-old-3';
    const newPassword = 'dave-e2e-password-new-4';
    // Two slow jobs: 1.2 MB to Nextcloud at 60 kB/s, 0.8 MB to GCS at 40 kB/s (~20 s each).
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 60_000 }, gcs: { bytesPerSecond: 40_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'dave', oldPassword);
    const { storage: gcs } = sandbox.addGcsStorage('gcs');
    const ncSource = join(sandbox.dir, 'src-nc');
    const ncFiles = await makeTree(ncSource, 24, 50_000);
    const gcsSource = join(sandbox.dir, 'src-gcs');
    const gcsFiles = await makeTree(gcsSource, 20, 40_000);
    const toNextcloud = sandbox.addRule('to nextcloud', { storage: laptop, path: ncSource }, { storage: nextcloud, path: 'backup' });
    const toGcs = sandbox.addRule('to gcs', { storage: laptop, path: gcsSource }, { storage: gcs, path: 'bucket/backup' });

    const worker = sandbox.spawnWorker('a');
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    const affected = sandbox.hub.createJob(toNextcloud.id);
    const untouched = sandbox.hub.createJob(toGcs.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === affected.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === untouched.id);
    // Both jobs are well under way.
    const webdav = sandbox.webdav;
    await expect.poll(() => webdav.stats.bytesReceived, { timeout: 30_000, interval: 100 }).toBeGreaterThan(200_000);
    await expect.poll(() => sandbox!.gcs.stats.throttleDelayMs, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);

    // The password changes on the server (the old one stops working at once) and in the hub.
    expect(terminalReports(sandbox, untouched.id)).toEqual([]);
    sandbox.setWebdavPassword('dave', newPassword);
    const oldPasswordUses = webdav.stats.byPasswordFingerprint.get(fingerprint(oldPassword)) ?? 0;
    sandbox.hub.updateStorage(nextcloud.id, { password: newPassword });

    const [affectedReports, untouchedReports] = await Promise.all([
      waitForTerminalReport(sandbox, affected.id, 120_000),
      waitForTerminalReport(sandbox, untouched.id, 120_000),
    ]);
    expect(affectedReports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(untouchedReports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    // The other job was running through all of it.
    const untouchedEnd = sandbox.hub.reports.find((r) => r.jobId === untouched.id && r.state === JobState.DoneSuccess);
    expect(untouchedEnd?.at).toBeGreaterThan(loggedAt(decisionsFor(worker, 'nextcloud')[0]!));

    // One decision: re-run the jobs on the changed remote.
    const decisions = decisionsFor(worker, 'nextcloud');
    expect(decisions.map((r) => r.decision)).toEqual(['jobs-rerun']);
    expect(decisions[0]?.msg).toMatch(new RegExp(`changed pass cannot reach running jobs; re-ran jobs ${affected.id}\\)`));
    expect(decisionsFor(worker, 'gcs')).toEqual([]);

    // The affected job ran twice, the other once and was never stopped; rclone kept running.
    expect(runsOf(worker, affected.id).map((r) => r.run)).toEqual([1, 2]);
    expect(runsOf(worker, untouched.id).map((r) => r.run)).toEqual([1]);
    expect(logsOf(worker, 'job stopped for a re-run').map((r) => r.jobId)).toEqual([affected.id]);
    // In this order: the job stopped, then the remote updated (config/update clears rclone's Fs
    // cache, which would break a running job on backends with Shutdown: smb, sftp, ftp, dropbox),
    // then the re-run started.
    const at = (record: LogRecord | undefined) => (record === undefined ? -1 : worker.logs.indexOf(record));
    const stopped = at(logsOf(worker, 'job stopped for a re-run')[0]);
    const updated = at(logsOf(worker, 'remote updated').find((r) => r.remote === 'nextcloud'));
    expect(stopped).toBeGreaterThan(-1);
    expect(updated).toBeGreaterThan(stopped);
    expect(at(runsOf(worker, affected.id)[1])).toBeGreaterThan(updated);
    const finished = logsOf(worker, 'job finished');
    expect(finished.find((r) => r.jobId === affected.id)?.runs).toBe(2);
    expect(finished.find((r) => r.jobId === untouched.id)?.runs).toBe(1);
    expect(rcloneStarts(worker)).toBe(1);
    expect(isAlive(rclonePid)).toBe(true);

    // The re-run authenticated with the new password; the old one was never accepted again.
    expect(webdav.stats.byPasswordFingerprint.get(fingerprint(oldPassword))).toBe(oldPasswordUses);
    expect(webdav.stats.byPasswordFingerprint.get(fingerprint(newPassword))).toBeGreaterThan(0);
    expect(sandbox.gcs.stats.unauthorized).toBe(0);

    const ncStored = webdav.files('dave');
    for (const [rel, bytes] of ncFiles) expect(ncStored.get(`backup/${rel}`)?.equals(bytes), rel).toBe(true);
    const gcsStored = sandbox.gcs.objects('bucket');
    for (const [rel, bytes] of gcsFiles) expect(gcsStored.get(`backup/${rel}`)?.equals(bytes), rel).toBe(true);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
