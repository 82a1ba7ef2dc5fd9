/**
 * The boot path of the worker machine: Starting → (WaitConfig) → CheckOnline →
 * BackendsLoggingIn → CheckRCloneProcess → StartRCloneProcess → WaitStart → Running, with the
 * retry and backoff of each step.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, HubAuthError, HubError, RcloneProcessError, RcError } from '../../src/errors.js';
import { HOLD, expectRetryAfter, rejects, resolves, settle, startWorker, stopWorkers } from './worker-harness.js';

const hubDown = () => new HubError('hub answered HTTP 503', 503);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  stopWorkers();
  vi.useRealTimers();
});

describe('Starting', () => {
  it('goes to CheckOnline when the runtime prerequisites check out', async () => {
    const worker = startWorker(undefined, (f) => f.checkOnline.next(HOLD));
    expect(worker.state()).toBe('Starting');
    await settle();
    expect(worker.state()).toBe('CheckOnline.Attempt');
    expect(worker.fakes.checkConfig.calls).toBe(1);
    expect(worker.fakes.checkOnline.calls).toBe(1);
  });

  it('waits in WaitConfig after a failed check and retries after the step backoff', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkConfig.next(rejects(new ConfigError('state directory is not writable')));
      f.checkOnline.next(HOLD);
    });
    await settle();
    expect(worker.state()).toBe('WaitConfig');
    expect(worker.context()).toMatchObject({ attempt: 1, lastError: 'state directory is not writable' });
    expect(worker.fakes.failures).toEqual([{ step: 'Starting', error: 'state directory is not writable' }]);

    await expectRetryAfter(worker.fakes.checkConfig, 1000);
    expect(worker.state()).toBe('CheckOnline.Attempt');
  });

  it('doubles the WaitConfig delay while the check keeps failing', async () => {
    const broken = rejects(new ConfigError('rclone is not executable'));
    const worker = startWorker(undefined, (f) => {
      f.checkConfig.next(broken, broken, broken);
      f.checkOnline.next(HOLD);
    });
    await settle();
    await expectRetryAfter(worker.fakes.checkConfig, 1000);
    expect(worker.state()).toBe('WaitConfig');
    await expectRetryAfter(worker.fakes.checkConfig, 2000);
    expect(worker.state()).toBe('WaitConfig');
    await expectRetryAfter(worker.fakes.checkConfig, 4000);
    expect(worker.state()).toBe('CheckOnline.Attempt');
  });

  it('leaves WaitConfig at once on CONFIG.CHANGED, and the cancelled delay does not retry again', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkConfig.next(rejects(new ConfigError('credentials file missing')));
      f.checkOnline.next(HOLD);
    });
    await settle();
    expect(worker.state()).toBe('WaitConfig');

    worker.actor.send({ type: 'CONFIG.CHANGED' });
    await settle();
    expect(worker.fakes.checkConfig.calls).toBe(2);
    expect(worker.state()).toBe('CheckOnline.Attempt');

    await vi.advanceTimersByTimeAsync(60_000);
    expect(worker.fakes.checkConfig.calls).toBe(2);
  });

  it('drops CONFIG.CHANGED outside WaitConfig (it is not deferred)', async () => {
    const worker = startWorker(undefined, (f) => f.checkOnline.next(HOLD));
    await settle();
    worker.actor.send({ type: 'CONFIG.CHANGED' });
    await settle();
    expect(worker.state()).toBe('CheckOnline.Attempt');
    expect(worker.context().deferred).toEqual([]);
    expect(worker.fakes.checkConfig.calls).toBe(1);
  });
});

describe('CheckOnline', () => {
  it('goes to BackendsLoggingIn once the hub accepts the login', async () => {
    const worker = startWorker(undefined, (f) => f.loginBackends.next(HOLD));
    await settle();
    expect(worker.state()).toBe('BackendsLoggingIn.Attempt');
    expect(worker.fakes.loginBackends.calls).toBe(1);
  });

  it('retries a transient failure from Backoff with growing delays (1 s, 2 s, 4 s)', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkOnline.next(rejects(hubDown()), rejects(hubDown()), rejects(hubDown()));
      f.loginBackends.next(HOLD);
    });
    await settle();
    expect(worker.state()).toBe('CheckOnline.Backoff');
    await expectRetryAfter(worker.fakes.checkOnline, 1000);
    expect(worker.state()).toBe('CheckOnline.Backoff');
    await expectRetryAfter(worker.fakes.checkOnline, 2000);
    expect(worker.state()).toBe('CheckOnline.Backoff');
    await expectRetryAfter(worker.fakes.checkOnline, 4000);
    expect(worker.state()).toBe('BackendsLoggingIn.Attempt');
    expect(worker.fakes.failures).toEqual(Array(3).fill({ step: 'CheckOnline', error: 'hub answered HTTP 503' }));
    expect(worker.errors).toEqual([]);
  });

  it('caps the step backoff at maxMs (custom timing)', async () => {
    const timing = { stepBackoff: { initialMs: 10, maxMs: 25 }, rcloneBackoff: { initialMs: 5, maxMs: 5, resetAfterMs: 50 } };
    const worker = startWorker(timing, (f) => {
      f.checkOnline.fallback = rejects(hubDown());
    });
    await settle();
    for (const delay of [10, 20, 25, 25, 25]) {
      expect(worker.state()).toBe('CheckOnline.Backoff');
      await expectRetryAfter(worker.fakes.checkOnline, delay);
    }
  });

  it('goes to WaitConfig on a permanent failure, then starts over after the step backoff', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkOnline.next(rejects(new HubAuthError('hub login rejected')), HOLD);
    });
    await settle();
    expect(worker.state()).toBe('WaitConfig');
    expect(worker.fakes.failures).toEqual([{ step: 'CheckOnline', error: 'hub login rejected' }]);

    await expectRetryAfter(worker.fakes.checkConfig, 1000);
    expect(worker.state()).toBe('CheckOnline.Attempt');
    expect(worker.fakes.checkOnline.calls).toBe(2);
  });

  it('backs off longer on each permanent failure instead of retrying the hub every second', async () => {
    const badLogin = rejects(new HubAuthError('hub login rejected'));
    const worker = startWorker(undefined, (f) => {
      f.checkOnline.next(badLogin, badLogin, badLogin);
      f.loginBackends.next(HOLD);
    });
    await settle();
    await expectRetryAfter(worker.fakes.checkConfig, 1000);
    expect(worker.state()).toBe('WaitConfig');
    await expectRetryAfter(worker.fakes.checkConfig, 2000);
    expect(worker.state()).toBe('WaitConfig');
    await expectRetryAfter(worker.fakes.checkConfig, 4000);
    expect(worker.state()).toBe('BackendsLoggingIn.Attempt');
    expect(worker.context().attempt).toBe(0);
  });
});

describe('BackendsLoggingIn', () => {
  it('goes to CheckRCloneProcess once every storage is logged in', async () => {
    const worker = startWorker(undefined, (f) => f.checkRclone.next(HOLD));
    await settle();
    expect(worker.state()).toBe('CheckRCloneProcess');
    expect(worker.fakes.loginBackends.calls).toBe(1);
  });

  it('retries a failure from Backoff with growing delays', async () => {
    const worker = startWorker(undefined, (f) => {
      f.loginBackends.next(rejects(new Error('token endpoint unreachable')), rejects(new Error('token endpoint unreachable')));
      f.checkRclone.next(HOLD);
    });
    await settle();
    expect(worker.state()).toBe('BackendsLoggingIn.Backoff');
    await expectRetryAfter(worker.fakes.loginBackends, 1000);
    expect(worker.state()).toBe('BackendsLoggingIn.Backoff');
    await expectRetryAfter(worker.fakes.loginBackends, 2000);
    expect(worker.state()).toBe('CheckRCloneProcess');
    expect(worker.fakes.failures).toEqual(Array(2).fill({ step: 'BackendsLoggingIn', error: 'token endpoint unreachable' }));
  });

  it('starts its backoff from the first delay: the failures of CheckOnline do not carry over', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkOnline.next(rejects(hubDown()), rejects(hubDown()));
      f.loginBackends.next(rejects(new Error('token endpoint unreachable')));
      f.checkRclone.next(HOLD);
    });
    await settle();
    await expectRetryAfter(worker.fakes.checkOnline, 1000);
    await expectRetryAfter(worker.fakes.checkOnline, 2000);
    expect(worker.state()).toBe('BackendsLoggingIn.Backoff');
    expect(worker.context()).toMatchObject({ attempt: 1, lastError: 'token endpoint unreachable' });

    await expectRetryAfter(worker.fakes.loginBackends, 1000);
    expect(worker.state()).toBe('CheckRCloneProcess');
    expect(worker.context()).toMatchObject({ attempt: 0, lastError: undefined });
  });
});

describe('CheckRCloneProcess', () => {
  it('goes to WaitStart and on to Running when our rclone is already running', async () => {
    const worker = startWorker(undefined, (f) => f.checkRclone.next(resolves({ found: true })));
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.startRclone.calls).toBe(0);
    expect(worker.fakes.jobs.started).toBe(1);
  });

  it('goes to StartRCloneProcess when no rclone of ours is running', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkRclone.next(resolves({ found: false }));
      f.startRclone.next(HOLD);
    });
    await settle();
    expect(worker.state()).toBe('StartRCloneProcess.Spawn');
    expect(worker.fakes.startRclone.calls).toBe(1);
  });

  it('goes to StartRCloneProcess when the check itself fails', async () => {
    const worker = startWorker(undefined, (f) => {
      f.checkRclone.next(rejects(new RcError('core/pid', 'connection refused', undefined)));
      f.startRclone.next(HOLD);
    });
    await settle();
    expect(worker.state()).toBe('StartRCloneProcess.Spawn');
    expect(worker.errors).toEqual([]);
  });
});

describe('StartRCloneProcess', () => {
  it('goes through WaitStart to Running once rclone is up, and starts the job runner', async () => {
    const worker = startWorker(undefined, (f) => f.startRclone.next(HOLD));
    await settle();
    expect(worker.fakes.jobs.started).toBe(0);
    worker.fakes.startRclone.release();
    await settle();
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.jobs.started).toBe(1);
    expect(worker.context().runningSince).toBe(Date.now());
  });

  it('retries a failed spawn with the rclone backoff (1 s, 2 s, 4 s)', async () => {
    const cannotRun = () => rejects(new RcloneProcessError('WORKER_ERR_RCLONE_SPAWN', 'rclone exited during start'));
    const worker = startWorker(undefined, (f) => f.startRclone.next(cannotRun(), cannotRun(), cannotRun()));
    await settle();
    expect(worker.state()).toBe('StartRCloneProcess.Backoff');
    expect(worker.context().rcloneCrashes).toBe(1);
    await expectRetryAfter(worker.fakes.startRclone, 1000);
    await expectRetryAfter(worker.fakes.startRclone, 2000);
    await expectRetryAfter(worker.fakes.startRclone, 4000);
    expect(worker.state()).toBe('Running');
    expect(worker.fakes.failures).toEqual(Array(3).fill({ step: 'StartRCloneProcess', error: 'rclone exited during start' }));
    expect(worker.fakes.rcloneLost).not.toHaveBeenCalled();
  });

  it('backs off and spawns again when rclone dies while its remotes are being configured', async () => {
    const worker = startWorker(undefined, (f) => f.startRclone.next(HOLD));
    await settle();
    expect(worker.state()).toBe('StartRCloneProcess.Spawn');
    worker.actor.send({ type: 'RCLONE.EXITED', code: null, signal: 'SIGKILL' });
    await settle();
    expect(worker.state()).toBe('StartRCloneProcess.Backoff');
    expect(worker.context().rcloneCrashes).toBe(1);
    await expectRetryAfter(worker.fakes.startRclone, 1000);
    expect(worker.state()).toBe('Running');
  });

  it('caps the rclone backoff at maxMs (custom timing)', async () => {
    const timing = { stepBackoff: { initialMs: 1, maxMs: 1 }, rcloneBackoff: { initialMs: 100, maxMs: 300, resetAfterMs: 10_000 } };
    const worker = startWorker(timing, (f) => {
      f.startRclone.fallback = rejects(new Error('spawn failed'));
    });
    await settle();
    for (const delay of [100, 200, 300, 300, 300]) {
      expect(worker.state()).toBe('StartRCloneProcess.Backoff');
      await expectRetryAfter(worker.fakes.startRclone, delay);
    }
  });
});
