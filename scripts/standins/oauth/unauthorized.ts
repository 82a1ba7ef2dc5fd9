/**
 * The answer each provider's API gives a request whose access token is missing, unknown,
 * expired or revoked, in the shapes research/rclone-providers-lab.md Q2 recorded and rclone
 * 1.60.1 turned into these messages:
 *
 *   OneDrive  `InvalidAuthenticationToken: Access token has expired or is not yet valid.`
 *   Drive     `googleapi: Error 401: Request had invalid authentication credentials. …, authError`
 *   Dropbox   `expired_access_token/..`
 *
 * (GCS's older JSON API shape, `Invalid Credentials, authError`, lives in gcs/google-errors.ts.)
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { sendJson } from '../http-util.js';
import type { AccessTokenState } from './authority.js';

export type RejectedToken = Exclude<AccessTokenState, 'valid'>;

/** Writes the provider's 401 for a rejected access token. */
export type UnauthorizedResponder = (res: ServerResponse, state: RejectedToken) => void;

const GRAPH_MESSAGES: Record<RejectedToken, string> = {
  missing: 'Access token is empty.',
  unknown: 'Access token validation failure.',
  expired: 'Access token has expired or is not yet valid.',
  revoked: 'Access token validation failure.',
};

/**
 * Microsoft Graph. The WWW-Authenticate header carries no `expired_token`: rclone's onedrive
 * backend retries a 401 only when it does (lab Q4.6), and real Graph sends none for MSA tokens
 * as far as the lab saw, so a 401 is final for rclone, as it was in the lab.
 */
export const graphUnauthorized: UnauthorizedResponder = (res, state) => {
  const requestId = randomUUID();
  sendJson(
    res,
    401,
    {
      error: {
        code: 'InvalidAuthenticationToken',
        message: GRAPH_MESSAGES[state],
        innerError: { date: new Date().toISOString().replace(/\.\d+Z$/, ''), 'request-id': requestId, 'client-request-id': requestId },
      },
    },
    {
      'www-authenticate': 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
      'request-id': requestId,
    },
  );
};

/** Google APIs of the Drive v3 generation (`status: UNAUTHENTICATED`). */
export const googleUnauthorized: UnauthorizedResponder = (res) => {
  const message =
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
  sendJson(
    res,
    401,
    {
      error: {
        code: 401,
        message,
        errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }],
        status: 'UNAUTHENTICATED',
      },
    },
    { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
  );
};

/** Dropbox API v2: `expired_access_token` once a token is past its expiry, `invalid_access_token` otherwise. */
export const dropboxUnauthorized: UnauthorizedResponder = (res, state) => {
  const tag = state === 'expired' ? 'expired_access_token' : 'invalid_access_token';
  sendJson(res, 401, { error_summary: `${tag}/..`, error: { '.tag': tag } });
};
