/** sleep(): resolves after the delay, or rejects with the abort reason and leaves no timer behind. */
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sleep } from '../../src/util/sleep.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Whether a promise has settled, without waiting for it. */
function tracked<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done, promise };
}

describe('sleep', () => {
  it('resolves once the delay has passed, not before', async () => {
    const slept = tracked(sleep(1000));
    await vi.advanceTimersByTimeAsync(999);
    expect(slept.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(slept.settled()).toBe(true);
    await expect(slept.promise).resolves.toBeUndefined();
  });

  it('rejects at once with the reason when the signal is already aborted, without a timer', async () => {
    const reason = new Error('already stopped');
    await expect(sleep(1000, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the reason when aborted while sleeping and clears its timer', async () => {
    const controller = new AbortController();
    const slept = sleep(60_000, controller.signal);
    expect(vi.getTimerCount()).toBe(1);
    const reason = new Error('stopping');
    controller.abort(reason);
    await expect(slept).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('removes its abort listener after resolving, so a long-lived signal does not collect them', async () => {
    const controller = new AbortController();
    const slept = sleep(10, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10);
    await slept;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort(new Error('later abort'));
  });
});
