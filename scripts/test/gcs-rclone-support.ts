/**
 * Runs the real rclone against the GCS stand-in from tests: a private temp directory holding
 * the rclone config (tokens live only in that 0600 file, never in argv or the environment)
 * and a runner that gives rclone a clean environment.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { GcsStandin } from '../standins/gcs/server.js';

export const RCLONE = '/usr/bin/rclone';

/** The token JSON rclone keeps in its config (golang.org/x/oauth2 `Token`). */
export interface RcloneToken {
  access_token: string;
  token_type: 'Bearer';
  refresh_token?: string;
  expiry: string;
}

export interface RcloneResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class RcloneSandbox {
  readonly configPath: string;

  private constructor(readonly dir: string) {
    this.configPath = join(dir, 'rclone.conf');
  }

  static async create(): Promise<RcloneSandbox> {
    return new RcloneSandbox(await mkdtemp(join(tmpdir(), 'gcs-standin-')));
  }

  /** Writes a config file with one `gcs` remote pointing at the stand-in. */
  async writeGcsRemote(name: string, standin: GcsStandin, token: RcloneToken, oauthClient?: { clientId: string; clientSecret: string }): Promise<void> {
    const lines = [
      `[${name}]`,
      'type = gcs',
      `endpoint = ${standin.apiEndpoint}`,
      'bucket_policy_only = true',
      `token = ${JSON.stringify(token)}`,
    ];
    if (oauthClient) {
      lines.push(`client_id = ${oauthClient.clientId}`, `client_secret = ${oauthClient.clientSecret}`, `token_url = ${standin.tokenUrl}`);
    }
    await writeFile(this.configPath, `${lines.join('\n')}\n`, { mode: 0o600 });
  }

  /** Writes a config file with these remotes (name → rclone parameters, values as rclone stores them). */
  async writeRemotes(remotes: Record<string, Record<string, string>>): Promise<void> {
    const sections = Object.entries(remotes).map(([name, parameters]) =>
      [`[${name}]`, ...Object.entries(parameters).map(([key, value]) => `${key} = ${value}`)].join('\n'),
    );
    await writeFile(this.configPath, `${sections.join('\n\n')}\n`, { mode: 0o600 });
  }

  /** The token rclone currently holds in its config file for `remote`. */
  async storedToken(remote: string): Promise<RcloneToken> {
    const config = await readFile(this.configPath, 'utf8');
    const section = config.split(/^\[/m).find((block) => block.startsWith(`${remote}]`));
    const line = section?.split('\n').find((entry) => entry.startsWith('token = '));
    if (!line) throw new Error(`no token for remote ${remote} in the rclone config`);
    return JSON.parse(line.slice('token = '.length)) as RcloneToken;
  }

  /** Runs rclone with a clean environment plus `env` (e.g. a TLS proxy's `env()`). */
  async rclone(args: readonly string[], env: Record<string, string> = {}): Promise<RcloneResult> {
    const result = await execa(RCLONE, ['--config', this.configPath, ...args], {
      reject: false,
      stdin: 'ignore',
      extendEnv: false,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir, XDG_CACHE_HOME: join(this.dir, 'cache'), ...env },
      timeout: 120_000,
    });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function rcloneToken(accessToken: string, expiresAt: Date, refreshToken?: string): RcloneToken {
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    expiry: expiresAt.toISOString(),
  };
}

/** Writes files (keyed by slash-separated relative path) under `root`. */
export async function writeTree(root: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const [path, data] of files) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), data);
  }
}

/** Reads every file under `root`, keyed by slash-separated relative path. */
export async function readTree(root: string): Promise<Map<string, Buffer>> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = new Map<string, Buffer>();
  for (const entry of entries.filter((candidate) => candidate.isFile())) {
    const path = join(entry.parentPath, entry.name);
    files.set(relative(root, path).split('\\').join('/'), await readFile(path));
  }
  return files;
}

/**
 * A GCS stand-in with bucket `bkt` and an rclone sandbox whose `gcs` remote holds a fresh access
 * token: the world of a test that watches what rclone's uploads look like at the stand-in.
 */
export async function startGcsRemote(): Promise<{ standin: GcsStandin; sandbox: RcloneSandbox }> {
  const standin = await GcsStandin.start();
  standin.createBucket('bkt');
  const sandbox = await RcloneSandbox.create();
  const grant = standin.issueGrant();
  await sandbox.writeGcsRemote('gcs', standin, rcloneToken(grant.accessToken, grant.expiresAt));
  return { standin, sandbox };
}
