/**
 * The report outbox on a full disk, and owned jobs after a crash (issue 9.8, 9.2), end to end:
 * `<state>/reports` is a tiny tmpfs filled to the last byte before a job ends, so its terminal
 * report cannot be stored (ENOSPC). Needs root for `mount`; skipped otherwise.
 *
 * What must hold: the job is not reported done while its report is not stored — it stays owned
 * and heartbeated, with one error line — and once there is room again exactly one terminal report
 * reaches the hub. Killed (SIGKILL) while its report cannot be stored, the worker's next start
 * resumes the same job from its owned-jobs record: again exactly one terminal report, every file
 * there. And a worker SIGKILLed mid-upload resumes the same job id after its restart.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { makeTree, type LogRecord, type Sandbox, type WorkerProcess } from '../../../scripts/sandbox.js';
import type { Job } from '../../../shared/hannibal.js';
import { expectNoSecretsLeaked, JobState, logsOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const run = promisify(execFile);
const startSandbox = sandboxPerTest();

const NOT_STORED = 'cannot store the job report (state directory full or read-only?); the job stays owned and heartbeated until it is stored, retrying';

/** A sandbox whose worker `a` keeps its reports on a 64 KiB tmpfs; undefined when mounting is not allowed. */
async function world(): Promise<{ sandbox: Sandbox; reportsDir: string } | undefined> {
  const sandbox = await startSandbox();
  const reportsDir = join(sandbox.dir, 'state-a', 'reports');
  await mkdir(reportsDir, { recursive: true, mode: 0o700 });
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', reportsDir]);
  } catch {
    return undefined;
  }
  return { sandbox, reportsDir };
}

async function fill(dir: string): Promise<void> {
  await run('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k']).catch(() => undefined);
}

interface FullDiskJob {
  sandbox: Sandbox;
  reportsDir: string;
  files: Map<string, Buffer>;
  worker: WorkerProcess;
  job: Job;
  /** The store's error line. */
  alarm: LogRecord;
}

/**
 * Worker `a` runs a local copy job after its reports directory filled up; `body` runs from the
 * store's error line on. Skipped when mounting is not allowed; the tmpfs is unmounted afterwards.
 */
async function onFullDisk(ctx: { skip: () => void }, body: (w: FullDiskJob) => Promise<void>): Promise<void> {
  const w = await world();
  if (!w) {
    ctx.skip();
    return;
  }
  const { sandbox, reportsDir } = w;
  try {
    const disk = sandbox.addLocalStorage('disk');
    const files = await makeTree(join(sandbox.dir, 'src'), 20, 4000);
    const rule = sandbox.addRule('copy', { storage: disk, path: join(sandbox.dir, 'src') }, { storage: disk, path: join(sandbox.dir, 'dst') });
    const worker = sandbox.spawnWorker('a', { WORKER_HEARTBEAT_SECONDS: '1' });
    await worker.waitForLog((r) => r.msg === 'rclone ready', 60_000);
    await fill(reportsDir);
    const job = sandbox.hub.createJob(rule.id);
    const alarm = await worker.waitForLog((r) => r.msg === NOT_STORED, 60_000);
    await body({ sandbox, reportsDir, files, worker, job, alarm });
  } finally {
    await run('umount', ['-l', reportsDir]).catch(() => undefined);
  }
}

async function sameFiles(files: Map<string, Buffer>, root: string): Promise<number> {
  let same = 0;
  for (const [rel, bytes] of files) if ((await readFile(join(root, rel)).catch(() => undefined))?.equals(bytes)) same += 1;
  return same;
}

describe('a terminal report the state directory cannot take (ENOSPC)', () => {
  it('keeps the job owned and heartbeated, and reports it exactly once when there is room again', { timeout: 180_000 }, async (ctx) => {
    await onFullDisk(ctx, async ({ sandbox, reportsDir, files, worker, job, alarm }) => {
      expect(alarm).toMatchObject({ level: 50, jobId: job.id, errno: 'ENOSPC' });
      const heartbeatsBefore = sandbox.hub.reports.filter((r) => r.jobId === job.id && r.state === JobState.Executing).length;
      await new Promise((resolve) => setTimeout(resolve, 4000));
      // Copied, but not done: no terminal report, still heartbeated (the hub keeps it ours).
      expect(await sameFiles(files, join(sandbox.dir, 'dst'))).toBe(files.size);
      expect(terminalReports(sandbox, job.id)).toEqual([]);
      const heartbeatsWhileFull = sandbox.hub.reports.filter((r) => r.jobId === job.id && r.state === JobState.Executing && r.status === 0).length - heartbeatsBefore;
      expect(heartbeatsWhileFull).toBeGreaterThanOrEqual(2);
      expect(logsOf(worker, NOT_STORED)).toHaveLength(1);

      await rm(join(reportsDir, 'filler'));
      const reports = await waitForTerminalReport(sandbox, job.id, 60_000);
      await worker.waitForLog((r) => r.msg === 'job report stored; the job is done here');
      expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
      expect(await worker.stop()).toBe(0);
      expect(terminalReports(sandbox, job.id)).toHaveLength(1);
      console.log('[outbox full]', JSON.stringify({ terminalReports: 1, heartbeatsWhileFull, errorLines: 1, filesCopied: files.size }));
      expectNoSecretsLeaked(sandbox, [worker]);
    });
  });

  it('SIGKILLed while the report cannot be stored: the next start resumes the same job and reports it exactly once', { timeout: 180_000 }, async (ctx) => {
    await onFullDisk(ctx, async ({ sandbox, reportsDir, files, worker: first, job }) => {
      process.kill(first.pid ?? 0, 'SIGKILL');
      await first.exited;
      expect(terminalReports(sandbox, job.id)).toEqual([]);

      await rm(join(reportsDir, 'filler'));
      const second = sandbox.spawnWorker('a', { WORKER_HEARTBEAT_SECONDS: '1' });
      const resumed = await second.waitForLog((r) => r.msg === 'hub still has the job as ours; resuming it with a fresh run', 60_000);
      expect(resumed.jobId).toBe(job.id);
      const reports = await waitForTerminalReport(sandbox, job.id, 60_000);
      expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
      expect(await sameFiles(files, join(sandbox.dir, 'dst'))).toBe(files.size);
      expect(await second.stop()).toBe(0);
      expect(terminalReports(sandbox, job.id)).toHaveLength(1);
      console.log('[outbox full + SIGKILL]', JSON.stringify({ terminalReports: 1, sameJobResumed: true, filesPresent: files.size }));
      expectNoSecretsLeaked(sandbox, [first, second]);
    });
  });
});

describe('a worker SIGKILLed mid-upload', () => {
  it('resumes the same job after its restart: exactly one terminal report, every file uploaded', { timeout: 180_000 }, async () => {
    const sandbox = await startSandbox();
    const disk = sandbox.addLocalStorage('disk');
    const nextcloud = sandbox.addNextcloudStorage('nc', 'alice', 'alice-resume-password-1');
    const files = await makeTree(join(sandbox.dir, 'src'), 40, 20_000);
    sandbox.webdav.setBytesPerSecond(200_000);
    const rule = sandbox.addRule('upload', { storage: disk, path: join(sandbox.dir, 'src') }, { storage: nextcloud, path: 'backup' });
    const first = sandbox.spawnWorker('a', { WORKER_HEARTBEAT_SECONDS: '1' });
    await first.waitForLog((r) => r.msg === 'rclone ready', 60_000);
    await expect.poll(() => sandbox.hub.acquisitions.filter((a) => a.owner === 'worker-a').length, { timeout: 30_000, interval: 50 }).toBeGreaterThan(0);
    const job = sandbox.hub.createJob(rule.id);
    // Mid-upload: some files are on the server, not all.
    await expect.poll(() => sandbox.webdav.files('alice').size, { timeout: 60_000, interval: 50 }).toBeGreaterThan(3);
    const uploadedAtKill = sandbox.webdav.files('alice').size;
    process.kill(first.pid ?? 0, 'SIGKILL');
    await first.exited;
    expect(uploadedAtKill).toBeLessThan(files.size);
    sandbox.webdav.setBytesPerSecond(null);

    const second = sandbox.spawnWorker('a', { WORKER_HEARTBEAT_SECONDS: '1' });
    const resumed = await second.waitForLog((r) => r.msg === 'hub still has the job as ours; resuming it with a fresh run', 60_000);
    expect(resumed.jobId).toBe(job.id);
    const reports = await waitForTerminalReport(sandbox, job.id, 90_000);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    const stored = sandbox.webdav.files('alice');
    let same = 0;
    for (const [rel, bytes] of files) if (stored.get(`backup/${rel}`)?.equals(bytes)) same += 1;
    expect(same).toBe(files.size);
    expect(await second.stop()).toBe(0);
    expect(terminalReports(sandbox, job.id)).toHaveLength(1);
    // The hub never saw the job leave this worker: no timeout, no new job for the rule.
    expect(sandbox.hub.timeouts.filter((t) => t.jobId === job.id)).toEqual([]);
    console.log('[resume after SIGKILL]', JSON.stringify({ uploadedAtKill, filesPresent: same, terminalReports: 1 }));
    expectNoSecretsLeaked(sandbox, [first, second]);
  });
});
