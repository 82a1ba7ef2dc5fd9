/**
 * RcloneProcess against the real rclone 1.60.1: start, readiness, privacy of the rc
 * credentials, port conflicts, crashes, graceful stop during a transfer, and leftovers.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RcError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { freeLoopbackPort } from '../../src/rclone/free-port.js';
import type { RcloneLogLine } from '../../src/rclone/log-line.js';
import { RcloneProcess, type RcloneProcessOptions } from '../../src/rclone/process.js';
import { RcClient } from '../../src/rclone/rc-client.js';
import { LEVEL, RCLONE_PATH, TempDirs, captureLogger } from './rclone-fixture.js';

const dirs = new TempDirs();
const started: RcloneProcess[] = [];
/** Processes a test spawns itself (a left-behind rclone, a bystander). */
const strays: { kill: () => void; ended: Promise<unknown> }[] = [];

function spawnStray(file: string, args: string[]) {
  const child = execa(file, args, { stdin: 'ignore', reject: false, buffer: false });
  strays.push({ kill: () => child.kill('SIGKILL'), ended: child });
  return child;
}
/** Closing one waits for every connection, so a socket our client left open would hang afterEach. */
const occupiers: Server[] = [];

async function start(options: Partial<RcloneProcessOptions> = {}): Promise<RcloneProcess> {
  const rclone = await RcloneProcess.start({ rclonePath: RCLONE_PATH, stateDir: await dirs.make(), logger: silentLogger(), ...options });
  started.push(rclone);
  return rclone;
}

async function environOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
}

async function argvOf(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
}

/** A TCP listener on a free loopback port that reads requests and never answers them. */
async function occupyPort(): Promise<number> {
  const server = createServer((socket) => socket.resume());
  occupiers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function mode(path: string): Promise<number> {
  return stat(path).then((s) => s.mode & 0o777);
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((rclone) => rclone.stop({ graceful: false, timeoutMs: 2_000 })));
  for (const stray of strays.splice(0)) {
    stray.kill();
    await stray.ended;
  }
  for (const server of occupiers.splice(0)) await new Promise((resolve) => server.close(resolve));
  expect(await dirs.processesUsingThem()).toEqual([]);
  await dirs.removeAll();
  delete process.env.RCLONE_CONFIG_FOO_TYPE;
});

describe('RcloneProcess.start', () => {
  it('starts rclone rcd on loopback and is ready to answer', async () => {
    const rclone = await start();
    expect(rclone.isRunning()).toBe(true);
    expect((await rclone.client.version()).decomposed).toEqual([1, 60, 1]);
    expect(await argvOf(rclone.pid)).toEqual([
      RCLONE_PATH,
      'rcd',
      '--rc-addr',
      `127.0.0.1:${rclone.port}`,
      '--config',
      rclone.configPath,
      '--use-json-log',
      '-v',
      '--rc-job-expire-duration',
      '30m',
    ]);
    expect(await readFile(join(rclone.configPath, '..', 'rclone.pid'), 'utf8')).toBe(`${rclone.pid}\n`);
  });

  it('runs rclone as its own child (setpriv execs in place) in its own process group and session', async () => {
    const rclone = await start();
    const stat = await readFile(`/proc/${rclone.pid}/stat`, 'utf8');
    const [, ppid, pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    expect(ppid).toBe(process.pid);
    // A Ctrl-C in a terminal or `kill -- -<pgid>` of the worker's group does not reach it.
    expect(pgrp).toBe(rclone.pid);
    expect(session).toBe(rclone.pid);
  });

  it('passes the rc credentials through the environment only, never argv or logs', async () => {
    const { logger, records } = captureLogger();
    const rclone = await start({ logger });
    const environ = await environOf(rclone.pid);
    const password = environ.find((entry) => entry.startsWith('RCLONE_RC_PASS='))?.slice('RCLONE_RC_PASS='.length) ?? '';
    expect(password.length).toBeGreaterThanOrEqual(32);
    expect(environ).toContain('RCLONE_RC_USER=worker');

    const argv = (await argvOf(rclone.pid)).join(' ');
    expect(argv).not.toContain(password);
    expect(argv).not.toMatch(/--rc-(user|pass)/);
    expect(JSON.stringify(records)).not.toContain(password);

    // These are the credentials rclone enforces.
    const baseUrl = `http://127.0.0.1:${rclone.port}`;
    await new RcClient({ baseUrl, user: 'worker', password }).noop();
    await expect(new RcClient({ baseUrl, user: 'worker', password: 'wrong' }).noop()).rejects.toMatchObject({ status: 401 });
  });

  it('creates the state dir 0700 and an empty config file 0600', async () => {
    const stateDir = join(await dirs.make(), 'nested', 'state');
    const rclone = await start({ stateDir });
    expect(await mode(stateDir)).toBe(0o700);
    expect(await mode(rclone.configPath)).toBe(0o600);
    expect(await readFile(rclone.configPath, 'utf8')).toBe('');
  });

  it('keeps an existing config file and makes it 0600', async () => {
    const stateDir = await dirs.make();
    const configPath = join(stateDir, 'rclone.conf');
    await writeFile(configPath, '[loc]\ntype = local\n');
    await chmod(configPath, 0o644);
    const rclone = await start({ stateDir });
    expect(await mode(configPath)).toBe(0o600);
    expect(await rclone.client.configDump()).toEqual({ loc: { type: 'local' } });
  });

  it('does not pass RCLONE_* variables of the parent to rclone', async () => {
    process.env.RCLONE_CONFIG_FOO_TYPE = 'local';
    const rclone = await start();
    expect((await environOf(rclone.pid)).filter((entry) => entry.startsWith('RCLONE_')).map((entry) => entry.split('=')[0])).toEqual([
      'RCLONE_RC_USER',
      'RCLONE_RC_PASS',
    ]);
    // With the variable, rclone would know a local remote "foo".
    await expect(rclone.client.call('operations/list', { fs: 'foo:', remote: '' })).rejects.toThrow("didn't find section in config file");
  });

  it('retries on another port when the chosen one is taken', async () => {
    const takenPort = await occupyPort();
    const portPicker = vi.fn<() => Promise<number>>().mockResolvedValueOnce(takenPort).mockImplementation(freeLoopbackPort);
    const lines: RcloneLogLine[] = [];
    const { logger, records } = captureLogger();

    const rclone = await start({ portPicker, logger, onLog: (line) => lines.push(line) });

    expect(portPicker).toHaveBeenCalledTimes(2);
    expect(rclone.port).not.toBe(takenPort);
    await rclone.client.noop();
    expect(lines).toContainEqual(expect.objectContaining({ json: false, level: 'critical', msg: expect.stringContaining('bind: address already in use') as string }));
    expect(records).toContainEqual(expect.objectContaining({ level: LEVEL.warn, msg: 'rc port already in use; retrying on another port', port: takenPort }));
  });

  it('gives up with WORKER_ERR_RCLONE_PORT when every port is taken', async () => {
    const takenPort = await occupyPort();
    const portPicker = vi.fn(() => Promise.resolve(takenPort));
    await expect(start({ portPicker })).rejects.toMatchObject({ code: 'WORKER_ERR_RCLONE_PORT' });
    expect(portPicker).toHaveBeenCalledTimes(5);
  });

  it('fails with a permanent error when the rclone binary does not exist', async () => {
    await expect(start({ rclonePath: '/nonexistent/rclone' })).rejects.toMatchObject({ code: 'WORKER_ERR_RCLONE_SPAWN', permanent: true });
  });

  it('streams stderr into onLog and the logger as component "rclone"', async () => {
    const lines: RcloneLogLine[] = [];
    const { logger, records } = captureLogger();
    const rclone = await start({ logger, onLog: (line) => lines.push(line) });
    await rclone.client.call('rc/error', { a: 1 }).catch(() => undefined);
    const failure = 'rc: "rc/error": error: arbitrary error on input map[a:1]';
    await vi.waitFor(() => {
      expect(lines).toContainEqual(expect.objectContaining({ level: 'error', json: true, msg: failure }));
    });
    expect(records).toContainEqual(expect.objectContaining({ component: 'rclone', level: LEVEL.error, msg: failure }));
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warning', msg: `Serving remote control on http://127.0.0.1:${rclone.port}/` }));
  });
});

describe('RcloneProcess exits', () => {
  it('reports an exit it did not ask for as unexpected', async () => {
    const rclone = await start();
    process.kill(rclone.pid, 'SIGKILL');
    const exit = await rclone.exited;
    expect(exit).toMatchObject({ code: null, signal: 'SIGKILL', expected: false });
    expect(rclone.isRunning()).toBe(false);
    await expect(stat(join(rclone.configPath, '..', 'rclone.pid'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await rclone.stop()).toBe(exit);
  });

  it('stops with SIGTERM when not graceful (exit 143 is clean)', async () => {
    const rclone = await start();
    const exit = await rclone.stop({ graceful: false });
    expect(exit).toMatchObject({ code: 143, signal: null, expected: true });
    expect(await rclone.exited).toBe(exit);
  });

  it('stops gracefully: cancels the running copy, which removes partial files, then quits', async () => {
    const lines: RcloneLogLine[] = [];
    const rclone = await start({ onLog: (line) => lines.push(line) });
    const work = await dirs.make();
    const src = join(work, 'src');
    const dst = join(work, 'dst');
    await mkdir(src);
    const size = 1024 * 1024;
    for (let i = 0; i < 4; i++) await writeFile(join(src, `big${i}.bin`), randomBytes(size));
    await rclone.client.call('core/bwlimit', { rate: '1M' });
    const jobid = await rclone.client.startTransfer('copy', src, dst, { group: 'slow-copy' });
    await expect.poll(async () => (await rclone.client.coreStats('slow-copy')).bytes).toBeGreaterThan(0);

    const exit = await rclone.stop();

    expect(exit).toMatchObject({ code: 0, signal: null, expected: true });
    expect(exit.stoppedJobs).toEqual([expect.objectContaining({ id: jobid, finished: true, success: false, error: 'context canceled', group: 'slow-copy' })]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'Failed to copy: context canceled' }));
    const copied = await readdir(dst).catch(() => []);
    for (const name of copied) expect((await stat(join(dst, name))).size).toBe(size);
    expect(copied.length).toBeLessThan(4);
  });

  it('stops immediately with core/quit when no job runs', async () => {
    const rclone = await start();
    await rclone.client.startNoop({ group: 'idle' });
    const exit = await rclone.stop();
    expect(exit).toMatchObject({ code: 0, expected: true, stoppedJobs: [] });
  });
});

describe('RcloneProcess leftovers', () => {
  it('terminates an rclone rcd left behind with our config (pidfile)', async () => {
    const stateDir = await dirs.make();
    const configPath = join(stateDir, 'rclone.conf');
    await writeFile(configPath, '', { mode: 0o600 });
    const orphanPort = await freeLoopbackPort();
    const orphan = spawnStray(RCLONE_PATH, ['rcd', '--rc-addr', `127.0.0.1:${orphanPort}`, '--config', configPath, '--rc-no-auth']);
    // rclone takes 0.1 s to answer when the machine is idle, seconds when it is not.
    await vi.waitFor(() => new RcClient({ baseUrl: `http://127.0.0.1:${orphanPort}`, user: '', password: '' }).noop(), { timeout: 15_000, interval: 50 });
    await writeFile(join(stateDir, 'rclone.pid'), `${orphan.pid}\n`);
    const { logger, records } = captureLogger();

    const rclone = await start({ stateDir, logger });

    const orphanEnd = await orphan;
    expect(orphanEnd.exitCode).toBe(143);
    expect(records).toContainEqual(expect.objectContaining({ level: LEVEL.warn, msg: 'terminating an rclone left behind by a previous run', rclonePid: orphan.pid }));
    expect(rclone.pid).not.toBe(orphan.pid);
    expect(await readFile(join(stateDir, 'rclone.pid'), 'utf8')).toBe(`${rclone.pid}\n`);
  });

  it('leaves alone a live process that is not our rclone, and ignores garbage', async () => {
    const bystander = spawnStray('sleep', ['30']);
    const stateDir = await dirs.make();
    await writeFile(join(stateDir, 'rclone.pid'), `${bystander.pid}\n`);
    const rclone = await start({ stateDir });
    expect(await argvOf(bystander.pid!)).toEqual(['sleep', '30']);
    expect(rclone.isRunning()).toBe(true);

    await rclone.stop();
    await writeFile(join(stateDir, 'rclone.pid'), 'not a pid\n');
    const again = await start({ stateDir });
    expect(again.isRunning()).toBe(true);
  });

  it('leaves alone an rclone rcd that uses another config', async () => {
    const otherConfig = join(await dirs.make(), 'other.conf');
    await writeFile(otherConfig, '');
    const other = spawnStray(RCLONE_PATH, ['rcd', '--rc-addr', `127.0.0.1:${await freeLoopbackPort()}`, '--config', otherConfig, '--rc-no-auth']);
    const stateDir = await dirs.make();
    await writeFile(join(stateDir, 'rclone.pid'), `${other.pid}\n`);
    await start({ stateDir });
    expect((await argvOf(other.pid!))[1]).toBe('rcd');
  });
});

describe('RcloneProcess errors from the rc client', () => {
  it('a call after the process died is a transient RcError', async () => {
    const rclone = await start();
    await rclone.stop({ graceful: false });
    const err: unknown = await rclone.client.noop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RcError);
    expect((err as RcError).status).toBeUndefined();
  });
});
