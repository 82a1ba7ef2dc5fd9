/**
 * rclone dies under the worker, end to end: a SIGKILLed rclone is restarted with kubelet-style
 * backoff and the interrupted job is re-run to exactly one terminal report; a SIGTERMed worker
 * hands its running job back once and leaves no rclone behind.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree, type LogRecord, type WorkerProcess } from '../../../scripts/sandbox.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

/** True while `pid` is a live (not zombie) rclone process. */
function isLiveRclone(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const state = /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    return cmdline.includes('rclone') && state !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of rclone processes whose command line names `configDir` (the worker's private config). */
function rclonesUsing(configDir: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', `rclone rcd .*${configDir}`], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Every pid the worker logged as a ready rclone, in order. */
function readyPids(worker: WorkerProcess): number[] {
  return logsOf(worker, 'rclone ready').map((r) => r.rclonePid as number);
}

/** Waits for the n-th 'rclone ready' line; returns its pid. */
async function nthRclone(worker: WorkerProcess, n: number): Promise<number> {
  await expect.poll(() => readyPids(worker).length, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(n);
  return readyPids(worker)[n - 1]!;
}

function runStarted(worker: WorkerProcess, jobId: number, run: number): Promise<LogRecord> {
  return worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === jobId && r.run === run);
}


describe('rclone killed during a job', () => {
  it('is restarted with growing backoff, and the job is re-run to exactly one DoneSuccess with every byte copied', { timeout: 180_000 }, async () => {
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 150_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'carol', 'carol-e2e-password-3');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 60, () => 10_000 + Math.floor(Math.random() * 20_000));
    const rule = sandbox.addRule('to nextcloud', { storage: laptop, path: source }, { storage: nextcloud, path: 'backup' });

    const worker = sandbox.spawnWorker('a', { WORKER_HEARTBEAT_SECONDS: '1' });
    const rcPasswords: string[] = [];
    const first = await nthRclone(worker, 1);
    rcPasswords.push(rcPasswordOf(first) ?? '');
    const job = sandbox.hub.createJob(rule.id);

    // First crash: mid-copy, some files already on the server.
    await runStarted(worker, job.id, 1);
    await expect.poll(() => sandbox!.webdav.files('carol').size, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(3);
    expect(terminalReports(sandbox, job.id)).toEqual([]);
    process.kill(first, 'SIGKILL');

    const second = await nthRclone(worker, 2);
    rcPasswords.push(rcPasswordOf(second) ?? '');
    expect(second).not.toBe(first);
    // Second crash in a row, as soon as the job runs again.
    await runStarted(worker, job.id, 2);
    expect(terminalReports(sandbox, job.id)).toEqual([]);
    process.kill(second, 'SIGKILL');

    const third = await nthRclone(worker, 3);
    rcPasswords.push(rcPasswordOf(third) ?? '');
    expect(new Set([first, second, third]).size).toBe(3);
    await runStarted(worker, job.id, 3);

    const reports = await waitForTerminalReport(sandbox, job.id, 120_000);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    // The worker kept the job through both crashes: acquired once, re-run in the new rclones.
    expect(sandbox.hub.acquisitions.filter((a) => a.jobId === job.id)).toHaveLength(1);
    expect(logsOf(worker, 'rclone exited during the job; it will be re-run when rclone is back').map((r) => r.jobId)).toEqual([job.id, job.id]);
    const unexpected = logsOf(worker, 'rclone exited unexpectedly');
    expect(unexpected.map((r) => [r.rclonePid, r.signal])).toEqual([
      [first, 'SIGKILL'],
      [second, 'SIGKILL'],
    ]);

    // Kubelet-style backoff: the first restart waits the first step (1 s), the next one longer.
    const delays = worker.rcloneRestartDelays();
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(950);
    expect(delays[0]).toBeLessThan(1950);
    expect(delays[1]).toBeGreaterThanOrEqual(1950);
    expect(delays[1]).toBeGreaterThan(delays[0]!);

    const stored = sandbox.webdav.files('carol');
    let same = 0;
    for (const [rel, bytes] of files) if (stored.get(`backup/${rel}`)?.equals(bytes)) same += 1;
    expect(same).toBe(files.size);

    expect(await worker.stop()).toBe(0);
    for (const pid of [first, second, third]) expect(isLiveRclone(pid), `rclone ${pid}`).toBe(false);
    expect(rclonesUsing(join(sandbox.dir, 'state-a', 'rclone'))).toEqual([]);
    expectNoSecretsLeaked(sandbox, [worker], rcPasswords);
  });
});

describe('the worker stopped with SIGTERM during a job', () => {
  it('hands the job back with one DoneFailure that says why, and its rclone exits', { timeout: 120_000 }, async () => {
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 100_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'dave', 'dave-e2e-password-4');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, 40, 20_000);
    const rule = sandbox.addRule('to nextcloud', { storage: laptop, path: source }, { storage: nextcloud, path: 'backup' });

    const worker = sandbox.spawnWorker('a');
    const rclone = await nthRclone(worker, 1);
    const rcPassword = rcPasswordOf(rclone) ?? '';
    const job = sandbox.hub.createJob(rule.id);
    await runStarted(worker, job.id, 1);
    await expect.poll(() => sandbox!.webdav.files('dave').size, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(2);
    expect(terminalReports(sandbox, job.id)).toEqual([]);

    expect(await worker.stop()).toBe(0);

    const reports = terminalReports(sandbox, job.id);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneFailure, owner: 'worker-a' })]);
    expect(reports[0]?.reason).toMatch(/shutting down.*handed back/);
    // Hannibal puts a DoneFailure job back to Ready for the next worker.
    expect(sandbox.hub.job(job.id)?.state).toBe(JobState.Ready);
    expect(sandbox.webdav.files('dave').size).toBeLessThan(40);
    expect(logsOf(worker, 'rclone exited')).toEqual([expect.objectContaining({ rclonePid: rclone })]);
    expect(isLiveRclone(rclone)).toBe(false);
    expect(rclonesUsing(join(sandbox.dir, 'state-a', 'rclone'))).toEqual([]);
    expectNoSecretsLeaked(sandbox, [worker], [rcPassword]);
  });
});
