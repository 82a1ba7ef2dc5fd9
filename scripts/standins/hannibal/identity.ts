/**
 * Users and login sessions of the hub stand-in (research/anchor-backer.md §4.2).
 *
 * Hannibal issues a JWT and, with `ValidateLifetime=false`, never lets it expire. The stand-in
 * hands out random opaque tokens with a real lifetime instead, so tests can drive the worker's
 * "401 → login → retry once" path deterministically.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { LoginResponse } from '../../../shared/hannibal.js';

/** A hub account. `id` plays the ASP.NET Identity user id that storages and jobs carry. */
export interface HubUser {
  id: string;
  email: string;
  password: string;
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
  readonly users: readonly HubUser[];
  readonly logins: LoginRecord[] = [];
  private readonly sessions = new Map<string, Session>();

  constructor(
    users: readonly { email: string; password: string }[],
    private readonly sessionTtlSeconds: number,
  ) {
    this.users = users.map((user) => ({ id: randomUUID(), email: user.email, password: user.password }));
  }

  /** Starts a session for matching credentials (e-mail compared case-insensitively, as Identity does). */
  login(email: string, password: string): LoginResponse | undefined {
    const user = this.users.find((candidate) => candidate.email.toLowerCase() === email.toLowerCase() && candidate.password === password);
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
}

/** The ASP.NET `IdentityUser` JSON that `GET /users/-1` returns, minus the password hash. */
export function identityUserJson(user: HubUser): Record<string, unknown> {
  return {
    id: user.id,
    userName: user.email,
    normalizedUserName: user.email.toUpperCase(),
    email: user.email,
    normalizedEmail: user.email.toUpperCase(),
    emailConfirmed: true,
    phoneNumber: null,
    phoneNumberConfirmed: false,
    twoFactorEnabled: false,
    lockoutEnd: null,
    lockoutEnabled: true,
    accessFailedCount: 0,
  };
}
