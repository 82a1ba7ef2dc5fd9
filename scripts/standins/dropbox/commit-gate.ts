/**
 * Dropbox commits a file under its namespace's write lock, one commit at a time; a batch
 * commit takes the lock once for all its entries. That is why rclone batches uploads to
 * Dropbox. The gate models it: each commit (files/upload, upload_session/finish, one whole
 * finish_batch) holds the lock for `holdMs`, and commits queue behind one another. A fault can
 * make the next commits fail with `too_many_write_operations` instead, as Dropbox answers
 * under contention.
 */
import { delay } from '../http-util.js';

export class CommitGate {
  #holdMs: number;
  #tail: Promise<void> = Promise.resolve();
  #rejectNext = 0;
  #retryAfterSeconds = 1;

  constructor(holdMs: number) {
    this.#holdMs = 0;
    this.setHoldMs(holdMs);
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
      release();
    }
  }
}
