/**
 * What SIGTERM and SIGINT mean to the worker: the first one drains (jobs stopped and handed
 * back, reports flushed, rclone quit); a later one, or a drain that overruns its budget, stops
 * at once. One rule makes this work whatever started the worker:
 *
 * - **The same request can arrive twice.** A Ctrl-C in a terminal signals the whole foreground
 *   process group, so under `npm start` the worker gets SIGINT from the terminal *and* again from
 *   npm, which forwards SIGINT and SIGTERM to its script (@npmcli/run-script's signal manager);
 *   `kill -- -<pgid>` does the same, and the demo's own SIGTERM to its worker follows the
 *   terminal's SIGINT. Signals within `coalesceMs` of the first are therefore that request
 *   again, not an order to stop at once.
 * - **A drain is bounded**, so a service manager's stop timeout (systemd `TimeoutStopSec`,
 *   Docker's grace period) can be set above it and never has to SIGKILL a draining worker.
 */
import type { EventEmitter } from 'node:events';

export interface ShutdownSignalOptions {
  /** First signal, or a stop {@link ShutdownSignals.request}: start draining. */
  drain: (cause: { signal: NodeJS.Signals } | { reason: string }) => void;
  /** A signal that repeats the first request (within `coalesceMs`); the drain goes on. */
  repeated?: (signal: NodeJS.Signals) => void;
  /** Stop at once: a signal after the coalescing window, or the drain over its budget. */
  abort: (cause: { signal: NodeJS.Signals } | { overrunMs: number }) => void;
  /** Later signals within this time of the first one are the same request. */
  coalesceMs: number;
  /** Longest a drain may take before `abort`. */
  drainBudgetMs: number;
  signals?: readonly NodeJS.Signals[];
  /** Where signals come from; default `process`. */
  source?: Pick<EventEmitter, 'on'>;
  now?: () => number;
}

export interface ShutdownSignals {
  /**
   * A stop request that is no signal (the parent npm is gone): drains like a first signal, and
   * starts the same budget; nothing when a drain is already under way.
   */
  request(reason: string): void;
  /** The drain is complete: stop the budget timer; later signals change nothing. */
  dispose(): void;
}

export const DEFAULT_SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** Signals this soon after the first repeat it (a terminal and npm both deliver a Ctrl-C). */
export const SIGNAL_COALESCE_MS = 1_000;

/**
 * Beyond `WORKER_SHUTDOWN_TIMEOUT_SECONDS` (rclone's graceful stop), what the drain may spend
 * stopping jobs and flushing reports before it is cut short.
 */
export const DRAIN_SLACK_MS = 15_000;

/** The longest drain; service managers' stop timeouts (the systemd unit's) are set above it. */
export function drainBudgetMs(shutdownTimeoutSeconds: number): number {
  return shutdownTimeoutSeconds * 1000 + DRAIN_SLACK_MS;
}

export function watchShutdownSignals(options: ShutdownSignalOptions): ShutdownSignals {
  const source = options.source ?? process;
  const now = options.now ?? Date.now;
  const signals = options.signals ?? DEFAULT_SHUTDOWN_SIGNALS;
  let firstAt: number | undefined;
  let budget: NodeJS.Timeout | undefined;
  let settled = false;

  const abort = (cause: { signal: NodeJS.Signals } | { overrunMs: number }) => {
    if (settled) return;
    settled = true;
    clearTimeout(budget);
    options.abort(cause);
  };
  // Listeners stay installed to the end: without one, a late signal would kill the process
  // (its default action) while it flushes its last log lines.
  const startDrain = (cause: { signal: NodeJS.Signals } | { reason: string }) => {
    firstAt = now();
    budget = setTimeout(() => {
      abort({ overrunMs: options.drainBudgetMs });
    }, options.drainBudgetMs);
    // The budget must not be what keeps a finished worker alive.
    budget.unref();
    options.drain(cause);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (settled) return;
    if (firstAt === undefined) {
      startDrain({ signal });
    } else if (now() - firstAt < options.coalesceMs) {
      options.repeated?.(signal);
    } else {
      abort({ signal });
    }
  };
  for (const signal of signals) source.on(signal, onSignal);
  return {
    request(reason) {
      if (!settled && firstAt === undefined) startDrain({ reason });
    },
    dispose() {
      settled = true;
      clearTimeout(budget);
    },
  };
}
