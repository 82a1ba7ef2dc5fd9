/**
 * A minimal model of the .NET worker this project replaces (WorkerRClone,
 * research/anchor-backer.md §2–§7), driving a real `rclone rcd` and the stand-ins, so the
 * strategies benchmark can run the same job under its token strategies. Only the parts that
 * decide what a token strategy costs are modelled:
 *
 * - the driver writes rclone's config file itself and rewrites it at every job start from its
 *   in-memory copy (§8, §5.2); what an OAuth remote holds is the strategy's `Custody`;
 * - at every (re)start of rclone each OAuth storage gets a network refresh and the result is
 *   saved to the hub (`BackendsLoggingIn`, §2.5, §6.3); a job start refreshes a token that is
 *   about to expire (`EnsureTokensValidAsync`, §6.3);
 * - a running job that fails on auth (rclone's error text), whose rclone logged ≥ 3 auth errors
 *   (the stderr fast path), or that makes no progress while its token is expired (the inactivity
 *   rule) triggers the restart of §6.5/§7.3: every running job is reported `DoneFailure` (the
 *   hub re-queues it), rclone is killed, the storages are reloaded from the hub and refreshed,
 *   the config is rewritten, a new rclone starts and the jobs are acquired and run again;
 * - other failures are reported as the .NET worker does: `DoneWithErrors` when the job
 *   transferred something, else `DoneFailure`.
 *
 * Left out on purpose (all of them would make the baseline slower or lose the job, so leaving
 * them out favours it): the .NET timers (5 s poll, 5 min inactivity, 5 min between restarts, at
 * most 3 restarts in a row, 120 s re-acquisition poll after a restart) are replaced by
 * `RESTART_POLICY`, scaled to 20 s tokens; its bugs (job/list keys, per-technology cache, global
 * stats for the outcome, stderr parser that cannot read JSON logs) are not reproduced; no
 * SignalR (jobs are polled, reauth broadcasts are not acted upon — the .NET diff compares against
 * its own cache and finds no change, side-by-side.md N3).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { JobState, RuleOperation, type Job, type Storage } from '../../../shared/hannibal.js';
import { BaselineHubClient } from './hub-client.js';
import { Rcd, writeRcloneConfig, type RcloneLogLine } from './rcd.js';
import { refreshToken, type HeldToken } from './token-client.js';

/** Where the GCS stand-in is, for the remotes the driver writes. */
export interface GcsEndpoints {
  apiEndpoint: string;
  tokenUrl: string;
}

/** What rclone holds for an OAuth storage: the difference between the strategies. */
export interface Custody {
  readonly strategy: string;
  gcsRemote(storage: Storage, token: HeldToken, gcs: GcsEndpoints): Record<string, string>;
}

export interface RestartPolicy {
  /** How often running jobs are polled and new ones asked for (.NET: 5 s). */
  pollMs: number;
  /** `Executing` heartbeat per job (.NET: 5 s). */
  heartbeatMs: number;
  /**
   * No progress for this long while the job's token is expired → restart (.NET: 5 min). It must
   * outlast the normal gaps in rclone's byte count: socket buffers take whole small files at
   * once, so on a slow link the count moves in steps several seconds apart.
   */
  stallMs: number;
  /** This many auth errors in rclone's log → restart (.NET: 3). */
  authErrorLines: number;
  /** Wait before retrying a failed reload/refresh during a restart (.NET: 5 min between restarts). */
  retryMs: number;
  /** A job start refreshes a token expiring within this (.NET: 5 min). */
  refreshBufferMs: number;
}

export const RESTART_POLICY: RestartPolicy = {
  pollMs: 1_000,
  heartbeatMs: 5_000,
  stallMs: 30_000,
  authErrorLines: 3,
  retryMs: 2_000,
  refreshBufferMs: 2_000,
};

/** rclone's words for an auth failure (rclone-lab.md Q6, and what 1.60.1 prints for gcs). */
const AUTH_FAILURE = /token expired|couldn't fetch token|invalid_grant|Error 401|Invalid Credentials|401 Unauthorized/i;

const TRANSFER_FILTER = { ExcludeRule: ['_backer', 'desktop.ini', 'Desktop.ini', '.DS_Store', '[tT]humbs.db'] };

export interface DriverOptions {
  custody: Custody;
  owner: string;
  hubUrl: string;
  account: { email: string; password: string };
  networks: string;
  stateDir: string;
  gcs: GcsEndpoints;
  maxJobs?: number;
  policy?: RestartPolicy;
}

export interface DriverStats {
  rcloneStarts: number;
  /** Restarts of rclone for auth trouble. */
  restarts: number;
  /** Token requests the driver sent (rclone's own are counted by the stand-in). */
  tokenRequests: number;
  tokenFailures: number;
  hubSaves: number;
  /** Auth errors rclone logged. */
  authErrorLines: number;
  /** Why each restart happened. */
  restartReasons: string[];
}

interface RunningJob {
  job: Job;
  rcloneJobId: number;
  storageIds: number[];
  bytes: number;
  progressAt: number;
}

interface RcJobStatus {
  finished: boolean;
  success: boolean;
  error: string;
}

interface RcStats {
  bytes: number;
  transfers: number;
}

export class BaselineDriver {
  readonly stats: DriverStats = { rcloneStarts: 0, restarts: 0, tokenRequests: 0, tokenFailures: 0, hubSaves: 0, authErrorLines: 0, restartReasons: [] };
  private readonly hub: BaselineHubClient;
  private readonly policy: RestartPolicy;
  private readonly configPath: string;
  private rcd: Rcd | undefined;
  private storages = new Map<number, Storage>();
  private readonly tokens = new Map<number, HeldToken>();
  private readonly running = new Map<number, RunningJob>();
  private authLinesSinceStart = 0;
  private lastHeartbeatAt = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();

  private constructor(private readonly options: DriverOptions) {
    this.hub = new BaselineHubClient(options.hubUrl, options.account);
    this.policy = options.policy ?? RESTART_POLICY;
    this.configPath = join(options.stateDir, 'rclone.conf');
  }

  static async start(options: DriverOptions): Promise<BaselineDriver> {
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const driver = new BaselineDriver(options);
    await driver.boot();
    driver.schedule(0);
    return driver;
  }

  get strategy(): string {
    return this.options.custody.strategy;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    await this.rcd?.kill();
  }

  // --- start and restart of rclone --------------------------------------------------------------

  /** `BackendsLoggingIn` → `StartRCloneProcess`: reload, refresh and save every OAuth storage, write the config, start rclone. */
  private async boot(): Promise<void> {
    for (;;) {
      try {
        await this.loadBackends();
        break;
      } catch {
        // invalid_grant until the hub has new credentials, or the hub unreachable: try again.
        if (this.stopped) return;
        await sleep(this.policy.retryMs);
      }
    }
    await this.writeConfig();
    this.rcd = await Rcd.start({
      configPath: this.configPath,
      cacheDir: join(this.options.stateDir, 'cache'),
      onLog: (line) => {
        this.onRcloneLog(line);
      },
    });
    this.stats.rcloneStarts += 1;
    this.authLinesSinceStart = 0;
  }

  private async restart(reason: string): Promise<void> {
    this.stats.restarts += 1;
    this.stats.restartReasons.push(reason);
    for (const running of this.running.values()) await this.report(running.job.id, JobState.DoneFailure, `restarting rclone: ${reason}`);
    this.running.clear();
    await this.rcd?.kill();
    this.rcd = undefined;
    await this.boot();
  }

  private async loadBackends(): Promise<void> {
    this.storages = new Map((await this.hub.storages()).filter((s) => isSupported(s)).map((s) => [s.id, s]));
    for (const storage of this.storages.values()) if (isOAuth(storage)) await this.refresh(storage);
  }

  /** A network refresh with the refresh token the driver holds, saved to the hub. */
  private async refresh(storage: Storage): Promise<HeldToken> {
    if (!storage.refreshToken || !storage.clientId || !storage.clientSecret) throw new Error(`storage ${storage.uriSchema} has no refresh token or client`);
    this.stats.tokenRequests += 1;
    let token: HeldToken;
    try {
      token = await refreshToken(this.options.gcs.tokenUrl, { id: storage.clientId, secret: storage.clientSecret }, storage.refreshToken);
    } catch (err) {
      this.stats.tokenFailures += 1;
      throw err;
    }
    this.tokens.set(storage.id, token);
    const saved: Storage = { ...storage, accessToken: token.accessToken, refreshToken: token.refreshToken, expiresAt: token.expiresAt.toISOString() };
    this.storages.set(storage.id, saved);
    await this.hub.saveStorage(saved);
    this.stats.hubSaves += 1;
    return token;
  }

  private async writeConfig(): Promise<void> {
    const remotes = new Map<string, Record<string, string>>();
    for (const storage of this.storages.values()) {
      if (storage.technology.toLowerCase() === 'local') remotes.set(storage.uriSchema, { type: 'local' });
      const token = this.tokens.get(storage.id);
      if (isOAuth(storage) && token) remotes.set(storage.uriSchema, this.options.custody.gcsRemote(storage, token, this.options.gcs));
    }
    await writeRcloneConfig(this.configPath, remotes);
  }

  private onRcloneLog(line: RcloneLogLine): void {
    if (line.level !== 'error' || !AUTH_FAILURE.test(line.msg)) return;
    this.stats.authErrorLines += 1;
    this.authLinesSinceStart += 1;
  }

  // --- the job loop -----------------------------------------------------------------------------

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch(() => undefined)
        .finally(() => {
          this.schedule(this.policy.pollMs);
        });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    if (this.stopped || !this.rcd) return;
    if (await this.pollRunning(this.rcd)) return;
    if (this.running.size > 0 && this.authLinesSinceStart >= this.policy.authErrorLines) {
      await this.restart(`${this.authLinesSinceStart} auth errors in rclone's log`);
      return;
    }
    await this.heartbeat();
    await this.acquire(this.rcd);
  }

  /** Polls every running job; true when it restarted rclone. */
  private async pollRunning(rcd: Rcd): Promise<boolean> {
    const now = Date.now();
    for (const running of [...this.running.values()]) {
      const status = await rcd.call<RcJobStatus>('job/status', { jobid: running.rcloneJobId });
      const stats = await rcd.call<RcStats>('core/stats', { group: `job/${running.rcloneJobId}` });
      if (status.finished) {
        if (status.success) await this.finish(running, JobState.DoneSuccess);
        else if (AUTH_FAILURE.test(status.error)) {
          await this.restart(`job ${running.job.id} failed on auth: ${firstLine(status.error)}`);
          return true;
        } else await this.finish(running, stats.transfers > 0 ? JobState.DoneWithErrors : JobState.DoneFailure, status.error);
        continue;
      }
      if (stats.bytes !== running.bytes) {
        running.bytes = stats.bytes;
        running.progressAt = now;
      } else if (now - running.progressAt >= this.policy.stallMs && this.tokenExpired(running)) {
        await this.restart(`job ${running.job.id} made no progress for ${Math.round((now - running.progressAt) / 1000)} s with an expired token`);
        return true;
      }
    }
    return false;
  }

  private async heartbeat(): Promise<void> {
    if (Date.now() - this.lastHeartbeatAt < this.policy.heartbeatMs) return;
    this.lastHeartbeatAt = Date.now();
    for (const running of this.running.values()) await this.report(running.job.id, JobState.Executing);
  }

  private async acquire(rcd: Rcd): Promise<void> {
    while (!this.stopped && this.running.size < (this.options.maxJobs ?? 4)) {
      const job = await this.hub.acquire({ username: this.options.account.email, capabilities: '', owner: this.options.owner, networks: this.options.networks });
      if (!job) return;
      try {
        await this.startJob(rcd, job);
      } catch (err) {
        await this.report(job.id, JobState.DoneFailure, err instanceof Error ? err.message : String(err));
        return;
      }
    }
  }

  private async startJob(rcd: Rcd, job: Job): Promise<void> {
    const source = this.place(job.sourceEndpoint?.storageId ?? job.sourceEndpointId, job.sourceEndpoint?.path);
    const destination = this.place(job.destinationEndpoint?.storageId ?? job.destinationEndpointId, job.destinationEndpoint?.path);
    const storageIds = [...new Set([source.storage.id, destination.storage.id])];
    for (const id of storageIds) {
      const storage = this.storages.get(id)!;
      const token = this.tokens.get(id);
      if (isOAuth(storage) && (!token || token.expiresAt.getTime() - Date.now() < this.policy.refreshBufferMs)) await this.refresh(storage);
    }
    await this.writeConfig();
    const method = job.operation === RuleOperation.Sync ? 'sync/sync' : job.operation === RuleOperation.Nop ? 'rc/noop' : 'sync/copy';
    const { jobid } = await rcd.call<{ jobid: number }>(method, {
      _async: true,
      srcFs: source.fs,
      dstFs: destination.fs,
      createEmptySrcDirs: true,
      _config: { Retries: 3 },
      _filter: TRANSFER_FILTER,
    });
    this.running.set(job.id, { job, rcloneJobId: jobid, storageIds, bytes: 0, progressAt: Date.now() });
  }

  private place(storageId: number, path: string | undefined): { storage: Storage; fs: string } {
    const storage = this.storages.get(storageId);
    if (!storage || path === undefined) throw new Error(`job names storage ${storageId}, which the driver does not have`);
    const trimmed = path.trim();
    const local = storage.technology.toLowerCase() === 'local';
    return { storage, fs: `${storage.uriSchema}:${local ? (trimmed.startsWith('/') ? trimmed : `/${trimmed}`) : trimmed.replace(/^\/+/, '')}` };
  }

  private tokenExpired(running: RunningJob): boolean {
    return running.storageIds.some((id) => {
      const token = this.tokens.get(id);
      return token !== undefined && token.expiresAt.getTime() <= Date.now();
    });
  }

  private async finish(running: RunningJob, state: JobState, reason?: string): Promise<void> {
    this.running.delete(running.job.id);
    await this.report(running.job.id, state, reason);
  }

  private async report(jobId: number, state: JobState, reason?: string): Promise<void> {
    await this.hub.report({ jobId, owner: this.options.owner, state, ...(reason === undefined ? {} : { reason: firstLine(reason) }) });
  }
}

function isOAuth(storage: Storage): boolean {
  return storage.technology.toLowerCase() === 'gcs';
}

function isSupported(storage: Storage): boolean {
  return ['local', 'gcs'].includes(storage.technology.toLowerCase());
}

function firstLine(text: string): string {
  return text.split('\n')[0]?.slice(0, 300) ?? '';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
