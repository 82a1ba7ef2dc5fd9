/**
 * The real rclone 1.60.1 `onedrive` backend against the OneDrive stand-in through the TLS proxy,
 * with the remote the worker builds: copy (upload sessions in several chunks, an empty file),
 * check (SHA-1), lsjson (modification times, paging), sync with a deletion, copy back (downloads
 * through Graph's redirect), and the 401s of a revoked or expired access token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { RcloneSandbox, readTree, writeTree } from './gcs-rclone-support.js';
import { startOnedriveRig, workerOnedriveParameters, type OnedriveRig } from './onedrive-rclone-support.js';

const KiB = 1024;
/** rclone's smallest OneDrive chunk (a multiple of 320 KiB), so a 1.1 MiB file takes 4 PUTs. */
const CHUNK_ARGS = ['--onedrive-chunk-size', '320k'];

let rig: OnedriveRig;
let sandbox: RcloneSandbox;

beforeEach(async () => {
  rig = await startOnedriveRig({ maxPageSize: 7 });
  sandbox = await RcloneSandbox.create();
});

afterEach(async () => {
  await rig.close();
  await sandbox.cleanup();
});

async function useGrantedRemote(): Promise<{ accessToken: string; grantId: string }> {
  const grant = rig.standin.oauth.issueGrant();
  await sandbox.writeRemotes({ od: await workerOnedriveParameters(rig.standin, 'od', grant) });
  return grant;
}

function rclone(args: readonly string[]) {
  return sandbox.rclone(args, rig.env);
}

function tree(): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 20; i++) files.set(`many/file-${String(i).padStart(2, '0')}.dat`, randomBytes(100 + i * 37));
  files.set('big/one-point-one-mib.bin', randomBytes(1100 * KiB));
  files.set('big/exactly-two-chunks.bin', randomBytes(640 * KiB));
  files.set('empty.txt', Buffer.alloc(0));
  files.set('odd names/naïve file #1 (copy).txt', Buffer.from('unicode, spaces and a hash'));
  files.set('odd names/100% & more+.txt', Buffer.from('reserved characters'));
  return files;
}

describe('rclone onedrive backend against the stand-in, through the proxy', () => {
  it('copies, checks, lists, syncs a deletion and copies back byte for byte, every byte sent once', async () => {
    const grant = await useGrantedRemote();
    const local = tree();
    const source = join(sandbox.dir, 'source');
    await writeTree(source, local);
    const modified = new Date('2021-05-05T10:00:00Z');
    await utimes(join(source, 'big/exactly-two-chunks.bin'), modified, modified);

    const copy = await rclone(['copy', source, 'od:backup', ...CHUNK_ARGS]);
    expect(copy.stderr).toBe('');
    expect(copy.exitCode).toBe(0);
    const stored = rig.standin.files();
    expect([...stored.keys()].sort()).toEqual([...local.keys()].map((path) => `/backup/${path}`).sort());
    for (const [path, data] of local) expect(stored.get(`/backup/${path}`)?.equals(data), path).toBe(true);
    // Every non-empty file went through exactly one upload session; the empty one by a simple PUT.
    const nonEmpty = [...local].filter(([, data]) => data.length > 0).map(([path]) => `/backup/${path}`);
    expect(new Map([...rig.standin.stats.uploadSessionsByPath].sort())).toEqual(new Map(nonEmpty.sort().map((path) => [path, 1])));
    expect(rig.standin.stats.requestsByCall.get('uploadChunk')).toBe(nonEmpty.length - 2 + 4 + 2);
    expect(rig.standin.stats.requestsByCall.get('putContent')).toBe(1);
    expect(rig.standin.resentBytes()).toBe(0);
    expect(rig.standin.modTime('/backup/big/exactly-two-chunks.bin')).toEqual(modified);

    const check = await rclone(['check', source, 'od:backup']);
    expect(check.exitCode).toBe(0);
    expect(check.stderr).toContain('0 differences found');
    expect(check.stderr).toContain(`${local.size} matching files`);

    // Paged listings (7 per page here: 3 pages) and SHA-1 hashes as rclone reads them.
    const listingsBefore = rig.standin.stats.requestsByCall.get('listChildren') ?? 0;
    const listing = await rclone(['lsjson', '--hash', 'od:backup/many']);
    expect(rig.standin.stats.requestsByCall.get('listChildren')).toBe(listingsBefore + 3);
    expect(listing.exitCode).toBe(0);
    const entries = JSON.parse(listing.stdout) as { Path: string; Hashes: { sha1: string } }[];
    expect(entries).toHaveLength(20);
    for (const entry of entries) {
      expect(entry.Hashes.sha1).toBe(
        createHash('sha1')
          .update(local.get(`many/${entry.Path}`)!)
          .digest('hex'),
      );
    }
    const big = JSON.parse((await rclone(['lsjson', 'od:backup/big'])).stdout) as { Path: string; ModTime: string }[];
    expect(big.find((entry) => entry.Path === 'exactly-two-chunks.bin')?.ModTime).toBe('2021-05-05T10:00:00Z');

    const removed = 'many/file-03.dat';
    await rm(join(source, removed));
    local.delete(removed);
    local.set('new.dat', randomBytes(5000));
    await writeTree(source, new Map([['new.dat', local.get('new.dat')!]]));
    const sync = await rclone(['sync', source, 'od:backup', ...CHUNK_ARGS]);
    expect(sync.exitCode).toBe(0);
    expect(rig.standin.file(`/backup/${removed}`)).toBeUndefined();
    expect(rig.standin.files().size).toBe(local.size);
    expect((await rclone(['check', source, 'od:backup'])).exitCode).toBe(0);

    const restore = join(sandbox.dir, 'restore');
    const copyBack = await rclone(['copy', 'od:backup', restore]);
    expect(copyBack.exitCode).toBe(0);
    const restored = await readTree(restore);
    expect([...restored.keys()].sort()).toEqual([...local.keys()].sort());
    for (const [path, data] of local) expect(restored.get(path)?.equals(data), path).toBe(true);

    expect(rig.standin.resentBytes()).toBe(0);
    expect(rig.standin.stats).toMatchObject({ unauthorized: 0, tokenRequests: 0, invalidTokenOnUploadUrl: 0 });
    expect(rig.standin.stats.requestsByAccessToken).toEqual(new Map([[fingerprint(grant.accessToken), rig.standin.stats.apiRequests]]));
    expect(rig.proxy.stats).toMatchObject({ refused: new Map(), tlsFailures: 0, upstreamErrors: 0 });
    expect(rig.proxy.stats.requestsByHost.get('graph.microsoft.com')).toBeGreaterThan(0);
    expect(rig.proxy.stats.requestsByHost.get('api.onedrive.com')).toBeGreaterThan(0);
  });

  it('updates only the modification time of a touched file (a PATCH, no upload)', async () => {
    await useGrantedRemote();
    const source = join(sandbox.dir, 'source');
    await writeTree(source, new Map([['a.txt', Buffer.from('alpha')]]));
    expect((await rclone(['copy', source, 'od:'])).exitCode).toBe(0);

    const modified = new Date('2022-02-02T02:02:02Z');
    await utimes(join(source, 'a.txt'), modified, modified);
    const sync = await rclone(['sync', source, 'od:', '-v']);
    expect(sync.exitCode).toBe(0);
    expect(sync.stderr).toContain('Updated modification time in destination');
    expect(rig.standin.modTime('/a.txt')).toEqual(modified);
    expect(rig.standin.stats.uploadSessionsByPath.get('/a.txt')).toBe(1);
    expect(rig.standin.stats.requestsByCall.get('updateItem')).toBe(1);
  });

  it('a revoked grant: rclone gets 401 InvalidAuthenticationToken, counted by call and user agent, and does not retry it', async () => {
    const grant = await useGrantedRemote();
    expect((await rclone(['lsjson', 'od:'])).exitCode).toBe(0);

    rig.standin.oauth.revokeGrant(grant.grantId);
    const listing = await rclone(['lsjson', 'od:']);
    expect(listing.exitCode).not.toBe(0);
    expect(listing.stderr).toContain('InvalidAuthenticationToken: Access token validation failure.');
    expect(rig.standin.stats.unauthorized).toBe(1);
    expect(rig.standin.stats.unauthorizedByCall).toEqual(new Map([['getItem', 1]]));
    expect([...rig.standin.stats.unauthorizedByUserAgent.keys()]).toEqual([expect.stringMatching(/^rclone\//)]);
    expect(rig.standin.stats.tokenRequests).toBe(0);
  });

  it('an access token past its server-side expiry: 401 "Access token has expired or is not yet valid."', async () => {
    rig.standin.oauth.setTokenLifetime(0);
    const grant = rig.standin.oauth.issueGrant();
    // rclone believes the token is good for an hour: only the server knows it has expired.
    rig.standin.oauth.setTokenLifetime(3600);
    const drive = rig.standin.oauth.issueGrant();
    const parameters = await workerOnedriveParameters(rig.standin, 'od', drive);
    await sandbox.writeRemotes({
      od: { ...parameters, token: JSON.stringify({ access_token: grant.accessToken, token_type: 'Bearer', expiry: new Date(Date.now() + 3600_000).toISOString() }) },
    });

    const listing = await rclone(['lsjson', 'od:']);
    expect(listing.exitCode).not.toBe(0);
    expect(listing.stderr).toContain('failed to get root: InvalidAuthenticationToken: Access token has expired or is not yet valid.');
    expect(rig.standin.stats.unauthorizedByCall).toEqual(new Map([['getItem', 1]]));
  });
});
