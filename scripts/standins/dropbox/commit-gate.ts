/**
 * Dropbox commits a file under its namespace's write lock, one commit at a time; a batch
 * commit takes the lock once for all its entries. That is why rclone batches uploads to
 * Dropbox. The gate models it: each commit (files/upload, upload_session/finish, one whole
 * finish_batch) holds the lock for `holdMs`. A commit that finds the lock taken either queues
 * behind it (`queue`) or is refused with `too_many_write_operations` and Retry-After 1 s
 * (`reject`, what Dropbox answers under contention). A fault can refuse the next commits too.
 */
export type Contention = 'queue' | 'reject';

import { delay } from '../http-util.js';

export class CommitGate {
  #holdMs: number;
  #contention: Contention;
  #busy = 0;
  #tail: Promise<void> = Promise.resolve();
  #rejectNext = 0;
  #retryAfterSeconds = 1;

  constructor(holdMs: number, contention: Contention = 'queue') {
    this.#holdMs = 0;
    this.#contention = contention;
    this.setHoldMs(holdMs);
  }

  setContention(contention: Contention): void {
    this.#contention = contention;
  }

  setHoldMs(holdMs: number): void {
    if (!(Number.isFinite(holdMs) && holdMs >= 0)) throw new RangeError(`commit hold must be ≥ 0 ms, got ${holdMs}`);
    this.#holdMs = holdMs;
  }

  /** The next `count` commits are refused with `too_many_write_operations` (Retry-After given). */
  rejectNext(count: number, retryAfterSeconds = 1): void {
    this.#rejectNext = count;
    this.#retryAfterSeconds = retryAfterSeconds;
  }

  /** Refused (the caller answers 429 with this Retry-After), or run `commit` under the lock. */
  async run<T>(commit: () => T): Promise<{ refused: number } | { done: T }> {
    if (this.#rejectNext > 0) {
      this.#rejectNext -= 1;
      return { refused: this.#retryAfterSeconds };
    }
    if (this.#contention === 'reject' && this.#busy > 0 && this.#holdMs > 0) return { refused: 1 };
    this.#busy += 1;
    const previous = this.#tail;
    let release: () => void = () => undefined;
    this.#tail = new Promise((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      if (this.#holdMs > 0) await delay(this.#holdMs);
      return { done: commit() };
    } finally {
      this.#busy -= 1;
      release();
    }
  }
}
