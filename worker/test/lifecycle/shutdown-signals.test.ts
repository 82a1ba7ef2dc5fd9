/**
 * watchShutdownSignals(): the first signal drains, a repeat within the coalescing window is the
 * same request (terminal + npm both deliver a Ctrl-C), a later one or an overrun drain stops at
 * once, and nothing happens after the drain is done.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { drainBudgetMs, DRAIN_SLACK_MS, watchShutdownSignals, type ShutdownSignalOptions } from '../../src/lifecycle/shutdown-signals.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

function watch(overrides: Partial<ShutdownSignalOptions> = {}) {
  const source = new EventEmitter();
  const calls: string[] = [];
  const watcher = watchShutdownSignals({
    source,
    coalesceMs: 1_000,
    drainBudgetMs: 75_000,
    drain: (cause) => calls.push(`drain ${'signal' in cause ? cause.signal : cause.reason}`),
    repeated: (signal) => calls.push(`repeated ${signal}`),
    abort: (cause) => calls.push('signal' in cause ? `abort ${cause.signal}` : `abort overrun ${cause.overrunMs}`),
    ...overrides,
  });
  const send = (signal: NodeJS.Signals) => source.emit(signal, signal);
  return { source, calls, watcher, send };
}

describe('watchShutdownSignals', () => {
  it('drains on the first SIGTERM or SIGINT', () => {
    const term = watch();
    term.send('SIGTERM');
    expect(term.calls).toEqual(['drain SIGTERM']);
    const int = watch();
    int.send('SIGINT');
    expect(int.calls).toEqual(['drain SIGINT']);
  });

  it('takes signals that follow within the window as the same request, whatever their kind', async () => {
    const { calls, send } = watch();
    send('SIGINT'); // the terminal's Ctrl-C to the foreground group
    send('SIGINT'); // npm forwarding the same Ctrl-C
    await vi.advanceTimersByTimeAsync(999);
    send('SIGTERM'); // the demo script stopping its worker
    expect(calls).toEqual(['drain SIGINT', 'repeated SIGINT', 'repeated SIGTERM']);
  });

  it('stops at once on a signal after the window, once', async () => {
    const { calls, send } = watch();
    send('SIGTERM');
    await vi.advanceTimersByTimeAsync(1_000);
    send('SIGINT');
    send('SIGTERM');
    expect(calls).toEqual(['drain SIGTERM', 'abort SIGINT']);
  });

  it('stops at once when the drain overruns its budget, and not earlier', async () => {
    const { calls, send } = watch();
    send('SIGTERM');
    await vi.advanceTimersByTimeAsync(74_999);
    expect(calls).toEqual(['drain SIGTERM']);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual(['drain SIGTERM', 'abort overrun 75000']);
    send('SIGTERM');
    expect(calls).toHaveLength(2);
  });

  it('after dispose (drain done) neither the budget nor later signals do anything, and listeners stay', async () => {
    const { calls, send, watcher, source } = watch();
    send('SIGTERM');
    watcher.dispose();
    await vi.advanceTimersByTimeAsync(200_000);
    send('SIGTERM');
    expect(calls).toEqual(['drain SIGTERM']);
    // A process without a listener would die of the signal's default action mid-flush.
    expect(source.listenerCount('SIGTERM')).toBe(1);
    expect(source.listenerCount('SIGINT')).toBe(1);
  });

  it('drains on a request that is no signal, once, and a signal after it is a second request', async () => {
    const { calls, send, watcher } = watch();
    watcher.request('its parent npm exited');
    watcher.request('again');
    send('SIGTERM');
    await vi.advanceTimersByTimeAsync(1_000);
    send('SIGTERM');
    expect(calls).toEqual(['drain its parent npm exited', 'repeated SIGTERM', 'abort SIGTERM']);
  });

  it('ignores a request while a signal\'s drain is under way', () => {
    const { calls, send, watcher } = watch();
    send('SIGINT');
    watcher.request('its parent npm exited');
    expect(calls).toEqual(['drain SIGINT']);
  });

  it('budgets the drain as the rclone stop timeout plus a fixed slack', () => {
    expect(drainBudgetMs(60)).toBe(60_000 + DRAIN_SLACK_MS);
  });
});
