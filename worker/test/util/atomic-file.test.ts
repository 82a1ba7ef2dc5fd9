/** writeFileAtomic: temp file + rename, private by default, no temp files left behind. */
import { mkdtemp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/util/atomic-file.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atomic-file-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe('writeFileAtomic', () => {
  it('writes the content into a file only the user can read', async () => {
    const file = join(dir, 'outbox.json');
    await writeFileAtomic(file, '{"a":1}');
    expect(await readFile(file, 'utf8')).toBe('{"a":1}');
    expect(await modeOf(file)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['outbox.json']);
  });

  it('removes its temp file when the rename fails', async () => {
    const target = join(dir, 'taken');
    await mkdir(join(target, 'child'), { recursive: true }); // a non-empty directory cannot be replaced by a file
    await expect(writeFileAtomic(target, 'x')).rejects.toMatchObject({ code: expect.stringMatching(/^E/) as unknown });
    expect(await readdir(dir)).toEqual(['taken']);
  });

  it('honours an explicit mode', async () => {
    const file = join(dir, 'public.txt');
    await writeFileAtomic(file, 'x', 0o640);
    expect(await modeOf(file)).toBe(0o640);
  });

  it('replaces an existing file as a whole and leaves no temp file', async () => {
    const file = join(dir, 'state.json');
    await writeFile(file, 'old content that is longer than the new one', { mode: 0o644 });
    await writeFileAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await modeOf(file)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('ends with one complete version when writes race, and no temp files', async () => {
    const file = join(dir, 'race.json');
    const versions = Array.from({ length: 20 }, (_, i) => JSON.stringify({ version: i, pad: 'x'.repeat(10_000) }));
    await Promise.all(versions.map((v) => writeFileAtomic(file, v)));
    expect(versions).toContain(await readFile(file, 'utf8'));
    expect(await readdir(dir)).toEqual(['race.json']);
  });

  it('rejects when the target cannot be written, leaving the directory untouched', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'file.json'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    await mkdir(join(dir, 'occupied'));
    await expect(writeFileAtomic(join(dir, 'occupied'), 'x')).rejects.toThrow();
    expect((await stat(join(dir, 'occupied'))).isDirectory()).toBe(true);
  });
});
