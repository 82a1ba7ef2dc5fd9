/**
 * No event is lost: an event that arrives in a state that cannot take it yet is deferred and
 * handled by the next state that can; duplicates coalesce.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubError } from '../../src/errors.js';
import { HOLD, expectRetryAfter, rejects, settle, startWorker, stopWorkers } from './worker-harness.js';

const reauthenticated = (uriSchema: string) => ({ type: 'HUB.STORAGE_REAUTHENTICATED', uriSchema }) as const;
const newJob = { type: 'HUB.NEW_JOB' } as const;

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  stopWorkers();
  vi.useRealTimers();
});

describe('deferred hub events', () => {
  it('are kept through boot and delivered to the job runner in order once Running, duplicates once', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkOnline.next(HOLD);
      f.loginBackends.next(HOLD);
      f.startRclone.next(HOLD);
    });
    await settle();
    expect(worker.state()).toBe('CheckOnline.Attempt');
    worker.actor.send(reauthenticated('a'));
    worker.actor.send(newJob);
    expect(worker.context().deferred).toEqual([reauthenticated('a'), newJob]);

    worker.fakes.checkOnline.release();
    await settle();
    expect(worker.state()).toBe('BackendsLoggingIn.Attempt');
    worker.actor.send(reauthenticated('a'));
    worker.actor.send(reauthenticated('b'));

    worker.fakes.loginBackends.release();
    await settle();
    expect(worker.state()).toBe('StartRCloneProcess.Spawn');
    worker.actor.send(newJob);
    expect(worker.context().deferred).toEqual([reauthenticated('a'), newJob, reauthenticated('b')]);
    expect(worker.fakes.jobs.received).toEqual([]);

    worker.fakes.startRclone.release();
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.jobs.received).toEqual([reauthenticated('a'), newJob, reauthenticated('b')]);
    expect(worker.context().deferred).toEqual([]);
  });

  it('are kept through WaitConfig and backoff states', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkConfig.next(rejects(new Error('no state directory')));
      f.checkOnline.next(rejects(new HubError('hub down', 503)));
    });
    await settle();
    expect(worker.state()).toBe('WaitConfig');
    worker.actor.send(reauthenticated('gdrive'));

    await expectRetryAfter(worker.fakes.checkConfig, 1000);
    expect(worker.state()).toBe('CheckOnline.Backoff');
    worker.actor.send(newJob);

    await expectRetryAfter(worker.fakes.checkOnline, 2000);
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.jobs.received).toEqual([reauthenticated('gdrive'), newJob]);
  });

  it('are bounded: past 1000 distinct events, more are dropped', async () => {
    const worker = startWorker(undefined, (f) => f.checkOnline.next(HOLD));
    await settle();
    for (let i = 0; i < 1005; i += 1) worker.actor.send(reauthenticated(`storage${i}`));
    expect(worker.context().deferred).toHaveLength(1000);
    expect(worker.context().deferred.at(-1)).toEqual(reauthenticated('storage999'));
  });
});

describe('events that are not deferred', () => {
  it('RCLONE.EXITED and CONFIG.CHANGED during boot are dropped, not replayed on Running', async () => {
    const worker = startWorker(undefined, (f) => f.checkOnline.next(HOLD));
    await settle();
    worker.actor.send({ type: 'RCLONE.EXITED', code: 1, signal: null });
    worker.actor.send({ type: 'CONFIG.CHANGED' });
    expect(worker.context().deferred).toEqual([]);

    worker.fakes.checkOnline.release();
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.rcloneLost).not.toHaveBeenCalled();
    expect(worker.context().rcloneCrashes).toBe(0);
    expect(worker.fakes.startRclone.calls).toBe(1);
    expect(worker.fakes.checkConfig.calls).toBe(1);
  });
});

describe('a deferred REAUTH.RESTART', () => {
  it('restarts once Running, once; events deferred behind it wait for the next Running', async () => {
    const worker = startWorker(undefined, (f) => {
      f.loginBackends.next(HOLD);
      f.restartForReauth.next(HOLD);
    });
    await settle();
    expect(worker.state()).toBe('BackendsLoggingIn.Attempt');
    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'storage onedrive re-authenticated' });
    worker.actor.send(newJob);
    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'storage onedrive re-authenticated again' });
    expect(worker.context().deferred).toHaveLength(2);

    worker.fakes.loginBackends.release();
    await settle();
    expect(worker.state()).toBe('RestartingForReauth');
    expect(worker.fakes.restartForReauth.inputs).toEqual([{ reason: 'storage onedrive re-authenticated' }]);
    expect(worker.fakes.jobs.received).toEqual([]);
    expect(worker.context().deferred).toEqual([newJob]);

    worker.fakes.restartForReauth.release();
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.restartForReauth.calls).toBe(1);
    expect(worker.fakes.jobs.received).toEqual([newJob]);
  });
});

describe('deferred START and STOP', () => {
  it('a STOP during boot stops job processing once booted; START runs it', async () => {
    const worker = startWorker(undefined, (f) => f.checkOnline.next(HOLD));
    await settle();
    worker.actor.send({ type: 'STOP' });
    worker.fakes.checkOnline.release();
    await settle();
    expect(worker.state()).toBe('WaitStart');
    expect(worker.context().userStopped).toBe(true);
    expect(worker.fakes.stopJobs.calls).toBe(1);

    worker.actor.send({ type: 'START' });
    await settle();
    expect(worker.state()).toBe('Running');
  });

  it.each([
    { sequence: ['STOP', 'START', 'STOP'] as const, expected: 'WaitStart' },
    { sequence: ['START', 'STOP', 'START'] as const, expected: 'Running' },
    { sequence: ['STOP', 'START'] as const, expected: 'Running' },
  ])('the last of $sequence during boot wins ($expected)', async ({ sequence, expected }) => {
    const worker = startWorker(undefined, (f) => f.checkOnline.next(HOLD));
    await settle();
    for (const type of sequence) worker.actor.send({ type });
    worker.fakes.checkOnline.release();
    await settle();
    expect(worker.state()).toBe(expected);
    expect(worker.context().deferred).toEqual([]);
  });

  it('a START while the jobs are being stopped runs them again afterwards', async () => {
    const worker = startWorker(undefined, (f) => f.stopJobs.next(HOLD));
    await settle();
    worker.actor.send({ type: 'STOP' });
    await settle();
    expect(worker.state()).toBe('WaitStop');
    worker.actor.send({ type: 'START' });
    worker.actor.send(newJob);

    worker.fakes.stopJobs.release();
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.jobs.started).toBe(2);
    expect(worker.fakes.jobs.received).toEqual([newJob]);
  });
});
