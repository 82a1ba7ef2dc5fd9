/**
 * Dropbox's `content_hash`: the SHA-256 of the concatenated SHA-256 digests of each 4 MiB block
 * of the content (an empty file hashes no block: the SHA-256 of nothing). rclone compares it
 * after every upload and in `rclone check` (its `dropbox` hash type).
 */
import { createHash } from 'node:crypto';

export const CONTENT_HASH_BLOCK_BYTES = 4 * 1024 * 1024;

export function contentHash(data: Buffer): string {
  const overall = createHash('sha256');
  for (let at = 0; at < data.length; at += CONTENT_HASH_BLOCK_BYTES) {
    overall.update(createHash('sha256').update(data.subarray(at, at + CONTENT_HASH_BLOCK_BYTES)).digest());
  }
  return overall.digest('hex');
}
