/**
 * The stand-in's upload counters, through the real rclone: body bytes read per object (every
 * attempt) against the body of the upload that stored it, so a benchmark can tell bytes sent
 * again; and the longest gap between two body chunks, so it can tell how long uploads stood still.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GcsStandin } from '../standins/gcs/server.js';
import { RCLONE, type RcloneSandbox, startGcsRemote } from './gcs-rclone-support.js';

const KiB = 1024;

let standin: GcsStandin;
let sandbox: RcloneSandbox;

beforeEach(async () => {
  ({ standin, sandbox } = await startGcsRemote());
});

afterEach(async () => {
  await standin.close();
  await sandbox.cleanup();
});

async function localFile(name: string, size: number): Promise<string> {
  const file = join(sandbox.dir, name);
  await writeFile(file, randomBytes(size));
  return file;
}

describe('upload counters', () => {
  it('counts one upload once: the bytes read are the stored upload body (media plus multipart framing)', async () => {
    const file = await localFile('a.bin', 100 * KiB);
    expect((await sandbox.rclone(['copyto', file, 'gcs:bkt/dir/a.bin'])).exitCode).toBe(0);
    const read = standin.stats.uploadBodyBytes.get('bkt/dir/a.bin');
    expect(read).toBeGreaterThan(100 * KiB);
    expect(standin.stats.storedUploadBodyBytes.get('bkt/dir/a.bin')).toBe(read);
  });

  it('counts a second upload of the same object as bytes beyond the stored body', async () => {
    const file = await localFile('a.bin', 64 * KiB);
    expect((await sandbox.rclone(['copyto', file, 'gcs:bkt/a.bin'])).exitCode).toBe(0);
    const first = standin.stats.uploadBodyBytes.get('bkt/a.bin') ?? 0;
    await writeFile(file, randomBytes(64 * KiB));
    expect((await sandbox.rclone(['copyto', '--ignore-times', file, 'gcs:bkt/a.bin'])).exitCode).toBe(0);
    const stored = standin.stats.storedUploadBodyBytes.get('bkt/a.bin') ?? 0;
    expect(standin.stats.uploadBodyBytes.get('bkt/a.bin')).toBe(first + stored);
  });

  it('counts the bytes of an upload cut off mid-body, which stores nothing', async () => {
    standin.setBytesPerSecond(64 * KiB);
    const file = await localFile('big.bin', 512 * KiB);
    const upload = execa(RCLONE, ['--config', sandbox.configPath, 'copyto', file, 'gcs:bkt/big.bin'], {
      reject: false,
      stdin: 'ignore',
      extendEnv: false,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: sandbox.dir },
    });
    const deadline = Date.now() + 20_000;
    while ((standin.stats.uploadBodyBytes.get('bkt/big.bin') ?? 0) < 64 * KiB && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    upload.kill('SIGKILL');
    await upload;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(standin.stats.uploadBodyBytes.get('bkt/big.bin')).toBeGreaterThanOrEqual(64 * KiB);
    expect(standin.stats.storedUploadBodyBytes.has('bkt/big.bin')).toBe(false);
    expect(standin.object('bkt', 'big.bin')).toBeUndefined();
  });

  it('keeps the longest gap between two body chunks', async () => {
    const file = await localFile('a.bin', 32 * KiB);
    expect((await sandbox.rclone(['copyto', file, 'gcs:bkt/one.bin'])).exitCode).toBe(0);
    const afterFirst = standin.stats.longestUploadGapMs;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await sandbox.rclone(['copyto', file, 'gcs:bkt/two.bin'])).exitCode).toBe(0);
    expect(afterFirst).toBeLessThan(1_500);
    expect(standin.stats.longestUploadGapMs).toBeGreaterThanOrEqual(1_500);
    expect(standin.stats.lastUploadChunkAt).toBeGreaterThan(Date.now() - 10_000);
  });
});
