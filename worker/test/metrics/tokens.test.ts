/**
 * Token metrics: refreshes, pushes and their lead before rclone's switch point, breakers.
 */
import { describe, expect, it } from 'vitest';
import { refreshCause } from '../../src/metrics/recorders.js';
import { RCLONE_SWITCH_BEFORE_EXPIRY_MS } from '../../src/tokens/schedule.js';
import { metricsFor } from './scrape.js';

const AT = Date.parse('2026-11-22T10:00:00Z');

describe('token metrics', () => {
  it('counts refreshes by technology, cause and result, and times them', async () => {
    const { metrics, scrape } = metricsFor();
    metrics.tokens.refreshed({ technology: 'onedrive', cause: 'proactive', result: 'ok', durationSeconds: 0.2 });
    metrics.tokens.refreshed({ technology: 'onedrive', cause: 'proactive', result: 'ok', durationSeconds: 0.3 });
    metrics.tokens.refreshed({ technology: 'onedrive', cause: 'just-in-time', result: 'transient', durationSeconds: 5 });
    metrics.tokens.refreshed({ technology: 'gcs', cause: 'forced', result: 'reauth', durationSeconds: 0.1 });
    const page = await scrape();
    expect(page.value('rclone_sync_worker_token_refreshes_total', { technology: 'onedrive', cause: 'proactive', result: 'ok' })).toBe(2);
    expect(page.value('rclone_sync_worker_token_refreshes_total', { technology: 'onedrive', cause: 'just-in-time', result: 'transient' })).toBe(1);
    expect(page.value('rclone_sync_worker_token_refreshes_total', { technology: 'gcs', cause: 'forced', result: 'reauth' })).toBe(1);
    expect(page.value('rclone_sync_worker_token_refresh_duration_seconds_count', { technology: 'onedrive' })).toBe(3);
    expect(page.value('rclone_sync_worker_token_refresh_duration_seconds_sum', { technology: 'onedrive' })).toBeCloseTo(5.5);
    expect(page.value('rclone_sync_worker_token_refresh_duration_seconds_bucket', { technology: 'onedrive', le: '0.25' })).toBe(1);
  });

  it("measures a push's lead from the switch point (expiry − 10 s) of the token it replaces", async () => {
    const { metrics, scrape } = metricsFor();
    // The replaced token expires in 70 s: rclone would switch in 60 s.
    metrics.tokens.pushed({ technology: 'gcs', result: 'pushed', replacedExpiresAt: AT + 70_000, at: AT, inUse: true });
    // Late: rclone switched 4 s ago.
    metrics.tokens.pushed({ technology: 'gcs', result: 'pushed', replacedExpiresAt: AT + RCLONE_SWITCH_BEFORE_EXPIRY_MS - 4000, at: AT, inUse: true });
    const page = await scrape();
    const bucket = (le: string) => page.value('rclone_sync_worker_token_push_lead_seconds_bucket', { technology: 'gcs', in_use: 'true', le });
    expect(bucket('-10')).toBe(0);
    expect(bucket('0')).toBe(1);
    expect(bucket('30')).toBe(1);
    expect(bucket('60')).toBe(2);
    expect(page.value('rclone_sync_worker_token_push_lead_seconds_sum', { technology: 'gcs', in_use: 'true' })).toBeCloseTo(56);
    expect(page.value('rclone_sync_worker_token_pushes_total', { technology: 'gcs', result: 'pushed' })).toBe(2);
  });

  it('counts pushes that reached no rclone or failed, without a lead; an unknown old expiry has none either', async () => {
    const { metrics, scrape } = metricsFor();
    metrics.tokens.pushed({ technology: 'dropbox', result: 'no-rclone', replacedExpiresAt: AT + 70_000, at: AT, inUse: false });
    metrics.tokens.pushed({ technology: 'dropbox', result: 'failed', replacedExpiresAt: AT + 70_000, at: AT, inUse: true });
    metrics.tokens.pushed({ technology: 'dropbox', result: 'pushed', replacedExpiresAt: 0, at: AT, inUse: false });
    const page = await scrape();
    expect(page.value('rclone_sync_worker_token_pushes_total', { technology: 'dropbox', result: 'no-rclone' })).toBe(1);
    expect(page.value('rclone_sync_worker_token_pushes_total', { technology: 'dropbox', result: 'failed' })).toBe(1);
    expect(page.value('rclone_sync_worker_token_pushes_total', { technology: 'dropbox', result: 'pushed' })).toBe(1);
    expect(page.find('rclone_sync_worker_token_push_lead_seconds_count')).toEqual([]);
  });

  it('shows each tracked storage breaker at scrape time and forgets storages that are gone', async () => {
    let breakers = [
      { storage: 'onedrive-anna', technology: 'onedrive', open: true },
      { storage: 'gcs-backup', technology: 'gcs', open: false },
    ];
    const { metrics, scrape } = metricsFor({ breakers: () => breakers });
    metrics.tokens.breakerOpened('onedrive');
    let page = await scrape();
    expect(page.value('rclone_sync_worker_token_breaker_open', { storage: 'onedrive-anna', technology: 'onedrive' })).toBe(1);
    expect(page.value('rclone_sync_worker_token_breaker_open', { storage: 'gcs-backup', technology: 'gcs' })).toBe(0);
    expect(page.value('rclone_sync_worker_token_breaker_openings_total', { technology: 'onedrive' })).toBe(1);

    breakers = [{ storage: 'gcs-backup', technology: 'gcs', open: false }];
    page = await scrape();
    expect(page.find('rclone_sync_worker_token_breaker_open').map((s) => s.labels.storage)).toEqual(['gcs-backup']);
  });

  it("maps the broker's refresh reasons to a bounded cause", () => {
    expect(refreshCause('just-in-time')).toBe('just-in-time');
    expect(refreshCause('proactive')).toBe('proactive');
    expect(refreshCause('proactive retry 3')).toBe('proactive');
    expect(refreshCause('forced: rclone logged "401 Unauthorized"')).toBe('forced');
    expect(refreshCause('sweep')).toBe('sweep');
    expect(refreshCause('background retry 2')).toBe('background');
  });
});
