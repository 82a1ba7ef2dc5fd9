/**
 * The stand-in's OAuth2 token endpoint, driven with plain fetch: refresh, rotation, Google's
 * error bodies, client authentication, injected faults, and the accounting of every call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { DEFAULT_CLIENT, GcsStandin, type GcsStandinOptions } from '../standins/gcs/server.js';

let standin: GcsStandin | undefined;

afterEach(async () => {
  await standin?.close();
  standin = undefined;
});

async function start(options: GcsStandinOptions = {}): Promise<GcsStandin> {
  standin = await GcsStandin.start(options);
  standin.createBucket('bkt');
  return standin;
}

function refreshForm(refreshToken: string, client: { clientId: string; clientSecret: string } | null = DEFAULT_CLIENT): URLSearchParams {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
  if (client) {
    form.set('client_id', client.clientId);
    form.set('client_secret', client.clientSecret);
  }
  return form;
}

function postToken(server: GcsStandin, form: URLSearchParams, init: RequestInit = {}): Promise<Response> {
  return fetch(server.tokenUrl, { method: 'POST', body: form, ...init });
}

function getBucket(server: GcsStandin, accessToken: string): Promise<Response> {
  return fetch(`${server.apiEndpoint}b/bkt`, { headers: { authorization: `Bearer ${accessToken}` } });
}

describe('token endpoint', () => {
  it('refreshes: a new access token the API accepts, Google-shaped, no refresh_token when not rotating', async () => {
    const server = await start({ tokenLifetimeSeconds: 120 });
    const grant = server.issueGrant();
    const before = Date.now();

    const response = await postToken(server, refreshForm(grant.refreshToken));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toContain('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({ access_token: expect.any(String) as unknown, expires_in: 120, scope: expect.any(String) as unknown, token_type: 'Bearer' });
    expect(body.access_token).not.toBe(grant.accessToken);
    expect((await getBucket(server, body.access_token as string)).status).toBe(200);
    expect(server.stats).toMatchObject({ tokenRequests: 1, tokenRequestsByRclone: 0, tokenSuccesses: 1, tokenFailures: 0 });
    expect(server.tokenLog).toEqual([
      {
        at: expect.any(Number) as unknown,
        userAgent: expect.any(String) as unknown,
        grantType: 'refresh_token',
        clientId: DEFAULT_CLIENT.clientId,
        status: 200,
        error: undefined,
        refreshTokenFingerprint: fingerprint(grant.refreshToken),
        grantId: grant.grantId,
        generation: 1,
        latestGeneration: 1,
        issuedGeneration: undefined,
      },
    ]);
    expect(server.tokenLog[0]!.at).toBeGreaterThanOrEqual(before);
    // The same refresh token keeps working when tokens do not rotate.
    expect((await postToken(server, refreshForm(grant.refreshToken))).status).toBe(200);
  });

  it('accepts client credentials by HTTP Basic (form-encoded, then base64)', async () => {
    const client = { clientId: 'app id+1', clientSecret: 's3cr:t/&' };
    const server = await start({ clients: [client] });
    const grant = server.issueGrant();
    const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64');

    const response = await postToken(server, refreshForm(grant.refreshToken, null), { headers: { authorization: `Basic ${basic}` } });
    expect(response.status).toBe(200);
    expect(server.tokenLog[0]?.clientId).toBe(client.clientId);
  });

  it('rotates refresh tokens when asked: the old one becomes invalid_grant, the new one works', async () => {
    const server = await start({ rotateRefreshTokens: true });
    const grant = server.issueGrant();

    const first = (await (await postToken(server, refreshForm(grant.refreshToken))).json()) as { refresh_token?: string };
    expect(first.refresh_token).toEqual(expect.any(String));
    expect(first.refresh_token).not.toBe(grant.refreshToken);

    const reuse = await postToken(server, refreshForm(grant.refreshToken));
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    expect((await postToken(server, refreshForm(first.refresh_token!))).status).toBe(200);
    expect(server.stats).toMatchObject({ tokenRequests: 3, tokenSuccesses: 2, tokenFailures: 1 });
  });

  it('answers invalid_grant with Google body after revocation; issued access tokens stay valid', async () => {
    const server = await start();
    const grant = server.issueGrant();
    server.revokeRefreshToken(grant.refreshToken);

    const response = await postToken(server, refreshForm(grant.refreshToken));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    expect((await getBucket(server, grant.accessToken)).status).toBe(200);
    expect(server.tokenLog.map((entry) => entry.status)).toEqual([400]);
  });

  it('answers 401 invalid_client for an unknown client or a wrong secret', async () => {
    const server = await start();
    const grant = server.issueGrant();

    const unknown = await postToken(server, refreshForm(grant.refreshToken, { clientId: 'nobody', clientSecret: 'x' }));
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ error: 'invalid_client' });
    const wrongSecret = await postToken(server, refreshForm(grant.refreshToken, { clientId: DEFAULT_CLIENT.clientId, clientSecret: 'wrong' }));
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toMatchObject({ error: 'invalid_client' });
    expect(server.stats).toMatchObject({ tokenRequests: 2, tokenSuccesses: 0, tokenFailures: 2 });
  });

  it('refuses a refresh token presented by another client, other grant types and a missing token', async () => {
    const other = { clientId: 'other-client', clientSecret: 'other-secret' };
    const server = await start({ clients: [DEFAULT_CLIENT, other] });
    const grant = server.issueGrant();

    const wrongClient = await postToken(server, refreshForm(grant.refreshToken, other));
    expect(wrongClient.status).toBe(401);
    expect(await wrongClient.json()).toMatchObject({ error: 'unauthorized_client' });
    const form = refreshForm(grant.refreshToken);
    form.set('grant_type', 'password');
    const otherGrant = await postToken(server, form);
    expect(otherGrant.status).toBe(400);
    expect(await otherGrant.json()).toMatchObject({ error: 'unsupported_grant_type' });
    form.set('grant_type', 'refresh_token');
    form.delete('refresh_token');
    const missing = await postToken(server, form);
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('injects a 503 with Retry-After, and a 502 HTML page, until the fault is cleared', async () => {
    const server = await start();
    const grant = server.issueGrant();

    server.setTokenEndpointFault({ kind: 'status', status: 503, retryAfterSeconds: 7 });
    const unavailable = await postToken(server, refreshForm(grant.refreshToken));
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get('retry-after')).toBe('7');
    expect(await unavailable.json()).toMatchObject({ error: expect.any(String) as unknown });

    server.setTokenEndpointFault({ kind: 'status', status: 502, body: '<html><body>Bad Gateway</body></html>', contentType: 'text/html' });
    const badGateway = await postToken(server, refreshForm(grant.refreshToken));
    expect(badGateway.status).toBe(502);
    expect(badGateway.headers.get('content-type')).toBe('text/html');
    expect(await badGateway.text()).toContain('Bad Gateway');

    server.setTokenEndpointFault(null);
    expect((await postToken(server, refreshForm(grant.refreshToken))).status).toBe(200);
    expect(server.tokenLog.map((entry) => entry.status)).toEqual([503, 502, 200]);
    expect(server.stats).toMatchObject({ tokenRequests: 3, tokenSuccesses: 1, tokenFailures: 2 });
  });

  it('resets the connection on a reset fault', async () => {
    const server = await start();
    const grant = server.issueGrant();
    server.setTokenEndpointFault({ kind: 'reset' });

    await expect(postToken(server, refreshForm(grant.refreshToken))).rejects.toThrow();
    expect(server.tokenLog.map((entry) => entry.status)).toEqual([0]);
    expect(server.stats).toMatchObject({ tokenRequests: 1, tokenSuccesses: 0, tokenFailures: 1 });
  });

  it('holds requests on a timeout fault: a client that gives up is logged unanswered, a patient one is answered once cleared', async () => {
    const server = await start();
    const grant = server.issueGrant();
    server.setTokenEndpointFault({ kind: 'timeout' });

    const impatient = postToken(server, refreshForm(grant.refreshToken), { signal: AbortSignal.timeout(200) });
    await expect(impatient).rejects.toThrow();
    await expect.poll(() => server.tokenLog.map((entry) => entry.status)).toEqual([0]);

    const patient = postToken(server, refreshForm(grant.refreshToken));
    await expect.poll(() => server.stats.tokenRequests).toBe(2);
    expect(server.tokenLog).toHaveLength(1);
    server.setTokenEndpointFault(null);
    expect((await patient).status).toBe(200);
    expect(server.tokenLog.map((entry) => entry.status)).toEqual([0, 200]);
  });

  it('drops held requests when the server closes', async () => {
    const server = await start();
    const grant = server.issueGrant();
    server.setTokenEndpointFault({ kind: 'timeout' });

    const held = postToken(server, refreshForm(grant.refreshToken));
    await expect.poll(() => server.stats.tokenRequests).toBe(1);
    await server.close();
    standin = undefined;
    await expect(held).rejects.toThrow();
    expect(server.tokenLog.map((entry) => entry.status)).toEqual([0]);
  });
});
