/**
 * (4) How many rc calls the worker makes per poll cycle while 1 and while 4 jobs run. rclone
 * 1.60 has no `runningIds` in `job/list`, so the worker asks `job/status` once per running job
 * per cycle, plus one `core/stats` per job at each progress sample (every heartbeat interval).
 */
import { join } from 'node:path';
import { JobState } from '../../shared/hannibal.js';
import { makeTree, Sandbox } from '../sandbox.js';
import { pause, RcCallCounter, untilRunning, waitFor } from './probes.js';
import type { BenchResult, Figure } from './report.js';

const POLL_SECONDS = 2;
const HEARTBEAT_SECONDS = 10;
const FILES = 40;
const FILE_BYTES = 20_000;

export async function benchRcCalls(options: { quick: boolean }): Promise<BenchResult> {
  const windowSeconds = options.quick ? 10 : 20;
  const figures: Figure[] = [];
  for (const jobs of [1, 4]) {
    const { calls, cycles } = await countCalls(jobs, windowSeconds);
    figures.push(
      { name: `${jobs} running job${jobs > 1 ? 's' : ''}: rc calls in ${windowSeconds} s`, value: calls, unit: '' },
      { name: `${jobs} running job${jobs > 1 ? 's' : ''}: rc calls per poll cycle`, value: calls / cycles, unit: '', goal: { op: '<=', limit: jobs + 1 } },
    );
  }
  return {
    id: 'rc-calls',
    title: 'rc calls per poll cycle',
    method: `local → WebDAV jobs kept running by a bandwidth limit; rc calls counted from rclone's own job-id sequence (X-Rclone-Jobid) over ${windowSeconds} s; poll every ${POLL_SECONDS} s, progress sampled every ${HEARTBEAT_SECONDS} s; rclone 1.60 (no runningIds)`,
    figures,
  };
}

async function countCalls(jobs: number, windowSeconds: number): Promise<{ calls: number; cycles: number }> {
  // The jobs must outlast the window: start-up plus window plus a margin, at the shared bandwidth.
  const bytesPerSecond = Math.floor((jobs * FILES * FILE_BYTES) / (windowSeconds + 20));
  const sandbox = await Sandbox.start({ webdav: { bytesPerSecond } });
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'grace', 'grace-bench-password-6');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, FILES, FILE_BYTES);
    const worker = sandbox.spawnWorker('rc', {
      WORKER_POLL_SECONDS: String(POLL_SECONDS),
      WORKER_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
      WORKER_MAX_JOBS: '4',
    });
    await untilRunning(worker);
    const created = Array.from({ length: jobs }, (_, i) =>
      sandbox.hub.createJob(sandbox.addRule(`job ${i}`, { storage: laptop, path: source }, { storage: nextcloud, path: `copy-${i}` }).id),
    );
    await waitFor(
      `${jobs} jobs started in rclone`,
      () => (created.every((job) => worker.find((r) => r.msg === 'job started in rclone' && r.jobId === job.id).length > 0) ? true : undefined),
      30_000,
    );
    await pause(POLL_SECONDS * 1000);

    const counter = RcCallCounter.forWorker(worker);
    const first = await counter.mark();
    await pause(windowSeconds * 1000);
    const second = await counter.mark();
    const ended = created.filter((job) => sandbox.hub.reports.some((r) => r.jobId === job.id && r.state !== JobState.Executing));
    if (ended.length > 0) throw new Error(`jobs ${ended.map((j) => j.id).join(', ')} ended inside the counting window`);
    await worker.stop();
    return { calls: RcCallCounter.between(first, second), cycles: windowSeconds / POLL_SECONDS };
  } finally {
    await sandbox.close();
  }
}
