/**
 * The life of one owned job, as a table: event × phase → what happens next. Pure (no I/O, no
 * timers), so every rule lives here and is tested row by row; the job runner only carries the
 * decisions out.
 *
 *                     ┌──────────── retry-due / reauthorized / rerun ─────────────┐
 *                     ▼                                                            │
 *   (acquired) ──► starting ──► running ──► stopping ──► held / interrupted ───────┤
 *                     │            │                                               │
 *                     └─ failed ───┴─ ended ─► waiting-retry · waiting-reauth ─────┘
 *                                                  │
 *            report (DoneSuccess · DoneWithErrors · Cancelled) · hand back (DoneFailure) · forget
 *
 * The rules that matter on the real hub (real-hannibal.md F1: `DoneFailure` = Ready again at
 * once, no counter): only a genuine hand-back is `DoneFailure`; a failure retrying cannot fix is
 * a terminal `DoneWithErrors`; transient failures are retried here, with the job kept and
 * heartbeated, up to a budget.
 */
import { JobState } from '../../../shared/hannibal.js';
import type { AuthFailureSignal } from '../rclone/log-line.js';
import { exponentialDelay } from '../util/backoff.js';
import type { DeterministicKind, Failure, RunEnd } from './failure.js';

export type JobPhase =
  /** Tokens, remotes and the rc call of a run are being prepared. */
  | 'starting'
  /** A run is in rclone. */
  | 'running'
  /** The worker asked rclone to stop the run; what its end means is the stop's intent. */
  | 'stopping'
  /** Stopped so its remotes can change; the one who stopped it starts the next run. */
  | 'held'
  /** Waits for rclone to be (re)started. */
  | 'interrupted'
  /** Waits out the backoff after a transient failure. */
  | 'waiting-retry'
  /** Waits for new credentials for one of its storages. */
  | 'waiting-reauth';

/** Every phase once (a record, so adding a phase without listing it here does not compile). */
const PHASES: Record<JobPhase, true> = {
  starting: true,
  running: true,
  stopping: true,
  held: true,
  interrupted: true,
  'waiting-retry': true,
  'waiting-reauth': true,
};

/** Every job phase, e.g. for metrics that show each phase, also at 0. */
export const JOB_PHASES = Object.keys(PHASES) as readonly JobPhase[];

/** Why the worker itself stopped an rclone run. */
export type StopIntent = 'rerun' | 'hold' | 'interrupt' | 'cancel' | 'shutdown' | 'abandon';

export type JobEvent =
  /** rclone finished a run the worker did not stop. `canRefresh`: an OAuth storage of the job matches the auth failure. */
  | { type: 'run-ended'; end: RunEnd; canRefresh: boolean }
  | { type: 'start-failed'; failure: Failure; canRefresh: boolean }
  | { type: 'rclone-lost' }
  | { type: 'stopped'; intent: StopIntent }
  | { type: 'retry-due' }
  | { type: 'reauthorized' }
  | { type: 'reauth-timed-out'; reason: string }
  /** Abort (operator) of a job that has no run in rclone. */
  | { type: 'cancelled' }
  /** The hub no longer has the job as ours (heartbeat answered -1), and no run is in rclone. */
  | { type: 'hub-lost' }
  /** Shutdown or operator stop: every owned job goes back to the hub. */
  | { type: 'surrender'; reason: string };

export type Decision =
  | { next: 'report'; state: JobState; reason?: string }
  /** `DoneFailure`: the hub re-queues it. `bar`: this worker does not run it again within the hand-back window. */
  | { next: 'hand-back'; reason: string; bar: boolean }
  | { next: 'run' }
  | { next: 'retry'; delayMs: number; reason: string }
  | { next: 'wait-rclone' }
  | { next: 'hold' }
  | { next: 'wait-reauth'; reason: string }
  /** Get fresh tokens for the storages the signal names, then fresh runs on their remotes. */
  | { next: 'recover-auth'; signal: AuthFailureSignal; reason: string }
  /** Drop the job without a report (the hub already took it away). */
  | { next: 'forget' }
  /** The event does not apply in this phase (a stale timer, a late answer). */
  | { next: 'ignore' };

export interface JobCounters {
  /** Transient failures so far (run and start failures, rclone crashes): the retry budget. */
  transientFailures: number;
  /** Fresh tokens fetched after rclone met an auth failure. */
  authRecoveries: number;
}

export interface LifecyclePolicy {
  /** Retries after transient failures before the job is handed back. */
  retries: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Fresh-token re-runs after auth failures before the job is reported DoneWithErrors. */
  maxAuthRecoveries: number;
}

export const NO_COUNTS: JobCounters = { transientFailures: 0, authRecoveries: 0 };

/** The phases in which each event means something; elsewhere it is ignored. */
const ACCEPTED_IN: Record<JobEvent['type'], readonly JobPhase[]> = {
  'run-ended': ['running'],
  'start-failed': ['starting'],
  'rclone-lost': ['starting', 'running'],
  stopped: ['stopping'],
  'retry-due': ['waiting-retry'],
  reauthorized: ['waiting-reauth'],
  'reauth-timed-out': ['waiting-reauth'],
  cancelled: ['starting', 'held', 'interrupted', 'waiting-retry', 'waiting-reauth'],
  'hub-lost': ['starting', 'held', 'interrupted', 'waiting-retry', 'waiting-reauth'],
  surrender: ['starting', 'running', 'stopping', 'held', 'interrupted', 'waiting-retry', 'waiting-reauth'],
};

/** What a run the worker stopped itself means, by the stop's intent. */
const AFTER_STOP: Record<StopIntent, Decision> = {
  rerun: { next: 'run' },
  hold: { next: 'hold' },
  interrupt: { next: 'wait-rclone' },
  cancel: { next: 'report', state: JobState.Cancelled, reason: 'aborted' },
  // surrender() hands every job back once all runs are stopped.
  shutdown: { next: 'hold' },
  abandon: { next: 'forget' },
};

const KIND_LABEL: Record<DeterministicKind, string | undefined> = {
  'not-found': 'not found',
  permission: 'permission denied',
  quota: 'storage full',
  'invalid-path': 'invalid path',
  misconfigured: 'remote misconfigured',
  unsupported: 'unsupported operation',
  partial: undefined,
};

export interface Step {
  decision: Decision;
  counters: JobCounters;
}

export function decide(phase: JobPhase, event: JobEvent, counters: JobCounters, policy: LifecyclePolicy): Step {
  const keep = (decision: Decision): Step => ({ decision, counters });
  if (!ACCEPTED_IN[event.type].includes(phase)) return keep({ next: 'ignore' });
  switch (event.type) {
    case 'run-ended':
      return event.end.class === 'success'
        ? keep({ next: 'report', state: JobState.DoneSuccess })
        : onFailure(event.end, event.canRefresh, counters, policy);
    case 'start-failed':
      return onFailure(event.failure, event.canRefresh, counters, policy);
    case 'rclone-lost':
      return spend(counters, policy, `rclone exited during the job and its ${policy.retries} retries are spent`, { next: 'wait-rclone' });
    case 'stopped':
      return keep(AFTER_STOP[event.intent]);
    case 'retry-due':
    case 'reauthorized':
      return keep({ next: 'run' });
    case 'reauth-timed-out':
      return keep({ next: 'report', state: JobState.DoneWithErrors, reason: `re-authentication did not come in time: ${event.reason}` });
    case 'cancelled':
      return keep({ next: 'report', state: JobState.Cancelled, reason: 'aborted' });
    case 'hub-lost':
      return keep({ next: 'forget' });
    case 'surrender':
      return keep({ next: 'hand-back', reason: event.reason, bar: false });
  }
}

function onFailure(failure: Failure, canRefresh: boolean, counters: JobCounters, policy: LifecyclePolicy): Step {
  const keep = (decision: Decision): Step => ({ decision, counters });
  switch (failure.class) {
    case 'auth':
      // Only new credentials help a password storage; an OAuth one first tries a fresh token.
      if (!canRefresh) return keep({ next: 'wait-reauth', reason: failure.reason });
      if (counters.authRecoveries < policy.maxAuthRecoveries) {
        return { decision: { next: 'recover-auth', signal: failure.signal, reason: failure.reason }, counters: { ...counters, authRecoveries: counters.authRecoveries + 1 } };
      }
      return keep({
        next: 'report',
        state: JobState.DoneWithErrors,
        reason: `authentication keeps failing after ${counters.authRecoveries} fresh tokens: ${failure.reason}`,
      });
    case 'reauth':
      return keep({ next: 'wait-reauth', reason: failure.reason });
    case 'deterministic': {
      const label = KIND_LABEL[failure.kind];
      return keep({ next: 'report', state: JobState.DoneWithErrors, reason: label ? `${label}: ${failure.reason}` : failure.reason });
    }
    case 'rclone-down':
      return keep({ next: 'wait-rclone' });
    case 'transient': {
      const attempt = counters.transientFailures + 1;
      const delayMs = exponentialDelay(attempt, { initialMs: policy.retryInitialMs, maxMs: policy.retryMaxMs });
      return spend(counters, policy, `transient failures persist after ${policy.retries} retries: ${failure.reason}`, { next: 'retry', delayMs, reason: failure.reason });
    }
  }
}

/** One more transient failure: `within` while the budget lasts, a hand-back once it is spent. */
function spend(counters: JobCounters, policy: LifecyclePolicy, spentReason: string, within: Decision): Step {
  const next = { ...counters, transientFailures: counters.transientFailures + 1 };
  if (next.transientFailures > policy.retries) return { decision: { next: 'hand-back', reason: spentReason, bar: true }, counters: next };
  return { decision: within, counters: next };
}
