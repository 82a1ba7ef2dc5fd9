/**
 * A complete local world for the worker: the stand-in hub (REST + SignalR), a GCS-API storage
 * with its OAuth token endpoint, a Nextcloud-like WebDAV server, local folders, and worker
 * processes started exactly as users start them (`node dist/worker/src/main.js` with
 * environment variables). Used by `npm start` (embedded default), the end-to-end tests and the
 * benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RuleOperation, type Rule, type Storage } from '../shared/hannibal.js';
import { GcsStandin, type GcsStandinOptions, type Grant } from './standins/gcs/server.js';
import { DEFAULT_CLIENT as DROPBOX_CLIENT, DropboxStandin, type DropboxStandinOptions } from './standins/dropbox/server.js';
import { DEFAULT_DRIVE_CLIENT, DRIVE_API_HOST, GdriveStandin, GOOGLE_TOKEN_HOST, type GdriveStandinOptions } from './standins/gdrive/server.js';
import { HannibalStandin, type HannibalStandinOptions, type HubUser } from './standins/hannibal/server.js';
import type { Grant as ProviderGrant } from './standins/oauth/authority.js';
import { DEFAULT_ONEDRIVE_CLIENT, OnedriveStandin, type OnedriveStandinOptions } from './standins/onedrive/server.js';
import { TlsProxy } from './standins/tls-proxy/proxy.js';
import { WebdavStandin, type WebdavStandinOptions } from './standins/webdav/webdav-standin.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/dist\/$/, '/');
export const WORKER_MAIN = join(REPO_ROOT, 'dist/worker/src/main.js');
/**
 * The node flags every shipped way of starting the worker passes (the bin's shebang, `npm start`,
 * the systemd unit, the Dockerfile), so tests and benchmarks run what operators run. A 4 MB
 * semi-space caps V8's young generation: under a steady job stream it otherwise grows to 2 × 16 MB
 * and the worker's RSS settles ~25 MB higher (README, "Soak").
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'];
export const HUB_USER = { email: 'worker@example.test', password: 'worker-password' };

export interface SandboxOptions {
  hub?: HannibalStandinOptions;
  gcs?: GcsStandinOptions;
  webdav?: WebdavStandinOptions;
  /** Starts the Google Drive stand-in (and the TLS proxy rclone reaches it through); off by default. */
  gdrive?: GdriveStandinOptions;
  /** Starts the OneDrive stand-in (Graph + Microsoft's token endpoint) and the TLS proxy rclone reaches it through; off by default. */
  onedrive?: OnedriveStandinOptions;
  /** Starts the Dropbox stand-in (both API hosts + the token endpoint) behind the TLS proxy; off by default. */
  dropbox?: DropboxStandinOptions;
  /** Root for local storages and worker state; default a new temp dir (removed by close()). */
  dir?: string;
}

export interface Place {
  storage: Storage;
  path: string;
}

/**
 * Whose a storage (and so its endpoints, rules and jobs) is, or whose credentials a worker logs
 * in with: a user of the hub (`sandbox.hubUser`, or one from `sandbox.addUser`). Default: the
 * hub's first user, `HUB_USER`.
 */
export interface OwnedBy {
  user?: HubUser;
}

export class Sandbox {
  private readonly workers = new Set<WorkerProcess>();
  private readonly ownsDir: boolean;
  private readonly passwords = new Set<string>();

  private constructor(
    readonly hub: HannibalStandin,
    readonly gcs: GcsStandin,
    readonly webdav: WebdavStandin,
    readonly dir: string,
    ownsDir: boolean,
    /** Present when asked for (`SandboxOptions.gdrive`), with the proxy rclone reaches it through. */
    readonly gdrive?: { standin: GdriveStandin; proxy: TlsProxy },
    /** Present when asked for (`SandboxOptions.onedrive`). */
    readonly onedrive?: OnedriveStandin,
    /**
     * One TLS-terminating proxy for every provider stand-in started (their fixed hosts): workers
     * get its environment, so their rclone reaches the stand-ins.
     */
    readonly proxy?: TlsProxy,
    /** Present when asked for (`SandboxOptions.dropbox`). */
    readonly dropbox?: DropboxStandin,
  ) {
    this.ownsDir = ownsDir;
    for (const user of hub.users()) this.passwords.add(user.password);
  }

  /** The hub's first user: owns what is created without an owner, and is the workers' default login. */
  get hubUser(): HubUser {
    const first = this.hub.users()[0];
    if (first === undefined) throw new Error('the hub has no user');
    return first;
  }

  /**
   * Another user of the same hub, with its own login. Give it to `add…Storage`, `workerEnv` or
   * `spawnWorker` as `{ user }` to run two users on one hub, each with its own worker.
   */
  addUser(email: string, password: string): HubUser {
    this.passwords.add(password);
    return this.hub.addUser({ email, password });
  }

  static async start(options: SandboxOptions = {}): Promise<Sandbox> {
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'worker-sandbox-')));
    await mkdir(dir, { recursive: true });
    const [hub, gcs, webdav, gdrive, onedrive, dropbox] = await Promise.all([
      HannibalStandin.start({ users: [HUB_USER], ...options.hub }),
      GcsStandin.start(options.gcs),
      WebdavStandin.start(options.webdav),
      options.gdrive ? GdriveStandin.start(options.gdrive) : undefined,
      options.onedrive ? OnedriveStandin.start(options.onedrive) : undefined,
      options.dropbox ? DropboxStandin.start(options.dropbox) : undefined,
    ]);
    const routes = {
      ...(gdrive ? { [DRIVE_API_HOST]: gdrive.url, [GOOGLE_TOKEN_HOST]: gdrive.url } : {}),
      ...onedrive?.proxyRoutes(),
      ...dropbox?.hosts,
    };
    const proxy = Object.keys(routes).length > 0 ? await TlsProxy.start({ routes }) : undefined;
    return new Sandbox(hub, gcs, webdav, dir, options.dir === undefined, gdrive && proxy ? { standin: gdrive, proxy } : undefined, onedrive, proxy, dropbox);
  }

  /** A local storage; its paths are absolute paths on this machine. */
  addLocalStorage(uriSchema: string, owner: OwnedBy = {}): Storage {
    return this.hub.addStorage({ technology: 'local', uriSchema, ...userIdOf(owner) });
  }

  /** A GCS storage on the stand-in, with a fresh grant (as if the user had authorised it). */
  addGcsStorage(uriSchema: string, options: { bucket?: string; withClientCredentials?: boolean } & OwnedBy = {}): { storage: Storage; grant: Grant } {
    this.gcs.createBucket(options.bucket ?? 'bucket');
    const grant = this.gcs.issueGrant();
    const storage = this.hub.addStorage({
      technology: 'gcs',
      uriSchema,
      ...userIdOf(options),
      clientId: options.withClientCredentials === false ? null : 'gcs-standin-client',
      clientSecret: options.withClientCredentials === false ? null : 'gcs-standin-secret',
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      expiresAt: grant.expiresAt.toISOString(),
    });
    return { storage, grant };
  }

  /** A OneDrive storage on the stand-in, with a fresh grant (needs `SandboxOptions.onedrive`). */
  addOnedriveStorage(uriSchema: string, owner: OwnedBy = {}): { storage: Storage; grant: ProviderGrant } {
    if (!this.onedrive) throw new Error('this sandbox was started without the OneDrive stand-in (SandboxOptions.onedrive)');
    return this.addOAuthStorage('onedrive', uriSchema, owner, DEFAULT_ONEDRIVE_CLIENT, this.onedrive.oauth.issueGrant());
  }

  /** A Dropbox storage on the stand-in, with a fresh grant (needs `SandboxOptions.dropbox`). */
  addDropboxStorage(uriSchema: string, owner: OwnedBy = {}): { storage: Storage; grant: ProviderGrant } {
    if (!this.dropbox) throw new Error('this sandbox was started without the Dropbox stand-in (SandboxOptions.dropbox)');
    return this.addOAuthStorage('dropbox', uriSchema, owner, DROPBOX_CLIENT, this.dropbox.issueGrant());
  }

  /** A Google Drive storage on the Drive stand-in, with a fresh grant (as if the user had authorised it). */
  addGoogleDriveStorage(uriSchema: string, owner: OwnedBy = {}): { storage: Storage; grant: Grant } {
    if (!this.gdrive) throw new Error('this sandbox was started without the Google Drive stand-in (SandboxOptions.gdrive)');
    return this.addOAuthStorage('googledrive', uriSchema, owner, DEFAULT_DRIVE_CLIENT, this.gdrive.standin.issueGrant());
  }

  /** A hub storage holding a provider grant and the OAuth client it was issued to. */
  private addOAuthStorage<G extends Grant>(
    technology: string,
    uriSchema: string,
    owner: OwnedBy,
    client: { clientId: string; clientSecret: string },
    grant: G,
  ): { storage: Storage; grant: G } {
    const storage = this.hub.addStorage({
      technology,
      uriSchema,
      ...userIdOf(owner),
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      expiresAt: grant.expiresAt.toISOString(),
    });
    return { storage, grant };
  }

  /** A Nextcloud storage on the WebDAV stand-in (the WebDAV user is created when missing). */
  addNextcloudStorage(uriSchema: string, username: string, password: string, owner: OwnedBy = {}): Storage {
    this.passwords.add(password);
    try {
      this.webdav.addUser(username, password);
    } catch {
      this.webdav.setPassword(username, password);
    }
    return this.hub.addStorage({ technology: 'nextcloud', uriSchema, host: this.webdav.url, username, password, ...userIdOf(owner) });
  }

  /**
   * A rule from one place to another; returns it (create jobs with `hub.createJob(rule.id)`; the
   * hub plans later ones from the rule's `maxDestinationAge` and `minRetryTime`, as TimeSpans
   * like `"00:00:05"`). Endpoints and rule belong to the source storage's user.
   */
  addRule(
    name: string,
    source: Place,
    destination: Place,
    operation: RuleOperation = RuleOperation.Copy,
    spans: { maxDestinationAge?: string; minRetryTime?: string } = {},
  ): Rule {
    const src = this.hub.addEndpoint({ storageId: source.storage.id, path: source.path });
    const dst = this.hub.addEndpoint({ storageId: destination.storage.id, path: destination.path });
    return this.hub.addRule({ name, sourceEndpointId: src.id, destinationEndpointId: dst.id, operation, ...spans });
  }

  /** Changes a Nextcloud user's password on the server (not in the hub). */
  setWebdavPassword(username: string, password: string): void {
    this.passwords.add(password);
    this.webdav.setPassword(username, password);
  }

  /**
   * Every secret the sandbox handed out: none may ever appear in a log line. With the hub
   * users' passwords go their password hashes and security stamps, which `GET /users/-1`
   * serves as the real hub does.
   */
  secrets(): string[] {
    const users = this.hub.users().flatMap((user) => [user.passwordHash, user.securityStamp]);
    return [...this.passwords, ...users, ...this.gcs.issuedSecrets(), ...(this.gdrive?.standin.issuedSecrets() ?? []), ...(this.onedrive?.issuedSecrets() ?? []), ...(this.dropbox?.issuedSecrets() ?? [])];
  }

  /** Environment for a worker process pointed at this sandbox, logging in as `options.user` (default the first user). */
  workerEnv(name: string, overrides: Record<string, string> = {}, options: OwnedBy = {}): Record<string, string> {
    const user = options.user ?? this.hubUser;
    return {
      HANNIBAL_URL: this.hub.url,
      BACKER_USERNAME: user.email,
      BACKER_PASSWORD: user.password,
      WORKER_STATE_DIR: join(this.dir, `state-${name}`),
      // Local storages live in the sandbox's folders (the worker's state directory stays excluded).
      WORKER_LOCAL_ROOTS: this.dir,
      WORKER_OWNER_ID: `worker-${name}`,
      WORKER_NETWORKS: 'sandbox',
      GCS_TOKEN_URL: this.gcs.tokenUrl,
      GCS_API_URL: this.gcs.apiEndpoint,
      WORKER_HEARTBEAT_SECONDS: '5',
      WORKER_POLL_SECONDS: '1',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      ...(this.gdrive ? { GOOGLEDRIVE_TOKEN_URL: this.gdrive.standin.tokenUrl } : {}),
      ...(this.onedrive ? { ONEDRIVE_TOKEN_URL: this.onedrive.tokenUrl, ONEDRIVE_GRAPH_URL: this.onedrive.graphUrl } : {}),
      ...(this.dropbox ? { DROPBOX_TOKEN_URL: this.dropbox.tokenUrl } : {}),
      ...this.proxy?.env(),
      ...overrides,
    };
  }

  /**
   * Starts a worker process as users run it, logged in as `options.user` (default the first
   * user). `processGroup`: in a process group of its own (as a shell's job is), so a test can
   * signal the group as a terminal or `kill -- -<pgid>` does.
   */
  spawnWorker(name: string, overrides: Record<string, string> = {}, options: { echo?: boolean; processGroup?: boolean } & OwnedBy = {}): WorkerProcess {
    const worker = new WorkerProcess(name, this.workerEnv(name, overrides, options), options.echo ?? false, options.processGroup ?? false);
    this.workers.add(worker);
    return worker;
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers].map((w) => w.stop()));
    await Promise.all([this.hub.close(), this.gcs.close(), this.webdav.close(), this.proxy?.close(), this.gdrive?.standin.close(), this.onedrive?.close(), this.dropbox?.close()]);
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }
}

function userIdOf(owner: OwnedBy): { userId?: string } {
  return owner.user === undefined ? {} : { userId: owner.user.id };
}

export interface LogRecord {
  level: number;
  msg: string;
  component?: string;
  [key: string]: unknown;
}

/** When the worker wrote the record (pino's ISO `time`; the same clock as ours). */
export function loggedAt(record: LogRecord): number {
  return Date.parse(String(record.time));
}

/** A worker child process; its JSON log lines are parsed and kept for assertions. */
export class WorkerProcess {
  readonly logs: LogRecord[] = [];
  /** Every raw line the process printed (stdout and stderr), for secret scanning. */
  readonly rawLines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    env: Record<string, string>,
    echo: boolean,
    processGroup = false,
  ) {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RCLONE_') || k === 'RCLONE_PATH'));
    this.child = spawn(process.execPath, [...WORKER_NODE_FLAGS, WORKER_MAIN], { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: processGroup });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.rawLines.push(line);
        if (echo) process.stdout.write(`[${name}] ${line}\n`);
        try {
          this.logs.push(JSON.parse(line) as LogRecord);
        } catch {
          this.logs.push({ level: 50, msg: line, component: 'stderr' });
        }
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        resolve(code);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Log records matching `predicate` so far. */
  find(predicate: (record: LogRecord) => boolean): LogRecord[] {
    return this.logs.filter(predicate);
  }

  /** Resolves with the first record matching `predicate` (already logged or future). */
  async waitForLog(predicate: (record: LogRecord) => boolean, timeoutMs = 30_000): Promise<LogRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.find(predicate);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`worker ${this.name}: no matching log line within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The pid of this worker's rclone, from its "rclone ready" log line. */
  rclonePid(): number | undefined {
    const ready = this.logs.filter((r) => r.msg === 'rclone ready').at(-1);
    return typeof ready?.rclonePid === 'number' ? ready.rclonePid : undefined;
  }

  /**
   * The restart delays the machine took after rclone exits: from each entry into
   * `StartRCloneProcess.Backoff` on `RCLONE.EXITED` to the `Spawn` its delay led to, from the
   * transition log's timestamps.
   */
  rcloneRestartDelays(): number[] {
    const transitions = this.find((r) => r.component === 'machine' && typeof r.to === 'string');
    const delays: number[] = [];
    transitions.forEach((entered, i) => {
      if (entered.to !== 'StartRCloneProcess.Backoff' || entered.event !== 'RCLONE.EXITED') return;
      const spawn = transitions.slice(i + 1).find((r) => r.from === 'StartRCloneProcess.Backoff');
      if (spawn?.to === 'StartRCloneProcess.Spawn' && spawn.event === 'delay elapsed') delays.push(loggedAt(spawn) - loggedAt(entered));
    });
    return delays;
  }

  /** SIGTERM, then wait for a clean exit (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Writes `count` files of pseudo-random content under `dir`; returns their relative paths and bytes. */
export async function makeTree(dir: string, count: number, size: number | (() => number), subdirs = 5): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const rel = `d${i % subdirs}/file-${String(i).padStart(4, '0')}.bin`;
    const bytes = randomBytes(typeof size === 'number' ? size : size());
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), bytes);
    files.set(rel, bytes);
  }
  return files;
}
