/**
 * The real rclone against the Drive stand-in, as the worker runs it: rclone reaches
 * `www.googleapis.com` through the TLS-terminating proxy (`HTTPS_PROXY` + `SSL_CERT_FILE`),
 * its remote is `type = drive`, `scope = drive` with an access token only (no refresh token),
 * and a long job runs in an `rclone rcd` whose token is replaced with rc `config/update`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { freeLoopbackPort } from '../../worker/src/rclone/free-port.js';
import { RcClient } from '../../worker/src/rclone/rc-client.js';
import { DEFAULT_DRIVE_CLIENT, DRIVE_API_HOST, GdriveStandin, type GdriveStandinOptions } from '../standins/gdrive/server.js';
import { TlsProxy } from '../standins/tls-proxy/proxy.js';
import { RCLONE, RcloneSandbox, rcloneToken, type RcloneResult } from './gcs-rclone-support.js';

/** Small enough that a test file of a few MiB goes resumable in several chunks (rclone's minimum is 256 KiB). */
export const SMALL_CHUNKS = ['--drive-upload-cutoff', '1M', '--drive-chunk-size', '1M'];
/** The same as remote parameters (for jobs run by an rcd). */
export const SMALL_CHUNK_PARAMETERS = { upload_cutoff: '1M', chunk_size: '1M' };

export interface IssuedToken {
  accessToken: string;
  expiresAt: Date;
}

/** The User-Agent the worker sends to token endpoints. */
const WORKER_USER_AGENT = 'rclone-sync-worker';

/** The stand-in behind the TLS proxy, and an rclone sandbox wired to both. */
export class DriveRig {
  private constructor(
    readonly drive: GdriveStandin,
    readonly proxy: TlsProxy,
    readonly sandbox: RcloneSandbox,
  ) {}

  static async start(options: GdriveStandinOptions = {}): Promise<DriveRig> {
    const drive = await GdriveStandin.start(options);
    const proxy = await TlsProxy.start({ routes: { [DRIVE_API_HOST]: drive.url } });
    return new DriveRig(drive, proxy, await RcloneSandbox.create());
  }

  /**
   * A new access token from the stand-in's token endpoint, as the worker gets one: a refresh
   * with the grant's refresh token (Google keeps the refresh token: none comes back).
   */
  async refresh(refreshToken: string): Promise<IssuedToken> {
    const response = await fetch(this.drive.tokenUrl, {
      method: 'POST',
      headers: { 'user-agent': WORKER_USER_AGENT },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: DEFAULT_DRIVE_CLIENT.clientId,
        client_secret: DEFAULT_DRIVE_CLIENT.clientSecret,
      }),
    });
    const body = (await response.json()) as { access_token?: string; expires_in?: number };
    if (!response.ok || body.access_token === undefined || body.expires_in === undefined) throw new Error(`token refresh failed: HTTP ${response.status}`);
    return { accessToken: body.access_token, expiresAt: new Date(Date.now() + body.expires_in * 1000) };
  }

  /**
   * The parameters of a drive remote as the worker builds them: an access token only (no
   * refresh token, so rclone can never refresh by itself), the client id and the token URL.
   */
  remoteParameters(token: IssuedToken): Record<string, string> {
    return {
      type: 'drive',
      scope: 'drive',
      client_id: DEFAULT_DRIVE_CLIENT.clientId,
      token_url: this.drive.tokenUrl,
      token: JSON.stringify(rcloneToken(token.accessToken, token.expiresAt)),
    };
  }

  /** Runs the rclone CLI through the proxy. */
  rclone(args: readonly string[]): Promise<RcloneResult> {
    return this.sandbox.rclone(args, this.proxy.env());
  }

  /** Starts an `rclone rcd` on the sandbox's config, through the proxy. */
  startRcd(): Promise<Rcd> {
    return Rcd.start(this.sandbox.configPath, { HOME: this.sandbox.dir, ...this.proxy.env() });
  }

  async close(): Promise<void> {
    await this.proxy.close();
    await this.drive.close();
    await this.sandbox.cleanup();
  }
}

/** A private `rclone rcd` (rc credentials in its environment, never argv) and a client for it. */
export class Rcd {
  /** rclone's stderr (-vv, microsecond timestamps), for diagnosing a failed run. */
  readonly log: string[] = [];

  readonly #exited: Promise<unknown>;

  private constructor(
    readonly client: RcClient,
    private readonly child: ChildProcess,
  ) {
    this.#exited = once(child, 'exit');
    createInterface({ input: child.stderr! }).on('line', (line) => this.log.push(line));
  }

  static async start(configPath: string, env: Record<string, string>): Promise<Rcd> {
    const port = await freeLoopbackPort();
    const password = randomBytes(12).toString('hex');
    const child = spawn(RCLONE, ['rcd', '--rc-addr', `127.0.0.1:${port}`, '--config', configPath, '-vv', '--log-format', 'date,time,microseconds'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RCLONE_RC_USER: 'test', RCLONE_RC_PASS: password, ...env },
    });
    const rcd = new Rcd(new RcClient({ baseUrl: `http://127.0.0.1:${port}`, user: 'test', password }), child);
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await rcd.client.noop();
        return rcd;
      } catch (err) {
        if (Date.now() > deadline || child.exitCode !== null) {
          await rcd.stop();
          throw new Error(`rclone rcd did not come up: ${String(err)}\n${rcd.log.join('\n')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.#exited;
  }
}
