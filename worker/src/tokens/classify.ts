/**
 * Classifies what an OAuth2 token endpoint answered to a refresh (anchors-token-refresh.md §3.2).
 *
 * The rule of thumb: branch on the RFC 6749 `error` field, never on message text, with one
 * documented exception — Microsoft reports its loop/throttle guard as `invalid_grant` with
 * AADSTS50196, which is transient. Anything that is not a well-formed OAuth answer (HTML from a
 * WAF or load balancer, an empty body, a 2xx without `access_token`) is transient: the grant is
 * probably fine and the next try may get through. A network failure is always transient.
 */

export type FailureCategory =
  /** The user must re-authenticate the storage in the hub. */
  | 'reauth'
  /** The app registration (client id/secret, scope, endpoint) is wrong: an operator must act. */
  | 'client-config'
  /** Worth retrying. */
  | 'transient';

export interface RefreshSuccess {
  ok: true;
  accessToken: string;
  tokenType: string;
  /** Seconds; undefined when the endpoint sent none. */
  expiresIn: number | undefined;
  /** Present only when the provider rotated it. */
  refreshToken: string | undefined;
}

export interface RefreshFailure {
  ok: false;
  permanent: boolean;
  category: FailureCategory;
  /** Human-readable, safe to log (never contains a token). */
  reason: string;
  oauthError: string | undefined;
  httpStatus: number | undefined;
  retryAfterSeconds: number | undefined;
}

export type RefreshOutcome = RefreshSuccess | RefreshFailure;

/** Errors that mean "this grant is dead, a human must re-authenticate". */
const REAUTH_ERRORS = new Set([
  'invalid_grant',
  'invalid_token',
  'interaction_required',
  'consent_required',
  'login_required',
  'bad_token',
  'invalid_rapt',
]);

/** Errors that mean "the client registration or request is wrong" (not the user's grant). */
const CLIENT_CONFIG_ERRORS = new Set([
  'invalid_client',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_request',
]);

/** Errors providers use for a passing outage. */
const TRANSIENT_ERRORS = new Set(['temporarily_unavailable', 'server_error', 'slow_down']);

/** Microsoft's "request loop / throttled" guard, delivered as invalid_grant (MSAL.NET docs). */
const AAD_THROTTLE_CODE = 50196;

export interface TokenHttpAnswer {
  status: number;
  body: string;
  retryAfter?: string | undefined;
}

export function classifyTokenAnswer(answer: TokenHttpAnswer, now: number = Date.now()): RefreshOutcome {
  const retryAfterSeconds = parseRetryAfter(answer.retryAfter, now);
  const json = parseObject(answer.body);
  const transient = (reason: string, oauthError?: string): RefreshFailure => ({
    ok: false,
    permanent: false,
    category: 'transient',
    reason,
    oauthError,
    httpStatus: answer.status,
    retryAfterSeconds,
  });

  if (!json) {
    return transient(`token endpoint answered HTTP ${answer.status} with a body that is not JSON`);
  }

  const oauthError = typeof json.error === 'string' && json.error !== '' ? json.error : undefined;
  const description = typeof json.error_description === 'string' ? json.error_description : '';

  if (answer.status >= 200 && answer.status < 300 && oauthError === undefined) {
    const accessToken = json.access_token;
    if (typeof accessToken !== 'string' || accessToken === '') {
      return transient(`token endpoint answered HTTP ${answer.status} without an access_token`);
    }
    const rotated = json.refresh_token;
    return {
      ok: true,
      accessToken,
      tokenType: typeof json.token_type === 'string' && json.token_type !== '' ? json.token_type : 'Bearer',
      expiresIn: parseExpiresIn(json.expires_in),
      refreshToken: typeof rotated === 'string' && rotated !== '' ? rotated : undefined,
    };
  }

  if (answer.status >= 500 || answer.status === 429 || answer.status === 408) {
    return transient(`token endpoint answered HTTP ${answer.status}${oauthError ? ` (${oauthError})` : ''}`, oauthError);
  }

  if (oauthError === undefined) {
    return transient(`token endpoint answered HTTP ${answer.status} without an OAuth error code`);
  }

  const detail = safeDescription(description);
  if (TRANSIENT_ERRORS.has(oauthError) || (oauthError === 'invalid_grant' && isAadThrottle(json, description))) {
    return transient(`token endpoint is temporarily refusing refreshes: ${oauthError}${detail}`, oauthError);
  }

  // An OAuth error this table does not know, on a 4xx, is treated like rclone does: the grant
  // cannot be used, a human must look. Retrying it would only burn the provider's budget.
  const category: FailureCategory = CLIENT_CONFIG_ERRORS.has(oauthError) ? 'client-config' : 'reauth';
  const unknown = category === 'reauth' && !REAUTH_ERRORS.has(oauthError) ? '; unrecognised error code' : '';
  const reason =
    category === 'client-config'
      ? `the OAuth client registration was refused (${oauthError}${detail}); check the client id and secret of the storage or the worker's *_CLIENT_ID/*_CLIENT_SECRET`
      : `re-authentication needed: the provider refused the refresh token (${oauthError}${detail}${unknown})`;
  return {
    ok: false,
    permanent: true,
    category,
    reason,
    oauthError,
    httpStatus: answer.status,
    retryAfterSeconds,
  };
}

/** A request that got no HTTP answer (DNS, TCP reset, TLS, timeout). Always transient. */
export function classifyTransportFailure(err: unknown): RefreshFailure {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  return {
    ok: false,
    permanent: false,
    category: 'transient',
    reason: `token endpoint unreachable: ${typeof code === 'string' ? `${code} ` : ''}${message}`,
    oauthError: undefined,
    httpStatus: undefined,
    retryAfterSeconds: undefined,
  };
}

function isAadThrottle(json: Record<string, unknown>, description: string): boolean {
  const codes = json.error_codes;
  if (Array.isArray(codes) && codes.includes(AAD_THROTTLE_CODE)) return true;
  return description.includes(`AADSTS${AAD_THROTTLE_CODE}`);
}

/** Keep only the first line of a provider's description, capped; they carry no secrets. */
function safeDescription(description: string): string {
  const line = description.split(/\r?\n/)[0]?.trim() ?? '';
  if (!line) return '';
  return `: ${line.length > 200 ? `${line.slice(0, 200)}…` : line}`;
}

function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function parseExpiresIn(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** `Retry-After` as delta-seconds or an HTTP date; capped at one hour. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) seconds = Number(trimmed);
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    seconds = Math.max(0, Math.ceil((at - now) / 1000));
  }
  return Math.min(seconds, 3600);
}
