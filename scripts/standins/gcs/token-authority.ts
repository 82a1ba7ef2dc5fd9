/**
 * The stand-in's OAuth2 authorisation server state: registered clients, refresh tokens
 * (grants) and access tokens with a strict expiry on the server's clock.
 */
import { randomBytes } from 'node:crypto';

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
}

/** What a user's consent yields: a refresh token and a first access token. */
export interface Grant {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
  clientId: string;
}

export type ClientCheck = 'ok' | 'unknownClient' | 'wrongSecret';

export type AccessTokenState = 'valid' | 'unknown' | 'expired' | 'revoked';

export type RefreshOutcome =
  | { ok: true; accessToken: string; expiresAt: Date; expiresInSeconds: number; rotatedRefreshToken: string | undefined }
  | { ok: false; error: 'invalidGrant' | 'wrongClient' };

export interface TokenAuthorityOptions {
  clients: readonly OAuthClient[];
  tokenLifetimeSeconds: number;
  rotateRefreshTokens: boolean;
}

/** The scope the stand-in grants (GCS read/write). */
export const GRANTED_SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';

export class TokenAuthority {
  readonly #clients: Map<string, string>;
  readonly #rotateRefreshTokens: boolean;
  #tokenLifetimeSeconds = 0;
  /** Live refresh tokens and the client each was issued to. Revoked or rotated ones are removed. */
  readonly #refreshTokens = new Map<string, string>();
  readonly #accessTokens = new Map<string, { expiresAt: number; revoked: boolean }>();
  /** Every refresh token ever issued (tests scan logs for all of them). */
  readonly #issuedRefreshTokens = new Set<string>();

  constructor(options: TokenAuthorityOptions) {
    if (options.clients.length === 0) throw new RangeError('at least one OAuth client is required');
    this.#clients = new Map(options.clients.map((client) => [client.clientId, client.clientSecret]));
    this.#rotateRefreshTokens = options.rotateRefreshTokens;
    this.setTokenLifetime(options.tokenLifetimeSeconds);
  }

  /** The client used when a caller does not name one. */
  get defaultClientId(): string {
    return this.#clients.keys().next().value!;
  }

  /**
   * Lifetime of access tokens issued from now on. `expires_in` is sent as whole seconds
   * (rounded down, so clients never believe a token outlives the server's expiry).
   */
  setTokenLifetime(seconds: number): void {
    if (!(Number.isFinite(seconds) && seconds >= 0)) throw new RangeError(`token lifetime must be ≥ 0 seconds, got ${seconds}`);
    this.#tokenLifetimeSeconds = seconds;
  }

  checkClient(clientId: string, clientSecret: string | undefined): ClientCheck {
    const expected = this.#clients.get(clientId);
    if (expected === undefined) return 'unknownClient';
    return expected === clientSecret ? 'ok' : 'wrongSecret';
  }

  issueGrant(clientId = this.defaultClientId): Grant {
    if (!this.#clients.has(clientId)) throw new Error(`unknown OAuth client ${clientId}`);
    const refreshToken = `1//${randomToken()}`;
    this.#refreshTokens.set(refreshToken, clientId);
    this.#issuedRefreshTokens.add(refreshToken);
    const { accessToken, expiresAt } = this.#issueAccessToken();
    return { accessToken, refreshToken, expiresAt, clientId };
  }

  /** A `grant_type=refresh_token` exchange by an already authenticated client. */
  refresh(refreshToken: string, clientId: string): RefreshOutcome {
    const owner = this.#refreshTokens.get(refreshToken);
    if (owner === undefined) return { ok: false, error: 'invalidGrant' };
    if (owner !== clientId) return { ok: false, error: 'wrongClient' };
    let rotatedRefreshToken: string | undefined;
    if (this.#rotateRefreshTokens) {
      this.#refreshTokens.delete(refreshToken);
      rotatedRefreshToken = `1//${randomToken()}`;
      this.#refreshTokens.set(rotatedRefreshToken, clientId);
      this.#issuedRefreshTokens.add(rotatedRefreshToken);
    }
    const { accessToken, expiresAt } = this.#issueAccessToken();
    return { ok: true, accessToken, expiresAt, expiresInSeconds: Math.floor(this.#tokenLifetimeSeconds), rotatedRefreshToken };
  }

  /** Whether an API request carrying `accessToken` is authorised right now. */
  checkAccessToken(accessToken: string | undefined): AccessTokenState {
    const token = accessToken === undefined ? undefined : this.#accessTokens.get(accessToken);
    if (!token) return 'unknown';
    if (token.revoked) return 'revoked';
    return Date.now() >= token.expiresAt ? 'expired' : 'valid';
  }

  /** Every access and refresh token this authority ever issued. */
  issuedSecrets(): string[] {
    return [...this.#accessTokens.keys(), ...this.#issuedRefreshTokens];
  }

  revokeRefreshToken(refreshToken: string): void {
    this.#refreshTokens.delete(refreshToken);
  }

  revokeAccessToken(accessToken: string): void {
    const token = this.#accessTokens.get(accessToken);
    if (token) token.revoked = true;
  }

  #issueAccessToken(): { accessToken: string; expiresAt: Date } {
    const accessToken = `ya29.${randomToken()}`;
    const expiresAt = Date.now() + this.#tokenLifetimeSeconds * 1000;
    this.#accessTokens.set(accessToken, { expiresAt, revoked: false });
    return { accessToken, expiresAt: new Date(expiresAt) };
  }
}

function randomToken(): string {
  return randomBytes(24).toString('base64url');
}
