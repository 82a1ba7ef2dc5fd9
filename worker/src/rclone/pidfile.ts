/**
 * The pidfile of the supervised rclone, and the rule "never adopt an rclone we did not start in
 * this life": an rclone that survived a crashed worker still holds the old port, the old rc
 * password and possibly half-done jobs, so on start it is terminated, not reused.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { RcloneProcessError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { sleep } from '../util/sleep.js';

const TERM_GRACE_MS = 3_000;
const KILL_GRACE_MS = 3_000;
const POLL_INTERVAL_MS = 20;

export async function writePidfile(path: string, pid: number): Promise<void> {
  await writeFile(path, `${pid}\n`, { mode: 0o600 });
}

/** Removes the pidfile if it still names `pid` (a newer rclone may have replaced it). */
export async function removePidfile(path: string, pid: number): Promise<void> {
  if ((await readPidfile(path)) === pid) await unlink(path).catch(ignoreMissing);
}

/**
 * If the pidfile names a live `rclone rcd` running with `configPath`, terminates it (SIGTERM,
 * then SIGKILL) and says so in the log. Any other pidfile content is stale and only removed:
 * the pid may belong to an unrelated process by now.
 */
export async function terminateLeftoverRclone(pidfilePath: string, configPath: string, logger: Logger): Promise<void> {
  const pid = await readPidfile(pidfilePath);
  if (pid === undefined) return;
  if (await isRcloneRcdFor(pid, configPath)) {
    logger.warn({ rclonePid: pid }, 'terminating an rclone left behind by a previous run');
    signal(pid, 'SIGTERM');
    if (!(await waitUntilGone(pid, configPath, TERM_GRACE_MS))) {
      signal(pid, 'SIGKILL');
      if (!(await waitUntilGone(pid, configPath, KILL_GRACE_MS))) {
        throw new RcloneProcessError('WORKER_ERR_RCLONE_LEFTOVER', `the rclone left behind (pid ${pid}) does not exit`);
      }
    }
  }
  await unlink(pidfilePath).catch(ignoreMissing);
}

async function readPidfile(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    ignoreMissing(err);
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** True when /proc says `pid` is `rclone … rcd … --config <configPath>` (a zombie has no cmdline). */
async function isRcloneRcdFor(pid: number, configPath: string): Promise<boolean> {
  let argv: string[];
  try {
    argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((arg) => arg !== '');
  } catch {
    return false;
  }
  const [program] = argv;
  if (program === undefined || !basename(program).includes('rclone') || !argv.includes('rcd')) return false;
  const configured = configArgument(argv);
  return configured !== undefined && resolve(configured) === resolve(configPath);
}

/** The value of `--config <path>` or `--config=<path>` in an argv. */
function configArgument(argv: string[]): string | undefined {
  for (const [i, arg] of argv.entries()) {
    if (arg === '--config') return argv[i + 1];
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return undefined;
}

async function waitUntilGone(pid: number, configPath: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isRcloneRcdFor(pid, configPath)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_INTERVAL_MS);
  }
  return true;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
