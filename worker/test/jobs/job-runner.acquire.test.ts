import { describe, expect, it } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import { HubError } from '../../src/errors.js';
import { ACQUIRE, Deferred, Harness, SECOND, elapse, job, poll, settle, useJobRunnerHarnesses } from './job-runner-fakes.js';

let h: Harness;

useJobRunnerHarnesses();

describe('JobRunner acquisition', () => {
  it('acquires until the hub answers null, with the configured acquire parameters', async () => {
    h = new Harness({ settings: { maxJobs: 3 } });
    await h.startWith(job(1), job(2));

    expect(h.hub.acquireCalls).toBe(3);
    expect(h.hub.acquireParams.every((p) => p === ACQUIRE)).toBe(true);
    expect(h.runner.ownedJobIds()).toEqual([1, 2]);
    expect(h.rclone.run(1, 1)).toBeDefined();
    expect(h.rclone.run(2, 1)).toBeDefined();
  });

  it('stops acquiring at the concurrency cap', async () => {
    h = new Harness({ settings: { maxJobs: 2 } });
    await h.startWith(job(1), job(2), job(3));

    expect(h.hub.acquireCalls).toBe(2);
    expect(h.runner.ownedJobIds()).toEqual([1, 2]);
    h.runner.requestAcquire('NewJobAvailable');
    await elapse(h.settings.acquirePollSeconds * SECOND);
    expect(h.hub.acquireCalls).toBe(2);
  });

  it('runs another round when NewJobAvailable arrives while a round is asking the hub', async () => {
    h = new Harness();
    h.hub.acquireGate = new Deferred();
    h.hub.acquireScript.push(null, job(7));
    h.runner.start();
    await settle();
    expect(h.hub.acquireCalls).toBe(1);

    h.runner.requestAcquire('NewJobAvailable');
    await settle();
    expect(h.hub.acquireCalls).toBe(1);

    h.hub.acquireGate.resolve();
    await settle();
    // The first round ended on null; the announcement made a second one, which found job 7.
    expect(h.hub.acquireCalls).toBe(3);
    expect(h.runner.ownedJobIds()).toEqual([7]);
  });

  it('ends a round on null when nothing new was announced meanwhile', async () => {
    h = new Harness();
    h.hub.acquireScript.push(null, job(7));
    await h.startWith();

    expect(h.hub.acquireCalls).toBe(1);
    expect(h.runner.ownedJobIds()).toEqual([]);
  });

  it('acquires again when a job finishes and frees its slot', async () => {
    h = new Harness({ settings: { maxJobs: 1 } });
    await h.startWith(job(1), job(2));
    expect(h.runner.ownedJobIds()).toEqual([1]);
    expect(h.hub.acquireCalls).toBe(1);

    h.rclone.finish(h.rclone.run(1, 1)!.id, { success: true });
    await poll(h);

    expect(h.terminal(1)).toEqual([JobState.DoneSuccess]);
    expect(h.runner.ownedJobIds()).toEqual([2]);
    expect(h.rclone.run(2, 1)).toBeDefined();
  });

  it('survives hub errors and asks again 5 s later, not only at the next safety poll', async () => {
    h = new Harness({ settings: { maxJobs: 1 } });
    h.hub.acquireScript.push(new HubError('acquireNextJob: HTTP 502', 502));
    await h.startWith();
    expect(h.hub.acquireCalls).toBe(1);
    expect(h.runner.ownedJobIds()).toEqual([]);
    expect(h.log.records.some((r) => r.msg === 'could not ask the hub for a job')).toBe(true);

    h.offer(job(1));
    await elapse(5 * SECOND - 1);
    expect(h.hub.acquireCalls).toBe(1);
    await elapse(1);
    expect(h.hub.acquireCalls).toBe(2);
    expect(h.runner.ownedJobIds()).toEqual([1]);
  });

  it('acquires on the safety poll after acquirePollSeconds', async () => {
    h = new Harness({ settings: { maxJobs: 2 } });
    await h.startWith();
    expect(h.hub.acquireCalls).toBe(1);

    h.offer(job(1));
    await elapse(h.settings.acquirePollSeconds * SECOND - 1);
    expect(h.hub.acquireCalls).toBe(1);
    await elapse(1);
    expect(h.runner.ownedJobIds()).toEqual([1]);
  });

  it('acquires nothing before start()', async () => {
    h = new Harness();
    h.offer(job(1));
    h.runner.requestAcquire('NewJobAvailable');
    await elapse(3 * h.settings.acquirePollSeconds * SECOND);

    expect(h.hub.acquireCalls).toBe(0);
  });

  it('acquires nothing while paused, and again after start()', async () => {
    h = new Harness();
    await h.startWith();
    expect(h.hub.acquireCalls).toBe(1);

    h.runner.pause();
    h.offer(job(1));
    h.runner.requestAcquire('NewJobAvailable');
    await elapse(3 * h.settings.acquirePollSeconds * SECOND);
    expect(h.hub.acquireCalls).toBe(1);

    h.runner.start();
    await settle();
    expect(h.hub.acquireCalls).toBe(3); // job 1, then null
    expect(h.runner.ownedJobIds()).toEqual([1]);
  });

  it('acquires nothing after shutdown()', async () => {
    h = new Harness();
    await h.startWith();
    await h.runner.shutdown('test over');

    h.offer(job(1));
    h.runner.requestAcquire('NewJobAvailable');
    await elapse(3 * h.settings.acquirePollSeconds * SECOND);
    expect(h.hub.acquireCalls).toBe(1);
  });
});
