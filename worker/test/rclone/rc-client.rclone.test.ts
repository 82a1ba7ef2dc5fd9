/**
 * RcClient against a real rclone 1.60.1 (started through RcloneProcess): error envelopes,
 * config calls including the OAuth non-interactive path, obscured passwords, and async jobs.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RcJobStatus } from '../../../shared/rclone-rc.js';
import { RcError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { obscure, reveal } from '../../src/rclone/obscure.js';
import { RcloneProcess } from '../../src/rclone/process.js';
import type { RcClient } from '../../src/rclone/rc-client.js';
import { RCLONE_PATH, TempDirs } from './rclone-fixture.js';

const dirs = new TempDirs();
let rclone: RcloneProcess;
let rc: RcClient;

beforeAll(async () => {
  rclone = await RcloneProcess.start({ rclonePath: RCLONE_PATH, stateDir: await dirs.make(), logger: silentLogger() });
  rc = rclone.client;
});

afterAll(async () => {
  await rclone.stop({ graceful: false });
  expect(await dirs.processesUsingThem()).toEqual([]);
  await dirs.removeAll();
});

async function rejection(promise: Promise<unknown>): Promise<RcError> {
  const outcome: unknown = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(RcError);
  return outcome as RcError;
}

/** Fails instead of hanging when rclone blocks (e.g. waiting for a browser). */
function promptly<T>(promise: Promise<T>, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

async function finished(jobid: number): Promise<RcJobStatus> {
  let status: RcJobStatus | undefined;
  await expect
    .poll(async () => {
      status = await rc.jobStatus(jobid);
      return status.finished;
    })
    .toBe(true);
  return status!;
}

async function makeTree(root: string, files: Record<string, Buffer>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), content);
  }
}

describe('RcClient errors from rclone', () => {
  it('an unknown method is a 404 RcError with rclone’s message', async () => {
    const err = await rejection(rc.call('foo/bar'));
    expect(err).toMatchObject({ path: 'foo/bar', status: 404, message: 'couldn\'t find method "foo/bar"', code: 'WORKER_ERR_RC' });
  });

  it('an unknown job is a 500 RcError "job not found"', async () => {
    const err = await rejection(rc.jobStatus(987_654));
    expect(err).toMatchObject({ path: 'job/status', status: 500, message: 'job not found' });
  });

  it('parses rclone’s text/plain JSON answers', async () => {
    const version = await rc.version();
    expect(version.version).toBe('v1.60.1-DEV');
    expect(version.decomposed).toEqual([1, 60, 1]);
    await expect(rc.noop()).resolves.toBeUndefined();
  });
});

describe('RcClient config calls on rclone', () => {
  it('creates, updates, dumps and deletes a local remote', async () => {
    await rc.configCreate('loc', 'local', { copy_links: 'false' });
    expect((await rc.configDump()).loc).toEqual({ type: 'local', copy_links: 'false' });
    await rc.configUpdate('loc', { copy_links: 'true', skip_links: 'true' });
    expect((await rc.configDump()).loc).toEqual({ type: 'local', copy_links: 'true', skip_links: 'true' });
    expect(await readFile(rclone.configPath, 'utf8')).toContain('[loc]');
    await rc.configDelete('loc');
    expect(await rc.configDump()).not.toHaveProperty('loc');
    await expect(rc.configDelete('loc')).resolves.toBeUndefined();
  });

  it('updating a remote that does not exist is an RcError', async () => {
    const err = await rejection(rc.configUpdate('ghost', { a: 'b' }));
    expect(err).toMatchObject({ path: 'config/update', status: 500, message: "couldn't find type field in config" });
  });

  it('creates and updates a gcs remote with a token without blocking (oauth: true)', async () => {
    const token = (id: string) => JSON.stringify({ access_token: id, token_type: 'Bearer', expiry: new Date(Date.now() + 3_600_000).toISOString() });
    const parameters = {
      client_id: 'test-client',
      client_secret: 'test-client-secret',
      token_url: 'http://127.0.0.1:9/token',
      endpoint: 'http://127.0.0.1:9/storage/v1/',
      bucket_policy_only: 'true',
      token: token('AT-1'),
    };
    await promptly(rc.configCreate('gcs1', 'gcs', parameters, { oauth: true }));
    expect((await rc.configDump()).gcs1).toEqual({ type: 'gcs', ...parameters });

    await promptly(rc.configUpdate('gcs1', { token: token('AT-2') }, { oauth: true }));
    const stored = (await rc.configDump()).gcs1;
    expect(JSON.parse(stored?.token ?? '{}')).toMatchObject({ access_token: 'AT-2' });
    expect(stored).not.toHaveProperty('config_refresh_token');
  });

  it('without oauth: true, rclone’s OAuth question is an RcError, not a hang', async () => {
    await promptly(rc.configCreate('gcs2', 'gcs', { client_id: 'c', token_url: 'http://127.0.0.1:9/token', token: '{"access_token":"AT","token_type":"Bearer","expiry":"2099-01-01T00:00:00Z"}' }, { oauth: true }));
    const err = await rejection(promptly(rc.configUpdate('gcs2', { token: '{"access_token":"AT-3","token_type":"Bearer","expiry":"2099-01-01T00:00:00Z"}' })));
    expect(err).toMatchObject({ path: 'config/update', permanent: true });
    expect(err.message).toContain('config_refresh_token');
  });

  it('stores an obscured webdav password as given; it round-trips through config/dump', async () => {
    const first = obscure('first-pässwörd');
    await rc.configCreate('dav', 'webdav', { url: 'http://127.0.0.1:9/dav', vendor: 'other', user: 'bob', pass: first });
    expect((await rc.configDump()).dav?.pass).toBe(first);

    const second = obscure('zweites Passwort 🔑 "quoted"');
    await rc.configUpdate('dav', { pass: second });
    const stored = (await rc.configDump()).dav?.pass ?? '';
    expect(stored).toBe(second);
    expect(reveal(stored)).toBe('zweites Passwort 🔑 "quoted"');
  });
});

describe('RcClient jobs on rclone', () => {
  it('copies local → local as an async job with per-group stats', async () => {
    const work = await dirs.make();
    const src = join(work, 'src');
    const dst = join(work, 'dst');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 20; i++) files[`d${i % 3}/f${i}.bin`] = randomBytes(1_000 + i * 97);
    await makeTree(src, files);
    const totalBytes = Object.values(files).reduce((sum, content) => sum + content.length, 0);

    const jobid = await rc.startTransfer('copy', src, dst, { group: 'copy-test' });
    expect(rc.unfinishedJobIds()).toContain(jobid);
    expect((await rc.jobList()).jobids).toContain(jobid);

    const status = await finished(jobid);
    expect(status).toMatchObject({ id: jobid, group: 'copy-test', success: true, error: '' });
    expect(rc.unfinishedJobIds()).not.toContain(jobid);
    const stats = await rc.coreStats('copy-test');
    expect(stats).toMatchObject({ transfers: 20, bytes: totalBytes, totalTransfers: 20 });
    const transferred = await rc.coreTransferred('copy-test');
    expect(transferred).toHaveLength(20);
    expect(transferred.every((entry) => entry.error === '' && entry.group === 'copy-test')).toBe(true);
    for (const [name, content] of Object.entries(files)) expect(await readFile(join(dst, name))).toEqual(content);

    await rc.coreStatsDelete('copy-test');
    expect((await rc.call<{ groups: string[] }>('core/group-list')).groups).not.toContain('copy-test');
  });

  it('syncs with a filter, per-job config and empty source dirs', async () => {
    const work = await dirs.make();
    const src = join(work, 'src');
    const dst = join(work, 'dst');
    await makeTree(src, { 'keep.txt': Buffer.from('keep'), 'skip.tmp': Buffer.from('skip') });
    await mkdir(join(src, 'empty'));
    await makeTree(dst, { 'stale.txt': Buffer.from('stale') });

    const jobid = await rc.startTransfer('sync', src, dst, {
      group: 'sync-test',
      config: { Transfers: 1 },
      filter: { ExcludeRule: ['*.tmp'] },
      createEmptySrcDirs: true,
    });
    expect(await finished(jobid)).toMatchObject({ success: true, group: 'sync-test' });
    expect((await readdir(dst)).sort()).toEqual(['empty', 'keep.txt']);
  });

  it('reports a failing job through job/status', async () => {
    const jobid = await rc.startTransfer('copy', '/nonexistent/source/dir', await dirs.make(), { group: 'fail-test' });
    expect(await finished(jobid)).toMatchObject({ success: false, error: 'directory not found' });
  });

  it('runs an async noop job in its group', async () => {
    const jobid = await rc.startNoop({ group: 'noop-test' });
    expect(await finished(jobid)).toMatchObject({ id: jobid, group: 'noop-test', success: true });
  });
});
