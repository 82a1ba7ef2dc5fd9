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
 * The stand-in holds no tokens: it asks an injected {@link AccessTokenCheck} (the shared
 * provider OAuth authority) whether each bearer token is valid, expired, revoked or unknown,
 * and answers Google's 401 for all but valid. It counts what a token story needs: 401s by call
 * and user agent, requests per access token, bytes received and upload sessions per file.
 *
 * rclone remote: `type = drive`, `scope = drive`, `token = {access_token, token_type, expiry}`;
 * the remote root is the drive's root folder ("My Drive").
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { fingerprint } from '../../../worker/src/log/fingerprint.js';
import { BandwidthPacer } from '../gcs/throttle.js';
import { closeServer, listen } from '../http-util.js';
import type { AccessTokenCheck, TokenUseHook } from './access.js';
import { DriveApi } from './drive-api.js';
import { DriveStore, FOLDER_MIME_TYPE, type DriveFile } from './drive-store.js';
import { FaultPlan, type DriveFault } from './faults.js';
import type { DriveUser } from './resources.js';
import { createStats, type AccessTokenUse, type GdriveStandinStats } from './stats.js';

export type { AccessTokenCheck, AccessTokenState, TokenUse, TokenUseHook } from './access.js';
export type { DriveFault } from './faults.js';
export type { DriveFile } from './drive-store.js';
export type { AccessTokenUse, DriveCall, DriveRequestRecord, GdriveStandinStats } from './stats.js';
export { FOLDER_MIME_TYPE } from './drive-store.js';

/** The host rclone's drive backend talks to; the TLS proxy must route it to {@link GdriveStandin.url}. */
export const DRIVE_API_HOST = 'www.googleapis.com';

export interface GdriveStandinOptions {
  /** Decides on every bearer token (the shared provider OAuth authority). */
  tokens: AccessTokenCheck;
  /** Told of every request after its token check (the authority's counters). */
  onTokenUse?: TokenUseHook;
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
  readonly stats: GdriveStandinStats = createStats();

  readonly #server: Server;
  readonly #store = new DriveStore();
  readonly #pacer: BandwidthPacer;
  readonly #faults = new FaultPlan();
  readonly #api: DriveApi;

  private constructor(server: Server, url: string, port: number, options: GdriveStandinOptions) {
    this.#server = server;
    this.url = url;
    this.port = port;
    this.#pacer = new BandwidthPacer(options.uploadBytesPerSecond ?? null, this.stats);
    this.#api = new DriveApi(this.#store, this.#pacer, this.#faults, this.stats, {
      tokens: options.tokens,
      onTokenUse: options.onTokenUse,
      owner: options.owner ?? { displayName: 'Drive Stand-in User', emailAddress: 'drive-user@example.test' },
      requestLatencyMs: options.requestLatencyMs ?? 0,
    });
  }

  static async start(options: GdriveStandinOptions): Promise<GdriveStandin> {
    // No request can arrive before the instance exists (requests are macrotasks, this
    // continuation a microtask).
    const { server, url, port } = await listen((req, res) => standin.#handle(req, res), options.port ?? 0);
    const standin = new GdriveStandin(server, url, port, options);
    return standin;
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

  /** Plans failures for the next matching requests (403 rate limit, 503 backend error). */
  injectFault(fault: DriveFault): void {
    this.#faults.add(fault);
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.#api.handle(req, res);
  }

  async close(): Promise<void> {
    await closeServer(this.#server);
  }
}
