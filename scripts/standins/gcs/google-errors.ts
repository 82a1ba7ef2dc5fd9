/**
 * Error responses in the JSON shape Google APIs use (`{"error":{"code","message","errors":[...]}}`),
 * which the Go `googleapi` client turns into messages such as
 * `googleapi: Error 401: Invalid Credentials, authError`.
 */
import type { ServerResponse } from 'node:http';
import { sendJson } from '../http-util.js';

export interface GoogleErrorDetail {
  reason: string;
  locationType?: string;
  location?: string;
}

export function sendGoogleError(res: ServerResponse, code: number, message: string, detail: GoogleErrorDetail, headers: Record<string, string> = {}): void {
  sendJson(res, code, { error: { code, message, errors: [{ message, domain: 'global', ...detail }] } }, headers);
}

/** The answer to an API request whose access token is missing, unknown, expired or revoked. */
export function sendInvalidCredentials(res: ServerResponse): void {
  sendGoogleError(
    res,
    401,
    'Invalid Credentials',
    { reason: 'authError', locationType: 'header', location: 'Authorization' },
    { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
  );
}

export function sendNotFound(res: ServerResponse, message: string): void {
  sendGoogleError(res, 404, message, { reason: 'notFound' });
}

export function sendBadRequest(res: ServerResponse, message: string): void {
  sendGoogleError(res, 400, message, { reason: 'invalid' });
}
