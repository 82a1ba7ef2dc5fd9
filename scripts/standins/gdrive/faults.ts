/**
 * Injected API failures, consumed by the requests they match: Drive's 403
 * `userRateLimitExceeded` and 503 `backendError`, both of which rclone retries with backoff
 * (its pacer), so a test can show a job riding them out. Checked after the token: a request
 * with a bad token is a 401, whatever is planned.
 */
import { driveErrors, type DriveError } from './drive-errors.js';
import type { DriveCall } from './stats.js';

export interface DriveFault {
  kind: 'rateLimit' | 'backendError';
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

  /** The error the next request for `call` must get, if a planned fault matches it. */
  take(call: DriveCall): DriveError | undefined {
    const entry = this.#pending.find(({ fault }) => fault.calls === undefined || fault.calls.includes(call));
    if (!entry) return undefined;
    if (--entry.left === 0) this.#pending.splice(this.#pending.indexOf(entry), 1);
    return entry.fault.kind === 'rateLimit' ? driveErrors.rateLimited() : driveErrors.backendError();
  }
}
