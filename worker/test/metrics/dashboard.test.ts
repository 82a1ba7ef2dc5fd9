/**
 * The sample Grafana dashboard (config/grafana-dashboard.json) asks only for metrics the worker
 * serves, with labels they have: renaming a metric breaks this test, not an operator's dashboard.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JobState } from '../../../shared/hannibal.js';
import { metricsFor } from './scrape.js';

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(readFileSync(new URL('../../../config/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Panel[] };

describe('the sample Grafana dashboard', () => {
  it('queries only metrics and labels the worker serves', async () => {
    const { metrics, scrape } = metricsFor({ jobs: () => [{ phase: 'running' }], breakers: () => [{ storage: 's', technology: 'gcs', open: true }] }, true);
    metrics.jobs.finished({ state: JobState.DoneSuccess, bytes: 1, transfers: 1 });
    metrics.tokens.refreshed({ technology: 'gcs', cause: 'proactive', result: 'ok', durationSeconds: 0.1 });
    metrics.tokens.pushed({ technology: 'gcs', result: 'pushed', replacedExpiresAt: Date.now() + 60_000, at: Date.now(), inUse: true });
    metrics.rc.called('core/stats', 0.001, new Error('x'));
    metrics.hub.called('report-job', 0.01, new Error('x'));
    const page = await scrape();
    const labelsOf = (name: string) => new Set(page.samples.filter((s) => s.name === name).flatMap((s) => Object.keys(s.labels)));

    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(15);
    for (const expr of exprs) {
      for (const [, name = '', selector = ''] of expr.matchAll(/\b((?:rclone_sync_worker|process|nodejs)_[a-z0-9_]+)(?:\{([^}]*)\})?/g)) {
        const family = name.replace(/_(bucket|count|sum)$/, '');
        expect(page.families.has(family), `${expr}: ${name}`).toBe(true);
        for (const [, label = ''] of selector.matchAll(/([a-z_]+)\s*=~?/g)) {
          if (label !== 'instance') expect(labelsOf(name).has(label), `${expr}: ${name} has label ${label}`).toBe(true);
        }
      }
      for (const [, labels = ''] of expr.matchAll(/by \(([^)]*)\)/g)) {
        for (const label of labels.split(',').map((l) => l.trim())) {
          const names = [...expr.matchAll(/\b((?:rclone_sync_worker|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1] ?? '');
          expect(names.some((n) => labelsOf(n).has(label)), `${expr}: by ${label}`).toBe(true);
        }
      }
    }
  });
});
