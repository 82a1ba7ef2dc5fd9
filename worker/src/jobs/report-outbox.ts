/**
 * Terminal job reports that must reach the hub. A report is stored on disk before it is sent
 * (`<state>/reports/`, one file per report, fsync'd) and removed only once the hub has answered,
 * so a job's result survives a hub outage and a worker crash (the .NET worker lost results after
 * rclone's 60 s job expiry). Reports are sent one at a time, oldest first; transient failures are
 * retried with backoff.
 *
 * A job is not done until its report is stored (issue 9.8): `store` resolves only once the report
 * is durable, and the job runner keeps the job owned and heartbeated until then. When the state
 * directory cannot take it (full, read-only), that is said once at error level and the store is
 * retried with backoff, without end, while the worker runs. At shutdown (`closing`) a report that
 * still cannot be stored is kept in memory and sent straight to the hub by `flush`; if the hub
 * does not take it either, it is lost — but its job is still in the owned-jobs record
 * (owned-jobs.ts), so the next start asks the hub about it and runs it again if it is still ours.
 */
import type { JobStatusReport } from '../../../shared/hannibal.js';
import { jobStateName } from '../../../shared/hannibal.js';
import { errorMessage, isPermanent } from '../errors.js';
import type { JobsHub } from '../hub/rest-client.js';
import type { Logger } from '../log/logger.js';
import { exponentialDelay, fullJitterDelay } from '../util/backoff.js';
import { errnoOf, RecordDir } from '../util/record-dir.js';
import { readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

export interface ReportOutboxOptions {
  hub: Pick<JobsHub, 'reportJob'>;
  /** Where pending reports are kept, one file each; undefined = memory only. */
  dir: string | undefined;
  /** The single file an earlier version kept pending reports in; taken over by `load`. */
  legacyFile?: string | undefined;
  logger: Logger;
  retry?: { initialMs: number; maxMs: number };
  /** Backoff between attempts to store a report the disk did not take. Default 1 s doubling to 30 s. */
  storeRetry?: { initialMs: number; maxMs: number };
}

interface Pending {
  report: JobStatusReport;
  /** The report's file once it is stored; undefined while it is not (or in memory-only mode). */
  file: string | undefined;
  stored: boolean;
  storedAt: number;
}

const FORMAT = 1;

export class ReportOutbox {
  private queue: Pending[] = [];
  private readonly log: Logger;
  private readonly retry: { initialMs: number; maxMs: number };
  private readonly storeRetry: { initialMs: number; maxMs: number };
  private readonly records: RecordDir | undefined;
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  /** Set by `closing`: stores stop retrying, and unstored reports may be sent. */
  private readonly closed = new AbortController();
  private readonly drainedWaiters: (() => void)[] = [];

  constructor(private readonly options: ReportOutboxOptions) {
    this.log = options.logger.child({ component: 'reports' });
    this.retry = options.retry ?? { initialMs: 1000, maxMs: 60_000 };
    this.storeRetry = options.storeRetry ?? { initialMs: 1000, maxMs: 30_000 };
    this.records = options.dir === undefined ? undefined : new RecordDir(options.dir, 'job report', this.log);
  }

  /** Loads reports a previous run could not deliver, and starts sending them. */
  async load(): Promise<void> {
    if (!this.records) return;
    try {
      const found = await this.records.readAll((value, name) => ({ ...parseRecord(value), file: name }));
      this.queue = found.map(({ record }) => ({ report: record.report, file: record.file, stored: true, storedAt: record.storedAt })).sort((a, b) => a.storedAt - b.storedAt);
      await this.takeOverLegacy();
    } catch (err) {
      this.log.error({ errno: errnoOf(err), reason: errorMessage(err) }, 'pending job reports cannot be read; starting without them');
    }
    if (this.queue.length > 0) {
      this.log.info({ pending: this.queue.length }, 'delivering job reports left by a previous run');
      this.kick();
    }
  }

  /**
   * Keeps the report and sends it once it is stored. Resolves true once the report is durable;
   * while the disk does not take it the store is retried, and the promise waits. Resolves false
   * only after `closing`: the report is then kept in memory for `flush`.
   */
  async store(report: JobStatusReport): Promise<boolean> {
    const entry: Pending = { report, file: undefined, stored: false, storedAt: Date.now() };
    this.queue.push(entry);
    if (!this.records) {
      entry.stored = true;
      this.kick();
      return true;
    }
    const file = `${report.jobId}-${randomBytes(4).toString('hex')}.json`;
    const context = { jobId: report.jobId, state: jobStateName(report.state) };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.records.put(file, { format: FORMAT, storedAt: entry.storedAt, report });
        entry.file = file;
        entry.stored = true;
        if (attempt > 1) this.log.info({ ...context, attempts: attempt }, 'job report stored; the job is done here');
        this.kick();
        return true;
      } catch (err) {
        if (attempt === 1) {
          this.log.error(
            { ...context, errno: errnoOf(err), dir: this.records.dir, reason: errorMessage(err) },
            'cannot store the job report (state directory full or read-only?); the job stays owned and heartbeated until it is stored, retrying',
          );
        }
        if (this.closed.signal.aborted || !(await this.pause(attempt))) {
          this.log.warn(context, 'job report not stored before shutdown; sending it to the hub directly');
          return false;
        }
      }
    }
  }

  pending(): readonly JobStatusReport[] {
    return this.queue.map((p) => p.report);
  }

  /**
   * Shutdown begins: a store that cannot be made resolves false instead of retrying, and reports
   * kept in memory only are sent with the others.
   */
  closing(): void {
    this.closed.abort();
    this.kick();
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
    this.closed.abort();
    clearTimeout(this.timer);
  }

  /** Waits before the next store attempt; false when the outbox closed meanwhile. */
  private pause(attempt: number): Promise<boolean> {
    const delay = exponentialDelay(attempt, this.storeRetry);
    const signal = this.closed.signal;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, delay);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
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

  /** The next report to send: stored ones; after `closing`, also those memory alone holds. */
  private next(): Pending | undefined {
    return this.queue.find((p) => p.stored || this.closed.signal.aborted);
  }

  private async drain(): Promise<void> {
    for (let entry = this.next(); entry && !this.stopped; entry = this.next()) {
      const { report } = entry;
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
      this.queue = this.queue.filter((p) => p !== entry);
      await this.discard(entry);
    }
    if (this.queue.length === 0) for (const waiter of this.drainedWaiters.splice(0)) waiter();
  }

  private async discard(entry: Pending): Promise<void> {
    if (!this.records || entry.file === undefined) return;
    try {
      await this.records.remove(entry.file);
    } catch (err) {
      // The hub has it; a copy left on disk is sent once more after a restart and answered -1.
      this.log.warn({ jobId: entry.report.jobId, errno: errnoOf(err) }, 'delivered job report could not be removed from disk');
    }
  }

  /** Reports an earlier version kept in one file: stored the new way, then the file goes. */
  private async takeOverLegacy(): Promise<void> {
    const legacy = this.options.legacyFile;
    if (!legacy || !this.records) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(legacy, 'utf8'));
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') this.log.warn({ file: legacy, reason: err instanceof SyntaxError ? 'not valid JSON' : errorMessage(err) }, 'earlier pending-reports file unreadable; left as it is');
      return;
    }
    for (const report of Array.isArray(parsed) ? parsed.filter(isReport) : []) {
      const file = `${report.jobId}-${randomBytes(4).toString('hex')}.json`;
      const storedAt = Date.now();
      await this.records.put(file, { format: FORMAT, storedAt, report });
      this.queue.push({ report, file, stored: true, storedAt });
    }
    await rm(legacy, { force: true });
  }
}

function parseRecord(value: unknown): { storedAt: number; report: JobStatusReport } {
  const record = value as { format?: unknown; storedAt?: unknown; report?: unknown } | null;
  if (record?.format !== FORMAT) throw new Error(`unknown format ${String(record?.format)}`);
  if (!isReport(record.report)) throw new Error('not a job report');
  return { storedAt: typeof record.storedAt === 'number' ? record.storedAt : 0, report: record.report };
}

function isReport(value: unknown): value is JobStatusReport {
  const r = value as Partial<JobStatusReport> | null;
  return typeof r?.jobId === 'number' && typeof r.owner === 'string' && typeof r.state === 'number';
}
