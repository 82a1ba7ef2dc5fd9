/**
 * Runs that overlap with the supervisor's moves: a start still in flight when rclone goes
 * away, a stop racing the poll that collects the same rclone job.
 */
import { describe, expect, it } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import { Deferred, Harness, ONEDRIVE, elapse, job, poll, settle, useJobRunnerHarnesses } from './job-runner-fakes.js';

let h: Harness;

useJobRunnerHarnesses();

describe('JobRunner races', () => {
  it('re-runs a job whose start was in flight when the runner paused for an rclone restart', async () => {
    h = new Harness();
    const refresh = new Deferred();
    h.tokens.ensureFreshGate = refresh;
    await h.startWith(job(1));
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'starting' }]);

    // RestartingForReauth: the runner is paused, running jobs interrupted, rclone restarted.
    h.runner.pause();
    await h.runner.interruptAll('storage odAlice re-authenticated');
    h.rcloneDown();
    h.tokens.ensureFreshGate = undefined;
    refresh.resolve();
    await settle();
    const next = h.rcloneUp();
    h.runner.start();
    await settle();

    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'running' }]);
    expect(next.jobs.size).toBe(1);
    next.finish([...next.jobs.keys()][0]!, { success: true });
    await poll(h);
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });

  it('starts one run only when rclone came back while a just-in-time refresh was still running', async () => {
    h = new Harness();
    const refresh = new Deferred();
    h.tokens.ensureFreshGate = refresh;
    await h.startWith(job(1));

    h.rcloneDown();
    h.runner.rcloneLost();
    const next = h.rcloneUp();
    h.runner.start();
    await settle();
    h.tokens.ensureFreshGate = undefined;
    refresh.resolve();
    await settle();
    // Long enough for a start retry (2 s), short of the stall limit.
    await elapse(60_000);

    expect(next.jobs.size).toBe(1);
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(1);
    next.finish([...next.jobs.keys()][0]!, { success: true });
    await poll(h);
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(0);
  });

  it('collects a run once when a stop for a re-run races the poll reading the same rclone job', async () => {
    h = new Harness();
    await h.startWith(job(1));

    const status = new Deferred();
    h.rclone.statusGate = status;
    await poll(h); // the poll now waits for job/status 1
    const rerun = h.runner.restartJobsOn(['odAlice'], 'client secret changed', async () => undefined);
    await settle();
    h.rclone.statusGate = undefined;
    status.resolve();
    expect(await rerun).toEqual([1]);
    await settle();

    expect(h.outbox.reports).toEqual([]);
    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'running' }]);
    const live = [...h.rclone.jobs.values()].filter((j) => !j.finished);
    expect(live).toHaveLength(1);
    expect(h.tokens.leases(ONEDRIVE.id)).toBe(1);

    h.rclone.finish(live[0]!.id, { success: true });
    await poll(h);
    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
  });
});
