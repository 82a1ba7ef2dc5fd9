#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * Entry point of the worker daemon: `node dist/worker/src/main.js`, the `rclone-sync-worker`
 * bin, and what `npm start` runs in-process when `HANNIBAL_URL` is set.
 * Configuration comes from the environment (see config/README.md). SIGTERM or SIGINT drains
 * (jobs handed back to the hub, reports flushed, rclone stopped) and exits 0; a signal more
 * than a second later, or a drain over its budget, exits at once — rclone is killed with the
 * process either way (lifecycle/shutdown-signals.ts, rclone/parent-death.ts). Started by npm,
 * losing the parent npm drains too (lifecycle/parent-watch.ts).
 */
import { constants } from 'node:os';
import { loadSettings } from './config/load.js';
import { ConfigError, errorMessage } from './errors.js';
import { startedByNpm, watchParent } from './lifecycle/parent-watch.js';
import { drainBudgetMs, SIGNAL_COALESCE_MS, watchShutdownSignals } from './lifecycle/shutdown-signals.js';
import { createLogger } from './log/logger.js';
import { Worker } from './worker.js';

async function main(): Promise<number> {
  let settings;
  try {
    settings = await loadSettings(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`rclone-sync-worker: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(settings.log);
  const worker = new Worker({ settings, logger });

  const signals = watchShutdownSignals({
    coalesceMs: SIGNAL_COALESCE_MS,
    drainBudgetMs: drainBudgetMs(settings.worker.shutdownTimeoutSeconds),
    drain: (cause) => {
      if ('signal' in cause) logger.info({ signal: cause.signal }, 'signal received: draining');
      else logger.warn({ reason: cause.reason }, 'stop requested: draining');
      void worker.stop('signal' in cause ? cause.signal : cause.reason);
    },
    repeated: (signal) => {
      logger.info({ signal, withinMs: SIGNAL_COALESCE_MS }, 'signal repeated at once (terminal and npm both deliver it): still draining');
    },
    abort: (cause) => {
      if ('signal' in cause) logger.warn({ signal: cause.signal }, 'second signal: exiting now');
      else logger.error({ budgetMs: cause.overrunMs }, 'drain took too long: exiting now');
      logger.flush();
      // rclone is SIGKILLed by its 'exit' listener (and by the kernel, through setpriv).
      process.exit('signal' in cause ? 128 + constants.signals[cause.signal] : 1);
    },
  });
  const parent = startedByNpm(process.env)
    ? watchParent((ppid) => {
        logger.warn({ parentPid: ppid }, 'the parent npm process is gone');
        signals.request('its parent npm exited');
      })
    : undefined;
  process.on('unhandledRejection', (reason) => {
    logger.error({ reason: errorMessage(reason) }, 'unhandled promise rejection');
  });

  await worker.start();
  await worker.finished();
  parent?.stop();
  signals.dispose();
  logger.flush();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Timers of libraries (SignalR, undici keep-alive) must not keep a stopped worker alive.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`rclone-sync-worker: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
