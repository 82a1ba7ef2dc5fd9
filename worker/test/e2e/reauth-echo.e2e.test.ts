/**
 * `StorageReauthenticated` that changes nothing costs nothing: the echo of the worker's own token
 * save is recognised as such, and a burst of announcements for one storage is handled once
 * (issue: "Re-authentication is applied with the least disruption, never by a blind restart").
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { delay } from '../../../scripts/standins/http-util.js';
import { HubMethods } from '../../../shared/hannibal.js';
import { fingerprint } from '../../src/log/fingerprint.js';
import { decisionsFor, decisionNames, isAlive, rcloneStarts, runsOf } from './reauth-support.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

describe('re-authentication announcements that change nothing', () => {
  it('ignores the echo of the worker’s own token saves: no push, no restart, no re-run', { timeout: 120_000 }, async () => {
    // 20 s tokens: the worker refreshes and saves every ~7 s while the ~20 s job runs.
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: 20, bytesPerSecond: 40_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs } = sandbox.addGcsStorage('gcs');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 20, 40_000);
    const rule = sandbox.addRule('to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'bucket/echo' });

    const worker = sandbox.spawnWorker('a');
    await worker.waitForLog((r) => r.msg === 'connected to the hub');
    const ready = await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    const jobCreatedAt = Date.now();
    const job = sandbox.hub.createJob(rule.id);
    expect(await waitForTerminalReport(sandbox, job.id, 90_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    // The worker's saves during the job each made the hub announce a re-authentication …
    const echoes = sandbox.hub.storagePuts.filter((p) => p.id === gcs.id && p.broadcast && p.at >= jobCreatedAt);
    expect(echoes.length).toBeGreaterThanOrEqual(2);
    // … and each was judged "nothing changed".
    await expect.poll(() => decisionsFor(worker, 'gcs').length, { timeout: 10_000, interval: 100 }).toBeGreaterThanOrEqual(echoes.length);
    expect(new Set(decisionNames(worker, 'gcs'))).toEqual(new Set(['nothing-changed']));

    // No push beyond the one that goes with each refresh since rclone runs, no adoption, no
    // re-run, no restart.
    const sinceReady = (msg: string): unknown[] =>
      logsOf(worker, msg).filter((r) => (r.storage === 'gcs' || r.remote === 'gcs') && worker.logs.indexOf(r) > worker.logs.indexOf(ready));
    expect(sinceReady('token refreshed').length).toBeGreaterThanOrEqual(echoes.length);
    expect(sinceReady('token pushed to rclone')).toHaveLength(sinceReady('token refreshed').length);
    expect(logsOf(worker, 'remote updated')).toEqual([]);
    expect(worker.find((r) => typeof r.msg === 'string' && r.msg.startsWith('adopted'))).toEqual([]);
    expect(runsOf(worker, job.id)).toHaveLength(1);
    expect(logsOf(worker, 'job stopped for a re-run')).toEqual([]);
    expect(rcloneStarts(worker)).toBe(1);
    expect(isAlive(rclonePid)).toBe(true);
    const stored = sandbox.gcs.objects('bucket');
    for (const [rel, bytes] of files) expect(stored.get(`echo/${rel}`)?.equals(bytes), rel).toBe(true);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });

  it('handles a burst of 50 announcements for one storage, one of them a real change, with one fetch and one apply', { timeout: 120_000 }, async () => {
    const sandbox = await startSandbox();
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs, grant: oldGrant } = sandbox.addGcsStorage('gcs');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 10, 5_000);
    const rule = sandbox.addRule('to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'bucket/burst' });

    const worker = sandbox.spawnWorker('a');
    await worker.waitForLog((r) => r.msg === 'connected to the hub');
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    // 50 announcements ~10 ms apart; the 25th is a real re-authentication (a new grant).
    const burstStartedAt = Date.now();
    let newGrant: ReturnType<typeof sandbox.gcs.issueGrant> | undefined;
    for (let i = 0; i < 50; i++) {
      if (i === 24) {
        newGrant = sandbox.gcs.issueGrant();
        sandbox.hub.updateStorage(gcs.id, {
          accessToken: newGrant.accessToken,
          refreshToken: newGrant.refreshToken,
          expiresAt: newGrant.expiresAt.toISOString(),
        });
      } else {
        sandbox.hub.broadcast(HubMethods.storageReauthenticated, 'gcs');
      }
      await delay(10);
    }
    await worker.waitForLog((r) => r.component === 'reauth' && r.storage === 'gcs');
    // A marker for another storage, sent after the burst was handled: once it is handled too,
    // anything left over from the burst would have been handled before or with it.
    const markerSentAt = Date.now();
    sandbox.hub.broadcast(HubMethods.storageReauthenticated, 'laptop');
    await worker.waitForLog((r) => r.component === 'reauth' && r.storage === 'laptop');

    expect(decisionNames(worker, 'gcs')).toEqual(['token-pushed']);
    expect(decisionNames(worker, 'laptop')).toEqual(['nothing-changed']);
    expect(sandbox.hub.storageFetches.filter((at) => at >= burstStartedAt && at < markerSentAt)).toHaveLength(1);
    expect(rcloneStarts(worker)).toBe(1);
    expect(isAlive(rclonePid)).toBe(true);

    // The one apply put the new grant's token into rclone: a job now uses it, not the old one.
    const job = sandbox.hub.createJob(rule.id);
    expect(await waitForTerminalReport(sandbox, job.id, 60_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    const byToken = sandbox.gcs.stats.requestsByAccessToken;
    expect(byToken.get(fingerprint(newGrant!.accessToken))).toBeGreaterThan(0);
    expect(byToken.get(fingerprint(oldGrant.accessToken)) ?? 0).toBe(0);
    const stored = sandbox.gcs.objects('bucket');
    for (const [rel, bytes] of files) expect(stored.get(`burst/${rel}`)?.equals(bytes), rel).toBe(true);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
