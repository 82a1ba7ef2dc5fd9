import { describe, expect, it } from 'vitest';
import { JobState, RuleOperation } from '../../../shared/hannibal.js';
import { ReauthRequiredError } from '../../src/errors.js';
import { DROPBOX, Harness, LOCAL, NAS, ONEDRIVE, OWNER, SECOND, elapse, job, poll, useJobRunnerHarnesses } from './job-runner-fakes.js';

let h: Harness;

useJobRunnerHarnesses();

describe('JobRunner: a run of a job', () => {
  it('refreshes OAuth tokens just in time, applies the remotes, leases the tokens, then starts the copy', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: LOCAL, sourcePath: 'home/alice', destination: ONEDRIVE, destinationPath: 'Backup/home' }));

    expect(h.events).toEqual([
      'apply localDisk',
      'ensureFresh 10',
      'apply odAlice',
      'lease 10',
      'start copy localDisk:home/alice -> odAlice:Backup/home job-1-run-1',
    ]);
    const rcloneJob = h.rclone.run(1, 1)!;
    expect(rcloneJob.options).toMatchObject({
      group: 'job-1-run-1',
      config: { Retries: 3 },
      createEmptySrcDirs: true,
      filter: { ExcludeRule: expect.arrayContaining(['_backer', '.DS_Store']) as unknown },
    });
    expect(h.runner.describe()).toEqual([{ id: 1, phase: 'running', run: 1, waitReason: undefined }]);
  });

  it('releases the token leases and the stats group when the job ends', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: DROPBOX, destination: ONEDRIVE }));
    expect(h.events.filter((e) => e.startsWith('ensureFresh') || e.startsWith('lease'))).toEqual([
      'ensureFresh 11',
      'ensureFresh 10',
      'lease 11',
      'lease 10',
    ]);
    expect([h.tokens.leases(10), h.tokens.leases(11)]).toEqual([1, 1]);

    h.rclone.finish(1, { success: true, transfers: 4 });
    await poll(h);

    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
    expect([h.tokens.leases(10), h.tokens.leases(11)]).toEqual([0, 0]);
    expect(h.rclone.calls).toContain('core/stats-delete job-1-run-1');
  });

  it('takes no lease and no token refresh for storages without OAuth', async () => {
    h = new Harness();
    await h.startWith(job(1, { source: LOCAL, destination: NAS }));

    expect(h.events).toEqual(['apply localDisk', 'apply nasHome', 'start copy localDisk:docs/1 -> nasHome:backup/1 job-1-run-1']);
  });

  it('chooses sync/sync for Sync and an rc/noop for Nop', async () => {
    h = new Harness({ settings: { maxJobs: 3 } });
    await h.startWith(job(1, { operation: RuleOperation.Sync }), job(2, { operation: RuleOperation.Nop }), job(3));

    expect(h.rclone.run(1, 1)?.kind).toBe('sync');
    expect(h.rclone.run(2, 1)?.kind).toBe('noop');
    expect(h.rclone.run(3, 1)?.kind).toBe('copy');

    await poll(h);
    expect(h.terminal(2)).toEqual([JobState.DoneSuccess]);
    expect(h.runner.ownedJobIds()).toEqual([1, 3]);
  });

  it("polls rclone 1.60 (no runningIds) with one job/list, then one job/status per running job per cycle", async () => {
    h = new Harness();
    await h.startWith(job(1), job(2));

    await elapse(12 * h.settings.pollSeconds * SECOND);

    expect(h.rclone.count('job/list')).toBe(1);
    expect(h.rclone.count('job/status 1')).toBe(12);
    expect(h.rclone.count('job/status 2')).toBe(12);
  });

  it('asks job/status only for jobs that left the running set when rclone reports runningIds', async () => {
    h = new Harness();
    h.rclone.reportsRunningIds = true;
    await h.startWith(job(1), job(2));

    await elapse(3 * h.settings.pollSeconds * SECOND);
    expect(h.rclone.count('job/list')).toBe(3);
    expect(h.rclone.count('job/status')).toBe(0);

    h.rclone.finish(2, { success: true });
    await poll(h);
    expect(h.rclone.calls.filter((c) => c.startsWith('job/status'))).toEqual(['job/status 2']);
    expect(h.terminal(2)).toEqual([JobState.DoneSuccess]);
  });

  it('samples core/stats of each job only once per heartbeat interval', async () => {
    h = new Harness();
    await h.startWith(job(1), job(2));

    // Polls every 5 s for 60 s; samples at the first poll and then every 30 s.
    await elapse(60 * SECOND);

    expect(h.rclone.count('core/stats job-1-run-1')).toBe(2);
    expect(h.rclone.count('core/stats job-2-run-1')).toBe(2);
    expect(h.rclone.count('core/stats')).toBe(4);
    expect(h.log.records.filter((r) => r.msg === 'job progress' && r.jobId === 1)).toHaveLength(2);
  });

  it('keeps a job that makes progress, however long it runs', async () => {
    h = new Harness();
    await h.startWith(job(1));
    for (let minute = 1; minute <= 20; minute++) {
      h.rclone.progress(1, { bytes: minute * 1_000_000, checks: minute });
      await elapse(60 * SECOND);
    }

    expect(h.rclone.count('job/stop')).toBe(0);
    expect(h.runner.describe()[0]).toMatchObject({ phase: 'running', run: 1 });
  });

  it('stops a job that made no progress for stallSeconds and re-runs it, without reporting it', async () => {
    h = new Harness();
    await h.startWith(job(1));
    h.rclone.progress(1, { bytes: 4096, transfers: 1 });

    await elapse(h.settings.stallSeconds * SECOND);
    expect(h.rclone.count('job/stop')).toBe(0);

    await elapse((h.settings.heartbeatSeconds + h.settings.pollSeconds) * SECOND);
    expect(h.rclone.calls).toContain('job/stop 1');
    expect(h.rclone.run(1, 2)).toMatchObject({ kind: 'copy', finished: false });
    expect(h.rclone.calls).toContain('core/stats-delete job-1-run-1');
    expect(h.runner.describe()).toEqual([{ id: 1, phase: 'running', run: 2, waitReason: undefined }]);
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(1);
    expect(h.outbox.reports).toEqual([]);

    h.rclone.finish(h.rclone.run(1, 2)!.id, { success: true });
    await poll(h);
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });
});

describe('JobRunner: heartbeats', () => {
  it('reports Executing for every owned job every heartbeatSeconds', async () => {
    h = new Harness();
    await h.startWith(job(1), job(2));

    await elapse(h.settings.heartbeatSeconds * SECOND - 1);
    expect(h.hub.reports).toEqual([]);
    await elapse(1);
    expect(h.hub.reports).toEqual([
      { jobId: 1, owner: OWNER, state: JobState.Executing },
      { jobId: 2, owner: OWNER, state: JobState.Executing },
    ]);

    await elapse(h.settings.heartbeatSeconds * SECOND);
    expect(h.hub.reports).toHaveLength(4);
  });

  it('keeps heartbeating while rclone is down and while paused', async () => {
    h = new Harness();
    await h.startWith(job(1));

    h.rcloneDown();
    h.runner.rcloneLost();
    await elapse(h.settings.heartbeatSeconds * SECOND);
    expect(h.hub.heartbeatsOf(1)).toHaveLength(1);

    h.runner.pause();
    await elapse(h.settings.heartbeatSeconds * SECOND);
    expect(h.hub.heartbeatsOf(1)).toHaveLength(2);
    expect(h.hub.reports.every((r) => r.state === JobState.Executing)).toBe(true);
  });

  it('abandons a running job the hub answers -1 for: stops it in rclone and reports nothing', async () => {
    h = new Harness();
    await h.startWith(job(1), job(2, { source: LOCAL, destination: NAS }));
    h.hub.unknownJobs.add(1);

    await elapse(h.settings.heartbeatSeconds * SECOND);

    expect(h.rclone.calls).toContain('job/stop 1');
    expect(h.rclone.job(1).stopped).toBe(true);
    expect(h.rclone.job(2).stopped).toBe(false);
    expect(h.runner.ownedJobIds()).toEqual([2]);
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(0);

    await elapse(10 * h.settings.heartbeatSeconds * SECOND);
    expect(h.outbox.reports).toEqual([]);
    expect(h.hub.heartbeatsOf(1)).toHaveLength(1);
    expect(h.rclone.run(1, 2)).toBeUndefined();
  });

  it('abandons a job waiting for re-authentication the hub answers -1 for', async () => {
    h = new Harness();
    h.tokens.failEnsureFresh(ONEDRIVE.id, new ReauthRequiredError(ONEDRIVE.id, 'storage odAlice needs re-authentication: invalid_grant'));
    await h.startWith(job(1));
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'waiting-reauth' }]);
    h.hub.unknownJobs.add(1);

    await elapse(h.settings.heartbeatSeconds * SECOND);
    expect(h.runner.ownedJobIds()).toEqual([]);

    h.runner.credentialsReplaced(ONEDRIVE.id);
    await elapse(h.settings.reauthWaitSeconds * SECOND);
    expect(h.rclone.jobs.size).toBe(0);
    expect(h.outbox.reports).toEqual([]);
  });
});
