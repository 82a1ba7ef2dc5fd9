import { describe, expect, it } from 'vitest';
import { JobState, type Job } from '../../../shared/hannibal.js';
import { HubError } from '../../src/errors.js';
import { ACQUIRE, Deferred, Harness, HubQueue, MALLORY, OWNER, SECOND, elapse, job, poll, settle, useJobRunnerHarnesses } from './job-runner-fakes.js';

const MINUTE = 60 * SECOND;

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

describe('JobRunner acquisition on the real hub: foreign and handed-back jobs', () => {
  it('hands a job of another user back unrun, warns once with its id only, and still takes the job behind it', async () => {
    h = new Harness();
    await h.startWith(job(1, { userId: MALLORY }), job(2), null as unknown as Job);

    expect(h.runner.ownedJobIds()).toEqual([2]);
    expect(h.rclone.run(1, 1)).toBeUndefined();
    expect(h.outbox.reports).toEqual([
      { jobId: 1, owner: OWNER, state: JobState.DoneFailure, reason: "not this worker's user: the job belongs to another user" },
    ]);
    const warnings = h.log.records.filter((r) => r.msg === 'job handed back unrun');
    expect(warnings).toEqual([expect.objectContaining({ level: 40, jobId: 1 })]);
    expect(warnings[0]).not.toHaveProperty('tag');
  });

  it('does not spin when the hub hands the same foreign job straight back: rounds slow down to one a minute', async () => {
    const queue = new HubQueue();
    h = new Harness({ queue });
    queue.add(job(1, { userId: MALLORY }));
    h.runner.start();

    await elapse(10 * MINUTE);

    // Rounds at 0, 2, 6, 14, 30, 62 s, then every 60 s: 14 in 10 minutes, each "foreign job, then none".
    expect(queue.acquiredTimes(1)).toBe(14);
    expect(queue.acquisitions).toHaveLength(28);
    expect(h.log.records.filter((r) => r.msg === 'job handed back unrun' && r.level === 40)).toHaveLength(1);
    expect(h.rclone.jobs.size).toBe(0);

    // Work of our own is still taken at the next round, within the ceiling.
    queue.add(job(2));
    h.runner.requestAcquire('NewJobAvailable');
    await elapse(60 * SECOND);
    expect(h.runner.ownedJobIds()).toEqual([2]);
  });

  it('coalesces NewJobAvailable bursts during the backoff into one round', async () => {
    const queue = new HubQueue();
    h = new Harness({ queue });
    queue.add(job(1, { userId: MALLORY }));
    h.runner.start();
    await settle();
    const before = queue.acquisitions.length;
    for (let i = 0; i < 50; i++) h.runner.requestAcquire('NewJobAvailable');
    await elapse(2 * SECOND);
    expect(queue.acquisitions.length - before).toBe(2);
  });

  it('one worker: a job handed back after its budget comes back unrun within the window, then runs again after it', async () => {
    const queue = new HubQueue();
    h = new Harness({ queue, settings: { retries: 1, retrySeconds: 10, handbackWindowSeconds: 300 } });
    queue.add(job(1));
    h.runner.start();
    await settle();
    for (const run of [1, 2]) {
      h.rclone.finish(h.rclone.run(1, run)!.id, { success: false, error: '502 Bad Gateway' });
      await elapse(15 * SECOND);
    }
    expect(queue.reports.filter((r) => r.state === JobState.DoneFailure)[0]?.reason).toMatch(/^transient failures persist after 1 retries/);
    const runsBefore = h.rclone.jobs.size;

    await elapse(300 * SECOND - 30 * SECOND);
    expect(h.rclone.jobs.size).toBe(runsBefore);
    expect(queue.acquiredTimes(1)).toBeLessThanOrEqual(1 + 1 + 8);

    await elapse(60 * SECOND);
    expect(h.rclone.jobs.size).toBe(runsBefore + 1);
  });

  it('two workers: the job one of them handed back is run by the other, once', async () => {
    const queue = new HubQueue();
    const a = new Harness({ queue, settings: { retries: 0 } });
    const b = new Harness({ queue, acquire: { ...ACQUIRE, owner: 'worker-b' } });
    queue.add(job(1));
    a.runner.start();
    await settle();
    expect(a.rclone.run(1, 1)).toBeDefined();
    a.rclone.finish(a.rclone.run(1, 1)!.id, { success: false, error: 'connection reset by peer' });
    b.runner.start();
    await poll(a);
    await elapse(10 * SECOND);

    expect(b.rclone.run(1, 1)).toBeDefined();
    b.rclone.finish(b.rclone.run(1, 1)!.id, { success: true });
    await poll(b);
    await elapse(10 * MINUTE);

    // Worker a ran it once; when the hub offered it to a again, a handed it back unrun.
    const reports = queue.reports.filter((r) => r.jobId === 1);
    expect(reports.filter((r) => r.owner === OWNER).map((r) => r.state)).toEqual([JobState.DoneFailure, JobState.DoneFailure]);
    expect(reports.filter((r) => r.owner === 'worker-b').map((r) => r.state)).toEqual([JobState.DoneSuccess]);
    expect(reports.at(-1)?.state).toBe(JobState.DoneSuccess);
    expect(a.rclone.jobs.size).toBe(1);
    expect(b.rclone.jobs.size).toBe(1);
  });
});
