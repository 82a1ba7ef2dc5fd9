/**
 * The worker machine once booted: WaitStart, Running and what leaves it (rclone crashes,
 * re-authentication restarts, the operator's STOP and START).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HOLD, elapse, expectRetryAfter, rejects, settle, startWorker, stopWorkers, type WorkerFakes } from './worker-harness.js';
import { DEFAULT_TIMING } from '../../src/supervisor/machine.js';

const rcloneExited = { type: 'RCLONE.EXITED', code: 1, signal: null } as const;

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  stopWorkers();
  vi.useRealTimers();
});

/** A worker that has booted into Running. */
async function runningWorker(script?: (fakes: WorkerFakes) => void) {
  const worker = startWorker(DEFAULT_TIMING, script);
  await settle();
  expect(worker.state()).toBe('Running');
  return worker;
}

describe('Running', () => {
  it('forwards HUB.NEW_JOB and HUB.STORAGE_REAUTHENTICATED to the job runner, in order', async () => {
    const worker = await runningWorker();
    worker.actor.send({ type: 'HUB.STORAGE_REAUTHENTICATED', uriSchema: 'onedrive' });
    worker.actor.send({ type: 'HUB.NEW_JOB' });
    worker.actor.send({ type: 'HUB.NEW_JOB' });
    await settle();
    expect(worker.fakes.jobs.received).toEqual([
      { type: 'HUB.STORAGE_REAUTHENTICATED', uriSchema: 'onedrive' },
      { type: 'HUB.NEW_JOB' },
      { type: 'HUB.NEW_JOB' },
    ]);
    expect(worker.state()).toBe('Running');
    expect(worker.context().deferred).toEqual([]);
  });

  it('takes START as a no-op and drops CONFIG.CHANGED, deferring neither', async () => {
    const worker = await runningWorker();
    worker.actor.send({ type: 'START' });
    worker.actor.send({ type: 'CONFIG.CHANGED' });
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.context().deferred).toEqual([]);
    expect(worker.fakes.jobs.started).toBe(1);
  });

  it('on RCLONE.EXITED marks jobs lost, stops the runner and restarts rclone after the crash backoff', async () => {
    const worker = await runningWorker();
    worker.actor.send(rcloneExited);
    expect(worker.state()).toBe('StartRCloneProcess.Backoff');
    expect(worker.fakes.rcloneLost).toHaveBeenCalledTimes(1);
    await settle();
    expect(worker.fakes.jobs.stopped).toBe(1);

    await expectRetryAfter(worker.fakes.startRclone, 1000);
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.jobs.started).toBe(2);
  });

  it('grows the crash backoff on repeated crashes and resets it after a long healthy run', async () => {
    const worker = await runningWorker();
    for (const delay of [1000, 2000, 4000, 8000]) {
      worker.actor.send(rcloneExited);
      await expectRetryAfter(worker.fakes.startRclone, delay);
      expect(worker.state()).toBe('Running');
    }

    // Healthy for just under resetAfterMs: still counts as a crash loop.
    await elapse(DEFAULT_TIMING.rcloneBackoff.resetAfterMs - 1);
    worker.actor.send(rcloneExited);
    await expectRetryAfter(worker.fakes.startRclone, 16_000);

    await elapse(DEFAULT_TIMING.rcloneBackoff.resetAfterMs);
    worker.actor.send(rcloneExited);
    expect(worker.context().rcloneCrashes).toBe(1);
    await expectRetryAfter(worker.fakes.startRclone, 1000);
    expect(worker.fakes.rcloneLost).toHaveBeenCalledTimes(6);
  });

  it('caps the crash backoff at maxMs', async () => {
    const timing = { stepBackoff: DEFAULT_TIMING.stepBackoff, rcloneBackoff: { initialMs: 100, maxMs: 250, resetAfterMs: 60_000 } };
    const worker = startWorker(timing);
    await settle();
    for (const delay of [100, 200, 250, 250]) {
      worker.actor.send(rcloneExited);
      await expectRetryAfter(worker.fakes.startRclone, delay);
    }
  });
});

describe('RestartingForReauth', () => {
  it('on REAUTH.RESTART stops the runner, restarts with the reason and logs the backends in again', async () => {
    const worker = await runningWorker((f) => f.restartForReauth.next(HOLD));
    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'storage onedrive re-authenticated' });
    await settle();
    expect(worker.state()).toBe('RestartingForReauth');
    expect(worker.fakes.restartForReauth.inputs).toEqual([{ reason: 'storage onedrive re-authenticated' }]);
    expect(worker.fakes.jobs.stopped).toBe(1);

    worker.fakes.loginBackends.next(HOLD);
    worker.fakes.restartForReauth.release();
    await settle();
    expect(worker.state()).toBe('BackendsLoggingIn.Attempt');
    expect(worker.fakes.loginBackends.calls).toBe(2);

    worker.fakes.loginBackends.release();
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.jobs.started).toBe(2);
  });

  it('goes on to BackendsLoggingIn when the restart fails, and says so', async () => {
    const worker = await runningWorker((f) => f.restartForReauth.next(HOLD));
    worker.fakes.loginBackends.next(HOLD);
    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'token revoked' });
    await settle();
    expect(worker.state()).toBe('RestartingForReauth');

    worker.fakes.restartForReauth.fail(new Error('rclone did not stop'));
    await settle();
    expect(worker.state()).toBe('BackendsLoggingIn.Attempt');
    expect(worker.fakes.failures).toEqual([{ step: 'RestartingForReauth', error: 'rclone did not stop' }]);
    expect(worker.errors).toEqual([]);
  });

  it('expects rclone to exit and ignores a second REAUTH.RESTART meanwhile', async () => {
    const worker = await runningWorker((f) => f.restartForReauth.next(HOLD));
    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'first' });
    worker.actor.send(rcloneExited);
    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'second' });
    await settle();
    expect(worker.state()).toBe('RestartingForReauth');
    expect(worker.context()).toMatchObject({ deferred: [], rcloneCrashes: 0 });
    expect(worker.fakes.rcloneLost).not.toHaveBeenCalled();

    worker.fakes.restartForReauth.release();
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.restartForReauth.calls).toBe(1);
  });
});

describe('STOP and START', () => {
  it('STOP stops the jobs in WaitStop, then WaitStart stays put until START runs them again', async () => {
    const worker = await runningWorker((f) => f.stopJobs.next(HOLD));
    worker.actor.send({ type: 'STOP' });
    await settle();
    expect(worker.state()).toBe('WaitStop');
    expect(worker.context().userStopped).toBe(true);

    worker.fakes.stopJobs.release();
    await settle();
    expect(worker.state()).toBe('WaitStart');
    await elapse(60 * 60_000);
    expect(worker.state()).toBe('WaitStart');
    expect(worker.fakes.jobs).toMatchObject({ started: 1, stopped: 1 });

    worker.actor.send({ type: 'START' });
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.context().userStopped).toBe(false);
    expect(worker.fakes.jobs.started).toBe(2);
  });

  it('reaches WaitStart even when stopping the jobs fails', async () => {
    const worker = await runningWorker((f) => f.stopJobs.next(rejects(new Error('hub did not take the report'))));
    worker.actor.send({ type: 'STOP' });
    await settle();
    expect(worker.state()).toBe('WaitStart');
    expect(worker.fakes.failures).toEqual([{ step: 'WaitStop', error: 'hub did not take the report' }]);
    expect(worker.errors).toEqual([]);
  });

  it('WaitStart keeps a second STOP as a no-op and holds job events until START', async () => {
    const worker = await runningWorker();
    worker.actor.send({ type: 'STOP' });
    await settle();
    expect(worker.state()).toBe('WaitStart');

    worker.actor.send({ type: 'STOP' });
    worker.actor.send({ type: 'HUB.NEW_JOB' });
    await settle();
    expect(worker.state()).toBe('WaitStart');
    expect(worker.context().deferred).toEqual([{ type: 'HUB.NEW_JOB' }]);

    worker.actor.send({ type: 'START' });
    await settle();
    expect(worker.fakes.jobs.received).toEqual([{ type: 'HUB.NEW_JOB' }]);
    expect(worker.context().deferred).toEqual([]);
  });

  it('restarts rclone that exits in WaitStart and stays stopped afterwards', async () => {
    const worker = await runningWorker();
    worker.actor.send({ type: 'STOP' });
    await settle();
    worker.actor.send(rcloneExited);
    expect(worker.state()).toBe('StartRCloneProcess.Backoff');
    expect(worker.fakes.rcloneLost).toHaveBeenCalledTimes(1);

    await expectRetryAfter(worker.fakes.startRclone, 1000);
    expect(worker.state()).toBe('WaitStart');
    expect(worker.fakes.jobs.started).toBe(1);
  });

  it('restarts rclone that exits in WaitStop, abandoning the stop, and stays stopped afterwards', async () => {
    const worker = await runningWorker((f) => f.stopJobs.next(HOLD));
    worker.actor.send({ type: 'STOP' });
    await settle();
    worker.actor.send(rcloneExited);
    expect(worker.state()).toBe('StartRCloneProcess.Backoff');
    expect(worker.fakes.rcloneLost).toHaveBeenCalledTimes(1);

    worker.fakes.stopJobs.release();
    await expectRetryAfter(worker.fakes.startRclone, 1000);
    expect(worker.state()).toBe('WaitStart');
  });
});
