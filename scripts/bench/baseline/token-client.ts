/**
 * The baseline drivers' own refresh: one `grant_type=refresh_token` request, as the .NET
 * worker's OAuth client sends it (research/anchor-backer.md §6.3). It identifies itself with its
 * own User-Agent, so the stand-in tells its requests from rclone's.
 */

export const DRIVER_USER_AGENT = 'bench-baseline-driver';

/** The tokens a driver holds for one OAuth storage. */
export interface HeldToken {
  accessToken: string;
  refreshToken: string | null;
  expiresAt: Date;
}

export class TokenRefreshError extends Error {
  constructor(
    message: string,
    /** The OAuth `error` answered, e.g. `invalid_grant`; undefined for a transport failure. */
    readonly oauthError: string | undefined,
  ) {
    super(message);
    this.name = 'TokenRefreshError';
  }
}

export async function refreshToken(tokenUrl: string, client: { id: string; secret: string }, refresh: string): Promise<HeldToken> {
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': DRIVER_USER_AGENT },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: client.id, client_secret: client.secret }),
  });
  const body = (await response.json().catch(() => ({}))) as { access_token?: string; refresh_token?: string; expires_in?: number; error?: string };
  if (!response.ok || typeof body.access_token !== 'string') {
    throw new TokenRefreshError(`token endpoint answered ${response.status} ${body.error ?? ''}`.trim(), body.error);
  }
  return {
    accessToken: body.access_token,
    // Keep the old refresh token when the answer has none (a `keep` provider).
    refreshToken: body.refresh_token ?? refresh,
    expiresAt: new Date(Date.now() + (body.expires_in ?? 3600) * 1000),
  };
}
