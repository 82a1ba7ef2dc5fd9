/**
 * `soak` (issue 9): one worker for 10 minutes under a steady stream of short jobs (local → local
 * and local → GCS, each rule re-run by the hub half a second after its job ended) while GCS
 * access tokens expire every 20 s. Its resident memory at the end must stay within 10 % of what
 * it was after the warm-up: a leak per job, per token or per poll would show as growth.
 */
import { join } from 'node:path';
import { JobState } from '../../shared/hannibal.js';
import { makeTree, Sandbox } from '../sandbox.js';
import { cpuSecondsOf, memoryOf, pause, scrapeMetrics, untilRunning } from './probes.js';
import { median, type BenchResult } from './report.js';

const TOKEN_LIFETIME_SECONDS = 20;
const SAMPLE_EVERY_MS = 5_000;
const RULES_PER_KIND = 4;
const FILES = 10;
const FILE_BYTES = 10_000;
const RESCHEDULE_MS = 500;

interface Sample {
  at: number;
  rssMb: number;
  heapMb: number;
  /** V8's committed heap and memory held outside it (Buffers, sockets): where RSS growth lives when heap used is flat. */
  heapTotalMb: number;
  externalMb: number;
  rcloneRssMb: number;
}

export async function benchSoak(options: { quick: boolean }): Promise<BenchResult> {
  const totalSeconds = options.quick ? 150 : 600;
  const warmupSeconds = options.quick ? 40 : 120;
  /** Both ends are medians over this long, so one GC cycle does not decide the result. */
  const spanSeconds = options.quick ? 30 : 60;
  const sandbox = await Sandbox.start({
    hub: { rescheduleAfterMs: RESCHEDULE_MS },
    gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, bytesPerSecond: 100_000 },
  });
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs } = sandbox.addGcsStorage('cloud-gcs', { bucket: 'soak' });
    const source = join(sandbox.dir, 'src');
    await makeTree(source, FILES, FILE_BYTES);
    const rules = [
      ...Array.from({ length: RULES_PER_KIND }, (_, i) =>
        sandbox.addRule(`local ${i}`, { storage: laptop, path: source }, { storage: laptop, path: join(sandbox.dir, 'out', String(i)) }),
      ),
      ...Array.from({ length: RULES_PER_KIND }, (_, i) => sandbox.addRule(`gcs ${i}`, { storage: laptop, path: source }, { storage: gcs, path: `soak/rule-${i}` })),
    ];
    const worker = sandbox.spawnWorker('soak', { TOKEN_REFRESH_THRESHOLD_SECONDS: '10', WORKER_CONTROL_PORT: '0' });
    await untilRunning(worker);
    const pid = worker.pid!;

    const startedAt = Date.now();
    for (const rule of rules) sandbox.hub.createJob(rule.id);
    const samples: Sample[] = [];
    const cpuAtStart = cpuSecondsOf(pid);
    while (Date.now() - startedAt < totalSeconds * 1000) {
      await pause(SAMPLE_EVERY_MS);
      const metrics = await scrapeMetrics(worker).catch(() => new Map<string, number>());
      const rclonePid = worker.rclonePid();
      const megabytes = (metric: string) => (metrics.get(metric) ?? Number.NaN) / 1e6;
      samples.push({
        at: (Date.now() - startedAt) / 1000,
        rssMb: memoryOf(pid).rssMb,
        heapMb: megabytes('nodejs_heap_size_used_bytes'),
        heapTotalMb: megabytes('nodejs_heap_size_total_bytes'),
        externalMb: megabytes('nodejs_external_memory_bytes'),
        rcloneRssMb: rclonePid === undefined ? Number.NaN : memoryOf(rclonePid).rssMb,
      });
    }
    const cpuSeconds = cpuSecondsOf(pid) - cpuAtStart;
    const peakMb = memoryOf(pid).peakMb;
    const ended = sandbox.hub.reports.filter((r) => r.status === 0 && r.state !== JobState.Executing);
    const stats = sandbox.gcs.stats;
    await worker.stop();

    const within = (from: number, to: number) => samples.filter((s) => s.at >= from && s.at < to);
    const warm = within(warmupSeconds, warmupSeconds + spanSeconds);
    const end = within(totalSeconds - spanSeconds, Infinity);
    const warmRss = median(warm.map((s) => s.rssMb));
    const endRss = median(end.map((s) => s.rssMb));
    const afterWarmup = samples.filter((s) => s.at >= warmupSeconds);
    return {
      id: 'soak',
      title: `${totalSeconds / 60}-minute soak`,
      method: [
        `One worker started as shipped (node --max-semi-space-size=4 dist/worker/src/main.js; WORKER_MAX_JOBS 4, poll 1 s, heartbeat 5 s, TOKEN_REFRESH_THRESHOLD_SECONDS=10) for ${totalSeconds} s: ${RULES_PER_KIND} local → local and ${RULES_PER_KIND} local → GCS rules of ${FILES} files × ${FILE_BYTES / 1000} kB, each re-run by the hub ${RESCHEDULE_MS} ms after its job ended; GCS access tokens live ${TOKEN_LIFETIME_SECONDS} s.`,
        `VmRSS from /proc/<pid>/status every ${SAMPLE_EVERY_MS / 1000} s; "after warm-up" = median of the samples in ${warmupSeconds}–${warmupSeconds + spanSeconds} s, "at the end" = median of the last ${spanSeconds} s; heap used, heap committed and external memory from the worker's /metrics (nodejs_heap_size_used_bytes, nodejs_heap_size_total_bytes, nodejs_external_memory_bytes). The goal is not a CI test.`,
        `Median RSS / heap committed / heap used / external per minute (MB): ${perMinute(samples)}.`,
      ].join(' '),
      figures: [
        { name: 'worker RSS after warm-up', value: warmRss, unit: 'MB' },
        { name: 'worker RSS at the end', value: endRss, unit: 'MB' },
        { name: 'worker RSS growth after warm-up', value: ((endRss - warmRss) / warmRss) * 100, unit: '%', goal: { op: '<=', limit: 10 } },
        { name: 'worker RSS trend after warm-up', value: slopePerMinute(afterWarmup.map((s) => [s.at, s.rssMb])), unit: 'MB/min' },
        { name: 'worker peak RSS', value: peakMb, unit: 'MB' },
        { name: 'worker heap used after warm-up', value: median(warm.map((s) => s.heapMb)), unit: 'MB' },
        { name: 'worker heap used at the end', value: median(end.map((s) => s.heapMb)), unit: 'MB' },
        { name: 'worker heap trend after warm-up', value: slopePerMinute(afterWarmup.map((s) => [s.at, s.heapMb])), unit: 'MB/min' },
        { name: 'worker heap committed after warm-up', value: median(warm.map((s) => s.heapTotalMb)), unit: 'MB' },
        { name: 'worker heap committed at the end', value: median(end.map((s) => s.heapTotalMb)), unit: 'MB' },
        { name: 'worker external memory at the end', value: median(end.map((s) => s.externalMb)), unit: 'MB' },
        { name: 'rclone RSS after warm-up', value: median(warm.map((s) => s.rcloneRssMb)), unit: 'MB' },
        { name: 'rclone RSS at the end', value: median(end.map((s) => s.rcloneRssMb)), unit: 'MB' },
        { name: 'worker CPU share', value: (cpuSeconds / totalSeconds) * 100, unit: '%' },
        { name: 'jobs finished', value: ended.length, unit: '' },
        { name: 'jobs not DoneSuccess', value: ended.filter((r) => r.state !== JobState.DoneSuccess).length, unit: '', goal: { op: '=', limit: 0 } },
        { name: 'token refreshes by the worker', value: stats.tokenSuccesses, unit: '' },
        { name: 'GCS requests answered 401', value: stats.unauthorized, unit: '', goal: { op: '=', limit: 0 } },
        { name: 'token requests by rclone itself', value: stats.tokenRequestsByRclone, unit: '', goal: { op: '=', limit: 0 } },
      ],
    };
  } finally {
    await sandbox.close();
  }
}

/** "0–1 min 93/40/25/3, …": the samples' medians per minute (RSS / heap committed / heap used / external). */
function perMinute(samples: Sample[]): string {
  const minutes = Math.ceil((samples.at(-1)?.at ?? 0) / 60);
  return Array.from({ length: minutes }, (_, m) => {
    const inMinute = samples.filter((s) => s.at >= m * 60 && s.at < (m + 1) * 60);
    const of = (pick: (s: Sample) => number) => median(inMinute.map(pick)).toFixed(0);
    return `${m}–${m + 1} min ${of((s) => s.rssMb)}/${of((s) => s.heapTotalMb)}/${of((s) => s.heapMb)}/${of((s) => s.externalMb)}`;
  }).join(', ');
}

/** Least-squares slope of (seconds, value) points, per minute. */
function slopePerMinute(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const meanX = points.reduce((s, [x]) => s + x, 0) / n;
  const meanY = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - meanX) * (y - meanY), 0);
  const sxx = points.reduce((s, [x]) => s + (x - meanX) ** 2, 0);
  return (sxy / sxx) * 60;
}
