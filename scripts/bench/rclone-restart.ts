/**
 * (3) Recovery from an rclone crash: SIGKILL the worker's rclone during a job, twice in a row,
 * and time the new rclone's readiness and the job running again (the machine's kubelet-style
 * backoff is 1 s for the first crash, 2 s for the second).
 */
import { join } from 'node:path';
import { JobState } from '../../shared/hannibal.js';
import { makeTree, Sandbox, type WorkerProcess } from '../sandbox.js';
import { loggedAt, untilRunning, waitFor } from './probes.js';
import type { BenchResult, Figure } from './report.js';

interface Recovery {
  readyMs: number;
  runningMs: number;
}

export async function benchRcloneRestart(): Promise<BenchResult> {
  const sandbox = await Sandbox.start({ webdav: { bytesPerSecond: 150_000 } });
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'frank', 'frank-bench-password-5');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 60, () => 10_000 + Math.floor(Math.random() * 20_000));
    const rule = sandbox.addRule('to nextcloud', { storage: laptop, path: source }, { storage: nextcloud, path: 'backup' });
    const worker = sandbox.spawnWorker('restart');
    await untilRunning(worker);
    const job = sandbox.hub.createJob(rule.id);

    await runStarted(worker, job.id, 1);
    await waitFor('files on the WebDAV server', () => (sandbox.webdav.files('frank').size >= 3 ? true : undefined), 30_000);
    const first = await crashAndRecover(worker, job.id, 2);
    const second = await crashAndRecover(worker, job.id, 3);

    const report = await waitFor(
      `the report of job ${job.id}`,
      () => sandbox.hub.reports.find((r) => r.jobId === job.id && r.state !== JobState.Executing),
      120_000,
    );
    const stored = sandbox.webdav.files('frank');
    let same = 0;
    for (const [rel, bytes] of files) if (stored.get(`backup/${rel}`)?.equals(bytes)) same += 1;
    await worker.stop();

    const figures: Figure[] = [
      { name: '1st crash: SIGKILL → new rclone ready', value: first.readyMs, unit: 'ms', goal: { op: '<', limit: 5_000 } },
      { name: '1st crash: SIGKILL → job running again', value: first.runningMs, unit: 'ms', goal: { op: '<', limit: 5_000 } },
      { name: '2nd crash in a row: SIGKILL → new rclone ready', value: second.readyMs, unit: 'ms' },
      { name: '2nd crash in a row: SIGKILL → job running again', value: second.runningMs, unit: 'ms' },
      ...worker.rcloneRestartDelays().map((delay, i) => ({ name: `backoff before restart ${i + 1} (machine log)`, value: delay, unit: 'ms' })),
      { name: 'job reported DoneSuccess after both crashes', value: report.state === JobState.DoneSuccess ? 1 : 0, unit: '', goal: { op: '=' as const, limit: 1 } },
      { name: 'files copied byte for byte', value: same, unit: `of ${files.size}`, goal: { op: '=', limit: files.size } },
    ];
    return {
      id: 'rclone-restart',
      title: 'rclone killed during a job',
      method: 'local → WebDAV job (60 files, 150 kB/s); the worker\'s rclone SIGKILLed mid-copy, then again as soon as the job ran again; times from the kill to the "rclone ready" and "job started in rclone" log lines',
      figures,
    };
  } finally {
    await sandbox.close();
  }
}

function runStarted(worker: WorkerProcess, jobId: number, run: number) {
  return worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === jobId && r.run === run);
}

async function crashAndRecover(worker: WorkerProcess, jobId: number, nextRun: number): Promise<Recovery> {
  const pid = worker.rclonePid();
  if (pid === undefined) throw new Error('no rclone pid in the worker log');
  const readyBefore = worker.find((r) => r.msg === 'rclone ready').length;
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  const ready = await waitFor('a new rclone', () => worker.find((r) => r.msg === 'rclone ready')[readyBefore], 60_000, 10);
  const running = await runStarted(worker, jobId, nextRun);
  return { readyMs: loggedAt(ready) - killedAt, runningMs: loggedAt(running) - killedAt };
}

