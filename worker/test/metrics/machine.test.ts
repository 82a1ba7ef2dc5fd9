/**
 * Machine metrics, fed by the real worker machine (fakes for its steps, fake timers): the current
 * state, rclone restarts by cause, failed steps.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { topState } from '../../src/metrics/machine.js';
import { rootTransitions } from '../../src/supervisor/transition-log.js';
import { elapse, settle, startWorker, stopWorkers } from '../supervisor/worker-harness.js';
import { MACHINE_STATES, metricsFor } from './scrape.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  stopWorkers();
  vi.useRealTimers();
});

/** A machine whose transitions feed a fresh registry. */
async function countedWorker() {
  const { metrics, scrape } = metricsFor();
  const worker = startWorker(undefined, undefined, rootTransitions((t) => { metrics.machine.transitioned(t); }));
  await settle();
  return { worker, metrics, scrape };
}

async function currentStates(scrape: ReturnType<typeof metricsFor>['scrape']): Promise<string[]> {
  return (await scrape()).find('rclone_sync_worker_machine_state').filter((s) => s.value === 1).map((s) => s.labels.state ?? '');
}

describe('machine metrics', () => {
  it('shows exactly one current top-level state, every known state present', async () => {
    const { worker, scrape } = await countedWorker();
    expect(worker.state()).toBe('Running');
    expect(await currentStates(scrape)).toEqual(['Running']);
    const states = (await scrape()).find('rclone_sync_worker_machine_state').map((s) => s.labels.state);
    expect(states.sort()).toEqual([...MACHINE_STATES].sort());
  });

  it('counts a restart after rclone exits on its own, and one for a re-authentication restart', async () => {
    const { worker, scrape } = await countedWorker();
    let page = await scrape();
    expect(page.value('rclone_sync_worker_rclone_restarts_total', { cause: 'crash' })).toBe(0);
    expect(page.value('rclone_sync_worker_rclone_restarts_total', { cause: 'reauth' })).toBe(0);

    worker.actor.send({ type: 'RCLONE.EXITED', code: null, signal: 'SIGKILL' });
    await settle();
    expect(worker.state()).toBe('StartRCloneProcess.Backoff');
    expect(await currentStates(scrape)).toEqual(['StartRCloneProcess']);
    await elapse(1000);
    expect(worker.state()).toBe('Running');
    expect(await currentStates(scrape)).toEqual(['Running']);

    worker.actor.send({ type: 'REAUTH.RESTART', reason: 'client id changed' });
    await settle();
    expect(worker.state()).toBe('Running');
    page = await scrape();
    expect(page.value('rclone_sync_worker_rclone_restarts_total', { cause: 'crash' })).toBe(1);
    expect(page.value('rclone_sync_worker_rclone_restarts_total', { cause: 'reauth' })).toBe(1);
  });

  it('does not count a failed first start of rclone as a restart', async () => {
    const { metrics, scrape } = metricsFor();
    const worker = startWorker(
      undefined,
      (fakes) => fakes.startRclone.next({ reject: new Error('cannot run rclone') }),
      rootTransitions((t) => { metrics.machine.transitioned(t); }),
    );
    await settle();
    expect(worker.state()).toBe('StartRCloneProcess.Backoff');
    await elapse(1000);
    expect(worker.state()).toBe('Running');
    expect((await scrape()).value('rclone_sync_worker_rclone_restarts_total', { cause: 'crash' })).toBe(0);
  });

  it('counts failed steps by step', async () => {
    const { metrics, scrape } = metricsFor();
    metrics.machine.stepFailed('CheckOnline');
    metrics.machine.stepFailed('CheckOnline');
    metrics.machine.stepFailed('StartRCloneProcess');
    const page = await scrape();
    expect(page.value('rclone_sync_worker_machine_step_failures_total', { step: 'CheckOnline' })).toBe(2);
    expect(page.value('rclone_sync_worker_machine_step_failures_total', { step: 'StartRCloneProcess' })).toBe(1);
  });

  it('names the top-level state of a nested one', () => {
    expect(topState('StartRCloneProcess.Backoff')).toBe('StartRCloneProcess');
    expect(topState('Running')).toBe('Running');
  });
});
