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
  /**
   * Storage technologies whose backend produces this text; absent when any backend can. rclone's
   * per-file log lines name a file, not a remote, so this is how a line finds its storages.
   */
  technologies?: readonly string[];
}

const OAUTH = ['onedrive', 'dropbox', 'googledrive', 'gcs'] as const;
const GOOGLE = ['googledrive', 'gcs'] as const;

/**
 * Substrings of rclone's messages for an authentication failure, most specific first, as seen in
 * `job/status.error`, log lines and `core/transferred` errors, with the backends that produce
 * them (research/rclone-lab.md Q6, rclone-providers-lab.md Q2, side-by-side.md T1).
 */
export const AUTH_FAILURE_SIGNATURES: readonly { text: string; technologies?: readonly string[] }[] = [
  // rclone's OAuth layer (lib/oauthutil), any OAuth backend.
  { text: "token expired and there's no refresh token", technologies: OAUTH },
  { text: 'invalid_grant', technologies: OAUTH },
  { text: "couldn't fetch token", technologies: OAUTH },
  // OneDrive (Graph): `InvalidAuthenticationToken: Access token has expired or is not yet valid.`
  { text: 'InvalidAuthenticationToken', technologies: ['onedrive'] },
  // Dropbox: `expired_access_token/`, `invalid_access_token/`.
  { text: 'expired_access_token', technologies: ['dropbox'] },
  { text: 'invalid_access_token', technologies: ['dropbox'] },
  // Google (googleapi): `Error 401: Request had invalid authentication credentials. …, authError`.
  { text: 'Error 401', technologies: GOOGLE },
  { text: 'UNAUTHENTICATED', technologies: GOOGLE },
  { text: 'authError', technologies: GOOGLE },
  // WebDAV (Nextcloud): `Unauthorized: 401 Unauthorized`, sabre `NotAuthenticated`, bearer command.
  { text: 'failed to get bearer token using', technologies: ['nextcloud'] },
  { text: 'NotAuthenticated', technologies: ['nextcloud'] },
  { text: '401 Unauthorized' },
  // SMB (go-smb2 STATUS_LOGON_FAILURE): `response error: The attempted logon is invalid. …`.
  { text: 'The attempted logon is invalid', technologies: ['smb'] },
  { text: 'STATUS_LOGON_FAILURE', technologies: ['smb'] },
];

/** rclone's hint `refresh with "rclone config reconnect gcsB:"`; remote names cannot hold `:` or `"`. */
const RECONNECT_HINT = /rclone config reconnect ([^:"]+):/;

/** Recognises an authentication failure in an rclone error text; undefined when there is none. */
export function detectAuthFailure(text: string): AuthFailureSignal | undefined {
  const match = AUTH_FAILURE_SIGNATURES.find((candidate) => text.includes(candidate.text));
  if (match === undefined) return undefined;
  const signal: AuthFailureSignal = { signature: match.text };
  const remote = RECONNECT_HINT.exec(text)?.[1]?.trim();
  if (remote) signal.remote = remote;
  if (match.technologies) signal.technologies = match.technologies;
  return signal;
}
