/**
 * Reading rclone's stderr: one line at a time, JSON from `--use-json-log`, and the few plain
 * text lines rclone prints even then (Go `log.Fatalf`, e.g. "Failed to start remote control:
 * … bind: address already in use"). Also recognises the messages rclone uses for an
 * authentication failure (research/rclone-lab.md Q6), so a job can be classified as
 * "needs re-authentication" rather than retried blindly.
 */

export type RcloneLogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical';

export interface RcloneLogLine {
  level: RcloneLogLevel;
  msg: string;
  /** What the message is about, e.g. a file name or `GCS bucket bkt path q6`. */
  object?: string;
  /** Go type of `object`, e.g. `*local.Object`. */
  objectType?: string;
  /** rclone source location, e.g. `operations/operations.go:538`. */
  source?: string;
  /** rclone's own RFC 3339 timestamp. */
  time?: string;
  /** True when the line was a JSON log record, false for plain text. */
  json: boolean;
}

/**
 * rclone 1.60 writes `debug`, `info`, `warning` (NOTICE is logged as `warning`) and `error`;
 * the other names cover logrus/slog spellings of the same levels.
 */
const JSON_LEVELS: Record<string, RcloneLogLevel> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  notice: 'warning',
  warn: 'warning',
  warning: 'warning',
  error: 'error',
  critical: 'critical',
  fatal: 'critical',
  panic: 'critical',
  alert: 'critical',
  emergency: 'critical',
};

/** rclone's text format: `2026/11/22 10:16:54 INFO  : message` (the level part is optional). */
const TEXT_LINE = /^(?:\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? )?(?:(DEBUG|INFO|NOTICE|WARNING|ERROR|CRITICAL|ALERT|EMERGENCY)\s*: )?(.*)$/s;
/** Text lines without a level come from Go's `log.Fatal*` or a panic: rclone is about to exit. */
const FATAL_TEXT = /^(?:Failed to |Fatal error|fatal error:|panic:)/;

export function parseRcloneLogLine(line: string): RcloneLogLine {
  const trimmed = line.trim();
  if (trimmed.startsWith('{')) {
    const record = parseRecord(trimmed);
    if (record) return record;
  }
  const [, tag, rest = ''] = TEXT_LINE.exec(trimmed) ?? [];
  const level = tag ? (JSON_LEVELS[tag.toLowerCase()] ?? 'info') : FATAL_TEXT.test(rest) ? 'critical' : 'info';
  return { level, msg: rest, json: false };
}

function parseRecord(text: string): RcloneLogLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.level !== 'string' || typeof record.msg !== 'string') return undefined;
  const line: RcloneLogLine = { level: JSON_LEVELS[record.level.toLowerCase()] ?? 'info', msg: record.msg, json: true };
  if (typeof record.object === 'string') line.object = record.object;
  if (typeof record.objectType === 'string') line.objectType = record.objectType;
  if (typeof record.source === 'string') line.source = record.source;
  if (typeof record.time === 'string') line.time = record.time;
  return line;
}

export interface AuthFailureSignal {
  /** The stable substring that matched (one of {@link AUTH_FAILURE_SIGNATURES}). */
  signature: string;
  /** The remote rclone names in its `rclone config reconnect <remote>:` hint, when present. */
  remote?: string;
}

/**
 * Substrings of rclone's messages for an authentication failure, most specific first, as
 * observed in `job/status.error`, log lines and `core/transferred` errors (rclone-lab Q6).
 */
export const AUTH_FAILURE_SIGNATURES = [
  "token expired and there's no refresh token",
  'invalid_grant',
  "couldn't fetch token",
  'failed to get bearer token using',
  'Error 401',
  '401 Unauthorized',
] as const;

/** rclone's hint `refresh with "rclone config reconnect gcsB:"`; remote names cannot hold `:` or `"`. */
const RECONNECT_HINT = /rclone config reconnect ([^:"]+):/;

/** Recognises an authentication failure in an rclone error text; undefined when there is none. */
export function detectAuthFailure(text: string): AuthFailureSignal | undefined {
  const signature = AUTH_FAILURE_SIGNATURES.find((candidate) => text.includes(candidate));
  if (signature === undefined) return undefined;
  const remote = RECONNECT_HINT.exec(text)?.[1]?.trim();
  return remote ? { signature, remote } : { signature };
}
