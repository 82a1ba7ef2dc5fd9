/**
 * Job metrics: how many jobs the worker owns by phase (read from the runner at scrape time),
 * how they ended, what they moved, and how many terminal reports still wait for the hub.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { JobState, jobStateName } from '../../../shared/hannibal.js';
import { JOB_PHASES } from '../jobs/lifecycle.js';
import type { JobRecorder } from './recorders.js';
import { METRIC_PREFIX } from './names.js';

export interface JobSources {
  /** The runner's owned jobs (`JobRunner.describe()`). */
  jobs(): readonly { phase: string }[];
  /** Terminal reports kept until the hub takes them (`ReportOutbox.pending()`). */
  pendingReports(): number;
}

const OUTCOMES = [JobState.DoneSuccess, JobState.DoneWithErrors, JobState.DoneFailure, JobState.Cancelled].map(jobStateName);

export function createJobMetrics(registry: Registry, sources: JobSources): JobRecorder {
  const registers = [registry];
  new Gauge({
    name: `${METRIC_PREFIX}jobs`,
    help: `Jobs owned by this worker, by phase (${JOB_PHASES.join(', ')}).`,
    labelNames: ['phase'],
    registers,
    collect() {
      const counts = new Map<string, number>(JOB_PHASES.map((phase) => [phase, 0]));
      for (const { phase } of sources.jobs()) counts.set(phase, (counts.get(phase) ?? 0) + 1);
      for (const [phase, count] of counts) this.set({ phase }, count);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}report_outbox_pending`,
    help: 'Terminal job reports kept (on disk) until the hub accepts them.',
    registers,
    collect() {
      this.set(sources.pendingReports());
    },
  });
  const finished = new Counter({
    name: `${METRIC_PREFIX}jobs_finished_total`,
    help: 'Jobs ended with a terminal report, by outcome (the hub job state: DoneSuccess, DoneWithErrors, DoneFailure, Cancelled).',
    labelNames: ['outcome'],
    registers,
  });
  for (const outcome of OUTCOMES) finished.inc({ outcome }, 0);
  const bytes = new Counter({
    name: `${METRIC_PREFIX}job_transferred_bytes_total`,
    help: 'Bytes rclone transferred in the last run of each finished job.',
    registers,
  });
  const files = new Counter({
    name: `${METRIC_PREFIX}job_transferred_files_total`,
    help: 'Files rclone transferred in the last run of each finished job.',
    registers,
  });

  return {
    finished(job) {
      finished.inc({ outcome: jobStateName(job.state) });
      if (job.bytes !== undefined && job.bytes > 0) bytes.inc(job.bytes);
      if (job.transfers !== undefined && job.transfers > 0) files.inc(job.transfers);
    },
  };
}
