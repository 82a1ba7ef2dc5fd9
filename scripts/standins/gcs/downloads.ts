/**
 * Media downloads (`alt=media`, and the `mediaLink` URLs the stand-in hands out), with single
 * byte ranges as rclone requests them for seeks and multi-thread downloads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendRanged } from '../byte-ranges.js';
import type { StoredObject } from './objects.js';
import { objectEtag } from './resources.js';
import type { BandwidthPacer } from './throttle.js';

/** Kept for the Drive stand-in, which imports it from here. */
export { parseRange, type ByteRange } from '../byte-ranges.js';

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
  await sendRanged(req, res, object.data, headers, (out, body) => pacer.writeBody(out, body));
}

