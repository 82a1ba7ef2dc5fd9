/**
 * The registry as a whole: Prometheus naming conventions, bounded labels, the process metrics
 * that are (and are not) there, and registries that do not share state.
 */
import { describe, expect, it } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import { LabelGuard, OVERFLOW_LABEL } from '../../src/metrics/label-guard.js';
import { metricsFor } from './scrape.js';

/** Feeds one event of every kind, so every labelled family has samples. */
function exercise(metrics: ReturnType<typeof metricsFor>['metrics']): void {
  metrics.jobs.finished({ state: JobState.DoneSuccess, bytes: 10, transfers: 1 });
  metrics.tokens.refreshed({ technology: 'gcs', cause: 'proactive', result: 'ok', durationSeconds: 0.1 });
  metrics.tokens.pushed({ technology: 'gcs', result: 'pushed', replacedExpiresAt: Date.now() + 60_000, at: Date.now(), inUse: true });
  metrics.tokens.breakerOpened('gcs');
  metrics.rc.called('core/stats', 0.002, undefined);
  metrics.hub.called('report-job', 0.01, new Error('down'));
  metrics.hub.event('NewJobAvailable');
  metrics.machine.transitioned({ from: undefined, to: 'Running', event: 'start' });
  metrics.machine.stepFailed('CheckOnline');
}

describe('the metrics page', () => {
  it('follows the Prometheus naming conventions', async () => {
    const { metrics, scrape } = metricsFor({ jobs: () => [{ phase: 'running' }], breakers: () => [{ storage: 'gcs-a', technology: 'gcs', open: false }] }, true);
    exercise(metrics);
    const page = await scrape();
    expect(page.families.size).toBeGreaterThan(20);
    for (const [name, family] of page.families) {
      expect(name, name).toMatch(/^(rclone_sync_worker_|process_|nodejs_)[a-z0-9_]+$/);
      expect(family.help.length, `${name} has help`).toBeGreaterThan(10);
      if (family.type === 'counter') expect(name, `${name}: counters end in _total`).toMatch(/_total$/);
      else expect(name, `${name}: only counters end in _total`).not.toMatch(/_total$/);
      if (family.type === 'histogram') expect(name, `${name}: histograms in base units`).toMatch(/_(seconds|bytes)$/);
      expect(name, `${name}: base units only`).not.toMatch(/_(ms|milliseconds|kb|mb|minutes)(_|$)/);
    }
  });

  it('never labels by anything unbounded or secret', async () => {
    const { metrics, scrape } = metricsFor({ jobs: () => [{ phase: 'running' }], breakers: () => [{ storage: 'gcs-a', technology: 'gcs', open: true }] }, true);
    exercise(metrics);
    const labelNames = new Set((await scrape()).samples.flatMap((s) => Object.keys(s.labels)));
    expect([...labelNames].sort()).toEqual(['cause', 'event', 'in_use', 'kind', 'le', 'outcome', 'path', 'phase', 'result', 'route', 'state', 'step', 'storage', 'technology']);
  });

  it('has the chosen process metrics and none of the default set it left out', async () => {
    const page = await metricsFor({}, true).scrape();
    expect(page.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(page.value('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(page.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(1_000_000);
    expect(page.value('process_start_time_seconds')).toBeLessThanOrEqual(Date.now() / 1000);
    expect(page.value('process_open_fds')).toBeGreaterThan(2);
    const names = [...page.families.keys()];
    expect(names.filter((n) => /gc_duration|eventloop|heap_space|active_handles|active_requests|nodejs_version/.test(n))).toEqual([]);
  });

  it('keeps every registry to itself', async () => {
    const a = metricsFor();
    const b = metricsFor();
    a.metrics.hub.event('NewJobAvailable');
    expect((await a.scrape()).value('rclone_sync_worker_hub_events_total', { event: 'NewJobAvailable' })).toBe(1);
    expect((await b.scrape()).value('rclone_sync_worker_hub_events_total', { event: 'NewJobAvailable' })).toBe(0);
  });
});

describe('LabelGuard', () => {
  it('passes the first values, then folds every new one into "other"', () => {
    const guard = new LabelGuard(2);
    expect(guard.value('a')).toBe('a');
    expect(guard.value('b')).toBe('b');
    expect(guard.value('c')).toBe(OVERFLOW_LABEL);
    expect(guard.value('a')).toBe('a');
  });

  it('cuts long values', () => {
    expect(new LabelGuard(5).value('x'.repeat(500))).toHaveLength(64);
  });
});
