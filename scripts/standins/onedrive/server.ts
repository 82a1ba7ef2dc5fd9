/**
 * A Microsoft Graph / OneDrive personal stand-in on 127.0.0.1: the Graph calls rclone 1.60.1's
 * onedrive backend and the worker's drive lookup make (research/rclone-providers-lab.md Q2),
 * upload sessions and download URLs, and Microsoft's token endpoint
 * (`/consumers/oauth2/v2.0/token`, refresh tokens rotating on every refresh, old ones kept valid,
 * generations tracked) with strict access-token expiry.
 *
 * rclone's onedrive hosts are fixed, so rclone reaches it through the TLS proxy: route
 * `proxyRoutes()` (graph.microsoft.com, api.onedrive.com for upload and download URLs,
 * login.microsoftonline.com) and give rclone the proxy's `env()`. rclone remote:
 * `type = onedrive`, `drive_id = <driveId>`, `drive_type = personal`, `token = {access_token,
 * token_type, expiry}`, `token_url = <tokenUrl>` (or Microsoft's, through the proxy). The worker
 * reaches it directly: `ONEDRIVE_GRAPH_URL = <graphUrl>`, `ONEDRIVE_TOKEN_URL = <tokenUrl>`.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { BandwidthPacer } from '../gcs/throttle.js';
import { closeServer, listen } from '../http-util.js';
import type { OAuthClient, RotationPolicy } from '../oauth/authority.js';
import { ProviderOAuth } from '../oauth/provider-oauth.js';
import type { TokenLogEntry } from '../oauth/stats.js';
import { DriveStore, type DriveItem } from './drive-store.js';
import { GraphApi } from './graph-api.js';
import { createStats, type OnedriveStandinStats } from './stats.js';
import type { UploadUrlAuth } from './uploads.js';

export type { OnedriveStandinStats } from './stats.js';
export type { UploadUrlAuth } from './uploads.js';

/** The hosts rclone and the worker use for OneDrive personal, all served by this stand-in. */
export const ONEDRIVE_HOSTS = ['graph.microsoft.com', 'api.onedrive.com', 'login.microsoftonline.com'] as const;

export const DEFAULT_ONEDRIVE_CLIENT: Readonly<OAuthClient> = { clientId: 'onedrive-standin-client', clientSecret: 'onedrive-standin-secret' };

export interface OnedriveStandinOptions {
  /** 0 (default) = any free port. */
  port?: number;
  /** Registered OAuth clients; default one `onedrive-standin-client` / `onedrive-standin-secret`. */
  clients?: OAuthClient[];
  /** Lifetime of issued access tokens; default 3600. Changeable with `oauth.setTokenLifetime`. */
  tokenLifetimeSeconds?: number;
  /** Default `rotate` (Microsoft: new refresh token on every refresh, old ones stay valid). */
  rotation?: RotationPolicy;
  /** One limit shared by every upload body (chunks and simple uploads) and download; default null = unthrottled. */
  bytesPerSecond?: number | null;
  /** Largest listing page, whatever `$top` asks; default 1000. */
  maxPageSize?: number;
  /** Whether upload URLs check a Bearer token sent to them; default `preauthenticated` (see uploads.ts). */
  uploadUrlAuth?: UploadUrlAuth;
  /** 16 hex digits; default random. */
  driveId?: string;
}

export class OnedriveStandin {
  /** `http://127.0.0.1:<port>` (what the proxy routes the OneDrive hosts to). */
  readonly url: string;
  /** Microsoft Graph base for the worker's drive lookup (`ONEDRIVE_GRAPH_URL`). */
  readonly graphUrl: string;
  /** The token endpoint on loopback (`ONEDRIVE_TOKEN_URL`, rclone's `token_url`). */
  readonly tokenUrl: string;
  /** Microsoft's token URL, for clients that go through the proxy. */
  readonly proxiedTokenUrl = 'https://login.microsoftonline.com/consumers/oauth2/v2.0/token';
  readonly driveId: string;
  readonly stats: OnedriveStandinStats;
  readonly tokenLog: TokenLogEntry[];
  /** Microsoft's OAuth for this stand-in: `issueGrant`, `revokeGrant`, rotation, faults, lifetimes. */
  readonly oauth: ProviderOAuth;

  readonly #server: Server;
  readonly #store: DriveStore;
  readonly #pacer: BandwidthPacer;
  readonly #graph: GraphApi;

  private constructor(server: Server, url: string, options: OnedriveStandinOptions) {
    this.#server = server;
    this.url = url;
    this.graphUrl = `${url}/v1.0`;
    this.driveId = (options.driveId ?? randomBytes(8).toString('hex')).toLowerCase();
    this.stats = createStats();
    this.oauth = new ProviderOAuth({
      provider: 'microsoft',
      clients: options.clients ?? [DEFAULT_ONEDRIVE_CLIENT],
      tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
      ...(options.rotation === undefined ? {} : { rotation: options.rotation }),
      stats: this.stats,
    });
    this.tokenUrl = `${url}${this.oauth.tokenPath}`;
    this.tokenLog = this.oauth.tokenLog;
    this.#store = new DriveStore(this.driveId);
    this.#pacer = new BandwidthPacer(options.bytesPerSecond ?? null, this.stats);
    this.#graph = new GraphApi(this.#store, this.oauth, this.#pacer, this.stats, {
      user: { id: this.driveId, displayName: 'Stand-in User', userPrincipalName: 'standin.user@outlook.test' },
      maxPageSize: options.maxPageSize ?? 1000,
      uploadUrlAuth: options.uploadUrlAuth ?? 'preauthenticated',
      loopbackOrigin: url,
    });
  }

  static async start(options: OnedriveStandinOptions = {}): Promise<OnedriveStandin> {
    // No request can arrive before the instance exists (requests are macrotasks, this a microtask).
    const { server, url } = await listen((req, res) => standin.#route(req, res), options.port ?? 0);
    const standin = new OnedriveStandin(server, url, options);
    return standin;
  }

  /** Routes for the TLS proxy: every OneDrive host to this server. */
  proxyRoutes(): Record<string, string> {
    return Object.fromEntries(ONEDRIVE_HOSTS.map((host) => [host, this.url]));
  }

  /** The shared upload/download limit (null = unthrottled). */
  setBytesPerSecond(bytesPerSecond: number | null): void {
    this.#pacer.setBytesPerSecond(bytesPerSecond);
  }

  /** A file's bytes by path (`/backup/a.bin`); undefined when absent or a folder. */
  file(path: string): Buffer | undefined {
    const item = this.#itemAt(path);
    return item?.kind === 'file' ? item.data : undefined;
  }

  /** Every file by path. */
  files(): Map<string, Buffer> {
    return new Map([...this.#store.files()].map(([path, item]) => [path, item.data]));
  }

  /** A file's client modification time (`fileSystemInfo.lastModifiedDateTime`). */
  modTime(path: string): Date | undefined {
    return this.#itemAt(path)?.fileSystemInfo.lastModifiedDateTime;
  }

  /** Seeds a file (creating folders on the way). */
  putFile(path: string, data: Buffer, modTime = new Date()): void {
    const segments = path.split('/').filter((segment) => segment !== '');
    const name = segments.pop();
    if (name === undefined) throw new Error(`not a file path: ${path}`);
    let folder = this.#store.root;
    for (const segment of segments) {
      const existing = this.#store.child(folder, segment);
      const next = existing ?? this.#created(this.#store.createFolder(folder, segment, 'fail'));
      if (next.kind !== 'folder') throw new Error(`${segment} in ${path} is a file`);
      folder = next;
    }
    this.#created(this.#store.writeFile(folder, name, data, { createdDateTime: modTime, lastModifiedDateTime: modTime }));
  }

  /**
   * Bytes received beyond one upload per path: Σ over paths of (bytes received − size of its
   * first completed upload). 0 when every byte arrived once; a chunk sent again, an abandoned
   * session or a second upload of the same path all count (a test that changes a file on
   * purpose must allow for its second upload).
   */
  resentBytes(): number {
    let resent = 0;
    for (const [path, received] of this.stats.bytesReceivedByPath) resent += received - (this.stats.firstUploadSizeByPath.get(path) ?? 0);
    return resent;
  }

  /** Every secret handed out (tokens, client secrets): what must never be logged. */
  issuedSecrets(): string[] {
    return this.oauth.issuedSecrets();
  }

  async close(): Promise<void> {
    this.oauth.close();
    await closeServer(this.#server);
  }

  #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    return this.oauth.isTokenRequest(url.pathname) ? this.oauth.handleTokenRequest(req, res) : this.#graph.handle(req, res, url);
  }

  #itemAt(path: string): DriveItem | undefined {
    return this.#store.resolve(
      this.#store.root,
      path.split('/').filter((segment) => segment !== ''),
    );
  }

  #created(result: ReturnType<DriveStore['createFolder']>): DriveItem {
    if (!result.ok) throw new Error(`cannot seed: ${result.error}`);
    return result.item;
  }
}
