/**
 * A Google Drive v3 stand-in on 127.0.0.1: the API that rclone 1.60.1's `drive` backend uses
 * (root lookup, folder and name queries, paged listings with `fields`, folders, multipart and
 * resumable uploads, updates, downloads with ranges, trash, deletes, moves, copies), with
 * correct MD5s, sizes and millisecond modification times, so `rclone check` passes.
 *
 * rclone's API host is fixed (`www.googleapis.com`): rclone reaches the stand-in through the
 * TLS-terminating proxy (`HTTPS_PROXY` + `SSL_CERT_FILE`), which forwards that host here and
 * keeps the Host header. Tests may also call the loopback URL directly.
 *
 * OAuth is the shared provider module's (`../oauth/`), in Google's dialect: grants, refresh
 * at `/token` (Google keeps the refresh token), revocation of a grant with its access tokens,
 * token-endpoint faults. The API only asks it whether each bearer token is good (a narrow
 * {@link BearerCheck}) and answers Google's 401 otherwise. A test may pass an existing
 * `ProviderOAuth` (e.g. one Google authority for the Drive and GCS stand-ins, as Google has).
 * Beyond the OAuth counters, the stand-in counts what a token story needs: 401s by call and
 * user agent, requests per access token with first and last use, bytes received and upload
 * sessions per file, and a log of every request.
 *
 * rclone remote: `type = drive`, `scope = drive`, `client_id`, `token_url = <tokenUrl>`,
 * `token = {access_token, token_type, expiry}`; the remote root is the drive's root folder.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { fingerprint } from '../../../worker/src/log/fingerprint.js';
import { BandwidthPacer } from '../gcs/throttle.js';
import { closeServer, listen } from '../http-util.js';
import type { Grant, OAuthClient } from '../oauth/authority.js';
import { ProviderOAuth } from '../oauth/provider-oauth.js';
import { DriveApi } from './drive-api.js';
import { DriveStore, FOLDER_MIME_TYPE, type DriveFile } from './drive-store.js';
import { FaultPlan, type DriveFault } from './faults.js';
import type { DriveUser } from './resources.js';
import { createStats, type AccessTokenUse, type GdriveStandinStats } from './stats.js';

export type { AccessTokenState, BearerCheck } from './access.js';
export type { Grant } from '../oauth/authority.js';
export type { DriveFault } from './faults.js';
export type { DriveFile } from './drive-store.js';
export type { AccessTokenUse, DriveCall, DriveRequestRecord, GdriveStandinStats } from './stats.js';
export { FOLDER_MIME_TYPE } from './drive-store.js';

/** The host rclone's drive backend talks to; the TLS proxy routes it to {@link GdriveStandin.url}. */
export const DRIVE_API_HOST = 'www.googleapis.com';
/** Google's token host; the stand-in serves the token endpoint too, so it may be routed here as well. */
export const GOOGLE_TOKEN_HOST = 'oauth2.googleapis.com';

export const DEFAULT_DRIVE_CLIENT: Readonly<OAuthClient> = {
  clientId: 'gdrive-standin-client.apps.googleusercontent.com',
  clientSecret: 'gdrive-standin-secret',
};

export interface GdriveStandinOptions {
  /** Google's OAuth to use; default a new one with `clients` and `tokenLifetimeSeconds`. */
  oauth?: ProviderOAuth;
  /** Registered OAuth clients of a new authority; default {@link DEFAULT_DRIVE_CLIENT}. */
  clients?: OAuthClient[];
  /** Lifetime of access tokens a new authority issues; default 3600. */
  tokenLifetimeSeconds?: number;
  /** 0 (default) = any free port. */
  port?: number;
  /** One link shared by every upload body; default null = unthrottled. Changeable later. */
  uploadBytesPerSecond?: number | null;
  /** Added before every request is handled. Default 0. */
  requestLatencyMs?: number;
  /** The drive's owner, as `about.get` and `owners` show it. */
  owner?: DriveUser;
}

export interface PutFileOptions {
  modifiedTime?: Date;
  mimeType?: string;
}

export class GdriveStandin {
  /** The loopback URL (http); the proxy forwards `www.googleapis.com` here. */
  readonly url: string;
  readonly port: number;
  /** Google's token endpoint on this server (loopback: rclone and Go never proxy loopback). */
  readonly tokenUrl: string;
  readonly oauth: ProviderOAuth;
  readonly stats: GdriveStandinStats = createStats();

  readonly #server: Server;
  readonly #store = new DriveStore();
  readonly #pacer: BandwidthPacer;
  readonly #faults = new FaultPlan();
  readonly #api: DriveApi;
  readonly #ownsOAuth: boolean;

  private constructor(server: Server, url: string, port: number, options: GdriveStandinOptions) {
    this.#server = server;
    this.url = url;
    this.port = port;
    this.oauth =
      options.oauth ??
      new ProviderOAuth({ provider: 'google', clients: options.clients ?? [DEFAULT_DRIVE_CLIENT], tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600 });
    this.#ownsOAuth = options.oauth === undefined;
    this.tokenUrl = `${url}${this.oauth.tokenPath}`;
    this.#pacer = new BandwidthPacer(options.uploadBytesPerSecond ?? null, this.stats);
    this.#api = new DriveApi(this.#store, this.#pacer, this.#faults, this.stats, {
      bearer: this.oauth,
      owner: options.owner ?? { displayName: 'Drive Stand-in User', emailAddress: 'drive-user@example.test' },
      requestLatencyMs: options.requestLatencyMs ?? 0,
    });
  }

  static async start(options: GdriveStandinOptions = {}): Promise<GdriveStandin> {
    // No request can arrive before the instance exists (requests are macrotasks, this
    // continuation a microtask).
    const { server, url, port } = await listen((req, res) => standin.#handle(req, res), options.port ?? 0);
    const standin = new GdriveStandin(server, url, port, options);
    return standin;
  }

  /** As if a user authorised the app: a fresh grant (refresh token + first access token). */
  issueGrant(clientId?: string): Grant {
    return this.oauth.issueGrant(clientId);
  }

  /** Every token issued so far plus the client secrets: what must never be logged. */
  issuedSecrets(): string[] {
    return this.oauth.issuedSecrets();
  }

  /** The id of the root folder ("My Drive"), what `files/root` answers. */
  get rootId(): string {
    return this.#store.root.id;
  }

  /** The live file at a slash-separated path below the root, if any. */
  file(path: string): DriveFile | undefined {
    const file = this.#store.resolve(path);
    return file?.content ? file : undefined;
  }

  /** The live (untrashed) files below a folder path, by path relative to it. */
  files(under = ''): Map<string, Buffer> {
    const prefix = under.replace(/^\/+|\/+$/g, '');
    const files = new Map<string, Buffer>();
    for (const file of this.#store.all()) {
      if (!file.content || this.#store.isTrashed(file)) continue;
      const path = this.#store.path(file);
      if (prefix !== '' && !path.startsWith(`${prefix}/`)) continue;
      const relative = prefix === '' ? path : path.slice(prefix.length + 1);
      if (files.has(relative)) throw new Error(`two live files at ${path}`);
      files.set(relative, file.content.data);
    }
    return files;
  }

  /** Paths of the items in the trash (explicitly trashed, or below a trashed folder). */
  trashedPaths(): string[] {
    return this.#store
      .all()
      .filter((file) => this.#store.isTrashed(file))
      .map((file) => this.#store.path(file));
  }

  /** Seeds a file (its folders are created when missing); returns it. */
  putFile(path: string, data: Buffer, options: PutFileOptions = {}): DriveFile {
    const slash = path.lastIndexOf('/');
    const parent = this.#store.ensureFolder(slash < 0 ? '' : path.slice(0, slash));
    return this.#store.create({
      name: path.slice(slash + 1),
      mimeType: options.mimeType ?? 'application/octet-stream',
      parent: parent.id,
      modifiedTime: options.modifiedTime,
      data,
    });
  }

  /** Creates a folder path (no-op for the parts that exist). */
  mkdir(path: string): DriveFile {
    const folder = this.#store.ensureFolder(path);
    if (folder.mimeType !== FOLDER_MIME_TYPE) throw new Error(`${path} is not a folder`);
    return folder;
  }

  /** The counters of one access token (undefined when it was never presented). */
  tokenUse(accessToken: string): AccessTokenUse | undefined {
    return this.stats.requestsByAccessToken.get(fingerprint(accessToken));
  }

  /** Limit for all upload bodies together; null = unthrottled. */
  setUploadBytesPerSecond(bytesPerSecond: number | null): void {
    this.#pacer.setBytesPerSecond(bytesPerSecond);
  }

  /** Plans failures for the next matching requests (403 rate limit, 503 backend error, cut connection). */
  injectFault(fault: DriveFault): void {
    this.#faults.add(fault);
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', this.url);
    return this.oauth.isTokenRequest(pathname) ? this.oauth.handleTokenRequest(req, res) : this.#api.handle(req, res);
  }

  /** Stops the server (and its own OAuth's held token requests). */
  async close(): Promise<void> {
    if (this.#ownsOAuth) this.oauth.close();
    await closeServer(this.#server);
  }
}
