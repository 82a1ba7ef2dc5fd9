/**
 * Liveness vs readiness: alive while the machine runs, ready only while it takes jobs.
 */
import { describe, expect, it } from 'vitest';
import { liveness, readiness, type HealthFacts } from '../../src/control/health.js';

const RUNNING: HealthFacts = { state: 'Running', machineActive: true, rcloneUp: true, signalrConnected: true };

describe('liveness', () => {
  it.each(['Running', 'CheckOnline.Backoff', 'StartRCloneProcess.Backoff', 'WaitStart', 'Exiting.Draining'])('is alive in %s', (state) => {
    expect(liveness({ ...RUNNING, state, rcloneUp: false })).toEqual({ ok: true, body: { status: 'ok', state } });
  });

  it('is dead once the machine has stopped', () => {
    expect(liveness({ ...RUNNING, state: 'Stopped', machineActive: false }).ok).toBe(false);
  });
});

describe('readiness', () => {
  it('is ready in Running with rclone up, also without SignalR (jobs are still polled)', () => {
    expect(readiness(RUNNING)).toEqual({ ok: true, body: { status: 'ready', state: 'Running', checks: { running: true, rclone: true, signalr: true } } });
    expect(readiness({ ...RUNNING, signalrConnected: false }).ok).toBe(true);
  });

  it.each([
    ['stopped by the operator', { state: 'WaitStart' }],
    ['restarting rclone', { state: 'StartRCloneProcess.Backoff', rcloneUp: false }],
    ['rclone gone, machine not told yet', { rcloneUp: false }],
    ['logging in to the hub', { state: 'CheckOnline.Backoff' }],
    ['draining', { state: 'Exiting.Draining' }],
  ])('is not ready when %s', (_, facts: Partial<HealthFacts>) => {
    const probe = readiness({ ...RUNNING, ...facts });
    expect(probe.ok).toBe(false);
    expect(probe.body.status).toBe('not-ready');
  });
});
