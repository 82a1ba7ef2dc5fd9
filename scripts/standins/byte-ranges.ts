/**
 * Media bodies with single byte ranges, as rclone asks for them (seeks, multi-thread
 * downloads): `206` with `Content-Range`, `416` for a range past the end, the whole body for
 * no header or a form not supported. Shared by the stand-ins that serve downloads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ByteRange {
  first: number;
  last: number;
}

/**
 * Answers `data` (or the requested part of it) with `headers` plus the length and range
 * headers; `writeBody` sends the bytes (a bandwidth pacer, or `res.end`).
 */
export async function sendRanged(
  req: IncomingMessage,
  res: ServerResponse,
  data: Buffer,
  headers: Record<string, string>,
  writeBody: (res: ServerResponse, body: Buffer) => Promise<void>,
): Promise<void> {
  const size = data.length;
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': '0' });
    res.end();
    return;
  }
  const body = range ? data.subarray(range.first, range.last + 1) : data;
  const all = { ...headers, 'content-length': String(body.length), ...(range ? { 'content-range': `bytes ${range.first}-${range.last}/${size}` } : {}) };
  res.writeHead(range ? 206 : 200, all);
  await writeBody(res, body);
}

/** One `bytes=` range; undefined means "send everything" (no header, or a form not supported). */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0) return 'unsatisfiable';
    return { first: Math.max(0, size - suffix), last: size - 1 };
  }
  const first = Number(from);
  if (first >= size) return 'unsatisfiable';
  const last = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  return last < first ? undefined : { first, last };
}
