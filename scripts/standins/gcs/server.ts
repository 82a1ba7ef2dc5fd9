/**
 * A Google Cloud Storage stand-in on 127.0.0.1: the JSON API that rclone's `gcs` backend uses
 * (listing, metadata, uploads incl. resumable, downloads, deletes, copies) plus Google's OAuth2
 * token endpoint, with strict access-token expiry. It is the project's vehicle for proving the
 * OAuth story end to end, so it counts everything: token calls (and which came from rclone
 * itself), API requests per access token, and every 401.
 *
 * rclone remote settings: `type = gcs`, `endpoint = <apiEndpoint>`, `token_url = <tokenUrl>`,
 * `client_id` / `client_secret` of a registered client, `bucket_policy_only = true`.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeServer, listen } from '../http-util.js';
import type { Grant, OAuthClient, RotationPolicy } from '../oauth/authority.js';
import { ProviderOAuth } from '../oauth/provider-oauth.js';
import type { TokenEndpointFault } from '../oauth/token-endpoint.js';
import { sendInvalidCredentials } from './google-errors.js';
import { ObjectStore } from './objects.js';
import { createStats, type GcsStandinStats, type TokenLogEntry } from './stats.js';
import { StorageApi } from './storage-api.js';
import { BandwidthPacer } from './throttle.js';

export type { Grant } from '../oauth/authority.js';
export type { TokenEndpointFault } from '../oauth/token-endpoint.js';
export type { GcsStandinStats, TokenLogEntry } from './stats.js';

/** The scope the stand-in grants (GCS read/write). */
export const GRANTED_SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';

export interface GcsStandinOptions {
  /** 0 (default) = any free port. */
  port?: number;
  /** Lifetime of issued access tokens; default 3600. Changeable with `setTokenLifetime`. */
  tokenLifetimeSeconds?: number;
  /** When true each refresh returns a new refresh_token and invalidates the old one (`rotate-strict`). Default false. */
  rotateRefreshTokens?: boolean;
  /** The rotation policy by name (`keep`, `rotate`, `rotate-strict`); wins over `rotateRefreshTokens`. */
  rotation?: RotationPolicy;
  /** Registered OAuth clients; default one `gcs-standin-client` / `gcs-standin-secret`. */
  clients?: OAuthClient[];
  /** Added to every storage API request (not to token requests). Default 0. */
  requestLatencyMs?: number;
  /** Shared limit for object upload and download bodies; default null = unthrottled. */
  bytesPerSecond?: number | null;
}

export const DEFAULT_CLIENT: Readonly<OAuthClient> = { clientId: 'gcs-standin-client', clientSecret: 'gcs-standin-secret' };

export class GcsStandin {
  readonly url: string;
  /** The value for rclone's gcs `endpoint` option. */
  readonly apiEndpoint: string;
  readonly tokenUrl: string;
  readonly stats: GcsStandinStats;
  readonly tokenLog: TokenLogEntry[];
  /** Google's OAuth for this stand-in: grants, the `/token` endpoint, the bearer check. */
  readonly oauth: ProviderOAuth;

  readonly #server: Server;
  readonly #store = new ObjectStore();
  readonly #pacer: BandwidthPacer;
  readonly #storageApi: StorageApi;

  private constructor(server: Server, url: string, options: GcsStandinOptions) {
    this.#server = server;
    this.url = url;
    this.apiEndpoint = `${url}/storage/v1/`;
    this.tokenUrl = `${url}/token`;
    this.stats = createStats();
    this.oauth = new ProviderOAuth({
      provider: 'google',
      clients: options.clients ?? [DEFAULT_CLIENT],
      tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
      rotation: options.rotation ?? (options.rotateRefreshTokens ? 'rotate-strict' : 'keep'),
      scope: GRANTED_SCOPE,
      // The GCS JSON API answers the older Google error shape ("Invalid Credentials").
      unauthorized: (res) => {
        sendInvalidCredentials(res);
      },
      stats: this.stats,
    });
    this.tokenLog = this.oauth.tokenLog;
    this.#pacer = new BandwidthPacer(options.bytesPerSecond ?? null, this.stats);
    this.#storageApi = new StorageApi(this.#store, this.oauth, this.#pacer, this.stats, {
      baseUrl: url,
      requestLatencyMs: options.requestLatencyMs ?? 0,
    });
  }

  static async start(options: GcsStandinOptions = {}): Promise<GcsStandin> {
    // The routes need the base URL, known once the port is bound; no request can arrive
    // before the instance exists (requests are macrotasks, this continuation a microtask).
    const { server, url } = await listen((req, res) => standin.#route(req, res), options.port ?? 0);
    const standin = new GcsStandin(server, url, options);
    return standin;
  }

  /** Creates a bucket (no-op when it exists). */
  createBucket(name: string): void {
    this.#store.createBucket(name);
  }

  /** As if a user authorised the app: a fresh grant (refresh token + first access token). */
  issueGrant(clientId?: string): Grant {
    return this.oauth.issueGrant(clientId);
  }

  /** Every access and refresh token issued so far, plus the client secrets: what must never be logged. */
  issuedSecrets(): string[] {
    return this.oauth.issuedSecrets();
  }

  /** Further refreshes with this token get 400 invalid_grant (access tokens already issued stay valid). */
  revokeRefreshToken(refreshToken: string): void {
    this.oauth.revokeRefreshToken(refreshToken);
  }

  /** Further API requests with this token get 401. */
  revokeAccessToken(accessToken: string): void {
    this.oauth.revokeAccessToken(accessToken);
  }

  /** Lifetime of access tokens issued from now on (0 = already expired when issued). */
  setTokenLifetime(seconds: number): void {
    this.oauth.setTokenLifetime(seconds);
  }

  setTokenEndpointFault(fault: TokenEndpointFault | null): void {
    this.oauth.setTokenEndpointFault(fault);
  }

  setBytesPerSecond(bytesPerSecond: number | null): void {
    this.#pacer.setBytesPerSecond(bytesPerSecond);
  }

  object(bucket: string, name: string): Buffer | undefined {
    return this.#store.get(bucket, name)?.data;
  }

  /** The live objects of a bucket by name (empty when the bucket does not exist). */
  objects(bucket: string): Map<string, Buffer> {
    return new Map([...this.#store.objects(bucket)].map(([name, object]) => [name, object.data]));
  }

  /** Seeds an object into an existing bucket. */
  putObject(bucket: string, name: string, data: Buffer): void {
    if (!this.#store.put(bucket, name, data)) throw new Error(`no bucket named ${bucket}; createBucket first`);
  }

  #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', this.url);
    return this.oauth.isTokenRequest(pathname) ? this.oauth.handleTokenRequest(req, res) : this.#storageApi.handle(req, res);
  }

  /** Stops the server; requests held by a timeout fault are dropped. */
  async close(): Promise<void> {
    this.oauth.close();
    await closeServer(this.#server);
  }
}
