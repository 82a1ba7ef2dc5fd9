import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ByteRateLimiter } from '../standins/webdav/byte-rate-limiter.js';

describe('ByteRateLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  function tracked(promise: Promise<void>): { done: boolean } {
    const state = { done: false };
    void promise.then(() => {
      state.done = true;
    });
    return state;
  }

  it('lets bytes pass at the configured rate, shared by all takers', async () => {
    const limiter = new ByteRateLimiter(1000);
    const first = tracked(limiter.take(500));
    const second = tracked(limiter.take(500));
    await vi.advanceTimersByTimeAsync(499);
    expect(first.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(first.done).toBe(true);
    expect(second.done).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(second.done).toBe(true);
  });

  it('does not wait when unlimited', async () => {
    const limiter = new ByteRateLimiter(null);
    const taken = tracked(limiter.take(10_000_000));
    await vi.advanceTimersByTimeAsync(0);
    expect(taken.done).toBe(true);
  });

  it('releases waiting takers at once when the rate changes', async () => {
    const limiter = new ByteRateLimiter(10);
    const waiting = tracked(limiter.take(1000));
    await vi.advanceTimersByTimeAsync(1000);
    expect(waiting.done).toBe(false);
    limiter.setRate(null);
    await vi.advanceTimersByTimeAsync(0);
    expect(waiting.done).toBe(true);
    expect(limiter.rate).toBeNull();
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new ByteRateLimiter(0)).toThrow(RangeError);
    expect(() => {
      new ByteRateLimiter(5).setRate(-1);
    }).toThrow(RangeError);
  });
});
