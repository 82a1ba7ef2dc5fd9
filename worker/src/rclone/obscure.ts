/**
 * rclone's password obscuring (`fs/config/obscure`), needed because rclone stores
 * password-type options (webdav/smb `pass`, …) obscured and the worker writes them already
 * obscured (`opt.noObscure`) so rclone never has to guess whether a value is plain text.
 *
 * Obscuring is not encryption: the AES-256 key is public and fixed in rclone's source. It only
 * keeps passwords from being read over someone's shoulder. Format: AES-256-CTR with a random
 * 16-byte IV as the initial counter block, then base64url without padding of IV ‖ ciphertext
 * (research/anchor-backer.md §8.3).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { WorkerError } from '../errors.js';

/** rclone's published obscuring key (fs/config/obscure/obscure.go). */
const OBSCURE_KEY = Buffer.from('9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638', 'hex');
const IV_LENGTH = 16;
/** Unpadded base64url, as Go's `base64.RawURLEncoding` accepts it. */
const RAW_BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Obscures `plain` as `rclone obscure` does. `iv` is for reproducible test vectors only. */
export function obscure(plain: string, iv: Buffer = randomBytes(IV_LENGTH)): string {
  if (iv.length !== IV_LENGTH) throw new RangeError(`obscure: the IV must be ${IV_LENGTH} bytes, got ${iv.length}`);
  const cipher = createCipheriv('aes-256-ctr', OBSCURE_KEY, iv);
  return Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final()]).toString('base64url');
}

/**
 * Reverses {@link obscure} (and `rclone obscure`). Throws a `WORKER_ERR_OBSCURED` error for
 * input that is not an obscured value; the message never repeats the input.
 */
export function reveal(obscured: string): string {
  // Node's base64 decoder skips invalid characters silently; rclone's refuses them.
  if (!RAW_BASE64URL.test(obscured) || obscured.length % 4 === 1) {
    throw new WorkerError('WORKER_ERR_OBSCURED', 'reveal: not base64url - is the value obscured?', { permanent: true });
  }
  const data = Buffer.from(obscured, 'base64url');
  if (data.length < IV_LENGTH) {
    throw new WorkerError('WORKER_ERR_OBSCURED', 'reveal: input too short - is the value obscured?', { permanent: true });
  }
  const decipher = createDecipheriv('aes-256-ctr', OBSCURE_KEY, data.subarray(0, IV_LENGTH));
  return Buffer.concat([decipher.update(data.subarray(IV_LENGTH)), decipher.final()]).toString('utf8');
}
