/**
 * The Hannibal stand-in's job semantics over REST: acquisition (filters, exclusivity, heartbeat
 * timeout) and reports (research/anchor-backer.md §4.5).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { JobState, RuleOperation, type Job } from '../../shared/hannibal.js';
import { normaliseEndpointPath, overlaps } from '../standins/hannibal/endpoint-access.js';
import { HannibalStandin, type HannibalStandinOptions } from '../standins/hannibal/server.js';
import { timeSpanMs } from '../standins/hannibal/store.js';
import { HubTestClient } from './hannibal-test-client.js';

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

/** A rule between two endpoints; storages are created unless given. */
function addRule(
  hub: HannibalStandin,
  source: { path: string; storageId?: number },
  destination: { path: string; storageId?: number },
): number {
  const storageId = (given: number | undefined, uriSchema: string) => given ?? hub.addStorage({ technology: 'local', uriSchema }).id;
  const from = hub.addEndpoint({ storageId: storageId(source.storageId, 'src'), path: source.path });
  const to = hub.addEndpoint({ storageId: storageId(destination.storageId, 'dst'), path: destination.path });
  return hub.addRule({ name: `${source.path}→${destination.path}`, sourceEndpointId: from.id, destinationEndpointId: to.id, operation: RuleOperation.Copy }).id;
}

describe('acquireNextJob', () => {
  it('answers 404 when there is no job and records the attempt', async () => {
    const { hub, client } = await startHub();

    expect(await client.acquire('worker-a', 'net-1')).toEqual({ status: 404, body: undefined });
    expect(hub.acquisitions.map(({ owner, networks, jobId }) => ({ owner, networks, jobId }))).toEqual([{ owner: 'worker-a', networks: 'net-1', jobId: null }]);
  });

  it('hands out a Ready job as Executing, with endpoints, storages and rule embedded', async () => {
    const { hub, client } = await startHub();
    const storage = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at' });
    const ruleId = addRule(hub, { path: 'photos', storageId: storage.id }, { path: 'backup/photos' });
    const created = hub.createJob(ruleId);

    const reply = await client.acquire('worker-a');

    expect(reply.status).toBe(200);
    const job = reply.body as Job;
    expect(job).toMatchObject({ id: created.id, owner: 'worker-a', state: JobState.Executing, operation: RuleOperation.Copy, fromRuleId: ruleId });
    expect(job.sourceEndpoint).toMatchObject({ path: 'photos', storage: { uriSchema: 'gcs1', accessToken: 'at' } });
    expect(job.destinationEndpoint?.storage?.uriSchema).toBe('dst');
    expect(job.fromRule).toMatchObject({ id: ruleId, maxDestinationAge: '1.00:00:00' });
    expect(hub.job(created.id)).toMatchObject({ owner: 'worker-a', state: JobState.Executing });
    expect(hub.acquisitions.at(-1)?.jobId).toBe(created.id);
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
  });

  it('takes the earliest due job and leaves jobs that start later', async () => {
    const { hub, client } = await startHub();
    const later = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }), { startFrom: new Date(Date.now() - 1_000) });
    const earlier = hub.createJob(addRule(hub, { path: 'c' }, { path: 'd' }), { startFrom: new Date(Date.now() - 60_000) });
    hub.createJob(addRule(hub, { path: 'e' }, { path: 'f' }), { startFrom: new Date(Date.now() + 3_600_000) });

    expect(((await client.acquire('w')).body as Job).id).toBe(earlier.id);
    expect(((await client.acquire('w')).body as Job).id).toBe(later.id);
    expect((await client.acquire('w')).status).toBe(404);
  });

  it('skips jobs whose storages are bound to another network', async () => {
    const { hub, client } = await startHub();
    const nas = hub.addStorage({ technology: 'smb', uriSchema: 'nas', networks: ' fe80::1 ' });
    const job = hub.createJob(addRule(hub, { path: 'docs' }, { path: 'docs', storageId: nas.id }));

    expect((await client.acquire('w', 'fe80::2')).status).toBe(404);
    const reply = await client.acquire('w', 'fe80::1');

    expect(reply.status).toBe(200);
    expect((reply.body as Job).id).toBe(job.id);
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
    for (let reply = await client.acquire('w2'); reply.status === 200; reply = await client.acquire('w2')) handedOut.push((reply.body as Job).id);

    expect(handedOut).toEqual([free.id, readsReadTree.id]);
    await client.report({ jobId: running.id, owner: 'w1', state: JobState.DoneSuccess });
    await client.report({ jobId: free.id, owner: 'w2', state: JobState.DoneSuccess });
    await client.report({ jobId: readsReadTree.id, owner: 'w2', state: JobState.DoneSuccess });
    const rest: number[] = [];
    for (let reply = await client.acquire('w3'); reply.status === 200; reply = await client.acquire('w3')) rest.push((reply.body as Job).id);
    expect(rest).toEqual([readsWritten.id, writesRead.id]);
    expect(hub.job(writesWritten.id)?.state).toBe(JobState.Ready);
  });

  it('fails Executing jobs whose last heartbeat is older than the deadline at the next acquisition', async () => {
    const { hub, client } = await startHub({ heartbeatTimeoutSeconds: 0.2 });
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');

    await expect
      .poll(async () => {
        await client.acquire('other');
        return hub.job(job.id);
      }, { timeout: 5000, interval: 50 })
      .toMatchObject({ state: JobState.DoneFailure, owner: '' });
    expect((await client.report({ jobId: job.id, owner: 'w', state: JobState.Executing })).body).toEqual({ status: -1 });
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
    expect(((await client.acquire('w')).body as Job).id).toBe(job.id);
  });

  it.each([JobState.DoneSuccess, JobState.DoneWithErrors, JobState.Cancelled])('ends the job in the reported finished state %i', async (state) => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');

    expect((await client.report({ jobId: job.id, owner: 'w', state })).body).toEqual({ status: 0 });

    expect(hub.job(job.id)).toMatchObject({ state, owner: '' });
    expect((await client.acquire('w')).status).toBe(404);
  });

  it('accepts a report from any owner, as Hannibal does not check it', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');

    expect((await client.report({ jobId: job.id, owner: 'somebody-else', state: JobState.DoneSuccess })).body).toEqual({ status: 0 });
    expect(hub.job(job.id)?.state).toBe(JobState.DoneSuccess);
  });

  it('answers status -1 with HTTP 200 for an unknown job or one not Executing, and records every report', async () => {
    const { hub, client } = await startHub();
    const ready = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }), { startFrom: new Date(Date.now() + 60_000) });

    expect(await client.report({ jobId: 404, owner: 'w', state: JobState.Executing })).toEqual({ status: 200, body: { status: -1 } });
    expect((await client.report({ jobId: ready.id, owner: 'w', state: JobState.DoneSuccess })).body).toEqual({ status: -1 });
    expect((await client.request('POST', '/api/hannibal/v1/reportJob', { owner: 'w' })).status).toBe(400);

    expect(hub.job(ready.id)?.state).toBe(JobState.Ready);
    expect(hub.reports.map(({ jobId, owner, state, status }) => ({ jobId, owner, state, status }))).toEqual([
      { jobId: 404, owner: 'w', state: JobState.Executing, status: -1 },
      { jobId: ready.id, owner: 'w', state: JobState.DoneSuccess, status: -1 },
    ]);
  });

  it('records the reason of a report', async () => {
    const { hub, client } = await startHub();
    const job = hub.createJob(addRule(hub, { path: 'a' }, { path: 'b' }));
    await client.acquire('w');

    await client.report({ jobId: job.id, owner: 'w', state: JobState.DoneWithErrors, reason: '3 files failed' });

    expect(hub.reports).toEqual([{ at: expect.any(Number) as unknown, jobId: job.id, owner: 'w', state: JobState.DoneWithErrors, reason: '3 files failed', status: 0 }]);
  });

  it('creates the next job of a rule after a successful one when rescheduling is on', async () => {
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
