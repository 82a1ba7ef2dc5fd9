/**
 * What the Drive API needs from an OAuth authority, and no more: whether a bearer token is
 * good right now. The authority (tokens, grants, revocation, the token endpoint on
 * oauth2.googleapis.com) lives outside the API server, shared by every provider stand-in.
 */

export type AccessTokenState = 'valid' | 'expired' | 'revoked' | 'unknown';

export interface AccessTokenCheck {
  /** The state of the token a request presented (undefined = no bearer token at all). */
  checkAccessToken(accessToken: string | undefined): AccessTokenState;
}

/** One API request as the authority's counters see it, once its token was checked. */
export interface TokenUse {
  accessToken: string | undefined;
  state: AccessTokenState;
  /** The Drive method, e.g. `files.list`, `upload.resumableChunk`. */
  call: string;
  userAgent: string;
}

/** Called for every API request after the token check (e.g. the shared authority's per-token counters). */
export type TokenUseHook = (use: TokenUse) => void;
