/**
 * A server-wide byte budget for request and response bodies, so a transfer to the stand-in lasts
 * long enough for something to happen during it (a password change, a job stop). All bodies
 * share one rate: each `take(n)` books the next n/rate seconds of the line and resolves when
 * that slot ends. Changing the rate releases everything waiting at once, so lifting a throttle
 * mid-transfer takes effect immediately.
 */

interface Waiter {
  timer: NodeJS.Timeout;
  resolve: () => void;
}

export class ByteRateLimiter {
  private bytesPerSecond: number | null;
  /** When the bytes booked so far will have passed (ms since epoch). */
  private bookedUntil = 0;
  private readonly waiters = new Set<Waiter>();

  /** `null` = unlimited. */
  constructor(bytesPerSecond: number | null) {
    this.bytesPerSecond = ByteRateLimiter.validated(bytesPerSecond);
  }

  get rate(): number | null {
    return this.bytesPerSecond;
  }

  setRate(bytesPerSecond: number | null): void {
    this.bytesPerSecond = ByteRateLimiter.validated(bytesPerSecond);
    this.bookedUntil = 0;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters.clear();
  }

  /** Resolves once `bytes` may pass. */
  take(bytes: number): Promise<void> {
    if (this.bytesPerSecond === null || bytes <= 0) return Promise.resolve();
    const now = Date.now();
    this.bookedUntil = Math.max(now, this.bookedUntil) + (bytes / this.bytesPerSecond) * 1000;
    const wait = this.bookedUntil - now;
    return new Promise((resolve) => {
      const waiter: Waiter = {
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve();
        }, wait),
        resolve,
      };
      this.waiters.add(waiter);
    });
  }

  private static validated(bytesPerSecond: number | null): number | null {
    if (bytesPerSecond !== null && !(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive or null, got ${bytesPerSecond}`);
    return bytesPerSecond;
  }
}
