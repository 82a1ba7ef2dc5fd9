/**
 * Asking the hub for jobs: rounds of `acquireNextJob` until the hub has none for us or every
 * slot is taken, one round at a time, with triggers that arrive meanwhile coalesced into one
 * more round.
 *
 * Not every job the hub hands out is ours to run: the real hub hands out any user's job, and it
 * hands a job this worker just gave back straight back (handback.ts). Such a job is *held* —
 * owned at the hub, not run — while the round keeps asking, so the jobs behind it in the hub's
 * queue are still taken; at the end of the round every held job is handed back unrun and the
 * next round is delayed (the ledger's backoff), so the worker never spins on it.
 */
import type { AcquireParams, Job } from '../../../shared/hannibal.js';
import { errorMessage } from '../errors.js';
import type { JobsHub } from '../hub/rest-client.js';
import type { Logger } from '../log/logger.js';
import type { HandbackLedger } from './handback.js';

/** Whether a job the hub handed out is run here; if not, why (logged once per job at warn when `warn`). */
export type Admission = { run: true } | { run: false; reason: string; warn: boolean };

export interface AcquirerOptions {
  hub: Pick<JobsHub, 'acquireNextJob'>;
  params: AcquireParams;
  ledger: Pick<HandbackLedger, 'roundEnded' | 'acquireDelayMs'>;
  /** Free job slots now. */
  room: () => number;
  admit: (job: Job) => Admission;
  /** Takes an admitted job. */
  take: (job: Job, trigger: string) => void;
  /** Hands a job back unrun (a `DoneFailure` report). */
  refuse: (job: Job, reason: string) => Promise<void>;
  logger: Logger;
}

/** A round holds at most this many refused jobs before it stops asking. */
export const MAX_HELD_PER_ROUND = 16;
const HUB_ERROR_RETRY_MS = 5_000;
/** Job ids already warned about, so a foreign job queued for hours is one warning. */
const MAX_WARNED = 4096;

export class Acquirer {
  private readonly log: Logger;
  private accepting = false;
  private round: Promise<void> | undefined;
  /** What asked for work while a round was running (the latest); a new round follows that one. */
  private pendingTrigger: string | undefined;
  private hubRetryTimer: NodeJS.Timeout | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private readonly warned = new Set<number>();

  constructor(private readonly options: AcquirerOptions) {
    this.log = options.logger.child({ component: 'jobs' });
  }

  /** Rounds may run (rclone up, remotes in place). */
  open(): void {
    this.accepting = true;
  }

  close(): void {
    this.accepting = false;
  }

  stop(): void {
    this.accepting = false;
    clearTimeout(this.hubRetryTimer);
    clearTimeout(this.backoffTimer);
  }

  /** Asks for work now, or as soon as the current round or the backoff allows. */
  request(trigger: string): void {
    if (!this.accepting) return;
    if (this.round) {
      this.pendingTrigger = trigger;
      return;
    }
    const delay = this.options.ledger.acquireDelayMs();
    if (delay > 0) {
      this.backoffTimer ??= setTimeout(() => {
        this.backoffTimer = undefined;
        this.request(`${trigger} (after hand-back backoff)`);
      }, delay);
      this.log.debug({ trigger, delayMs: delay }, 'acquisition backs off after handing jobs back');
      return;
    }
    this.round = this.runRound(trigger).finally(() => {
      this.round = undefined;
      const pending = this.pendingTrigger;
      this.pendingTrigger = undefined;
      if (pending !== undefined) this.request(`${pending} (arrived during the last round)`);
    });
  }

  /** Resolves when the current round (if any) has ended. */
  async idle(): Promise<void> {
    while (this.round) await this.round;
  }

  private async runRound(trigger: string): Promise<void> {
    const held: { job: Job; reason: string }[] = [];
    try {
      while (this.accepting && this.options.room() > 0 && held.length < MAX_HELD_PER_ROUND) {
        let job: Job | null;
        try {
          job = await this.options.hub.acquireNextJob(this.options.params);
        } catch (err) {
          // Try again soon rather than at the next safety poll: an announced job is waiting.
          this.log.warn({ trigger, reason: errorMessage(err), retryInMs: HUB_ERROR_RETRY_MS }, 'could not ask the hub for a job');
          clearTimeout(this.hubRetryTimer);
          this.hubRetryTimer = setTimeout(() => {
            this.request('retry after a hub error');
          }, HUB_ERROR_RETRY_MS);
          break;
        }
        if (!job) break;
        const admission = this.options.admit(job);
        if (admission.run) {
          this.options.take(job, trigger);
          continue;
        }
        held.push({ job, reason: admission.reason });
        this.noteRefusal(job, admission);
      }
    } finally {
      for (const { job, reason } of held) await this.options.refuse(job, reason);
      this.options.ledger.roundEnded(held.length);
    }
  }

  private noteRefusal(job: Job, admission: { reason: string; warn: boolean }): void {
    // The id and our reason only: a foreign job's tag and endpoints are another user's business.
    const context = { jobId: job.id, reason: admission.reason };
    if (!admission.warn) this.log.info(context, 'job handed back unrun');
    else if (this.warned.has(job.id)) this.log.debug(context, 'job handed back unrun');
    else {
      if (this.warned.size >= MAX_WARNED) this.warned.clear();
      this.warned.add(job.id);
      this.log.warn(context, 'job handed back unrun');
    }
  }
}
