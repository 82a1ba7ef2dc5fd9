import type { IncomingHttpHeaders, Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeServer, listen, sendJson, sendText, type Handler } from '../../../scripts/standins/http-util.js';
import { StorageError, WorkerError } from '../../src/errors.js';
import { graphDriveLookup } from '../../src/storage/onedrive-drive.js';

const ACCESS_TOKEN = 'EwB4A8l6BAAU-secret-access-token';

let server: Server;
let graphUrl: string;
let requests: { method: string | undefined; url: string | undefined; headers: IncomingHttpHeaders }[];
let respond: Handler;

beforeAll(async () => {
  const started = await listen((req, res) => {
    requests.push({ method: req.method, url: req.url, headers: req.headers });
    return respond(req, res);
  });
  server = started.server;
  graphUrl = `${started.url}/v1.0`;
});

afterAll(async () => {
  await closeServer(server);
});

beforeEach(() => {
  requests = [];
  respond = (_req, res) => {
    sendJson(res, 200, { id: 'b!Zm9vYmFy', driveType: 'business', owner: { user: { displayName: 'Alice' } }, quota: { total: 1 } });
  };
});

async function failure(promise: Promise<unknown>): Promise<WorkerError> {
  const outcome: unknown = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(WorkerError);
  const err = outcome as WorkerError;
  expect(err.message).toContain('od');
  expect(err.message).not.toContain(ACCESS_TOKEN);
  expect(JSON.stringify(err)).not.toContain(ACCESS_TOKEN);
  return err;
}

describe('graphDriveLookup', () => {
  it('GETs <graph>/me/drive with the bearer token and returns id and driveType', async () => {
    const drive = await graphDriveLookup(graphUrl)(ACCESS_TOKEN, 'od');
    expect(drive).toEqual({ id: 'b!Zm9vYmFy', type: 'business' });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: 'GET', url: '/v1.0/me/drive' });
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);
    expect(requests[0]!.headers.accept).toBe('application/json');
  });

  it('accepts a base URL with trailing slashes', async () => {
    await graphDriveLookup(`${graphUrl}//`)(ACCESS_TOKEN, 'od');
    expect(requests[0]!.url).toBe('/v1.0/me/drive');
  });

  it.each([401, 403])('HTTP %i is a rejected token (WORKER_ERR_GRAPH)', async (status) => {
    respond = (_req, res) => {
      sendJson(res, status, { error: { code: 'InvalidAuthenticationToken', message: 'Access token has expired or is not yet valid.' } });
    };
    const err = await failure(graphDriveLookup(graphUrl)(ACCESS_TOKEN, 'od'));
    expect(err.code).toBe('WORKER_ERR_GRAPH');
    expect(err.message).toContain('rejected');
    expect(err.message).toContain(String(status));
  });

  it('HTTP 500 is WORKER_ERR_GRAPH naming the status', async () => {
    respond = (_req, res) => {
      sendText(res, 500, 'internal error');
    };
    const err = await failure(graphDriveLookup(graphUrl)(ACCESS_TOKEN, 'od'));
    expect(err.code).toBe('WORKER_ERR_GRAPH');
    expect(err.message).toContain('500');
    expect(err.permanent).toBe(false);
  });

  it('a body that is not JSON is a StorageError', async () => {
    respond = (_req, res) => {
      sendText(res, 200, '<html>captive portal</html>');
    };
    const err = await failure(graphDriveLookup(graphUrl)(ACCESS_TOKEN, 'od'));
    expect(err).toBeInstanceOf(StorageError);
    expect(err.code).toBe('WORKER_ERR_STORAGE');
  });

  it.each([
    ['no id', { driveType: 'personal' }],
    ['an empty id', { id: '', driveType: 'personal' }],
    ['no driveType', { id: 'abc' }],
    ['a numeric id', { id: 42, driveType: 'personal' }],
  ])('an answer with %s is a StorageError', async (_what, body) => {
    respond = (_req, res) => {
      sendJson(res, 200, body);
    };
    const err = await failure(graphDriveLookup(graphUrl)(ACCESS_TOKEN, 'od'));
    expect(err).toBeInstanceOf(StorageError);
  });

  it('an unreachable Graph is WORKER_ERR_GRAPH', async () => {
    const closed = await listen(() => undefined);
    await closeServer(closed.server);
    const err = await failure(graphDriveLookup(closed.url)(ACCESS_TOKEN, 'od'));
    expect(err.code).toBe('WORKER_ERR_GRAPH');
    expect(err.message).toContain('unreachable');
  });

  it('a Graph that does not answer in time is WORKER_ERR_GRAPH', async () => {
    respond = () => undefined;
    const err = await failure(graphDriveLookup(graphUrl, { timeoutMs: 200 })(ACCESS_TOKEN, 'od'));
    expect(err.code).toBe('WORKER_ERR_GRAPH');
  });
});
