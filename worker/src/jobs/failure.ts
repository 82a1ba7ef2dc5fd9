/**
 * How a run of a job ended, or why it could not start, in the terms the lifecycle decides on
 * (lifecycle.ts). The real hub re-queues a `DoneFailure` at once with no retry counter
 * (real-hannibal.md F1), so "it failed" is not enough: a failure is
 *
 * - `auth`: rclone met an authentication failure; a fresh token (or new credentials) may fix it;
 * - `reauth`: the worker itself knows the storage needs re-authentication (its breaker is open);
 * - `transient`: network, 5xx, rate limits, a start that rclone refused for now — worth a retry;
 * - `deterministic`: retrying cannot help (not found, permission, quota, invalid path,
 *   misconfigured remote, unsupported operation) — a terminal `DoneWithErrors`;
 * - `rclone-down`: rclone went away while the run was being started.
 *
 * The outcome comes from `job/status.error` (rclone's last error; `core/stats.errors` is not per
 * group in 1.60, rclone-lab.md Q2), the run's own stats group, and auth failures rclone logged
 * for the job's storages while it ran. Text patterns are rclone 1.60.1's messages for the
 * backends the hub knows; the research files quote them.
 */
import type { RcCoreStats, RcJobStatus } from '../../../shared/rclone-rc.js';
import { RcError, ReauthRequiredError, StorageError, TokenRefreshError, WorkerError, errorMessage } from '../errors.js';
import { detectAuthFailure, type AuthFailureSignal } from '../rclone/log-line.js';

export type TransientKind = 'network' | 'server' | 'rate-limit' | 'rclone' | 'unrecognised';
export type DeterministicKind =
  | 'not-found'
  | 'permission'
  | 'quota'
  | 'invalid-path'
  | 'misconfigured'
  | 'unsupported'
  /** An unrecognised error after the run transferred files of its own: done, with errors. */
  | 'partial';

export type Failure =
  | { class: 'auth'; signal: AuthFailureSignal; reason: string }
  | { class: 'reauth'; reason: string }
  | { class: 'transient'; kind: TransientKind; reason: string }
  | { class: 'deterministic'; kind: DeterministicKind; reason: string }
  | { class: 'rclone-down'; reason: string };

export type RunEnd = { class: 'success' } | Failure;

interface Pattern {
  test: RegExp;
  class: 'transient' | 'deterministic';
  kind: TransientKind | DeterministicKind;
}

/**
 * First match wins, so the order matters: rate limits before "403 Forbidden" (Google answers
 * `403 rateLimitExceeded`), transport errors before "failed to create file system" (which wraps
 * any NewFs error), quota before permission.
 */
const PATTERNS: readonly Pattern[] = [
  // Rate limits: Graph/Drive 429 + Retry-After, Google 403 rateLimitExceeded, Dropbox too_many_*.
  { class: 'transient', kind: 'rate-limit', test: /Error 429\b|too many requests|rate ?limit|too_many_(?:requests|write_operations)|activityLimitReached|throttl/i },
  // Transport: no answer, or the answer broke off.
  {
    class: 'transient',
    kind: 'network',
    test: /connection refused|connection reset|broken pipe|i\/o timeout|Client\.Timeout|deadline exceeded|TLS handshake|no such host|network is unreachable|no route to host|server misbehaving|temporary failure|unexpected EOF|: EOF\b/i,
  },
  // The server failed: 5xx in the shapes rclone prints them (HTTP status line, googleapi, Graph, Dropbox).
  {
    class: 'transient',
    kind: 'server',
    test: /Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout|Error 50[0234]\b|backendError|internal_error|serviceNotAvailable|generalException/i,
  },
  // Storage full. Before permission: Google's quota errors are 403s.
  {
    class: 'deterministic',
    kind: 'quota',
    test: /storageQuotaExceeded|quotaLimitReached|quota exceeded|insufficient_space|insufficient storage|Error 507\b|no space left on device|disk full|STATUS_DISK_FULL/i,
  },
  {
    class: 'deterministic',
    kind: 'not-found',
    test: /directory not found|object not found|file not found|no such file or directory|itemNotFound|path\/not_found|\bnot_found\b|notFound|404 Not Found|Error 404\b|STATUS_OBJECT_(?:NAME|PATH)_NOT_FOUND|bucket does not exist|STATUS_BAD_NETWORK_NAME/i,
  },
  {
    class: 'deterministic',
    kind: 'permission',
    test: /permission denied|operation not permitted|access ?denied|accessDenied|insufficientPermissions|403 Forbidden|Error 403\b|no_write_permission|STATUS_ACCESS_DENIED|read-only file system/i,
  },
  {
    class: 'deterministic',
    kind: 'invalid-path',
    test: /invalid path|malformed_path|disallowed_name|invalid character|name too long|not a directory|is a directory|STATUS_OBJECT_NAME_INVALID/i,
  },
  {
    class: 'deterministic',
    kind: 'misconfigured',
    test: /didn't find section in config file|couldn't find type field|didn't find backend called|unknown backend|failed to read config|config file not found/i,
  },
  {
    class: 'deterministic',
    kind: 'unsupported',
    test: /overlapping remotes|not supported|doesn't support|does not support|Not Implemented/i,
  },
];

/** Classifies an rclone error text by the table; undefined when no row matches. */
export function classifyText(text: string): { class: 'transient' | 'deterministic'; kind: TransientKind | DeterministicKind } | undefined {
  const row = PATTERNS.find((p) => p.test.test(text));
  return row === undefined ? undefined : { class: row.class, kind: row.kind };
}

/**
 * How a run that rclone finished (and the worker did not stop) ended. `loggedAuth` is an auth
 * failure rclone logged for this job's storages during the run: the final error is often a
 * follow-on ("context canceled", the last file's error) and hides the cause.
 */
export function classifyRunEnd(
  status: Pick<RcJobStatus, 'success' | 'error'>,
  stats: Pick<RcCoreStats, 'transfers'> | undefined,
  loggedAuth?: AuthFailureSignal,
): RunEnd {
  if (status.success) return { class: 'success' };
  const reason = firstLine(status.error) || 'rclone reported failure without a message';
  const auth = detectAuthFailure(status.error) ?? loggedAuth;
  if (auth) return { class: 'auth', signal: auth, reason };
  const text = classifyText(status.error);
  if (text?.class === 'transient') return { class: 'transient', kind: text.kind as TransientKind, reason };
  if (text?.class === 'deterministic') return { class: 'deterministic', kind: text.kind as DeterministicKind, reason };
  // Unrecognised: after files of its own were copied the run did its job with errors; before,
  // it may be anything, so it is retried within the budget rather than reported done.
  if ((stats?.transfers ?? 0) > 0) return { class: 'deterministic', kind: 'partial', reason };
  return { class: 'transient', kind: 'unrecognised', reason };
}

/** Why a run could not be started (tokens, remotes, the rc call). */
export function classifyStartFailure(err: unknown, rcloneUp: boolean): Failure {
  const reason = errorMessage(err);
  if (err instanceof ReauthRequiredError || (err instanceof TokenRefreshError && err.permanent)) return { class: 'reauth', reason };
  if (err instanceof TokenRefreshError) return { class: 'transient', kind: 'network', reason };
  if (err instanceof StorageError) {
    const text = classifyText(reason);
    return { class: 'deterministic', kind: text?.class === 'deterministic' ? (text.kind as DeterministicKind) : 'misconfigured', reason };
  }
  if (err instanceof RcError && err.status === undefined && !rcloneUp) return { class: 'rclone-down', reason };
  const auth = detectAuthFailure(reason);
  if (auth) return { class: 'auth', signal: auth, reason };
  const text = classifyText(reason);
  if (text?.class === 'deterministic') return { class: 'deterministic', kind: text.kind as DeterministicKind, reason };
  if (err instanceof WorkerError && err.permanent && text === undefined) return { class: 'deterministic', kind: 'misconfigured', reason };
  return { class: 'transient', kind: text?.kind === undefined ? 'rclone' : (text.kind as TransientKind), reason };
}

export function firstLine(text: string): string {
  const line = text.split('\n')[0]?.trim() ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}
