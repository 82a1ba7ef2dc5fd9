/**
 * A Nextcloud server as rclone's `webdav` backend with `vendor = nextcloud` sees it: WebDAV under
 * `/remote.php/dav/files/<user>/` behind HTTP Basic authentication. Passwords
 * can change at runtime — the old one stops working at once — and the server counts requests per
 * password fingerprint, so tests can prove which password a (new) rclone job used after a
 * Nextcloud password change. Files live in memory.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { fingerprint } from '../../../worker/src/log/fingerprint.js';
import { basicCredentials, closeServer, delay, listen } from '../http-util.js';
import { ByteRateLimiter } from './byte-rate-limiter.js';
import { DavError, davErrors, sendDavError } from './dav-error.js';
import { handleDavMethod } from './dav-methods.js';
import { FileTree, parentPath } from './file-tree.js';

export interface WebdavStandinOptions {
  /** 0 or absent = any free port. */
  port?: number;
  /** Default: one user `nc-user` with password `nc-password`. */
  users?: { username: string; password: string }[];
  /** Delay before every answer. Default 0. */
  requestLatencyMs?: number;
  /** Server-wide limit on PUT and GET body bytes per second; null (default) = unlimited. */
  bytesPerSecond?: number | null;
}

export interface WebdavStandinStats {
  requests: number;
  /** Answers with status 401. */
  unauthorized: number;
  /** Authenticated requests per `fingerprint(password)`: shows which password a client used. */
  byPasswordFingerprint: Map<string, number>;
  /** PUT body bytes received. */
  bytesReceived: number;
  /** GET body bytes sent. */
  bytesSent: number;
}

const FILES_PREFIX = '/remote.php/dav/files/';
const REALM = 'Basic realm="Nextcloud", charset="UTF-8"';

/** RFC 3986 unreserved characters stay; everything else is percent-encoded (PHP's rawurlencode). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `'a/b c'` → `'a/b%20c'`. */
function encodePath(path: string): string {
  return path.split('/').map(encodeSegment).join('/');
}

/** Splits a files URL path into the owner and the path below the owner's root. */
function parseFilesPath(pathname: string): { owner: string; path: string } | undefined {
  if (!pathname.startsWith(FILES_PREFIX)) return undefined;
  let segments: string[];
  try {
    segments = pathname.slice(FILES_PREFIX.length).split('/').filter((s) => s !== '').map(decodeURIComponent);
  } catch {
    throw davErrors.badRequest(`Malformed URL path ${pathname}`);
  }
  const [owner, ...rest] = segments;
  if (owner === undefined) return undefined;
  if (rest.some((s) => s === '.' || s === '..' || s.includes('/'))) throw davErrors.badRequest(`Invalid path ${pathname}`);
  return { owner, path: rest.join('/') };
}

export class WebdavStandin {
  readonly stats: WebdavStandinStats = {
    requests: 0,
    unauthorized: 0,
    byPasswordFingerprint: new Map(),
    bytesReceived: 0,
    bytesSent: 0,
  };

  private readonly passwords = new Map<string, string>();
  private readonly trees = new Map<string, FileTree>();
  private readonly limiter: ByteRateLimiter;
  private readonly latencyMs: number;
  private lastFileId = 0;
  private server: Server | undefined;
  private baseUrl = '';

  private constructor(options: WebdavStandinOptions) {
    this.limiter = new ByteRateLimiter(options.bytesPerSecond ?? null);
    this.latencyMs = options.requestLatencyMs ?? 0;
    for (const { username, password } of options.users ?? [{ username: 'nc-user', password: 'nc-password' }]) {
      this.addUser(username, password);
    }
  }

  static async start(options: WebdavStandinOptions = {}): Promise<WebdavStandin> {
    const standin = new WebdavStandin(options);
    const { server, url } = await listen((req, res) => standin.handle(req, res), options.port ?? 0);
    standin.server = server;
    standin.baseUrl = url;
    return standin;
  }

  /** `http://127.0.0.1:<port>`: what a Nextcloud storage's `host` holds. */
  get url(): string {
    return this.baseUrl;
  }

  /** The WebDAV root of a user's files, the `url` of rclone's nextcloud remote. */
  davUrl(username: string): string {
    return `${this.baseUrl}${FILES_PREFIX}${encodeSegment(username)}/`;
  }

  addUser(username: string, password: string): void {
    if (this.passwords.has(username)) throw new Error(`user ${username} already exists`);
    this.passwords.set(username, password);
    this.trees.set(username, new FileTree(() => ++this.lastFileId));
  }

  /** Changes a user's password; requests with the old one get 401 from now on. */
  setPassword(username: string, password: string): void {
    if (!this.passwords.has(username)) throw new Error(`unknown user ${username}`);
    this.passwords.set(username, password);
  }

  /** A file's content; `path` is relative to the user's root, '/'-separated, no leading slash. */
  file(username: string, path: string): Buffer | undefined {
    const resource = this.treeOf(username).get(path);
    return resource?.kind === 'file' ? resource.data : undefined;
  }

  /** Every file of a user by path. */
  files(username: string): Map<string, Buffer> {
    return this.treeOf(username).files();
  }

  /** Seeds a file, creating missing parent collections. */
  putFile(username: string, path: string, data: Buffer): void {
    const tree = this.treeOf(username);
    tree.ensureCollection(parentPath(path));
    tree.writeFile(path, data, new Date());
  }

  /** Changes the body byte rate at once, also for transfers under way; null = unlimited. */
  setBytesPerSecond(bytesPerSecond: number | null): void {
    this.limiter.setRate(bytesPerSecond);
  }

  async close(): Promise<void> {
    this.limiter.setRate(null);
    if (this.server) await closeServer(this.server);
  }

  private treeOf(username: string): FileTree {
    const tree = this.trees.get(username);
    if (!tree) throw new Error(`unknown user ${username}`);
    return tree;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.stats.requests++;
    if (this.latencyMs > 0) await delay(this.latencyMs);
    try {
      const { pathname } = new URL(req.url ?? '/', this.baseUrl);
      const target = parseFilesPath(pathname);
      if (!target) throw davErrors.notFound(`No resource at ${pathname}`);
      const { owner } = target;
      this.authorize(req, owner);
      const root = `${FILES_PREFIX}${encodeSegment(owner)}/`;
      await handleDavMethod(
        {
          tree: this.treeOf(owner),
          owner,
          path: target.path,
          hrefOf: (path, collection) => (path === '' ? root : `${root}${encodePath(path)}${collection ? '/' : ''}`),
          destinationPath: (destination) => this.destinationPath(destination, owner),
          limiter: this.limiter,
          countBytes: (direction, bytes) => {
            if (direction === 'received') this.stats.bytesReceived += bytes;
            else this.stats.bytesSent += bytes;
          },
        },
        req,
        res,
      );
    } catch (error) {
      if (!(error instanceof DavError)) throw error;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error.status === 401) this.stats.unauthorized++;
      sendDavError(res, error, error.status === 401 ? { 'www-authenticate': REALM } : {});
    }
  }

  /** Checks the request's Basic credentials for access to `owner`'s files; throws 401 or 403. */
  private authorize(req: IncomingMessage, owner: string): void {
    const credentials = basicCredentials(req);
    if (!credentials) {
      throw davErrors.notAuthenticated("No public access to this resource., No 'Authorization: Basic' header found. Either the client didn't send one, or the server is misconfigured");
    }
    const expected = this.passwords.get(credentials.user);
    if (expected === undefined || expected !== credentials.password) {
      throw davErrors.notAuthenticated('No public access to this resource., Username or password was incorrect');
    }
    const key = fingerprint(credentials.password);
    this.stats.byPasswordFingerprint.set(key, (this.stats.byPasswordFingerprint.get(key) ?? 0) + 1);
    if (credentials.user !== owner) throw davErrors.forbidden(`User ${credentials.user} may not access the files of ${owner}`);
  }

  private destinationPath(destination: string, owner: string): string {
    let pathname: string;
    try {
      pathname = new URL(destination, this.baseUrl).pathname;
    } catch {
      throw davErrors.badRequest(`Invalid Destination header ${destination}`);
    }
    const target = parseFilesPath(pathname);
    if (target?.owner !== owner) throw davErrors.forbidden('The destination is not in the files of the same user');
    return target.path;
  }
}
