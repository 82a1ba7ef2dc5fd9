/**
 * What the worker's services tell the metrics: one narrow interface per concern. A service takes
 * its recorder as an optional dependency and defaults to the no-op one below, so it stays
 * testable alone and never sees prom-client. The composition root hands in the real recorders
 * (`WorkerMetrics`, registry.ts).
 *
 * The events carry facts (a state, an expiry, an error), not metric names: what becomes a
 * counter, a histogram bucket or a label value is decided once, in this module's other files.
 */
import type { JobState } from '../../../shared/hannibal.js';

/** The job runner's events. */
export interface JobRecorder {
  /**
   * A job ended: its one terminal report was queued. `bytes` and `transfers` are those of its
   * last run's stats group (`core/stats {group}`), when rclone gave them.
   */
  finished(job: { state: JobState; bytes?: number | undefined; transfers?: number | undefined }): void;
}

/** Why the token broker asked the token endpoint. */
export type TokenRefreshCause = 'just-in-time' | 'proactive' | 'background' | 'forced' | 'sweep';

/** The token broker's events. */
export interface TokenRecorder {
  /**
   * A token request was answered (or failed without an answer). `result` is the broker's
   * classification: `ok`, or the failure category of tokens/classify.ts.
   */
  refreshed(event: {
    technology: string;
    cause: TokenRefreshCause;
    result: 'ok' | 'transient' | 'reauth' | 'client-config';
    durationSeconds: number;
  }): void;
  /**
   * A new access token was handed to rclone (`pushed`), or could not be (`no-rclone`: nothing
   * running to push to; `failed`: the rc call failed). `replacedExpiresAt` is the expiry (epoch
   * ms) of the token rclone held until then, 0 when unknown; `at` is when the push completed;
   * `inUse` whether a running job holds a lease on the storage.
   */
  pushed(event: { technology: string; result: 'pushed' | 'no-rclone' | 'failed'; replacedExpiresAt: number; at: number; inUse: boolean }): void;
  /** A permanent error opened the storage's breaker (the user must re-authenticate). */
  breakerOpened(technology: string): void;
}

/** Every rc call of an `RcClient`: its method path, how long it took, and its error if it failed. */
export interface RcCallObserver {
  called(path: string, durationSeconds: number, error: unknown): void;
}

/** The hub REST calls, by route (never by URL: a URL carries ids). */
export type HubRoute = 'current-user' | 'storages' | 'save-storage' | 'acquire-next-job' | 'report-job';

/** Every hub REST call (hub.ts `observeHub`): its route, how long it took, and its error if it failed. */
export interface HubCallObserver {
  called(route: HubRoute, durationSeconds: number, error: unknown): void;
}

export const NO_JOB_RECORDER: JobRecorder = { finished: () => undefined };

export const NO_TOKEN_RECORDER: TokenRecorder = {
  refreshed: () => undefined,
  pushed: () => undefined,
  breakerOpened: () => undefined,
};

export const NO_RC_OBSERVER: RcCallObserver = { called: () => undefined };

export const NO_HUB_OBSERVER: HubCallObserver = { called: () => undefined };

/**
 * The broker's free-text refresh reasons (`just-in-time`, `proactive`, `proactive retry 2`,
 * `background retry 1` (an unused storage whose refresh failed), `sweep`, `forced: rclone
 * logged …`) as a bounded cause.
 */
export function refreshCause(reason: string): TokenRefreshCause {
  if (reason.startsWith('forced')) return 'forced';
  if (reason.startsWith('proactive')) return 'proactive';
  if (reason.startsWith('background')) return 'background';
  if (reason.startsWith('sweep')) return 'sweep';
  return 'just-in-time';
}
