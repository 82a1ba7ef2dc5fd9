import { describe, expect, it } from 'vitest';
import { RestartBackoff, exponentialDelay, fullJitterDelay } from '../../src/util/backoff.js';

describe('exponentialDelay', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    const opts = { initialMs: 1000, maxMs: 300_000 };
    expect([1, 2, 3, 4].map((n) => exponentialDelay(n, opts))).toEqual([1000, 2000, 4000, 8000]);
    expect(exponentialDelay(20, opts)).toBe(300_000);
  });
});

describe('fullJitterDelay', () => {
  it('stays within [floor, exponential ceiling]', () => {
    const opts = { initialMs: 1000, maxMs: 60_000, floorMs: 100 };
    expect(fullJitterDelay(3, opts, () => 0)).toBe(100);
    expect(fullJitterDelay(3, opts, () => 1)).toBe(4000);
    expect(fullJitterDelay(3, opts, () => 0.5)).toBe(2050);
  });
});

describe('RestartBackoff', () => {
  it('doubles per crash and resets after a long healthy period', () => {
    let now = 0;
    const backoff = new RestartBackoff({ initialMs: 1000, maxMs: 300_000, resetAfterMs: 600_000 }, () => now);
    expect(backoff.nextDelay()).toBe(1000);
    backoff.markHealthy();
    now += 5_000;
    expect(backoff.nextDelay()).toBe(2000);
    backoff.markHealthy();
    now += 600_000;
    expect(backoff.nextDelay()).toBe(1000);
  });
});
