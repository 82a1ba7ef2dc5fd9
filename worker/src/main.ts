/**
 * Entry point of the worker daemon: `node dist/worker/src/main.js`.
 * Configuration comes from the environment (see config/README.md); SIGTERM or SIGINT drains
 * (jobs handed back to the hub, reports flushed, rclone stopped) and exits 0; a second signal
 * exits at once.
 */
import { loadSettings } from './config/load.js';
import { ConfigError, errorMessage } from './errors.js';
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

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'signal received: draining');
    void worker.stop(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (reason) => {
    logger.error({ reason: errorMessage(reason) }, 'unhandled promise rejection');
  });

  await worker.start();
  await worker.finished();
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
