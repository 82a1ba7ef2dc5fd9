/**
 * Runs the hub's jobs on the supervised rclone (DESIGN.md §1.3, §3; anchor-backer.md §5).
 *
 * A job, once acquired, is owned until exactly one terminal report has been queued for it:
 *
 *   starting ──► running ──► (finished) ──► reported
 *      │  ▲          │
 *      │  └──────────┤ re-run: rclone crashed or restarted, a token was refreshed after an auth
 *      │             │ failure, its remote's parameters changed, it stalled
 *      ▼             ▼
 *   waiting-reauth / waiting-retry  (its storage needs re-authentication / a transient failure)
 *
 * While owned, a job is heartbeated (`Executing`) on its own timer, whatever rclone is doing.
 * Polling is as cheap as rclone allows: one `job/list` per cycle and `job/status` only for jobs
 * that left the running set (rclone ≥ 1.61 reports `runningIds`; 1.60 does not, so there it is
 * one `job/status` per running job), and `core/stats {group}` per job only at the progress
 * interval.
 */
import { JobState, RuleOperation, jobStateName, type AcquireParams, type Job, type Storage } from '../../../shared/hannibal.js';
import type { RcCoreStats, RcJobStatus } from '../../../shared/rclone-rc.js';
import { RcError, ReauthRequiredError, StorageError, TokenRefreshError, errorMessage, isPermanent } from '../errors.js';
import type { JobsHub } from '../hub/rest-client.js';
import type { Logger } from '../log/logger.js';
import { detectAuthFailure, type AuthFailureSignal } from '../rclone/log-line.js';
import type { RcClient } from '../rclone/rc-client.js';
import type { StorageCatalog } from '../storage/catalog.js';
import type { CurrentRclone, RemoteManager } from '../storage/remote-manager.js';
import type { TokenBroker } from '../tokens/broker.js';
import { exponentialDelay } from '../util/backoff.js';
import { jobOutcome } from './outcome.js';
import type { ReportOutbox } from './report-outbox.js';

export interface JobSettings {
  maxJobs: number;
  heartbeatSeconds: number;
  pollSeconds: number;
  stallSeconds: number;
  reauthWaitSeconds: number;
  acquirePollSeconds: number;
}

export interface JobRunnerOptions {
  hub: JobsHub;
  outbox: Pick<ReportOutbox, 'enqueue'>;
  rclone: CurrentRclone;
  catalog: Pick<StorageCatalog, 'byId' | 'isOAuth' | 'fsPath' | 'desiredRemote'>;
  remotes: Pick<RemoteManager, 'apply'>;
  tokens: Pick<TokenBroker, 'lease' | 'forceRefresh' | 'ensureFresh'>;
  /** Re-reads the hub's storages (a job may name a storage created after the last load). */
  reloadStorages?: () => Promise<void>;
  acquire: AcquireParams;
  settings: JobSettings;
  logger: Logger;
  now?: () => number;
}

type Phase = 'starting' | 'running' | 'interrupted' | 'waiting-reauth' | 'waiting-retry';

/** Why the worker itself stopped an rclone job; decides what its end means. */
type StopIntent = 'rerun' | 'interrupt' | 'cancel' | 'shutdown' | 'abandon';

interface TrackedJob {
  job: Job;
  id: number;
  phase: Phase;
  /** 1-based run counter; each run has its own rclone job and stats group. */
  run: number;
  rcloneJobId: number | undefined;
  group: string | undefined;
  stopIntent: StopIntent | undefined;
  /** Token leases held while a run is in rclone. */
  leases: (() => void)[];
  authRecoveries: number;
  crashReruns: number;
  startFailures: number;
  timer: NodeJS.Timeout | undefined;
  waitReason: string | undefined;
  progress: { bytes: number; transfers: number; checks: number; changedAt: number } | undefined;
}

const TRANSFER_FILTER = { ExcludeRule: ['_backer', 'desktop.ini', 'Desktop.ini', '.DS_Store', '[tT]humbs.db'] };
const TRANSFER_CONFIG = { Retries: 3 };
const MAX_AUTH_RECOVERIES = 3;
const MAX_CRASH_RERUNS = 5;
const MAX_START_FAILURES = 8;
const ACQUIRE_RETRY_MS = 5_000;

export class JobRunner {
  private readonly jobs = new Map<number, TrackedJob>();
  private readonly log: Logger;
  private readonly now: () => number;
  private accepting = false;
  private rcloneUp = false;
  private acquiring: Promise<void> | undefined;
  private acquireAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private acquireRetryTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private lastProgressAt = 0;
  /** Whether this rclone's `job/list` reports `runningIds`; unknown until first asked. */
  private jobListHasRunningIds: boolean | undefined;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly safetyPollTimer: NodeJS.Timeout;

  constructor(private readonly options: JobRunnerOptions) {
    this.log = options.logger.child({ component: 'jobs' });
    this.now = options.now ?? Date.now;
    this.heartbeatTimer = setInterval(() => {
      void this.heartbeat();
    }, options.settings.heartbeatSeconds * 1000);
    this.safetyPollTimer = setInterval(() => {
      this.requestAcquire('safety poll');
    }, options.settings.acquirePollSeconds * 1000);
  }

  // --- lifecycle, driven by the state machine -------------------------------------------------

  /** rclone is up and remotes are in place: resume owned jobs and take new ones. */
  start(): void {
    this.rcloneUp = true;
    this.jobListHasRunningIds = undefined;
    this.accepting = true;
    clearInterval(this.pollTimer);
    this.pollTimer = setInterval(() => {
      void this.poll();
    }, this.options.settings.pollSeconds * 1000);
    for (const t of this.jobs.values()) {
      if (t.phase === 'interrupted') void this.startRun(t);
    }
    this.requestAcquire('running');
  }

  /** rclone is going away (restart, stop): stop polling and acquiring; owned jobs stay owned. */
  pause(): void {
    this.rcloneUp = false;
    this.accepting = false;
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** rclone died under us: every running job lost its rclone job and will be re-run. */
  rcloneLost(): void {
    this.pause();
    for (const t of this.jobs.values()) {
      if (t.phase !== 'running' && t.phase !== 'starting') continue;
      this.endRun(t);
      t.crashReruns += 1;
      if (t.crashReruns > MAX_CRASH_RERUNS) {
        void this.finish(t, JobState.DoneFailure, `rclone crashed ${t.crashReruns} times while running this job`);
        continue;
      }
      t.phase = 'interrupted';
      this.log.warn({ jobId: t.id, run: t.run }, 'rclone exited during the job; it will be re-run when rclone is back');
    }
  }

  /**
   * Stops every running rclone job so rclone can be restarted; the jobs stay owned and are
   * re-run by `start()` (RestartingForReauth).
   */
  async interruptAll(reason: string): Promise<void> {
    const running = [...this.jobs.values()].filter((t) => t.phase === 'running');
    this.log.info({ jobs: running.map((t) => t.id), reason }, 'interrupting running jobs; they will be re-run');
    await this.stopAndCollect(running, 'interrupt');
    this.pause();
  }

  /**
   * Hands every owned job back to the hub: stop its rclone job and report it `DoneFailure`, so
   * the hub gives it to a worker again at once (operator stop, shutdown).
   */
  async surrender(reason: string): Promise<void> {
    this.accepting = false;
    const running = [...this.jobs.values()].filter((t) => t.phase === 'running');
    await this.stopAndCollect(running, 'shutdown');
    for (const t of [...this.jobs.values()]) await this.finish(t, JobState.DoneFailure, reason);
    this.pause();
  }

  /** Graceful shutdown: surrender every job and stop the timers. */
  async shutdown(reason: string): Promise<void> {
    this.stopTimers();
    await this.surrender(reason);
  }

  // --- queries and narrow actions for re-authentication ---------------------------------------

  /** Remote names used by jobs that are in rclone now. */
  remotesInUse(): Set<string> {
    const inUse = new Set<string>();
    for (const t of this.jobs.values()) {
      if (t.phase !== 'running' && t.phase !== 'starting') continue;
      for (const storage of this.storagesOf(t)) inUse.add(storage.uriSchema);
    }
    return inUse;
  }

  /** Stops and re-runs only the jobs that use `uriSchema` (their remote changed). */
  async rerunJobsUsing(uriSchema: string, reason: string): Promise<number[]> {
    const affected = [...this.jobs.values()].filter(
      (t) => t.phase === 'running' && this.storagesOf(t).some((s) => s.uriSchema === uriSchema),
    );
    if (affected.length === 0) return [];
    this.log.info({ remote: uriSchema, jobs: affected.map((t) => t.id), reason }, 're-running the jobs that use this remote');
    await this.stopAndCollect(affected, 'rerun');
    return affected.map((t) => t.id);
  }

  /** New credentials for a storage: jobs waiting for them run now. */
  storageReauthorized(storageId: number): void {
    for (const t of this.jobs.values()) {
      if (t.phase !== 'waiting-reauth') continue;
      if (!this.storagesOf(t).some((s) => s.id === storageId)) continue;
      clearTimeout(t.timer);
      this.log.info({ jobId: t.id, storageId }, 'storage re-authenticated; running the waiting job');
      void this.startRun(t);
    }
  }

  /** The operator or hub aborts a job: stop it and report `Cancelled`. */
  async abort(jobId: number): Promise<boolean> {
    const t = this.jobs.get(jobId);
    if (!t) return false;
    if (t.phase === 'running') await this.stopAndCollect([t], 'cancel');
    else await this.finish(t, JobState.Cancelled, 'aborted');
    return true;
  }

  /** rclone logged an auth failure; refresh that storage's token at once if it is OAuth. */
  authSignal(signal: AuthFailureSignal): void {
    if (!signal.remote) return;
    for (const t of this.jobs.values()) {
      if (t.phase !== 'running') continue;
      const storage = this.storagesOf(t).find((s) => s.uriSchema === signal.remote);
      if (!storage || !this.options.catalog.isOAuth(storage)) continue;
      this.log.warn({ remote: signal.remote, signature: signal.signature }, 'rclone reports an auth failure; refreshing the token now');
      this.options.tokens.forceRefresh(storage.id, `rclone logged "${signal.signature}"`).catch((err: unknown) => {
        this.log.warn({ remote: signal.remote, reason: errorMessage(err) }, 'refresh after an rclone auth failure did not succeed');
      });
      return;
    }
  }

  ownedJobIds(): number[] {
    return [...this.jobs.keys()];
  }

  /** A snapshot for logs and the control endpoint. */
  describe(): { id: number; phase: Phase; run: number; waitReason: string | undefined }[] {
    return [...this.jobs.values()].map((t) => ({ id: t.id, phase: t.phase, run: t.run, waitReason: t.waitReason }));
  }

  stopTimers(): void {
    clearTimeout(this.acquireRetryTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.safetyPollTimer);
    clearInterval(this.pollTimer);
    for (const t of this.jobs.values()) clearTimeout(t.timer);
  }

  private isRcloneUp(): boolean {
    return this.rcloneUp;
  }

  // --- acquisition ------------------------------------------------------------------------------

  /** Acquire until the hub has no job for us or the concurrency cap is reached. */
  requestAcquire(trigger: string): void {
    if (!this.accepting) return;
    if (this.acquiring) {
      this.acquireAgain = true;
      return;
    }
    this.acquiring = this.acquireLoop(trigger).finally(() => {
      this.acquiring = undefined;
    });
  }

  private async acquireLoop(trigger: string): Promise<void> {
    do {
      this.acquireAgain = false;
      while (this.accepting && this.jobs.size < this.options.settings.maxJobs) {
        let job: Job | null;
        try {
          job = await this.options.hub.acquireNextJob(this.options.acquire);
        } catch (err) {
          // Try again soon rather than at the next safety poll: an announced job is waiting.
          this.log.warn({ trigger, reason: errorMessage(err), retryInMs: ACQUIRE_RETRY_MS }, 'could not ask the hub for a job');
          clearTimeout(this.acquireRetryTimer);
          this.acquireRetryTimer = setTimeout(() => {
            this.requestAcquire('retry after a hub error');
          }, ACQUIRE_RETRY_MS);
          return;
        }
        if (!job) break;
        this.accept(job, trigger);
      }
    } while (this.anotherAcquireRound());
  }

  /** Someone asked for work while the last round ran, and there is still room. */
  private anotherAcquireRound(): boolean {
    return this.acquireAgain && this.accepting && this.jobs.size < this.options.settings.maxJobs;
  }

  private accept(job: Job, trigger: string): void {
    if (this.jobs.has(job.id)) return;
    const t: TrackedJob = {
      job,
      id: job.id,
      phase: 'starting',
      run: 0,
      rcloneJobId: undefined,
      group: undefined,
      stopIntent: undefined,
      leases: [],
      authRecoveries: 0,
      crashReruns: 0,
      startFailures: 0,
      timer: undefined,
      waitReason: undefined,
      progress: undefined,
    };
    this.jobs.set(job.id, t);
    this.log.info(
      { jobId: job.id, tag: job.tag, operation: operationName(job.operation), trigger, owned: this.jobs.size, max: this.options.settings.maxJobs },
      'job acquired',
    );
    void this.startRun(t);
  }

  // --- one run of a job -------------------------------------------------------------------------

  private async startRun(t: TrackedJob): Promise<void> {
    clearTimeout(t.timer);
    t.timer = undefined;
    t.waitReason = undefined;
    const rc = this.options.rclone();
    if (!this.rcloneUp || !rc) {
      t.phase = 'interrupted';
      return;
    }
    t.phase = 'starting';
    t.run += 1;
    const run = t.run;
    t.stopIntent = undefined;
    t.progress = undefined;
    try {
      const { source, destination } = await this.endpoints(t);
      for (const storage of uniqueStorages([source.storage, destination.storage])) {
        // Just in time: a job never starts on a token that expires within the threshold.
        if (this.options.catalog.isOAuth(storage)) await this.options.tokens.ensureFresh(storage.id);
        await this.options.remotes.apply(await this.options.catalog.desiredRemote(storage));
      }
      // Forgotten meanwhile, or superseded by a run that start() began after an rclone crash.
      if (!this.jobs.has(t.id) || t.run !== run) return;
      if (!this.isRcloneUp()) {
        // Paused for an rclone restart while preparing: start() runs it again.
        t.phase = 'interrupted';
        return;
      }
      for (const storage of uniqueStorages([source.storage, destination.storage])) {
        if (this.options.catalog.isOAuth(storage)) t.leases.push(this.options.tokens.lease(storage.id));
      }
      const group = `job-${t.id}-run-${t.run}`;
      const srcFs = this.options.catalog.fsPath(source.storage, source.path);
      const dstFs = this.options.catalog.fsPath(destination.storage, destination.path);
      const rcloneJobId =
        t.job.operation === RuleOperation.Nop
          ? await rc.startNoop({ group })
          : await rc.startTransfer(t.job.operation === RuleOperation.Sync ? 'sync' : 'copy', srcFs, dstFs, {
              group,
              config: TRANSFER_CONFIG,
              filter: TRANSFER_FILTER,
              createEmptySrcDirs: true,
            });
      if (t.run !== run) return;
      t.rcloneJobId = rcloneJobId;
      t.group = group;
      t.phase = 'running';
      t.startFailures = 0;
      this.log.info({ jobId: t.id, run: t.run, rcloneJobId, operation: operationName(t.job.operation), src: srcFs, dst: dstFs }, 'job started in rclone');
    } catch (err) {
      if (t.run !== run) return;
      this.endRun(t);
      await this.startFailed(t, err);
    }
  }

  private async startFailed(t: TrackedJob, err: unknown): Promise<void> {
    if (err instanceof ReauthRequiredError || (err instanceof TokenRefreshError && err.permanent)) {
      this.waitForReauth(t, errorMessage(err));
      return;
    }
    if (err instanceof StorageError) {
      await this.finish(t, JobState.DoneFailure, errorMessage(err));
      return;
    }
    t.startFailures += 1;
    if (isPermanent(err) || t.startFailures > MAX_START_FAILURES) {
      await this.finish(t, JobState.DoneFailure, `could not start the job: ${errorMessage(err)}`);
      return;
    }
    if (err instanceof RcError && err.status === undefined && !this.rcloneUp) {
      t.phase = 'interrupted';
      return;
    }
    const delay = exponentialDelay(t.startFailures, { initialMs: 2000, maxMs: 120_000 });
    t.phase = 'waiting-retry';
    t.waitReason = errorMessage(err);
    this.log.warn({ jobId: t.id, attempt: t.startFailures, retryInMs: delay, reason: t.waitReason }, 'job could not start; retrying');
    t.timer = setTimeout(() => {
      void this.startRun(t);
    }, delay);
  }

  /**
   * The job's storage needs re-authentication: keep the job (heartbeated) until new
   * credentials arrive, or report it failed with that reason after `reauthWaitSeconds`.
   */
  private waitForReauth(t: TrackedJob, reason: string): void {
    t.phase = 'waiting-reauth';
    t.waitReason = reason;
    const waitMs = this.options.settings.reauthWaitSeconds * 1000;
    this.log.error({ jobId: t.id, reason, waitSeconds: this.options.settings.reauthWaitSeconds }, 'job waits for re-authentication of its storage');
    t.timer = setTimeout(() => {
      void this.finish(t, JobState.DoneFailure, reason);
    }, waitMs);
  }

  private async endpoints(t: TrackedJob): Promise<{ source: { storage: Storage; path: string }; destination: { storage: Storage; path: string } }> {
    const resolve = async (storageId: number, path: string | undefined, side: string) => {
      let storage = this.options.catalog.byId(storageId);
      if (!storage && this.options.reloadStorages) {
        await this.options.reloadStorages();
        storage = this.options.catalog.byId(storageId);
      }
      if (!storage) throw new StorageError(`job ${t.id}: ${side} storage ${storageId} is unknown to the hub`, undefined);
      return { storage, path: path ?? '' };
    };
    const job = t.job;
    return {
      source: await resolve(job.sourceEndpoint?.storageId ?? job.sourceEndpoint?.storage?.id ?? -1, job.sourceEndpoint?.path, 'source'),
      destination: await resolve(
        job.destinationEndpoint?.storageId ?? job.destinationEndpoint?.storage?.id ?? -1,
        job.destinationEndpoint?.path,
        'destination',
      ),
    };
  }

  private storagesOf(t: TrackedJob): Storage[] {
    const ids = [t.job.sourceEndpoint?.storageId, t.job.destinationEndpoint?.storageId];
    return uniqueStorages(ids.map((id) => (id === undefined ? undefined : this.options.catalog.byId(id))));
  }

  /** Releases what a run held in rclone (token leases, stats group). */
  private endRun(t: TrackedJob): void {
    for (const release of t.leases.splice(0)) release();
    const rc = this.options.rclone();
    if (t.group && rc) {
      const group = t.group;
      rc.coreStatsDelete(group).catch(() => undefined);
    }
    t.group = undefined;
    t.rcloneJobId = undefined;
  }

  // --- polling ----------------------------------------------------------------------------------

  private async poll(): Promise<void> {
    const rc = this.options.rclone();
    if (this.polling || !rc || !this.rcloneUp) return;
    const running = [...this.jobs.values()].filter((t) => t.phase === 'running' && t.stopIntent === undefined);
    if (running.length === 0) return;
    this.polling = true;
    try {
      // rclone ≥ 1.61 says which jobs still run; 1.60 (Debian's) lists every job id, finished
      // or not (every rc call is a job), so there `job/list` is skipped after the first answer
      // and each running job's status is asked for.
      let active: Set<number> | undefined;
      if (this.jobListHasRunningIds !== false) {
        const list = await rc.jobList();
        this.jobListHasRunningIds = list.runningIds !== undefined;
        if (list.runningIds) active = new Set(list.runningIds);
      }
      for (const t of running) {
        if (t.rcloneJobId !== undefined && !active?.has(t.rcloneJobId)) await this.collect(t, rc);
      }
      if (this.now() - this.lastProgressAt >= this.options.settings.heartbeatSeconds * 1000) {
        this.lastProgressAt = this.now();
        await this.sampleProgress(rc);
      }
    } catch (err) {
      this.log.debug({ reason: errorMessage(err) }, 'poll cycle failed');
    } finally {
      this.polling = false;
    }
  }

  /** Reads the final status of a run that left rclone's running set and acts on it. */
  private async collect(t: TrackedJob, rc: RcClient): Promise<void> {
    const rcloneJobId = t.rcloneJobId;
    if (rcloneJobId === undefined) return;
    let status: RcJobStatus;
    try {
      status = await rc.jobStatus(rcloneJobId);
    } catch (err) {
      if (err instanceof RcError && err.status !== undefined && t.rcloneJobId === rcloneJobId) {
        this.log.warn({ jobId: t.id, rcloneJobId, reason: errorMessage(err) }, 'rclone no longer knows the job; re-running it');
        this.endRun(t);
        void this.startRun(t);
      }
      return;
    }
    if (!status.finished) return;
    const stats = await rc.coreStats(t.group).catch(() => undefined);
    // A concurrent collect (the poll, or a stop) already handled this rclone job.
    if (t.rcloneJobId !== rcloneJobId) return;
    const intent = t.stopIntent;
    this.endRun(t);
    if (intent) {
      await this.stopped(t, intent, status);
      return;
    }
    if (status.success) {
      await this.finish(t, JobState.DoneSuccess, undefined, stats, status);
      return;
    }
    const auth = detectAuthFailure(status.error);
    if (auth && t.authRecoveries < MAX_AUTH_RECOVERIES && this.storagesOf(t).some((s) => this.options.catalog.isOAuth(s))) {
      await this.recoverAuth(t, auth, status.error);
      return;
    }
    const outcome = jobOutcome(status, stats);
    await this.finish(t, outcome.state, outcome.reason, stats, status);
  }

  /** What a run the worker stopped itself means. */
  private async stopped(t: TrackedJob, intent: StopIntent, status: RcJobStatus): Promise<void> {
    switch (intent) {
      case 'rerun':
        this.log.info({ jobId: t.id, run: t.run }, 'job stopped for a re-run');
        await this.startRun(t);
        return;
      case 'interrupt':
        t.phase = 'interrupted';
        return;
      case 'cancel':
        await this.finish(t, JobState.Cancelled, 'aborted');
        return;
      case 'shutdown':
        // Reported by shutdown() once every job is collected.
        t.phase = 'interrupted';
        return;
      case 'abandon':
        this.forget(t);
        this.log.warn({ jobId: t.id, error: status.error }, 'job abandoned: the hub no longer has it as ours');
        return;
    }
  }

  /**
   * The run failed with an auth error (rclone-lab.md Q6 signatures). Get a fresh token for its
   * OAuth storages and re-run only this job; if a storage needs re-authentication, wait for it.
   */
  private async recoverAuth(t: TrackedJob, auth: AuthFailureSignal, error: string): Promise<void> {
    t.authRecoveries += 1;
    const storages = this.storagesOf(t).filter(
      (s) => this.options.catalog.isOAuth(s) && (auth.remote === undefined || s.uriSchema === auth.remote),
    );
    this.log.warn(
      { jobId: t.id, run: t.run, signature: auth.signature, remote: auth.remote, recovery: t.authRecoveries, error: error.split('\n')[0] },
      'job failed with an auth error; refreshing its token and re-running it',
    );
    try {
      for (const storage of storages) await this.options.tokens.forceRefresh(storage.id, `job ${t.id} failed: ${auth.signature}`);
    } catch (err) {
      await this.startFailed(t, err);
      return;
    }
    await this.startRun(t);
  }

  private async sampleProgress(rc: RcClient): Promise<void> {
    for (const t of this.jobs.values()) {
      if (t.phase !== 'running' || !t.group || t.stopIntent) continue;
      let stats: RcCoreStats;
      try {
        stats = await rc.coreStats(t.group);
      } catch {
        continue;
      }
      const now = this.now();
      const moved =
        !t.progress || stats.bytes !== t.progress.bytes || stats.transfers !== t.progress.transfers || stats.checks !== t.progress.checks;
      if (moved) t.progress = { bytes: stats.bytes, transfers: stats.transfers, checks: stats.checks, changedAt: now };
      this.log.info(
        {
          jobId: t.id,
          run: t.run,
          bytes: stats.bytes,
          totalBytes: stats.totalBytes,
          transfers: stats.transfers,
          totalTransfers: stats.totalTransfers,
          checks: stats.checks,
          speed: Math.round(stats.speed),
          eta: stats.eta,
        },
        'job progress',
      );
      const stalledMs = now - (t.progress?.changedAt ?? now);
      if (stalledMs >= this.options.settings.stallSeconds * 1000) {
        this.log.warn({ jobId: t.id, stalledSeconds: Math.round(stalledMs / 1000) }, 'job made no progress; stopping it for a re-run');
        void this.stopAndCollect([t], 'rerun');
      }
    }
  }

  /** `job/stop` each run, then wait (bounded) until rclone reports it finished, and collect it. */
  private async stopAndCollect(targets: TrackedJob[], intent: StopIntent): Promise<void> {
    const rc = this.options.rclone();
    await Promise.all(
      targets.map(async (t) => {
        t.stopIntent = intent;
        const id = t.rcloneJobId;
        if (!rc || id === undefined) {
          this.endRun(t);
          await this.stopped(t, intent, { error: 'rclone not running' } as RcJobStatus);
          return;
        }
        try {
          await rc.jobStop(id);
        } catch (err) {
          this.log.debug({ jobId: t.id, reason: errorMessage(err) }, 'job/stop failed');
        }
        const deadline = this.now() + 30_000;
        while (this.now() < deadline && t.rcloneJobId === id) {
          const status = await rc.jobStatus(id).catch(() => undefined);
          if (!status || status.finished) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        if (t.rcloneJobId === id) await this.collect(t, rc).catch(() => undefined);
        if (t.rcloneJobId === id) {
          this.endRun(t);
          await this.stopped(t, intent, { error: 'did not stop in time' } as RcJobStatus);
        }
      }),
    );
  }

  // --- hub side ---------------------------------------------------------------------------------

  private async heartbeat(): Promise<void> {
    for (const t of [...this.jobs.values()]) {
      try {
        const result = await this.options.hub.reportJob({ jobId: t.id, owner: this.options.acquire.owner, state: JobState.Executing });
        if (result.status === -1 && this.jobs.get(t.id) === t) {
          this.log.warn({ jobId: t.id }, 'hub no longer has this job as Executing; abandoning it');
          if (t.phase === 'running') await this.stopAndCollect([t], 'abandon');
          else this.forget(t);
        }
      } catch (err) {
        this.log.warn({ jobId: t.id, reason: errorMessage(err) }, 'heartbeat failed');
      }
    }
  }

  /** Queues the one terminal report of a job and frees its slot. */
  private async finish(t: TrackedJob, state: JobState, reason: string | undefined, stats?: RcCoreStats, status?: RcJobStatus): Promise<void> {
    if (this.jobs.get(t.id) !== t) return;
    this.forget(t);
    const level = state === JobState.DoneSuccess ? 'info' : 'warn';
    this.log[level](
      {
        jobId: t.id,
        state: jobStateName(state),
        reason,
        runs: t.run,
        durationS: status ? Math.round(status.duration) : undefined,
        bytes: stats?.bytes,
        transfers: stats?.transfers,
        checks: stats?.checks,
      },
      'job finished',
    );
    await this.options.outbox.enqueue({ jobId: t.id, owner: this.options.acquire.owner, state, ...(reason ? { reason } : {}) });
    this.requestAcquire('slot freed');
  }

  private forget(t: TrackedJob): void {
    clearTimeout(t.timer);
    this.endRun(t);
    this.jobs.delete(t.id);
  }
}

function uniqueStorages(storages: (Storage | undefined)[]): Storage[] {
  const seen = new Map<number, Storage>();
  for (const s of storages) if (s && !seen.has(s.id)) seen.set(s.id, s);
  return [...seen.values()];
}

function operationName(operation: number): string {
  return operation === RuleOperation.Sync ? 'sync' : operation === RuleOperation.Copy ? 'copy' : operation === RuleOperation.Nop ? 'nop' : `unknown(${operation})`;
}
