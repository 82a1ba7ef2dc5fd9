/**
 * Everything OAuth about one provider stand-in, in one object: the authority (clients, grants,
 * rotation, revocation, lifetimes), the token endpoint in the provider's dialect (faults
 * included), the bearer check every API request goes through (with the provider's own 401),
 * and the counters and token log behind them.
 *
 *   const oauth = new ProviderOAuth({ provider: 'microsoft', clients: [...] });
 *   // in the stand-in's router:
 *   if (oauth.isTokenRequest(pathname)) return oauth.handleTokenRequest(req, res);
 *   if (!oauth.authorize(req, res, 'createUploadSession')) return;   // 401 already sent
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fingerprint } from '../../../worker/src/log/fingerprint.js';
import { bearerToken } from '../http-util.js';
import { TokenAuthority, type AccessTokenState, type Grant, type OAuthClient, type RefreshTokenInfo, type RotationPolicy } from './authority.js';
import { DIALECTS, type ProviderDialect, type ProviderName } from './dialects.js';
import { createOAuthStats, increment, type OAuthStats, type TokenLogEntry } from './stats.js';
import { TokenEndpoint, type TokenEndpointFault } from './token-endpoint.js';
import { dropboxUnauthorized, googleUnauthorized, graphUnauthorized, type UnauthorizedResponder } from './unauthorized.js';

export interface ProviderOAuthOptions {
  provider: ProviderName;
  /** Registered OAuth clients (at least one); the first is the default for `issueGrant()`. */
  clients: readonly OAuthClient[];
  /** Lifetime of issued access tokens; default 3600. Changeable with `setTokenLifetime`. */
  tokenLifetimeSeconds?: number;
  /** Default: the provider's (Microsoft `rotate`, Google and Dropbox `keep`). */
  rotation?: RotationPolicy;
  /** `scope` in token answers; default the provider's usual one. */
  scope?: string;
  /** The API's 401; default the provider's (Graph, Google Drive v3, Dropbox). */
  unauthorized?: UnauthorizedResponder;
  /** Counters to fill (a stand-in whose own stats extend OAuthStats passes them); default new ones. */
  stats?: OAuthStats;
}

const DEFAULT_UNAUTHORIZED: Record<ProviderName, UnauthorizedResponder> = {
  microsoft: graphUnauthorized,
  google: googleUnauthorized,
  dropbox: dropboxUnauthorized,
};

export class ProviderOAuth {
  readonly dialect: ProviderDialect;
  readonly authority: TokenAuthority;
  readonly stats: OAuthStats;
  readonly tokenLog: TokenLogEntry[] = [];

  readonly #endpoint: TokenEndpoint;
  readonly #unauthorized: UnauthorizedResponder;
  readonly #clientSecrets: string[];

  constructor(options: ProviderOAuthOptions) {
    this.dialect = DIALECTS[options.provider];
    this.authority = new TokenAuthority({
      clients: options.clients,
      tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
      rotation: options.rotation ?? this.dialect.rotation,
      format: this.dialect.format,
    });
    this.stats = options.stats ?? createOAuthStats();
    this.#endpoint = new TokenEndpoint(this.authority, this.dialect, options.scope ?? this.dialect.defaultScope, this.stats, this.tokenLog);
    this.#unauthorized = options.unauthorized ?? DEFAULT_UNAUTHORIZED[options.provider];
    this.#clientSecrets = options.clients.map((client) => client.clientSecret);
  }

  /** The token endpoint's path (Microsoft: `/consumers/oauth2/v2.0/token`, Google `/token`, Dropbox `/oauth2/token`). */
  get tokenPath(): string {
    return this.dialect.tokenPath;
  }

  isTokenRequest(pathname: string): boolean {
    return this.dialect.isTokenPath(pathname);
  }

  handleTokenRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.#endpoint.handle(req, res);
  }

  /**
   * The bearer check of an API request: counts it (per access token), and when the token is not
   * valid now answers the provider's 401 (the request body is drained) and returns false.
   * `call` names the API call in the 401 counters.
   */
  authorize(req: IncomingMessage, res: ServerResponse, call: string): boolean {
    const state = this.check(req, call);
    if (state === 'valid') return true;
    req.resume();
    this.#unauthorized(res, state);
    return false;
  }

  /** Counts an API request and checks its bearer token (401 counters included), without answering. */
  check(req: IncomingMessage, call: string): AccessTokenState {
    const state = this.observe(req);
    if (state !== 'valid') {
      this.stats.unauthorized++;
      increment(this.stats.unauthorizedByCall, call);
      increment(this.stats.unauthorizedByUserAgent, req.headers['user-agent'] ?? '');
    }
    return state;
  }

  /**
   * Counts an API request and the access token it carries, and says whether that token is valid
   * now, without counting a 401: for URLs that are their own credential (pre-authenticated
   * upload URLs) but where a client sends a token anyway.
   */
  observe(req: IncomingMessage): AccessTokenState {
    this.stats.apiRequests++;
    const accessToken = bearerToken(req);
    const state = this.authority.checkAccessToken(accessToken);
    if (accessToken !== undefined) {
      const key = fingerprint(accessToken);
      const now = Date.now();
      increment(this.stats.requestsByAccessToken, key);
      if (!this.stats.accessTokenFirstSeen.has(key)) this.stats.accessTokenFirstSeen.set(key, now);
      this.stats.accessTokenLastSeen.set(key, now);
      if (state === 'valid') {
        const accepted = this.stats.acceptedByAccessToken.get(key) ?? { requests: 0, firstAt: now, lastAt: now };
        accepted.requests++;
        accepted.lastAt = now;
        this.stats.acceptedByAccessToken.set(key, accepted);
      }
    }
    return state;
  }

  /** As if a user authorised the app: a fresh grant (refresh token generation 1 + first access token). */
  issueGrant(clientId?: string): Grant {
    return this.authority.issueGrant(clientId);
  }

  /** Revokes a whole grant (by id or any of its tokens): refresh → invalid_grant, access → 401. */
  revokeGrant(grantIdOrToken: string): void {
    this.authority.revokeGrant(grantIdOrToken);
  }

  /** Further refreshes with this one token get invalid_grant; the rest of its grant stays valid. */
  revokeRefreshToken(refreshToken: string): void {
    this.authority.revokeRefreshToken(refreshToken);
  }

  /** Further API requests with this access token get 401. */
  revokeAccessToken(accessToken: string): void {
    this.authority.revokeAccessToken(accessToken);
  }

  refreshTokenInfo(refreshToken: string): RefreshTokenInfo | undefined {
    return this.authority.refreshTokenInfo(refreshToken);
  }

  latestRefreshToken(grantId: string): string | undefined {
    return this.authority.latestRefreshToken(grantId);
  }

  /** Lifetime of access tokens issued from now on (0 = already expired when issued). */
  setTokenLifetime(seconds: number): void {
    this.authority.setTokenLifetime(seconds);
  }

  setTokenEndpointFault(fault: TokenEndpointFault | null): void {
    this.#endpoint.setFault(fault);
  }

  /** Every access and refresh token issued so far, plus the client secrets: what must never be logged. */
  issuedSecrets(): string[] {
    return [...this.authority.issuedSecrets(), ...this.#clientSecrets];
  }

  /** Drops requests held by a timeout fault; call from the stand-in's close(). */
  close(): void {
    this.#endpoint.close();
  }
}
