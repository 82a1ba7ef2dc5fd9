/**
 * The shared provider OAuth module behind every stand-in, driven over HTTP with plain fetch:
 * each provider's rotation policy and generations, grant revocation (refresh and access tokens),
 * each provider's token-endpoint bodies (checked against the worker's own classifier, which was
 * written from captured real answers), the API-side 401 shapes, faults and the counters.
 */
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyTokenAnswer } from '../../worker/src/tokens/classify.js';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { closeServer, listen, sendJson } from '../standins/http-util.js';
import type { RotationPolicy } from '../standins/oauth/authority.js';
import type { ProviderName } from '../standins/oauth/dialects.js';
import { ProviderOAuth } from '../standins/oauth/provider-oauth.js';

const CLIENT = { clientId: 'app-client', clientSecret: 'app-secret' };
const OTHER = { clientId: 'other-client', clientSecret: 'other-secret' };

interface Harness {
  oauth: ProviderOAuth;
  tokenUrl: string;
  apiUrl: string;
  server: Server;
}

let harness: Harness | undefined;
afterEach(async () => {
  if (!harness) return;
  harness.oauth.close();
  await closeServer(harness.server);
  harness = undefined;
});

/** A minimal stand-in: the provider's token endpoint plus one API call behind the bearer check. */
async function start(provider: ProviderName, options: { rotation?: RotationPolicy; tokenLifetimeSeconds?: number } = {}): Promise<Harness> {
  const oauth = new ProviderOAuth({ provider, clients: [CLIENT, OTHER], ...options });
  const { server, url } = await listen(async (req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://x');
    if (oauth.isTokenRequest(pathname)) return oauth.handleTokenRequest(req, res);
    if (!oauth.authorize(req, res, 'api')) return;
    sendJson(res, 200, { ok: true });
  });
  harness = { oauth, server, tokenUrl: `${url}${oauth.tokenPath}`, apiUrl: `${url}/api` };
  return harness;
}

function refresh(h: Harness, refreshToken: string, client: { clientId: string; clientSecret: string } = CLIENT, userAgent = 'rclone-sync-worker'): Promise<Response> {
  return fetch(h.tokenUrl, {
    method: 'POST',
    headers: { 'user-agent': userAgent },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: client.clientId, client_secret: client.clientSecret }),
  });
}

async function refreshBody(h: Harness, refreshToken: string): Promise<Record<string, unknown>> {
  const response = await refresh(h, refreshToken);
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

function callApi(h: Harness, accessToken: string | undefined): Promise<Response> {
  return fetch(h.apiUrl, { headers: accessToken === undefined ? {} : { authorization: `Bearer ${accessToken}` } });
}

describe('rotation policies', () => {
  it('Microsoft: every refresh returns a new refresh token, old ones stay valid, generations tell the latest', async () => {
    const h = await start('microsoft', { tokenLifetimeSeconds: 90 });
    const grant = h.oauth.issueGrant();
    expect(grant.accessToken).toMatch(/^EwB/);

    const first = await refreshBody(h, grant.refreshToken);
    expect(first).toEqual({
      token_type: 'Bearer',
      scope: 'Files.ReadWrite User.Read',
      expires_in: 90,
      ext_expires_in: 90,
      access_token: expect.stringMatching(/^EwB/) as unknown,
      refresh_token: expect.stringMatching(/^M\.C5/) as unknown,
    });
    const second = await refreshBody(h, first.refresh_token as string);
    // The consent's refresh token (generation 1) still works, as at Microsoft, and is counted as stale.
    const third = await refreshBody(h, grant.refreshToken);

    expect(new Set([grant.refreshToken, first.refresh_token, second.refresh_token, third.refresh_token]).size).toBe(4);
    expect(h.oauth.latestRefreshToken(grant.grantId)).toBe(third.refresh_token);
    expect(h.oauth.refreshTokenInfo(second.refresh_token as string)).toEqual({ grantId: grant.grantId, clientId: CLIENT.clientId, generation: 3, latestGeneration: 4, live: true });
    expect(h.oauth.tokenLog.map((e) => [e.generation, e.latestGeneration, e.issuedGeneration])).toEqual([
      [1, 1, 2],
      [2, 2, 3],
      [1, 3, 4],
    ]);
    expect(h.oauth.stats.staleGenerationRefreshes).toBe(1);
    expect(h.oauth.stats.tokenRequestsByGeneration).toEqual(
      new Map([
        [1, 2],
        [2, 1],
      ]),
    );
    for (const body of [first, second, third]) expect((await callApi(h, body.access_token as string)).status).toBe(200);
  });

  it('Google and Dropbox keep the refresh token: none in the answer, the same one keeps working', async () => {
    for (const provider of ['google', 'dropbox'] as const) {
      const h = await start(provider, { tokenLifetimeSeconds: 60 });
      const grant = h.oauth.issueGrant();
      const first = await refreshBody(h, grant.refreshToken);
      const second = await refreshBody(h, grant.refreshToken);
      expect(first.refresh_token).toBeUndefined();
      expect(second.access_token).not.toBe(first.access_token);
      expect(first).toEqual(
        provider === 'google'
          ? { access_token: expect.stringMatching(/^ya29\./) as unknown, expires_in: 60, scope: 'https://www.googleapis.com/auth/drive', token_type: 'Bearer' }
          : { access_token: expect.stringMatching(/^sl\./) as unknown, token_type: 'bearer', expires_in: 60 },
      );
      expect(h.oauth.tokenLog.map((e) => [e.generation, e.latestGeneration, e.issuedGeneration])).toEqual([
        [1, 1, undefined],
        [1, 1, undefined],
      ]);
      harness = undefined;
      h.oauth.close();
      await closeServer(h.server);
    }
  });

  it('rotate-strict: the presented refresh token dies at once (a lost rotation is a dead grant)', async () => {
    const h = await start('microsoft', { rotation: 'rotate-strict' });
    const grant = h.oauth.issueGrant();
    const first = await refreshBody(h, grant.refreshToken);

    const reuse = await refresh(h, grant.refreshToken);
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant', error_codes: [70000] });
    expect((await refresh(h, first.refresh_token as string)).status).toBe(200);
    expect(h.oauth.refreshTokenInfo(grant.refreshToken)?.live).toBe(false);
  });
});

describe('revocation of a grant family', () => {
  it.each(['microsoft', 'google', 'dropbox'] as const)('%s: every refresh token of the grant gets invalid_grant and its access tokens 401; other grants are untouched', async (provider) => {
    const h = await start(provider, { rotation: 'rotate' });
    const grant = h.oauth.issueGrant();
    const rotated = await refreshBody(h, grant.refreshToken);
    const bystander = h.oauth.issueGrant();

    h.oauth.revokeGrant(grant.grantId);

    for (const refreshToken of [grant.refreshToken, rotated.refresh_token as string]) {
      const answer = await refresh(h, refreshToken);
      expect(answer.status).toBe(400);
      const body = (await answer.json()) as Record<string, unknown>;
      expect(body.error).toBe('invalid_grant');
      if (provider === 'microsoft') expect(body).toMatchObject({ error_codes: [50173], error_description: expect.stringMatching(/^AADSTS50173: /) as unknown });
    }
    for (const accessToken of [grant.accessToken, rotated.access_token as string]) expect((await callApi(h, accessToken)).status).toBe(401);
    expect((await callApi(h, bystander.accessToken)).status).toBe(200);
    expect((await refresh(h, bystander.refreshToken)).status).toBe(200);
    expect(h.oauth.stats.unauthorized).toBe(2);
    expect(h.oauth.stats.tokenResults).toEqual(
      new Map([
        ['ok', 2],
        ['invalid_grant', 2],
      ]),
    );
  });

  it('revokes by any token of the grant; a single revoked refresh token leaves the rest of its grant alive', async () => {
    const h = await start('microsoft');
    const grant = h.oauth.issueGrant();
    const rotated = await refreshBody(h, grant.refreshToken);

    h.oauth.revokeRefreshToken(grant.refreshToken);
    expect((await refresh(h, grant.refreshToken)).status).toBe(400);
    expect((await callApi(h, grant.accessToken)).status).toBe(200);
    expect((await refresh(h, rotated.refresh_token as string)).status).toBe(200);

    h.oauth.revokeGrant(rotated.access_token as string);
    expect((await refresh(h, h.oauth.latestRefreshToken(grant.grantId)!)).status).toBe(400);
  });

  it('counts, per access token, only the requests it was accepted for, with the first and last of them', async () => {
    const h = await start('google');
    const grant = h.oauth.issueGrant();
    const key = fingerprint(grant.accessToken);
    const before = Date.now();
    expect((await callApi(h, grant.accessToken)).status).toBe(200);
    expect((await callApi(h, grant.accessToken)).status).toBe(200);
    const revokedAt = Date.now();
    h.oauth.revokeGrant(grant.grantId);
    expect((await callApi(h, grant.accessToken)).status).toBe(401);

    const accepted = h.oauth.stats.acceptedByAccessToken.get(key);
    expect(accepted?.requests).toBe(2);
    expect(accepted?.firstAt).toBeGreaterThanOrEqual(before);
    expect(accepted?.lastAt).toBeLessThanOrEqual(revokedAt);
    expect(h.oauth.stats.requestsByAccessToken.get(key)).toBe(3);
    expect(h.oauth.stats.accessTokenLastSeen.get(key)).toBeGreaterThanOrEqual(revokedAt);
  });
});

describe('API-side 401 in each provider’s shape', () => {
  it('Microsoft Graph: InvalidAuthenticationToken, no expired_token in WWW-Authenticate', async () => {
    const h = await start('microsoft', { tokenLifetimeSeconds: 0 });
    const expired = h.oauth.issueGrant().accessToken;
    const answer = await callApi(h, expired);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).not.toContain('expired_token');
    expect(await answer.json()).toEqual({
      error: {
        code: 'InvalidAuthenticationToken',
        message: 'Access token has expired or is not yet valid.',
        innerError: { date: expect.any(String) as unknown, 'request-id': expect.any(String) as unknown, 'client-request-id': expect.any(String) as unknown },
      },
    });
    expect(((await (await callApi(h, undefined)).json()) as { error: { code: string } }).error.code).toBe('InvalidAuthenticationToken');
  });

  it('Google: UNAUTHENTICATED with reason authError', async () => {
    const h = await start('google');
    const answer = await callApi(h, 'ya29.never-issued');
    expect(answer.status).toBe(401);
    expect(await answer.json()).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED', errors: [{ reason: 'authError', domain: 'global' }] } });
  });

  it('Dropbox: expired_access_token once expired, invalid_access_token when revoked', async () => {
    const h = await start('dropbox', { tokenLifetimeSeconds: 0 });
    const grant = h.oauth.issueGrant();
    expect(await (await callApi(h, grant.accessToken)).json()).toEqual({ error_summary: 'expired_access_token/..', error: { '.tag': 'expired_access_token' } });
    h.oauth.setTokenLifetime(3600);
    const live = await refreshBody(h, grant.refreshToken);
    h.oauth.revokeAccessToken(live.access_token as string);
    expect(await (await callApi(h, live.access_token as string)).json()).toEqual({ error_summary: 'invalid_access_token/..', error: { '.tag': 'invalid_access_token' } });
  });

  it('counts API requests per access token and 401s by call and user agent', async () => {
    const h = await start('microsoft', { tokenLifetimeSeconds: 0 });
    const grant = h.oauth.issueGrant();
    await fetch(h.apiUrl, { headers: { authorization: `Bearer ${grant.accessToken}`, 'user-agent': 'rclone/v1.60.1-DEV' } });
    await callApi(h, grant.accessToken);
    expect(h.oauth.stats).toMatchObject({
      apiRequests: 2,
      unauthorized: 2,
      unauthorizedByCall: new Map([['api', 2]]),
      requestsByAccessToken: new Map([[fingerprint(grant.accessToken), 2]]),
    });
    expect(h.oauth.stats.unauthorizedByUserAgent.get('rclone/v1.60.1-DEV')).toBe(1);
  });
});

describe('token-endpoint errors, as the worker classifies them', () => {
  const cases = [
    { name: 'unknown client', expected: 'client-config', form: { client_id: 'nobody', client_secret: 'x' } },
    { name: 'wrong secret', expected: 'client-config', form: { client_secret: 'wrong' } },
    { name: 'unsupported grant type', expected: 'client-config', form: { grant_type: 'password' } },
    { name: 'missing refresh token', expected: 'client-config', form: { refresh_token: '' } },
    { name: 'never-issued refresh token', expected: 'reauth', form: { refresh_token: 'made-up' } },
    { name: 'refresh token of another client', expected: 'any-permanent', form: { client_id: OTHER.clientId, client_secret: OTHER.clientSecret } },
  ] as const;

  it.each((['microsoft', 'google', 'dropbox'] as const).flatMap((provider) => cases.map((c) => [provider, c.name, c] as const)))(
    '%s: %s',
    async (provider, _name, testCase) => {
      const h = await start(provider);
      const grant = h.oauth.issueGrant();
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret, ...testCase.form });
      const answer = await fetch(h.tokenUrl, { method: 'POST', body: form });
      const body = await answer.text();
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(JSON.parse(body)).toEqual(expect.objectContaining({ error: expect.any(String) as unknown, error_description: expect.any(String) as unknown }));
      if (provider === 'microsoft') expect(JSON.parse(body)).toMatchObject({ error_codes: [expect.any(Number)], trace_id: expect.any(String) as unknown });
      const outcome = classifyTokenAnswer({ status: answer.status, body });
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.permanent).toBe(true);
      if (testCase.expected !== 'any-permanent') expect(outcome.category).toBe(testCase.expected);
      expect(h.oauth.stats.tokenFailures).toBe(1);
    },
  );

  it('answers a non-POST with 405 without counting it as a token request', async () => {
    const h = await start('microsoft');
    const answer = await fetch(h.tokenUrl);
    expect(answer.status).toBe(405);
    expect(await answer.json()).toMatchObject({ error: 'invalid_request', error_codes: [900561] });
    expect(h.oauth.stats.tokenRequests).toBe(0);
  });

  it('serves Microsoft’s token endpoint for any tenant path', async () => {
    const h = await start('microsoft');
    expect(h.oauth.isTokenRequest('/common/oauth2/v2.0/token')).toBe(true);
    expect(h.oauth.isTokenRequest('/consumers/oauth2/v2.0/token')).toBe(true);
    expect(h.oauth.isTokenRequest('/v1.0/me/drive')).toBe(false);
  });
});

describe('faults and counters', () => {
  it('429 with Retry-After and a timeout, in any dialect; counted by result, user agent, client id', async () => {
    const h = await start('microsoft');
    const grant = h.oauth.issueGrant();
    h.oauth.setTokenEndpointFault({ kind: 'status', status: 429, retryAfterSeconds: 30 });
    const throttled = await refresh(h, grant.refreshToken, CLIENT, 'rclone/v1.60.1-DEV');
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('30');

    h.oauth.setTokenEndpointFault({ kind: 'timeout' });
    const held = refresh(h, grant.refreshToken);
    await expect.poll(() => h.oauth.stats.tokenRequests).toBe(2);
    h.oauth.setTokenEndpointFault(null);
    expect((await held).status).toBe(200);

    expect(h.oauth.stats).toMatchObject({
      tokenRequests: 2,
      tokenRequestsByRclone: 1,
      tokenSuccesses: 1,
      tokenFailures: 1,
      tokenResults: new Map([
        ['fault:429', 1],
        ['ok', 1],
      ]),
      tokenRequestsByUserAgent: new Map([
        ['rclone/v1.60.1-DEV', 1],
        ['rclone-sync-worker', 1],
      ]),
      tokenRequestsByClientId: new Map([[CLIENT.clientId, 2]]),
    });
    expect(h.oauth.tokenLog.map((e) => [e.status, e.error, e.refreshTokenFingerprint])).toEqual([
      [429, undefined, fingerprint(grant.refreshToken)],
      [200, undefined, fingerprint(grant.refreshToken)],
    ]);
  });

  it('lists every issued token and the client secrets as secrets', async () => {
    const h = await start('microsoft');
    const grant = h.oauth.issueGrant();
    const rotated = await refreshBody(h, grant.refreshToken);
    expect(new Set(h.oauth.issuedSecrets())).toEqual(
      new Set([grant.accessToken, grant.refreshToken, rotated.access_token, rotated.refresh_token, CLIENT.clientSecret, OTHER.clientSecret]),
    );
  });
});
