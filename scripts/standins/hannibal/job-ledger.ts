/**
 * What tests ask of the hub's records about one job: who acquired it how often, and whether two
 * owners ever ran it at the same time. Derived from the recorded acquisitions, reports and
 * heartbeat timeouts, never kept as separate state, so it cannot drift from what happened.
 */
import { JobState } from '../../../shared/hannibal.js';

export interface AcquisitionRecord {
  at: number;
  owner: string;
  networks: string;
  /** The user whose session asked (not necessarily the job's user: the real hub hands out any user's job). */
  userId: string;
  /** The job handed out, `null` when the hub answered 404. */
  jobId: number | null;
}

export interface ReportRecord {
  at: number;
  jobId: number;
  owner: string;
  state: number;
  reason?: string;
  /** The `status` answered: 0 applied, -1 unknown job or not Executing. */
  status: number;
  /** The user whose session sent the report. */
  userId: string;
}

/** A job the hub failed because its heartbeats stopped (real-hannibal.md F7). */
export interface TimeoutRecord {
  at: number;
  jobId: number;
  /** The owner the job had, and keeps. */
  owner: string;
}

/**
 * One owner's run of a job: from its acquisition to the last sign of it, that is the owner's last
 * report for the job before it acquires the job again (a heartbeat sent after handing the job
 * back still shows the owner running it), or the hub's timeout. `to` is `null` while the hub has
 * the job Executing for this owner and the owner has not ended it.
 */
export interface JobRun {
  jobId: number;
  owner: string;
  /** The user whose session acquired it. */
  userId: string;
  from: number;
  to: number | null;
  /** The state of the owner's first non-heartbeat report in this run, if any. */
  reportedState: number | null;
  /** Whether the hub timed the run out. */
  timedOut: boolean;
}

/** Two owners running the same job at once. */
export interface ConcurrentRun {
  jobId: number;
  first: JobRun;
  second: JobRun;
}

export interface LedgerRecords {
  acquisitions: readonly AcquisitionRecord[];
  reports: readonly ReportRecord[];
  timeouts: readonly TimeoutRecord[];
  /** The owner the hub has the job Executing for now, if any. */
  holder: (jobId: number) => string | undefined;
}

/** Every run of every job (or of `jobId`), in order of acquisition. */
export function jobRuns(records: LedgerRecords, jobId?: number): JobRun[] {
  const starts = records.acquisitions.filter(
    (a): a is AcquisitionRecord & { jobId: number } => a.jobId !== null && (jobId === undefined || a.jobId === jobId),
  );
  return starts.map((start) => {
    const next = starts.find((later) => later.jobId === start.jobId && later.owner === start.owner && later.at > start.at);
    const within = (at: number): boolean => at >= start.at && (next === undefined || at < next.at);
    const reports = records.reports.filter((r) => r.jobId === start.jobId && r.owner === start.owner && within(r.at));
    const timeout = records.timeouts.find((t) => t.jobId === start.jobId && t.owner === start.owner && within(t.at));
    const ending = reports.find((r) => r.state !== JobState.Executing);
    const stillHeld = ending === undefined && timeout === undefined && next === undefined && records.holder(start.jobId) === start.owner;
    const lastSign = Math.max(start.at, ...reports.map((r) => r.at), timeout?.at ?? start.at);
    return {
      jobId: start.jobId,
      owner: start.owner,
      userId: start.userId,
      from: start.at,
      to: stillHeld ? null : lastSign,
      reportedState: ending?.state ?? null,
      timedOut: timeout !== undefined,
    };
  });
}

/** Pairs of runs of one job by different owners whose spans overlap. Empty when no job ever ran twice at once. */
export function concurrentRuns(records: LedgerRecords): ConcurrentRun[] {
  const runs = jobRuns(records);
  const overlaps: ConcurrentRun[] = [];
  runs.forEach((first, i) => {
    for (const second of runs.slice(i + 1)) {
      if (second.jobId !== first.jobId || second.owner === first.owner) continue;
      const firstEnd = first.to ?? Infinity;
      const secondEnd = second.to ?? Infinity;
      if (first.from < secondEnd && second.from < firstEnd) overlaps.push({ jobId: first.jobId, first, second });
    }
  });
  return overlaps;
}
