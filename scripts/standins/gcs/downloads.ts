/**
 * Media downloads (`alt=media`, and the `mediaLink` URLs the stand-in hands out), with single
 * byte ranges as rclone requests them for seeks and multi-thread downloads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StoredObject } from './objects.js';
import { objectEtag } from './resources.js';
import type { BandwidthPacer } from './throttle.js';

export interface ByteRange {
  first: number;
  last: number;
}

export async function sendMedia(req: IncomingMessage, res: ServerResponse, object: StoredObject, pacer: BandwidthPacer): Promise<void> {
  const size = object.data.length;
  const headers: Record<string, string> = {
    'content-type': object.contentType,
    'accept-ranges': 'bytes',
    etag: objectEtag(object),
    'last-modified': object.updated.toUTCString(),
    'x-goog-generation': object.generation,
    'x-goog-metageneration': String(object.metageneration),
    'x-goog-stored-content-length': String(size),
    'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5Hash}`,
  };
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': '0' });
    res.end();
    return;
  }
  const body = range ? object.data.subarray(range.first, range.last + 1) : object.data;
  if (range) headers['content-range'] = `bytes ${range.first}-${range.last}/${size}`;
  headers['content-length'] = String(body.length);
  res.writeHead(range ? 206 : 200, headers);
  await pacer.writeBody(res, body);
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
