/**
 * Files that survive a crash or a power cut the moment the call returns: written to a temp
 * file, fsync'd, renamed over the target, and the directory fsync'd so the rename itself is on
 * disk (rename alone is atomic but not durable: after a power cut the directory may still name
 * the old file, or none). `writeFileAtomic` (atomic-file.ts) is enough where losing the last
 * write is acceptable; this is for writes that must not be lost.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes `data` to `path` durably, mode `mode` (default 0600). Leaves no temp file on failure. */
export async function writeFileDurable(path: string, data: string, mode = 0o600): Promise<void> {
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dirname(path));
}

/** Removes `path` durably; a missing file counts as removed. */
export async function removeFileDurable(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await syncDirectory(dirname(path));
}

/** fsync of a directory: makes creations, renames and unlinks in it durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
