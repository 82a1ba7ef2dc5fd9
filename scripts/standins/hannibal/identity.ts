/**
 * Users and login sessions of the hub stand-in (research/anchor-backer.md §4.2,
 * research/real-hannibal.md §3, §8).
 *
 * Hannibal issues a JWT and, with `ValidateLifetime=false`, never lets it expire. The stand-in
 * hands out random opaque tokens with a real lifetime instead, so tests can drive the worker's
 * "401 → login → retry once" path deterministically.
 */
import { pbkdf2Sync, randomBytes, randomUUID } from 'node:crypto';
import type { LoginResponse } from '../../../shared/hannibal.js';

/** A hub account. `id` plays the ASP.NET Identity user id that storages and jobs carry. */
export interface HubUser {
  id: string;
  email: string;
  password: string;
  /** ASP.NET Identity's v3 hash of the password, as the real hub stores and serves it. */
  passwordHash: string;
  securityStamp: string;
  concurrencyStamp: string;
}

/** One login attempt, in the order received. The password is never recorded. */
export interface LoginRecord {
  at: number;
  email: string;
  ok: boolean;
}

interface Session {
  user: HubUser;
  expiresAt: number;
}

export class HubIdentity {
  private readonly accounts: HubUser[];
  readonly logins: LoginRecord[] = [];
  private readonly sessions = new Map<string, Session>();

  constructor(
    users: readonly { email: string; password: string }[],
    private readonly sessionTtlSeconds: number,
  ) {
    this.accounts = users.map((user) => newUser(user.email, user.password));
  }

  get users(): readonly HubUser[] {
    return this.accounts;
  }

  /** Registers another account, as `POST /api/auth/v1/register` would; e-mails are unique, case-insensitively. */
  addUser(email: string, password: string): HubUser {
    if (this.findByEmail(email) !== undefined) throw new Error(`a user ${email} exists already`);
    const user = newUser(email, password);
    this.accounts.push(user);
    return user;
  }

  /** Starts a session for matching credentials (e-mail compared case-insensitively, as Identity does). */
  login(email: string, password: string): LoginResponse | undefined {
    const found = this.findByEmail(email);
    const user = found?.password === password ? found : undefined;
    this.logins.push({ at: Date.now(), email, ok: user !== undefined });
    if (user === undefined) return undefined;
    const accessToken = randomBytes(32).toString('base64url');
    this.sessions.set(accessToken, { user, expiresAt: Date.now() + this.sessionTtlSeconds * 1000 });
    return { tokenType: 'Bearer', accessToken, expiresIn: this.sessionTtlSeconds, refreshToken: '' };
  }

  /** The user of a live session; expired sessions are forgotten. */
  userForToken(token: string | undefined): HubUser | undefined {
    if (token === undefined) return undefined;
    const session = this.sessions.get(token);
    if (session === undefined) return undefined;
    if (Date.now() >= session.expiresAt) {
      this.sessions.delete(token);
      return undefined;
    }
    return session.user;
  }

  private findByEmail(email: string): HubUser | undefined {
    return this.accounts.find((candidate) => candidate.email.toLowerCase() === email.toLowerCase());
  }
}

/**
 * The `IdentityUser` JSON that `GET /users/-1` returns. The real hub serialises the whole EF
 * entity: the password hash and the stamps included, plus the lazy-loading proxy's `lazyLoader`
 * (real-hannibal.md §8, §10). A user registered through `MapIdentityApi` has not confirmed its
 * e-mail; the hub's login does not require it (§3).
 */
export function identityUserJson(user: HubUser): Record<string, unknown> {
  return {
    lazyLoader: {},
    id: user.id,
    userName: user.email,
    normalizedUserName: user.email.toUpperCase(),
    email: user.email,
    normalizedEmail: user.email.toUpperCase(),
    emailConfirmed: false,
    passwordHash: user.passwordHash,
    securityStamp: user.securityStamp,
    concurrencyStamp: user.concurrencyStamp,
    phoneNumber: null,
    phoneNumberConfirmed: false,
    twoFactorEnabled: false,
    lockoutEnd: null,
    lockoutEnabled: true,
    accessFailedCount: 0,
  };
}

function newUser(email: string, password: string): HubUser {
  return {
    id: randomUUID(),
    email,
    password,
    passwordHash: identityV3Hash(password),
    securityStamp: base32(randomBytes(20)),
    concurrencyStamp: randomUUID(),
  };
}

/** PBKDF2 rounds of the stand-in's hashes: real Identity uses more; the format carries the count. */
const HASH_ITERATIONS = 10_000;

/**
 * ASP.NET Identity's v3 password hash: `0x01`, PRF (1 = HMAC-SHA256), iteration count and salt
 * length as big-endian uint32, the salt, then the PBKDF2 subkey; base64. Real-looking, so a
 * test can check that a worker never logs it.
 */
function identityV3Hash(password: string): string {
  const salt = randomBytes(16);
  const subkey = pbkdf2Sync(password, salt, HASH_ITERATIONS, 32, 'sha256');
  const header = Buffer.alloc(13);
  header.writeUInt8(0x01, 0);
  header.writeUInt32BE(1, 1);
  header.writeUInt32BE(HASH_ITERATIONS, 5);
  header.writeUInt32BE(salt.length, 9);
  return Buffer.concat([header, salt, subkey]).toString('base64');
}

/** RFC 4648 base32 without padding, the alphabet of Identity's security stamps. */
function base32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet.charAt((value << (5 - bits)) & 31);
  return out;
}
