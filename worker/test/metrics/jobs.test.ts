/**
 * Job metrics: owned jobs by phase and pending reports read at scrape time, outcomes and
 * transferred volume from the runner's `finished` events.
 */
import { describe, expect, it } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import { metricsFor } from './scrape.js';

describe('job metrics', () => {
  it('counts owned jobs by phase at scrape time, every known phase present', async () => {
    let jobs = [{ phase: 'running' }, { phase: 'running' }, { phase: 'waiting-reauth' }];
    const { scrape } = metricsFor({ jobs: () => jobs });
    let page = await scrape();
    expect(page.value('rclone_sync_worker_jobs', { phase: 'running' })).toBe(2);
    expect(page.value('rclone_sync_worker_jobs', { phase: 'waiting-reauth' })).toBe(1);
    expect(page.value('rclone_sync_worker_jobs', { phase: 'starting' })).toBe(0);
    expect(page.find('rclone_sync_worker_jobs').map((s) => s.labels.phase).sort()).toEqual([
      'held',
      'interrupted',
      'running',
      'starting',
      'stopping',
      'waiting-reauth',
      'waiting-retry',
    ]);

    jobs = [];
    page = await scrape();
    expect(page.sum('rclone_sync_worker_jobs')).toBe(0);
  });

  it('shows the outbox depth as it is at scrape time', async () => {
    let pending = 3;
    const { scrape } = metricsFor({ pendingReports: () => pending });
    expect((await scrape()).value('rclone_sync_worker_report_outbox_pending')).toBe(3);
    pending = 0;
    expect((await scrape()).value('rclone_sync_worker_report_outbox_pending')).toBe(0);
  });

  it('counts each finished job once by outcome, with the bytes and files of its last run', async () => {
    const { metrics, scrape } = metricsFor();
    const before = await scrape();
    expect(before.value('rclone_sync_worker_jobs_finished_total', { outcome: 'DoneSuccess' })).toBe(0);
    expect(before.value('rclone_sync_worker_jobs_finished_total', { outcome: 'Cancelled' })).toBe(0);

    metrics.jobs.finished({ state: JobState.DoneSuccess, bytes: 600_000, transfers: 30 });
    metrics.jobs.finished({ state: JobState.DoneSuccess, bytes: 1000, transfers: 1 });
    metrics.jobs.finished({ state: JobState.DoneFailure });
    metrics.jobs.finished({ state: JobState.Cancelled, bytes: 0, transfers: 0 });
    const page = await scrape();
    expect(page.value('rclone_sync_worker_jobs_finished_total', { outcome: 'DoneSuccess' })).toBe(2);
    expect(page.value('rclone_sync_worker_jobs_finished_total', { outcome: 'DoneFailure' })).toBe(1);
    expect(page.value('rclone_sync_worker_jobs_finished_total', { outcome: 'Cancelled' })).toBe(1);
    expect(page.value('rclone_sync_worker_jobs_finished_total', { outcome: 'DoneWithErrors' })).toBe(0);
    expect(page.value('rclone_sync_worker_job_transferred_bytes_total')).toBe(601_000);
    expect(page.value('rclone_sync_worker_job_transferred_files_total')).toBe(31);
  });
});
