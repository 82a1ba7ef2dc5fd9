/**
 * The Hannibal stand-in's job semantics over REST, as the real hub has them
 * (research/real-hannibal.md §3, §7, §8; research/anchor-backer.md §4.5): acquisition (any
 * user's job, the last passing candidate, network and overlap filters, the lazy per-user
 * heartbeat timeout), reports, the rule scheduler's next job, and the records tests read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HubPaths, JobState, RuleOperation, type Job } from '../../shared/hannibal.js';
import { normaliseEndpointPath, overlaps } from '../standins/hannibal/endpoint-access.js';
import { HannibalStandin, type HannibalStandinOptions } from '../standins/hannibal/server.js';
import { nextRunAt } from '../standins/hannibal/scheduler.js';
import { timeSpanMs } from '../standins/hannibal/time-span.js';
import { HubTestClient } from './hannibal-test-client.js';
import { SAMPLE_ACQUIRE, SAMPLE_JOB, shapeOf } from './hannibal-wire-samples.js';

let standin: HannibalStandin | undefined;

afterEach(async () => {
  await standin?.close();
  standin = undefined;
});

async function startHub(options: HannibalStandinOptions = {}): Promise<{ hub: HannibalStandin; client: HubTestClient }> {
  standin = await HannibalStandin.start(options);
  const client = new HubTestClient(standin.url);
  await client.login();
  return { hub: standin, client };
}

/** A hub with two users, each with a logged-in client. */
async function startTwoUserHub(options: HannibalStandinOptions = {}): Promise<{ hub: HannibalStandin; alice: HubTestClient; bob: HubTestClient; bobId: string }> {
  const { hub, client: alice } = await startHub(options);
  const bobUser = hub.addUser({ email: 'bob@example.test', password: 'bob-password-1' });
  const bob = new HubTestClient(hub.url);
  expect((await bob.login(bobUser.email, bobUser.password)).status).toBe(200);
  return { hub, alice, bob, bobId: bobUser.id };
}

/** A rule between two endpoints; storages (of `userId`, default the first user) are created unless given. */
function addRule(
  hub: HannibalStandin,
  source: { path: string; storageId?: number },
  destination: { path: string; storageId?: number },
  options: { userId?: string; maxDestinationAge?: string; minRetryTime?: string } = {},
): number {
  const { userId, ...spans } = options;
  const storageId = (given: number | undefined, uriSchema: string) =>
    given ?? hub.addStorage({ technology: 'local', uriSchema, ...(userId === undefined ? {} : { userId }) }).id;
  const from = hub.addEndpoint({ storageId: storageId(source.storageId, 'src'), path: source.path });
  const to = hub.addEndpoint({ storageId: storageId(destination.storageId, 'dst'), path: destination.path });
  return hub.addRule({ name: `${source.path}→${destination.path}`, sourceEndpointId: from.id, destinationEndpointId: to.id, operation: RuleOperation.Copy, ...spans }).id;
}

const idOf = (reply: { body: unknown }): number => (reply.body as Job).id;

describe('acquireNextJob', () => {
  it('answers 404 with an empty body when there is no job and records the attempt', async () => {
    const { hub, client } = await startHub();

    expect(await client.acquire('worker-a', 'net-1')).toEqual({ status: 404, body: undefined });
    expect(hub.acquisitions.map(({ owner, networks, jobId }) => ({ owner, networks, jobId }))).toEqual([{ owner: 'worker-a', networks: 'net-1', jobId: null }]);
  });

  it('hands out a Ready job as Executing, serialised as the real hub does (the lab’s wire sample)', async () => {
    const { hub, client } = await startHub();
    const storage = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at', refreshToken: 'rt', clientSecret: 'cs' });
    const ruleId = addRule(hub, { path: 'photos', storageId: storage.id }, { path: 'backup/photos' });
    const created = hub.createJob(ruleId);

    const reply = await client.acquire('worker-a');

    expect(reply.status).toBe(200);
    // Same members in the same order with values of the same kinds as the lab's sample …
    expect(shapeOf(reply.body)).toEqual(shapeOf({ ...SAMPLE_JOB, owner: 'worker-a', state: JobState.Executing }));
    // … and the values the hub fills in.
    const job = reply.body as Job & Record<string, unknown>;
    expect(job).toMatchObject({
      id: created.id,
      owner: 'worker-a',
      state: JobState.Executing,
      tag: `[Scheduler] photos→backup/photos`,
      lazyLoader: {},
      fromRule: { id: ruleId, maxDestinationAge: '1.00:00:00', minRetryTime: '00:15:00', sourceEndpoint: { path: 'photos' } },
      sourceEndpoint: { path: 'photos', createdAt: '0001-01-01T00:00:00', updatedAt: '0001-01-01T00:00:00', storage: { uriSchema: 'gcs1', accessToken: 'at', refreshToken: 'rt', clientSecret: 'cs' } },
      destinationEndpoint: { storage: { uriSchema: 'dst' } },
    });
    expect(Date.parse(job.endBy!) - Date.parse(job.startFrom!)).toBe(86_400_000);
    expect(hub.job(created.id)).toMatchObject({ owner: 'worker-a', state: JobState.Executing });
    expect(hub.acquisitions.at(-1)?.jobId).toBe(created.id);
  });

  it('serves any job by id in the same shape, and 404 with an empty body for an unknown one', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');
    await client.report({ jobId: job.id, owner: 'w', state: JobState.DoneSuccess });

    const reply = await client.request('GET', HubPaths.job(job.id));

    expect(shapeOf(reply.body)).toEqual(shapeOf(SAMPLE_JOB));
    expect(reply.body).toMatchObject({ id: job.id, owner: '', state: JobState.DoneSuccess });
    expect(await client.request('GET', HubPaths.job(999))).toEqual({ status: 404, body: undefined });
  });

  it('ignores username and capabilities in the body', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));

    const reply = await client.acquire(SAMPLE_ACQUIRE.owner, '', { username: 'nobody@elsewhere.test', capabilities: 'nothing-useful' });

    expect(idOf(reply)).toBe(job.id);
  });

  it('never hands the same job to two owners asking at once', async () => {
    const { hub, client } = await startHub();
    for (let i = 0; i < 5; i++) hub.createJob(addRule(hub, { path: `s${i}` }, { path: `d${i}` }));

    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => client.acquire(`worker-${i}`)));

    const jobs = replies.filter((reply) => reply.status === 200).map((reply) => reply.body as Job);
    expect(jobs).toHaveLength(5);
    expect(new Set(jobs.map((job) => job.id)).size).toBe(5);
    expect(replies.filter((reply) => reply.status === 404)).toHaveLength(7);
    for (const job of jobs) expect(hub.job(job.id)?.owner).toBe(job.owner);
    expect(hub.concurrentRuns()).toEqual([]);
  });

  it('hands out the Ready job that starts latest, whatever its StartFrom (Hannibal’s loop keeps its last candidate)', async () => {
    const { hub, client } = await startHub();
    const earlier = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }), { startFrom: new Date(Date.now() - 60_000) });
    const future = hub.createJob(addRule(hub, { path: 'c' }, { path: 'd' }), { startFrom: new Date(Date.now() + 3_600_000) });
    const later = hub.createJob(addRule(hub, { path: 'e' }, { path: 'f' }), { startFrom: new Date(Date.now() - 1_000) });

    expect(idOf(await client.acquire('w'))).toBe(future.id);
    expect(idOf(await client.acquire('w'))).toBe(later.id);
    expect(idOf(await client.acquire('w'))).toBe(earlier.id);
    expect((await client.acquire('w')).status).toBe(404);
  });

  it('skips jobs whose storages are bound to another network', async () => {
    const { hub, client } = await startHub();
    const nas = hub.addStorage({ technology: 'smb', uriSchema: 'nas', networks: ' fe80::1 ' });
    const job = hub.createJob(addRule(hub, { path: 'docs' }, { path: 'docs', storageId: nas.id }));

    expect((await client.acquire('w', 'fe80::2')).status).toBe(404);
    const reply = await client.acquire('w', 'fe80::1');

    expect(reply.status).toBe(200);
    expect(idOf(reply)).toBe(job.id);
  });

  it('skips a job that would read a tree being written, or write a tree in use', async () => {
    const { hub, client } = await startHub();
    const disk = hub.addStorage({ technology: 'local', uriSchema: 'disk' }).id;
    const other = hub.addStorage({ technology: 'local', uriSchema: 'other' }).id;
    const running = hub.createJob(addRule(hub, { path: 'home/a', storageId: disk }, { path: '/usr/lib', storageId: disk }));
    expect((await client.acquire('w1')).status).toBe(200);

    const readsWritten = hub.createJob(addRule(hub, { path: 'usr/lib/x/', storageId: disk }, { path: 'out', storageId: other }));
    const writesRead = hub.createJob(addRule(hub, { path: 'in', storageId: other }, { path: 'home', storageId: disk }));
    const writesWritten = hub.createJob(addRule(hub, { path: 'in2', storageId: other }, { path: '/', storageId: disk }));
    const free = hub.createJob(addRule(hub, { path: 'usr/library', storageId: disk }, { path: 'home/b', storageId: disk }));
    const readsReadTree = hub.createJob(addRule(hub, { path: 'home/a', storageId: disk }, { path: 'usr/lib', storageId: other }));

    const handedOut: number[] = [];
    for (let reply = await client.acquire('w2'); reply.status === 200; reply = await client.acquire('w2')) handedOut.push(idOf(reply));

    expect(new Set(handedOut)).toEqual(new Set([free.id, readsReadTree.id]));
    for (const job of [running, free, readsReadTree]) await client.report({ jobId: job.id, owner: 'w', state: JobState.DoneSuccess });
    // Nothing runs now. The latest, writing `/`, goes first and holds the other two back.
    expect(idOf(await client.acquire('w3'))).toBe(writesWritten.id);
    expect((await client.acquire('w3')).status).toBe(404);
    await client.report({ jobId: writesWritten.id, owner: 'w3', state: JobState.DoneSuccess });
    expect(idOf(await client.acquire('w3'))).toBe(writesRead.id);
    expect(idOf(await client.acquire('w3'))).toBe(readsWritten.id);
  });

  it('hands any user’s job to whoever asks, and only the caller’s own in per-user mode', async () => {
    const anyUser = await startTwoUserHub();
    const alicesJob = anyUser.hub.createJob(addRule(anyUser.hub, { path: 'a' }, { path: 'b' }));
    expect(idOf(await anyUser.bob.acquire('bobs-worker'))).toBe(alicesJob.id);
    expect(anyUser.hub.acquisitions.at(-1)).toMatchObject({ owner: 'bobs-worker', userId: anyUser.bobId, jobId: alicesJob.id });
    await anyUser.hub.close();

    const perUser = await startTwoUserHub({ jobScope: 'per-user' });
    const aliceJob = perUser.hub.createJob(addRule(perUser.hub, { path: 'a' }, { path: 'b' }));
    const bobJob = perUser.hub.createJob(addRule(perUser.hub, { path: 'c' }, { path: 'd' }, { userId: perUser.bobId }));
    expect(idOf(await perUser.bob.acquire('bobs-worker'))).toBe(bobJob.id);
    expect((await perUser.bob.acquire('bobs-worker')).status).toBe(404);
    expect(idOf(await perUser.alice.acquire('alices-worker'))).toBe(aliceJob.id);
  });
});

describe('the heartbeat deadline', () => {
  it('fails the caller’s stale Executing jobs at its next acquisition: DoneFailure, owner kept, nothing announced', async () => {
    const { hub, client } = await startHub({ heartbeatTimeoutSeconds: 0.2 });
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');
    const lastReported = hub.job(job.id)?.lastReported;

    await expect
      .poll(async () => {
        await client.acquire('other');
        return hub.job(job.id);
      }, { timeout: 5000, interval: 50 })
      .toMatchObject({ state: JobState.DoneFailure, owner: 'w', lastReported });
    expect(hub.timeouts).toEqual([{ at: expect.any(Number) as unknown, jobId: job.id, owner: 'w' }]);
    // The worker learns of it from its next heartbeat.
    expect((await client.report({ jobId: job.id, owner: 'w', state: JobState.Executing })).body).toEqual({ status: -1 });
  });

  it('is checked for the calling user’s jobs only, so another user’s acquisitions never time a job out', async () => {
    const { hub, alice, bob } = await startTwoUserHub({ heartbeatTimeoutSeconds: 0.2 });
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await alice.acquire('alices-worker');
    await new Promise((resolve) => setTimeout(resolve, 400));

    for (let i = 0; i < 3; i++) await bob.acquire('bobs-worker');
    expect(hub.job(job.id)).toMatchObject({ state: JobState.Executing, owner: 'alices-worker' });

    await alice.acquire('alices-worker');
    expect(hub.job(job.id)).toMatchObject({ state: JobState.DoneFailure, owner: 'alices-worker' });
  });

  it('keeps a job whose heartbeats arrive in time', async () => {
    const { hub, client } = await startHub({ heartbeatTimeoutSeconds: 60 });
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');
    const firstBeat = hub.job(job.id)?.lastReported;

    await expect
      .poll(async () => {
        await client.report({ jobId: job.id, owner: 'w', state: JobState.Executing });
        return hub.job(job.id)?.lastReported;
      }, { interval: 5 })
      .not.toBe(firstBeat);
    await client.acquire('other');
    expect(hub.job(job.id)).toMatchObject({ state: JobState.Executing, owner: 'w' });
  });
});

describe('reportJob', () => {
  it('puts a DoneFailure job back to Ready and unowned, so it can be acquired again at once', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');

    const reply = await client.report({ jobId: job.id, owner: 'w', state: JobState.DoneFailure, reason: 'token revoked' });

    expect(reply).toEqual({ status: 200, body: { status: 0 } });
    expect(hub.job(job.id)).toMatchObject({ state: JobState.Ready, owner: '' });
    expect(idOf(await client.acquire('w'))).toBe(job.id);
    expect(hub.plannedRuns().size).toBe(0);
  });

  it.each([JobState.DoneSuccess, JobState.DoneWithErrors])('ends the job in the reported state %i; the rule’s next job is due at lastReported + maxDestinationAge', async (state) => {
    const { hub, client } = await startHub();
    const ruleId = addRule(hub, { path: 'a' }, { path: 'b' }, { maxDestinationAge: '2.00:00:00' });
    const job = hub.createJob(ruleId);
    await client.acquire('w');
    await client.report({ jobId: job.id, owner: 'w', state: JobState.Executing });
    const lastBeat = hub.job(job.id)!.lastReported!;
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect((await client.report({ jobId: job.id, owner: 'w', state })).body).toEqual({ status: 0 });

    // The terminal report leaves lastReported at the last heartbeat.
    expect(hub.job(job.id)).toMatchObject({ state, owner: '', lastReported: lastBeat });
    expect(hub.plannedRuns()).toEqual(new Map([[ruleId, Date.parse(lastBeat) + 2 * 86_400_000]]));
    expect((await client.acquire('w')).status).toBe(404);
  });

  it('ends a Cancelled job, and the scheduler creates the rule’s next job at once', async () => {
    const { hub, client } = await startHub();
    const ruleId = addRule(hub, { path: 'a' }, { path: 'b' });
    const job = hub.createJob(ruleId);
    await client.acquire('w');

    expect((await client.report({ jobId: job.id, owner: 'w', state: JobState.Cancelled })).body).toEqual({ status: 0 });

    expect(hub.job(job.id)).toMatchObject({ state: JobState.Cancelled, owner: '' });
    await expect.poll(() => hub.jobs().filter((j) => j.fromRuleId === ruleId && j.state === JobState.Ready)).toHaveLength(1);
    expect(idOf(await client.acquire('w'))).not.toBe(job.id);
  });

  it('schedules the rule of a timed-out job again at lastReported + minRetryTime', async () => {
    const { hub, client } = await startHub({ heartbeatTimeoutSeconds: 0.1 });
    const ruleId = addRule(hub, { path: 'a' }, { path: 'b' }, { minRetryTime: '00:00:00.400' });
    const job = hub.createJob(ruleId);
    await client.acquire('w');
    const lastReported = Date.parse(hub.job(job.id)!.lastReported!);
    await new Promise((resolve) => setTimeout(resolve, 200));

    expect((await client.acquire('other')).status).toBe(404);

    expect(hub.plannedRuns()).toEqual(new Map([[ruleId, lastReported + 400]]));
    await expect.poll(() => hub.jobs().filter((j) => j.fromRuleId === ruleId)).toHaveLength(2);
    expect(hub.jobs().at(-1)).toMatchObject({ state: JobState.Ready, owner: '' });
  });

  it('applies an unexpected state as "no change": status 0, still Executing, lastReported untouched', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');
    const before = hub.job(job.id);

    expect((await client.report({ jobId: job.id, owner: 'w', state: JobState.Ready })).body).toEqual({ status: 0 });

    expect(hub.job(job.id)).toEqual(before);
  });

  it('accepts a report from any owner, as Hannibal does not check it', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');

    expect((await client.report({ jobId: job.id, owner: 'somebody-else', state: JobState.DoneSuccess })).body).toEqual({ status: 0 });
    expect(hub.job(job.id)?.state).toBe(JobState.DoneSuccess);
  });

  it('answers status -1 with HTTP 200 for an unknown job or one not Executing, whatever the owner, and records every report', async () => {
    const { hub, client } = await startHub();
    const ready = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));

    expect(await client.report({ jobId: 404, owner: 'w', state: JobState.Executing })).toEqual({ status: 200, body: { status: -1 } });
    expect((await client.report({ jobId: ready.id, owner: '', state: JobState.DoneSuccess })).body).toEqual({ status: -1 });
    expect((await client.request('POST', '/api/hannibal/v1/reportJob', { owner: 'w' })).status).toBe(400);
    expect((await client.request('POST', '/api/hannibal/v1/reportJob', { jobId: ready.id, owner: 'w', state: 'DoneSuccess' })).status).toBe(400);

    expect(hub.job(ready.id)?.state).toBe(JobState.Ready);
    expect(hub.reports.map(({ jobId, owner, state, status }) => ({ jobId, owner, state, status }))).toEqual([
      { jobId: 404, owner: 'w', state: JobState.Executing, status: -1 },
      { jobId: ready.id, owner: '', state: JobState.DoneSuccess, status: -1 },
    ]);
  });

  it('records the reason of a report and the reporting user', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');

    await client.report({ jobId: job.id, owner: 'w', state: JobState.DoneWithErrors, reason: '3 files failed' });

    expect(hub.reports).toEqual([
      { at: expect.any(Number) as unknown, jobId: job.id, owner: 'w', state: JobState.DoneWithErrors, reason: '3 files failed', status: 0, userId: hub.users()[0]!.id },
    ]);
  });

  it('creates the next job of a rule soon after a successful one when rescheduling is overridden', async () => {
    const { hub, client } = await startHub({ rescheduleAfterMs: 20 });
    const ruleId = addRule(hub, { path: 'a' }, { path: 'b' });
    const first = hub.createJob(ruleId);
    await client.acquire('w');
    await client.report({ jobId: first.id, owner: 'w', state: JobState.DoneFailure });
    expect(hub.jobs()).toHaveLength(1);
    await client.acquire('w');

    await client.report({ jobId: first.id, owner: 'w', state: JobState.DoneSuccess });

    await expect.poll(() => hub.jobs().filter((job) => job.fromRuleId === ruleId && job.state === JobState.Ready)).toHaveLength(1);
  });

  it('plans nothing when the rule already has a newer job', async () => {
    const { hub, client } = await startHub({ rescheduleAfterMs: 20 });
    const ruleId = addRule(hub, { path: 'a' }, { path: 'b' });
    const first = hub.createJob(ruleId);
    await client.acquire('w');
    hub.createJob(ruleId, { broadcast: false });

    await client.report({ jobId: first.id, owner: 'w', state: JobState.DoneSuccess });
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(hub.jobs()).toHaveLength(2);
  });
});

describe('job history and concurrent runs', () => {
  it('counts acquisitions per job and owner, and finds no concurrent run in a clean hand-over', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w1');
    await client.report({ jobId: job.id, owner: 'w1', state: JobState.Executing });
    await client.report({ jobId: job.id, owner: 'w1', state: JobState.DoneFailure });
    await client.acquire('w2');
    await client.report({ jobId: job.id, owner: 'w2', state: JobState.DoneSuccess });

    const history = hub.jobHistory(job.id);

    expect(history.acquiredBy).toEqual(['w1', 'w2']);
    expect(history.reports.map((r) => [r.owner, r.state])).toEqual([
      ['w1', JobState.Executing],
      ['w1', JobState.DoneFailure],
      ['w2', JobState.DoneSuccess],
    ]);
    expect(history.runs.map(({ owner, reportedState, timedOut }) => ({ owner, reportedState, timedOut }))).toEqual([
      { owner: 'w1', reportedState: JobState.DoneFailure, timedOut: false },
      { owner: 'w2', reportedState: JobState.DoneSuccess, timedOut: false },
    ]);
    expect(hub.concurrentRuns()).toEqual([]);
  });

  it('finds a concurrent run when an owner still heartbeats a job it handed back and another owner took', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w1');
    await client.report({ jobId: job.id, owner: 'w1', state: JobState.DoneFailure });
    await client.acquire('w2');
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Reports are not owner-checked: w1's stray heartbeat is applied, and shows w1 still running the job.
    expect((await client.report({ jobId: job.id, owner: 'w1', state: JobState.Executing })).body).toEqual({ status: 0 });

    const concurrent = hub.concurrentRuns();

    expect(concurrent).toHaveLength(1);
    expect(concurrent[0]).toMatchObject({ jobId: job.id, first: { owner: 'w1' }, second: { owner: 'w2', to: null } });
  });

  it('ends a run at the hub’s timeout, or later at the owner’s last heartbeat', async () => {
    const { hub, client } = await startHub({ heartbeatTimeoutSeconds: 0.1 });
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w1');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await client.acquire('w2');
    expect(hub.runs()).toEqual([expect.objectContaining({ jobId: job.id, owner: 'w1', to: hub.timeouts[0]!.at, timedOut: true })]);

    await new Promise((resolve) => setTimeout(resolve, 5));
    await client.report({ jobId: job.id, owner: 'w1', state: JobState.Executing });

    expect(hub.runs()[0]?.to).toBe(hub.reports.at(-1)!.at);
  });
});

describe('the rule scheduler’s table', () => {
  const rule = { id: 1, name: 'r', sourceEndpointId: 1, destinationEndpointId: 2, operation: RuleOperation.Copy, maxDestinationAge: '1.00:00:00', minRetryTime: '00:15:00' };
  const job = (state: JobState) => ({ id: 1, operation: RuleOperation.Copy, owner: '', state, sourceEndpointId: 1, destinationEndpointId: 2, lastReported: '2026-11-29T23:21:52.000Z' });
  const lastReported = Date.parse('2026-11-29T23:21:52.000Z');
  const now = Date.parse('2026-11-29T23:30:00.000Z');

  it('plans success and partial success at lastReported + maxDestinationAge, a timeout at + minRetryTime, a cancel at once', () => {
    expect(nextRunAt(rule, job(JobState.DoneSuccess), now)).toBe(lastReported + 86_400_000);
    expect(nextRunAt(rule, job(JobState.DoneWithErrors), now)).toBe(lastReported + 86_400_000);
    expect(nextRunAt(rule, job(JobState.DoneFailure), now)).toBe(lastReported + 900_000);
    expect(nextRunAt(rule, job(JobState.Cancelled), now)).toBe(now);
    for (const pending of [JobState.Preparing, JobState.Ready, JobState.Executing]) expect(nextRunAt(rule, job(pending), now)).toBeNull();
  });

  it('falls back to one day and 15 minutes for zero spans', () => {
    const zero = { ...rule, maxDestinationAge: '00:00:00', minRetryTime: '00:00:00' };
    expect(nextRunAt(zero, job(JobState.DoneSuccess), now)).toBe(lastReported + 86_400_000);
    expect(nextRunAt(zero, job(JobState.DoneFailure), now)).toBe(lastReported + 900_000);
  });
});

describe('endpoint paths and time spans', () => {
  it('normalises paths with one leading and one trailing slash', () => {
    expect(normaliseEndpointPath('')).toBe('/');
    expect(normaliseEndpointPath('usr//lib/')).toBe('/usr/lib/');
    expect(normaliseEndpointPath('/usr/lib')).toBe('/usr/lib/');
  });

  it('sees an overlap when one path contains the other on the same storage only', () => {
    expect(overlaps({ storageId: 1, path: 'usr/lib' }, { storageId: 1, path: '/usr/lib/x' })).toBe(true);
    expect(overlaps({ storageId: 1, path: '/usr/lib/x' }, { storageId: 1, path: 'usr' })).toBe(true);
    expect(overlaps({ storageId: 1, path: 'usr/lib' }, { storageId: 1, path: 'usr/library' })).toBe(false);
    expect(overlaps({ storageId: 1, path: 'usr/lib' }, { storageId: 2, path: 'usr/lib' })).toBe(false);
    expect(overlaps({ storageId: 1, path: '' }, { storageId: 1, path: 'anything' })).toBe(true);
  });

  it('reads .NET TimeSpan strings', () => {
    expect(timeSpanMs('1.00:00:00')).toBe(86_400_000);
    expect(timeSpanMs('00:15:00')).toBe(900_000);
    expect(timeSpanMs('2.03:04:05.5')).toBe(((2 * 24 + 3) * 60 + 4) * 60_000 + 5_500);
    expect(() => timeSpanMs('soon')).toThrow(/TimeSpan/);
  });
});
