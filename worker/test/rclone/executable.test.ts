/** findExecutable(): what execvp would run, found without running it. */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findExecutable } from '../../src/rclone/executable.js';
import { TempDirs } from './rclone-fixture.js';

const dirs = new TempDirs();
afterEach(async () => {
  await dirs.removeAll();
});

async function file(dir: string, name: string, mode: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, '#!/bin/sh\n');
  await chmod(path, mode);
  return path;
}

describe('findExecutable', () => {
  it('finds rclone and setpriv on the PATH', async () => {
    expect(await findExecutable('rclone')).toBe('/usr/bin/rclone');
    expect(await findExecutable('setpriv')).toBe('/usr/bin/setpriv');
  });

  it('takes the first executable regular file along the search path', async () => {
    const [first, second] = [await dirs.make(), await dirs.make()];
    await file(first, 'tool', 0o644); // not executable
    await mkdir(join(first, 'other')); // a directory is not a program
    const wanted = await file(second, 'tool', 0o755);
    await file(second, 'other', 0o755);
    expect(await findExecutable('tool', `${first}:${second}`)).toBe(wanted);
    expect(await findExecutable('other', `${first}:${second}`)).toBe(join(second, 'other'));
    expect(await findExecutable('missing', `${first}:${second}`)).toBeUndefined();
  });

  it('checks a path with a slash as it is, and never searches for it', async () => {
    const dir = await dirs.make();
    const tool = await file(dir, 'tool', 0o700);
    expect(await findExecutable(tool, '')).toBe(tool);
    expect(await findExecutable(join(dir, 'nope'), dir)).toBeUndefined();
    await chmod(tool, 0o600);
    expect(await findExecutable(tool)).toBeUndefined();
    expect(await findExecutable('')).toBeUndefined();
  });
});
