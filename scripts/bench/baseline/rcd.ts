/**
 * The baseline drivers' rclone: a private `rclone rcd` on a loopback port, reading a config
 * file the driver writes itself (as the .NET worker does, research/anchor-backer.md §3.1, §8),
 * rc credentials random per start and passed through the environment, JSON log lines handed to
 * the driver. Killed, not stopped gracefully: the .NET worker's reauth restart kills rclone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

/** One line of rclone's JSON log (`--use-json-log`). */
export interface RcloneLogLine {
  level: string;
  msg: string;
  object?: string;
}

export class RcError extends Error {
  constructor(
    readonly path: string,
    readonly status: number,
    message: string,
  ) {
    super(`rc ${path}: ${status} ${message}`);
    this.name = 'RcError';
  }
}

const READY_TIMEOUT_MS = 30_000;

export class Rcd {
  private constructor(
    private readonly child: ChildProcess,
    private readonly baseUrl: string,
    private readonly authorization: string,
    readonly exited: Promise<void>,
  ) {}

  /** Starts `rclone rcd` on `configPath` and resolves once `rc/noop` answers. */
  static async start(options: { configPath: string; cacheDir: string; onLog: (line: RcloneLogLine) => void }): Promise<Rcd> {
    const port = await freePort();
    const password = randomBytes(24).toString('base64url');
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RCLONE_')));
    const args = ['rcd', '--rc-addr', `127.0.0.1:${port}`, '--config', options.configPath, '--use-json-log', '-v', '--rc-job-expire-duration', '30m'];
    const child = spawn(process.env.RCLONE_PATH ?? 'rclone', args, {
      env: { ...inherited, RCLONE_RC_USER: 'driver', RCLONE_RC_PASS: password, XDG_CACHE_HOME: options.cacheDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        resolve();
      });
    });
    createInterface({ input: child.stderr }).on('line', (raw) => {
      try {
        options.onLog(JSON.parse(raw) as RcloneLogLine);
      } catch {
        options.onLog({ level: 'error', msg: raw });
      }
    });
    const rcd = new Rcd(child, `http://127.0.0.1:${port}`, `Basic ${Buffer.from(`driver:${password}`).toString('base64')}`, exited);
    await rcd.waitUntilReady();
    return rcd;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** One rc call; rclone's error answer becomes an RcError. */
  async call<T>(path: string, body: Record<string, unknown>): Promise<T> {
    const response = await fetch(`${this.baseUrl}/${path}`, {
      method: 'POST',
      headers: { authorization: this.authorization, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try {
        const { error } = JSON.parse(text) as { error?: unknown };
        if (typeof error === 'string') message = error;
      } catch {
        // not JSON: keep the text
      }
      throw new RcError(path, response.status, message);
    }
    return JSON.parse(text) as T;
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      try {
        await this.call('rc/noop', {});
        return;
      } catch (err) {
        if (this.child.exitCode !== null || Date.now() > deadline) {
          await this.kill();
          throw new Error(`rclone rcd did not become ready: ${err instanceof Error ? err.message : String(err)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

/**
 * Writes rclone's config file the way the .NET worker does (one `[name]` section per remote,
 * `key = value` lines), but atomically and 0600. rclone re-reads the file when it changes.
 */
export async function writeRcloneConfig(path: string, remotes: ReadonlyMap<string, Record<string, string>>): Promise<void> {
  const sections = [...remotes].map(([name, parameters]) => [`[${name}]`, ...Object.entries(parameters).map(([key, value]) => `${key} = ${value}`)].join('\n'));
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, `${sections.join('\n\n')}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}
