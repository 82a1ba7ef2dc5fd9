/**
 * The real rclone 1.60.1 `gcs` backend against the stand-in: copy, check, sync with deletes,
 * copy back, expired and revoked access tokens, and rclone refreshing tokens by itself.
 */
import { randomBytes } from 'node:crypto';
import { rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { DEFAULT_CLIENT, GcsStandin } from '../standins/gcs/server.js';
import { RcloneSandbox, rcloneToken, readTree, writeTree } from './gcs-rclone-support.js';

const MiB = 1024 * 1024;
const BUCKET = 'backups';

let standin: GcsStandin;
let sandbox: RcloneSandbox;

beforeEach(async () => {
  standin = await GcsStandin.start();
  standin.createBucket(BUCKET);
  sandbox = await RcloneSandbox.create();
});

afterEach(async () => {
  await standin.close();
  await sandbox.cleanup();
});

function smallFiles(count: number): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) files.set(`dir${i % 10}/sub${i % 3}/file-${i}.dat`, randomBytes(i % 5 === 0 ? 0 : 100 + ((i * 37) % 4000)));
  // Names that need escaping in URL paths.
  files.set('odd names/naïve file #1 (copy).txt', Buffer.from('unicode and spaces'));
  files.set('odd names/100% & more+.txt', Buffer.from('reserved characters'));
  return files;
}

describe('rclone gcs backend against the stand-in', () => {
  it('copies a tree (multipart and resumable uploads), checks, syncs a deletion and copies back byte for byte', async () => {
    const grant = standin.issueGrant();
    await sandbox.writeGcsRemote('gcs', standin, rcloneToken(grant.accessToken, grant.expiresAt));
    const local = new Map([...smallFiles(200), ['large/three-mib.bin', randomBytes(3 * MiB)], ['large/seventeen-mib.bin', randomBytes(17 * MiB + 123)]]);
    const source = join(sandbox.dir, 'source');
    await writeTree(source, local);

    const copy = await sandbox.rclone(['copy', source, `gcs:${BUCKET}/backup`]);
    expect(copy.stderr).toBe('');
    expect(copy.exitCode).toBe(0);
    const remote = standin.objects(BUCKET);
    expect([...remote.keys()].sort()).toEqual([...local.keys()].map((path) => `backup/${path}`).sort());
    for (const [path, data] of local) expect(remote.get(`backup/${path}`)?.equals(data), path).toBe(true);
    // The Go client uploads in one multipart request below its 16 MiB chunk size, resumable above.
    expect(standin.stats.uploads).toEqual({ multipart: local.size - 1, media: 0, resumable: 1 });

    const check = await sandbox.rclone(['check', source, `gcs:${BUCKET}/backup`]);
    expect(check.exitCode).toBe(0);
    expect(check.stderr).toContain('0 differences found');
    expect(check.stderr).toContain(`${local.size} matching files`);

    const removed = 'dir3/sub1/file-13.dat';
    await rm(join(source, removed));
    local.delete(removed);
    const sync = await sandbox.rclone(['sync', source, `gcs:${BUCKET}/backup`]);
    expect(sync.exitCode).toBe(0);
    expect(standin.object(BUCKET, `backup/${removed}`)).toBeUndefined();
    expect(standin.objects(BUCKET).size).toBe(local.size);

    const restore = join(sandbox.dir, 'restore');
    const copyBack = await sandbox.rclone(['copy', `gcs:${BUCKET}/backup`, restore]);
    expect(copyBack.exitCode).toBe(0);
    const restored = await readTree(restore);
    expect([...restored.keys()].sort()).toEqual([...local.keys()].sort());
    for (const [path, data] of local) expect(restored.get(path)?.equals(data), path).toBe(true);

    expect(standin.stats.unauthorized).toBe(0);
    expect(standin.stats.tokenRequests).toBe(0);
    expect(standin.stats.requestsByAccessToken).toEqual(new Map([[fingerprint(grant.accessToken), standin.stats.apiRequests]]));
  });

  it('keeps modification times: a touched file is updated in place, not re-uploaded', async () => {
    const grant = standin.issueGrant();
    await sandbox.writeGcsRemote('gcs', standin, rcloneToken(grant.accessToken, grant.expiresAt));
    const source = join(sandbox.dir, 'source');
    await writeTree(source, new Map([['a.txt', Buffer.from('alpha')]]));
    expect((await sandbox.rclone(['copy', source, `gcs:${BUCKET}`])).exitCode).toBe(0);

    const modified = new Date('2021-05-05T10:00:00Z');
    await utimes(join(source, 'a.txt'), modified, modified);
    const sync = await sandbox.rclone(['sync', source, `gcs:${BUCKET}`, '-v']);
    expect(sync.exitCode).toBe(0);
    expect(sync.stderr).toContain('Updated modification time in destination');
    const listing = await sandbox.rclone(['lsjson', `gcs:${BUCKET}`]);
    expect(JSON.parse(listing.stdout)).toEqual([expect.objectContaining({ Path: 'a.txt', ModTime: '2021-05-05T10:00:00.000000000Z' })]);
    expect(standin.stats.uploads.multipart).toBe(1);
  });

  it('answers 401 to an access token past its server-side expiry, counted, with no refresh attempted', async () => {
    standin.setTokenLifetime(0);
    const grant = standin.issueGrant();
    // rclone believes the token is good for an hour: only the server knows it has expired.
    await sandbox.writeGcsRemote('gcs', standin, rcloneToken(grant.accessToken, new Date(Date.now() + 3600_000)));

    const listing = await sandbox.rclone(['lsjson', `gcs:${BUCKET}`]);
    expect(listing.exitCode).not.toBe(0);
    expect(listing.stderr).toContain('googleapi: Error 401: Invalid Credentials, authError');
    expect(standin.stats.unauthorized).toBeGreaterThanOrEqual(1);
    expect(standin.stats.unauthorized).toBe(standin.stats.apiRequests);
    expect(standin.stats.tokenRequests).toBe(0);
  });

  it('answers 401 to a revoked access token', async () => {
    const grant = standin.issueGrant();
    await sandbox.writeGcsRemote('gcs', standin, rcloneToken(grant.accessToken, grant.expiresAt));
    expect((await sandbox.rclone(['lsjson', `gcs:${BUCKET}`])).exitCode).toBe(0);
    expect(standin.stats.unauthorized).toBe(0);

    standin.revokeAccessToken(grant.accessToken);
    const listing = await sandbox.rclone(['lsjson', `gcs:${BUCKET}`]);
    expect(listing.exitCode).not.toBe(0);
    expect(listing.stderr).toContain('Error 401');
    expect(standin.stats.unauthorized).toBeGreaterThanOrEqual(1);
  });

  it('counts rclone refreshing by itself when it holds a refresh token and client credentials', async () => {
    const grant = standin.issueGrant();
    // Expired by rclone's reckoning, so the first request makes it call token_url.
    await sandbox.writeGcsRemote('gcs', standin, rcloneToken(grant.accessToken, new Date(Date.now() - 60_000), grant.refreshToken), DEFAULT_CLIENT);
    const source = join(sandbox.dir, 'source');
    await writeTree(source, new Map([['a.txt', Buffer.from('alpha')]]));

    const copy = await sandbox.rclone(['copy', source, `gcs:${BUCKET}`]);
    expect(copy.exitCode).toBe(0);
    expect(standin.object(BUCKET, 'a.txt')?.toString()).toBe('alpha');
    expect(standin.stats).toMatchObject({ tokenRequests: 1, tokenRequestsByRclone: 1, tokenSuccesses: 1, tokenFailures: 0, unauthorized: 0 });
    expect(standin.tokenLog).toEqual([
      expect.objectContaining({
        grantType: 'refresh_token',
        clientId: DEFAULT_CLIENT.clientId,
        status: 200,
        refreshTokenFingerprint: fingerprint(grant.refreshToken),
        userAgent: expect.stringMatching(/^rclone\//) as unknown,
      }),
    ]);
    const stored = await sandbox.storedToken('gcs');
    expect(stored.access_token).not.toBe(grant.accessToken);
    expect(stored.refresh_token).toBe(grant.refreshToken);
    expect(standin.stats.requestsByAccessToken.get(fingerprint(grant.accessToken))).toBeUndefined();
    expect(standin.stats.requestsByAccessToken.get(fingerprint(stored.access_token))).toBe(standin.stats.apiRequests);
  });

  it('rclone stores a rotated refresh token, and the old one is dead', async () => {
    await standin.close();
    standin = await GcsStandin.start({ rotateRefreshTokens: true });
    standin.createBucket(BUCKET);
    const grant = standin.issueGrant();
    await sandbox.writeGcsRemote('gcs', standin, rcloneToken(grant.accessToken, new Date(Date.now() - 60_000), grant.refreshToken), DEFAULT_CLIENT);

    expect((await sandbox.rclone(['lsjson', `gcs:${BUCKET}`])).exitCode).toBe(0);
    expect(standin.stats.tokenRequestsByRclone).toBe(1);
    const stored = await sandbox.storedToken('gcs');
    expect(stored.refresh_token).toBeDefined();
    expect(stored.refresh_token).not.toBe(grant.refreshToken);

    const reuse = await fetch(standin.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: DEFAULT_CLIENT.clientId, client_secret: DEFAULT_CLIENT.clientSecret }),
    });
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
  });
});
