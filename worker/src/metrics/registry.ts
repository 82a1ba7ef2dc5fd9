/**
 * The worker's Prometheus registry: every metric of every concern, and the recorders the
 * composition root hands to the services. Its own registry, not prom-client's global one, so a
 * test can build as many as it likes and nothing registers behind the worker's back.
 *
 * Gauges of state the services already keep (jobs by phase, pending reports, the SignalR
 * connection, rclone up, breakers) are read from `sources` at scrape time, never mirrored.
 */
import { Registry } from 'prom-client';
import { createHubMetrics, type HubRecorder, type HubSources } from './hub.js';
import { createJobMetrics, type JobSources } from './jobs.js';
import { createMachineMetrics, type MachineRecorder } from './machine.js';
import { registerProcessMetrics } from './process.js';
import type { JobRecorder, RcCallObserver, TokenRecorder } from './recorders.js';
import { createRcloneMetrics, type RcloneSources } from './rclone.js';
import { createTokenMetrics, type TokenSources } from './tokens.js';

export type MetricsSources = JobSources & TokenSources & RcloneSources & HubSources;

export interface WorkerMetricsOptions {
  sources: MetricsSources;
  /** The state machine's top-level state names. */
  machineStates: readonly string[];
  /** CPU, memory, fds (process.ts); default true. */
  processMetrics?: boolean;
}

export interface MetricsPage {
  contentType: string;
  body: string;
}

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly jobs: JobRecorder;
  readonly tokens: TokenRecorder;
  readonly rc: RcCallObserver;
  readonly hub: HubRecorder;
  readonly machine: MachineRecorder;

  constructor(options: WorkerMetricsOptions) {
    const { registry } = this;
    const { sources } = options;
    this.machine = createMachineMetrics(registry, options.machineStates);
    this.jobs = createJobMetrics(registry, sources);
    this.tokens = createTokenMetrics(registry, sources);
    this.rc = createRcloneMetrics(registry, sources);
    this.hub = createHubMetrics(registry, sources);
    if (options.processMetrics ?? true) registerProcessMetrics(registry);
  }

  /** The exposition page (Prometheus text format 0.0.4). */
  async render(): Promise<MetricsPage> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
