/**
 * How jobs end on a hub that behaves like the real Hannibal (real-hannibal.md F1, F2): a
 * `DoneFailure` makes the job Ready again at once with `NewJobAvailable`, any user's job is handed
 * out, and `GET /storages` lists every user's storages with their secrets. Real rclone, the
 * stand-in hub and the worker process as users run it; time-based settings are shortened, the
 * logic is not.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTree, type Sandbox, type WorkerProcess } from '../../../scripts/sandbox.js';
import { FlakyFront } from './flaky-front.js';
import { expectNoSecretsLeaked, JobState, logsOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();
const fronts: FlakyFront[] = [];
afterEach(async () => {
  await Promise.all(fronts.splice(0).map((f) => f.close()));
});

/** Shortened time settings: every window and delay of the failure rules, scaled down. */
const FAST_FAILURES = {
  WORKER_JOB_RETRY_SECONDS: '1',
  WORKER_JOB_RETRY_MAX_SECONDS: '2',
  WORKER_HANDBACK_WINDOW_SECONDS: '10',
  WORKER_ACQUIRE_BACKOFF_MAX_SECONDS: '4',
  WORKER_ACQUIRE_POLL_SECONDS: '5',
};

const OTHER_USER = { email: 'other@example.test', password: 'other-e2e-password-31' };

/** The remote sections in a worker's rclone.conf. */
async function rcloneRemotes(sandbox: Sandbox, worker: string): Promise<string[]> {
  const text = await readFile(join(sandbox.dir, `state-${worker}`, 'rclone', 'rclone.conf'), 'utf8');
  return [...text.matchAll(/^\[([^\]]+)\]$/gm)].map((m) => m[1]!).sort();
}

function runsOf(worker: WorkerProcess, jobId: number): number {
  return worker.find((r) => r.msg === 'job started in rclone' && r.jobId === jobId).length;
}

function acquisitionsOf(sandbox: Sandbox, jobId: number): number {
  return sandbox.hub.jobHistory(jobId).acquiredBy.length;
}

describe('how a job ends on a hub that re-queues DoneFailure at once', () => {
  it('a job whose source is missing runs once, is reported DoneWithErrors once with the reason, and is never taken again', { timeout: 120_000 }, async () => {
    const sandbox = await startSandbox();
    const laptop = sandbox.addLocalStorage('laptop');
    const rule = sandbox.addRule('missing source', { storage: laptop, path: join(sandbox.dir, 'no-such-dir') }, { storage: laptop, path: join(sandbox.dir, 'out') });
    const worker = sandbox.spawnWorker('a', FAST_FAILURES);
    await worker.waitForLog((r) => r.msg === 'rclone ready');

    const job = sandbox.hub.createJob(rule.id);
    const [report] = await waitForTerminalReport(sandbox, job.id, 30_000);
    // Watch three hand-back windows (10 s each here) for a hot loop.
    await new Promise((resolve) => setTimeout(resolve, 30_000));

    expect(report).toMatchObject({ state: JobState.DoneWithErrors, reason: 'not found: directory not found' });
    expect(terminalReports(sandbox, job.id)).toHaveLength(1);
    expect(runsOf(worker, job.id)).toBeLessThanOrEqual(3);
    expect(acquisitionsOf(sandbox, job.id)).toBe(1);
    expect(sandbox.hub.job(job.id)?.state).toBe(JobState.DoneWithErrors);
    expect(logsOf(worker, 'job finished').filter((r) => r.jobId === job.id)).toEqual([
      expect.objectContaining({ state: 'DoneWithErrors', reason: 'not found: directory not found', runs: 1 }),
    ]);
    console.log(`[measure] missing source: runs ${runsOf(worker, job.id)}, acquisitions ${acquisitionsOf(sandbox, job.id)}, terminal reports ${terminalReports(sandbox, job.id).length} in ${Math.round((Date.now() - Date.parse(String(job.startFrom))) / 1000)} s`);
    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker]);
  });

  it('a transient failure (the WebDAV server answering 503 for a while) is retried by the worker and reported DoneSuccess once', { timeout: 180_000 }, async () => {
    const sandbox = await startSandbox();
    const front = await FlakyFront.start(sandbox.webdav.url);
    fronts.push(front);
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'carol', 'carol-e2e-password-5');
    sandbox.hub.updateStorage(nextcloud.id, { host: front.url });
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 30, 4000);
    const rule = sandbox.addRule('to nextcloud', { storage: laptop, path: source }, { storage: nextcloud, path: 'backup' });
    const worker = sandbox.spawnWorker('a', FAST_FAILURES);
    await worker.waitForLog((r) => r.msg === 'rclone ready');

    front.mode = { status: 503 };
    const job = sandbox.hub.createJob(rule.id);
    await expect.poll(() => logsOf(worker, 'job failed transiently; retrying').length, { timeout: 90_000, interval: 200 }).toBeGreaterThanOrEqual(2);
    expect(terminalReports(sandbox, job.id)).toEqual([]);
    front.mode = 'pass';

    const reports = await waitForTerminalReport(sandbox, job.id, 90_000);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    // Kept by the worker throughout: one acquisition, no hand-back, heartbeats while it waited.
    expect(acquisitionsOf(sandbox, job.id)).toBe(1);
    expect(sandbox.hub.reports.filter((r) => r.jobId === job.id && r.state === JobState.DoneFailure)).toEqual([]);
    const retries = logsOf(worker, 'job failed transiently; retrying').filter((r) => r.jobId === job.id);
    expect(String(retries[0]?.reason)).toMatch(/503/);
    const runs = runsOf(worker, job.id);
    expect(runs).toBe(retries.length + 1);
    expect(front.faultCount(503)).toBeGreaterThan(0);
    const stored = sandbox.webdav.files('carol');
    for (const [rel, bytes] of files) expect(stored.get(`backup/${rel}`)?.equals(bytes), rel).toBe(true);
    console.log(`[measure] transient 503: runs ${runs}, retries ${retries.length}, 503s answered ${front.faultCount(503)}, terminal reports ${reports.length} (DoneSuccess)`);
    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker]);
  });
});

describe("only this worker's user's storages and jobs", () => {
  it('a job of another user is handed back unrun without a spin, its storage never becomes a remote, and our own jobs still run', { timeout: 120_000 }, async () => {
    const sandbox = await startSandbox();
    const other = sandbox.addUser(OTHER_USER.email, OTHER_USER.password);
    const theirDisk = sandbox.addLocalStorage('their-disk', { user: other });
    const theirCloud = sandbox.addNextcloudStorage('their-cloud', 'dave', 'dave-e2e-password-77', { user: other });
    const mine = sandbox.addLocalStorage('my-disk');
    const theirSource = join(sandbox.dir, 'theirs');
    await makeTree(theirSource, 3, 100);
    const theirRule = sandbox.addRule('their job', { storage: theirDisk, path: theirSource }, { storage: theirCloud, path: 'x' });
    const mySource = join(sandbox.dir, 'mine');
    const myFiles = await makeTree(mySource, 5, 1000);
    const myRule = sandbox.addRule('my job', { storage: mine, path: mySource }, { storage: mine, path: join(sandbox.dir, 'my-copy') });

    const foreign = sandbox.hub.createJob(theirRule.id);
    const worker = sandbox.spawnWorker('a', FAST_FAILURES);
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const watchFrom = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    const foreignAcquisitions = sandbox.hub.acquisitions.filter((a) => a.jobId === foreign.id && a.at >= watchFrom).length;

    const own = sandbox.hub.createJob(myRule.id);
    const reports = await waitForTerminalReport(sandbox, own.id, 30_000);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    for (const [rel, bytes] of myFiles) expect((await readFile(join(sandbox.dir, 'my-copy', rel))).equals(bytes), rel).toBe(true);

    // Handed back unrun every time, at most once per backoff round (2 s doubling to 4 s here).
    expect(runsOf(worker, foreign.id)).toBe(0);
    expect(foreignAcquisitions).toBeLessThanOrEqual(10);
    expect(sandbox.hub.reports.filter((r) => r.jobId === foreign.id).every((r) => r.state === JobState.DoneFailure && r.reason?.startsWith("not this worker's user"))).toBe(true);
    expect(sandbox.hub.job(foreign.id)?.state).toBe(JobState.Ready);
    const warnings = worker.find((r) => r.msg === 'job handed back unrun' && r.jobId === foreign.id && r.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toHaveProperty('tag');
    // Their storages never became remotes; their secrets never reached a log line.
    expect(await rcloneRemotes(sandbox, 'a')).toEqual(['my-disk']);
    expect(logsOf(worker, 'storages loaded from the hub')[0]).toMatchObject({ storages: 1 });
    console.log(`[measure] foreign job: acquisitions ${foreignAcquisitions} in 30 s, runs 0, warnings ${warnings.length}`);
    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker]);
  });

  it('two users on one hub, one worker each: each builds only its own remotes and runs only its own jobs, every job DoneSuccess once', { timeout: 180_000 }, async () => {
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 400_000 } });
    const users = { a: sandbox.hubUser, b: sandbox.addUser(OTHER_USER.email, OTHER_USER.password) };
    const storages = {
      a: [sandbox.addLocalStorage('a-disk', { user: users.a }), sandbox.addNextcloudStorage('a-cloud', 'alice', 'alice-e2e-password-41', { user: users.a })],
      b: [sandbox.addLocalStorage('b-disk', { user: users.b }), sandbox.addNextcloudStorage('b-cloud', 'bob', 'bob-e2e-password-42', { user: users.b })],
    };
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 12, 20_000);
    const rules = (['a', 'b'] as const).flatMap((user) =>
      [0, 1, 2].map((i) => ({ user, rule: sandbox.addRule(`${user} job ${i}`, { storage: storages[user][0]!, path: source }, { storage: storages[user][1]!, path: `copy-${i}` }) })),
    );

    // Worker a comes first and meets b's jobs (interleaved with its own) before b's worker exists,
    // so the hand-back path is taken for certain; then b's worker joins.
    const a = sandbox.spawnWorker('a', FAST_FAILURES, { user: users.a });
    await a.waitForLog((r) => r.msg === 'rclone ready');
    const jobs = [3, 0, 4, 1, 5, 2].map((i) => ({ ...rules[i]!, job: sandbox.hub.createJob(rules[i]!.rule.id) }));
    await a.waitForLog((r) => r.msg === 'job handed back unrun' && r.level === 40);
    const workers = { a, b: sandbox.spawnWorker('b', FAST_FAILURES, { user: users.b }) };
    // A hand-back (DoneFailure) is not the end of a job: wait for the state the hub keeps.
    for (const { job } of jobs) {
      await expect.poll(() => terminalReports(sandbox, job.id).some((r) => r.state !== JobState.DoneFailure), { timeout: 120_000, interval: 250 }).toBe(true);
    }

    for (const { user, job } of jobs) {
      const other = user === 'a' ? 'b' : 'a';
      expect(terminalReports(sandbox, job.id).filter((r) => r.state !== JobState.DoneFailure), `job ${job.id}`).toEqual([
        expect.objectContaining({ state: JobState.DoneSuccess, owner: `worker-${user}` }),
      ]);
      expect(terminalReports(sandbox, job.id).filter((r) => r.state === JobState.DoneFailure).every((r) => r.owner === `worker-${other}`)).toBe(true);
      expect(runsOf(workers[user], job.id), `job ${job.id}`).toBe(1);
      expect(runsOf(workers[other], job.id), `job ${job.id}`).toBe(0);
    }
    expect(await rcloneRemotes(sandbox, 'a')).toEqual(['a-cloud', 'a-disk']);
    expect(await rcloneRemotes(sandbox, 'b')).toEqual(['b-cloud', 'b-disk']);
    for (const [user, webdavUser] of [['a', 'alice'], ['b', 'bob']] as const) {
      const stored = sandbox.webdav.files(webdavUser);
      for (let i = 0; i < 3; i++) for (const [rel, bytes] of files) expect(stored.get(`copy-${i}/${rel}`)?.equals(bytes), `${user} copy-${i}/${rel}`).toBe(true);
    }
    const handedBack = sandbox.hub.reports.filter((r) => r.state === JobState.DoneFailure).length;
    expect(sandbox.hub.reports.some((r) => r.state === JobState.DoneFailure && r.owner === 'worker-a')).toBe(true);
    const maxAcquisitions = Math.max(...jobs.map(({ job }) => acquisitionsOf(sandbox, job.id)));
    console.log(`[measure] two users: 6 jobs DoneSuccess once each; foreign hand-backs ${handedBack}; most acquisitions of one job ${maxAcquisitions}`);
    await Promise.all(Object.values(workers).map((w) => w.stop()));
    expectNoSecretsLeaked(sandbox, Object.values(workers));
  });
});
