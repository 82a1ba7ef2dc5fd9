/**
 * Terminal job reports that must reach the hub. A report is written to disk before it is sent
 * and removed only when the hub has answered, so a job's result survives a hub outage and a
 * worker restart (the .NET worker lost results after rclone's 60 s job expiry). Reports are
 * sent one at a time, oldest first; transient failures are retried with backoff.
 */
import { readFile } from 'node:fs/promises';
import { jobStateName, type JobStatusReport } from '../../../shared/hannibal.js';
import { errorMessage, isPermanent } from '../errors.js';
import type { JobsHub } from '../hub/rest-client.js';
import type { Logger } from '../log/logger.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { fullJitterDelay } from '../util/backoff.js';
import { Mutex } from '../util/mutex.js';

export interface ReportOutboxOptions {
  hub: Pick<JobsHub, 'reportJob'>;
  /** Where pending reports are kept; undefined = memory only. */
  file: string | undefined;
  logger: Logger;
  retry?: { initialMs: number; maxMs: number };
}

export class ReportOutbox {
  private queue: JobStatusReport[] = [];
  private readonly log: Logger;
  private readonly retry: { initialMs: number; maxMs: number };
  private readonly fileLock = new Mutex();
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private readonly drainedWaiters: (() => void)[] = [];

  constructor(private readonly options: ReportOutboxOptions) {
    this.log = options.logger.child({ component: 'reports' });
    this.retry = options.retry ?? { initialMs: 1000, maxMs: 60_000 };
  }

  /** Loads reports a previous run could not deliver, and starts sending them. */
  async load(): Promise<void> {
    if (!this.options.file) return;
    try {
      const parsed: unknown = JSON.parse(await readFile(this.options.file, 'utf8'));
      if (Array.isArray(parsed)) this.queue = parsed.filter(isReport);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ reason: errorMessage(err) }, 'pending reports file unreadable; starting empty');
      }
    }
    if (this.queue.length > 0) {
      this.log.info({ pending: this.queue.length }, 'delivering job reports left by a previous run');
      this.kick();
    }
  }

  /** Keeps the report (on disk first) and sends it as soon as the hub takes it. */
  async enqueue(report: JobStatusReport): Promise<void> {
    this.queue.push(report);
    await this.persist();
    this.kick();
  }

  pending(): readonly JobStatusReport[] {
    return this.queue;
  }

  /** Resolves true once every report was delivered, false when `timeoutMs` passes first. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.queue.length === 0) return true;
    this.failures = 0;
    this.kick(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        resolve(this.queue.length === 0);
      }, timeoutMs);
      this.drainedWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private kick(now = false): void {
    if (this.stopped || this.sending) return;
    if (this.timer && !now) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      const report = this.queue[0];
      if (!report) break;
      const context = { jobId: report.jobId, state: jobStateName(report.state), reason: report.reason };
      try {
        const result = await this.options.hub.reportJob(report);
        if (result.status === 0) this.log.info(context, 'job reported');
        else this.log.warn({ ...context, status: result.status }, 'hub did not apply the report (job unknown there or no longer Executing)');
      } catch (err) {
        if (isPermanent(err)) {
          this.log.error({ ...context, reason: errorMessage(err) }, 'hub refused the report; dropping it');
        } else {
          this.failures += 1;
          const delay = fullJitterDelay(this.failures, { ...this.retry, floorMs: this.retry.initialMs / 2 });
          this.log.warn({ ...context, pending: this.queue.length, retryInMs: delay, cause: errorMessage(err) }, 'could not report job; keeping it for later');
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.kick();
          }, delay);
          return;
        }
      }
      this.failures = 0;
      this.queue.shift();
      await this.persist();
    }
    if (this.queue.length === 0) for (const waiter of this.drainedWaiters.splice(0)) waiter();
  }

  private persist(): Promise<void> {
    const file = this.options.file;
    if (!file) return Promise.resolve();
    return this.fileLock.runExclusive(async () => {
      try {
        await writeFileAtomic(file, JSON.stringify(this.queue));
      } catch (err) {
        this.log.error({ reason: errorMessage(err), file }, 'could not persist pending job reports');
      }
    });
  }
}

function isReport(value: unknown): value is JobStatusReport {
  const r = value as Partial<JobStatusReport> | null;
  return typeof r?.jobId === 'number' && typeof r.owner === 'string' && typeof r.state === 'number';
}
