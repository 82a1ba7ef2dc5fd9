import { describe, expect, it } from 'vitest';
import {
  classifyTokenAnswer,
  classifyTransportFailure,
  parseRetryAfter,
  type FailureCategory,
  type RefreshOutcome,
} from '../../src/tokens/classify.js';

/**
 * Token-endpoint answers as the three providers send them to a `grant_type=refresh_token`
 * request (anchors-token-refresh.md §3.2). Tokens, ids and trace ids are made up.
 */

const NOW = Date.parse('2026-03-02T09:30:00Z');

const MS_AT = 'EwBwA8l6BAAUbDba3x2OMJElkF7gJ4z/VbCPEz0AAZqY4nYf2kR7sLqT3vB8mXcW1oPaG5hJ9dKe2rU6yTi0QwN==';
const MS_RT = 'M.C544_BAY.0.U.-CkqT6lmXwzF9vRb3nJpLe8QdY1tHs5uKo7!Wz2aXc4VbNmG0iEyD*fPq6rTj9Lh3Sg';
const GOOGLE_AT = 'ya29.a0AfB_byC7xKq3ZpR2mW8tYv1NdLs4Hj6Gf9QeUo0IcBa5XrTnEwMk_Pz3yVb7Sg2Dh0001';
const DROPBOX_AT = 'sl.BxYz3kQ9pW2rT7vN4mL8dF1aH6jG0sC5eU-bOiXnRqZtKyPwVgMfJhEcDlAoSuI2B3';

/** The envelope Microsoft identity platform wraps every token-endpoint error in. */
function aad(error: string, code: number, text: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    error,
    error_description: `AADSTS${code}: ${text} Trace ID: 7c1e9b2a-4f3d-4e8a-9b61-2d5f0c3a8e11 Correlation ID: 0a4b6c8d-1e2f-4a3b-8c9d-5e6f7a8b9c0d Timestamp: 2026-03-02 09:29:58Z`,
    error_codes: [code],
    timestamp: '2026-03-02 09:29:58Z',
    trace_id: '7c1e9b2a-4f3d-4e8a-9b61-2d5f0c3a8e11',
    correlation_id: '0a4b6c8d-1e2f-4a3b-8c9d-5e6f7a8b9c0d',
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    ...extra,
  });
}

const HTML_503 =
  '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n' +
  '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Service Unavailable</title></head>\r\n' +
  '<body><h2>Service Unavailable</h2><hr><p>HTTP Error 503. The service is unavailable.</p></body></html>\r\n';

const GOOGLE_502 =
  '<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n' +
  '  <title>Error 502 (Server Error)!!1</title>\n  <a href=//www.google.com/><span id=logo aria-label=Google></span></a>\n' +
  '  <p><b>502.</b> <ins>That’s an error.</ins>\n  <p>The server encountered a temporary error and could not complete your request.<p>Please try again in 30 seconds.  <ins>That’s all we know.</ins>\n';

const WAF_400 =
  '<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. Please consult with your administrator.<br><br>Your support ID is: 4893217765409871234<br><br><a href=\'javascript:history.back();\'>[Go Back]</a></body></html>';

interface Row {
  name: string;
  provider: 'microsoft' | 'google' | 'dropbox' | 'any';
  status: number;
  headers?: { 'retry-after'?: string };
  body: string;
  expected:
    | { ok: true; accessToken: string; refreshToken: string | undefined; expiresIn: number | undefined; tokenType: string }
    | {
        ok: false;
        permanent: boolean;
        category: FailureCategory;
        oauthError: string | undefined;
        retryAfterSeconds?: number;
      };
}

const rows: Row[] = [
  // ---- Microsoft identity platform, /consumers/oauth2/v2.0/token ----
  {
    name: 'success with a rotated refresh token',
    provider: 'microsoft',
    status: 200,
    body: JSON.stringify({
      token_type: 'Bearer',
      scope: 'Files.ReadWrite User.Read',
      expires_in: 3600,
      ext_expires_in: 3600,
      access_token: MS_AT,
      refresh_token: MS_RT,
    }),
    expected: { ok: true, accessToken: MS_AT, refreshToken: MS_RT, expiresIn: 3600, tokenType: 'Bearer' },
  },
  {
    name: 'invalid_grant AADSTS70008 (grant expired)',
    provider: 'microsoft',
    status: 400,
    body: aad('invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.'),
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant' },
  },
  {
    name: 'invalid_grant AADSTS700082 (inactive for 90 days)',
    provider: 'microsoft',
    status: 400,
    body: aad('invalid_grant', 700082, 'The refresh token has expired due to inactivity. The token was issued on 2025-11-28T07:12:44.5210000Z and was inactive for 90.00:00:00.'),
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant' },
  },
  {
    name: 'invalid_grant AADSTS50173 (password changed)',
    provider: 'microsoft',
    status: 400,
    body: aad('invalid_grant', 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '2026-01-10T08:00:00.0000000Z' and the TokensValidFrom date (before which tokens are not valid) for this user is '2026-02-27T16:41:09.0000000Z'."),
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant' },
  },
  {
    name: 'interaction_required AADSTS50076 with suberror basic_action',
    provider: 'microsoft',
    status: 400,
    body: aad('interaction_required', 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'.", { suberror: 'basic_action' }),
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'interaction_required' },
  },
  {
    name: 'consent_required AADSTS65001',
    provider: 'microsoft',
    status: 400,
    body: aad('consent_required', 65001, "The user or administrator has not consented to use the application with ID 'b15665d9-eda6-4092-8539-0eec376afd59' named 'Backup Worker'. Send an interactive authorization request for this user and resource.", { suberror: 'consent_required' }),
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'consent_required' },
  },
  {
    name: 'invalid_client AADSTS7000215 (bad client secret)',
    provider: 'microsoft',
    status: 401,
    body: aad('invalid_client', 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 'b15665d9-eda6-4092-8539-0eec376afd59'."),
    expected: { ok: false, permanent: true, category: 'client-config', oauthError: 'invalid_client' },
  },
  {
    name: 'invalid_client AADSTS7000222 (expired client secret)',
    provider: 'microsoft',
    status: 401,
    body: aad('invalid_client', 7000222, "The provided client secret keys for app 'b15665d9-eda6-4092-8539-0eec376afd59' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."),
    expected: { ok: false, permanent: true, category: 'client-config', oauthError: 'invalid_client' },
  },
  {
    name: 'unauthorized_client AADSTS700016 (application not found)',
    provider: 'microsoft',
    status: 400,
    body: aad('unauthorized_client', 700016, "Application with identifier 'b15665d9-eda6-4092-8539-0eec376afd59' was not found in the directory 'Microsoft Accounts'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."),
    expected: { ok: false, permanent: true, category: 'client-config', oauthError: 'unauthorized_client' },
  },
  {
    name: 'invalid_grant AADSTS50196 (loop guard) recognised by error_codes',
    provider: 'microsoft',
    status: 400,
    body: JSON.stringify({
      error: 'invalid_grant',
      error_description: 'The server terminated an operation because it encountered a client request loop. Please contact your app vendor.',
      error_codes: [50196],
      trace_id: '7c1e9b2a-4f3d-4e8a-9b61-2d5f0c3a8e11',
    }),
    expected: { ok: false, permanent: false, category: 'transient', oauthError: 'invalid_grant' },
  },
  {
    name: 'invalid_grant AADSTS50196 (loop guard) recognised by the description',
    provider: 'microsoft',
    status: 400,
    body: JSON.stringify({
      error: 'invalid_grant',
      error_description: 'AADSTS50196: The server terminated an operation because it encountered a client request loop. Please contact your app vendor. Trace ID: 7c1e9b2a-4f3d-4e8a-9b61-2d5f0c3a8e11',
    }),
    expected: { ok: false, permanent: false, category: 'transient', oauthError: 'invalid_grant' },
  },
  {
    name: 'temporarily_unavailable on a 400',
    provider: 'microsoft',
    status: 400,
    body: aad('temporarily_unavailable', 90033, "The Microsoft Online Directory Service (MSODS) isn't available."),
    expected: { ok: false, permanent: false, category: 'transient', oauthError: 'temporarily_unavailable' },
  },
  {
    name: '429 with Retry-After, even though its body names a client error',
    provider: 'microsoft',
    status: 429,
    headers: { 'retry-after': '60' },
    body: aad('invalid_request', 90055, 'TenantThrottlingError - There are too many incoming requests.'),
    expected: { ok: false, permanent: false, category: 'transient', oauthError: 'invalid_request', retryAfterSeconds: 60 },
  },
  {
    name: '503 with an HTML page',
    provider: 'microsoft',
    status: 503,
    body: HTML_503,
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },

  // ---- Google, oauth2.googleapis.com/token ----
  {
    name: 'success without a refresh token',
    provider: 'google',
    status: 200,
    body: JSON.stringify({
      access_token: GOOGLE_AT,
      expires_in: 3599,
      scope: 'https://www.googleapis.com/auth/drive',
      token_type: 'Bearer',
    }),
    expected: { ok: true, accessToken: GOOGLE_AT, refreshToken: undefined, expiresIn: 3599, tokenType: 'Bearer' },
  },
  {
    name: 'invalid_grant "Token has been expired or revoked."',
    provider: 'google',
    status: 400,
    body: '{\n  "error": "invalid_grant",\n  "error_description": "Token has been expired or revoked."\n}',
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant' },
  },
  {
    name: 'invalid_grant "Bad Request"',
    provider: 'google',
    status: 400,
    body: '{\n  "error": "invalid_grant",\n  "error_description": "Bad Request"\n}',
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant' },
  },
  {
    name: 'invalid_client "The OAuth client was not found."',
    provider: 'google',
    status: 401,
    body: '{\n  "error": "invalid_client",\n  "error_description": "The OAuth client was not found."\n}',
    expected: { ok: false, permanent: true, category: 'client-config', oauthError: 'invalid_client' },
  },
  {
    name: 'unauthorized_client',
    provider: 'google',
    status: 401,
    body: '{\n  "error": "unauthorized_client",\n  "error_description": "Unauthorized"\n}',
    expected: { ok: false, permanent: true, category: 'client-config', oauthError: 'unauthorized_client' },
  },
  {
    name: '500 internal_failure',
    provider: 'google',
    status: 500,
    body: '{\n  "error": "internal_failure"\n}',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: 'internal_failure' },
  },
  {
    name: '502 HTML from the load balancer',
    provider: 'google',
    status: 502,
    body: GOOGLE_502,
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },
  {
    name: 'invalid_rapt as a subtype of invalid_grant (reauth policy)',
    provider: 'google',
    status: 400,
    body: JSON.stringify({
      error: 'invalid_grant',
      error_description: 'reauth related error (invalid_rapt)',
      error_uri: 'https://support.google.com/a/answer/9368756',
      error_subtype: 'invalid_rapt',
    }),
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant' },
  },
  {
    name: 'invalid_rapt as the error itself',
    provider: 'google',
    status: 400,
    body: '{"error":"invalid_rapt","error_description":"reauth related error (invalid_rapt)"}',
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_rapt' },
  },

  // ---- Dropbox, api.dropboxapi.com/oauth2/token ----
  {
    name: 'success without a refresh token',
    provider: 'dropbox',
    status: 200,
    body: JSON.stringify({ access_token: DROPBOX_AT, token_type: 'bearer', expires_in: 14400 }),
    expected: { ok: true, accessToken: DROPBOX_AT, refreshToken: undefined, expiresIn: 14400, tokenType: 'bearer' },
  },
  {
    name: 'invalid_grant "refresh token is invalid or revoked"',
    provider: 'dropbox',
    status: 400,
    body: '{"error": "invalid_grant", "error_description": "refresh token is invalid or revoked"}',
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant' },
  },
  {
    name: 'invalid_client "Invalid client_id or client_secret"',
    provider: 'dropbox',
    status: 400,
    body: '{"error": "invalid_client", "error_description": "Invalid client_id or client_secret"}',
    expected: { ok: false, permanent: true, category: 'client-config', oauthError: 'invalid_client' },
  },
  {
    name: '429 too_many_requests with Retry-After (Dropbox error object, not an OAuth code)',
    provider: 'dropbox',
    status: 429,
    headers: { 'retry-after': '300' },
    body: '{"error_summary": "too_many_requests/..", "error": {"reason": {".tag": "too_many_requests"}, "retry_after": 300}}',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined, retryAfterSeconds: 300 },
  },
  {
    name: '503 plain text',
    provider: 'dropbox',
    status: 503,
    body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },

  // ---- Answers that are not well-formed OAuth ----
  {
    name: '2xx without access_token',
    provider: 'any',
    status: 200,
    body: '{"token_type":"Bearer","expires_in":3600}',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },
  {
    name: '2xx with an empty access_token',
    provider: 'any',
    status: 200,
    body: '{"access_token":"","token_type":"Bearer","expires_in":3600}',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },
  {
    name: '2xx carrying an OAuth error is an error, even with an access_token',
    provider: 'any',
    status: 200,
    body: JSON.stringify({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.', access_token: GOOGLE_AT }),
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant' },
  },
  {
    name: '2xx carrying server_error',
    provider: 'any',
    status: 200,
    body: '{"error":"server_error"}',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: 'server_error' },
  },
  {
    name: '200 with an empty body',
    provider: 'any',
    status: 200,
    body: '',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },
  {
    name: '400 with an empty body',
    provider: 'any',
    status: 400,
    body: '',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },
  {
    name: 'non-JSON 400 from a WAF',
    provider: 'any',
    status: 400,
    body: WAF_400,
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },
  {
    name: 'JSON 4xx without an OAuth error code',
    provider: 'any',
    status: 403,
    body: '{"message":"Forbidden"}',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined },
  },
  {
    name: '408 request timeout',
    provider: 'any',
    status: 408,
    body: '{"error":"invalid_request"}',
    expected: { ok: false, permanent: false, category: 'transient', oauthError: 'invalid_request' },
  },
  {
    name: 'unknown OAuth error on a 4xx stops refreshing (like rclone)',
    provider: 'any',
    status: 400,
    body: '{"error":"access_denied","error_description":"The resource owner denied the request."}',
    expected: { ok: false, permanent: true, category: 'reauth', oauthError: 'access_denied' },
  },
  {
    name: 'expires_in as a string (Microsoft v1 endpoint style)',
    provider: 'microsoft',
    status: 200,
    body: JSON.stringify({ token_type: 'Bearer', expires_in: '3599', ext_expires_in: '3599', access_token: MS_AT, refresh_token: MS_RT }),
    expected: { ok: true, accessToken: MS_AT, refreshToken: MS_RT, expiresIn: 3599, tokenType: 'Bearer' },
  },
  {
    name: 'no expires_in and no token_type',
    provider: 'any',
    status: 200,
    body: JSON.stringify({ access_token: GOOGLE_AT }),
    expected: { ok: true, accessToken: GOOGLE_AT, refreshToken: undefined, expiresIn: undefined, tokenType: 'Bearer' },
  },
  {
    name: 'Retry-After as an HTTP date',
    provider: 'any',
    status: 503,
    headers: { 'retry-after': new Date(NOW + 42_000).toUTCString() },
    body: HTML_503,
    expected: { ok: false, permanent: false, category: 'transient', oauthError: undefined, retryAfterSeconds: 42 },
  },
];

function expectOutcome(outcome: RefreshOutcome, row: Row): void {
  const { expected } = row;
  if (expected.ok) {
    expect(outcome).toEqual({
      ok: true,
      accessToken: expected.accessToken,
      tokenType: expected.tokenType,
      expiresIn: expected.expiresIn,
      refreshToken: expected.refreshToken,
    });
    return;
  }
  expect(outcome.ok).toBe(false);
  if (outcome.ok) return;
  expect({ permanent: outcome.permanent, category: outcome.category, oauthError: outcome.oauthError }).toEqual({
    permanent: expected.permanent,
    category: expected.category,
    oauthError: expected.oauthError,
  });
  expect(outcome.httpStatus).toBe(row.status);
  expect(outcome.retryAfterSeconds).toBe(expected.retryAfterSeconds);
  expect(outcome.reason).not.toBe('');
}

describe('classifyTokenAnswer', () => {
  it.each(rows.map((row) => [`${row.provider}: HTTP ${row.status} ${row.name}`, row] as const))('%s', (_name, row) => {
    const outcome = classifyTokenAnswer({ status: row.status, body: row.body, retryAfter: row.headers?.['retry-after'] }, NOW);
    expectOutcome(outcome, row);
  });

  it('covers every permanent class and provider in the table', () => {
    const seen = new Set(rows.map((r) => `${r.provider}/${r.expected.ok ? 'ok' : r.expected.category}`));
    for (const provider of ['microsoft', 'google', 'dropbox']) {
      for (const kind of ['ok', 'reauth', 'client-config', 'transient']) expect(seen).toContain(`${provider}/${kind}`);
    }
  });

  it('explains a permanent failure with the provider description and never with the raw body', () => {
    const outcome = classifyTokenAnswer({ status: 400, body: rows[2]!.body }, NOW);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.reason).toContain('invalid_grant');
    expect(outcome.reason).toContain('AADSTS700082');
    expect(outcome.reason).not.toContain('correlation_id');
  });

  it('points a client-config failure at the client credentials, not at the user', () => {
    const outcome = classifyTokenAnswer({ status: 401, body: '{"error":"invalid_client","error_description":"The OAuth client was not found."}' }, NOW);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.reason).toMatch(/client id and secret/);
    expect(outcome.reason).not.toMatch(/re-authentication/);
  });
});

describe('classifyTransportFailure', () => {
  it('classifies a refused connection as transient and names the code', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' });
    expect(classifyTransportFailure(err)).toEqual({
      ok: false,
      permanent: false,
      category: 'transient',
      reason: 'token endpoint unreachable: ECONNREFUSED connect ECONNREFUSED 127.0.0.1:443',
      oauthError: undefined,
      httpStatus: undefined,
      retryAfterSeconds: undefined,
    });
  });

  it.each([
    ['a DNS failure', Object.assign(new Error('getaddrinfo ENOTFOUND login.microsoftonline.com'), { code: 'ENOTFOUND' })],
    ['a timeout (DOMException, numeric code)', new DOMException('The operation was aborted due to timeout', 'TimeoutError')],
    ['a reset socket', Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })],
    ['a thrown non-Error', 'socket hang up'],
    ['null', null],
  ])('classifies %s as transient', (_name, err) => {
    const outcome = classifyTransportFailure(err);
    expect(outcome).toMatchObject({ ok: false, permanent: false, category: 'transient', httpStatus: undefined });
    expect(outcome.reason).toMatch(/^token endpoint unreachable: /);
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['3', 3],
    [' 120 ', 120],
    ['0', 0],
    ['86400', 3600],
    [new Date(NOW + 90_500).toUTCString(), 90],
    [new Date(NOW - 60_000).toUTCString(), 0],
    [new Date(NOW + 7_200_000).toUTCString(), 3600],
    ['', undefined],
    ['soon', undefined],
  ])('%j → %j', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });

  it('is undefined when the header is absent', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});
