/**
 * Error answers in the JSON shape the Drive v3 API uses, which the Go `googleapi` client that
 * rclone uses turns into `googleapi: Error <code>: <message>, <reason>`; rclone decides on the
 * `reason` whether to retry (`rateLimitExceeded`, `userRateLimitExceeded`, 5xx) or give up.
 * (The 401 for a bad token is the shared provider OAuth's `googleUnauthorized`.)
 */
import type { ServerResponse } from 'node:http';
import { sendJson } from '../http-util.js';

export interface DriveErrorDetail {
  domain?: string;
  location?: string;
  locationType?: string;
}

/** A request the API refuses; thrown anywhere below the router, answered by it. */
export class DriveError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly detail: DriveErrorDetail = {},
    /** Google's canonical status (`UNAUTHENTICATED`, …), sent only where the real API sends it. */
    readonly canonicalStatus?: string,
  ) {
    super(message);
    this.name = 'DriveError';
  }
}

export function sendDriveError(res: ServerResponse, error: DriveError, headers: Record<string, string> = {}): void {
  const { domain = 'global', ...where } = error.detail;
  sendJson(
    res,
    error.status,
    {
      error: {
        code: error.status,
        message: error.message,
        errors: [{ message: error.message, domain, reason: error.reason, ...where }],
        ...(error.canonicalStatus === undefined ? {} : { status: error.canonicalStatus }),
      },
    },
    headers,
  );
}

/** The errors the stand-in raises, by the reasons the real API gives. */
export const driveErrors = {
  fileNotFound: (fileId: string) => new DriveError(404, 'notFound', `File not found: ${fileId}.`, { location: 'fileId', locationType: 'parameter' }),
  parentNotFound: (parentId: string) => new DriveError(404, 'notFound', `File not found: ${parentId}.`, { location: 'parents', locationType: 'other' }),
  invalidParameter: (parameter: string, message: string) =>
    new DriveError(400, 'invalidParameter', message, { location: parameter, locationType: 'parameter' }),
  invalidQuery: (message: string) => new DriveError(400, 'invalid', `Invalid Value: ${message}`, { location: 'q', locationType: 'parameter' }),
  invalidFields: (selection: string) =>
    new DriveError(400, 'invalidParameter', `Invalid field selection ${selection}`, { location: 'fields', locationType: 'parameter' }),
  badRequest: (message: string) => new DriveError(400, 'badRequest', message),
  parseError: () => new DriveError(400, 'parseError', 'Parse Error'),
  notWritable: (field: string) => new DriveError(403, 'fieldNotWritable', `The resource body includes fields which are not directly writable: ${field}.`),
  notAFolder: (parentId: string) => new DriveError(400, 'invalidParent', `The parent ${parentId} is not a folder.`),
  singleParent: () =>
    new DriveError(403, 'cannotAddParent', 'Increasing the number of parents is not allowed. A file must have exactly one parent.'),
  notDownloadable: () => new DriveError(403, 'fileNotDownloadable', 'Only files with binary content can be downloaded. Use Export with Docs Editors files.'),
  methodNotAllowed: (method: string) => new DriveError(405, 'methodNotAllowed', `Method ${method} is not supported here.`),
  /**
   * A part of the API the stand-in does not implement: loud, so a test meets it at once, and a
   * 4xx so rclone fails at once instead of retrying as it would a 5xx.
   */
  unsupported: (what: string) => new DriveError(400, 'unsupportedByStandin', `The Drive stand-in does not support ${what}.`),
  rateLimited: () => new DriveError(403, 'userRateLimitExceeded', 'User Rate Limit Exceeded', { domain: 'usageLimits' }),
  backendError: () => new DriveError(503, 'backendError', 'Backend Error'),
};
