/**
 * Runs the hub's jobs on the supervised rclone (DESIGN.md §1.3, §3; anchor-backer.md §5). This is
 * the orchestrator: it does the I/O, and leaves each rule to its own module —
 *
 * - lifecycle.ts: what an event means for a job (event × phase → next step, retry budget);
 * - failure.ts: how a run ended (auth, transient, deterministic) from rclone's answers;
 * - acquisition.ts + handback.ts: which jobs are taken, and backing off from jobs handed back;
 * - auth-recovery.ts: fresh runs on a reloaded remote when a grant is known dead;
 * - run-watch.ts: polling rclone for finished runs, progress and stalls, stopping runs;
 * - hub/tenancy.ts: which jobs are ours at all.
 *
 * A job, once acquired, is owned until exactly one terminal report has been queued for it, and
 * is heartbeated (`Executing`) on its own timer meanwhile, whatever rclone is doing. Polling is
 * as cheap as rclone allows: one `job/list` per cycle and `job/status` only for jobs that left
 * the running set (rclone ≥ 1.61 reports `runningIds`; 1.60 does not, so there it is one
 * `job/status` per running job), and `core/stats {group}` per job only at the progress interval.
 *
 * Remotes change under running jobs in one order only (`restartJobsOn`): stop the jobs, change
 * the remote, start fresh runs. `config/update` clears rclone's Fs cache, which shuts down a
 * running job's Fs on backends with `Shutdown` (dropbox, smb, sftp, ftp), and a new run would
 * otherwise reuse the cached Fs with its old token or parameters.
 */
import { JobState, RuleOperation, jobStateName, type AcquireParams, type Job, type Storage } from '../../../shared/hannibal.js';
import type { RcCoreStats, RcJobStatus } from '../../../shared/rclone-rc.js';
import { StorageError, errorMessage } from '../errors.js';
import type { JobsHub } from '../hub/rest-client.js';
import type { TenantGuard } from '../hub/tenancy.js';
import type { Logger } from '../log/logger.js';
import { NO_JOB_RECORDER, type JobRecorder } from '../metrics/recorders.js';
import type { AuthFailureSignal } from '../rclone/log-line.js';
import type { StorageCatalog } from '../storage/catalog.js';
import type { CurrentRclone, RemoteManager } from '../storage/remote-manager.js';
import type { TokenBroker } from '../tokens/broker.js';
import { Mutex } from '../util/mutex.js';
import { Acquirer, type Admission } from './acquisition.js';
import { AuthRecovery } from './auth-recovery.js';
import { classifyRunEnd, classifyStartFailure } from './failure.js';
import { HandbackLedger } from './handback.js';
import { RunWatch } from './run-watch.js';
import { decide, type JobEvent, type JobPhase, type LifecyclePolicy } from './lifecycle.js';
import type { ReportOutbox } from './report-outbox.js';
import { operationName, trackedJob, uniqueStorages, type TrackedJob } from './tracked-job.js';

export interface JobSettings {
  maxJobs: number;
  heartbeatSeconds: number;
  pollSeconds: number;
  stallSeconds: number;
  reauthWaitSeconds: number;
  acquirePollSeconds: number;
  /** Retries after transient failures before a job is handed back; their first delay and ceiling. */
  retries: number;
  retrySeconds: number;
  retryMaxSeconds: number;
  /** A job handed back after failures is not run again by this worker for this long. */
  handbackWindowSeconds: number;
  /** Ceiling of the acquisition backoff after rounds that handed jobs back unrun. */
  acquireBackoffMaxSeconds: number;
}

export interface JobRunnerOptions {
  hub: JobsHub;
  outbox: Pick<ReportOutbox, 'enqueue'>;
  rclone: CurrentRclone;
  catalog: Pick<StorageCatalog, 'byId' | 'isOAuth' | 'fsPath' | 'desiredRemote'>;
  remotes: Pick<RemoteManager, 'apply' | 'reloadRemote' | 'diff'>;
  tokens: Pick<TokenBroker, 'lease' | 'forceRefresh' | 'ensureFresh'>;
  tenancy: Pick<TenantGuard, 'whose'>;
  /** Told of every terminal report (metrics); default: nobody. */
  recorder?: JobRecorder;
  /** Re-reads the hub's storages (a job may name a storage created after the last load). */
  reloadStorages?: () => Promise<void>;
  acquire: AcquireParams;
  settings: JobSettings;
  logger: Logger;
  now?: () => number;
}

const TRANSFER_FILTER = { ExcludeRule: ['_backer', 'desktop.ini', 'Desktop.ini', '.DS_Store', '[tT]humbs.db'] };
const TRANSFER_CONFIG = { Retries: 3 };
const MAX_AUTH_RECOVERIES = 3;
const ACQUIRE_BACKOFF_INITIAL_MS = 2_000;
const KNOWN_OPERATIONS: ReadonlySet<number> = new Set(Object.values(RuleOperation));

export class JobRunner {
  private readonly jobs = new Map<number, TrackedJob>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly policy: LifecyclePolicy;
  private readonly ledger: HandbackLedger;
  private readonly acquirer: Acquirer;
  /** Restarts around remote changes, one at a time (they are rare; overlapping ones would break each other's runs). */
  private readonly restarts = new Mutex();
  private readonly auth: AuthRecovery;
  private readonly watch: RunWatch;
  private rcloneUp = false;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly safetyPollTimer: NodeJS.Timeout;

  constructor(private readonly options: JobRunnerOptions) {
    const { settings } = options;
    this.log = options.logger.child({ component: 'jobs' });
    this.now = options.now ?? Date.now;
    this.policy = {
      retries: settings.retries,
      retryInitialMs: settings.retrySeconds * 1000,
      retryMaxMs: settings.retryMaxSeconds * 1000,
      maxAuthRecoveries: MAX_AUTH_RECOVERIES,
    };
    this.ledger = new HandbackLedger(
      {
        windowMs: settings.handbackWindowSeconds * 1000,
        acquireBackoffInitialMs: Math.min(ACQUIRE_BACKOFF_INITIAL_MS, settings.acquireBackoffMaxSeconds * 1000),
        acquireBackoffMaxMs: settings.acquireBackoffMaxSeconds * 1000,
      },
      this.now,
    );
    this.acquirer = new Acquirer({
      hub: options.hub,
      params: options.acquire,
      ledger: this.ledger,
      room: () => settings.maxJobs - this.jobs.size,
      admit: (job) => this.admit(job),
      take: (job, trigger) => {
        this.take(job, trigger);
      },
      refuse: (job, reason) => this.options.outbox.enqueue({ jobId: job.id, owner: this.options.acquire.owner, state: JobState.DoneFailure, reason }),
      logger: options.logger,
    });
    this.watch = new RunWatch({
      rclone: options.rclone,
      host: {
        running: () => this.inPhase('running'),
        ended: (t, status, stats) => this.runEnded(t, status, stats),
        forgotten: (t) => void this.startRun(t),
        release: (t) => {
          this.endRun(t);
        },
      },
      settings,
      logger: options.logger,
      now: this.now,
    });
    this.auth = new AuthRecovery({
      host: {
        inPhase: (phase) => this.inPhase(phase),
        storagesOf: (t) => this.storagesOf(t),
        restartJobsOn: (uris, reason, change, also) => this.restartJobsOn(uris, reason, change, also),
        recoveryFailed: (t, err) => this.handle(t, { type: 'start-failed', failure: classifyStartFailure(err, this.rcloneUp), canRefresh: false }),
      },
      catalog: options.catalog,
      remotes: options.remotes,
      tokens: options.tokens,
      maxRecoveries: MAX_AUTH_RECOVERIES,
      logger: options.logger,
      ...(options.now ? { now: options.now } : {}),
    });
    this.heartbeatTimer = setInterval(() => {
      void this.heartbeat();
    }, settings.heartbeatSeconds * 1000);
    this.safetyPollTimer = setInterval(() => {
      this.requestAcquire('safety poll');
    }, settings.acquirePollSeconds * 1000);
  }

  // --- lifecycle, driven by the state machine -------------------------------------------------

  /** rclone is up and remotes are in place: resume owned jobs and take new ones. */
  start(): void {
    this.rcloneUp = true;
    this.acquirer.open();
    this.watch.start();
    for (const t of this.jobs.values()) {
      if (t.phase === 'interrupted') void this.startRun(t);
    }
    this.requestAcquire('running');
  }

  /** rclone is going away (restart, stop): stop polling and acquiring; owned jobs stay owned. */
  pause(): void {
    this.rcloneUp = false;
    this.acquirer.close();
    this.watch.stop();
  }

  /** rclone died under us: every job in it lost its run; each is re-run when rclone is back, within the retry budget. */
  rcloneLost(): void {
    this.pause();
    for (const t of [...this.jobs.values()]) {
      if (t.phase !== 'running' && t.phase !== 'starting') continue;
      this.endRun(t);
      this.log.warn({ jobId: t.id, run: t.run }, 'rclone exited during the job; it will be re-run when rclone is back');
      void this.handle(t, { type: 'rclone-lost' });
    }
  }

  /** Stops every running rclone job so rclone can be restarted; they stay owned and `start()` re-runs them. */
  async interruptAll(reason: string): Promise<void> {
    const running = this.inPhase('running');
    this.log.info({ jobs: running.map((t) => t.id), reason }, 'interrupting running jobs; they will be re-run');
    await this.watch.stopRuns(running, 'interrupt');
    this.pause();
  }

  /** Hands every owned job back to the hub (`DoneFailure`, not barred): operator stop, shutdown. */
  async surrender(reason: string): Promise<void> {
    this.acquirer.close();
    await this.watch.stopRuns(this.inPhase('running'), 'shutdown');
    for (const t of [...this.jobs.values()]) await this.handle(t, { type: 'surrender', reason });
    this.pause();
  }

  /** Graceful shutdown: surrender every job and stop the timers. */
  async shutdown(reason: string): Promise<void> {
    this.stopTimers();
    await this.surrender(reason);
  }

  stopTimers(): void {
    this.acquirer.stop();
    clearInterval(this.heartbeatTimer);
    clearInterval(this.safetyPollTimer);
    this.watch.stop();
    for (const t of this.jobs.values()) clearTimeout(t.timer);
  }

  // --- queries ----------------------------------------------------------------------------------

  /** Remote names used by jobs that are in rclone now. */
  remotesInUse(): Set<string> {
    const inUse = new Set<string>();
    for (const t of this.jobs.values()) {
      if (t.phase !== 'running' && t.phase !== 'starting' && t.phase !== 'stopping') continue;
      for (const storage of this.storagesOf(t)) inUse.add(storage.uriSchema);
    }
    return inUse;
  }

  ownedJobIds(): number[] {
    return [...this.jobs.keys()];
  }

  /** A snapshot for logs and the control endpoint. */
  describe(): { id: number; phase: JobPhase; run: number; waitReason: string | undefined }[] {
    return [...this.jobs.values()].map((t) => ({ id: t.id, phase: t.phase, run: t.run, waitReason: t.waitReason }));
  }

  // --- re-authentication and remote changes -----------------------------------------------------

  /**
   * Gives the jobs on these remotes fresh runs around `change` (a `config/update`, a reload):
   * stop the running ones, apply the change, then start them and the jobs waiting on these
   * remotes (for new credentials, or to retry). Returns the ids given fresh runs. If the change
   * fails, the jobs still get their runs and the error is rethrown.
   */
  async restartJobsOn(uriSchemas: readonly string[], reason: string, change: () => Promise<void>, also: readonly TrackedJob[] = []): Promise<number[]> {
    const uses = (t: TrackedJob) => this.storagesOf(t).some((s) => uriSchemas.includes(s.uriSchema));
    const held = [...also, ...this.inPhase('waiting-reauth').filter(uses), ...this.inPhase('waiting-retry').filter(uses)];
    for (const t of held) {
      if (t.phase === 'waiting-reauth') this.log.info({ jobId: t.id, remotes: uriSchemas }, 'storage re-authenticated; running the waiting job');
      if (t.phase === 'waiting-retry') this.log.info({ jobId: t.id, remotes: uriSchemas, reason }, 'its remote changed; retrying the waiting job now');
      this.hold(t);
    }
    return this.restarts.runExclusive(async () => {
      const running = this.inPhase('running').filter(uses);
      if (running.length > 0) this.log.info({ remotes: uriSchemas, jobs: running.map((t) => t.id), reason }, 'stopping the jobs on these remotes for fresh runs');
      await this.watch.stopRuns(running, 'hold');
      const failure = await change().then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
      const restarted = [...held, ...running].filter((t) => this.jobs.get(t.id) === t && t.phase === 'held');
      for (const t of restarted) void this.startRun(t);
      if (failure) throw failure;
      return restarted.map((t) => t.id);
    });
  }

  /** The token broker opened a storage's breaker: the grant rclone holds for it is dead. */
  grantDead(storageId: number): void {
    this.auth.grantDead(storageId);
  }

  /** New credentials for a storage: see `AuthRecovery.credentialsReplaced`. */
  credentialsReplaced(storageId: number): void {
    this.auth.credentialsReplaced(storageId);
  }

  /** rclone logged an auth failure: see `AuthRecovery.logged`. */
  authSignal(signal: AuthFailureSignal): void {
    this.auth.logged(signal);
  }

  /** The operator or hub aborts a job: stop it and report `Cancelled`. */
  async abort(jobId: number): Promise<boolean> {
    const t = this.jobs.get(jobId);
    if (!t) return false;
    if (t.phase === 'running') await this.watch.stopRuns([t], 'cancel');
    else await this.handle(t, { type: 'cancelled' });
    return true;
  }

  /**
   * The hub broadcast `JobUpdated(jobId, state)`. Every acquire and report triggers one, ours
   * included; a state other than Executing for a job we still own may mean it was taken from us
   * (cancelled, timed out), so ask the hub now instead of at the next heartbeat.
   */
  hubUpdated(jobId: number, state: string): void {
    const t = this.jobs.get(jobId);
    if (!t || state === jobStateName(JobState.Executing)) return;
    this.log.debug({ jobId, state }, 'hub announced another state for a job we own; checking with the hub');
    void this.heartbeatOne(t);
  }

  /** Acquire until the hub has no job for us or the concurrency cap is reached. */
  requestAcquire(trigger: string): void {
    this.acquirer.request(trigger);
  }

  /** A method, so the compiler does not narrow the flag across awaits. */
  private isRcloneUp(): boolean {
    return this.rcloneUp;
  }

  // --- acquisition ------------------------------------------------------------------------------

  private admit(job: Job): Admission {
    const ownership = this.options.tenancy.whose(job);
    if (!ownership.ours) return { run: false, reason: `not this worker's user: ${ownership.reason}`, warn: true };
    if (this.ledger.isBarred(job.id)) {
      return { run: false, reason: `this worker handed it back after failures less than ${this.options.settings.handbackWindowSeconds} s ago`, warn: false };
    }
    return { run: true };
  }

  private take(job: Job, trigger: string): void {
    if (this.jobs.has(job.id)) return;
    const t = trackedJob(job);
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
    t.loggedAuth = undefined;
    try {
      if (!KNOWN_OPERATIONS.has(t.job.operation)) throw new StorageError(`job ${t.id}: operation ${t.job.operation} is not supported`, undefined);
      const { source, destination } = await this.endpoints(t);
      for (const storage of uniqueStorages([source.storage, destination.storage])) {
        // Just in time: a job never starts on a token that expires within the threshold.
        if (this.options.catalog.isOAuth(storage)) await this.options.tokens.ensureFresh(storage.id);
        await this.options.remotes.apply(await this.options.catalog.desiredRemote(storage));
      }
      // Forgotten meanwhile, or superseded by a run that start() began after an rclone crash.
      if (this.jobs.get(t.id) !== t || t.run !== run) return;
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
      t.runStartedAt = this.now();
      this.log.info({ jobId: t.id, run: t.run, rcloneJobId, operation: operationName(t.job.operation), src: srcFs, dst: dstFs }, 'job started in rclone');
    } catch (err) {
      if (t.run !== run) return;
      this.endRun(t);
      const failure = classifyStartFailure(err, this.rcloneUp);
      await this.handle(t, { type: 'start-failed', failure, canRefresh: failure.class === 'auth' && this.auth.canRefresh(t, failure.signal) });
    }
  }

  /** Carries out what the lifecycle table decides for this event. */
  private async handle(t: TrackedJob, event: JobEvent): Promise<void> {
    if (this.jobs.get(t.id) !== t) return;
    const { decision, counters } = decide(t.phase, event, t.counters, this.policy);
    t.counters = counters;
    switch (decision.next) {
      case 'ignore':
        this.log.debug({ jobId: t.id, phase: t.phase, event: event.type }, 'event does not apply in this phase');
        return;
      case 'report':
        await this.finish(t, decision.state, decision.reason);
        return;
      case 'hand-back':
        if (decision.bar) this.ledger.bar(t.id);
        await this.finish(t, JobState.DoneFailure, decision.reason);
        return;
      case 'run':
        await this.startRun(t);
        return;
      case 'retry':
        t.phase = 'waiting-retry';
        t.waitReason = decision.reason;
        this.log.warn(
          { jobId: t.id, attempt: t.counters.transientFailures, of: this.policy.retries, retryInMs: decision.delayMs, reason: decision.reason },
          'job failed transiently; retrying',
        );
        t.timer = setTimeout(() => {
          void this.handle(t, { type: 'retry-due' });
        }, decision.delayMs);
        return;
      case 'wait-rclone':
        t.phase = 'interrupted';
        return;
      case 'hold':
        this.hold(t);
        return;
      case 'wait-reauth':
        this.waitForReauth(t, decision.reason);
        return;
      case 'recover-auth':
        await this.auth.afterFailedRun(t, decision.signal, decision.reason);
        return;
      case 'forget':
        this.forget(t);
        this.log.warn({ jobId: t.id }, 'job abandoned: the hub no longer has it as ours');
        return;
    }
  }

  private hold(t: TrackedJob): void {
    clearTimeout(t.timer);
    t.timer = undefined;
    t.phase = 'held';
  }

  /**
   * The job's storage needs new credentials: keep the job (heartbeated) until they arrive, or
   * report it `DoneWithErrors` with that reason after `reauthWaitSeconds`.
   */
  private waitForReauth(t: TrackedJob, reason: string): void {
    t.phase = 'waiting-reauth';
    t.waitReason = reason;
    for (const storage of this.storagesOf(t)) if (this.options.catalog.isOAuth(storage)) this.auth.grantDead(storage.id);
    this.log.error({ jobId: t.id, reason, waitSeconds: this.options.settings.reauthWaitSeconds }, 'job waits for re-authentication of its storage');
    t.timer = setTimeout(() => {
      void this.handle(t, { type: 'reauth-timed-out', reason });
    }, this.options.settings.reauthWaitSeconds * 1000);
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

  private inPhase(phase: JobPhase): TrackedJob[] {
    return [...this.jobs.values()].filter((t) => t.phase === phase);
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

  private async runEnded(t: TrackedJob, status: RcJobStatus | undefined, stats: RcCoreStats | undefined): Promise<void> {
    if (status) t.lastRun = { status, stats };
    if (t.stopIntent) {
      if (t.stopIntent === 'rerun' || t.stopIntent === 'hold') this.log.info({ jobId: t.id, run: t.run }, 'job stopped for a re-run');
      await this.handle(t, { type: 'stopped', intent: t.stopIntent });
      return;
    }
    if (!status) return;
    const end = classifyRunEnd(status, stats, t.loggedAuth);
    await this.handle(t, { type: 'run-ended', end, canRefresh: end.class === 'auth' && this.auth.canRefresh(t, end.signal) });
  }

  // --- hub side ---------------------------------------------------------------------------------

  private async heartbeat(): Promise<void> {
    for (const t of [...this.jobs.values()]) await this.heartbeatOne(t);
  }

  private async heartbeatOne(t: TrackedJob): Promise<void> {
    try {
      const result = await this.options.hub.reportJob({ jobId: t.id, owner: this.options.acquire.owner, state: JobState.Executing });
      if (result.status !== -1 || this.jobs.get(t.id) !== t) return;
      this.log.warn({ jobId: t.id }, 'hub no longer has this job as Executing; abandoning it');
      if (t.phase === 'running') await this.watch.stopRuns([t], 'abandon');
      else if (t.phase === 'stopping') t.stopIntent = 'abandon';
      else await this.handle(t, { type: 'hub-lost' });
    } catch (err) {
      this.log.warn({ jobId: t.id, reason: errorMessage(err) }, 'heartbeat failed');
    }
  }

  /** Queues the one terminal report of a job and frees its slot. */
  private async finish(t: TrackedJob, state: JobState, reason: string | undefined): Promise<void> {
    if (this.jobs.get(t.id) !== t) return;
    this.forget(t);
    const level = state === JobState.DoneSuccess ? 'info' : 'warn';
    const { status, stats } = t.lastRun ?? {};
    this.log[level](
      {
        jobId: t.id,
        state: jobStateName(state),
        reason,
        handedBack: state === JobState.DoneFailure,
        runs: t.run,
        retries: t.counters.transientFailures,
        durationS: status ? Math.round(status.duration) : undefined,
        bytes: stats?.bytes,
        transfers: stats?.transfers,
        checks: stats?.checks,
      },
      'job finished',
    );
    (this.options.recorder ?? NO_JOB_RECORDER).finished({ state, bytes: stats?.bytes, transfers: stats?.transfers });
    await this.options.outbox.enqueue({ jobId: t.id, owner: this.options.acquire.owner, state, ...(reason ? { reason } : {}) });
    this.requestAcquire('slot freed');
  }

  private forget(t: TrackedJob): void {
    clearTimeout(t.timer);
    // A run that started after the stops of a surrender must not outlive its job in rclone.
    const orphan = t.phase === 'running' ? t.rcloneJobId : undefined;
    if (orphan !== undefined) this.options.rclone()?.jobStop(orphan).catch(() => undefined);
    this.endRun(t);
    this.jobs.delete(t.id);
  }
}
