/**
 * rclone never outlives the worker, proven with real processes: a parent spawns a guarded child
 * (detached, as the worker spawns rclone) and is SIGKILLed. With setpriv the kernel kills the
 * child at once; without it rclone still dies at its next log line (broken stderr pipe).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { freeLoopbackPort } from '../../src/rclone/free-port.js';
import { findExecutable } from '../../src/rclone/executable.js';
import { NO_GUARD, parentDeathGuard } from '../../src/rclone/parent-death.js';
import { goneWithin, isLive } from '../../../scripts/processes.js';
import { RCLONE_PATH, TempDirs } from './rclone-fixture.js';

const dirs = new TempDirs();
const spawned: number[] = [];

afterEach(async () => {
  for (const pid of spawned.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  expect(await dirs.processesUsingThem()).toEqual([]);
  await dirs.removeAll();
});

/**
 * A node process that spawns `file args` detached with stderr piped to itself (as RcloneProcess
 * does), prints the child's pid and idles. Resolves with both pids.
 */
async function parentOf(command: { file: string; args: string[] }): Promise<{ parent: ChildProcess; child: number }> {
  const script = `
    const { spawn } = require('node:child_process');
    const [file, ...args] = JSON.parse(process.argv[1]);
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.resume();
    console.log(child.pid);
    setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['-e', script, JSON.stringify([command.file, ...command.args])], { stdio: ['ignore', 'pipe', 'inherit'] });
  spawned.push(parent.pid!);
  const line = await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once('line', resolve));
  const child = Number(line);
  spawned.push(child);
  return { parent, child };
}

describe('parentDeathGuard', () => {
  it('uses setpriv --pdeathsig where util-linux has it, running the program in place', async () => {
    const guard = await parentDeathGuard();
    expect(await findExecutable('setpriv')).toBeDefined();
    expect(guard.mechanism).toBe('setpriv');
    expect(guard.command('/usr/bin/rclone', ['rcd', '-v'])).toEqual({
      file: '/usr/bin/setpriv',
      args: ['--pdeathsig', 'KILL', '--', '/usr/bin/rclone', 'rcd', '-v'],
    });
    expect(await parentDeathGuard()).toBe(guard);
  });

  it('with setpriv: a guarded rclone dies with its SIGKILLed parent, though it logs nothing', async () => {
    const guard = await parentDeathGuard();
    const config = join(await dirs.make(), 'rclone.conf');
    const port = await freeLoopbackPort();
    const { parent, child } = await parentOf(guard.command(RCLONE_PATH, ['rcd', '--rc-addr', `127.0.0.1:${port}`, '--rc-no-auth', '--config', config]));
    await expect.poll(() => readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0')[0], { timeout: 10_000 }).toBe(RCLONE_PATH);

    parent.kill('SIGKILL');

    expect(await goneWithin([child], 5_000)).toBe(true);
  });

  it('without a guard: rclone outlives its SIGKILLed parent until its next log line, which kills it (SIGPIPE)', async () => {
    const config = join(await dirs.make(), 'rclone.conf');
    const port = await freeLoopbackPort();
    const { parent, child } = await parentOf(NO_GUARD.command(RCLONE_PATH, ['rcd', '--rc-addr', `127.0.0.1:${port}`, '--rc-no-auth', '--config', config, '-v']));
    const rc = (path: string) => fetch(`http://127.0.0.1:${port}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    await expect.poll(async () => (await rc('rc/noop').catch(() => undefined))?.status, { timeout: 10_000 }).toBe(200);

    parent.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(isLive(child)).toBe(true);
    expect((await rc('rc/noop')).status).toBe(200); // serving, silently

    await rc('rc/error').catch(() => undefined); // rclone logs this call at ERROR
    expect(await goneWithin([child], 5_000)).toBe(true);
  });
});
