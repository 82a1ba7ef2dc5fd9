/**
 * rclone metrics: is our rclone up, and how its rc API answers (latency per rc method, failures
 * by kind). Restarts are counted from the machine's transitions (machine.ts).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { RcError } from '../errors.js';
import { LabelGuard } from './label-guard.js';
import { METRIC_PREFIX } from './names.js';
import type { RcCallObserver } from './recorders.js';

export interface RcloneSources {
  /** Our rclone process is running (it may still be starting). */
  rcloneUp(): boolean;
}

/** The client calls a fixed set of rc methods (about 15); the guard only stops a runaway. */
const MAX_PATH_LABELS = 40;
/** Polls answer in milliseconds; config/update and job/stop can take seconds. */
const RC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** `rclone-error`: rclone answered with its error envelope; `no-answer`: refused, reset or timed out. */
export function rcFailureKind(error: unknown): 'rclone-error' | 'no-answer' {
  return error instanceof RcError && error.status !== undefined ? 'rclone-error' : 'no-answer';
}

export function createRcloneMetrics(registry: Registry, sources: RcloneSources): RcCallObserver {
  const registers = [registry];
  const paths = new LabelGuard(MAX_PATH_LABELS);
  new Gauge({
    name: `${METRIC_PREFIX}rclone_up`,
    help: "1 while the worker's rclone rcd process is running, else 0.",
    registers,
    collect() {
      this.set(sources.rcloneUp() ? 1 : 0);
    },
  });
  const duration = new Histogram({
    name: `${METRIC_PREFIX}rc_call_duration_seconds`,
    help: 'Duration of rclone rc API calls, failed ones included, by rc method path.',
    labelNames: ['path'],
    buckets: RC_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: `${METRIC_PREFIX}rc_call_errors_total`,
    help: 'Failed rclone rc API calls, by rc method path and kind (rclone-error: rclone answered an error; no-answer: refused, reset or timed out).',
    labelNames: ['path', 'kind'],
    registers,
  });

  return {
    called(rawPath, durationSeconds, error) {
      const path = paths.value(rawPath);
      duration.observe({ path }, durationSeconds);
      if (error !== undefined) errors.inc({ path, kind: rcFailureKind(error) });
    },
  };
}
