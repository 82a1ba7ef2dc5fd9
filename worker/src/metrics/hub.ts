/**
 * Hub metrics: REST calls and their failures by route and kind, the SignalR connection, and the
 * events it delivered.
 *
 * The REST calls are observed by decorating the client's narrow interfaces in the composition
 * root (`observeHub`), so the client itself knows nothing of metrics.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { HubAuthError, HubError } from '../errors.js';
import type { JobsHub, OnlineHub, StoragesHub } from '../hub/rest-client.js';
import type { HubEvent } from '../hub/signalr-events.js';
import { timed } from '../util/timed.js';
import { METRIC_PREFIX } from './names.js';
import type { HubCallObserver, HubRoute } from './recorders.js';

export interface HubSources {
  signalrConnected(): boolean;
}

export type HubFailureKind = 'network' | 'login-rejected' | 'http-4xx' | 'http-5xx' | 'bad-answer';

/**
 * What went wrong, from the client's coded error: no answer at all (refused, reset, timeout), the
 * hub refused our login, an HTTP error status, or a 2xx whose body was not what the contract says.
 */
export function hubFailureKind(error: unknown): HubFailureKind {
  if (error instanceof HubAuthError) return 'login-rejected';
  if (!(error instanceof HubError) || error.status === undefined) return 'network';
  if (error.status >= 500) return 'http-5xx';
  if (error.status >= 400) return 'http-4xx';
  return 'bad-answer';
}

const ROUTES: readonly HubRoute[] = ['current-user', 'storages', 'save-storage', 'acquire-next-job', 'report-job'];
const EVENTS: readonly HubEvent['type'][] = ['NewJobAvailable', 'StorageReauthenticated', 'JobUpdated'];
const HUB_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface HubRecorder extends HubCallObserver {
  /** A SignalR event was received. */
  event(name: HubEvent['type']): void;
}

export function createHubMetrics(registry: Registry, sources: HubSources): HubRecorder {
  const registers = [registry];
  const calls = new Counter({
    name: `${METRIC_PREFIX}hub_calls_total`,
    help: 'Hub REST calls, by route (a call includes its one re-login and retry after a 401).',
    labelNames: ['route'],
    registers,
  });
  const errors = new Counter({
    name: `${METRIC_PREFIX}hub_call_errors_total`,
    help: 'Failed hub REST calls, by route and kind (network, login-rejected, http-4xx, http-5xx, bad-answer).',
    labelNames: ['route', 'kind'],
    registers,
  });
  for (const route of ROUTES) calls.inc({ route }, 0);
  const duration = new Histogram({
    name: `${METRIC_PREFIX}hub_call_duration_seconds`,
    help: 'Duration of hub REST calls, failed ones included, by route.',
    labelNames: ['route'],
    buckets: HUB_BUCKETS,
    registers,
  });
  new Gauge({
    name: `${METRIC_PREFIX}hub_signalr_connected`,
    help: '1 while the SignalR connection to the hub is up, else 0.',
    registers,
    collect() {
      this.set(sources.signalrConnected() ? 1 : 0);
    },
  });
  const events = new Counter({
    name: `${METRIC_PREFIX}hub_events_total`,
    help: 'SignalR events received from the hub, by event.',
    labelNames: ['event'],
    registers,
  });
  for (const event of EVENTS) events.inc({ event }, 0);

  return {
    called(route, durationSeconds, error) {
      calls.inc({ route });
      duration.observe({ route }, durationSeconds);
      if (error !== undefined) errors.inc({ route, kind: hubFailureKind(error) });
    },
    event(name) {
      events.inc({ event: name });
    },
  };
}

export type ObservedHub = JobsHub & StoragesHub & OnlineHub;

/** `hub` with every call timed and reported to `observer` under its route (never its URL: URLs carry ids). */
export function observeHub(hub: ObservedHub, observer: HubCallObserver): ObservedHub {
  const observed = <T>(route: HubRoute, call: () => Promise<T>): Promise<T> =>
    timed(call, (durationSeconds, error) => {
      observer.called(route, durationSeconds, error);
    });
  return {
    checkOnline: () => observed('current-user', () => hub.checkOnline()),
    storages: () => observed('storages', () => hub.storages()),
    saveStorage: (storage) => observed('save-storage', () => hub.saveStorage(storage)),
    acquireNextJob: (params) => observed('acquire-next-job', () => hub.acquireNextJob(params)),
    reportJob: (report) => observed('report-job', () => hub.reportJob(report)),
  };
}
