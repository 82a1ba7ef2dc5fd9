/**
 * The Hannibal stand-in's REST contract: login and sessions, the current user, storages and
 * their update semantics, unknown routes, simulated outages.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HubPaths, type LoginResponse, type Storage } from '../../shared/hannibal.js';
import { HannibalStandin, type HannibalStandinOptions } from '../standins/hannibal/server.js';
import { HubTestClient, WORKER_ACCOUNT } from './hannibal-test-client.js';

let standin: HannibalStandin | undefined;

async function startHub(options: HannibalStandinOptions = {}): Promise<{ hub: HannibalStandin; client: HubTestClient }> {
  standin = await HannibalStandin.start(options);
  return { hub: standin, client: new HubTestClient(standin.url) };
}

afterEach(async () => {
  await standin?.close();
  standin = undefined;
});

describe('login and sessions', () => {
  it('issues a bearer token for valid credentials and records every attempt', async () => {
    const { hub, client } = await startHub();

    expect((await client.login(WORKER_ACCOUNT.email, 'wrong')).status).toBe(401);
    const reply = await client.login();

    expect(reply.status).toBe(200);
    const session = reply.body as LoginResponse;
    expect(session).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600, refreshToken: '' });
    expect(session.accessToken.length).toBeGreaterThan(20);
    expect(hub.logins.map(({ email, ok }) => ({ email, ok }))).toEqual([
      { email: WORKER_ACCOUNT.email, ok: false },
      { email: WORKER_ACCOUNT.email, ok: true },
    ]);
  });

  it('accepts a camelCase login body too', async () => {
    const { client } = await startHub({ users: [{ email: 'ops@example.test', password: 'pw' }] });

    const reply = await client.request('POST', HubPaths.login, { email: 'ops@example.test', password: 'pw' });

    expect(reply.status).toBe(200);
  });

  it('answers 401 with an empty body without a token, with an unknown token, and for the wrong scheme', async () => {
    const { hub, client } = await startHub();

    expect(await client.request('GET', HubPaths.storages)).toEqual({ status: 401, body: undefined });
    client.token = 'not-a-session';
    expect((await client.request('GET', HubPaths.storages)).status).toBe(401);
    const basic = await fetch(`${hub.url}${HubPaths.storages}`, {
      headers: { authorization: 'Basic d29ya2VyOnB3' },
    });
    expect(basic.status).toBe(401);
  });

  it('rejects a token once its session has expired, and a new login works again', async () => {
    const { client } = await startHub({ sessionTtlSeconds: 0.3 });
    await client.login();
    expect((await client.request('GET', HubPaths.currentUser)).status).toBe(200);

    await expect.poll(async () => (await client.request('GET', HubPaths.currentUser)).status, { timeout: 5000, interval: 100 }).toBe(401);

    await client.login();
    expect((await client.request('GET', HubPaths.currentUser)).status).toBe(200);
  });

  it('returns the logged-in user as an Identity user without a password hash', async () => {
    const { client } = await startHub();
    await client.login();

    const reply = await client.request('GET', HubPaths.currentUser);

    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ userName: WORKER_ACCOUNT.email, email: WORKER_ACCOUNT.email, id: expect.any(String) as unknown });
    expect(JSON.stringify(reply.body)).not.toContain(WORKER_ACCOUNT.password);
  });
});

describe('storages', () => {
  it('lists every storage with its secrets', async () => {
    const { hub, client } = await startHub();
    const added = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at-1', refreshToken: 'rt-1', clientSecret: 'cs' });
    await client.login();

    const reply = await client.request('GET', HubPaths.storages);

    expect(reply.status).toBe(200);
    expect(reply.body).toEqual([added]);
    expect(added).toMatchObject({ id: 1, technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at-1', networks: '', isActive: true });
  });

  it('saves a PUT, answers the saved storage and records whether it broadcast', async () => {
    const { hub, client } = await startHub();
    const storage = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at-1', refreshToken: 'rt-1' });
    await client.login();

    const unchanged = await client.request('PUT', HubPaths.storage(storage.id), storage);
    const rotated = await client.request('PUT', HubPaths.storage(storage.id), { ...storage, accessToken: 'at-2' });

    expect(unchanged.status).toBe(200);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ id: storage.id, accessToken: 'at-2', refreshToken: 'rt-1' });
    expect(hub.getStorage(storage.id)?.accessToken).toBe('at-2');
    expect(hub.storagePuts.map(({ id, broadcast }) => ({ id, broadcast }))).toEqual([
      { id: storage.id, broadcast: false },
      { id: storage.id, broadcast: true },
    ]);
    expect(hub.storagePuts[1]?.body.accessToken).toBe('at-2');
  });

  it('counts a token change from null to empty as no change, and a cleared token or a new password as a change', async () => {
    const { hub, client } = await startHub();
    const storage = hub.addStorage({ technology: 'smb', uriSchema: 'smb1', host: 'nas', username: 'u', password: 'p', port: 445 });
    await client.login();

    await client.request('PUT', HubPaths.storage(storage.id), { ...storage, accessToken: '', refreshToken: '' });
    await client.request('PUT', HubPaths.storage(storage.id), { ...storage, password: 'p2' });
    await client.request('PUT', HubPaths.storage(storage.id), { ...storage, password: 'p2', port: 1445 });
    const withToken = hub.updateStorage(storage.id, { refreshToken: 'rt' });
    await client.request('PUT', HubPaths.storage(storage.id), { ...withToken, refreshToken: null });

    expect(hub.storagePuts.map((put) => put.broadcast)).toEqual([false, true, true, true]);
  });

  it('treats members missing from a PUT body as null, as Hannibal binds the whole body', async () => {
    const { hub, client } = await startHub();
    const storage = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at', refreshToken: 'rt' });
    await client.login();

    const { refreshToken: _dropped, ...withoutRefreshToken } = storage;
    const reply = await client.request('PUT', HubPaths.storage(storage.id), withoutRefreshToken);

    expect((reply.body as Storage).refreshToken).toBeNull();
    expect(hub.storagePuts[0]?.broadcast).toBe(true);
  });

  it('answers 404 for an unknown id and 500 when the body changes the user, saving nothing', async () => {
    const { hub, client } = await startHub();
    const storage = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at-1' });
    await client.login();

    expect((await client.request('PUT', HubPaths.storage(99), storage)).status).toBe(404);
    expect((await client.request('PUT', HubPaths.storage(storage.id), { ...storage, userId: 'someone-else', accessToken: 'x' })).status).toBe(500);
    expect((await client.request('PUT', HubPaths.storage(storage.id), { id: storage.id })).status).toBe(400);

    expect(hub.getStorage(storage.id)).toEqual(storage);
    expect(hub.storagePuts).toEqual([]);
    expect(() => hub.updateStorage(99, {})).toThrow(/not found/);
  });
});

describe('routing and outages', () => {
  it('answers 404 for unknown routes and 405 for a known path with the wrong method', async () => {
    const { client } = await startHub();
    await client.login();

    expect((await client.request('GET', '/api/hannibal/v1/nothing')).status).toBe(404);
    expect((await client.request('GET', HubPaths.acquireNextJob)).status).toBe(405);
  });

  it('answers the outage status to every request until restored', async () => {
    const { hub, client } = await startHub();
    await client.login();

    hub.setRestOutage({ status: 503 });
    expect((await client.request('GET', HubPaths.storages)).status).toBe(503);
    expect((await client.login()).status).toBe(503);

    hub.setRestOutage(null);
    expect((await client.request('GET', HubPaths.storages)).status).toBe(200);
  });

  it('drops connections in reset mode', async () => {
    const { hub, client } = await startHub();
    hub.setRestOutage('reset');

    await expect(client.login()).rejects.toThrow(/fetch failed/);

    hub.setRestOutage(null);
    expect((await client.login()).status).toBe(200);
  });
});
