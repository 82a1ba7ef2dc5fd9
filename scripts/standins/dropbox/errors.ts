/**
 * Dropbox API v2 error responses as the SDK (and so rclone) parses them:
 *
 *   409  route error      {"error_summary":"path/not_found/..","error":{".tag":"path","path":{".tag":"not_found"}}}
 *   401  auth error       (answered by the shared provider OAuth module, oauth/unauthorized.ts)
 *   429  rate limit       {"error_summary":"too_many_write_operations/..","error":{"reason":{".tag":"too_many_write_operations"},"retry_after":1}} + Retry-After
 *   400  bad input        text/plain "Error in call to API function "files/…": …"
 *
 * rclone shows `error_summary` (e.g. `error listing: expired_access_token/..`).
 */
import type { ServerResponse } from 'node:http';
import { sendJson, sendText } from '../http-util.js';

/** A Dropbox union value: `{".tag": name, …fields}`. */
export type Tagged = { '.tag': string } & Record<string, unknown>;

export function tag(name: string, fields: Record<string, unknown> = {}): Tagged {
  return { '.tag': name, ...fields };
}

/** `path/not_found/..` from `{".tag":"path","path":{".tag":"not_found"}}`: the tag chain. */
export function errorSummary(error: Tagged): string {
  const tags: string[] = [];
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && typeof (current as Tagged)['.tag'] === 'string') {
    const name = (current as Tagged)['.tag'];
    tags.push(name);
    current = (current as Record<string, unknown>)[name];
  }
  return `${tags.join('/')}/..`;
}

export function sendRouteError(res: ServerResponse, error: Tagged): void {
  sendJson(res, 409, { error_summary: errorSummary(error), error });
}

export type RateLimitReason = 'too_many_write_operations' | 'too_many_requests';

export function sendRateLimited(res: ServerResponse, reason: RateLimitReason, retryAfterSeconds: number): void {
  sendJson(
    res,
    429,
    { error_summary: `${reason}/..`, error: { reason: tag(reason), retry_after: retryAfterSeconds } },
    { 'retry-after': String(retryAfterSeconds) },
  );
}

/** Input the API cannot take (malformed JSON, wrong types, bad path): HTTP 400, plain text. */
export function sendBadInput(res: ServerResponse, route: string, detail: string): void {
  sendText(res, 400, `Error in call to API function "${route}": ${detail}`);
}

/** Thrown by argument parsing; the router answers it with {@link sendBadInput}. */
export class BadInputError extends Error {}
