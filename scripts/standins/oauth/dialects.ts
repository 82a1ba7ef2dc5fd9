/**
 * How each provider's token endpoint speaks: where it lives, what its tokens look like, how
 * its refresh tokens rotate, its success body and its error bodies. One table per provider, so
 * the endpoint's logic stays provider-neutral.
 *
 * Error bodies follow the captured answers in research/anchors-token-refresh.md §3.2 (the
 * fixtures of worker/test/tokens/classify.test.ts): Microsoft's AADSTS envelope, Google's
 * `{error, error_description}`, Dropbox's. Where no capture exists (which AADSTS number Entra
 * picks for a malformed or foreign refresh token, Dropbox's wording for request errors), the
 * `error` code is the RFC 6749 one and the description is a plausible one.
 */
import { randomUUID } from 'node:crypto';
import type { InvalidGrantReason, RotationPolicy, TokenFormat } from './authority.js';

export type ProviderName = 'microsoft' | 'google' | 'dropbox';

/** Something wrong with a token request, before or after the authority looked at it. */
export type TokenProblem =
  | { kind: 'methodNotAllowed'; method: string }
  | { kind: 'notForm' }
  | { kind: 'missingClient' }
  | { kind: 'unknownClient'; clientId: string }
  | { kind: 'wrongSecret'; clientId: string }
  | { kind: 'unsupportedGrantType'; grantType: string }
  | { kind: 'missingRefreshToken' }
  | { kind: 'invalidGrant'; reason: InvalidGrantReason }
  /** A live refresh token presented by another client than the one it was issued to. */
  | { kind: 'wrongClient'; clientId: string };

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface TokenSuccess {
  accessToken: string;
  expiresInSeconds: number;
  /** Present when the refresh rotated the refresh token. */
  refreshToken: string | undefined;
  scope: string;
}

export interface ProviderDialect {
  readonly provider: ProviderName;
  /** The token endpoint's path on the provider's login host (what a token URL ends with). */
  readonly tokenPath: string;
  /** Whether a request path is this provider's token endpoint (Microsoft has one per tenant). */
  isTokenPath(pathname: string): boolean;
  readonly rotation: RotationPolicy;
  readonly format: TokenFormat;
  readonly defaultScope: string;
  success(answer: TokenSuccess): Record<string, unknown>;
  error(problem: TokenProblem): TokenAnswer;
}

/** Microsoft identity platform (`login.microsoftonline.com/{tenant}/oauth2/v2.0/token`). */
export const microsoft: ProviderDialect = {
  provider: 'microsoft',
  tokenPath: '/consumers/oauth2/v2.0/token',
  isTokenPath: (pathname) => /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(pathname),
  rotation: 'rotate',
  // MSA access tokens are compact tickets starting "EwB"; refresh tokens "M.C5…".
  format: { accessTokenPrefix: 'EwB', refreshTokenPrefix: 'M.C5_BAY.0.U.-' },
  defaultScope: 'Files.ReadWrite User.Read',
  success: (answer) => ({
    token_type: 'Bearer',
    scope: answer.scope,
    expires_in: answer.expiresInSeconds,
    ext_expires_in: answer.expiresInSeconds,
    access_token: answer.accessToken,
    ...(answer.refreshToken === undefined ? {} : { refresh_token: answer.refreshToken }),
  }),
  error(problem) {
    switch (problem.kind) {
      case 'methodNotAllowed':
        return aad(405, 'invalid_request', 900561, `The endpoint only accepts POST requests. Received a ${problem.method} request.`);
      case 'notForm':
        return aad(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
      case 'missingClient':
        return aad(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
      case 'unknownClient':
        return aad(
          400,
          'unauthorized_client',
          700016,
          `Application with identifier '${problem.clientId}' was not found in the directory 'Microsoft Accounts'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
        );
      case 'wrongSecret':
        return aad(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${problem.clientId}'.`,
        );
      case 'unsupportedGrantType':
        return aad(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${problem.grantType}'.`);
      case 'missingRefreshToken':
        return aad(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'refresh_token'.");
      case 'wrongClient':
        return aad(400, 'invalid_grant', 70000, 'Provided grant is invalid or malformed.');
      case 'invalidGrant':
        switch (problem.reason) {
          case 'revoked':
            return aad(
              400,
              'invalid_grant',
              50173,
              `The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '${new Date(Date.now() - 3600_000).toISOString()}' and the TokensValidFrom date (before which tokens are not valid) for this user is '${new Date().toISOString()}'.`,
            );
          case 'superseded':
            return aad(400, 'invalid_grant', 70000, 'Provided grant is invalid or malformed.');
          case 'unknown':
            return aad(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
        }
    }
  },
};

/** Google (`oauth2.googleapis.com/token`); also what the GCS stand-in serves at `/token`. */
export const google: ProviderDialect = {
  provider: 'google',
  tokenPath: '/token',
  isTokenPath: (pathname) => pathname === '/token',
  rotation: 'keep',
  format: { accessTokenPrefix: 'ya29.', refreshTokenPrefix: '1//' },
  defaultScope: 'https://www.googleapis.com/auth/drive',
  success: (answer) => ({
    access_token: answer.accessToken,
    expires_in: answer.expiresInSeconds,
    scope: answer.scope,
    token_type: 'Bearer',
    ...(answer.refreshToken === undefined ? {} : { refresh_token: answer.refreshToken }),
  }),
  error(problem) {
    switch (problem.kind) {
      case 'methodNotAllowed':
        return { status: 405, body: oauthError('invalid_request', 'Only POST is supported.'), headers: { allow: 'POST' } };
      case 'notForm':
        return { status: 400, body: oauthError('invalid_request', 'Bad Request') };
      case 'missingClient':
        return { status: 400, body: oauthError('invalid_request', 'Could not determine client ID from request.') };
      case 'unknownClient':
        return { status: 401, body: oauthError('invalid_client', 'The OAuth client was not found.') };
      case 'wrongSecret':
        return { status: 401, body: oauthError('invalid_client', 'Unauthorized') };
      case 'unsupportedGrantType':
        return { status: 400, body: oauthError('unsupported_grant_type', `Invalid grant_type: ${problem.grantType}`) };
      case 'missingRefreshToken':
        return { status: 400, body: oauthError('invalid_request', 'Missing required parameter: refresh_token') };
      case 'wrongClient':
        return { status: 401, body: oauthError('unauthorized_client', 'Unauthorized') };
      case 'invalidGrant':
        return { status: 400, body: oauthError('invalid_grant', problem.reason === 'unknown' ? 'Bad Request' : 'Token has been expired or revoked.') };
    }
  },
};

/** Dropbox (`api.dropboxapi.com/oauth2/token`, also served on `api.dropbox.com`). */
export const dropbox: ProviderDialect = {
  provider: 'dropbox',
  tokenPath: '/oauth2/token',
  isTokenPath: (pathname) => pathname === '/oauth2/token',
  rotation: 'keep',
  // Short-lived Dropbox access tokens start "sl."; refresh tokens carry no marker.
  format: { accessTokenPrefix: 'sl.', refreshTokenPrefix: '' },
  defaultScope: 'files.content.read files.content.write files.metadata.read',
  success: (answer) => ({
    access_token: answer.accessToken,
    token_type: 'bearer',
    expires_in: answer.expiresInSeconds,
    ...(answer.refreshToken === undefined ? {} : { refresh_token: answer.refreshToken }),
  }),
  error(problem) {
    switch (problem.kind) {
      case 'methodNotAllowed':
        return { status: 405, body: oauthError('invalid_request', 'Method not allowed'), headers: { allow: 'POST' } };
      case 'notForm':
        return { status: 400, body: oauthError('invalid_request', 'Bad request: expected a form-encoded body') };
      case 'missingClient':
        return { status: 400, body: oauthError('invalid_request', 'No auth function available for given request') };
      case 'unknownClient':
      case 'wrongSecret':
        return { status: 400, body: oauthError('invalid_client', 'Invalid client_id or client_secret') };
      case 'unsupportedGrantType':
        return { status: 400, body: oauthError('unsupported_grant_type', `"grant_type" must be one of authorization_code, refresh_token; got ${problem.grantType}`) };
      case 'missingRefreshToken':
        return { status: 400, body: oauthError('invalid_request', 'No refresh token provided') };
      case 'wrongClient':
      case 'invalidGrant':
        return { status: 400, body: oauthError('invalid_grant', 'refresh token is invalid or revoked') };
    }
  },
};

export const DIALECTS: Readonly<Record<ProviderName, ProviderDialect>> = { microsoft, google, dropbox };

function oauthError(error: string, description: string): Record<string, unknown> {
  return { error, error_description: description };
}

/** The envelope Microsoft identity platform wraps every token-endpoint error in. */
function aad(status: number, error: string, code: number, text: string): TokenAnswer {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}
