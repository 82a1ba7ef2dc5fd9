/**
 * Injected API failures, consumed by the requests they match: Drive's 403
 * `userRateLimitExceeded` and 503 `backendError`, and `reset`: the request arrives whole, then
 * the connection is cut with no answer (a chunk whose answer is lost, the worst instant for an
 * upload; its body is not stored nor counted; through the TLS proxy the client sees the proxy's
 * 502). rclone retries all three with backoff (its pacer), so a test can show a job riding them
 * out. Checked after the token: a request with a bad token is a 401, whatever is planned.
 */
import { driveErrors, type DriveError } from './drive-errors.js';
import type { DriveCall } from './stats.js';

export interface DriveFault {
  kind: 'rateLimit' | 'backendError' | 'reset';
  /** Only requests for these calls get it; default every call. */
  calls?: readonly DriveCall[];
  /** How many matching requests get it; default 1. */
  times?: number;
}

export class FaultPlan {
  readonly #pending: { fault: DriveFault; left: number }[] = [];

  add(fault: DriveFault): void {
    const times = fault.times ?? 1;
    if (!(Number.isSafeInteger(times) && times > 0)) throw new RangeError(`fault times must be a positive integer, got ${times}`);
    this.#pending.push({ fault, left: times });
  }

  clear(): void {
    this.#pending.length = 0;
  }

  /** What the next request for `call` must get, if a planned fault matches it: an error, or a cut connection. */
  take(call: DriveCall): DriveError | 'reset' | undefined {
    const entry = this.#pending.find(({ fault }) => fault.calls === undefined || fault.calls.includes(call));
    if (!entry) return undefined;
    if (--entry.left === 0) this.#pending.splice(this.#pending.indexOf(entry), 1);
    switch (entry.fault.kind) {
      case 'rateLimit':
        return driveErrors.rateLimited();
      case 'backendError':
        return driveErrors.backendError();
      case 'reset':
        return 'reset';
    }
  }
}
