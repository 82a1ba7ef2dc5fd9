/**
 * rclone metrics: rclone up at scrape time, and rc calls timed and classified through the
 * observer an RcClient is given (against undici's MockAgent).
 */
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RcError } from '../../src/errors.js';
import { OVERFLOW_LABEL } from '../../src/metrics/label-guard.js';
import { rcFailureKind } from '../../src/metrics/rclone.js';
import { RcClient } from '../../src/rclone/rc-client.js';
import { metricsFor } from './scrape.js';

const ORIGIN = 'http://127.0.0.1:5572';
let agent: MockAgent;

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});

afterEach(async () => {
  await agent.close();
});

function answer(path: string, status: number, body: unknown): void {
  agent.get(ORIGIN).intercept({ path: `/${path}`, method: 'POST' }).reply(status, JSON.stringify(body));
}

describe('rclone metrics', () => {
  it('shows whether rclone is up at scrape time', async () => {
    let up = false;
    const { scrape } = metricsFor({ rcloneUp: () => up });
    expect((await scrape()).value('rclone_sync_worker_rclone_up')).toBe(0);
    up = true;
    expect((await scrape()).value('rclone_sync_worker_rclone_up')).toBe(1);
  });

  it('times every rc call by path and counts failures by kind', async () => {
    const { metrics, scrape } = metricsFor();
    const client = new RcClient({ baseUrl: ORIGIN, user: 'worker', password: 'rc-test-password', dispatcher: agent, observer: metrics.rc });
    answer('core/stats', 200, { bytes: 1 });
    answer('core/stats', 200, { bytes: 2 });
    answer('job/status', 500, { error: 'job not found', status: 500 });
    await client.coreStats('job-1-run-1');
    await client.coreStats('job-1-run-1');
    await expect(client.jobStatus(7)).rejects.toBeInstanceOf(RcError);
    // Nothing intercepts rc/noop: no answer at all.
    await expect(client.noop()).rejects.toBeInstanceOf(RcError);

    const page = await scrape();
    expect(page.value('rclone_sync_worker_rc_call_duration_seconds_count', { path: 'core/stats' })).toBe(2);
    expect(page.value('rclone_sync_worker_rc_call_duration_seconds_bucket', { path: 'core/stats', le: '+Inf' })).toBe(2);
    expect(page.value('rclone_sync_worker_rc_call_duration_seconds_sum', { path: 'core/stats' })).toBeGreaterThan(0);
    expect(page.value('rclone_sync_worker_rc_call_duration_seconds_count', { path: 'job/status' })).toBe(1);
    expect(page.value('rclone_sync_worker_rc_call_errors_total', { path: 'job/status', kind: 'rclone-error' })).toBe(1);
    expect(page.value('rclone_sync_worker_rc_call_errors_total', { path: 'rc/noop', kind: 'no-answer' })).toBe(1);
    expect(page.find('rclone_sync_worker_rc_call_errors_total', { path: 'core/stats' })).toEqual([]);
  });

  it('classifies rc failures: an rclone error envelope, or no answer', () => {
    expect(rcFailureKind(new RcError('job/status', 'job not found', 500))).toBe('rclone-error');
    expect(rcFailureKind(new RcError('rc/noop', 'rc rc/noop: connect ECONNREFUSED', undefined))).toBe('no-answer');
    expect(rcFailureKind(new Error('anything else'))).toBe('no-answer');
  });

  it('caps the number of distinct rc paths', async () => {
    const { metrics, scrape } = metricsFor();
    for (let i = 0; i < 60; i++) metrics.rc.called(`made/up-${i}`, 0.001, undefined);
    const paths = new Set((await scrape()).find('rclone_sync_worker_rc_call_duration_seconds_count').map((s) => s.labels.path));
    expect(paths.size).toBe(41);
    expect(paths.has(OVERFLOW_LABEL)).toBe(true);
  });
});
