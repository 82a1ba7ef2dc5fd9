/**
 * A WorkerMetrics over fake sources, and its page parsed, for the metrics tests.
 */
import { WorkerMetrics, type MetricsSources } from '../../src/metrics/registry.js';
import { createWorkerMachine } from '../../src/supervisor/machine.js';
import { Exposition } from '../support/prometheus-text.js';

/** The real machine's top-level states, as the composition root passes them. */
export const MACHINE_STATES = Object.keys(createWorkerMachine().root.states);

export function fakeSources(overrides: Partial<MetricsSources> = {}): MetricsSources {
  return {
    jobs: () => [],
    pendingReports: () => 0,
    breakers: () => [],
    rcloneUp: () => false,
    signalrConnected: () => false,
    ...overrides,
  };
}

export function metricsFor(overrides: Partial<MetricsSources> = {}, processMetrics = false): { metrics: WorkerMetrics; scrape: () => Promise<Exposition> } {
  const metrics = new WorkerMetrics({ sources: fakeSources(overrides), machineStates: MACHINE_STATES, processMetrics });
  return { metrics, scrape: async () => new Exposition((await metrics.render()).body) };
}
