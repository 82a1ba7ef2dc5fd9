/**
 * Watching the runs that are in rclone: poll for the ones that finished, sample progress, stop
 * runs and wait for them to end. Polling is as cheap as rclone allows: one `job/list` per cycle
 * and `job/status` only for jobs that left the running set (rclone ≥ 1.61 reports `runningIds`;
 * 1.60 does not, so there it is one `job/status` per running job), and `core/stats {group}` per
 * job only at the progress interval. Every final status is read before rclone expires it.
 */
import type { RcCoreStats, RcJobStatus } from '../../../shared/rclone-rc.js';
import { RcError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RcClient } from '../rclone/rc-client.js';
import type { CurrentRclone } from '../storage/remote-manager.js';
import type { StopIntent } from './lifecycle.js';
import type { TrackedJob } from './tracked-job.js';

/** What the watch reports to the job runner. */
export interface RunWatchHost {
  /** Jobs whose run is in rclone (phase running). */
  running(): TrackedJob[];
  /** A run ended: rclone's final status (a stop's intent is on the job). The run's rclone job is already released. */
  ended(t: TrackedJob, status: RcJobStatus | undefined, stats: RcCoreStats | undefined): Promise<void>;
  /** rclone no longer knows the run's job (expired or restarted): run it again. */
  forgotten(t: TrackedJob): void;
  /** Releases what a run holds in rclone. */
  release(t: TrackedJob): void;
}

export interface RunWatchOptions {
  rclone: CurrentRclone;
  host: RunWatchHost;
  settings: { pollSeconds: number; heartbeatSeconds: number; stallSeconds: number };
  logger: Logger;
  now: () => number;
}

const STOP_TIMEOUT_MS = 30_000;

export class RunWatch {
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private lastProgressAt = 0;
  /** Whether this rclone's `job/list` reports `runningIds`; unknown until first asked. */
  private hasRunningIds: boolean | undefined;

  constructor(private readonly options: RunWatchOptions) {
    this.log = options.logger.child({ component: 'jobs' });
  }

  /** Polls a (new) rclone. */
  start(): void {
    this.hasRunningIds = undefined;
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      void this.poll();
    }, this.options.settings.pollSeconds * 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** `job/stop` each run, then wait (bounded) until rclone reports it finished, and collect it. */
  async stopRuns(targets: readonly TrackedJob[], intent: StopIntent): Promise<void> {
    const rc = this.options.rclone();
    await Promise.all(
      targets.map(async (t) => {
        t.stopIntent = intent;
        t.phase = 'stopping';
        const id = t.rcloneJobId;
        if (rc && id !== undefined) {
          try {
            await rc.jobStop(id);
          } catch (err) {
            this.log.debug({ jobId: t.id, reason: errorMessage(err) }, 'job/stop failed');
          }
          const deadline = this.options.now() + STOP_TIMEOUT_MS;
          while (this.options.now() < deadline && t.rcloneJobId === id) {
            const status = await rc.jobStatus(id).catch(() => undefined);
            if (!status || status.finished) break;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          if (t.rcloneJobId === id) await this.collect(t, rc).catch(() => undefined);
        }
        // Gone with rclone, or did not stop in time: it ended as far as the worker is concerned.
        if (t.rcloneJobId === id) {
          this.options.host.release(t);
          await this.options.host.ended(t, undefined, undefined);
        }
      }),
    );
  }

  private async poll(): Promise<void> {
    const rc = this.options.rclone();
    const running = this.options.host.running();
    if (this.polling || !rc || running.length === 0) return;
    this.polling = true;
    try {
      // rclone ≥ 1.61 says which jobs still run; 1.60 (Debian's) lists every job id, finished
      // or not (every rc call is a job), so there `job/list` is skipped after the first answer
      // and each running job's status is asked for.
      let active: Set<number> | undefined;
      if (this.hasRunningIds !== false) {
        const list = await rc.jobList();
        this.hasRunningIds = list.runningIds !== undefined;
        if (list.runningIds) active = new Set(list.runningIds);
      }
      for (const t of running) {
        if (t.phase === 'running' && t.rcloneJobId !== undefined && !active?.has(t.rcloneJobId)) await this.collect(t, rc);
      }
      if (this.options.now() - this.lastProgressAt >= this.options.settings.heartbeatSeconds * 1000) {
        this.lastProgressAt = this.options.now();
        await this.sampleProgress(rc);
      }
    } catch (err) {
      this.log.debug({ reason: errorMessage(err) }, 'poll cycle failed');
    } finally {
      this.polling = false;
    }
  }

  /** Reads the final status of a run that left rclone's running set and hands it on. */
  private async collect(t: TrackedJob, rc: RcClient): Promise<void> {
    const rcloneJobId = t.rcloneJobId;
    if (rcloneJobId === undefined) return;
    let status: RcJobStatus;
    try {
      status = await rc.jobStatus(rcloneJobId);
    } catch (err) {
      if (err instanceof RcError && err.status !== undefined && t.rcloneJobId === rcloneJobId && t.phase === 'running') {
        this.log.warn({ jobId: t.id, rcloneJobId, reason: errorMessage(err) }, 'rclone no longer knows the job; re-running it');
        this.options.host.release(t);
        this.options.host.forgotten(t);
      }
      return;
    }
    if (!status.finished) return;
    const stats = await rc.coreStats(t.group).catch(() => undefined);
    // A concurrent collect (the poll, or a stop) already handled this rclone job.
    if (t.rcloneJobId !== rcloneJobId) return;
    this.options.host.release(t);
    await this.options.host.ended(t, status, stats);
  }

  private async sampleProgress(rc: RcClient): Promise<void> {
    for (const t of this.options.host.running()) {
      if (!t.group) continue;
      let stats: RcCoreStats;
      try {
        stats = await rc.coreStats(t.group);
      } catch {
        continue;
      }
      const now = this.options.now();
      const moved =
        !t.progress || stats.bytes !== t.progress.bytes || stats.transfers !== t.progress.transfers || stats.checks !== t.progress.checks;
      if (moved) t.progress = { bytes: stats.bytes, transfers: stats.transfers, checks: stats.checks, changedAt: now };
      this.log.info(
        {
          jobId: t.id,
          run: t.run,
          bytes: stats.bytes,
          totalBytes: stats.totalBytes,
          transfers: stats.transfers,
          totalTransfers: stats.totalTransfers,
          checks: stats.checks,
          speed: Math.round(stats.speed),
          eta: stats.eta,
        },
        'job progress',
      );
      const stalledMs = now - (t.progress?.changedAt ?? now);
      if (stalledMs >= this.options.settings.stallSeconds * 1000) {
        this.log.warn({ jobId: t.id, stalledSeconds: Math.round(stalledMs / 1000) }, 'job made no progress; stopping it for a re-run');
        void this.stopRuns([t], 'rerun');
      }
    }
  }
}
