/**
 * A real pino logger whose records are kept in memory, for assertions on what a module logs
 * (and, through its JSON, on what it must never log).
 */
import { pino } from 'pino';
import type { Logger } from '../../src/log/logger.js';
import { REDACT_PATHS } from '../../src/log/logger.js';

export interface LogRecord {
  level: number;
  msg: string;
  component?: string;
  [key: string]: unknown;
}

export function recordingLogger(level = 'debug'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    {
      write(line: string) {
        records.push(JSON.parse(line) as LogRecord);
      },
    },
  );
  return { logger, records };
}
