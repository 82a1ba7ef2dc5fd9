import { createHash } from 'node:crypto';

/**
 * A short, stable, non-reversible tag for a secret (token, password) so logs can show which
 * value was in use without showing the value: the first 8 hex digits of its SHA-256.
 */
export function fingerprint(secret: string | null | undefined): string {
  if (!secret) return 'none';
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}
