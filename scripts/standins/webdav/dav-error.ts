/**
 * WebDAV errors as Nextcloud's sabre/dav reports them: an HTTP status plus an XML body naming
 * the sabre exception class and a message. rclone's webdav backend parses that body and builds
 * its error text as `<message>: <exception>: <status>`, so the body shape is part of what the
 * stand-in must get right for rclone's errors to look like they do against a real Nextcloud.
 */
import type { ServerResponse } from 'node:http';
import { escapeXml } from './xml.js';

export class DavError extends Error {
  readonly status: number;
  /** The sabre exception class, e.g. `Sabre\DAV\Exception\NotFound`. */
  readonly exception: string;

  constructor(status: number, exception: string, message: string) {
    super(message);
    this.name = 'DavError';
    this.status = status;
    this.exception = exception;
  }
}

const SABRE = 'Sabre\\DAV\\Exception\\';

export const davErrors = {
  badRequest: (message: string) => new DavError(400, `${SABRE}BadRequest`, message),
  notAuthenticated: (message: string) => new DavError(401, `${SABRE}NotAuthenticated`, message),
  forbidden: (message: string) => new DavError(403, `${SABRE}Forbidden`, message),
  notFound: (message: string) => new DavError(404, `${SABRE}NotFound`, message),
  methodNotAllowed: (message: string) => new DavError(405, `${SABRE}MethodNotAllowed`, message),
  conflict: (message: string) => new DavError(409, `${SABRE}Conflict`, message),
  preconditionFailed: (message: string) => new DavError(412, `${SABRE}PreconditionFailed`, message),
  rangeNotSatisfiable: (message: string) => new DavError(416, `${SABRE}RequestedRangeNotSatisfiable`, message),
  notImplemented: (message: string) => new DavError(501, `${SABRE}NotImplemented`, message),
};

/** Writes `error` the way sabre/dav does (`<d:error>` with `<s:exception>` and `<s:message>`). */
export function sendDavError(res: ServerResponse, error: DavError, headers: Record<string, string> = {}): void {
  const body =
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    '<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">\n' +
    `  <s:exception>${escapeXml(error.exception)}</s:exception>\n` +
    `  <s:message>${escapeXml(error.message)}</s:message>\n` +
    '</d:error>\n';
  res.writeHead(error.status, {
    'content-type': 'application/xml; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
