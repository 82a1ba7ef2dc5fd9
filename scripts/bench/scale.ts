/**
 * `scale`: one worker running 1, 8, 32 and 64 jobs at once (`WORKER_MAX_JOBS` = N, the worker's
 * default poll and heartbeat). Each of N slots always has a job: when one ends the bench creates
 * the slot's next, alternating a small local → local copy and a small local → GCS copy (the GCS
 * link is paced so a GCS job lasts ~15 s whatever N). Over a window of steady state it measures
 * what each job costs the worker, its rclone and the hub.
 */
import { join } from 'node:path';
import { JobState, type Rule } from '../../shared/hannibal.js';
import { makeTree, Sandbox, type WorkerProcess } from '../sandbox.js';
import { CountingProxy } from './counting-proxy.js';
import { cpuSecondsOf, loggedAt, memoryOf, pause, RcCallCounter, scrapeMetrics, sumByLabel, untilRunning, waitFor } from './probes.js';
import { percentile, type BenchResult, type Figure } from './report.js';

const FILES = 10;
const FILE_BYTES = 20_000;
/** A GCS job should take about this long at any N (the shared link is scaled with N). */
const GCS_JOB_SECONDS = 15;
const POLL_SECONDS = 2;
const HEARTBEAT_SECONDS = 30;
const ENDED: ReadonlySet<number> = new Set([JobState.DoneSuccess, JobState.DoneWithErrors, JobState.Cancelled, JobState.DoneFailure]);

interface Level {
  jobs: number;
  startLatenciesMs: number[];
  finishedInWindow: number;
  notSucceeded: number;
  jobMinutes: number;
  workerCpuSeconds: number;
  rcloneCpuSeconds: number;
  workerPeakMb: number;
  rclonePeakMb: number;
  rcCalls: number;
  rcCallsByPath: Map<string, number>;
  hubCalls: number;
  hubCallsByRoute: Map<string, number>;
  windowSeconds: number;
}

export async function benchScale(options: { quick: boolean }): Promise<BenchResult> {
  const levels = options.quick ? [1, 8, 32] : [1, 8, 32, 64];
  const windowSeconds = options.quick ? 20 : 60;
  const measured: Level[] = [];
  for (const jobs of levels) {
    process.stderr.write(`bench: scale: ${jobs} concurrent jobs …\n`);
    measured.push(await measureLevel(jobs, windowSeconds));
  }
  const figures = measured.flatMap(levelFigures);
  const first = measured[0]!;
  const last = measured.at(-1)!;
  const perJob = (l: Level) => l.workerCpuSeconds / l.jobMinutes;
  return {
    id: 'scale',
    title: 'one worker, more jobs at once',
    method: [
      `N slots (N = ${levels.join(', ')}; WORKER_MAX_JOBS = N, WORKER_POLL_SECONDS=${POLL_SECONDS}, WORKER_HEARTBEAT_SECONDS=${HEARTBEAT_SECONDS}), each always holding one job: a finished job is replaced at once, alternating local → local and local → GCS copies of ${FILES} files × ${FILE_BYTES / 1000} kB (GCS link paced to N × ${Math.round((FILES * FILE_BYTES) / GCS_JOB_SECONDS / 1000)} kB/s so a GCS job lasts ~${GCS_JOB_SECONDS} s).`,
      `Measured over ${windowSeconds} s of steady state: start latency = hub.createJob (NewJobAvailable) → the worker's "job started in rclone" line, over every job of the level; CPU from /proc/<pid>/stat (utime + stime) per job-minute (time jobs spent between "job started in rclone" and their report, inside the window); peak RSS = VmHWM at the end of the level; rc calls from rclone's own call counter (X-Rclone-Jobid), by path from the worker's /metrics; hub REST calls through a counting proxy, per job finished in the window.`,
      `rc calls per second by path at ${last.jobs} jobs (worker's /metrics): ${[...last.rcCallsByPath]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([path, count]) => `${path} ${(count / last.windowSeconds).toFixed(1)}`)
        .join(', ')}.`,
      `Growth from ${first.jobs} to ${last.jobs} jobs: worker CPU per job-minute ${perJob(first).toFixed(2)} → ${perJob(last).toFixed(2)} s, rc calls per second ${(first.rcCalls / first.windowSeconds).toFixed(1)} → ${(last.rcCalls / last.windowSeconds).toFixed(1)}, start latency p95 ${percentile(first.startLatenciesMs, 95).toFixed(0)} → ${percentile(last.startLatenciesMs, 95).toFixed(0)} ms.`,
    ].join(' '),
    figures,
  };
}

function levelFigures(level: Level): Figure[] {
  const n = level.jobs;
  const f = (figure: string, value: number, unit: string, goal?: Figure['goal']): Figure => ({
    name: `${n} jobs: ${figure}`,
    value,
    unit,
    ...(goal ? { goal } : {}),
    labels: { jobs: String(n), figure },
  });
  const perSecond = (path: string) => (level.rcCallsByPath.get(path) ?? Number.NaN) / level.windowSeconds;
  return [
    f('job start latency p50', percentile(level.startLatenciesMs, 50), 'ms'),
    f('job start latency p95', percentile(level.startLatenciesMs, 95), 'ms'),
    f('jobs finished in the window', level.finishedInWindow, ''),
    f('jobs finished per minute', (level.finishedInWindow / level.windowSeconds) * 60, '/min'),
    f('finished jobs not DoneSuccess', level.notSucceeded, '', { op: '=', limit: 0 }),
    f('worker CPU per job-minute', level.workerCpuSeconds / level.jobMinutes, 's'),
    f('rclone CPU per job-minute', level.rcloneCpuSeconds / level.jobMinutes, 's'),
    f('worker CPU share', (level.workerCpuSeconds / level.windowSeconds) * 100, '%'),
    f('worker peak RSS', level.workerPeakMb, 'MB'),
    f('rclone peak RSS', level.rclonePeakMb, 'MB'),
    f('rc calls per second', level.rcCalls / level.windowSeconds, '/s'),
    f('rc calls per job', level.rcCalls / level.finishedInWindow, ''),
    f('job/status calls per second', perSecond('job/status'), '/s'),
    f('core/stats calls per second', perSecond('core/stats'), '/s'),
    f('hub calls per job', level.hubCalls / level.finishedInWindow, ''),
    f('acquireNextJob calls per job', (level.hubCallsByRoute.get('acquire') ?? 0) / level.finishedInWindow, ''),
    f('reportJob calls per job', (level.hubCallsByRoute.get('report') ?? 0) / level.finishedInWindow, ''),
  ];
}

interface Slot {
  created: number;
  jobId: number | undefined;
}

interface JobTimes {
  createdAt: number;
  endedAt?: number;
  state?: number;
}

async function measureLevel(n: number, windowSeconds: number): Promise<Level> {
  const sandbox = await Sandbox.start({ gcs: { bytesPerSecond: Math.ceil((n * FILES * FILE_BYTES) / GCS_JOB_SECONDS) } });
  const proxy = await CountingProxy.start(sandbox.hub.url);
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs } = sandbox.addGcsStorage('cloud-gcs', { bucket: 'scale' });
    const source = join(sandbox.dir, 'src');
    await makeTree(source, FILES, FILE_BYTES);
    const slots: Slot[] = Array.from({ length: n }, () => ({ created: 0, jobId: undefined }));
    // Every job copies to a destination of its own, so each one really transfers its files.
    const nextRule = (slot: number, run: number): Rule =>
      (slot + run) % 2 === 0
        ? sandbox.addRule(`slot ${slot} run ${run}`, { storage: laptop, path: source }, { storage: laptop, path: join(sandbox.dir, 'out', `${slot}-${run}`) })
        : sandbox.addRule(`slot ${slot} run ${run}`, { storage: laptop, path: source }, { storage: gcs, path: `scale/${slot}-${run}` });
    const worker = sandbox.spawnWorker('scale', {
      HANNIBAL_URL: proxy.url,
      HANNIBAL_SIGNALR_URL: sandbox.hub.url,
      WORKER_MAX_JOBS: String(n),
      WORKER_POLL_SECONDS: String(POLL_SECONDS),
      WORKER_HEARTBEAT_SECONDS: String(HEARTBEAT_SECONDS),
      WORKER_CONTROL_PORT: '0',
    });
    await untilRunning(worker);
    await pause(1_000);

    const times = new Map<number, JobTimes>();
    let filling = true;
    const refill = () => {
      for (const [i, slot] of slots.entries()) {
        const current = slot.jobId === undefined ? undefined : sandbox.hub.job(slot.jobId);
        if (current && slot.jobId !== undefined && !ENDED.has(current.state)) continue;
        if (current && slot.jobId !== undefined) {
          const record = times.get(slot.jobId)!;
          record.endedAt = sandbox.hub.reports.findLast((r) => r.jobId === slot.jobId && r.status === 0)?.at ?? Date.now();
          record.state = current.state;
          slot.jobId = undefined;
        }
        if (!filling) continue;
        const rule = nextRule(i, slot.created);
        slot.created += 1;
        const createdAt = Date.now();
        const job = sandbox.hub.createJob(rule.id);
        slot.jobId = job.id;
        times.set(job.id, { createdAt });
      }
    };
    const filler = setInterval(refill, 50);
    refill();
    try {
      // Steady state: every slot has had its first job started.
      await waitFor(`${n} jobs running`, () => (worker.find((r) => r.msg === 'job started in rclone').length >= n ? true : undefined), 120_000);
      await pause(POLL_SECONDS * 1000);

      const rc = RcCallCounter.forWorker(worker);
      const rclonePid = worker.rclonePid()!;
      const workerPid = worker.pid!;
      const metricsBefore = await scrapeMetrics(worker);
      proxy.reset();
      const windowStart = Date.now();
      const cpuBefore = [cpuSecondsOf(workerPid), cpuSecondsOf(rclonePid)];
      const markBefore = await rc.mark();
      await pause(windowSeconds * 1000);
      const markAfter = await rc.mark();
      const cpuAfter = [cpuSecondsOf(workerPid), cpuSecondsOf(rclonePid)];
      const windowEnd = Date.now();
      const hubCalls = proxy.total();
      const hubCallsByRoute = new Map([
        ['acquire', proxy.count('POST', '/api/hannibal/v1/acquireNextJob')],
        ['report', proxy.count('POST', '/api/hannibal/v1/reportJob')],
      ]);
      const metricsAfter = await scrapeMetrics(worker);
      filling = false;
      refill();
      const before = sumByLabel(metricsBefore, 'rclone_sync_worker_rc_call_duration_seconds_count', 'path');
      const rcCallsByPath = new Map([...sumByLabel(metricsAfter, 'rclone_sync_worker_rc_call_duration_seconds_count', 'path')].map(([path, count]) => [path, count - (before.get(path) ?? 0)]));

      const started = startTimes(worker);
      const latencies: number[] = [];
      let jobMinutes = 0;
      let finishedInWindow = 0;
      let notSucceeded = 0;
      for (const [jobId, record] of times) {
        const startedAt = started.get(jobId);
        if (startedAt !== undefined) latencies.push(startedAt - record.createdAt);
        if (record.endedAt !== undefined && record.endedAt >= windowStart && record.endedAt < windowEnd) {
          finishedInWindow += 1;
          if (record.state !== JobState.DoneSuccess) notSucceeded += 1;
        }
        if (startedAt === undefined) continue;
        const from = Math.max(startedAt, windowStart);
        const to = Math.min(record.endedAt ?? windowEnd, windowEnd);
        if (to > from) jobMinutes += (to - from) / 60_000;
      }
      const level: Level = {
        jobs: n,
        startLatenciesMs: latencies,
        finishedInWindow,
        notSucceeded,
        jobMinutes,
        workerCpuSeconds: cpuAfter[0]! - cpuBefore[0]!,
        rcloneCpuSeconds: cpuAfter[1]! - cpuBefore[1]!,
        workerPeakMb: memoryOf(workerPid).peakMb,
        rclonePeakMb: memoryOf(rclonePid).peakMb,
        rcCalls: RcCallCounter.between(markBefore, markAfter),
        rcCallsByPath,
        hubCalls,
        hubCallsByRoute,
        windowSeconds: (windowEnd - windowStart) / 1000,
      };
      await worker.stop();
      return level;
    } finally {
      clearInterval(filler);
    }
  } finally {
    await sandbox.close();
    await proxy.close();
  }
}

/** When each job first started in rclone, from the worker's log. */
function startTimes(worker: WorkerProcess): Map<number, number> {
  const started = new Map<number, number>();
  for (const line of worker.find((r) => r.msg === 'job started in rclone')) {
    if (typeof line.jobId === 'number' && !started.has(line.jobId)) started.set(line.jobId, loggedAt(line));
  }
  return started;
}
