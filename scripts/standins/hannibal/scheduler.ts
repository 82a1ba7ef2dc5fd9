/**
 * The hub's rule scheduler as far as workers can see it (research/real-hannibal.md §3.6, F7, F9):
 * when a job of a rule leaves `Executing`, when does the rule get its next job? One table,
 * `nextRunAt`, after Hannibal's `ScheduleCalculator` (tweggen/backer at 3d9d354, the version
 * whose lines 31-37 the lab cites), and a timer per rule that creates the job when it is due.
 *
 * What the real scheduler also does and the stand-in leaves to the tests: it creates the first
 * job of a new rule at once. Tests create jobs explicitly with `createJob`, which the scheduler
 * then treats as the rule's most recent job, as the real one treats the jobs it creates.
 */
import { JobState, type Job, type Rule } from '../../../shared/hannibal.js';
import { timeSpanMs } from './time-span.js';

/** `ScheduleCalculator`'s fallbacks for a zero or negative TimeSpan. */
const DEFAULT_MAX_AGE_MS = 24 * 3_600_000;
const DEFAULT_RETRY_MS = 15 * 60_000;

/** Node's timers overflow past 2^31-1 ms (~24.8 days) and fire at once; longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When the rule of `job` (its most recent job) is due again, in epoch ms; `null` while that job
 * is still pending (Preparing, Ready, Executing), which holds the rule back.
 *
 * - DoneSuccess, DoneWithErrors: `lastReported + maxDestinationAge`. A terminal report does not
 *   touch `lastReported` (F9), so this counts from the last heartbeat (or the acquisition).
 * - DoneFailure: `lastReported + minRetryTime`. Reached only by a heartbeat timeout, which keeps
 *   the job DoneFailure (F7); a reported DoneFailure puts the job back to Ready instead.
 * - anything else (Cancelled): "unknown job state, scheduling immediately".
 */
export function nextRunAt(rule: Rule, job: Job, now: number): number | null {
  const lastReported = Date.parse(job.lastReported ?? '');
  const positive = (span: string | undefined, fallbackMs: number): number => {
    const ms = span === undefined ? 0 : timeSpanMs(span);
    return ms > 0 ? ms : fallbackMs;
  };
  switch (job.state) {
    case JobState.DoneSuccess:
    case JobState.DoneWithErrors:
      return lastReported + positive(rule.maxDestinationAge, DEFAULT_MAX_AGE_MS);
    case JobState.DoneFailure:
      return lastReported + positive(rule.minRetryTime, DEFAULT_RETRY_MS);
    case JobState.Preparing:
    case JobState.Ready:
    case JobState.Executing:
      return null;
    default:
      return now;
  }
}

export interface RuleSchedulerOptions {
  /**
   * Test and demo override: a DoneSuccess or DoneWithErrors job's rule is due this long after
   * the report instead of at `lastReported + maxDestinationAge`. `null` = the real rule.
   */
  completedDelayMs: number | null;
  /** The rule and its most recent job, read when a timer fires; `undefined` once the rule is gone. */
  lookup: (ruleId: number) => { rule: Rule; recentJob: Job | undefined } | undefined;
  /** Creates the rule's next job (and announces it). */
  createJob: (ruleId: number) => void;
}

export class RuleScheduler {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  /** When each rule with a planned job is due (epoch ms). */
  private readonly due = new Map<number, number>();
  private closed = false;

  constructor(private readonly options: RuleSchedulerOptions) {}

  /**
   * A job of the rule left Executing (a report or a timeout): plan the rule's next job from the
   * rule's most recent job, as the real scheduler does on `JobCompletedEvent` (a job handed back
   * with DoneFailure is Ready again, so nothing is planned).
   */
  jobEnded(ruleId: number): void {
    const found = this.options.lookup(ruleId);
    const recent = found?.recentJob;
    if (found === undefined || recent === undefined) return;
    const now = Date.now();
    const completed = recent.state === JobState.DoneSuccess || recent.state === JobState.DoneWithErrors;
    const override = this.options.completedDelayMs;
    const dueAt = completed && override !== null ? now + override : nextRunAt(found.rule, recent, now);
    if (dueAt !== null) this.arm(ruleId, recent.id, dueAt);
  }

  /** Rules with a planned next job, and when (epoch ms). */
  planned(): Map<number, number> {
    return new Map([...this.due]);
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.due.clear();
  }

  /**
   * Creates the job at `dueAt` unless the rule has since got another job or is gone, as the
   * real scheduler re-checks the rule's state before it creates a job.
   */
  private arm(ruleId: number, jobId: number, dueAt: number): void {
    if (this.closed) return;
    clearTimeout(this.timers.get(ruleId));
    this.due.set(ruleId, dueAt);
    const timer = setTimeout(() => {
      this.timers.delete(ruleId);
      if (Date.now() < dueAt) {
        this.arm(ruleId, jobId, dueAt);
        return;
      }
      this.due.delete(ruleId);
      if (this.options.lookup(ruleId)?.recentJob?.id === jobId) this.options.createJob(ruleId);
    }, Math.min(Math.max(0, dueAt - Date.now()), MAX_TIMER_MS));
    timer.unref();
    this.timers.set(ruleId, timer);
  }
}
