/**
 * What a provider stand-in counts about OAuth, so tests can assert on the token story end to
 * end: "0 API requests rejected with 401, 0 token calls made by rclone itself, the hub holds
 * the latest refresh token generation".
 */

export interface TokenStats {
  /** Every request to the token endpoint. */
  tokenRequests: number;
  /** Token requests whose User-Agent starts with `rclone/` (Debian 1.60.1 sends exactly that): rclone refreshing by itself. */
  tokenRequestsByRclone: number;
  /** Token requests answered 200. */
  tokenSuccesses: number;
  /** Token requests answered otherwise, including injected faults (reset, abandoned timeout). */
  tokenFailures: number;
  /** Token requests by full User-Agent (`rclone/v1.60.1-DEV`, `rclone-sync-worker`, …). */
  tokenRequestsByUserAgent: Map<string, number>;
  /** Token requests by the client id they authenticated as (`''` when none could be read). */
  tokenRequestsByClientId: Map<string, number>;
  /** Refresh requests by the generation of the refresh token presented (0 = never issued). */
  tokenRequestsByGeneration: Map<number, number>;
  /** Successful refreshes with a refresh token that was not its grant's latest (possible under `rotate`). */
  staleGenerationRefreshes: number;
  /** Token requests by result: `ok`, the OAuth `error` sent, `fault:<status>`, `reset` or `unanswered`. */
  tokenResults: Map<string, number>;
}

export interface ApiAuthStats {
  /** Every API request checked for a bearer token. */
  apiRequests: number;
  /** API requests answered 401 (missing, unknown, expired or revoked access token). */
  unauthorized: number;
  /** 401s by the call the stand-in names (e.g. `createUploadSession`, `files/list_folder`). */
  unauthorizedByCall: Map<string, number>;
  /** 401s by User-Agent. */
  unauthorizedByUserAgent: Map<string, number>;
  /** API requests per access token presented, keyed by `fingerprint(accessToken)`. */
  requestsByAccessToken: Map<string, number>;
  /** When each access token was first and last presented (epoch ms), keyed by fingerprint: when a client switched tokens. */
  accessTokenFirstSeen: Map<string, number>;
  accessTokenLastSeen: Map<string, number>;
  /**
   * API requests whose access token was valid when presented, keyed by fingerprint, with the
   * first and last of them (epoch ms): which tokens worked, and when. After a revocation this
   * tells "no request with the old grant's tokens succeeded" from "they were tried and got 401".
   * A request to a pre-authenticated URL carrying a dead token is not counted here.
   */
  acceptedByAccessToken: Map<string, AcceptedTokenUse>;
}

export interface AcceptedTokenUse {
  requests: number;
  firstAt: number;
  lastAt: number;
}

export type OAuthStats = TokenStats & ApiAuthStats;

/** One request to the token endpoint, recorded once its outcome is known (status 0 = no answer). */
export interface TokenLogEntry {
  at: number;
  userAgent: string;
  grantType: string;
  clientId: string;
  status: number;
  /** The OAuth `error` answered, if any. */
  error: string | undefined;
  refreshTokenFingerprint: string;
  /** The grant the presented refresh token belongs to; undefined when never issued. */
  grantId: string | undefined;
  /** Generation of the presented refresh token, and its grant's latest before this request. */
  generation: number | undefined;
  latestGeneration: number | undefined;
  /** Generation of the refresh token this answer handed out (rotating policies). */
  issuedGeneration: number | undefined;
}

export function createOAuthStats(): OAuthStats {
  return {
    tokenRequests: 0,
    tokenRequestsByRclone: 0,
    tokenSuccesses: 0,
    tokenFailures: 0,
    tokenRequestsByUserAgent: new Map(),
    tokenRequestsByClientId: new Map(),
    tokenRequestsByGeneration: new Map(),
    staleGenerationRefreshes: 0,
    tokenResults: new Map(),
    apiRequests: 0,
    unauthorized: 0,
    unauthorizedByCall: new Map(),
    unauthorizedByUserAgent: new Map(),
    requestsByAccessToken: new Map(),
    accessTokenFirstSeen: new Map(),
    accessTokenLastSeen: new Map(),
    acceptedByAccessToken: new Map(),
  };
}

export function increment<K>(counter: Map<K, number>, key: K): void {
  counter.set(key, (counter.get(key) ?? 0) + 1);
}
