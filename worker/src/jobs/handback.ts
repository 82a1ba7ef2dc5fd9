/**
 * The hand-back rules. The hub cannot be told to skip a job: after a `DoneFailure` the real hub
 * makes the job Ready and broadcasts `NewJobAvailable` at once (real-hannibal.md F1), and the
 * next `acquireNextJob` may hand the very same job straight back. So:
 *
 * 1. A job this worker handed back after failing (its retry budget spent) is *barred* here for
 *    the hand-back window: if the hub offers it again, it is handed back unrun. Jobs of other
 *    users are never run (tenancy) and are handed back the same way.
 * 2. An acquisition round that had to hand a job back unrun delays the next round: 2 s, doubling
 *    up to a ceiling, reset by the first round that hands nothing back. Every trigger in between
 *    (`NewJobAvailable`, a freed slot, the safety poll) is coalesced into that one next round.
 *
 * One worker: a barred job comes back at most once per round, and rounds slow to one per
 * ceiling (default 60 s) — two hub calls a minute, never a spin — until the window ends and the
 * job is run again with a fresh budget. Within a round the barred job is held while the round
 * keeps asking (see acquisition.ts), so other jobs behind it are still taken.
 * Two workers: the job handed back by one is free for the other (its own ledger is clean), which
 * runs it; if it fails there too, both bar it and both back off.
 *
 * Operator stop and shutdown hand jobs back without barring them: they are not failures.
 */
import { exponentialDelay } from '../util/backoff.js';

export interface HandbackSettings {
  /** How long a job handed back after failures is not run again by this worker. */
  windowMs: number;
  /** First delay after a round that handed jobs back unrun; doubles per such round. */
  acquireBackoffInitialMs: number;
  acquireBackoffMaxMs: number;
}

export class HandbackLedger {
  /** Job id → end of its bar (epoch ms). */
  private readonly barred = new Map<number, number>();
  /** Consecutive acquisition rounds that handed jobs back unrun. */
  private refusingRounds = 0;
  private resumeAt = 0;

  constructor(
    private readonly settings: HandbackSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** This worker handed the job back after failing it: do not run it within the window. */
  bar(jobId: number): void {
    const now = this.now();
    for (const [id, until] of this.barred) if (until <= now) this.barred.delete(id);
    this.barred.set(jobId, now + this.settings.windowMs);
  }

  isBarred(jobId: number): boolean {
    const until = this.barred.get(jobId);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.barred.delete(jobId);
    return false;
  }

  /** Ids barred now, for logs and the control endpoint. */
  barredIds(): number[] {
    return [...this.barred.keys()].filter((id) => this.isBarred(id));
  }

  /** An acquisition round ended having handed `refused` jobs back unrun. */
  roundEnded(refused: number): void {
    if (refused === 0) {
      this.refusingRounds = 0;
      this.resumeAt = 0;
      return;
    }
    this.refusingRounds += 1;
    this.resumeAt =
      this.now() + exponentialDelay(this.refusingRounds, { initialMs: this.settings.acquireBackoffInitialMs, maxMs: this.settings.acquireBackoffMaxMs });
  }

  /** How long the next acquisition round must wait (0: it may start now). */
  acquireDelayMs(): number {
    return Math.max(0, this.resumeAt - this.now());
  }
}
