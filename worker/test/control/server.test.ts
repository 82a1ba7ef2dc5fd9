/**
 * The control endpoint over real HTTP: reading is open, changing state needs the bearer token
 * (401 without or with a wrong one, 503 when the token file is unusable), browsers and foreign
 * Host names are refused (403), and the unix-socket variant is private.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HealthFacts } from '../../src/control/health.js';
import { ControlServer, type ControlListen, type ControlTarget } from '../../src/control/server.js';
import { ControlToken } from '../../src/control/token.js';
import { recordingLogger } from '../support/recording-logger.js';
import { httpCall } from './http-call.js';

const TOKEN = 'control-T0ken-for-tests-only-7f3a';
const AUTH = { authorization: `Bearer ${TOKEN}` };

let dir: string;
let servers: ControlServer[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'control-server-'));
  servers = [];
});

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

function fakeTarget(facts: Partial<HealthFacts> = {}) {
  return {
    health: vi.fn(() => ({ state: 'Running', machineActive: true, rcloneUp: true, signalrConnected: true, ...facts })),
    status: vi.fn(() => ({ state: 'Running', hubConnected: true, jobs: [{ id: 7, phase: 'running' }] })),
    metrics: vi.fn(() => Promise.resolve({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'rclone_sync_worker_up 1\n' })),
    abort: vi.fn((jobId: number) => Promise.resolve(jobId === 7)),
    stop: vi.fn(),
    start: vi.fn(),
  } satisfies ControlTarget;
}

async function startServer(target: ControlTarget, options: { listen?: ControlListen; tokenFile?: string } = {}) {
  const { logger, records } = recordingLogger();
  let tokenFile = options.tokenFile;
  if (tokenFile === undefined) {
    tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  }
  const token = await ControlToken.prepare({ file: tokenFile, stateDir: dir, logger });
  const server = await ControlServer.start(target, { listen: options.listen ?? { port: 0 }, token, logger });
  servers.push(server);
  return { server, records, to: { port: server.port ?? 0 } };
}

describe('read-only endpoints', () => {
  it('answer without a token', async () => {
    const target = fakeTarget();
    const { to } = await startServer(target);
    expect(await httpCall(to, 'GET', '/healthz')).toMatchObject({ status: 200, json: { status: 'ok', state: 'Running' } });
    expect(await httpCall(to, 'GET', '/readyz')).toMatchObject({ status: 200, json: { status: 'ready' } });
    expect(await httpCall(to, 'GET', '/status')).toMatchObject({ status: 200, json: { jobs: [{ id: 7, phase: 'running' }] } });
    const metrics = await httpCall(to, 'GET', '/metrics?debug=1');
    expect(metrics).toMatchObject({ status: 200, text: 'rclone_sync_worker_up 1\n' });
    expect(metrics.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('tell liveness from readiness', async () => {
    const { to } = await startServer(fakeTarget({ state: 'StartRCloneProcess.Backoff', rcloneUp: false }));
    expect((await httpCall(to, 'GET', '/healthz')).status).toBe(200);
    expect(await httpCall(to, 'GET', '/readyz')).toMatchObject({ status: 503, json: { status: 'not-ready', checks: { running: false, rclone: false } } });
  });

  it('answer 500 when a source fails, and 404 / 405 for unknown paths and methods', async () => {
    const target = fakeTarget();
    target.metrics.mockRejectedValueOnce(new Error('collector broke'));
    const { to, records } = await startServer(target);
    expect((await httpCall(to, 'GET', '/metrics')).status).toBe(500);
    expect(records).toContainEqual(expect.objectContaining({ msg: 'control request failed' }));
    expect((await httpCall(to, 'GET', '/nope')).status).toBe(404);
    const wrongMethod = await httpCall(to, 'GET', '/stop');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    expect(target.stop).not.toHaveBeenCalled();
  });
});

describe('state-changing calls', () => {
  it.each([
    ['POST', '/stop', 'stop'],
    ['POST', '/start', 'start'],
    ['POST', '/jobs/7/abort', 'abort'],
  ] as const)('%s %s: 401 without credentials, 401 invalid_token with a wrong token, done with the right one', async (method, path, action) => {
    const target = fakeTarget();
    const { to, records } = await startServer(target);

    const none = await httpCall(to, method, path);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="rclone-sync-worker"');

    const wrong = await httpCall(to, method, path, { authorization: 'Bearer not-the-right-token-at-all' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="rclone-sync-worker", error="invalid_token"');
    const basic = await httpCall(to, method, path, { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    expect(target[action]).not.toHaveBeenCalled();

    const right = await httpCall(to, method, path, AUTH);
    expect(right.status).toBe(202);
    expect(target[action]).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(records)).not.toContain('not-the-right-token-at-all');
    expect(JSON.stringify(records)).not.toContain(TOKEN);
  });

  it('answers 404 for a job it does not own', async () => {
    const target = fakeTarget();
    const { to } = await startServer(target);
    expect(await httpCall(to, 'POST', '/jobs/999/abort', AUTH)).toMatchObject({ status: 404, json: { jobId: 999, aborted: false } });
    expect(await httpCall(to, 'POST', '/jobs/7/abort', AUTH)).toMatchObject({ status: 202, json: { jobId: 7, aborted: true } });
    expect(target.abort.mock.calls).toEqual([[999], [7]]);
  });

  it('refuses everything with 503 while the token file is unreadable, and recovers when it is back', async () => {
    const target = fakeTarget();
    const tokenFile = join(dir, 'configured-token');
    const { to } = await startServer(target, { tokenFile });
    expect(await httpCall(to, 'POST', '/stop', AUTH)).toMatchObject({ status: 503 });
    expect((await httpCall(to, 'POST', '/stop')).status).toBe(401);
    expect((await httpCall(to, 'GET', '/status')).status).toBe(200);
    expect(target.stop).not.toHaveBeenCalled();

    await writeFile(tokenFile, TOKEN, { mode: 0o600 });
    expect((await httpCall(to, 'POST', '/stop', AUTH)).status).toBe(202);
    expect(target.stop).toHaveBeenCalledTimes(1);
  });

  it('refuses browsers and foreign Host names with 403, whatever the credentials', async () => {
    const target = fakeTarget();
    const { to, server } = await startServer(target);
    expect((await httpCall(to, 'POST', '/stop', { ...AUTH, origin: 'http://127.0.0.1:8080' })).status).toBe(403);
    expect((await httpCall(to, 'GET', '/status', { origin: 'https://evil.example' })).status).toBe(403);
    expect((await httpCall(to, 'GET', '/status', { host: `evil.example:${server.port}` })).status).toBe(403);
    expect(target.stop).not.toHaveBeenCalled();
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, 'LOCALHOST', `[::1]:${server.port}`]) {
      expect((await httpCall(to, 'GET', '/status', { host })).status, host).toBe(200);
    }
  });
});

describe('unix socket', () => {
  it('listens with the asked mode, needs the token too, and removes the socket on close', async () => {
    const socketPath = join(dir, 'control.sock');
    const target = fakeTarget();
    const { server } = await startServer(target, { listen: { socket: socketPath, mode: 0o660 } });
    expect(server.port).toBeUndefined();
    expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
    // A client on a socket names any host it likes.
    expect((await httpCall({ socketPath }, 'GET', '/status', { host: 'worker' })).status).toBe(200);
    expect((await httpCall({ socketPath }, 'POST', '/stop')).status).toBe(401);
    expect((await httpCall({ socketPath }, 'POST', '/stop', AUTH)).status).toBe(202);
    await server.close();
    servers = [];
    await expect(stat(socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('replaces a stale socket, but not a live one or another file', async () => {
    // A socket file nobody listens on: a process that was killed while listening.
    const socketPath = join(dir, 'control.sock');
    const killed = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((resolve) => killed.once('exit', resolve));
    expect((await stat(socketPath)).isSocket()).toBe(true);
    const { server } = await startServer(fakeTarget(), { listen: { socket: socketPath, mode: 0o600 } });
    expect((await httpCall({ socketPath }, 'GET', '/healthz')).status).toBe(200);
    await server.close();
    servers = [];

    const live = createServer();
    const livePath = join(dir, 'live.sock');
    await new Promise<void>((resolve) => live.listen(livePath, resolve));
    try {
      await expect(startServer(fakeTarget(), { listen: { socket: livePath, mode: 0o600 } })).rejects.toThrow(/in use by another process/);
    } finally {
      await new Promise<void>((resolve) => {
        live.close(() => {
          resolve();
        });
      });
    }
    const regular = join(dir, 'regular');
    await writeFile(regular, 'x');
    await expect(startServer(fakeTarget(), { listen: { socket: regular, mode: 0o600 } })).rejects.toThrow(/not a socket/);
    expect(await readFile(regular, 'utf8')).toBe('x');
  });
});
