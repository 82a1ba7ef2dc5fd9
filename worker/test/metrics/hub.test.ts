/**
 * Hub metrics: REST calls observed through `observeHub` (route, duration, failure kind), the
 * SignalR connection at scrape time, and received events.
 */
import { describe, expect, it } from 'vitest';
import type { AcquireParams, JobStatusReport, Storage } from '../../../shared/hannibal.js';
import { JobState } from '../../../shared/hannibal.js';
import { HubAuthError, HubError } from '../../src/errors.js';
import { hubFailureKind, observeHub, type ObservedHub } from '../../src/metrics/hub.js';
import { metricsFor } from './scrape.js';

const ACQUIRE: AcquireParams = { username: 'worker@example.test', capabilities: 'rclone', owner: 'worker-a', networks: 'test' };
const REPORT: JobStatusReport = { jobId: 7, owner: 'worker-a', state: JobState.DoneSuccess };

/** A hub whose calls answer what the test sets, and record that they were made. */
function scriptedHub(): { hub: ObservedHub; fail: { error: unknown } } {
  const fail: { error: unknown } = { error: undefined };
  const answer = <T>(value: T): Promise<T> => (fail.error === undefined ? Promise.resolve(value) : Promise.reject(fail.error as Error));
  return {
    fail,
    hub: {
      checkOnline: () => answer(undefined),
      storages: () => answer([]),
      saveStorage: (storage: Storage) => answer(storage),
      acquireNextJob: () => answer(null),
      reportJob: () => answer({ status: 0 }),
    },
  };
}

describe('hub metrics', () => {
  it('counts and times every call by route, failures by kind, and passes results and errors through', async () => {
    const { metrics, scrape } = metricsFor();
    const { hub: inner, fail } = scriptedHub();
    const hub = observeHub(inner, metrics.hub);

    expect(await hub.acquireNextJob(ACQUIRE)).toBeNull();
    expect(await hub.reportJob(REPORT)).toEqual({ status: 0 });
    const refused = new HubError('hub reportJob answered HTTP 503', 503);
    fail.error = refused;
    await expect(hub.reportJob(REPORT)).rejects.toBe(refused);
    fail.error = new HubError('hub POST /api/hannibal/v1/reportJob failed: connect ECONNREFUSED', undefined);
    await expect(hub.reportJob(REPORT)).rejects.toBeInstanceOf(HubError);
    fail.error = new HubError('hub storages response is not an array', 200, { permanent: true });
    await expect(hub.storages()).rejects.toBeInstanceOf(HubError);

    const page = await scrape();
    expect(page.value('rclone_sync_worker_hub_calls_total', { route: 'acquire-next-job' })).toBe(1);
    expect(page.value('rclone_sync_worker_hub_calls_total', { route: 'report-job' })).toBe(3);
    expect(page.value('rclone_sync_worker_hub_calls_total', { route: 'save-storage' })).toBe(0);
    expect(page.value('rclone_sync_worker_hub_call_errors_total', { route: 'report-job', kind: 'http-5xx' })).toBe(1);
    expect(page.value('rclone_sync_worker_hub_call_errors_total', { route: 'report-job', kind: 'network' })).toBe(1);
    expect(page.value('rclone_sync_worker_hub_call_errors_total', { route: 'storages', kind: 'bad-answer' })).toBe(1);
    expect(page.find('rclone_sync_worker_hub_call_errors_total', { route: 'acquire-next-job' })).toEqual([]);
    expect(page.value('rclone_sync_worker_hub_call_duration_seconds_count', { route: 'report-job' })).toBe(3);
  });

  it('classifies hub failures by what the client knows', () => {
    expect(hubFailureKind(new HubAuthError('hub rejected the login'))).toBe('login-rejected');
    expect(hubFailureKind(new HubError('no answer', undefined))).toBe('network');
    expect(hubFailureKind(new HubError('HTTP 429', 429))).toBe('http-4xx');
    expect(hubFailureKind(new HubError('HTTP 502', 502))).toBe('http-5xx');
    expect(hubFailureKind(new HubError('not JSON', 200))).toBe('bad-answer');
    expect(hubFailureKind(new TypeError('fetch failed'))).toBe('network');
  });

  it('shows the SignalR connection at scrape time and counts events', async () => {
    let connected = true;
    const { metrics, scrape } = metricsFor({ signalrConnected: () => connected });
    metrics.hub.event('NewJobAvailable');
    metrics.hub.event('NewJobAvailable');
    metrics.hub.event('StorageReauthenticated');
    let page = await scrape();
    expect(page.value('rclone_sync_worker_hub_signalr_connected')).toBe(1);
    expect(page.value('rclone_sync_worker_hub_events_total', { event: 'NewJobAvailable' })).toBe(2);
    expect(page.value('rclone_sync_worker_hub_events_total', { event: 'StorageReauthenticated' })).toBe(1);
    connected = false;
    page = await scrape();
    expect(page.value('rclone_sync_worker_hub_signalr_connected')).toBe(0);
  });
});
