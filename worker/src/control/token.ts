/**
 * The bearer token that unlocks the control endpoint's state-changing calls (stop, start, abort),
 * so another local user — who can reach 127.0.0.1 as easily as we can — cannot stop our jobs.
 *
 * The token lives in a file (`WORKER_CONTROL_TOKEN_FILE`, or `<state dir>/control-token`,
 * generated 0600 on first start). The file is read on every check, so an operator rotates the
 * token by rewriting it, without a restart. A file that cannot serve as a lock — unreadable,
 * empty, too short, or readable by every local user — locks everything (fail closed). The token
 * never reaches a log line, only the file's path does.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';

export const DEFAULT_TOKEN_FILE_NAME = 'control-token';
/** Shorter tokens are guessable; the generated ones have 43 characters (32 random bytes). */
export const MIN_TOKEN_LENGTH = 16;

/**
 * - `ok`: the right token;
 * - `missing`: no bearer credentials at all (no header, or another scheme);
 * - `invalid`: a bearer token, but not ours;
 * - `unavailable`: our token file cannot be used, so no request can be let in.
 */
export type TokenVerdict = 'ok' | 'missing' | 'invalid' | 'unavailable';

export interface ControlTokenOptions {
  /** The configured token file; undefined = `<stateDir>/control-token`, generated when missing. */
  file: string | undefined;
  stateDir: string;
  logger: Logger;
}

export class ControlToken {
  private lastProblem: string | undefined;

  private constructor(
    readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Resolves the token file, generating the default one when it does not exist yet. */
  static async prepare(options: ControlTokenOptions): Promise<ControlToken> {
    const log = options.logger.child({ component: 'control' });
    const file = options.file ?? join(options.stateDir, DEFAULT_TOKEN_FILE_NAME);
    const token = new ControlToken(file, log);
    const generated = options.file === undefined && (await generateIfMissing(file, options.stateDir));
    if ((await token.read()) !== undefined) {
      log.info({ tokenFile: file, generated }, 'stop, start and abort need "Authorization: Bearer <the token in this file>"');
    }
    return token;
  }

  /** Checks an `Authorization` header value against the token in the file. */
  async verify(authorization: string | undefined): Promise<TokenVerdict> {
    const presented = bearerToken(authorization);
    if (presented === undefined) return 'missing';
    const expected = await this.read();
    if (expected === undefined) return 'unavailable';
    return sameSecret(presented, expected) ? 'ok' : 'invalid';
  }

  /** The token, or undefined (logged, once per distinct problem) when the file cannot serve. */
  private async read(): Promise<string | undefined> {
    const result = await readTokenFile(this.file);
    const problem = typeof result === 'object' ? result.problem : undefined;
    if (problem !== undefined && problem !== this.lastProblem) {
      this.log.error({ tokenFile: this.file, reason: problem }, 'control token file is unusable; stop, start and abort are refused until it is fixed');
    }
    this.lastProblem = problem;
    return typeof result === 'string' ? result : undefined;
  }
}

/** The token from `Bearer <token>` (scheme case-insensitive, RFC 7235 §2.1), else undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
  return match?.[1];
}

/**
 * Constant-time comparison that leaks neither content nor length: both sides are hashed to 32
 * bytes first, since `timingSafeEqual` needs equal lengths and an early length check would tell.
 */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

async function readTokenFile(file: string): Promise<string | { problem: string }> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return { problem: 'not a regular file' };
    // Group access may be an operator's choice; access for everyone is no lock at all.
    if ((info.mode & 0o004) !== 0) return { problem: 'readable by every local user (chmod 600 it)' };
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length < MIN_TOKEN_LENGTH) return { problem: `the token must have at least ${MIN_TOKEN_LENGTH} characters` };
    if (/\s/.test(token)) return { problem: 'the token must be one word' };
    return token;
  } catch (err) {
    return { problem: `cannot read it (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})` };
  }
}

/** Writes a new random token, 0600, unless the file exists. True when it wrote one. */
async function generateIfMissing(file: string, stateDir: string): Promise<boolean> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  try {
    // `wx`: never overwrite, also not a file a concurrent start just wrote.
    await writeFile(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}
