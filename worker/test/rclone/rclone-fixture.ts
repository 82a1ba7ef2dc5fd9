/**
 * Test support for the real-rclone tests: temp state dirs, a log capture, and a check that no
 * rclone started by a test survives it (every such rclone has its temp dir in its argv).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const RCLONE_PATH = '/usr/bin/rclone';

const run = promisify(execFile);

export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix = 'rclone-test-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** Pids of processes whose command line mentions one of the temp dirs. */
  async processesUsingThem(): Promise<number[]> {
    const pids: number[] = [];
    for (const dir of this.dirs) {
      try {
        const { stdout } = await run('pgrep', ['-f', dir]);
        pids.push(...stdout.split('\n').filter(Boolean).map(Number));
      } catch {
        // pgrep exits 1 when nothing matches.
      }
    }
    return pids;
  }

  async removeAll(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

export type { LogRecord } from '../support/recording-logger.js';

/** A debug-level pino logger whose records land in `records`. */
export { recordingLogger as captureLogger } from '../support/recording-logger.js';

/** pino's numeric levels. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;
