/**
 * Backoff strategies. All take the attempt number (1 = the first retry) and return a delay in
 * milliseconds. `random` is injectable so tests are deterministic.
 */

export interface ExponentialBackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
}

/** Plain doubling: initial, 2·initial, 4·initial … capped at `maxMs` (kubelet style). */
export function exponentialDelay(attempt: number, options: ExponentialBackoffOptions): number {
  const factor = options.factor ?? 2;
  const n = Math.max(1, attempt);
  return Math.min(options.maxMs, options.initialMs * factor ** (n - 1));
}

/**
 * "Full jitter" (AWS architecture blog): a uniform random delay in [0, exponential(attempt)].
 * `floorMs` keeps a retry from firing instantly, which only hammers a struggling endpoint.
 */
export function fullJitterDelay(
  attempt: number,
  options: ExponentialBackoffOptions & { floorMs?: number },
  random: () => number = Math.random,
): number {
  const ceiling = exponentialDelay(attempt, options);
  const floor = Math.min(options.floorMs ?? 0, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}

/**
 * Kubelet-style restart backoff: 1 s doubling to 5 min by default; the count resets when the
 * process has been healthy for `resetAfterMs` (10 min).
 */
export class RestartBackoff {
  private failures = 0;
  private healthySince: number | undefined;

  constructor(
    private readonly options: { initialMs: number; maxMs: number; resetAfterMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Record that the process became healthy now. */
  markHealthy(): void {
    this.healthySince = this.now();
  }

  /** Record a crash; returns how long to wait before the next start. */
  nextDelay(): number {
    if (this.healthySince !== undefined && this.now() - this.healthySince >= this.options.resetAfterMs) {
      this.failures = 0;
    }
    this.healthySince = undefined;
    this.failures += 1;
    return exponentialDelay(this.failures, { initialMs: this.options.initialMs, maxMs: this.options.maxMs });
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}
