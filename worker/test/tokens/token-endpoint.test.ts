import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer, listen, readBody, sendJson, sendText } from '../../../scripts/standins/http-util.js';
import { HttpTokenEndpoint, type RefreshRequest } from '../../src/tokens/token-endpoint.js';

/** What the local token endpoint received. */
interface Received {
  method: string | undefined;
  path: string | undefined;
  contentType: string | undefined;
  accept: string | undefined;
  authorization: string | undefined;
  form: Record<string, string>;
}

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => closeServer(s)));
});

/** A token endpoint on 127.0.0.1 that records each request and answers with `answer`. */
async function tokenServer(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const { server, url } = await listen(async (req, res) => {
    const body = (await readBody(req)).toString('utf8');
    received.push({
      method: req.method,
      path: req.url,
      contentType: req.headers['content-type'],
      accept: req.headers.accept,
      authorization: req.headers.authorization,
      form: Object.fromEntries(new URLSearchParams(body)),
    });
    answer(req, res);
  });
  servers.push(server);
  return { url: `${url}/consumers/oauth2/v2.0/token`, received };
}

const REQUEST: Omit<RefreshRequest, 'tokenUrl'> = {
  refreshToken: 'M.C544_BAY.0.U.-CkqT6lmXwzF9vRb3nJpLe8QdY1tHs5uKo7!Wz2aXc4V+b/N=m',
  clientId: 'b15665d9-eda6-4092-8539-0eec376afd59',
  clientSecret: 'Qx58Q~fake.client.secret_for+tests/only=',
  scope: 'offline_access Files.ReadWrite User.Read',
};

describe('HttpTokenEndpoint', () => {
  it('posts a refresh_token grant with the client credentials and scope in the form body', async () => {
    const { url, received } = await tokenServer((_req, res) => {
      sendJson(res, 200, { token_type: 'Bearer', expires_in: 3600, access_token: 'EwBwA8l6-new', refresh_token: 'M.C544_BAY.rotated' });
    });
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 5_000 });

    const outcome = await endpoint.refresh({ tokenUrl: url, ...REQUEST });

    expect(outcome).toEqual({ ok: true, accessToken: 'EwBwA8l6-new', tokenType: 'Bearer', expiresIn: 3600, refreshToken: 'M.C544_BAY.rotated' });
    expect(received).toHaveLength(1);
    expect(received[0]).toEqual({
      method: 'POST',
      path: '/consumers/oauth2/v2.0/token',
      contentType: 'application/x-www-form-urlencoded',
      accept: 'application/json',
      authorization: undefined,
      form: {
        grant_type: 'refresh_token',
        refresh_token: REQUEST.refreshToken,
        client_id: REQUEST.clientId,
        client_secret: REQUEST.clientSecret,
        scope: REQUEST.scope,
      },
    });
  });

  it('leaves out the client secret and scope when there are none (public client, Google, Dropbox)', async () => {
    const { url, received } = await tokenServer((_req, res) => {
      sendJson(res, 200, { access_token: 'sl.BxYz-new', token_type: 'bearer', expires_in: 14400 });
    });
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 5_000 });

    const outcome = await endpoint.refresh({ tokenUrl: url, ...REQUEST, clientSecret: undefined, scope: undefined });

    expect(outcome).toMatchObject({ ok: true, accessToken: 'sl.BxYz-new', refreshToken: undefined, expiresIn: 14400 });
    expect(received[0]?.form).toEqual({ grant_type: 'refresh_token', refresh_token: REQUEST.refreshToken, client_id: REQUEST.clientId });
  });

  it('passes Retry-After through to the classification', async () => {
    const { url } = await tokenServer((_req, res) => {
      sendJson(res, 429, { error: 'temporarily_unavailable' }, { 'retry-after': '7' });
    });
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 5_000 });

    const outcome = await endpoint.refresh({ tokenUrl: url, ...REQUEST });

    expect(outcome).toMatchObject({ ok: false, permanent: false, category: 'transient', httpStatus: 429, retryAfterSeconds: 7 });
  });

  it('classifies an invalid_grant answer as permanent', async () => {
    const { url } = await tokenServer((_req, res) => {
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    });
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 5_000 });

    const outcome = await endpoint.refresh({ tokenUrl: url, ...REQUEST });

    expect(outcome).toMatchObject({ ok: false, permanent: true, category: 'reauth', oauthError: 'invalid_grant', httpStatus: 400 });
  });

  it('classifies an HTML 503 as transient', async () => {
    const { url } = await tokenServer((_req, res) => {
      sendText(res, 503, '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>', { 'content-type': 'text/html' });
    });
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 5_000 });

    const outcome = await endpoint.refresh({ tokenUrl: url, ...REQUEST });

    expect(outcome).toMatchObject({ ok: false, permanent: false, category: 'transient', httpStatus: 503, oauthError: undefined });
  });

  it('gives up on a server that never answers and calls it transient', async () => {
    const { url, received } = await tokenServer(() => {
      // Never answer: the request stays open until the client gives up.
    });
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 300 });

    const outcome = await endpoint.refresh({ tokenUrl: url, ...REQUEST });

    expect(received).toHaveLength(1);
    expect(outcome).toMatchObject({ ok: false, permanent: false, category: 'transient', httpStatus: undefined, oauthError: undefined });
    if (!outcome.ok) expect(outcome.reason).toMatch(/^token endpoint unreachable: /);
  });

  it('gives up on a server that sends headers but stalls the body', async () => {
    const { url } = await tokenServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' });
      res.write('{"access_token":"EwBwA8l6-');
    });
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 300 });

    const outcome = await endpoint.refresh({ tokenUrl: url, ...REQUEST });

    expect(outcome).toMatchObject({ ok: false, permanent: false, category: 'transient', httpStatus: undefined });
  });

  it('stops when the caller aborts, as a transient failure', async () => {
    const { url, received } = await tokenServer(() => {
      // Never answer.
    });
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 60_000 });
    const controller = new AbortController();

    const pending = endpoint.refresh({ tokenUrl: url, ...REQUEST }, controller.signal);
    await expect.poll(() => received.length).toBe(1);
    controller.abort(new Error('worker shutting down'));

    await expect(pending).resolves.toMatchObject({ ok: false, permanent: false, category: 'transient' });
  });

  it('calls a refused connection transient', async () => {
    // Take a free port, then close the server so nothing listens there.
    const { server, port } = await listen(() => undefined);
    await closeServer(server);
    const endpoint = new HttpTokenEndpoint({ timeoutMs: 5_000 });

    const outcome = await endpoint.refresh({ tokenUrl: `http://127.0.0.1:${port}/token`, ...REQUEST });

    expect(outcome).toMatchObject({ ok: false, permanent: false, category: 'transient', httpStatus: undefined });
    if (!outcome.ok) expect(outcome.reason).toContain('ECONNREFUSED');
  });
});
