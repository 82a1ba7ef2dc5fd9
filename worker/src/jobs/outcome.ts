/**
 * The hub state a finished rclone job maps to (anchor-backer.md §5.3, with the anchor's bug of
 * using rclone's global counters fixed: the job's own stats group decides).
 *
 * - success → DoneSuccess
 * - failed after transferring something → DoneWithErrors ("done, retry after MaxDestinationAge")
 * - failed before transferring anything → DoneFailure (the hub re-queues it at once)
 *
 * `job/status.error` is the truth for success; `core/stats.errors` is not counted per group in
 * rclone 1.60 (rclone-lab.md Q2).
 */
import { JobState } from '../../../shared/hannibal.js';
import type { RcCoreStats, RcJobStatus } from '../../../shared/rclone-rc.js';

export interface JobOutcome {
  state: JobState;
  reason: string | undefined;
}

export function jobOutcome(status: Pick<RcJobStatus, 'success' | 'error'>, stats: Pick<RcCoreStats, 'transfers'> | undefined): JobOutcome {
  if (status.success) return { state: JobState.DoneSuccess, reason: undefined };
  const reason = firstLine(status.error) || 'rclone reported failure without a message';
  if ((stats?.transfers ?? 0) > 0) return { state: JobState.DoneWithErrors, reason };
  return { state: JobState.DoneFailure, reason };
}

function firstLine(text: string): string {
  const line = text.split('\n')[0]?.trim() ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}
