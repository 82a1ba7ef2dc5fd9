/**
 * The two ways a token reaches a real rclone 1.60.1, as the job side relies on them: a push to a
 * remote rclone does not have yet is skipped (no rclone ERROR, real-hannibal F4), and
 * `reloadRemote` drops the remote's cached Fs, so the next run builds a fresh Fs on the new token
 * (and the other remotes' cached Fs stay); a routine push (`pushToken`) drops none.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import type { RcloneLogLine } from '../../src/rclone/log-line.js';
import { RcloneProcess } from '../../src/rclone/process.js';
import type { RcClient } from '../../src/rclone/rc-client.js';
import { RemoteManager } from '../../src/storage/remote-manager.js';
import type { RemoteSpec } from '../../src/storage/remote-spec.js';
import { TempDirs } from '../rclone/rclone-fixture.js';

const dirs = new TempDirs();
const rcloneLines: RcloneLogLine[] = [];
let rclone: RcloneProcess;
let rc: RcClient;
let remotes: RemoteManager;
let root: string;

beforeAll(async () => {
  root = await dirs.make('remote-reload-');
  rclone = await RcloneProcess.start({ rclonePath: 'rclone', stateDir: join(root, 'state'), logger: silentLogger(), onLog: (line) => rcloneLines.push(line) });
  rc = rclone.client;
  remotes = new RemoteManager(() => rc, () => rclone.configPath, silentLogger());
  await mkdir(join(root, 'data', 'a'), { recursive: true });
  await mkdir(join(root, 'data', 'b'), { recursive: true });
});

afterAll(async () => {
  await rclone.stop({ graceful: false });
  expect(await dirs.processesUsingThem()).toEqual([]);
  await dirs.removeAll();
});

/** A local remote carrying a token parameter, like an OAuth remote, so it can be listed offline. */
function spec(name: string, accessToken: string): RemoteSpec {
  const token = JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expiry: '2030-01-01T00:00:00Z' });
  return { name, type: 'local', parameters: { token }, oauth: false, obscuredKeys: [] };
}

async function cachedFs(): Promise<number> {
  return (await rc.call<{ entries: number }>('fscache/entries')).entries;
}

describe('RemoteManager, as the job side uses it', () => {
  it('pushToken to a remote rclone does not have yet pushes nothing and makes rclone log no error', async () => {
    const before = rcloneLines.length;
    await expect(remotes.pushToken('learnt-at-acquisition', { access_token: 'ya29.x', token_type: 'Bearer', expiry: '2030-01-01T00:00:00Z' })).resolves.toBe(false);
    expect((await rc.configDump())['learnt-at-acquisition']).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(rcloneLines.slice(before).filter((l) => l.level === 'error' || l.level === 'critical')).toEqual([]);
  });

  it("reloadRemote writes the new token and drops that remote's cached Fs only", async () => {
    await remotes.apply(spec('ra', 'tok-1'));
    await remotes.apply(spec('rb', 'tok-1'));
    await rc.call('operations/list', { fs: `ra:${join(root, 'data', 'a')}`, remote: '' });
    await rc.call('operations/list', { fs: `rb:${join(root, 'data', 'b')}`, remote: '' });
    expect(await cachedFs()).toBe(2);

    await remotes.reloadRemote(spec('ra', 'tok-2'));

    expect(await cachedFs()).toBe(1);
    expect(JSON.parse((await rc.configDump()).ra?.token ?? '{}')).toMatchObject({ access_token: 'tok-2' });
  });

  it('a routine push drops no cached Fs; reloadRemote of the same token still drops it (config/update always clears it)', async () => {
    await rc.call('operations/list', { fs: `ra:${join(root, 'data', 'a')}`, remote: '' });
    const cached = await cachedFs();
    await remotes.pushToken('ra', { access_token: 'tok-3', token_type: 'Bearer', expiry: '2030-01-01T00:00:00Z' });
    expect(await cachedFs()).toBe(cached);
    await remotes.reloadRemote(spec('ra', 'tok-3'));
    expect(await cachedFs()).toBe(cached - 1);
  });
});
