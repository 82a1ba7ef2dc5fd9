/**
 * One root pino logger; every module takes a `Logger` and derives `child({ component })`.
 *
 * Secrets never reach a log line by construction (modules log fingerprints, not tokens), and
 * as a second line of defence every key that can carry a secret is redacted wherever it
 * appears at the first two levels of a log object.
 */
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

const SECRET_KEYS = [
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'clientSecret',
  'client_secret',
  'password',
  'pass',
  'authorization',
  'Authorization',
  'rcPassword',
];

export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'headers.authorization',
  'req.headers.authorization',
];

export type LogFormat = 'json' | 'pretty';

export interface LoggerSettings {
  level: string;
  format: LogFormat;
}

export function createLogger(settings: LoggerSettings, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(options, destination);
  if (settings.format === 'pretty') {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { colorize: process.stdout.isTTY, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true },
      },
    });
  }
  return pino(options);
}

/** A logger that drops everything; for tests and tools that do not care. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
