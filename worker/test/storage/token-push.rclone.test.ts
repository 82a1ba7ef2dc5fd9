/**
 * The token push path against a real rclone 1.60.1 and the GCS stand-in (no regression on a
 * backend other than Dropbox): a running job adopts pushed tokens; a push makes no rc config
 * write and keeps rclone's cached Fs; `reloadRemote` drops it; a token write that something else
 * overwrote is detected through `config/dump` and written again.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { GcsStandin } from '../../../scripts/standins/gcs/server.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import { silentLogger } from '../../src/log/logger.js';
import { rcloneTokenJson, writeRemoteToken } from '../../src/rclone/config-token.js';
import { RcloneProcess } from '../../src/rclone/process.js';
import { RCLONE_FS_CACHE_ARGS, RemoteManager } from '../../src/storage/remote-manager.js';
import { buildRemoteSpec } from '../../src/storage/remote-spec.js';
import { recordingLogger } from '../support/recording-logger.js';
import { TempDirs } from '../rclone/rclone-fixture.js';

// rclone switches at expiry − 10 s: pushes every 5 s always land before it.
const TOKEN_LIFETIME_S = 25;

const dirs = new TempDirs();
let rclone: RcloneProcess;
let gcs: GcsStandin;

beforeAll(async () => {
  gcs = await GcsStandin.start({ tokenLifetimeSeconds: TOKEN_LIFETIME_S, bytesPerSecond: 25_000 });
  gcs.createBucket('bkt');
  rclone = await RcloneProcess.start({ rclonePath: 'rclone', stateDir: await dirs.make('token-push-'), logger: silentLogger(), extraArgs: [...RCLONE_FS_CACHE_ARGS] });
});

afterAll(async () => {
  await rclone.stop({ graceful: false });
  await gcs.close();
  expect(await dirs.processesUsingThem()).toEqual([]);
  await dirs.removeAll();
});

function freshToken(): RcloneToken {
  const grant = gcs.issueGrant();
  return { access_token: grant.accessToken, token_type: 'Bearer', expiry: grant.expiresAt.toISOString() };
}

function gcsSpec(name: string, token: RcloneToken) {
  return buildRemoteSpec({ id: 1, technology: 'gcs', uriSchema: name }, { token, tokenUrl: gcs.tokenUrl, gcsApiUrl: gcs.apiEndpoint });
}

async function fsCacheEntries(): Promise<number> {
  return (await rclone.client.call<{ entries: number }>('fscache/entries')).entries;
}

describe('token push on a GCS remote', () => {
  it('reaches a running job at its switch points with no rc config write and no cache clear', { timeout: 120_000 }, async () => {
    const remotes = new RemoteManager(() => rclone.client, () => rclone.configPath, silentLogger());
    await remotes.apply(gcsSpec('store', freshToken()));
    const source = join(await dirs.make('token-push-src-'), 'src');
    await makeTree(source, 20, 50_000);
    const update = vi.spyOn(rclone.client, 'configUpdate');
    const create = vi.spyOn(rclone.client, 'configCreate');
    const jobid = await rclone.client.startTransfer('copy', source, 'store:bkt/photos', { group: 'push-test' });
    const entries: number[] = [];
    let status = await rclone.client.jobStatus(jobid);
    let pushes = 0;
    for (let last = Date.now(); !status.finished; status = await rclone.client.jobStatus(jobid)) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (Date.now() - last >= 5_000) {
        last = Date.now();
        await remotes.pushToken('store', freshToken());
        pushes += 1;
        entries.push(await fsCacheEntries());
      }
    }
    expect(status).toMatchObject({ success: true, error: '' });
    expect(pushes).toBeGreaterThanOrEqual(5);
    // 20 × 50 kB at 25 kB/s: 40 s, past two switch points (15 s and 30 s and more).
    expect(gcs.stats.unauthorized).toBe(0);
    expect(gcs.stats.tokenRequestsByRclone).toBe(0);
    expect(gcs.stats.requestsByAccessToken.size).toBeGreaterThanOrEqual(3);
    expect(gcs.objects('bkt').size).toBe(20);
    expect(update).not.toHaveBeenCalled();
    expect(create).not.toHaveBeenCalled();
    // The job's Fs stayed cached through every push (config/update would have dropped it).
    expect(entries.every((n) => n >= 1)).toBe(true);
    update.mockRestore();
    create.mockRestore();

    // Cached: the job's source (local) and destination (store) Fs; a reload drops the latter.
    const cached = await fsCacheEntries();
    await remotes.reloadRemote(gcsSpec('store', freshToken()));
    expect(await fsCacheEntries()).toBe(cached - 1);
  });

  it('writes a token again when something overwrote it before rclone confirmed it', async () => {
    const { logger, records } = recordingLogger();
    const remotes = new RemoteManager(() => rclone.client, () => rclone.configPath, logger);
    const first = freshToken();
    await remotes.apply(gcsSpec('clobbered', first));
    const next = freshToken();
    const dump = rclone.client.configDump.bind(rclone.client);
    let clobbers = 0;
    const spy = vi.spyOn(rclone.client, 'configDump').mockImplementation(async () => {
      // As rclone saving its whole in-memory config just after our rename: the old token is back.
      if (clobbers++ === 0) await writeRemoteToken(rclone.configPath, 'clobbered', rcloneTokenJson(first));
      return dump();
    });
    await remotes.pushToken('clobbered', next);
    spy.mockRestore();
    expect(clobbers).toBe(2);
    expect((await rclone.client.configDump()).clobbered?.token).toBe(rcloneTokenJson(next));
    expect(records.filter((r) => r.msg.includes('written again'))).toHaveLength(1);
  });

  it('gives up with an error when rclone never holds the token written', async () => {
    const remotes = new RemoteManager(() => rclone.client, () => rclone.configPath, silentLogger());
    const first = freshToken();
    await remotes.apply(gcsSpec('stubborn', first));
    const dump = rclone.client.configDump.bind(rclone.client);
    const spy = vi.spyOn(rclone.client, 'configDump').mockImplementation(async () => {
      await writeRemoteToken(rclone.configPath, 'stubborn', rcloneTokenJson(first));
      return dump();
    });
    await expect(remotes.pushToken('stubborn', freshToken())).rejects.toThrow(/does not hold the token written/);
    expect(spy).toHaveBeenCalledTimes(3);
    spy.mockRestore();
  });
});
