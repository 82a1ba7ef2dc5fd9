/**
 * The worker's main job, end to end: real rclone, the stand-in hub over REST + SignalR, and the
 * worker process as users run it (issue: "The worker runs hub jobs end to end").
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { RuleOperation } from '../../../shared/hannibal.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

async function sameTree(files: Map<string, Buffer>, root: string): Promise<number> {
  let same = 0;
  for (const [rel, bytes] of files) {
    const copy = await readFile(join(root, rel)).catch(() => undefined);
    if (copy?.equals(bytes)) same += 1;
  }
  return same;
}

describe('a hub job, end to end', () => {
  it('is announced by NewJobAvailable, acquired, copied byte for byte, heartbeated and reported DoneSuccess', async () => {
    const sandbox = await startSandbox();
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'alice', 'alice-e2e-password-1');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 80, () => 1000 + Math.floor(Math.random() * 30_000));
    // Slow enough that several heartbeats (every 1 s here) happen during the copy.
    sandbox.webdav.setBytesPerSecond(300_000);
    const rule = sandbox.addRule('to nextcloud', { storage: laptop, path: source }, { storage: nextcloud, path: 'backup' });

    const worker = sandbox.spawnWorker('a', { WORKER_HEARTBEAT_SECONDS: '1' });
    await worker.waitForLog((r) => r.msg === 'connected to the hub');
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rcPassword = rcPasswordOf(worker.rclonePid());
    // The worker asks for work once it is Running; only a job created after that first
    // (empty) acquisition can be the one NewJobAvailable announces.
    await expect.poll(() => sandbox.hub.acquisitions.filter((a) => a.owner === 'worker-a').length, { timeout: 30_000, interval: 50 }).toBeGreaterThan(0);

    const job = sandbox.hub.createJob(rule.id);
    const reports = await waitForTerminalReport(sandbox, job.id, 60_000);

    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    const acquired = logsOf(worker, 'job acquired').find((r) => r.jobId === job.id);
    // The announcement may land while the first (empty) round is still answering; the round
    // that follows it names it.
    expect(acquired?.trigger).toMatch(/^NewJobAvailable( \(arrived during the last round\))?$/);
    const heartbeats = sandbox.hub.reports.filter((r) => r.jobId === job.id && r.state === JobState.Executing);
    expect(heartbeats.length).toBeGreaterThanOrEqual(1);
    expect(heartbeats.every((r) => r.status === 0)).toBe(true);

    const stored = sandbox.webdav.files('alice');
    let same = 0;
    for (const [rel, bytes] of files) if (stored.get(`backup/${rel}`)?.equals(bytes)) same += 1;
    expect(same).toBe(files.size);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });

  it('reports a missing source and a partly blocked destination DoneWithErrors (terminal: the hub does not re-queue them)', async () => {
    const sandbox = await startSandbox();
    const laptop = sandbox.addLocalStorage('laptop');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 40, 2000, 2); // d0/… and d1/…
    const missing = sandbox.addRule('missing source', { storage: laptop, path: join(sandbox.dir, 'does-not-exist') }, { storage: laptop, path: join(sandbox.dir, 'out1') });
    // A plain file where the directory d1 must go: every file of d1 fails, d0 copies.
    const blocked = join(sandbox.dir, 'out2');
    await mkdir(blocked, { recursive: true });
    await writeFile(join(blocked, 'd1'), 'in the way');
    const partial = sandbox.addRule('partly blocked', { storage: laptop, path: source }, { storage: laptop, path: blocked });

    const worker = sandbox.spawnWorker('a');
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const failing = sandbox.hub.createJob(missing.id);
    const withErrors = sandbox.hub.createJob(partial.id);

    const [failure] = await waitForTerminalReport(sandbox, failing.id, 30_000);
    expect(failure?.state).toBe(JobState.DoneWithErrors);
    expect(failure?.reason).toBe('not found: directory not found');

    const [errors] = await waitForTerminalReport(sandbox, withErrors.id, 30_000);
    expect(errors?.state).toBe(JobState.DoneWithErrors);
    const d0 = new Map([...files].filter(([rel]) => rel.startsWith('d0/')));
    expect(await sameTree(d0, blocked)).toBe(d0.size);

    expect(terminalReports(sandbox, failing.id)).toHaveLength(1);
    expect(terminalReports(sandbox, withErrors.id)).toHaveLength(1);
    await worker.stop();
    expectNoSecretsLeaked(sandbox, [worker]);
  });

  it('is shared by two workers with different owner ids without running any job twice', async () => {
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 400_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'bob', 'bob-e2e-password-22');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 20, 10_000);
    const rules = Array.from({ length: 8 }, (_, i) =>
      sandbox!.addRule(`job ${i}`, { storage: laptop, path: source }, { storage: nextcloud, path: `copy-${i}` }, RuleOperation.Copy),
    );

    const a = sandbox.spawnWorker('a', { WORKER_MAX_JOBS: '2' });
    const b = sandbox.spawnWorker('b', { WORKER_MAX_JOBS: '2' });
    await Promise.all([a, b].map((w) => w.waitForLog((r) => r.msg === 'rclone ready')));
    const jobs = rules.map((rule) => sandbox!.hub.createJob(rule.id));

    for (const job of jobs) await waitForTerminalReport(sandbox, job.id, 90_000);

    const owners = new Map<number, string[]>();
    for (const acq of sandbox.hub.acquisitions) {
      if (acq.jobId === null) continue;
      owners.set(acq.jobId, [...(owners.get(acq.jobId) ?? []), acq.owner]);
    }
    for (const job of jobs) {
      expect(owners.get(job.id), `job ${job.id}`).toHaveLength(1);
      const reports = terminalReports(sandbox, job.id);
      expect(reports, `job ${job.id}`).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
      expect(reports[0]?.owner).toBe(owners.get(job.id)?.[0]);
    }
    const byOwner = new Set([...owners.values()].flat());
    expect(byOwner).toEqual(new Set(['worker-a', 'worker-b']));

    const stored = sandbox.webdav.files('bob');
    for (let i = 0; i < jobs.length; i++) {
      for (const [rel, bytes] of files) expect(stored.get(`copy-${i}/${rel}`)?.equals(bytes), `copy-${i}/${rel}`).toBe(true);
    }
    await Promise.all([a.stop(), b.stop()]);
    expectNoSecretsLeaked(sandbox, [a, b]);
  });

  it('learns a storage created after it started when a job names it: the remote exists before its first token push (no rclone error, real-hannibal F4)', { timeout: 120_000 }, async () => {
    // 60 s tokens: the worker's just-in-time threshold makes the job's start refresh (and push) the token.
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: 60 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const worker = sandbox.spawnWorker('a');
    await worker.waitForLog((r) => r.msg === 'rclone ready');

    const { storage: late } = sandbox.addGcsStorage('late-gcs');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 6, 2000);
    const rule = sandbox.addRule('to the new storage', { storage: laptop, path: source }, { storage: late, path: 'bucket/late' });
    const job = sandbox.hub.createJob(rule.id);

    expect(await waitForTerminalReport(sandbox, job.id, 60_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    const refreshed = logsOf(worker, 'token refreshed').filter((r) => r.storage === 'late-gcs');
    expect(refreshed.length).toBeGreaterThanOrEqual(1);
    expect(worker.find((r) => r.component === 'rclone' && r.level >= 50)).toEqual([]);
    expect(logsOf(worker, 'could not push token to rclone; the remote gets it when it is next (re)created')).toEqual([]);
    const stored = sandbox.gcs.objects('bucket');
    for (const [rel, bytes] of files) expect(stored.get(`late/${rel}`)?.equals(bytes), rel).toBe(true);
    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker]);
  });
});

