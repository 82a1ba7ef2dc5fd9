/**
 * Every owned job ends with exactly one terminal report, whatever path it takes.
 */
import { describe, expect, it, vi } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import { RcError, ReauthRequiredError, TokenRefreshError } from '../../src/errors.js';
import { DROPBOX, Harness, LOCAL, NAS, ONEDRIVE, OWNER, SECOND, authFailureText, elapse, job, poll, settle, useJobRunnerHarnesses } from './job-runner-fakes.js';

const REAUTH_REASON = 'storage odAlice needs re-authentication: invalid_grant (AADSTS70008)';
const MINUTE = 60 * SECOND;

let h: Harness;

useJobRunnerHarnesses();

/** Finishes the current rclone job of a run and lets the next poll collect it. */
async function finishRun(jobId: number, run: number, outcome: { success: boolean; error?: string; transfers?: number }): Promise<void> {
  const rcloneJob = h.rclone.run(jobId, run);
  if (!rcloneJob) throw new Error(`job ${jobId} has no run ${run} in the current rclone`);
  h.rclone.finish(rcloneJob.id, outcome);
  await poll(h);
}

describe('JobRunner: rclone results', () => {
  it('reports a successful job DoneSuccess once, as its owner', async () => {
    h = new Harness();
    await h.startWith(job(1));

    await finishRun(1, 1, { success: true, transfers: 12 });
    await elapse(10 * MINUTE);

    expect(h.outbox.reports).toEqual([{ jobId: 1, owner: OWNER, state: JobState.DoneSuccess }]);
    expect(h.runner.ownedJobIds()).toEqual([]);
  });

  it('reports a job that failed after its own transfers DoneWithErrors with the first error line', async () => {
    h = new Harness();
    await h.startWith(job(1));

    await finishRun(1, 1, { success: false, error: 'failed to copy 2 files\nmore detail', transfers: 5 });

    expect(h.outbox.reports).toEqual([{ jobId: 1, owner: OWNER, state: JobState.DoneWithErrors, reason: 'failed to copy 2 files' }]);
  });

  it('reports a deterministic failure (source missing) DoneWithErrors at once: terminal at the hub, never re-run', async () => {
    h = new Harness();
    await h.startWith(job(1));

    await finishRun(1, 1, { success: false, error: 'directory not found' });
    await elapse(60 * MINUTE);

    expect(h.outbox.reports).toEqual([{ jobId: 1, owner: OWNER, state: JobState.DoneWithErrors, reason: 'not found: directory not found' }]);
    expect(h.rclone.run(1, 2)).toBeUndefined();
  });

  it('retries a transient failure with growing backoff, keeping the job heartbeated, and reports the run that succeeds once', async () => {
    h = new Harness();
    await h.startWith(job(1));

    await finishRun(1, 1, { success: false, error: 'Put "http://nc/dav/a": 503 Service Unavailable' });
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'waiting-retry', run: 1 }]);
    await elapse(30 * SECOND - 1);
    expect(h.rclone.run(1, 2)).toBeUndefined();
    await elapse(1);
    expect(h.rclone.run(1, 2)).toBeDefined();
    expect(h.hub.heartbeatsOf(1).length).toBeGreaterThanOrEqual(1);

    await finishRun(1, 2, { success: false, error: 'dial tcp 127.0.0.1:8080: connect: connection refused' });
    await elapse(60 * SECOND - 1);
    expect(h.rclone.run(1, 3)).toBeUndefined();
    await elapse(1);
    await finishRun(1, 3, { success: true, transfers: 3 });

    expect(h.outbox.reports).toEqual([{ jobId: 1, owner: OWNER, state: JobState.DoneSuccess }]);
  });

  it('hands a job back (DoneFailure) once its transient retries are spent, and does not run it again within the window', async () => {
    h = new Harness({ settings: { retries: 2, retrySeconds: 10, handbackWindowSeconds: 600 } });
    await h.startWith(job(1));
    for (let run = 1; run <= 3; run++) {
      await finishRun(1, run, { success: false, error: 'googleapi: Error 503: Backend Error, backendError' });
      await elapse(60 * SECOND);
    }
    expect(h.outbox.reports).toEqual([
      { jobId: 1, owner: OWNER, state: JobState.DoneFailure, reason: 'transient failures persist after 2 retries: googleapi: Error 503: Backend Error, backendError' },
    ]);

    // The real hub makes it Ready and hands it straight back: it goes back unrun.
    h.offer(job(1));
    h.runner.requestAcquire('NewJobAvailable');
    await settle();
    expect(h.rclone.run(1, 4)).toBeUndefined();
    expect(h.outbox.reports.map((r) => r.state)).toEqual([JobState.DoneFailure, JobState.DoneFailure]);

    // After the window it is this worker's to run again, with a fresh budget.
    await elapse(600 * SECOND);
    h.offer(job(1));
    h.runner.requestAcquire('NewJobAvailable');
    await settle();
    expect(h.rclone.jobs.size).toBe(4);
  });
});

describe('JobRunner: auth failures and re-authentication', () => {
  it('refreshes the token after an auth failure and re-runs the job; one report for the final run', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: LOCAL, destination: ONEDRIVE }));

    await finishRun(1, 1, { success: false, error: authFailureText('odAlice') });

    expect(h.tokens.forceRefreshed).toEqual([{ storageId: ONEDRIVE.id, cause: 'job 1 failed: invalid_grant' }]);
    expect(h.rclone.run(1, 2)).toMatchObject({ kind: 'copy', finished: false });
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(1);
    expect(h.outbox.reports).toEqual([]);

    await finishRun(1, 2, { success: true });
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });

  it('waits for re-authentication, then re-runs the job when the storage is re-authorized; one report', async () => {
    h = new Harness();
    h.tokens.failForceRefresh(ONEDRIVE.id, new ReauthRequiredError(ONEDRIVE.id, REAUTH_REASON));
    await h.startWith(job(1, { source: LOCAL, destination: ONEDRIVE }));

    await finishRun(1, 1, { success: false, error: authFailureText('odAlice') });
    expect(h.runner.describe()).toEqual([{ id: 1, phase: 'waiting-reauth', run: 1, waitReason: REAUTH_REASON }]);
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(0);

    // Still owned: heartbeated while it waits.
    const before = h.hub.heartbeatsOf(1).length;
    await elapse(h.settings.heartbeatSeconds * SECOND);
    expect(h.hub.heartbeatsOf(1).length).toBe(before + 1);

    h.runner.credentialsReplaced(DROPBOX.id);
    await settle();
    expect(h.rclone.run(1, 2)).toBeUndefined();

    h.runner.credentialsReplaced(ONEDRIVE.id);
    await settle();
    expect(h.rclone.run(1, 2)).toBeDefined();

    await finishRun(1, 2, { success: true });
    await elapse(h.settings.reauthWaitSeconds * SECOND);
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });

  it('reports DoneWithErrors (terminal, not re-queued) with the re-authentication reason when the wait runs out', async () => {
    h = new Harness();
    h.tokens.failForceRefresh(ONEDRIVE.id, new ReauthRequiredError(ONEDRIVE.id, REAUTH_REASON));
    await h.startWith(job(1, { source: LOCAL, destination: ONEDRIVE }));
    await finishRun(1, 1, { success: false, error: authFailureText('odAlice') });

    await elapse(h.settings.reauthWaitSeconds * SECOND - 1);
    expect(h.outbox.reports).toEqual([]);
    await elapse(1);

    expect(h.outbox.reports).toEqual([
      { jobId: 1, owner: OWNER, state: JobState.DoneWithErrors, reason: `re-authentication did not come in time: ${REAUTH_REASON}` },
    ]);
    h.runner.credentialsReplaced(ONEDRIVE.id);
    await elapse(10 * MINUTE);
    expect(h.outbox.reports).toHaveLength(1);
    expect(h.rclone.run(1, 2)).toBeUndefined();
  });

  it('waits for re-authentication when the just-in-time refresh finds the grant revoked', async () => {
    h = new Harness();
    h.tokens.failEnsureFresh(
      ONEDRIVE.id,
      new TokenRefreshError(ONEDRIVE.id, 'token endpoint answered invalid_grant', { permanent: true, oauthError: 'invalid_grant', httpStatus: 400 }),
    );
    await h.startWith(job(1, { source: LOCAL, destination: ONEDRIVE }));

    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'waiting-reauth', waitReason: 'token endpoint answered invalid_grant' }]);
    expect(h.rclone.jobs.size).toBe(0);

    h.runner.credentialsReplaced(ONEDRIVE.id);
    await settle();
    // Run 1 never reached rclone; run 2 does.
    await finishRun(1, 2, { success: true });
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });

  it('refreshes the token of the remote rclone names in a logged auth failure, then gives the job a fresh run on the reloaded remote', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: DROPBOX, destination: ONEDRIVE }));
    await elapse(5 * SECOND);

    h.runner.authSignal({ signature: 'invalid_grant', remote: 'odAlice' });
    await settle();

    expect(h.tokens.forceRefreshed).toEqual([{ storageId: ONEDRIVE.id, cause: 'rclone logged "invalid_grant"' }]);
    const at = (event: string) => h.events.indexOf(event);
    // Stop, reload (config/update: rclone's cached Fs with the failing token goes), fresh run.
    expect(at('stop job-1-run-1')).toBeGreaterThan(-1);
    expect(at('reload odAlice')).toBeGreaterThan(at('stop job-1-run-1'));
    expect(at('start copy dbAlice:docs/1 -> odAlice:backup/1 job-1-run-2')).toBeGreaterThan(at('reload odAlice'));
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'running', run: 2 }]);
    expect(h.outbox.reports).toEqual([]);
  });
});

describe('JobRunner: rclone restarts', () => {
  it('re-runs a job whose rclone exited once rclone is back; one report', async () => {
    h = new Harness();
    await h.startWith(job(1));

    h.rcloneDown();
    h.runner.rcloneLost();
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'interrupted', run: 1 }]);
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(0);
    await elapse(5 * MINUTE);

    const next = h.rcloneUp();
    expect(next.jobs.size).toBe(0);
    h.runner.start();
    await settle();
    expect(next.run(1, 2)).toMatchObject({ id: 1, kind: 'copy', finished: false });

    await finishRun(1, 2, { success: true });
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });

  it('hands the job back (DoneFailure) once when rclone exits more often than the retry budget (5) allows', async () => {
    h = new Harness();
    await h.startWith(job(1));
    for (let crash = 1; crash <= 5; crash++) {
      h.rcloneDown();
      h.runner.rcloneLost();
      h.rcloneUp();
      h.runner.start();
      await settle();
      expect(h.rclone.run(1, crash + 1)).toBeDefined();
    }
    expect(h.outbox.reports).toEqual([]);

    h.rcloneDown();
    h.runner.rcloneLost();
    await settle();
    expect(h.outbox.reports).toEqual([
      { jobId: 1, owner: OWNER, state: JobState.DoneFailure, reason: 'rclone exited during the job and its 5 retries are spent' },
    ]);

    h.rcloneUp();
    h.runner.start();
    await elapse(5 * MINUTE);
    expect(h.rclone.run(1, 7)).toBeUndefined();
    expect(h.outbox.reports).toHaveLength(1);
  });

  it('interruptAll stops the running jobs without reporting them; start() re-runs them', async () => {
    h = new Harness();
    await h.startWith(job(1), job(2, { source: LOCAL, destination: NAS }));

    // As the supervisor does: leaving Running pauses the runner, then the restart interrupts.
    h.runner.pause();
    await h.runner.interruptAll('storage odAlice re-authenticated');
    expect(h.rclone.calls.filter((c) => c.startsWith('job/stop'))).toEqual(['job/stop 1', 'job/stop 2']);
    expect(h.runner.describe().map((d) => d.phase)).toEqual(['interrupted', 'interrupted']);
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(0);

    h.rcloneDown();
    h.rcloneUp();
    h.runner.start();
    await settle();
    expect(h.rclone.run(1, 2)).toBeDefined();
    expect(h.rclone.run(2, 2)).toBeDefined();

    await finishRun(1, 2, { success: true });
    await finishRun(2, 2, { success: true });
    expect(h.outbox.reports.map((r) => [r.jobId, r.state])).toEqual([
      [1, JobState.DoneSuccess],
      [2, JobState.DoneSuccess],
    ]);
  });

  it('restartJobsOn stops only the jobs on the changed remote, then applies the change, then starts fresh runs', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: LOCAL, destination: ONEDRIVE }), job(2, { source: LOCAL, destination: NAS }));
    expect([...h.runner.remotesInUse()].sort()).toEqual(['localDisk', 'nasHome', 'odAlice']);
    const change = (what: string) => async () => {
      h.events.push(`change ${what}`);
    };

    expect(await h.runner.restartJobsOn(['dbAlice'], 'params changed', change('dbAlice'))).toEqual([]);
    h.events.length = 0;
    expect(await h.runner.restartJobsOn(['odAlice'], 'client secret changed', change('odAlice'))).toEqual([1]);
    await settle();

    // Stop first, then change (config/update clears rclone's Fs cache: a running dropbox/smb job would break), then run.
    expect(h.events).toEqual(['stop job-1-run-1', 'release 10', 'change odAlice', 'apply localDisk', 'ensureFresh 10', 'apply odAlice', 'lease 10', 'start copy localDisk:docs/1 -> odAlice:backup/1 job-1-run-2']);
    expect(h.rclone.calls.filter((c) => c.startsWith('job/stop'))).toEqual(['job/stop 1']);
    expect(h.runner.describe()).toEqual([
      { id: 1, phase: 'running', run: 2, waitReason: undefined },
      { id: 2, phase: 'running', run: 1, waitReason: undefined },
    ]);
    expect(h.outbox.reports).toEqual([]);

    await finishRun(1, 2, { success: true });
    await finishRun(2, 1, { success: true });
    expect([h.terminal(1), h.terminal(2)]).toEqual([[JobState.DoneSuccess], [JobState.DoneSuccess]]);
  });
});

describe('JobRunner: handing jobs back', () => {
  /** Job 1 running, job 2 waiting for re-authentication, job 3 waiting to retry its start. */
  async function threeJobsInThreePhases(): Promise<void> {
    h = new Harness({ settings: { maxJobs: 3 } });
    h.tokens.failEnsureFresh(ONEDRIVE.id, new ReauthRequiredError(ONEDRIVE.id, REAUTH_REASON));
    h.tokens.failEnsureFresh(DROPBOX.id, new TokenRefreshError(DROPBOX.id, 'token endpoint answered 503', { permanent: false, httpStatus: 503 }));
    await h.startWith(
      job(1, { source: LOCAL, destination: NAS }),
      job(2, { source: LOCAL, destination: ONEDRIVE }),
      job(3, { source: LOCAL, destination: DROPBOX }),
    );
    expect(h.runner.describe().map((d) => [d.id, d.phase])).toEqual([
      [1, 'running'],
      [2, 'waiting-reauth'],
      [3, 'waiting-retry'],
    ]);
  }

  it('surrender reports DoneFailure once for every owned job and stops the running ones', async () => {
    await threeJobsInThreePhases();

    await h.runner.surrender('job processing stopped by the operator');

    expect(h.rclone.calls).toContain('job/stop 1');
    expect(h.outbox.reports).toEqual(
      [1, 2, 3].map((jobId) => ({ jobId, owner: OWNER, state: JobState.DoneFailure, reason: 'job processing stopped by the operator' })),
    );
    expect(h.runner.ownedJobIds()).toEqual([]);

    await elapse(h.settings.reauthWaitSeconds * SECOND);
    expect(h.outbox.reports).toHaveLength(3);
    expect(h.rclone.jobs.size).toBe(1);
  });

  it('shutdown reports DoneFailure once for every owned job and stops heartbeats and acquisition', async () => {
    await threeJobsInThreePhases();
    const heartbeats = h.hub.reports.length;

    await h.runner.shutdown('worker shutting down (SIGTERM)');

    expect(h.outbox.reports.map((r) => [r.jobId, r.state])).toEqual([
      [1, JobState.DoneFailure],
      [2, JobState.DoneFailure],
      [3, JobState.DoneFailure],
    ]);
    await elapse(h.settings.reauthWaitSeconds * SECOND);
    expect(h.outbox.reports).toHaveLength(3);
    expect(h.hub.reports).toHaveLength(heartbeats);
    expect(h.hub.acquireCalls).toBe(3);
  });

  it('abort stops a running job and reports it Cancelled', async () => {
    h = new Harness();
    await h.startWith(job(1));

    expect(await h.runner.abort(1)).toBe(true);

    expect(h.rclone.job(1).stopped).toBe(true);
    expect(h.outbox.reports).toEqual([{ jobId: 1, owner: OWNER, state: JobState.Cancelled, reason: 'aborted' }]);
    await elapse(5 * MINUTE);
    expect(h.outbox.reports).toHaveLength(1);
    expect(await h.runner.abort(1)).toBe(false);
  });

  it('abort reports a job waiting outside rclone Cancelled', async () => {
    await threeJobsInThreePhases();

    expect(await h.runner.abort(2)).toBe(true);
    expect(await h.runner.abort(3)).toBe(true);
    await elapse(h.settings.reauthWaitSeconds * SECOND);

    expect(h.outbox.reports.map((r) => [r.jobId, r.state])).toEqual([
      [2, JobState.Cancelled],
      [3, JobState.Cancelled],
    ]);
  });
});

describe('JobRunner: jobs that cannot start', () => {
  it('reports DoneWithErrors for a job on a storage unknown even after reloading the storages', async () => {
    const reloadStorages = vi.fn(async () => undefined);
    h = new Harness({ reloadStorages });
    await h.startWith({ ...job(1), sourceEndpoint: { id: 101, storageId: 99, path: 'docs' } });

    expect(reloadStorages).toHaveBeenCalledTimes(1);
    expect(h.outbox.reports).toEqual([
      { jobId: 1, owner: OWNER, state: JobState.DoneWithErrors, reason: 'remote misconfigured: job 1: source storage 99 is unknown to the hub' },
    ]);
    expect(h.rclone.jobs.size).toBe(0);
  });

  it('runs a job on a storage the reload brings in', async () => {
    const created = { id: 99, technology: 'local', uriSchema: 'usbDisk' };
    h = new Harness({
      reloadStorages: async () => {
        h.catalog.rows.set(created.id, created);
      },
    });
    await h.startWith({ ...job(1), sourceEndpoint: { id: 101, storageId: 99, path: 'photos' } });

    expect(h.rclone.run(1, 1)).toMatchObject({ srcFs: 'usbDisk:photos', dstFs: 'odAlice:backup/1' });
  });

  it('retries a transient start failure with growing backoff, then hands the job back after the budget', async () => {
    h = new Harness();
    const failure = () => new RcError('sync/copy', 'failed to create file system: dial tcp: i/o timeout', 500);
    h.rclone.startFailures.push(...Array.from({ length: 20 }, failure));
    await h.startWith(job(1));
    expect(h.rclone.count('sync/copy')).toBe(1);
    expect(h.runner.describe()).toMatchObject([{ phase: 'waiting-retry', waitReason: 'failed to create file system: dial tcp: i/o timeout' }]);

    const delays = [30, 60, 120, 240, 480].map((s) => s * SECOND);
    for (const [i, delay] of delays.entries()) {
      await elapse(delay - 1);
      expect(h.rclone.count('sync/copy')).toBe(i + 1);
      await elapse(1);
      expect(h.rclone.count('sync/copy')).toBe(i + 2);
    }

    expect(h.outbox.reports).toEqual([
      {
        jobId: 1,
        owner: OWNER,
        state: JobState.DoneFailure,
        reason: 'transient failures persist after 5 retries: failed to create file system: dial tcp: i/o timeout',
      },
    ]);
    await elapse(10 * MINUTE);
    expect(h.rclone.count('sync/copy')).toBe(6);
    expect(h.outbox.reports).toHaveLength(1);
  });

  it('runs the job once a transient start failure clears', async () => {
    h = new Harness();
    h.rclone.startFailures.push(new RcError('sync/copy', 'internal error', 500));
    await h.startWith(job(1));

    await elapse(30 * SECOND);
    await finishRun(1, 2, { success: true });
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });
});
