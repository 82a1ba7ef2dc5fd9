/**
 * Puts a new OAuth access token into the running rclone without `config/update`.
 *
 * Why not `config/update`: in rclone 1.60.1 it ends with `cache.ClearConfig(remote)`, which
 * finalizes every cached Fs of that remote and so calls its `Shutdown()`. A running job keeps
 * using its Fs, but Dropbox's `Shutdown` stops the Fs's upload batcher, and every upload of the
 * job that commits afterwards fails with `batcher is shutting down` after all its bytes were
 * sent (research/rclone-providers-lab.md Q4). rclone's rc API has no call that changes a remote
 * without that cache clear (`config/create`, `config/update` and `config/password` all end in
 * it).
 *
 * What works instead: rclone's config storage re-reads the file whenever its mtime or size
 * changed, at every config access (`configfile.Storage._check`). So the token line of the
 * remote's section is replaced in the file (temp file + rename, mode 0600), and a `config/dump`
 * afterwards both makes rclone reload and shows whether it holds the new token. A running job's
 * token source re-reads the config at its old token's expiry − 10 s and adopts it, exactly as
 * after `config/update`, without any cache clear.
 *
 * Who else writes the file: rclone saves the whole file from memory whenever it stores
 * something itself. Two such writes could meet ours:
 *
 * - oauthutil's `PutToken`, at the switch point, after re-reading a token: it marshals the
 *   token (golang.org/x/oauth2 `Token`) and saves only when that text differs from the config
 *   value. {@link rcloneTokenJson} writes exactly Go's encoding, so rclone finds nothing to save
 *   and never rewrites the file for a token (rclone never refreshes: it has no refresh token).
 * - Anything else (rc config calls, a backend caching a value at Fs creation). The worker's own
 *   rc config calls are serialised with these writes by the caller. For the rest, rclone holds
 *   its storage mutex from its reload to its rename, so whichever order the two writes take, a
 *   `config/dump` right after ours shows either our token or the clobbered one — never a stale
 *   view that turns bad later. A clobbered token is written again.
 *
 * Only the token line changes: every other byte of the file stays as rclone wrote it (rclone's
 * INI dialect quotes and escapes differently from INI libraries; research/ecosystem.md §5.9).
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import { WorkerError } from '../errors.js';

/** The token cannot be written into rclone.conf (no such remote, or a value rclone would misread). */
export class ConfigTokenError extends WorkerError {
  constructor(message: string) {
    super('WORKER_ERR_RCLONE_CONFIG_TOKEN', message);
  }
}

/**
 * The token JSON exactly as Go's `json.Marshal(oauth2.Token)` writes it in rclone 1.60.1:
 * `access_token`, `token_type` (omitted when empty), `refresh_token` (omitted when empty),
 * `expiry` in RFC 3339 with trailing zeros of the fraction dropped, UTC as `Z`; strings escaped
 * the way encoding/json does (`<`, `>`, `&`, U+2028, U+2029 and control characters as `\uXXXX`).
 */
export function rcloneTokenJson(token: RcloneToken): string {
  const expiry = Date.parse(token.expiry);
  if (Number.isNaN(expiry)) throw new ConfigTokenError(`token expiry "${token.expiry}" is not a date`);
  const fields = [`"access_token":${goString(token.access_token)}`];
  if (token.token_type) fields.push(`"token_type":${goString(token.token_type)}`);
  if (token.refresh_token) fields.push(`"refresh_token":${goString(token.refresh_token)}`);
  fields.push(`"expiry":"${goTime(expiry)}"`);
  return `{${fields.join(',')}}`;
}

/** Go's `time.RFC3339Nano` for a UTC instant with millisecond precision. */
export function goTime(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

/** A JSON string as encoding/json writes it (Go 1.19: HTML-safe, `\b` and `\f` as `\u00XX`). */
function goString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]|\\[bf]/g, (match) => {
    const code = match === '\\b' ? 8 : match === '\\f' ? 12 : match.charCodeAt(0);
    return `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * Replaces the `token = …` line of section `[remote]` in the rclone config file at
 * `configPath` with `tokenJson`, atomically. The new file gets an mtime later than the old
 * one's, so rclone's change check (mtime or size) sees it even when both writes fall into the
 * same tick of the file system clock and the sizes are equal.
 */
export async function writeRemoteToken(configPath: string, remote: string, tokenJson: string): Promise<void> {
  if (/[\r\n`]/.test(tokenJson) || tokenJson.startsWith('"') || tokenJson.startsWith("'")) {
    throw new ConfigTokenError('token JSON cannot be stored verbatim in rclone.conf');
  }
  const before = await stat(configPath, { bigint: true });
  const text = await readFile(configPath, 'utf8');
  const updated = replaceTokenLine(text, remote, tokenJson);
  const temp = `${configPath}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, updated, { mode: 0o600 });
    await chmod(temp, 0o600);
    // utimes takes seconds as a double: one that lands on a ms boundary can come back a hair
    // earlier, so step 2 ms past the old mtime to be strictly later after rounding.
    const mtimeMs = Math.max(Date.now(), Number(before.mtimeNs / 1_000_000n) + 2);
    await utimes(temp, mtimeMs / 1000, mtimeMs / 1000);
    await rename(temp, configPath);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** The file text with the token line of `[remote]` replaced; throws when there is none. */
export function replaceTokenLine(text: string, remote: string, tokenJson: string): string {
  const lines = text.split('\n');
  const header = `[${remote}]`;
  const start = lines.findIndex((line) => line.trim() === header);
  if (start < 0) throw new ConfigTokenError(`rclone.conf has no section [${remote}]`);
  for (const [i, line] of lines.entries()) {
    if (i <= start) continue;
    if (line.trimStart().startsWith('[')) break;
    if (/^\s*token\s*=/.test(line)) {
      lines[i] = `token = ${tokenJson}`;
      return lines.join('\n');
    }
  }
  throw new ConfigTokenError(`section [${remote}] of rclone.conf has no token line`);
}
