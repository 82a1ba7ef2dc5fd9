/**
 * What the worker keeps about a job it owns, shared by the job runner and the modules that act
 * on its jobs.
 */
import { RuleOperation, type Job, type Storage } from '../../../shared/hannibal.js';
import type { RcCoreStats, RcJobStatus } from '../../../shared/rclone-rc.js';
import type { AuthFailureSignal } from '../rclone/log-line.js';
import { NO_COUNTS, type JobCounters, type JobPhase, type StopIntent } from './lifecycle.js';

export interface TrackedJob {
  job: Job;
  id: number;
  phase: JobPhase;
  /** 1-based run counter; each run has its own rclone job and stats group. */
  run: number;
  runStartedAt: number;
  rcloneJobId: number | undefined;
  group: string | undefined;
  stopIntent: StopIntent | undefined;
  /** Token leases held while a run is in rclone. */
  leases: (() => void)[];
  counters: JobCounters;
  timer: NodeJS.Timeout | undefined;
  waitReason: string | undefined;
  progress: { bytes: number; transfers: number; checks: number; changedAt: number } | undefined;
  /** An auth failure rclone logged for this job's storages during the current run. */
  loggedAuth: AuthFailureSignal | undefined;
  /** The last finished run, for the final log line. */
  lastRun: { status: RcJobStatus; stats: RcCoreStats | undefined } | undefined;
}

export function trackedJob(job: Job): TrackedJob {
  return {
    job,
    id: job.id,
    phase: 'starting',
    run: 0,
    runStartedAt: 0,
    rcloneJobId: undefined,
    group: undefined,
    stopIntent: undefined,
    leases: [],
    counters: NO_COUNTS,
    timer: undefined,
    waitReason: undefined,
    progress: undefined,
    loggedAuth: undefined,
    lastRun: undefined,
  };
}

export function uniqueStorages(storages: (Storage | undefined)[]): Storage[] {
  const seen = new Map<number, Storage>();
  for (const s of storages) if (s && !seen.has(s.id)) seen.set(s.id, s);
  return [...seen.values()];
}

export function operationName(operation: number): string {
  return operation === RuleOperation.Sync ? 'sync' : operation === RuleOperation.Copy ? 'copy' : operation === RuleOperation.Nop ? 'nop' : `unknown(${operation})`;
}
