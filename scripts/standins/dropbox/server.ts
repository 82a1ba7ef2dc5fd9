/**
 * A Dropbox API v2 stand-in on 127.0.0.1: the RPC host `api.dropboxapi.com` and the content host
 * `content.dropboxapi.com` (both served here, told apart by the Host header a TLS-terminating
 * proxy keeps), everything rclone 1.60.1's `dropbox` backend calls — metadata, listings with
 * cursors, folders, deletes, moves and copies, uploads in one request or in sessions committed
 * one by one or in batches, downloads with ranges — with Dropbox's content hash, revisions,
 * error shapes and a namespace write lock that serialises commits.
 *
 * OAuth is the shared provider module in Dropbox's dialect (oauth/provider-oauth.ts): grants
 * whose refresh token never changes, `POST /oauth2/token`, revocation of a grant with its
 * access tokens, Dropbox's 401s. The stand-in counts what tests need to prove a job lost
 * nothing: 401s by route and user agent, requests per access token, token requests by user
 * agent, per file the bytes received, sessions and commits, sessions never committed, and batch
 * sizes.
 *
 * rclone reaches it through a proxy: route both {@link DropboxStandin.hosts} to `url`.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeServer, listen } from '../http-util.js';
import { BandwidthPacer } from '../gcs/throttle.js';
import type { Grant, OAuthClient, RotationPolicy } from '../oauth/authority.js';
import { ProviderOAuth } from '../oauth/provider-oauth.js';
import type { TokenLogEntry } from '../oauth/stats.js';
import type { TokenEndpointFault } from '../oauth/token-endpoint.js';
import { API_HOST, CONTENT_HOST, DropboxApi } from './api.js';
import { CommitGate, type Contention } from './commit-gate.js';
import { FileRoutes } from './file-routes.js';
import { Namespace, dropboxTime, lowerPath } from './namespace.js';
import { UploadSessions } from './sessions.js';
import { createStats, type DropboxStandinStats, type FileUploadStats } from './stats.js';
import { UploadRoutes } from './upload-routes.js';

export type { Authorizer } from './api.js';
export type { Contention } from './commit-gate.js';
export type { DropboxStandinStats, FileUploadStats } from './stats.js';
export type { Grant } from '../oauth/authority.js';
export { API_HOST, CONTENT_HOST } from './api.js';
export { contentHash } from './content-hash.js';

export interface DropboxStandinOptions {
  /** 0 (default) = any free port. */
  port?: number;
  /** Registered OAuth apps; default one `dropbox-standin-client` / `dropbox-standin-secret`. */
  clients?: OAuthClient[];
  /** Lifetime of issued access tokens; default 14 400 (Dropbox's 4 h). */
  tokenLifetimeSeconds?: number;
  /** Default `keep`: Dropbox never rotates refresh tokens. */
  rotation?: RotationPolicy;
  /** Added to every API request (not to token requests). Default 0. */
  requestLatencyMs?: number;
  /** Shared limit for upload and download bodies; default null = unthrottled. */
  bytesPerSecond?: number | null;
  /** How long one commit (or one whole batch) holds the namespace write lock. Default 0. */
  commitHoldMs?: number;
  /** A commit that finds the lock taken waits (`queue`, default) or gets 429 (`reject`). */
  commitContention?: Contention;
  /** How long an async `finish_batch` job stays in progress. Default 0. */
  asyncBatchDelayMs?: number;
}

export const DEFAULT_CLIENT: Readonly<OAuthClient> = { clientId: 'dropbox-standin-client', clientSecret: 'dropbox-standin-secret' };

export class DropboxStandin {
  readonly url: string;
  /** Where a proxy must send each Dropbox host. */
  readonly hosts: Readonly<Record<string, string>>;
  /** Dropbox's token endpoint (`POST`, refresh grant), for the worker's `DROPBOX_TOKEN_URL`. */
  readonly tokenUrl: string;
  readonly stats: DropboxStandinStats = createStats();
  /** Dropbox's OAuth: grants, `/oauth2/token`, the bearer check. */
  readonly oauth: ProviderOAuth;
  readonly tokenLog: TokenLogEntry[];

  readonly #server: Server;
  readonly #namespace = new Namespace();
  readonly #sessions = new UploadSessions();
  readonly #pacer: BandwidthPacer;
  readonly #gate: CommitGate;
  readonly #api: DropboxApi;

  private constructor(server: Server, url: string, options: DropboxStandinOptions) {
    this.#server = server;
    this.url = url;
    this.hosts = { [API_HOST]: url, [CONTENT_HOST]: url };
    this.oauth = new ProviderOAuth({
      provider: 'dropbox',
      clients: options.clients ?? [DEFAULT_CLIENT],
      tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 14_400,
      rotation: options.rotation ?? 'keep',
      stats: this.stats,
    });
    this.tokenLog = this.oauth.tokenLog;
    this.tokenUrl = `${url}${this.oauth.tokenPath}`;
    this.#pacer = new BandwidthPacer(options.bytesPerSecond ?? null, this.stats);
    this.#gate = new CommitGate(options.commitHoldMs ?? 0, options.commitContention ?? 'queue');
    const uploads = new UploadRoutes(this.#namespace, this.#sessions, this.#gate, this.#pacer, this.stats, {
      asyncBatchDelayMs: options.asyncBatchDelayMs ?? 0,
    });
    this.#api = new DropboxApi(new FileRoutes(this.#namespace), uploads, this.oauth, this.stats, {
      requestLatencyMs: options.requestLatencyMs ?? 0,
    });
  }

  static async start(options: DropboxStandinOptions = {}): Promise<DropboxStandin> {
    // Requests are macrotasks; this continuation runs before any can arrive.
    const { server, url } = await listen((req, res) => standin.#route(req, res), options.port ?? 0);
    const standin = new DropboxStandin(server, url, options);
    return standin;
  }

  /** As if a user authorised the app: a fresh grant (refresh token + first access token). */
  issueGrant(clientId?: string): Grant {
    return this.oauth.issueGrant(clientId);
  }

  /** Revokes a whole grant (by id or any of its tokens) with its access tokens. */
  revokeGrant(grantIdOrToken: string): void {
    this.oauth.revokeGrant(grantIdOrToken);
  }

  /** Lifetime of access tokens issued from now on. */
  setTokenLifetime(seconds: number): void {
    this.oauth.setTokenLifetime(seconds);
  }

  setTokenEndpointFault(fault: TokenEndpointFault | null): void {
    this.oauth.setTokenEndpointFault(fault);
  }

  /** Every access and refresh token issued so far, plus the client secrets: never to be logged. */
  issuedSecrets(): string[] {
    return this.oauth.issuedSecrets();
  }

  /** The content of the file at `path` (any case), if there is one. */
  file(path: string): Buffer | undefined {
    const entry = this.#namespace.get(path);
    return entry?.kind === 'file' ? entry.data : undefined;
  }

  /** Every file by `path_display`. */
  files(): Map<string, Buffer> {
    return new Map(this.#namespace.files().map((file) => [file.pathDisplay, file.data]));
  }

  /** Seeds a file (parents are created); not counted as an upload. */
  putFile(path: string, data: Buffer, clientModified: Date = new Date()): void {
    const outcome = this.#namespace.commit({ path, mode: { kind: 'overwrite' }, autorename: false, clientModified: dropboxTime(clientModified), strictConflict: false }, data);
    if (!outcome.ok) throw new Error(`cannot seed ${path}: conflict with a ${outcome.conflict}`);
  }

  /** Upload statistics of one file (by path, any case). */
  fileStats(path: string): FileUploadStats | undefined {
    return this.stats.files.get(lowerPath(path));
  }

  /** Upload sessions started and never committed (bytes sent for nothing, or still in flight). */
  uncommittedSessions(): { id: string; bytes: number; received: number; closed: boolean }[] {
    return this.#sessions.uncommitted();
  }

  setBytesPerSecond(bytesPerSecond: number | null): void {
    this.#pacer.setBytesPerSecond(bytesPerSecond);
  }

  setRequestLatency(ms: number): void {
    this.#api.options.requestLatencyMs = ms;
  }

  setCommitHold(ms: number): void {
    this.#gate.setHoldMs(ms);
  }

  /** The next `count` commits answer 429 `too_many_write_operations` with this Retry-After. */
  rejectNextCommits(count: number, retryAfterSeconds = 1): void {
    this.#gate.rejectNext(count, retryAfterSeconds);
  }

  #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    return this.oauth.isTokenRequest(url.pathname) ? this.oauth.handleTokenRequest(req, res) : this.#api.handle(req, res, url);
  }

  /** Stops the server; token requests held by a timeout fault are dropped. */
  async close(): Promise<void> {
    this.oauth.close();
    await closeServer(this.#server);
  }
}
