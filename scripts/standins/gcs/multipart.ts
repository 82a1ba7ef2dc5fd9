/**
 * Parsing of `multipart/related` bodies, the format of GCS `uploadType=multipart` uploads:
 * a JSON metadata part followed by the media part.
 */

export interface BodyPart {
  /** Header names lower-cased. */
  headers: Map<string, string>;
  body: Buffer;
}

/** The `boundary` parameter of a multipart content type, unquoted. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType?.toLowerCase().startsWith('multipart/')) return undefined;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

/** Splits a multipart body into its parts; undefined when the body is not well formed. */
export function parseMultipart(body: Buffer, boundary: string): BodyPart[] | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const nextDelimiter = Buffer.from(`\r\n--${boundary}`);
  let at = body.indexOf(delimiter);
  if (at < 0) return undefined;
  at += delimiter.length;
  const parts: BodyPart[] = [];
  for (;;) {
    if (body.subarray(at, at + 2).toString() === '--') return parts;
    if (body.subarray(at, at + 2).toString() !== '\r\n') return undefined;
    const start = at + 2;
    const end = body.indexOf(nextDelimiter, start);
    if (end < 0) return undefined;
    const part = parsePart(body.subarray(start, end));
    if (!part) return undefined;
    parts.push(part);
    at = end + nextDelimiter.length;
  }
}

function parsePart(raw: Buffer): BodyPart | undefined {
  const headerEnd = raw.subarray(0, 2).toString() === '\r\n' ? 0 : raw.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const headers = new Map<string, string>();
  for (const line of raw.subarray(0, headerEnd).toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body: raw.subarray(headerEnd === 0 ? 2 : headerEnd + 4) };
}
