/**
 * SHUTDOWN from anywhere drains and stops the worker machine; every failing step is handled.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubError } from '../../src/errors.js';
import { HOLD, elapse, rejects, settle, startWorker, stopWorkers, type Worker, type WorkerFakes } from './worker-harness.js';

const sigterm = { type: 'SHUTDOWN', reason: 'SIGTERM' } as const;

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  stopWorkers();
  vi.useRealTimers();
});

interface Place {
  state: string;
  script: (fakes: WorkerFakes) => void;
  /** Drive a freshly started worker there. */
  reach: (worker: Worker) => Promise<void>;
}

const places: Place[] = [
  { state: 'Starting', script: (f) => f.checkConfig.next(HOLD), reach: settle },
  { state: 'WaitConfig', script: (f) => f.checkConfig.next(rejects(new Error('no state directory'))), reach: settle },
  { state: 'CheckOnline.Backoff', script: (f) => f.checkOnline.next(rejects(new HubError('hub down', 503))), reach: settle },
  { state: 'BackendsLoggingIn.Attempt', script: (f) => f.loginBackends.next(HOLD), reach: settle },
  { state: 'CheckRCloneProcess', script: (f) => f.checkRclone.next(HOLD), reach: settle },
  { state: 'StartRCloneProcess.Backoff', script: (f) => f.startRclone.next(rejects(new Error('spawn failed'))), reach: settle },
  { state: 'Running', script: () => undefined, reach: settle },
  {
    state: 'WaitStop',
    script: (f) => f.stopJobs.next(HOLD),
    reach: async (worker) => {
      await settle();
      worker.actor.send({ type: 'STOP' });
      await settle();
    },
  },
  {
    state: 'WaitStart',
    script: () => undefined,
    reach: async (worker) => {
      await settle();
      worker.actor.send({ type: 'STOP' });
      await settle();
    },
  },
  {
    state: 'RestartingForReauth',
    script: (f) => f.restartForReauth.next(HOLD),
    reach: async (worker) => {
      await settle();
      worker.actor.send({ type: 'REAUTH.RESTART', reason: 'token revoked' });
      await settle();
    },
  },
];

describe('SHUTDOWN', () => {
  it.each(places)('from $state drains with the reason and stops', async ({ state, script, reach }) => {
    const worker = startWorker(undefined, (f) => {
      script(f);
      f.shutdown.next(HOLD);
    });
    await reach(worker);
    expect(worker.state()).toBe(state);

    worker.actor.send(sigterm);
    await settle();
    expect(worker.state()).toBe('Exiting.Draining');
    expect(worker.fakes.shutdown.inputs).toEqual([{ reason: 'SIGTERM' }]);

    worker.fakes.shutdown.release();
    await settle();
    expect(worker.state()).toBe('Stopped');
    expect(worker.actor.getSnapshot().status).toBe('done');
    expect(worker.errors).toEqual([]);
  });

  it('stops the job runner and cancels pending retries', async () => {
    const worker = startWorker(undefined, (f) => f.checkOnline.next(rejects(new HubError('hub down', 503))));
    await settle();
    worker.actor.send(sigterm);
    await elapse(10 * 60_000);
    expect(worker.fakes.checkOnline.calls).toBe(1);
    expect(worker.state()).toBe('Stopped');

    const running = startWorker();
    await settle();
    running.actor.send(sigterm);
    await settle();
    expect(running.fakes.jobs.stopped).toBe(1);
  });

  it('ignores every event while draining, including a second SHUTDOWN', async () => {
    const worker = startWorker(undefined, (f) => f.shutdown.next(HOLD));
    await settle();
    worker.actor.send(sigterm);
    const events = [
      { type: 'HUB.NEW_JOB' },
      { type: 'HUB.STORAGE_REAUTHENTICATED', uriSchema: 'onedrive' },
      { type: 'REAUTH.RESTART', reason: 'late' },
      { type: 'RCLONE.EXITED', code: 0, signal: 'SIGTERM' },
      { type: 'START' },
      { type: 'STOP' },
      { type: 'CONFIG.CHANGED' },
      { type: 'SHUTDOWN', reason: 'SIGINT' },
    ] as const;
    for (const event of events) worker.actor.send(event);
    await settle();
    expect(worker.state()).toBe('Exiting.Draining');
    expect(worker.context()).toMatchObject({ deferred: [], userStopped: false, rcloneCrashes: 0 });
    expect(worker.fakes.shutdown.inputs).toEqual([{ reason: 'SIGTERM' }]);
    expect(worker.fakes.jobs.received).toEqual([]);
    expect(worker.fakes.rcloneLost).not.toHaveBeenCalled();

    worker.fakes.shutdown.release();
    await settle();
    expect(worker.state()).toBe('Stopped');
    expect(worker.actor.getSnapshot().status).toBe('done');
  });

  it('stops even when draining fails, and says so', async () => {
    const worker = startWorker(undefined, (f) => f.shutdown.next(rejects(new Error('report upload failed'))));
    await settle();
    worker.actor.send(sigterm);
    await settle();
    expect(worker.state()).toBe('Stopped');
    expect(worker.actor.getSnapshot().status).toBe('done');
    expect(worker.fakes.failures).toEqual([{ step: 'Exiting', error: 'report upload failed' }]);
    expect(worker.errors).toEqual([]);
  });
});

describe('a rejecting step', () => {
  /** Each step actor and the step name its failure is reported under (none: a failed check just spawns rclone). */
  const steps = [
    ['checkConfig', 'Starting'],
    ['checkOnline', 'CheckOnline'],
    ['loginBackends', 'BackendsLoggingIn'],
    ['checkRclone', undefined],
    ['startRclone', 'StartRCloneProcess'],
    ['stopJobs', 'WaitStop'],
    ['restartForReauth', 'RestartingForReauth'],
    ['shutdown', 'Exiting'],
  ] as const;

  /** Boot, STOP, START, REAUTH.RESTART, SHUTDOWN: a tour through every invoke of the machine. */
  async function tour(worker: Worker): Promise<void> {
    const visit = async (expected: string): Promise<void> => {
      await elapse(10_000);
      expect(worker.state()).toBe(expected);
      expect(worker.actor.getSnapshot().status).toBe('active');
    };
    await visit('Running');
    worker.actor.send({ type: 'STOP' });
    await visit('WaitStart');
    worker.actor.send({ type: 'START' });
    await visit('Running');
    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'tour' });
    await visit('Running');
    worker.actor.send(sigterm);
    await settle();
  }

  it.each(steps)('%s never leaves the actor in error', async (step, notifiedAs) => {
    const worker = startWorker(undefined, (f) => f[step].next(rejects(new Error(`${step} failed`))));
    await tour(worker);
    expect(worker.fakes[step].calls).toBeGreaterThanOrEqual(1);
    expect(worker.fakes.failures).toEqual(notifiedAs === undefined ? [] : [{ step: notifiedAs, error: `${step} failed` }]);
    expect(worker.state()).toBe('Stopped');
    expect(worker.actor.getSnapshot().status).toBe('done');
    expect(worker.errors).toEqual([]);
  });
});
