/**
 * The jobs this worker owns at the hub, on disk, so a crash does not orphan them. Without it, a
 * SIGKILLed worker's jobs wait for the hub's heartbeat deadline (120 s, checked lazily), become
 * `DoneFailure` with the owner left set, and the rule runs again only after its `minRetryTime`
 * (15 min by default) — as a new job (real-hannibal.md F7). But the hub never checks who reports
 * a job, and the owner id lives in the state directory: a restarted worker can simply pick its
 * jobs up again.
 *
 * `<state>/jobs/<id>.json` (0600 in a 0700 directory, durable) holds the job as acquired, cut
 * down to what running it needs: ids, user, operation, the endpoints' storages and paths — no
 * storage rows, so no secret (the storages are re-read from the hub at start). A record is written
 * when a job is taken, before its first run, and removed once its terminal report is stored in
 * the outbox (report-outbox.ts) or the hub took the job away: at every instant a job's fate is
 * on disk in one of the two. At the next start, before any acquisition, each record becomes an
 * owned job in phase `resuming`; a heartbeat asks the hub — still ours (`status 0`): a fresh run;
 * not (`-1`): dropped. A record whose report is pending in the outbox is dropped at once: the
 * job ended, only its report is still on its way.
 *
 * A record that cannot be written (disk full) is one error line; the job runs all the same, as
 * before this existed: after a crash the hub's deadline takes it back.
 */
import type { Endpoint, Job } from '../../../shared/hannibal.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { Mutex } from '../util/mutex.js';
import { errnoOf, RecordDir } from '../util/record-dir.js';

const FORMAT = 1;

export class OwnedJobs {
  private readonly log: Logger;
  private readonly records: RecordDir | undefined;
  private recovered: Job[] = [];
  /** Writes and removals one at a time, so a removal never overtakes the write of its record. */
  private readonly lock = new Mutex();

  /** `dir` undefined = nothing is kept (tests). */
  constructor(dir: string | undefined, logger: Logger) {
    this.log = logger.child({ component: 'owned-jobs' });
    this.records = dir === undefined ? undefined : new RecordDir(dir, 'owned job', this.log);
  }

  /**
   * Reads what a previous run left. `reported`: jobs whose terminal report is pending in the
   * outbox; their records are removed. Never throws.
   */
  async load(reported: readonly number[] = []): Promise<void> {
    if (!this.records) return;
    try {
      const found = await this.records.readAll((value, name) => parseRecord(value, name));
      for (const { record } of found) {
        if (reported.includes(record.id)) await this.release(record.id);
        else this.recovered.push(record);
      }
    } catch (err) {
      this.log.error({ errno: errnoOf(err), reason: errorMessage(err) }, 'owned-jobs records cannot be read; jobs a previous run owned are left to the hub');
    }
    if (this.recovered.length > 0) this.log.warn({ jobs: this.recovered.map((j) => j.id) }, 'a previous run of this worker owned jobs; asking the hub whether they are still ours');
  }

  /** The jobs found at `load`, once: the runner resumes them at its first start. */
  takeRecovered(): Job[] {
    return this.recovered.splice(0);
  }

  /** Makes the job's record durable; a failure is logged, never thrown. */
  record(job: Job): Promise<void> {
    const records = this.records;
    if (!records) return Promise.resolve();
    return this.lock.runExclusive(async () => {
      try {
        await records.put(fileOf(job.id), { format: FORMAT, recordedAt: new Date().toISOString(), job: slim(job) });
      } catch (err) {
        this.log.error(
          { jobId: job.id, errno: errnoOf(err), reason: errorMessage(err) },
          'cannot record an owned job (state directory full or read-only?); it runs, but after a crash only the hub’s heartbeat deadline gives it back',
        );
      }
    });
  }

  /** Removes the job's record; a failure is logged (the next start asks the hub and drops it). */
  release(jobId: number): Promise<void> {
    const records = this.records;
    if (!records) return Promise.resolve();
    return this.lock.runExclusive(async () => {
      try {
        await records.remove(fileOf(jobId));
      } catch (err) {
        this.log.warn({ jobId, errno: errnoOf(err) }, 'owned-job record could not be removed; the next start asks the hub about it');
      }
    });
  }
}

function fileOf(jobId: number): string {
  return `${jobId}.json`;
}

/** What running the job needs, and nothing the hub embedded beside it (rule, storage rows). */
function slim(job: Job): Job {
  const endpoint = (e: Endpoint | null | undefined): Endpoint | null => {
    if (!e || typeof e !== 'object') return null;
    const storageId = typeof e.storageId === 'number' ? e.storageId : e.storage?.id;
    return { id: e.id, storageId: storageId as number, path: e.path, ...(e.userId === undefined ? {} : { userId: e.userId }) };
  };
  return {
    id: job.id,
    ...(job.userId === undefined ? {} : { userId: job.userId }),
    ...(job.tag === undefined ? {} : { tag: job.tag }),
    operation: job.operation,
    ...(job.fromRuleId === undefined ? {} : { fromRuleId: job.fromRuleId }),
    owner: job.owner,
    state: job.state,
    sourceEndpointId: job.sourceEndpointId,
    sourceEndpoint: endpoint(job.sourceEndpoint),
    destinationEndpointId: job.destinationEndpointId,
    destinationEndpoint: endpoint(job.destinationEndpoint),
  };
}

function parseRecord(value: unknown, name: string): Job {
  const record = value as { format?: unknown; job?: unknown } | null;
  if (record?.format !== FORMAT) throw new Error(`unknown format ${String(record?.format)}`);
  const job = record.job as { id?: unknown } | null | undefined;
  if (typeof job !== 'object' || job === null || typeof job.id !== 'number' || fileOf(job.id) !== name) throw new Error('job id does not match the file name');
  return job as Job;
}
