/**
 * The Hannibal stand-in's REST contract, as the real hub has it (research/real-hannibal.md §3,
 * §6–§8): login and sessions, the current user, storages and their update semantics, unknown
 * routes, simulated outages.
 */
import { pbkdf2Sync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { HubPaths, type LoginResponse, type Storage } from '../../shared/hannibal.js';
import { HannibalStandin, type HannibalStandinOptions } from '../standins/hannibal/server.js';
import { HubTestClient, WORKER_ACCOUNT } from './hannibal-test-client.js';
import { SAMPLE_STORAGE, SAMPLE_USER_KEYS, shapeOf } from './hannibal-wire-samples.js';

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

  it('returns the whole Identity user of the session for id -1, password hash and stamps included, and 401 for any other id', async () => {
    const { client } = await startHub();
    await client.login();

    const reply = await client.request('GET', HubPaths.currentUser);

    expect(reply.status).toBe(200);
    const user = reply.body as Record<string, unknown>;
    expect(new Set(Object.keys(user))).toEqual(new Set(SAMPLE_USER_KEYS));
    expect(user).toMatchObject({ lazyLoader: {}, userName: WORKER_ACCOUNT.email, email: WORKER_ACCOUNT.email, emailConfirmed: false, id: expect.any(String) as unknown });
    expect(user.securityStamp).toMatch(/^[A-Z2-7]{32}$/);
    expect(user.concurrencyStamp).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(user)).not.toContain(WORKER_ACCOUNT.password);
    // An ASP.NET Identity v3 hash: 0x01, PRF, iterations, salt length, salt, PBKDF2 subkey.
    const hash = Buffer.from(user.passwordHash as string, 'base64');
    expect(hash[0]).toBe(1);
    const iterations = hash.readUInt32BE(5);
    const salt = hash.subarray(13, 13 + hash.readUInt32BE(9));
    expect(hash.subarray(13 + salt.length)).toEqual(pbkdf2Sync(WORKER_ACCOUNT.password, salt, iterations, 32, 'sha256'));

    expect(await client.request('GET', '/api/hannibal/v1/users/7')).toEqual({ status: 401, body: undefined });
  });

  it('lets a user added later log in with its own id', async () => {
    const { hub, client } = await startHub();
    const added = hub.addUser({ email: 'bob@example.test', password: 'bob-password-1' });
    expect(() => hub.addUser({ email: 'BOB@example.test', password: 'x' })).toThrow(/exists/);

    await client.login('bob@example.test', 'bob-password-1');

    expect((await client.request('GET', HubPaths.currentUser)).body).toMatchObject({ id: added.id, email: 'bob@example.test' });
    expect(added.id).not.toBe(hub.users()[0]?.id);
  });
});

describe('storages', () => {
  it('lists every user’s storages with their secrets, without lazyLoader, with the hub’s defaults for members not given', async () => {
    const { hub, client } = await startHub();
    const added = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at-1', refreshToken: 'rt-1', clientSecret: 'cs' });
    const local = hub.addStorage({ technology: 'local', uriSchema: 'lablocal' });
    const others = hub.addStorage({ technology: 'local', uriSchema: 'theirs', userId: hub.addUser({ email: 'o@example.test', password: 'o-password-1' }).id });
    await client.login();

    const reply = await client.request('GET', HubPaths.storages);

    expect(reply.status).toBe(200);
    expect(reply.body).toEqual([added, local, others]);
    expect(added).toMatchObject({ id: 1, technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at-1', networks: '', isActive: true });
    // As POST /storages leaves them (§3): "" for strings, expiresAt = creation, port null, active.
    expect(shapeOf(local)).toEqual(shapeOf(SAMPLE_STORAGE));
    expect(local).toMatchObject({ clientId: '', accessToken: '', username: '', host: '', port: null, expiresAt: local.createdAt });
  });

  it('saves a PUT, answers the saved storage with lazyLoader and records whether it broadcast', async () => {
    const { hub, client } = await startHub();
    const storage = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at-1', refreshToken: 'rt-1' });
    await client.login();

    const unchanged = await client.request('PUT', HubPaths.storage(storage.id), storage);
    const rotated = await client.request('PUT', HubPaths.storage(storage.id), { ...storage, accessToken: 'at-2' });

    expect(unchanged.status).toBe(200);
    expect(rotated.status).toBe(200);
    expect(Object.keys(rotated.body as object)[0]).toBe('lazyLoader');
    expect(rotated.body).toEqual({ lazyLoader: {}, ...storage, accessToken: 'at-2' });
    expect(hub.getStorage(storage.id)?.accessToken).toBe('at-2');
    expect(hub.storagePuts.map(({ id, broadcast }) => ({ id, broadcast }))).toEqual([
      { id: storage.id, broadcast: false },
      { id: storage.id, broadcast: true },
    ]);
    expect(hub.storagePuts[1]?.body.accessToken).toBe('at-2');
  });

  it('neither copies isActive nor sets updatedAt on a PUT (F8)', async () => {
    const { hub, client } = await startHub();
    const storage = hub.addStorage({ technology: 'gcs', uriSchema: 'gcs1', accessToken: 'at-1' });
    await client.login();
    await new Promise((resolve) => setTimeout(resolve, 5));

    const reply = await client.request('PUT', HubPaths.storage(storage.id), { ...storage, accessToken: 'at-2', isActive: false, updatedAt: new Date().toISOString() });
    hub.updateStorage(storage.id, { isActive: false, password: 'p' });

    expect(reply.body).toMatchObject({ accessToken: 'at-2', isActive: true, updatedAt: storage.updatedAt });
    expect(hub.getStorage(storage.id)).toMatchObject({ isActive: true, updatedAt: storage.updatedAt, createdAt: storage.createdAt, password: 'p' });
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
