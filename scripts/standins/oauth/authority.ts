/**
 * A provider's OAuth2 authorisation server state, shared by every stand-in: registered clients,
 * grants and the refresh and access tokens issued under them, with a strict expiry on the
 * server's clock.
 *
 * A **grant** is what one user consent yields (a "grant family"): its first refresh token and
 * every refresh token that later refreshes rotate into, numbered by **generation** (1 = the
 * consent's), plus every access token issued under it. Revoking a grant kills all of it at once,
 * as Google does when a user re-authorises or withdraws access: its refresh tokens then get
 * `invalid_grant` and its access tokens 401.
 *
 * How refresh tokens rotate is the provider's **rotation policy**:
 * - `keep`: the refresh token never changes (Google, Dropbox);
 * - `rotate`: every refresh returns a new refresh token and older ones stay valid (Microsoft
 *   identity platform); the generation tells which one is the latest;
 * - `rotate-strict`: every refresh returns a new refresh token and the one presented dies at
 *   once (providers with single-use refresh tokens; crash tests: a lost rotation is a dead grant).
 */
import { randomBytes } from 'node:crypto';

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
}

export type RotationPolicy = 'keep' | 'rotate' | 'rotate-strict';

/** What a user's consent yields: a refresh token and a first access token. */
export interface Grant {
  /** The grant family; stable across rotations. */
  grantId: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
  clientId: string;
}

export type ClientCheck = 'ok' | 'unknownClient' | 'wrongSecret';

export type AccessTokenState = 'valid' | 'missing' | 'unknown' | 'expired' | 'revoked';

/** Why a refresh token was refused. */
export type InvalidGrantReason =
  /** Never issued by this authority. */
  | 'unknown'
  /** Its grant (or the token alone) was revoked. */
  | 'revoked'
  /** Rotated away under `rotate-strict`. */
  | 'superseded';

export interface RefreshTokenInfo {
  grantId: string;
  clientId: string;
  generation: number;
  /** The grant's newest generation at the moment of the call. */
  latestGeneration: number;
  live: boolean;
}

export type RefreshOutcome =
  | {
      ok: true;
      accessToken: string;
      expiresAt: Date;
      expiresInSeconds: number;
      /** The new refresh token when the policy rotates; undefined under `keep`. */
      rotatedRefreshToken: string | undefined;
      grantId: string;
      /** Generation of the refresh token presented, and the grant's latest before this call. */
      generation: number;
      latestGeneration: number;
      /** Generation of `rotatedRefreshToken`. */
      issuedGeneration: number | undefined;
    }
  | { ok: false; error: 'invalidGrant'; reason: InvalidGrantReason; info: RefreshTokenInfo | undefined }
  | { ok: false; error: 'wrongClient'; info: RefreshTokenInfo };

export interface TokenFormat {
  /** Prefix of issued access tokens (`ya29.`, `EwB`, `sl.`), so they look like the provider's. */
  accessTokenPrefix: string;
  refreshTokenPrefix: string;
}

export interface TokenAuthorityOptions {
  clients: readonly OAuthClient[];
  tokenLifetimeSeconds: number;
  rotation: RotationPolicy;
  format?: TokenFormat;
}

interface GrantFamily {
  readonly grantId: string;
  readonly clientId: string;
  /** Refresh tokens by generation (index 0 = generation 1). */
  readonly refreshTokens: string[];
  revoked: boolean;
}

interface RefreshTokenRecord {
  readonly family: GrantFamily;
  readonly generation: number;
  /** False once revoked alone or rotated away under `rotate-strict`. */
  live: boolean;
  deadBecause: 'revoked' | 'superseded' | undefined;
}

interface AccessTokenRecord {
  readonly family: GrantFamily;
  readonly expiresAt: number;
  revoked: boolean;
}

const DEFAULT_FORMAT: TokenFormat = { accessTokenPrefix: 'at.', refreshTokenPrefix: 'rt.' };

export class TokenAuthority {
  readonly rotation: RotationPolicy;
  readonly #clients: Map<string, string>;
  readonly #format: TokenFormat;
  #tokenLifetimeSeconds = 0;
  readonly #grants = new Map<string, GrantFamily>();
  readonly #refreshTokens = new Map<string, RefreshTokenRecord>();
  readonly #accessTokens = new Map<string, AccessTokenRecord>();

  constructor(options: TokenAuthorityOptions) {
    if (options.clients.length === 0) throw new RangeError('at least one OAuth client is required');
    this.#clients = new Map(options.clients.map((client) => [client.clientId, client.clientSecret]));
    this.rotation = options.rotation;
    this.#format = options.format ?? DEFAULT_FORMAT;
    this.setTokenLifetime(options.tokenLifetimeSeconds);
  }

  /** The client used when a caller does not name one. */
  get defaultClientId(): string {
    return this.#clients.keys().next().value!;
  }

  get tokenLifetimeSeconds(): number {
    return this.#tokenLifetimeSeconds;
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

  /** As if a user authorised `clientId`: a new grant family, generation 1. */
  issueGrant(clientId = this.defaultClientId): Grant {
    if (!this.#clients.has(clientId)) throw new Error(`unknown OAuth client ${clientId}`);
    const family: GrantFamily = { grantId: `grant-${randomToken(6)}`, clientId, refreshTokens: [], revoked: false };
    this.#grants.set(family.grantId, family);
    const refreshToken = this.#issueRefreshToken(family);
    const { accessToken, expiresAt } = this.#issueAccessToken(family);
    return { grantId: family.grantId, accessToken, refreshToken, expiresAt, clientId };
  }

  /** A `grant_type=refresh_token` exchange by an already authenticated client. */
  refresh(refreshToken: string, clientId: string): RefreshOutcome {
    const record = this.#refreshTokens.get(refreshToken);
    if (!record) return { ok: false, error: 'invalidGrant', reason: 'unknown', info: undefined };
    const info = this.#info(record);
    if (record.family.revoked) return { ok: false, error: 'invalidGrant', reason: 'revoked', info };
    if (!record.live) return { ok: false, error: 'invalidGrant', reason: record.deadBecause ?? 'revoked', info };
    if (record.family.clientId !== clientId) return { ok: false, error: 'wrongClient', info };
    let rotatedRefreshToken: string | undefined;
    if (this.rotation !== 'keep') {
      if (this.rotation === 'rotate-strict') {
        record.live = false;
        record.deadBecause = 'superseded';
      }
      rotatedRefreshToken = this.#issueRefreshToken(record.family);
    }
    const { accessToken, expiresAt } = this.#issueAccessToken(record.family);
    return {
      ok: true,
      accessToken,
      expiresAt,
      expiresInSeconds: Math.floor(this.#tokenLifetimeSeconds),
      rotatedRefreshToken,
      grantId: record.family.grantId,
      generation: info.generation,
      latestGeneration: info.latestGeneration,
      issuedGeneration: rotatedRefreshToken === undefined ? undefined : record.family.refreshTokens.length,
    };
  }

  /** Whether an API request carrying `accessToken` is authorised right now. */
  checkAccessToken(accessToken: string | undefined): AccessTokenState {
    if (accessToken === undefined || accessToken === '') return 'missing';
    const token = this.#accessTokens.get(accessToken);
    if (!token) return 'unknown';
    if (token.revoked || token.family.revoked) return 'revoked';
    return Date.now() >= token.expiresAt ? 'expired' : 'valid';
  }

  /** Where a refresh token stands in its grant; undefined when never issued. */
  refreshTokenInfo(refreshToken: string): RefreshTokenInfo | undefined {
    const record = this.#refreshTokens.get(refreshToken);
    return record && this.#info(record);
  }

  /** The newest refresh token of a grant (what a client that kept every rotation holds). */
  latestRefreshToken(grantId: string): string | undefined {
    return this.#grants.get(grantId)?.refreshTokens.at(-1);
  }

  /** The grant an access or refresh token belongs to. */
  grantOf(token: string): string | undefined {
    return (this.#refreshTokens.get(token) ?? this.#accessTokens.get(token))?.family.grantId;
  }

  /**
   * Revokes a whole grant, given its id or any of its refresh or access tokens: every refresh
   * token of the family gets `invalid_grant`, every access token issued under it 401.
   */
  revokeGrant(grantIdOrToken: string): void {
    const family = this.#grants.get(grantIdOrToken) ?? (this.#refreshTokens.get(grantIdOrToken) ?? this.#accessTokens.get(grantIdOrToken))?.family;
    if (!family) throw new Error('no such grant or token');
    family.revoked = true;
  }

  /** Kills one refresh token; the grant's other refresh tokens and its access tokens stay valid. */
  revokeRefreshToken(refreshToken: string): void {
    const record = this.#refreshTokens.get(refreshToken);
    if (!record) return;
    record.live = false;
    record.deadBecause = 'revoked';
  }

  /** Further API requests with this access token get 401. */
  revokeAccessToken(accessToken: string): void {
    const token = this.#accessTokens.get(accessToken);
    if (token) token.revoked = true;
  }

  /** Every access and refresh token this authority ever issued (tests scan logs for all of them). */
  issuedSecrets(): string[] {
    return [...this.#accessTokens.keys(), ...this.#refreshTokens.keys()];
  }

  #info(record: RefreshTokenRecord): RefreshTokenInfo {
    return {
      grantId: record.family.grantId,
      clientId: record.family.clientId,
      generation: record.generation,
      latestGeneration: record.family.refreshTokens.length,
      live: record.live && !record.family.revoked,
    };
  }

  #issueRefreshToken(family: GrantFamily): string {
    const refreshToken = `${this.#format.refreshTokenPrefix}${randomToken()}`;
    family.refreshTokens.push(refreshToken);
    this.#refreshTokens.set(refreshToken, { family, generation: family.refreshTokens.length, live: true, deadBecause: undefined });
    return refreshToken;
  }

  #issueAccessToken(family: GrantFamily): { accessToken: string; expiresAt: Date } {
    const accessToken = `${this.#format.accessTokenPrefix}${randomToken()}`;
    const expiresAt = Date.now() + this.#tokenLifetimeSeconds * 1000;
    this.#accessTokens.set(accessToken, { family, expiresAt, revoked: false });
    return { accessToken, expiresAt: new Date(expiresAt) };
  }
}

function randomToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}
