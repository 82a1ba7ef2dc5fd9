/**
 * The lifecycle table, row by row: event × phase → decision, with the retry budget.
 */
import { describe, expect, it } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import type { Failure } from '../../src/jobs/failure.js';
import { NO_COUNTS, decide, type JobEvent, type JobPhase, type LifecyclePolicy, type StopIntent } from '../../src/jobs/lifecycle.js';

const POLICY: LifecyclePolicy = { retries: 3, retryInitialMs: 30_000, retryMaxMs: 100_000, maxAuthRecoveries: 2 };
const ALL_PHASES: JobPhase[] = ['starting', 'running', 'stopping', 'held', 'interrupted', 'waiting-retry', 'waiting-reauth'];
const SIGNAL = { signature: 'InvalidAuthenticationToken', technologies: ['onedrive'] };

const auth: Failure = { class: 'auth', signal: SIGNAL, reason: 'InvalidAuthenticationToken: Access token has expired or is not yet valid.' };
const transient: Failure = { class: 'transient', kind: 'server', reason: '503 Service Unavailable' };
const notFound: Failure = { class: 'deterministic', kind: 'not-found', reason: 'directory not found' };

function ended(end: Failure | { class: 'success' }, canRefresh = true): JobEvent {
  return { type: 'run-ended', end, canRefresh };
}

describe('lifecycle: how a run ended', () => {
  it('success → report DoneSuccess', () => {
    expect(decide('running', ended({ class: 'success' }), NO_COUNTS, POLICY).decision).toEqual({ next: 'report', state: JobState.DoneSuccess });
  });

  it.each([
    ['not-found', 'not found: directory not found'],
    ['permission', 'permission denied: directory not found'],
    ['quota', 'storage full: directory not found'],
    ['invalid-path', 'invalid path: directory not found'],
    ['misconfigured', 'remote misconfigured: directory not found'],
    ['unsupported', 'unsupported operation: directory not found'],
    ['partial', 'directory not found'],
  ] as const)('deterministic %s → report DoneWithErrors (terminal at the hub) with the reason, no counter spent', (kind, reason) => {
    const step = decide('running', ended({ ...notFound, kind }), NO_COUNTS, POLICY);
    expect(step).toEqual({ decision: { next: 'report', state: JobState.DoneWithErrors, reason }, counters: NO_COUNTS });
  });

  it('transient → retry with exponential backoff (30 s, 60 s, 100 s cap), then hand back, barred', () => {
    let counters = NO_COUNTS;
    const delays: number[] = [];
    for (let i = 0; i < POLICY.retries; i++) {
      const step = decide('running', ended(transient), counters, POLICY);
      expect(step.decision).toMatchObject({ next: 'retry', reason: '503 Service Unavailable' });
      delays.push((step.decision as { delayMs: number }).delayMs);
      counters = step.counters;
    }
    expect(delays).toEqual([30_000, 60_000, 100_000]);
    expect(decide('running', ended(transient), counters, POLICY)).toEqual({
      decision: { next: 'hand-back', reason: 'transient failures persist after 3 retries: 503 Service Unavailable', bar: true },
      counters: { transientFailures: 4, authRecoveries: 0 },
    });
  });

  it('auth with an OAuth storage → recover with a fresh token, at most maxAuthRecoveries times, then DoneWithErrors', () => {
    const first = decide('running', ended(auth), NO_COUNTS, POLICY);
    expect(first).toEqual({ decision: { next: 'recover-auth', signal: SIGNAL, reason: auth.reason }, counters: { transientFailures: 0, authRecoveries: 1 } });
    const second = decide('running', ended(auth), first.counters, POLICY);
    expect(second.decision.next).toBe('recover-auth');
    expect(decide('running', ended(auth), second.counters, POLICY).decision).toEqual({
      next: 'report',
      state: JobState.DoneWithErrors,
      reason: `authentication keeps failing after 2 fresh tokens: ${auth.reason}`,
    });
  });

  it('auth on a password storage (no token to refresh) → wait for new credentials', () => {
    expect(decide('running', ended(auth, false), NO_COUNTS, POLICY).decision).toEqual({ next: 'wait-reauth', reason: auth.reason });
  });
});

describe('lifecycle: a run that could not start', () => {
  const failed = (failure: Failure, canRefresh = false): JobEvent => ({ type: 'start-failed', failure, canRefresh });

  it('reauth (breaker open) → wait for re-authentication', () => {
    expect(decide('starting', failed({ class: 'reauth', reason: 'invalid_grant' }), NO_COUNTS, POLICY).decision).toEqual({ next: 'wait-reauth', reason: 'invalid_grant' });
  });

  it('rclone went away → wait for rclone, no counter spent', () => {
    expect(decide('starting', failed({ class: 'rclone-down', reason: 'ECONNREFUSED' }), NO_COUNTS, POLICY)).toEqual({ decision: { next: 'wait-rclone' }, counters: NO_COUNTS });
  });

  it('transient → the same budget as run failures', () => {
    const spent = { transientFailures: 3, authRecoveries: 0 };
    expect(decide('starting', failed(transient), NO_COUNTS, POLICY).decision).toMatchObject({ next: 'retry', delayMs: 30_000 });
    expect(decide('starting', failed(transient), spent, POLICY).decision).toMatchObject({ next: 'hand-back', bar: true });
  });

  it('deterministic → report DoneWithErrors', () => {
    expect(decide('starting', failed(notFound), NO_COUNTS, POLICY).decision).toEqual({ next: 'report', state: JobState.DoneWithErrors, reason: 'not found: directory not found' });
  });
});

describe('lifecycle: everything else', () => {
  it('rclone lost under the job → wait for rclone, spending the budget; past it → hand back, barred', () => {
    const step = decide('running', { type: 'rclone-lost' }, NO_COUNTS, POLICY);
    expect(step).toEqual({ decision: { next: 'wait-rclone' }, counters: { transientFailures: 1, authRecoveries: 0 } });
    expect(decide('starting', { type: 'rclone-lost' }, { transientFailures: 3, authRecoveries: 0 }, POLICY).decision).toEqual({
      next: 'hand-back',
      reason: 'rclone exited during the job and its 3 retries are spent',
      bar: true,
    });
  });

  it.each([
    ['rerun', { next: 'run' }],
    ['hold', { next: 'hold' }],
    ['interrupt', { next: 'wait-rclone' }],
    ['cancel', { next: 'report', state: JobState.Cancelled, reason: 'aborted' }],
    ['shutdown', { next: 'hold' }],
    ['abandon', { next: 'forget' }],
  ] as const)('a run the worker stopped with intent %s →', (intent: StopIntent, decision) => {
    expect(decide('stopping', { type: 'stopped', intent }, NO_COUNTS, POLICY)).toEqual({ decision, counters: NO_COUNTS });
  });

  it('retry-due and reauthorized → run', () => {
    expect(decide('waiting-retry', { type: 'retry-due' }, NO_COUNTS, POLICY).decision).toEqual({ next: 'run' });
    expect(decide('waiting-reauth', { type: 'reauthorized' }, NO_COUNTS, POLICY).decision).toEqual({ next: 'run' });
  });

  it('re-authentication that did not come in time → DoneWithErrors, not a DoneFailure the hub would re-queue at once', () => {
    expect(decide('waiting-reauth', { type: 'reauth-timed-out', reason: 'invalid_grant' }, NO_COUNTS, POLICY).decision).toEqual({
      next: 'report',
      state: JobState.DoneWithErrors,
      reason: 're-authentication did not come in time: invalid_grant',
    });
  });

  it('cancelled → Cancelled; hub-lost → forget; surrender → hand back, not barred', () => {
    expect(decide('waiting-retry', { type: 'cancelled' }, NO_COUNTS, POLICY).decision).toEqual({ next: 'report', state: JobState.Cancelled, reason: 'aborted' });
    expect(decide('held', { type: 'hub-lost' }, NO_COUNTS, POLICY).decision).toEqual({ next: 'forget' });
    expect(decide('running', { type: 'surrender', reason: 'SIGTERM' }, NO_COUNTS, POLICY).decision).toEqual({ next: 'hand-back', reason: 'SIGTERM', bar: false });
  });

  const accepted: [JobEvent, JobPhase[]][] = [
    [ended({ class: 'success' }), ['running']],
    [{ type: 'start-failed', failure: transient, canRefresh: false }, ['starting']],
    [{ type: 'rclone-lost' }, ['starting', 'running']],
    [{ type: 'stopped', intent: 'rerun' }, ['stopping']],
    [{ type: 'retry-due' }, ['waiting-retry']],
    [{ type: 'reauthorized' }, ['waiting-reauth']],
    [{ type: 'reauth-timed-out', reason: 'x' }, ['waiting-reauth']],
    [{ type: 'cancelled' }, ['starting', 'held', 'interrupted', 'waiting-retry', 'waiting-reauth']],
    [{ type: 'hub-lost' }, ['starting', 'held', 'interrupted', 'waiting-retry', 'waiting-reauth']],
    [{ type: 'surrender', reason: 'x' }, ['starting', 'running', 'stopping', 'held', 'interrupted', 'waiting-retry', 'waiting-reauth']],
  ];
  it.each(accepted)('%j applies only in its phases; elsewhere it is ignored and spends nothing', (event, phases) => {
    for (const phase of ALL_PHASES) {
      const step = decide(phase, event, NO_COUNTS, POLICY);
      if (phases.includes(phase)) expect(step.decision.next, phase).not.toBe('ignore');
      else expect(step, phase).toEqual({ decision: { next: 'ignore' }, counters: NO_COUNTS });
    }
  });
});
