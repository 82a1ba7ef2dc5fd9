/**
 * The real rclone 1.60.1 `drive` backend against the Drive stand-in, through the TLS proxy:
 * copy (multipart below the cutoff, resumable in several chunks above), check, sync with a
 * changed and a deleted file, lsjson, copy back; and Google's 401 once the token is revoked.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { DriveRig, SMALL_CHUNKS } from './gdrive-rclone-support.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The User-Agent Debian's rclone 1.60.1 sends (exactly this: its version string is not appended). */
const RCLONE_UA = 'rclone/';

let rig: DriveRig;

beforeEach(async () => {
  rig = await DriveRig.start();
});

afterEach(async () => {
  await rig.close();
});

async function writeTree(root: string, files: Map<string, Buffer>): Promise<void> {
  for (const [path, data] of files) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), data);
  }
}

async function readTree(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files.set(relative(root, join(entry.parentPath, entry.name)), await readFile(join(entry.parentPath, entry.name)));
  }
  return files;
}

/** Path → MD5: file maps compared without vitest walking megabytes byte by byte. */
function digests(files: Map<string, Buffer>): Map<string, string> {
  return new Map([...files].map(([path, data]) => [path, createHash('md5').update(data).digest('hex')]));
}

interface LsjsonEntry {
  Path: string;
  Size: number;
  ModTime: string;
  IsDir: boolean;
  ID: string;
}

describe('rclone drive backend against the stand-in', () => {
  it('copies (multipart and chunked resumable), checks, syncs a change and a deletion, lists and copies back byte for byte', async () => {
    const token = rig.drive.issueGrant();
    await rig.sandbox.writeRemotes({ gd: rig.remoteParameters(token) });
    const big = randomBytes(3 * MiB + 123);
    const local = new Map<string, Buffer>([
      ['small/a.bin', randomBytes(700 * KiB)],
      ['small/empty.bin', Buffer.alloc(0)],
      ['small/deep/b.txt', Buffer.from('bee')],
      ["odd names/it's naïve #1 (copy).txt", Buffer.from('quotes, unicode and spaces')],
      ['odd names/back\\slash 100%.txt', Buffer.from('a backslash')],
      ['big.bin', big],
    ]);
    const source = join(rig.sandbox.dir, 'source');
    await writeTree(source, local);

    const copy = await rig.rclone(['copy', source, 'gd:backup', ...SMALL_CHUNKS]);
    expect(copy.stderr).toBe('');
    expect(copy.exitCode).toBe(0);
    expect(digests(rig.drive.files('backup'))).toEqual(digests(local));
    const { stats } = rig.drive;
    expect(stats.uploads).toEqual({ multipart: local.size - 1, media: 0, resumable: 1 });
    // 3 MiB + 123 bytes in 1 MiB chunks: four POSTs to the session, each byte once.
    expect(stats.requestsByCall.get('upload.resumableChunk')).toBe(4);
    for (const [path, data] of local) {
      expect(stats.uploadSessions.get(`backup/${path}`), path).toBe(1);
      expect(stats.bytesReceived.get(`backup/${path}`), path).toBe(data.length);
    }

    const check = await rig.rclone(['check', source, 'gd:backup']);
    expect(check.exitCode).toBe(0);
    expect(check.stderr).toContain('0 differences found');
    expect(check.stderr).toContain(`${local.size} matching files`);

    const bigId = rig.drive.file('backup/big.bin')!.id;
    const changed = randomBytes(2 * MiB);
    await writeFile(join(source, 'big.bin'), changed);
    local.set('big.bin', changed);
    await rm(join(source, 'small/deep/b.txt'));
    local.delete('small/deep/b.txt');
    const sync = await rig.rclone(['sync', source, 'gd:backup', ...SMALL_CHUNKS]);
    expect(sync.exitCode).toBe(0);
    expect(digests(rig.drive.files('backup'))).toEqual(digests(local));
    // Drive keeps a changed file's id (a new revision); a deleted one goes to the trash.
    expect(rig.drive.file('backup/big.bin')!.id).toBe(bigId);
    expect(rig.drive.trashedPaths()).toEqual(['backup/small/deep/b.txt']);
    expect((await rig.rclone(['check', source, 'gd:backup'])).exitCode).toBe(0);

    const listing = await rig.rclone(['lsjson', '-R', 'gd:backup']);
    expect(listing.exitCode).toBe(0);
    const entries = JSON.parse(listing.stdout) as LsjsonEntry[];
    const files = entries.filter((entry) => !entry.IsDir);
    expect(files.map((entry) => entry.Path).sort()).toEqual([...local.keys()].sort());
    for (const entry of files) {
      const { mtimeNs } = await stat(join(source, entry.Path), { bigint: true });
      expect(entry.Size, entry.Path).toBe(local.get(entry.Path)!.length);
      // rclone sends nanoseconds; Drive keeps (and lists) whole milliseconds.
      expect(Date.parse(entry.ModTime), entry.Path).toBe(Number(mtimeNs / 1_000_000n));
      expect(entry.ID).toBe(rig.drive.file(`backup/${entry.Path}`)!.id);
    }

    const restore = join(rig.sandbox.dir, 'restore');
    expect((await rig.rclone(['copy', 'gd:backup', restore])).exitCode).toBe(0);
    expect(digests(await readTree(restore))).toEqual(digests(local));

    expect(stats.unauthorized).toBe(0);
    expect(stats.requestsByAccessToken).toEqual(new Map([[fingerprint(token.accessToken), expect.objectContaining({ requests: stats.apiRequests, unauthorized: 0 })]]));
    expect(new Set(stats.requestLog.map((record) => record.userAgent))).toEqual(new Set([RCLONE_UA]));
    expect(rig.proxy.stats.refused).toEqual(new Map());
    expect(rig.drive.oauth.stats.tokenRequests).toBe(0);
  });

  it('rides out rate limits and a chunk whose answer is lost: the chunk is re-sent in the same session, every file stored once', async () => {
    const token = rig.drive.issueGrant();
    await rig.sandbox.writeRemotes({ gd: rig.remoteParameters(token) });
    const local = new Map([
      ['a.bin', randomBytes(300 * KiB)],
      ['big.bin', randomBytes(3 * MiB)],
    ]);
    const source = join(rig.sandbox.dir, 'source');
    await writeTree(source, local);
    rig.drive.injectFault({ kind: 'rateLimit', calls: ['files.list'], times: 2 });
    rig.drive.injectFault({ kind: 'reset', calls: ['upload.resumableChunk'] });

    const copy = await rig.rclone(['copy', source, 'gd:backup', ...SMALL_CHUNKS]);
    expect(copy.exitCode).toBe(0);
    expect(digests(rig.drive.files('backup'))).toEqual(digests(local));
    const { stats } = rig.drive;
    expect(stats.faultsInjected).toBe(3);
    expect(stats.requestLog.filter((record) => record.call === 'files.list').map((record) => record.status).slice(0, 3)).toEqual([403, 403, 200]);
    // Three 1 MiB chunks; the first one's answer was lost (the proxy said 502), so it was sent again.
    expect(stats.requestLog.filter((record) => record.call === 'upload.resumableChunk').map((record) => record.status)).toEqual([0, 308, 308, 200]);
    expect(stats.uploadSessions.get('backup/big.bin')).toBe(1);
    expect(stats.bytesReceived.get('backup/big.bin')).toBe(3 * MiB);
    expect(stats.unauthorized).toBe(0);
  });

  it('answers Google’s 401 once the grant is revoked; rclone reports UNAUTHENTICATED/authError and stops', async () => {
    const grant = rig.drive.issueGrant();
    const token = await rig.refresh(grant.refreshToken);
    await rig.sandbox.writeRemotes({ gd: rig.remoteParameters(token) });
    rig.drive.putFile('dir1/a.bin', Buffer.from('alpha'));
    expect((await rig.rclone(['lsjson', 'gd:dir1'])).exitCode).toBe(0);
    expect(rig.drive.stats.unauthorized).toBe(0);

    // Google's revocation on re-authorisation: the refresh token and every access token of the grant.
    rig.drive.oauth.revokeGrant(grant.grantId);
    const listing = await rig.rclone(['lsjson', 'gd:dir1']);
    expect(listing.exitCode).not.toBe(0);
    expect(listing.stderr).toContain("couldn't find root directory ID: googleapi: Error 401: Request had invalid authentication credentials.");
    expect(listing.stderr).toContain('authError');
    // rclone does not retry a 401: one refused root lookup, nothing after it.
    expect(rig.drive.stats.unauthorizedByCall).toEqual(new Map([[`files.get ${RCLONE_UA}`, 1]]));
    expect(rig.drive.tokenUse(token.accessToken)).toMatchObject({ unauthorized: 1 });
    await expect(rig.refresh(grant.refreshToken)).rejects.toThrow('HTTP 400');
    expect(rig.drive.oauth.stats.tokenRequestsByRclone).toBe(0);
  });
});
