/** writeFileDurable / removeFileDurable: private, whole or nothing, no temp file left behind. */
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeFileDurable, syncDirectory, writeFileDurable } from '../../src/util/durable-file.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'durable-file-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileDurable', () => {
  it('replaces the file with the new content, mode 0600, and leaves only the file', async () => {
    const file = join(dir, '7.json');
    await writeFileDurable(file, 'first');
    await writeFileDurable(file, 'second');
    expect(await readFile(file, 'utf8')).toBe('second');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['7.json']);
  });

  it('keeps the old content and no temp file when the rename fails', async () => {
    const target = join(dir, 'taken');
    await writeFile(join(dir, 'keep'), 'old');
    await mkdir(target);
    await expect(writeFileDurable(target, 'new')).rejects.toMatchObject({ code: expect.stringMatching(/^E/) as unknown });
    expect((await readdir(dir)).sort()).toEqual(['keep', 'taken']);
  });
});

describe('removeFileDurable', () => {
  it('removes the file, and counts a missing one as removed', async () => {
    const file = join(dir, '7.json');
    await writeFileDurable(file, 'x');
    await removeFileDurable(file);
    await removeFileDurable(file);
    expect(await readdir(dir)).toEqual([]);
    await expect(syncDirectory(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
