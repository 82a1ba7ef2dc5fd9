/**
 * (1) How fast a new job gets going: from the hub creating it (which announces
 * `NewJobAvailable` over SignalR) to the worker's "job acquired" and "job started in rclone"
 * lines, and to the hub receiving `DoneSuccess`, for a small local copy.
 */
import { join } from 'node:path';
import { JobState } from '../../shared/hannibal.js';
import { makeTree, Sandbox } from '../sandbox.js';
import { loggedAt, pause, untilRunning, waitFor } from './probes.js';
import { median, type BenchResult } from './report.js';

const POLL_SECONDS = 2;

export async function benchJobLatency(options: { quick: boolean }): Promise<BenchResult> {
  const runs = options.quick ? 3 : 8;
  const sandbox = await Sandbox.start();
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, 10, 2_000);
    // The worker's default poll interval, so the DoneSuccess figure is what users get.
    const worker = sandbox.spawnWorker('latency', { WORKER_POLL_SECONDS: String(POLL_SECONDS) });
    await untilRunning(worker);
    await pause(1_000);

    const acquired: number[] = [];
    const started: number[] = [];
    const reported: number[] = [];
    let announced = 0;
    let succeeded = 0;
    for (let i = 0; i < runs; i++) {
      const rule = sandbox.addRule(`small ${i}`, { storage: laptop, path: source }, { storage: laptop, path: join(sandbox.dir, `out-${i}`) });
      const createdAt = Date.now();
      const job = sandbox.hub.createJob(rule.id);
      const report = await waitFor(
        `the report of job ${job.id}`,
        () => sandbox.hub.reports.find((r) => r.jobId === job.id && r.state !== JobState.Executing),
        30_000,
        5,
      );
      const acquiredLine = worker.find((r) => r.msg === 'job acquired' && r.jobId === job.id)[0];
      const startedLine = worker.find((r) => r.msg === 'job started in rclone' && r.jobId === job.id)[0];
      if (!acquiredLine || !startedLine) throw new Error(`job ${job.id} has no acquired/started log line`);
      if (acquiredLine.trigger === 'NewJobAvailable') announced += 1;
      if (report.state === JobState.DoneSuccess) succeeded += 1;
      acquired.push(loggedAt(acquiredLine) - createdAt);
      started.push(loggedAt(startedLine) - createdAt);
      reported.push(report.at - createdAt);
      await pause(500);
    }
    await worker.stop();

    return {
      id: 'job-latency',
      title: 'new job → running → reported',
      method: `${runs} small local copies (10 files of 2 kB) one after the other; times from hub.createJob (NewJobAvailable) to the worker's log lines and to the hub's report; poll every ${POLL_SECONDS} s`,
      figures: [
        { name: 'jobs acquired through NewJobAvailable', value: announced, unit: `of ${runs}`, goal: { op: '=', limit: runs } },
        { name: 'createJob → job acquired, median', value: median(acquired), unit: 'ms' },
        { name: 'createJob → job started in rclone, median', value: median(started), unit: 'ms' },
        { name: 'createJob → job started in rclone, max', value: Math.max(...started), unit: 'ms', goal: { op: '<', limit: 2_000 } },
        { name: 'createJob → hub got DoneSuccess, median', value: median(reported), unit: 'ms' },
        { name: 'createJob → hub got DoneSuccess, max', value: Math.max(...reported), unit: 'ms', goal: { op: '<', limit: 2_000 + POLL_SECONDS * 1000 } },
        { name: 'jobs reported DoneSuccess', value: succeeded, unit: `of ${runs}`, goal: { op: '=', limit: runs } },
      ],
    };
  } finally {
    await sandbox.close();
  }
}
