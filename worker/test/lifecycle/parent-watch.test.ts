/** watchParent(): the parent changing (re-parented to init) is reported once; npm is recognised by its variables. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startedByNpm, watchParent } from '../../src/lifecycle/parent-watch.js';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('watchParent', () => {
  it('reports the first change of the parent pid, once, with the lost parent', async () => {
    let ppid = 4242;
    const orphaned = vi.fn();
    watchParent(orphaned, { intervalMs: 500, ppid: () => ppid });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(orphaned).not.toHaveBeenCalled();
    ppid = 1;
    await vi.advanceTimersByTimeAsync(500);
    ppid = 77;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(orphaned.mock.calls).toEqual([[4242]]);
  });

  it('reports nothing once stopped', async () => {
    let ppid = 4242;
    const orphaned = vi.fn();
    const watch = watchParent(orphaned, { ppid: () => ppid });
    watch.stop();
    ppid = 1;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(orphaned).not.toHaveBeenCalled();
  });
});

describe('startedByNpm', () => {
  it('is true under npm start and npx, false otherwise', () => {
    expect(startedByNpm({ npm_command: 'start', npm_lifecycle_event: 'start' })).toBe(true);
    expect(startedByNpm({ npm_command: 'exec', npm_lifecycle_event: 'npx' })).toBe(true);
    expect(startedByNpm({ PATH: '/usr/bin', HOME: '/root' })).toBe(false);
  });
});
