/**
 * The WebDAV stand-in against the real rclone 1.60.1 `webdav` backend with `vendor = nextcloud`:
 * a full copy/check/sync/copy-back round trip, authentication failures, a password change seen
 * by the next rclone run, and the body throttle. Passwords reach rclone only through its config
 * file (obscured with `rclone obscure -` on stdin), never through argv.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { WebdavStandin } from '../standins/webdav/webdav-standin.js';

const RCLONE = '/usr/bin/rclone';
const USER = 'nc-user';
const PASSWORD = 'nc-password';

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'webdav-rclone-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function obscure(password: string): Promise<string> {
  const { stdout } = await execa(RCLONE, ['obscure', '-'], { input: password });
  return stdout.trim();
}

/** Writes an rclone config with a nextcloud remote `nc` and returns its path. */
async function writeRemoteConfig(dir: string, davUrl: string, user: string, password: string): Promise<string> {
  const path = join(dir, `rclone-${randomBytes(4).toString('hex')}.conf`);
  const text = ['[nc]', 'type = webdav', `url = ${davUrl}`, 'vendor = nextcloud', `user = ${user}`, `pass = ${await obscure(password)}`, ''].join('\n');
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

const RUN_OPTIONS = { reject: false, timeout: 60_000, stdin: 'ignore' } as const;

/** Runs rclone with `config`; never throws on a failed run (tests assert on the exit code). */
function rclone(config: string, args: string[]): ResultPromise<typeof RUN_OPTIONS> {
  return execa(RCLONE, ['--config', config, ...args], RUN_OPTIONS);
}

/** Every file below `root` by '/'-separated relative path. */
async function readTree(root: string): Promise<Map<string, Buffer>> {
  const tree = new Map<string, Buffer>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    tree.set(relative(root, full).split('\\').join('/'), await readFile(full));
  }
  return tree;
}

async function writeTree(root: string, files: Map<string, Buffer>): Promise<void> {
  for (const [path, data] of files) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), data);
  }
}

/** ~200 small files in nested folders (some with awkward names) plus two files of a few MB. */
function sourceFiles(): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 196; i++) {
    files.set(`d${i % 7}/sub${i % 3}/file-${i}.txt`, randomBytes(i * 17 % 4096));
  }
  files.set('names/spaces and ümlauts é.txt', Buffer.from('unicode'));
  files.set('names/100% #1 & (copy) [x] +plus.txt', Buffer.from('reserved characters'));
  files.set('names/empty.bin', Buffer.alloc(0));
  files.set('names/日本語.txt', Buffer.from('cjk'));
  files.set('big/three-mb.bin', randomBytes(3 * 1024 * 1024));
  files.set('big/five-mb.bin', randomBytes(5 * 1024 * 1024 + 123));
  return files;
}

/**
 * Asserts that two file maps hold the same paths with byte-identical contents. (`toEqual` on
 * multi-MB Buffers compares element by element and takes minutes.)
 */
function expectSameFiles(actual: Map<string, Buffer>, expected: Map<string, Buffer>): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  const different = [...expected].filter(([path, data]) => !actual.get(path)?.equals(data)).map(([path]) => path);
  expect(different).toEqual([]);
}

function remoteFiles(standin: WebdavStandin, prefix: string): Map<string, Buffer> {
  const result = new Map<string, Buffer>();
  for (const [path, data] of standin.files(USER)) if (path.startsWith(prefix)) result.set(path.slice(prefix.length), data);
  return result;
}

describe('rclone nextcloud remote against the WebDAV stand-in', () => {
  let standin: WebdavStandin;
  let dir: string;

  beforeEach(async () => {
    standin = await WebdavStandin.start();
    dir = await mkdtemp(join(scratch, 'case-'));
  });

  afterEach(async () => {
    await standin.close();
  });

  it('copies, checks, syncs a deletion and copies back byte for byte', { timeout: 120_000 }, async () => {
    const source = join(dir, 'source');
    const files = sourceFiles();
    await writeTree(source, files);
    const config = await writeRemoteConfig(dir, standin.davUrl(USER), USER, PASSWORD);

    const copy = await rclone(config, ['copy', source, 'nc:backup']);
    expect(copy.stderr).toBe('');
    expect(copy.exitCode).toBe(0);
    expectSameFiles(remoteFiles(standin, 'backup/'), files);

    const check = await rclone(config, ['check', source, 'nc:backup']);
    expect(check.exitCode).toBe(0);
    expect(check.stderr).toContain(`${files.size} matching files`);
    expect(check.stderr).not.toContain('could not be checked');

    // X-OC-Mtime kept the source modification times, so a second copy transfers nothing.
    const received = standin.stats.bytesReceived;
    const again = await rclone(config, ['copy', source, 'nc:backup']);
    expect(again.exitCode).toBe(0);
    expect(standin.stats.bytesReceived).toBe(received);
    const local = await stat(join(source, 'big/five-mb.bin'));
    const listed = JSON.parse((await rclone(config, ['lsjson', 'nc:backup/big/five-mb.bin'])).stdout) as { ModTime: string }[];
    expect(Date.parse(listed[0]!.ModTime)).toBe(Math.floor(local.mtimeMs / 1000) * 1000);

    await unlink(join(source, 'd3/sub1/file-10.txt'));
    files.delete('d3/sub1/file-10.txt');
    const sync = await rclone(config, ['sync', source, 'nc:backup']);
    expect(sync.exitCode).toBe(0);
    expect(standin.file(USER, 'backup/d3/sub1/file-10.txt')).toBeUndefined();
    expectSameFiles(remoteFiles(standin, 'backup/'), files);

    const back = join(dir, 'back');
    const copyBack = await rclone(config, ['copy', 'nc:backup', back]);
    expect(copyBack.exitCode).toBe(0);
    expectSameFiles(await readTree(back), files);
  });

  it('fails with a 401 error when the password is wrong', async () => {
    const config = await writeRemoteConfig(dir, standin.davUrl(USER), USER, 'not-the-password');
    const result = await rclone(config, ['lsf', 'nc:']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('401 Unauthorized');
    expect(result.stderr).toContain('Username or password was incorrect');
    expect(standin.stats.unauthorized).toBeGreaterThanOrEqual(1);
    expect(standin.stats.byPasswordFingerprint.size).toBe(0);
  });

  it('after setPassword, a new rclone run fails with the old password and succeeds with the new one', async () => {
    const source = join(dir, 'source');
    await writeTree(source, new Map([['a.txt', Buffer.from('before')]]));
    const oldConfig = await writeRemoteConfig(dir, standin.davUrl(USER), USER, PASSWORD);
    expect((await rclone(oldConfig, ['copy', source, 'nc:job1'])).exitCode).toBe(0);
    const oldCount = standin.stats.byPasswordFingerprint.get(fingerprint(PASSWORD));
    expect(oldCount).toBeGreaterThan(0);

    const newPassword = 'rotated-password';
    standin.setPassword(USER, newPassword);

    const stale = await rclone(oldConfig, ['copy', source, 'nc:job2']);
    expect(stale.exitCode).not.toBe(0);
    expect(stale.stderr).toContain('401 Unauthorized');
    expect(standin.file(USER, 'job2/a.txt')).toBeUndefined();

    const newConfig = await writeRemoteConfig(dir, standin.davUrl(USER), USER, newPassword);
    const fresh = await rclone(newConfig, ['copy', source, 'nc:job2']);
    expect(fresh.exitCode).toBe(0);
    expect(standin.file(USER, 'job2/a.txt')?.toString()).toBe('before');
    expect(standin.stats.byPasswordFingerprint.get(fingerprint(newPassword))).toBeGreaterThan(0);
    expect(standin.stats.byPasswordFingerprint.get(fingerprint(PASSWORD))).toBe(oldCount);
  });
});

describe('throttled WebDAV stand-in with rclone', () => {
  let standin: WebdavStandin;
  let dir: string;
  const rate = 256 * 1024;

  beforeEach(async () => {
    standin = await WebdavStandin.start({ bytesPerSecond: rate });
    dir = await mkdtemp(join(scratch, 'throttle-'));
  });

  afterEach(async () => {
    await standin.close();
  });

  it('limits upload and download body bytes to the configured rate', async () => {
    const size = 512 * 1024;
    const source = join(dir, 'source');
    await writeTree(source, new Map([['blob.bin', randomBytes(size)]]));
    const config = await writeRemoteConfig(dir, standin.davUrl(USER), USER, PASSWORD);
    const floorMs = ((size / rate) * 1000) * 0.75;

    let started = performance.now();
    expect((await rclone(config, ['copy', source, 'nc:t'])).exitCode).toBe(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(floorMs);
    expect(standin.stats.bytesReceived).toBe(size);

    started = performance.now();
    expect((await rclone(config, ['copy', 'nc:t', join(dir, 'back')])).exitCode).toBe(0);
    expect(performance.now() - started).toBeGreaterThanOrEqual(floorMs);
    expect(standin.stats.bytesSent).toBe(size);
    expectSameFiles(await readTree(join(dir, 'back')), await readTree(source));
  });

  it('lifts the throttle for a transfer already under way', async () => {
    const size = 8 * 1024 * 1024; // ~32 s at the test's rate, ~4 min at the slow rate below
    const source = join(dir, 'source');
    await writeTree(source, new Map([['slow.bin', randomBytes(size)]]));
    const config = await writeRemoteConfig(dir, standin.davUrl(USER), USER, PASSWORD);
    standin.setBytesPerSecond(32 * 1024);

    const copy = rclone(config, ['copy', source, 'nc:slow']);
    await expect.poll(() => standin.stats.bytesReceived, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(standin.stats.bytesReceived).toBeLessThan(size);
    standin.setBytesPerSecond(null);

    const result = await copy;
    expect(result.exitCode).toBe(0);
    expect(standin.file(USER, 'slow/slow.bin')?.length).toBe(size);
  });
});
