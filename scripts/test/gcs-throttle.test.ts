/**
 * The stand-in's bandwidth limit, seen through the real rclone: a throttled upload is held
 * back by the pacer (counted in `throttleDelayMs`) and cannot finish faster than the limit.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GcsStandin } from '../standins/gcs/server.js';
import { type RcloneSandbox, startGcsRemote } from './gcs-rclone-support.js';

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

describe('bandwidth throttle', () => {
  it('leaves unthrottled transfers alone', async () => {
    const file = join(sandbox.dir, 'file.bin');
    await writeFile(file, randomBytes(256 * KiB));
    expect((await sandbox.rclone(['copyto', file, 'gcs:bkt/file.bin'])).exitCode).toBe(0);
    expect(standin.stats.throttleDelayMs).toBe(0);
  });

  it('holds an upload and a download to bytesPerSecond', async () => {
    const size = 256 * KiB;
    const bytesPerSecond = 128 * KiB;
    const floorMs = (size / bytesPerSecond) * 1000;
    const data = randomBytes(size);
    const file = join(sandbox.dir, 'file.bin');
    await writeFile(file, data);
    standin.setBytesPerSecond(bytesPerSecond);

    const uploadBegan = performance.now();
    expect((await sandbox.rclone(['copyto', file, 'gcs:bkt/file.bin'])).exitCode).toBe(0);
    const uploadMs = performance.now() - uploadBegan;
    expect(standin.object('bkt', 'file.bin')?.equals(data)).toBe(true);
    // The pacer's schedule counts every body byte, so it waited at least size / limit.
    expect(standin.stats.throttleDelayMs).toBeGreaterThanOrEqual(floorMs * 0.95);
    expect(uploadMs).toBeGreaterThanOrEqual(floorMs * 0.9);

    const afterUpload = standin.stats.throttleDelayMs;
    const downloadBegan = performance.now();
    expect((await sandbox.rclone(['copyto', 'gcs:bkt/file.bin', join(sandbox.dir, 'back.bin')])).exitCode).toBe(0);
    expect(performance.now() - downloadBegan).toBeGreaterThanOrEqual(floorMs * 0.9);
    expect(standin.stats.throttleDelayMs - afterUpload).toBeGreaterThanOrEqual(floorMs * 0.95);
  });
});
