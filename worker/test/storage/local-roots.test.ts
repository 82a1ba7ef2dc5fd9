import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalPathError, LocalRoots } from '../../src/storage/local-roots.js';
import { recordingLogger } from '../support/recording-logger.js';

let base: string;
let root: string;
let state: string;
let outside: string;

function roots(list: string[] = [root], stateDir = state): { roots: LocalRoots; records: ReturnType<typeof recordingLogger>['records'] } {
  const log = recordingLogger();
  return { roots: new LocalRoots({ roots: list, stateDir, logger: log.logger }), records: log.records };
}

beforeEach(() => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'local-roots-')));
  root = join(base, 'root');
  state = join(base, 'state');
  outside = join(base, 'outside');
  for (const dir of [root, state, outside, join(root, 'photos')]) mkdirSync(dir, { recursive: true });
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('LocalRoots.confine', () => {
  it('accepts the root, paths inside it and destinations that do not exist yet, as resolved paths', async () => {
    const { roots: r } = roots();
    expect(await r.confine(root, 'source')).toBe(root);
    expect(await r.confine(`${root}/photos/`, 'source')).toBe(join(root, 'photos'));
    expect(await r.confine(`${root}//photos/./2024/new`, 'destination')).toBe(join(root, 'photos/2024/new'));
  });

  it.each([
    ['a relative path', 'photos', 'a local path must be absolute'],
    ['".."', '/ROOT/../outside', 'it contains ".."'],
    ['".." that stays inside', '/ROOT/photos/../photos', 'it contains ".."'],
    ['a path outside every root', '/etc', 'it is outside the allowed roots'],
    ['a sibling that shares the prefix', '/ROOT-evil/x', 'it is outside the allowed roots'],
    ['another remote named in the path', 'other:/etc', 'a local path must be absolute'],
    ['an on-the-fly backend', ':local:/etc', 'a local path must be absolute'],
  ])('refuses %s', async (_what, path, why) => {
    const { roots: r } = roots();
    const error = await r.confine(path.replace('/ROOT', root), 'destination').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(LocalPathError);
    expect((error as Error).message).toContain(why);
    expect((error as LocalPathError).code).toBe('WORKER_ERR_LOCAL_PATH');
  });

  it('refuses a symlink anywhere below the root, even one pointing inside it', async () => {
    symlinkSync(outside, join(root, 'escape'));
    symlinkSync(join(root, 'photos'), join(root, 'alias'));
    const { roots: r } = roots();
    await expect(r.confine(join(root, 'escape'), 'destination')).rejects.toThrow(`${join(root, 'escape')} is a symbolic link`);
    await expect(r.confine(join(root, 'escape/deeper/new'), 'destination')).rejects.toThrow('is a symbolic link');
    await expect(r.confine(join(root, 'alias'), 'source')).rejects.toThrow('is a symbolic link');
  });

  it('refuses paths under a root that is itself a symlink, and says so at start', async () => {
    const link = join(base, 'link-root');
    symlinkSync(outside, link);
    const { roots: r, records } = roots([link]);
    await r.announce();
    expect(records.find((x) => x.level === 50)).toMatchObject({ msg: 'local root unusable; local endpoints under it are refused', root: link });
    await expect(r.confine(join(link, 'x'), 'destination')).rejects.toThrow('is unusable: it is a symbolic link');
  });

  it("never reaches the state directory, even through a root that contains it; <state>/local is the one carve-out", async () => {
    const wide = roots([base]).roots;
    await expect(wide.confine(join(state, 'rclone.conf'), 'source')).rejects.toThrow("it overlaps the worker's state directory");
    await expect(wide.confine(base, 'destination')).rejects.toThrow("it overlaps the worker's state directory");
    expect(await wide.confine(join(base, 'root'), 'destination')).toBe(root);

    const inside = roots([join(state, 'grants')]);
    mkdirSync(join(state, 'grants'));
    await expect(inside.roots.confine(join(state, 'grants', 'x'), 'source')).rejects.toThrow('only local/ may be a root');

    const carveOut = roots([join(state, 'local')]);
    await carveOut.roots.announce();
    expect(await carveOut.roots.confine(join(state, 'local', 'inbox'), 'destination')).toBe(join(state, 'local', 'inbox'));
    await expect(carveOut.roots.confine(`${state}/local/../grants`, 'source')).rejects.toThrow('it contains ".."');
  });

  it('with no roots (WORKER_LOCAL_ROOTS=none), refuses every local path', async () => {
    const { roots: r, records } = roots([]);
    await r.announce();
    expect(records.map((x) => x.msg)).toContain('local storages are disabled (WORKER_LOCAL_ROOTS=none): every job on one is refused');
    await expect(r.confine(root, 'source')).rejects.toThrow('local storages are disabled on this worker');
  });

  it('judges a path under a file by the part that exists (rclone reports the rest)', async () => {
    writeFileSync(join(root, 'file'), 'x');
    expect(await roots().roots.confine(join(root, 'file', 'below'), 'destination')).toBe(join(root, 'file', 'below'));
  });
});
