/**
 * Signals to the worker's whole process group — a terminal's Ctrl-C (SIGINT to the foreground
 * group), `kill -- -<pgid>` (SIGTERM) — mid-job: they reach the worker only, never its rclone
 * (own process group and session), so the worker stops each job with `job/stop`, hands it back
 * with exactly one DoneFailure, and then quits rclone, which exits 0 instead of dying of the
 * signal. A second signal during the drain exits at once and still leaves no rclone behind;
 * the hand-backs it could not deliver are kept on disk and reach the hub at the next start.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobStatusReport } from '../../../shared/hannibal.js';
import { makeTree, type Sandbox, type WorkerProcess } from '../../../scripts/sandbox.js';
import { goneWithin, isLive, procStat, processesMentioning } from '../../../scripts/processes.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports } from './support.js';

const startSandbox = sandboxPerTest();

interface World {
  sandbox: Sandbox;
  worker: WorkerProcess;
  jobIds: number[];
  rclone: number;
  rcPassword: string;
  stateDir: string;
}

/** A worker in its own process group, running two uploads to a slow WebDAV server. */
async function twoJobsRunning(): Promise<World> {
  const sandbox = await startSandbox({ webdav: { bytesPerSecond: 100_000 } });
  const laptop = sandbox.addLocalStorage('laptop');
  const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'gina', 'gina-e2e-password-8');
  const jobIds: number[] = [];
  for (const name of ['docs', 'photos']) {
    const source = join(sandbox.dir, name);
    await makeTree(source, 30, 20_000);
    const rule = sandbox.addRule(`${name} to nextcloud`, { storage: laptop, path: source }, { storage: nextcloud, path: name });
    jobIds.push(sandbox.hub.createJob(rule.id).id);
  }
  const worker = sandbox.spawnWorker('a', {}, { processGroup: true });
  for (const jobId of jobIds) await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === jobId);
  await expect.poll(() => sandbox.webdav.files('gina').size, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(2);
  const rclone = worker.rclonePid()!;
  // The worker leads its group; rclone is in a group (and session) of its own.
  expect(procStat(worker.pid!)?.pgrp).toBe(worker.pid);
  expect(procStat(rclone)?.pgrp).toBe(rclone);
  return { sandbox, worker, jobIds, rclone, rcPassword: rcPasswordOf(rclone) ?? '', stateDir: join(sandbox.dir, 'state-a') };
}

function signalGroup(worker: WorkerProcess, signal: NodeJS.Signals): void {
  process.kill(-worker.pid!, signal);
}

/** rclone's own log lines (component "rclone") that say it received a signal. */
function rcloneSignalLines(worker: WorkerProcess): string[] {
  return worker.find((r) => r.component === 'rclone' && /signal received/i.test(r.msg)).map((r) => r.msg);
}

describe('a signal to the worker\'s process group during jobs', () => {
  it.each([
    ['SIGINT', 'a Ctrl-C in the terminal'],
    ['SIGTERM', 'kill -- -<pgid>'],
  ] as const)('%s (%s): each job handed back once with the reason, rclone stopped by the worker, nothing left running', { timeout: 120_000 }, async (signal, _how) => {
    const { sandbox, worker, jobIds, rclone, rcPassword, stateDir } = await twoJobsRunning();

    signalGroup(worker, signal);

    expect(await worker.exited).toBe(0);
    for (const jobId of jobIds) {
      const reports = terminalReports(sandbox, jobId);
      expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneFailure, owner: 'worker-a' })]);
      expect(reports[0]?.reason).toBe(`worker shutting down (${signal}); job handed back to the hub`);
      expect(sandbox.hub.job(jobId)?.state).toBe(JobState.Ready);
    }
    // rclone was asked, not signalled: each job cancelled through job/stop, then core/quit (exit 0;
    // the signal would have made it exit 130 or 143 at once, after "Signal received").
    expect(worker.find((r) => r.component === 'rclone' && r.msg.includes('context canceled')).length).toBeGreaterThan(0);
    expect(logsOf(worker, 'rclone exited')).toEqual([expect.objectContaining({ rclonePid: rclone, code: 0, signal: null })]);
    expect(rcloneSignalLines(worker)).toEqual([]);
    expect(logsOf(worker, 'signal received: draining')).toEqual([expect.objectContaining({ signal })]);
    expect(isLive(rclone)).toBe(false);
    expect(processesMentioning(stateDir)).toEqual([]);
    expect(sandbox.webdav.files('gina').size).toBeLessThan(60);
    expectNoSecretsLeaked(sandbox, [worker], [rcPassword]);
  });

  it('a second signal during the drain exits at once and kills rclone; the hand-backs kept on disk reach the hub at the next start', { timeout: 120_000 }, async () => {
    const { sandbox, worker, jobIds, rclone, rcPassword, stateDir } = await twoJobsRunning();
    // The hub is unreachable: the drain keeps retrying the hand-back reports (up to 10 s).
    sandbox.hub.setRestOutage({ status: 503 });

    signalGroup(worker, 'SIGTERM');
    // The outbox keeps one file per report (jobs/report-outbox.ts).
    const reportsDir = join(stateDir, 'reports');
    const pending = (): JobStatusReport[] => {
      try {
        const names = readdirSync(reportsDir).filter((name) => name.endsWith('.json'));
        return names.map((name) => (JSON.parse(readFileSync(join(reportsDir, name), 'utf8')) as { report: JobStatusReport }).report);
      } catch {
        return [];
      }
    };
    await expect.poll(() => pending().length, { timeout: 30_000, interval: 50 }).toBe(jobIds.length);
    const drainingAt = Date.parse(String(logsOf(worker, 'signal received: draining')[0]?.time));
    // Past the window in which a repeated signal is the same request (a terminal plus npm).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, drainingAt + 1_200 - Date.now())));
    expect(isLive(rclone)).toBe(true); // the drain is waiting for the hub, rclone not yet quit

    signalGroup(worker, 'SIGINT');

    expect(await worker.exited).toBe(130);
    expect(logsOf(worker, 'second signal: exiting now')).toEqual([expect.objectContaining({ signal: 'SIGINT' })]);
    expect(await goneWithin([rclone], 5_000)).toBe(true);
    expect(processesMentioning(stateDir)).toEqual([]);
    expect(jobIds.flatMap((jobId) => terminalReports(sandbox, jobId))).toEqual([]);
    expect(pending().map((r) => [r.jobId, r.state]).sort()).toEqual(jobIds.map((jobId) => [jobId, JobState.DoneFailure]).sort());

    // Next start, hub back: the kept hand-backs are delivered, exactly one per job.
    sandbox.hub.setRestOutage(null);
    const next = sandbox.spawnWorker('a', {}, { processGroup: true });
    await expect.poll(() => jobIds.map((jobId) => terminalReports(sandbox, jobId).length), { timeout: 30_000, interval: 100 }).toEqual([1, 1]);
    for (const jobId of jobIds) expect(terminalReports(sandbox, jobId)[0]).toMatchObject({ state: JobState.DoneFailure, owner: 'worker-a' });
    expect(await next.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker, next], [rcPassword]);
  });
});
