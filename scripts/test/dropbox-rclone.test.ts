/**
 * The real rclone 1.60.1 against the Dropbox stand-in through the TLS proxy: copies in the
 * default batch mode and with `batch_mode=off` (small files, a chunked file, an empty one and a
 * non-ASCII name), `rclone check`, `lsjson`, a copy back, and a sync that deletes.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DropboxStandin } from '../standins/dropbox/server.js';
import { TlsProxy } from '../standins/tls-proxy/proxy.js';

const RCLONE = '/usr/bin/rclone';

let dropbox: DropboxStandin;
let proxy: TlsProxy;
let dir: string;
let config: string;
const files = new Map<string, Buffer>();

function env(): Record<string, string> {
  const inherited = Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('RCLONE_'));
  return { ...Object.fromEntries(inherited), ...proxy.env() };
}

async function rclone(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const result = await execa(RCLONE, ['--config', config, ...args], { env: env(), extendEnv: false, reject: false });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  dropbox = await DropboxStandin.start();
  proxy = await TlsProxy.start({ routes: dropbox.hosts });
  dir = await mkdtemp(join(tmpdir(), 'dropbox-rclone-'));
  const grant = dropbox.issueGrant();
  const token = JSON.stringify({ access_token: grant.accessToken, token_type: 'Bearer', expiry: grant.expiresAt.toISOString() });
  config = join(dir, 'rclone.conf');
  const remote = (name: string, batchMode: string) => [`[${name}]`, 'type = dropbox', `batch_mode = ${batchMode}`, 'chunk_size = 1M', `token_url = ${dropbox.tokenUrl}`, `token = ${token}`, ''];
  await writeFile(config, [...remote('batched', 'sync'), ...remote('unbatched', 'off')].join('\n'), { mode: 0o600 });
  const source = join(dir, 'src');
  await mkdir(join(source, 'sub'), { recursive: true });
  files.set('a.bin', Buffer.from('alpha'));
  files.set('sub/ünïcode ☺ 𝄞.txt', Buffer.from('non-ASCII name'));
  files.set('sub/empty.bin', Buffer.alloc(0));
  // Larger than chunk_size: start, several appends, then a batch entry or upload_session/finish.
  files.set('big.bin', Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  for (const [rel, bytes] of files) await writeFile(join(source, rel), bytes);
}, 60_000);

afterAll(async () => {
  await proxy.close();
  await dropbox.close();
  await rm(dir, { recursive: true, force: true });
});

describe.each(['batched', 'unbatched'])('rclone copy to %s', (remote) => {
  it('stores every file byte for byte, committed once, and rclone check agrees', async () => {
    const target = `backup-${remote}`;
    const copy = await rclone('copy', join(dir, 'src'), `${remote}:${target}`);
    expect(copy.exitCode, copy.stderr).toBe(0);
    for (const [rel, bytes] of files) {
      expect(dropbox.file(`/${target}/${rel}`)?.equals(bytes), rel).toBe(true);
      expect(dropbox.fileStats(`/${target}/${rel}`)?.commits, rel).toBe(1);
    }
    const check = await rclone('check', join(dir, 'src'), `${remote}:${target}`);
    expect(check.exitCode, check.stderr).toBe(0);
    expect(check.stderr).toContain(`${files.size} matching files`);
    const listing = JSON.parse((await rclone('lsjson', '-R', '--hash', `${remote}:${target}`)).stdout) as { Path: string; Size: number; Hashes?: { dropbox?: string } }[];
    expect(listing.filter((e) => e.Size >= 0 && e.Hashes).map((e) => e.Path).sort()).toEqual([...files.keys()].sort());
    const back = join(dir, `back-${remote}`);
    expect((await rclone('copy', `${remote}:${target}`, back)).exitCode).toBe(0);
    for (const [rel, bytes] of files) expect((await readFile(join(back, rel))).equals(bytes), rel).toBe(true);
  }, 90_000);
});

describe('rclone sync', () => {
  it('deletes what the source no longer has, and nothing came back with a 401', async () => {
    const source = join(dir, 'sync-src');
    await mkdir(source, { recursive: true });
    await writeFile(join(source, 'keep.txt'), 'keep');
    await writeFile(join(source, 'drop.txt'), 'drop');
    expect((await rclone('sync', source, 'batched:mirror')).exitCode).toBe(0);
    await rm(join(source, 'drop.txt'));
    const sync = await rclone('sync', source, 'batched:mirror');
    expect(sync.exitCode, sync.stderr).toBe(0);
    expect(dropbox.file('/mirror/keep.txt')?.toString()).toBe('keep');
    expect(dropbox.file('/mirror/drop.txt')).toBeUndefined();
    expect(dropbox.stats.requestsByRoute.get('files/delete_v2')).toBeGreaterThanOrEqual(1);
    expect(dropbox.stats.unauthorized).toBe(0);
    expect(dropbox.stats.tokenRequests).toBe(0);
  }, 60_000);
});
