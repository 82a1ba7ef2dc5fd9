/**
 * (2) Token hand-over during a long GCS job with 20 s access tokens: for every token the worker
 * pushed into rclone, how long before the previous token's switch point (its expiry − 10 s,
 * where rclone stops using it; rclone-lab.md Q5) it arrived. The GCS stand-in's own counts
 * (401 answers, token requests by rclone) are the ground truth that the hand-over worked.
 *
 * (6) The same run ends with the memory of the worker and its rclone, read from /proc.
 */
import { join } from 'node:path';
import { JobState } from '../../shared/hannibal.js';
import { makeTree, Sandbox, type LogRecord, type WorkerProcess } from '../sandbox.js';
import { loggedAt, memoryOf, untilRunning, waitFor } from './probes.js';
import { median, type BenchResult } from './report.js';

const TOKEN_LIFETIME_SECONDS = 20;
const SWITCH_BEFORE_EXPIRY_MS = 10_000;
const FILES = 60;
const FILE_BYTES = 100_000;

export async function benchTokenLead(options: { quick: boolean }): Promise<{ tokens: BenchResult; memory: BenchResult }> {
  const jobSeconds = options.quick ? 40 : 120;
  const sandbox = await Sandbox.start({ gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, bytesPerSecond: Math.floor((FILES * FILE_BYTES) / jobSeconds) } });
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs } = sandbox.addGcsStorage('cloud-gcs', { bucket: 'bench' });
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, FILES, FILE_BYTES);
    const rule = sandbox.addRule('to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'bench/photos' });
    const worker = sandbox.spawnWorker('tokens', { TOKEN_REFRESH_THRESHOLD_SECONDS: '10' });
    await untilRunning(worker);
    const idleRclone = memoryOf(worker.rclonePid() ?? Number.NaN);

    const job = sandbox.hub.createJob(rule.id);
    const report = await waitFor(
      `the report of job ${job.id}`,
      () => sandbox.hub.reports.find((r) => r.jobId === job.id && r.state !== JobState.Executing),
      jobSeconds * 2_000 + 60_000,
      200,
    );
    const started = worker.find((r) => r.msg === 'job started in rclone' && r.jobId === job.id)[0];
    const durationS = started ? (report.at - loggedAt(started)) / 1000 : Number.NaN;
    const workerPid = worker.pid;
    const rclonePid = worker.rclonePid();
    if (workerPid === undefined || rclonePid === undefined) throw new Error('worker or rclone pid unknown');
    const workerMemory = memoryOf(workerPid);
    const rcloneMemory = memoryOf(rclonePid);
    await worker.stop();

    const { pushed, leads } = pushLeads(worker, gcs.id, gcs.uriSchema);
    let same = 0;
    for (const [rel, bytes] of files) if (sandbox.gcs.object('bench', `photos/${rel}`)?.equals(bytes)) same += 1;
    const stats = sandbox.gcs.stats;

    const tokens: BenchResult = {
      id: 'token-lead',
      title: 'token pushed before the switch point',
      method: `local → GCS job of ${FILES} files × ${FILE_BYTES / 1000} kB paced to ~${jobSeconds} s, access tokens living ${TOKEN_LIFETIME_SECONDS} s; lead = (previous token's expiry − 10 s) − time the worker logged "token pushed to rclone"`,
      figures: [
        { name: 'job duration in rclone', value: durationS, unit: 's' },
        { name: 'tokens pushed to rclone', value: pushed, unit: '', goal: { op: '>=', limit: Math.floor(jobSeconds / TOKEN_LIFETIME_SECONDS) - 1 } },
        { name: 'pushes whose lead is known', value: leads.length, unit: `of ${pushed}`, goal: { op: '=', limit: pushed } },
        // No push at all is no evidence: NaN misses the goal.
        { name: 'push lead before switch point, min', value: leads.length > 0 ? Math.min(...leads) : Number.NaN, unit: 'ms', goal: { op: '>=', limit: 1_000 } },
        { name: 'push lead before switch point, median', value: median(leads), unit: 'ms' },
        { name: 'GCS requests answered 401', value: stats.unauthorized, unit: '', goal: { op: '=', limit: 0 } },
        { name: 'token requests by rclone itself', value: stats.tokenRequestsByRclone, unit: '', goal: { op: '=', limit: 0 } },
        { name: 'token refreshes by the worker', value: stats.tokenSuccesses, unit: '' },
        { name: 'distinct access tokens used on GCS', value: stats.requestsByAccessToken.size, unit: '' },
        { name: 'job reported DoneSuccess', value: report.state === JobState.DoneSuccess ? 1 : 0, unit: '', goal: { op: '=', limit: 1 } },
        { name: 'files copied byte for byte', value: same, unit: `of ${files.size}`, goal: { op: '=', limit: files.size } },
      ],
    };
    const memory: BenchResult = {
      id: 'memory',
      title: 'memory after the long job',
      method: `VmRSS and VmHWM from /proc/<pid>/status of the worker (node) and its rclone, right after the ${jobSeconds} s GCS job of the token-lead benchmark; rclone's goal allows its default 4 transfers × (16 MiB read buffer + 16 MiB upload chunk) plus its runtime`,
      figures: [
        { name: 'worker RSS', value: workerMemory.rssMb, unit: 'MB', goal: { op: '<', limit: 150 } },
        { name: 'worker peak RSS', value: workerMemory.peakMb, unit: 'MB' },
        { name: 'rclone RSS before the job', value: idleRclone.rssMb, unit: 'MB' },
        { name: 'rclone RSS', value: rcloneMemory.rssMb, unit: 'MB', goal: { op: '<', limit: 256 } },
        { name: 'rclone peak RSS', value: rcloneMemory.peakMb, unit: 'MB' },
      ],
    };
    return { tokens, memory };
  } finally {
    await sandbox.close();
  }
}

/**
 * For every token pushed to the remote (first push of each), the lead before the switch point
 * of the token rclone held until then: the one the broker had before it. The broker's tokens
 * come in order from "tracking OAuth storage" (the hub's) and "token refreshed" lines.
 */
function pushLeads(worker: WorkerProcess, storageId: number, remote: string): { pushed: number; leads: number[] } {
  const issued = worker.find(
    (r) => (r.msg === 'tracking OAuth storage' || r.msg === 'token refreshed') && r.storageId === storageId && typeof r.tokenFp === 'string',
  );
  const pushes = new Map<string, LogRecord>();
  // The broker names the remote `storage`, a re-authentication's apply names it `remote`.
  for (const push of worker.find((r) => r.msg === 'token pushed to rclone' && (r.storage === remote || r.remote === remote))) {
    const fp = String(push.tokenFp);
    if (!pushes.has(fp)) pushes.set(fp, push);
  }
  const leads: number[] = [];
  for (const [fp, push] of pushes) {
    const index = issued.findIndex((r) => r.tokenFp === fp);
    const previous = index > 0 ? issued[index - 1] : undefined;
    if (!previous) continue;
    leads.push(Date.parse(String(previous.expiresAt)) - SWITCH_BEFORE_EXPIRY_MS - loggedAt(push));
  }
  return { pushed: pushes.size, leads };
}
