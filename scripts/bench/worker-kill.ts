/**
 * (7) rclone never outlives the worker (issue 9.2): the worker process alone SIGKILLed while its
 * rclone uploads large files (so rclone logs nothing that a broken stderr pipe could end it
 * with); the time until that rclone is gone, polled in /proc.
 */
import { join } from 'node:path';
import { isLive } from '../processes.js';
import { makeTree, Sandbox } from '../sandbox.js';
import { untilRunning, waitFor } from './probes.js';
import { median, type BenchResult } from './report.js';

const GONE_TIMEOUT_MS = 30_000;

export async function benchWorkerKill(options: { quick: boolean }): Promise<BenchResult> {
  const runs = options.quick ? 3 : 5;
  const sandbox = await Sandbox.start({ webdav: { bytesPerSecond: 100_000 } });
  const gone: number[] = [];
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'jay', 'jay-bench-password-7');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, 2, 5_000_000, 1);
    for (let i = 0; i < runs; i++) {
      const rule = sandbox.addRule(`big ${i}`, { storage: laptop, path: source }, { storage: nextcloud, path: `run-${i}` });
      const worker = sandbox.spawnWorker(`kill-${i}`);
      await untilRunning(worker);
      const job = sandbox.hub.createJob(rule.id);
      await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
      const rclone = worker.rclonePid();
      if (rclone === undefined) throw new Error('no rclone pid in the worker log');
      const before = sandbox.webdav.stats.bytesReceived;
      await waitFor('bytes at the WebDAV server', () => (sandbox.webdav.stats.bytesReceived > before ? true : undefined), 30_000);
      const killedAt = Date.now();
      process.kill(worker.pid!, 'SIGKILL');
      await waitFor(`rclone ${rclone} to end`, () => (isLive(rclone) ? undefined : true), GONE_TIMEOUT_MS, 1);
      gone.push(Date.now() - killedAt);
      await worker.exited;
    }
  } finally {
    await sandbox.close();
  }
  return {
    id: 'worker-kill',
    title: 'worker SIGKILLed → its rclone gone',
    method: `${runs} runs: a local → WebDAV job of 2 files of 5 MB (server at 100 kB/s, so rclone logs nothing meanwhile); the worker process alone SIGKILLed mid-upload; /proc polled every ms until its rclone has ended`,
    figures: [
      { name: 'SIGKILL of the worker → rclone gone, median', value: median(gone), unit: 'ms', goal: { op: '<', limit: 2_000 } },
      { name: 'SIGKILL of the worker → rclone gone, max', value: Math.max(...gone), unit: 'ms', goal: { op: '<', limit: 5_000 } },
    ],
  };
}
