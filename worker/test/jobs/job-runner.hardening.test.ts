/**
 * Hostile or broken input reaching the runner (issue 9.6, 9.8): a refused local path, a job body
 * the hub sent malformed, a report the disk does not take yet, and the owned jobs a crashed run
 * left on disk.
 */
import { describe, expect, it } from 'vitest';
import { JobState, type Job } from '../../../shared/hannibal.js';
import { LocalPathError } from '../../src/storage/local-roots.js';
import { Deferred, Harness, LOCAL, ONEDRIVE, OWNER, SECOND, elapse, job, poll, settle, useJobRunnerHarnesses } from './job-runner-fakes.js';

let h: Harness;

useJobRunnerHarnesses();

/** Paths on the `LOCAL` storage under /srv only, as LocalRoots would allow with that one root. */
const confined = {
  fsPath: async (storage: { uriSchema: string; technology: string }, path: unknown, side: 'source' | 'destination') => {
    if (storage.technology === 'local' && (!String(path).startsWith('/srv/') || String(path).includes('..'))) throw new LocalPathError(`${side} path ${JSON.stringify(path)} refused: it is outside the allowed roots (/srv)`);
    return `${storage.uriSchema}:${String(path)}`;
  },
};

describe('JobRunner: refused and malformed jobs', () => {
  it('ends a job whose local path escapes the roots DoneWithErrors, before any token or remote work, with one log line', async () => {
    h = new Harness({ paths: confined });
    await h.startWith(job(1, { sourcePath: '/srv/../etc' }), job(2, { sourcePath: '/srv/docs' }));

    expect(h.outbox.of(1)).toEqual([
      { jobId: 1, owner: OWNER, state: JobState.DoneWithErrors, reason: 'local path refused: source path "/srv/../etc" refused: it is outside the allowed roots (/srv)' },
    ]);
    expect(h.rclone.run(1, 1)).toBeUndefined();
    // The other job is unaffected.
    expect(h.rclone.run(2, 1)).toMatchObject({ srcFs: `${LOCAL.uriSchema}:/srv/docs`, dstFs: `${ONEDRIVE.uriSchema}:backup/2` });
    expect(h.log.records.filter((r) => r.jobId === 1 && r.level >= 40).map((r) => r.msg)).toEqual(['job finished']);
    await elapse(60 * 60 * SECOND);
    expect(h.rclone.run(1, 2)).toBeUndefined();
  });

  it.each([
    ['an operation that is text', { operation: 'sync' }, 'malformed job from the hub: job 1: operation is the text "sync", not 0 (nop), 1 (copy) or 2 (sync)'],
    ['no destination endpoint', { destinationEndpoint: null }, 'malformed job from the hub: job 1: its destination endpoint is null, not an object'],
    ['a path that is not text', { sourceEndpoint: { id: 101, storageId: LOCAL.id, path: 42 } }, 'malformed job from the hub: job 1: its source path is the number 42, not text'],
  ])('ends a job with %s DoneWithErrors, never retried', async (_what, fields, reason) => {
    h = new Harness();
    await h.startWith({ ...job(1), ...fields } as unknown as Job);
    expect(h.outbox.of(1)).toEqual([{ jobId: 1, owner: OWNER, state: JobState.DoneWithErrors, reason }]);
    expect(h.runner.ownedJobIds()).toEqual([]);
    expect(h.rclone.jobs.size).toBe(0);
  });
});

describe('JobRunner: a report the disk does not take yet', () => {
  it('keeps the job owned and heartbeated (phase reporting) until its report is stored, then frees the slot', async () => {
    h = new Harness({ settings: { maxJobs: 1 } });
    const disk = new Deferred<boolean>();
    h.outbox.gate = disk.promise;
    await h.startWith(job(1));
    h.rclone.finish(h.rclone.run(1, 1)?.id ?? -1, { success: true, transfers: 3 });
    await poll(h);

    expect(h.runner.describe()).toMatchObject([{ id: 1, phase: 'reporting' }]);
    const before = h.hub.heartbeatsOf(1).length;
    await elapse(2 * h.settings.heartbeatSeconds * SECOND);
    expect(h.hub.heartbeatsOf(1).length).toBeGreaterThan(before);
    expect(h.outbox.reports).toEqual([]);
    // Its slot is still taken: no other job is acquired meanwhile.
    h.offer(job(2));
    await elapse(h.settings.acquirePollSeconds * SECOND);
    expect(h.rclone.run(2, 1)).toBeUndefined();

    h.outbox.gate = undefined;
    disk.resolve(true);
    await settle();
    expect(h.outbox.reports).toEqual([{ jobId: 1, owner: OWNER, state: JobState.DoneSuccess }]);
    expect(h.runner.ownedJobIds()).not.toContain(1);
  });
});

describe('JobRunner: owned jobs a crashed run left', () => {
  function recorded(jobs: Job[]) {
    const released: number[] = [];
    const records: number[] = [];
    return {
      released,
      records,
      owned: {
        record: async (j: Job) => void records.push(j.id),
        release: async (id: number) => void released.push(id),
        takeRecovered: () => jobs.splice(0),
      },
    };
  }

  it('resumes a job the hub still has as ours with a fresh run, and releases its record once its report is stored', async () => {
    const r = recorded([job(1)]);
    h = new Harness({ owned: r.owned });
    h.runner.start();
    await settle();

    expect(h.hub.heartbeatsOf(1)).toHaveLength(1);
    const run = h.rclone.run(1, 1);
    expect(run).toBeDefined();
    h.rclone.finish(run?.id ?? -1, { success: true, transfers: 1 });
    await poll(h);
    expect(h.outbox.of(1)).toEqual([{ jobId: 1, owner: OWNER, state: JobState.DoneSuccess }]);
    await settle();
    expect(r.released).toEqual([1]);
  });

  it('drops a job the hub no longer has as ours, without a run or a report', async () => {
    const r = recorded([job(1)]);
    h = new Harness({ owned: r.owned });
    h.hub.unknownJobs.add(1);
    h.runner.start();
    await settle();

    expect(h.rclone.run(1, 1)).toBeUndefined();
    expect(h.outbox.reports).toEqual([]);
    expect(h.runner.ownedJobIds()).toEqual([]);
    expect(r.released).toEqual([1]);
  });

  it('records a newly acquired job before its first run', async () => {
    const r = recorded([]);
    h = new Harness({ owned: r.owned });
    await h.startWith(job(5));
    expect(r.records).toEqual([5]);
    expect(h.rclone.run(5, 1)).toBeDefined();
  });
});
