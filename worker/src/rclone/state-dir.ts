/**
 * The private state directory of the supervised rclone: its config file (remotes, tokens,
 * obscured passwords) and the pidfile that lets a restarted worker find an rclone left behind.
 */
import { chmod, mkdir, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface RcloneStateFiles {
  /** Absolute path of the state directory. */
  dir: string;
  /** `<dir>/rclone.conf`, mode 0600. */
  configPath: string;
  /** `<dir>/rclone.pid`. */
  pidfilePath: string;
}

/**
 * Creates the state directory (0700) when missing and the config file (empty, 0600) when
 * missing; an existing config file keeps its content and is set to 0600, since it holds secrets.
 */
export async function prepareStateDir(stateDir: string): Promise<RcloneStateFiles> {
  const dir = resolve(stateDir);
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask; a directory we created gets exactly 0700.
  if (created !== undefined) await chmod(dir, 0o700);
  const configPath = join(dir, 'rclone.conf');
  const handle = await open(configPath, 'a', 0o600);
  try {
    await handle.chmod(0o600);
  } finally {
    await handle.close();
  }
  return { dir, configPath, pidfilePath: join(dir, 'rclone.pid') };
}
