/**
 * HubClient against a scripted hub on 127.0.0.1 (plain node:http, real sockets): the login
 * contract, bearer auth, the single re-login on 401, error classification, and that the
 * password never reaches an error or a log line.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HubPaths, JobState, type Job } from '../../../shared/hannibal.js';
import { bearerToken, closeServer, listen, readBody, sendJson, sendText } from '../../../scripts/standins/http-util.js';
import { HubAuthError, HubError } from '../../src/errors.js';
import { HubClient } from '../../src/hub/rest-client.js';
import { createLogger } from '../../src/log/logger.js';
import { deferred } from '../util/deferred.js';

const USER = 'worker@example.test';
const PASSWORD = 'Hub-Pa55word-never-shown';

interface Received {
  method: string;
  path: string;
  token: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

type Respond = (req: Received, res: ServerResponse) => void | Promise<void>;

const servers: { close: () => Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A hub whose every answer is decided by `respond`; it records each request first. */
async function scriptedHub(respond: Respond): Promise<{ url: string; received: Received[]; logins: () => number }> {
  const received: Received[] = [];
  const { server, url } = await listen(async (req, res) => {
    const text = (await readBody(req)).toString('utf8');
    const entry: Received = {
      method: req.method ?? '',
      path: new URL(req.url ?? '/', 'http://127.0.0.1').pathname,
      token: bearerToken(req),
      contentType: req.headers['content-type'],
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
    };
    received.push(entry);
    await respond(entry, res);
  });
  servers.push({ close: () => closeServer(server) });
  return { url, received, logins: () => received.filter((r) => r.path === HubPaths.login).length };
}

/** Answers every request with `status` and a JSON body. */
function json(status: number, body: unknown): Respond {
  return (_req, res) => {
    sendJson(res, status, body);
  };
}

/** Answers every request with `status` and a text body. */
function text(status: number, body: string): Respond {
  return (_req, res) => {
    sendText(res, status, body);
  };
}

function answerLogin(res: ServerResponse, token: string): void {
  sendJson(res, 200, { tokenType: 'Bearer', accessToken: token, expiresIn: 3600, refreshToken: 'hub-refresh' });
}

/** Logs in with sequential tokens `jwt-1`, `jwt-2`, …; `api` answers every other request. */
function issuingTokens(api: (req: Received, res: ServerResponse) => void | Promise<void>): Respond {
  let issued = 0;
  return (req, res) => {
    if (req.path === HubPaths.login) answerLogin(res, `jwt-${++issued}`);
    else return api(req, res);
  };
}

interface Captured {
  client: HubClient;
  logs: string[];
}

function client(baseUrl: string, options: { timeoutMs?: number } = {}): Captured {
  const logs: string[] = [];
  const logger = createLogger({ level: 'trace', format: 'json' }, { write: (line: string) => logs.push(line) });
  return { client: new HubClient({ baseUrl, username: USER, password: PASSWORD, logger, ...options }), logs };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('login and bearer auth', () => {
  it('logs in once with the PascalCase body and sends the token as a Bearer header', async () => {
    const hub = await scriptedHub(issuingTokens(json(200, [{ id: 1, technology: 'local', uriSchema: 'a' }])));
    const { client: c } = client(hub.url);

    await expect(c.storages()).resolves.toEqual([{ id: 1, technology: 'local', uriSchema: 'a' }]);
    await c.storages();

    expect(hub.received.map((r) => [r.method, r.path, r.token])).toEqual([
      ['POST', HubPaths.login, undefined],
      ['GET', HubPaths.storages, 'jwt-1'],
      ['GET', HubPaths.storages, 'jwt-1'],
    ]);
    const login = hub.received[0]!;
    expect(login.contentType).toBe('application/json');
    expect(login.body).toStrictEqual({ Email: USER, Password: PASSWORD, TwoFactorCode: null, TwoFactorRecoveryCode: null });
  });

  it('shares one login among concurrent first requests', async () => {
    const hub = await scriptedHub(issuingTokens(json(200, [])));
    const { client: c } = client(hub.url);
    await Promise.all([c.storages(), c.storages(), c.storages()]);
    expect(hub.logins()).toBe(1);
    expect(hub.received.filter((r) => r.path === HubPaths.storages).map((r) => r.token)).toEqual(['jwt-1', 'jwt-1', 'jwt-1']);
  });

  it('on a 401 logs in again and retries the request once', async () => {
    const hub = await scriptedHub(
      issuingTokens((req, res) => {
        if (req.token === 'jwt-2') sendJson(res, 200, []);
        else sendText(res, 401, '');
      }),
    );
    const { client: c } = client(hub.url);
    await expect(c.storages()).resolves.toEqual([]);
    expect(hub.received.map((r) => [r.path, r.token])).toEqual([
      [HubPaths.login, undefined],
      [HubPaths.storages, 'jwt-1'],
      [HubPaths.login, undefined],
      [HubPaths.storages, 'jwt-2'],
    ]);
  });

  it('returns a second 401 as a permanent HubError instead of looping', async () => {
    const hub = await scriptedHub(issuingTokens(text(401, '')));
    const { client: c } = client(hub.url);
    const err = await failure(c.storages());
    expect(err).toBeInstanceOf(HubError);
    expect(err).toMatchObject({ status: 401, permanent: true, code: 'WORKER_ERR_HUB' });
    expect(hub.received.map((r) => r.path)).toEqual([HubPaths.login, HubPaths.storages, HubPaths.login, HubPaths.storages]);
  });

  it('shares the re-login when concurrent requests are refused with the same expired token', async () => {
    // Both requests carry jwt-1 and get a 401; the second 401 arrives only after the first
    // request has logged in again (jwt-2) and retried, so it must use jwt-2 rather than log in.
    const held: ServerResponse[] = [];
    const bothHeld = deferred();
    const hub = await scriptedHub(
      issuingTokens(async (req, res) => {
        if (req.token !== 'jwt-1' || req.path === HubPaths.currentUser) {
          // A request with a fresh token: the other refused request may answer now (once).
          const second = held.splice(1, 1)[0];
          if (second) sendText(second, 401, '');
          sendJson(res, 200, []);
          return;
        }
        held.push(res);
        if (held.length === 2) bothHeld.resolve();
        await bothHeld.promise;
        if (res === held[0]) sendText(res, 401, '');
      }),
    );
    const { client: c } = client(hub.url);
    await c.checkOnline().catch(() => undefined);
    expect(hub.logins()).toBe(1);

    await expect(Promise.all([c.storages(), c.storages()])).resolves.toEqual([[], []]);
    expect(hub.logins()).toBe(2);
    expect(hub.received.filter((r) => r.path === HubPaths.storages).map((r) => r.token)).toEqual(['jwt-1', 'jwt-1', 'jwt-2', 'jwt-2']);
  });

  it.each([401, 403])('turns a login answered %i into a permanent HubAuthError without retrying', async (status) => {
    const hub = await scriptedHub(text(status, ''));
    const { client: c } = client(hub.url);
    const err = await failure(c.acquireNextJob({ username: USER, capabilities: '', owner: 'w', networks: 'n' }));
    expect(err).toBeInstanceOf(HubAuthError);
    expect(err).toMatchObject({ code: 'WORKER_ERR_HUB_AUTH', permanent: true });
    expect((err as Error).message).toContain(USER);
    expect(hub.received.map((r) => r.path)).toEqual([HubPaths.login]);
  });

  it('treats a login answered 503 as transient, and one without accessToken as permanent', async () => {
    const down = await scriptedHub(text(503, 'maintenance'));
    expect(await failure(client(down.url).client.storages())).toMatchObject({ name: 'HubError', status: 503, permanent: false });

    const odd = await scriptedHub(json(200, { tokenType: 'Bearer' }));
    expect(await failure(client(odd.url).client.storages())).toMatchObject({ name: 'HubError', status: 200, permanent: true });
  });

  it('keeps a path prefix of the base URL and tolerates a trailing slash', async () => {
    const hub = await scriptedHub((req, res) => {
      if (req.path.endsWith(HubPaths.login)) answerLogin(res, 'jwt-1');
      else sendJson(res, 200, []);
    });
    await client(`${hub.url}/hub-api`).client.storages();
    expect(hub.received.map((r) => r.path)).toEqual([`/hub-api${HubPaths.login}`, `/hub-api${HubPaths.storages}`]);
    await client(`${hub.url}/`).client.storages();
    expect(hub.received.slice(2).map((r) => r.path)).toEqual([HubPaths.login, HubPaths.storages]);
  });
});

describe('jobs', () => {
  const params = { username: USER, capabilities: 'rclone', owner: 'host-1234abcd', networks: 'fe80::1' };

  it('acquireNextJob posts the params and answers null for a 404', async () => {
    const hub = await scriptedHub(issuingTokens(text(404, '')));
    await expect(client(hub.url).client.acquireNextJob(params)).resolves.toBeNull();
    const acquire = hub.received[1]!;
    expect([acquire.method, acquire.path, acquire.token]).toEqual(['POST', HubPaths.acquireNextJob, 'jwt-1']);
    expect(acquire.body).toStrictEqual(params);
  });

  it('acquireNextJob returns the job the hub hands out', async () => {
    const job: Job = { id: 7, operation: 2, owner: params.owner, state: JobState.Executing, sourceEndpointId: 1, destinationEndpointId: 2 };
    const hub = await scriptedHub(issuingTokens(json(200, job)));
    await expect(client(hub.url).client.acquireNextJob(params)).resolves.toEqual(job);
  });

  it('reportJob posts {jobId, owner, state} with an integer state, plus reason when given', async () => {
    const hub = await scriptedHub(issuingTokens(json(200, { status: 0 })));
    const { client: c } = client(hub.url);
    await expect(c.reportJob({ jobId: 7, owner: 'host-1234abcd', state: JobState.Executing })).resolves.toEqual({ status: 0 });
    await c.reportJob({ jobId: 7, owner: 'host-1234abcd', state: JobState.DoneFailure, reason: 'token revoked' });
    const reports = hub.received.filter((r) => r.path === HubPaths.reportJob);
    expect(reports.map((r) => [r.method, r.contentType])).toEqual([
      ['POST', 'application/json'],
      ['POST', 'application/json'],
    ]);
    expect(reports.map((r) => r.body)).toStrictEqual([
      { jobId: 7, owner: 'host-1234abcd', state: 2 },
      { jobId: 7, owner: 'host-1234abcd', state: 3, reason: 'token revoked' },
    ]);
  });
});

describe('error classification', () => {
  it.each([500, 502, 503, 504, 408, 429])('HTTP %i is a transient HubError', async (status) => {
    const hub = await scriptedHub(issuingTokens(text(status, 'busy')));
    const err = await failure(client(hub.url).client.reportJob({ jobId: 1, owner: 'o', state: JobState.Executing }));
    expect(err).toBeInstanceOf(HubError);
    expect(err).toMatchObject({ status, permanent: false, code: 'WORKER_ERR_HUB' });
  });

  it.each([400, 403, 404, 409, 422])('HTTP %i is a permanent HubError', async (status) => {
    const hub = await scriptedHub(issuingTokens(text(status, 'no')));
    const err = await failure(client(hub.url).client.reportJob({ jobId: 1, owner: 'o', state: JobState.Executing }));
    expect(err).toBeInstanceOf(HubError);
    expect(err).not.toBeInstanceOf(HubAuthError);
    expect(err).toMatchObject({ status, permanent: true });
  });

  it('a 2xx body that is not JSON is a HubError', async () => {
    const hub = await scriptedHub(issuingTokens(text(200, '<html>proxy login</html>')));
    const err = await failure(client(hub.url).client.acquireNextJob({ username: USER, capabilities: '', owner: 'o', networks: 'n' }));
    expect(err).toBeInstanceOf(HubError);
    expect(err).toMatchObject({ status: 200, message: 'hub acquireNextJob answered a body that is not JSON' });
  });

  it('a refused connection is a transient transport HubError', async () => {
    const hub = await scriptedHub(text(500, ''));
    await servers.pop()!.close();
    const err = await failure(client(hub.url).client.storages());
    expect(err).toBeInstanceOf(HubError);
    expect(err).toMatchObject({ status: undefined, permanent: false, code: 'WORKER_ERR_HUB_TRANSPORT' });
    expect((err as Error).message).toContain(HubPaths.login);
  });

  it('a dropped connection and a hub that never answers are transient too', async () => {
    const hub = await scriptedHub(
      issuingTokens((req, res) => {
        if (req.path === HubPaths.storages) res.socket?.destroy();
        // currentUser: never answered
      }),
    );
    const { client: c } = client(hub.url, { timeoutMs: 300 });
    expect(await failure(c.storages())).toMatchObject({ name: 'HubError', status: undefined, permanent: false });
    expect(await failure(c.checkOnline())).toMatchObject({ name: 'HubError', status: undefined, permanent: false });
  });
});

describe('storages and the online check', () => {
  it('checkOnline accepts a non-empty current user and refuses an empty answer', async () => {
    let body = '{"id":"u1"}';
    const hub = await scriptedHub(
      issuingTokens((_req, res) => {
        sendText(res, 200, body);
      }),
    );
    const { client: c } = client(hub.url);
    await expect(c.checkOnline()).resolves.toBeUndefined();
    expect(hub.received[1]).toMatchObject({ method: 'GET', path: HubPaths.currentUser, token: 'jwt-1' });
    body = '';
    await expect(c.checkOnline()).rejects.toBeInstanceOf(HubError);
  });

  it("currentUser keeps only the id of ASP.NET's IdentityUser, and refuses a user without one", async () => {
    let body = JSON.stringify({ id: 'b1946ac9-2d69-4c5e', userName: 'alice@example.com', passwordHash: 'AQAAAAIAAYagAAAAE…', securityStamp: 'S', lazyLoader: {} });
    const hub = await scriptedHub(
      issuingTokens((_req, res) => {
        sendText(res, 200, body);
      }),
    );
    const { client: c } = client(hub.url);
    expect(await c.currentUser()).toEqual({ id: 'b1946ac9-2d69-4c5e' });
    body = JSON.stringify({ userName: 'alice@example.com' });
    await expect(c.currentUser()).rejects.toBeInstanceOf(HubError);
    await expect(c.checkOnline()).rejects.toBeInstanceOf(HubError);
  });

  it('storages refuses a non-array answer as permanent', async () => {
    const hub = await scriptedHub(issuingTokens(json(200, { items: [] })));
    expect(await failure(client(hub.url).client.storages())).toMatchObject({ name: 'HubError', permanent: true });
  });

  it('saveStorage PUTs the storage to its path and returns the saved one', async () => {
    const hub = await scriptedHub(
      issuingTokens((req, res) => {
        sendJson(res, 200, { ...(req.body as object), updatedAt: 'now' });
      }),
    );
    const storage = { id: 12, technology: 'gcs', uriSchema: 'gcs-12', accessToken: 'at', refreshToken: 'rt' };
    await expect(client(hub.url).client.saveStorage(storage)).resolves.toEqual({ ...storage, updatedAt: 'now' });
    expect(hub.received[1]).toMatchObject({ method: 'PUT', path: HubPaths.storage(12), body: storage });
  });
});

describe('secrets', () => {
  it('never puts the password or a hub token into an error or a log line', async () => {
    let loginStatus = 200;
    const hub = await scriptedHub(
      issuingTokens((req, res) => {
        if (req.token === 'jwt-1') sendText(res, 401, '');
        else sendText(res, 500, 'boom');
      }),
    );
    const rejectingLogin = await scriptedHub((_req, res) => {
      if (loginStatus === 200) answerLogin(res, 'jwt-x');
      else sendText(res, loginStatus, '');
    });
    loginStatus = 401;
    const refused = await scriptedHub(() => undefined);
    await servers.pop()!.close();

    const runs = [client(hub.url), client(rejectingLogin.url), client(refused.url)];
    const errors = await Promise.all(runs.map(({ client: c }) => failure(c.storages())));

    expect(errors.map((e) => (e as Error).name)).toEqual(['HubError', 'HubAuthError', 'HubError']);
    const logs = runs.flatMap((r) => r.logs);
    expect(logs.some((line) => line.includes('logged in to the hub'))).toBe(true);
    expect(logs.some((line) => line.includes('logging in again'))).toBe(true);
    for (const err of errors) {
      const e = err as Error;
      const text = [e.message, e.stack, String(e.cause), JSON.stringify(e)].join('\n');
      expect(text).not.toContain(PASSWORD);
    }
    for (const line of logs) {
      expect(line).not.toContain(PASSWORD);
      expect(line).not.toMatch(/jwt-\d/);
    }
  });
});
