/**
 * Fakes for the job runner's collaborators and a harness that wires them: a hub that answers
 * acquisitions from a script and records heartbeats, an outbox that records terminal reports,
 * an rclone rc client scripted per rclone job id (1.60.1 semantics: `job/list` has no
 * `runningIds`, rc/noop jobs finish at once, `job/stop` ends a job with "context canceled"),
 * a storage catalog, remotes and a token broker that log what they were asked, in order.
 *
 * Everything answers on the microtask queue, so tests drive the runner with
 * `vi.advanceTimersByTimeAsync` alone.
 */
import { afterEach, beforeEach, vi } from 'vitest';
import { JobState, RuleOperation, type AcquireParams, type Job, type JobStatusReport, type ReportResult, type Storage } from '../../../shared/hannibal.js';
import type { RcCoreStats, RcJobList, RcJobStatus, RcloneToken } from '../../../shared/rclone-rc.js';
import { RcError } from '../../src/errors.js';
import type { JobsHub } from '../../src/hub/rest-client.js';
import type { Ownership, TenantGuard } from '../../src/hub/tenancy.js';
import { JobRunner, type JobSettings } from '../../src/jobs/job-runner.js';
import type { ReportOutbox } from '../../src/jobs/report-outbox.js';
import type { RcClient, RcTransferOptions } from '../../src/rclone/rc-client.js';
import type { StorageCatalog } from '../../src/storage/catalog.js';
import type { RemoteManager } from '../../src/storage/remote-manager.js';
import type { RemoteSpec } from '../../src/storage/remote-spec.js';
import type { TokenBroker } from '../../src/tokens/broker.js';
import { recordingLogger, type LogRecord } from '../support/recording-logger.js';

export { recordingLogger, type LogRecord };

export const SECOND = 1000;

export const SETTINGS: JobSettings = {
  maxJobs: 2,
  heartbeatSeconds: 30,
  pollSeconds: 5,
  stallSeconds: 120,
  reauthWaitSeconds: 600,
  acquirePollSeconds: 120,
  retries: 5,
  retrySeconds: 30,
  retryMaxSeconds: 600,
  handbackWindowSeconds: 1800,
  acquireBackoffMaxSeconds: 60,
};

/** Our user, and another user of the same hub. */
export const ME = 'user-alice';
export const MALLORY = 'user-mallory';

export const OWNER = 'worker-7f3a';
export const ACQUIRE: AcquireParams = { username: 'alice@example.com', capabilities: 'rclone', owner: OWNER, networks: 'fe80::1' };

/** Storages as the hub lists them; `uriSchema` is the rclone remote name. */
export const ONEDRIVE: Storage = { id: 10, technology: 'onedrive', uriSchema: 'odAlice' };
export const DROPBOX: Storage = { id: 11, technology: 'dropbox', uriSchema: 'dbAlice' };
export const LOCAL: Storage = { id: 20, technology: 'local', uriSchema: 'localDisk' };
export const NAS: Storage = { id: 21, technology: 'smb', uriSchema: 'nasHome' };
export const ALL_STORAGES = [ONEDRIVE, DROPBOX, LOCAL, NAS];

const OAUTH_TECHNOLOGIES = new Set(['onedrive', 'dropbox', 'googledrive', 'gcs']);

/** rclone's answer when a GCS refresh token was revoked (rclone-lab.md Q6). */
export function authFailureText(remote: string): string {
  return (
    `Get "https://storage.example/v1/b/bkt/o": couldn't fetch token - maybe it has expired? - refresh with "rclone config reconnect ${remote}:": ` +
    `oauth2: cannot fetch token: 400 Bad Request\nResponse: {"error":"invalid_grant","error_description":"Token has been expired or revoked."}`
  );
}

export interface JobOptions {
  operation?: RuleOperation;
  source?: Storage;
  sourcePath?: string;
  destination?: Storage;
  destinationPath?: string;
  userId?: string;
}

export function job(id: number, options: JobOptions = {}): Job {
  const source = options.source ?? LOCAL;
  const destination = options.destination ?? ONEDRIVE;
  return {
    id,
    userId: options.userId ?? ME,
    tag: `rule-${id}`,
    operation: options.operation ?? RuleOperation.Copy,
    owner: OWNER,
    state: JobState.Executing,
    sourceEndpointId: 100 + id,
    sourceEndpoint: { id: 100 + id, storageId: source.id, path: options.sourcePath ?? `docs/${id}` },
    destinationEndpointId: 200 + id,
    destinationEndpoint: { id: 200 + id, storageId: destination.id, path: options.destinationPath ?? `backup/${id}` },
  };
}

export class Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

// ---- hub and outbox ----------------------------------------------------------------------------

/**
 * The real hub's job queue (real-hannibal.md F1, F2), shared by any number of runners: it hands
 * out the earliest Ready job whoever owns it, a `DoneFailure` makes the job Ready again at once
 * and announces `NewJobAvailable` to every runner, other terminal states end it.
 */
export class HubQueue {
  readonly ready: Job[] = [];
  readonly acquisitions: { owner: string; jobId: number | null }[] = [];
  readonly reports: JobStatusReport[] = [];
  readonly announce: (() => void)[] = [];

  private readonly byId = new Map<number, Job>();

  add(...jobs: Job[]): void {
    for (const j of jobs) this.byId.set(j.id, j);
    this.ready.push(...jobs);
  }

  acquire(owner: string): Job | null {
    const next = this.ready.shift() ?? null;
    this.acquisitions.push({ owner, jobId: next?.id ?? null });
    return next === null ? null : structuredClone(next);
  }

  report(report: JobStatusReport): void {
    this.reports.push(report);
    const handedBack = this.byId.get(report.jobId);
    if (report.state === JobState.DoneFailure && handedBack) {
      this.ready.push(handedBack);
      for (const a of this.announce) a();
    }
  }

  /** Acquisitions of one job id (by anyone). */
  acquiredTimes(jobId: number): number {
    return this.acquisitions.filter((a) => a.jobId === jobId).length;
  }
}

export class FakeHub implements JobsHub {
  /** When set, acquisitions come from this shared queue once the script is empty. */
  queue: HubQueue | undefined;
  /** Answers of `acquireNextJob`, in order; an empty script answers null (hub: 404). */
  readonly acquireScript: (Job | null | Error)[] = [];
  readonly acquireParams: AcquireParams[] = [];
  /** When set, the next acquisitions wait for it before answering. */
  acquireGate: Deferred | undefined;
  /** Every `reportJob` the runner sent itself (heartbeats). */
  readonly reports: JobStatusReport[] = [];
  /** Job ids the hub no longer has as Executing: their reports answer -1. */
  readonly unknownJobs = new Set<number>();

  get acquireCalls(): number {
    return this.acquireParams.length;
  }

  async acquireNextJob(params: AcquireParams): Promise<Job | null> {
    this.acquireParams.push(params);
    if (this.acquireGate) await this.acquireGate.promise;
    if (this.acquireScript.length === 0 && this.queue) return this.queue.acquire(params.owner);
    const next = this.acquireScript.shift() ?? null;
    if (next instanceof Error) throw next;
    return next;
  }

  async reportJob(report: JobStatusReport): Promise<ReportResult> {
    this.reports.push(report);
    return { status: this.unknownJobs.has(report.jobId) ? -1 : 0 };
  }

  heartbeatsOf(jobId: number): JobStatusReport[] {
    return this.reports.filter((r) => r.jobId === jobId);
  }
}

export class FakeOutbox implements Pick<ReportOutbox, 'enqueue'> {
  readonly reports: JobStatusReport[] = [];
  /** When set, reports reach this shared queue as they would reach the hub. */
  queue: HubQueue | undefined;

  async enqueue(report: JobStatusReport): Promise<void> {
    this.reports.push(report);
    this.queue?.report(report);
  }

  of(jobId: number): JobStatusReport[] {
    return this.reports.filter((r) => r.jobId === jobId);
  }
}

// ---- rclone ------------------------------------------------------------------------------------

export interface FakeRcloneJob {
  id: number;
  kind: 'copy' | 'sync' | 'noop';
  group: string;
  srcFs: string | undefined;
  dstFs: string | undefined;
  options: RcTransferOptions | undefined;
  finished: boolean;
  success: boolean;
  error: string;
  stopped: boolean;
  stats: { bytes: number; transfers: number; checks: number };
}

/** One `rclone rcd` process as the rc API shows it. */
export class FakeRclone {
  readonly jobs = new Map<number, FakeRcloneJob>();
  /** rc calls in order, e.g. `job/status 1`, `core/stats job-1-run-1`. */
  readonly calls: string[] = [];
  /** rclone ≥ 1.61 lists `runningIds`; 1.60.1 (Debian) does not. */
  reportsRunningIds = false;
  /** Errors the next `sync/*` or `rc/noop` starts throw, in order. */
  readonly startFailures: Error[] = [];
  /** When set, `job/status` waits for it before answering. */
  statusGate: Deferred | undefined;
  /** A process that is gone: every call fails like a refused connection. */
  dead = false;
  private nextId = 1;

  constructor(private readonly events: string[]) {}

  client(): RcClient {
    return this as unknown as RcClient;
  }

  async startTransfer(kind: 'copy' | 'sync', srcFs: string, dstFs: string, options: RcTransferOptions): Promise<number> {
    this.enter(`sync/${kind} ${options.group}`);
    const failure = this.startFailures.shift();
    if (failure) throw failure;
    const id = this.add({ kind, group: options.group, srcFs, dstFs, options });
    this.events.push(`start ${kind} ${srcFs} -> ${dstFs} ${options.group}`);
    return id;
  }

  async startNoop(options: { group: string }): Promise<number> {
    this.enter(`rc/noop ${options.group}`);
    const failure = this.startFailures.shift();
    if (failure) throw failure;
    const id = this.add({ kind: 'noop', group: options.group, srcFs: undefined, dstFs: undefined, options: undefined });
    this.events.push(`start noop ${options.group}`);
    this.finish(id, { success: true });
    return id;
  }

  async jobList(): Promise<RcJobList> {
    this.enter('job/list');
    const jobids = [...this.jobs.keys()];
    if (!this.reportsRunningIds) return { jobids };
    return { jobids, runningIds: jobids.filter((id) => !this.job(id).finished), finishedIds: jobids.filter((id) => this.job(id).finished) };
  }

  async jobStatus(jobid: number): Promise<RcJobStatus> {
    this.enter(`job/status ${jobid}`);
    if (this.statusGate) await this.statusGate.promise;
    const job = this.jobs.get(jobid);
    if (!job) throw new RcError('job/status', 'job not found', 500);
    return {
      id: job.id,
      group: job.group,
      finished: job.finished,
      success: job.success,
      error: job.error,
      duration: 42.5,
      startTime: '2026-03-02T09:00:00Z',
      endTime: job.finished ? '2026-03-02T09:00:42Z' : '0001-01-01T00:00:00Z',
      output: {},
    };
  }

  async jobStop(jobid: number): Promise<void> {
    this.enter(`job/stop ${jobid}`);
    const job = this.jobs.get(jobid);
    if (!job) throw new RcError('job/stop', 'job not found', 500);
    this.events.push(`stop ${job.group}`);
    job.stopped = true;
    if (!job.finished) this.finish(jobid, { success: false, error: 'context canceled' });
  }

  async coreStats(group?: string): Promise<RcCoreStats> {
    this.enter(`core/stats ${group ?? ''}`);
    const job = [...this.jobs.values()].find((j) => j.group === group);
    const { bytes, transfers, checks } = job?.stats ?? { bytes: 0, transfers: 0, checks: 0 };
    return {
      bytes,
      checks,
      deletes: 0,
      errors: 0,
      fatalError: false,
      retryError: false,
      elapsedTime: 1,
      eta: null,
      speed: 1024,
      totalBytes: 1_000_000,
      totalChecks: 10,
      totalTransfers: 10,
      transfers,
    };
  }

  async coreStatsDelete(group: string): Promise<void> {
    this.enter(`core/stats-delete ${group}`);
  }

  // --- scripting ---

  job(id: number): FakeRcloneJob {
    const job = this.jobs.get(id);
    if (!job) throw new Error(`no rclone job ${id}`);
    return job;
  }

  /** The rclone job of a run of a hub job (`job-<id>-run-<n>`). */
  run(jobId: number, run: number): FakeRcloneJob | undefined {
    return [...this.jobs.values()].find((j) => j.group === `job-${jobId}-run-${run}`);
  }

  finish(id: number, outcome: { success: boolean; error?: string; transfers?: number }): void {
    const job = this.job(id);
    job.finished = true;
    job.success = outcome.success;
    job.error = outcome.error ?? '';
    if (outcome.transfers !== undefined) job.stats.transfers = outcome.transfers;
  }

  progress(id: number, stats: Partial<FakeRcloneJob['stats']>): void {
    Object.assign(this.job(id).stats, stats);
  }

  count(prefix: string): number {
    return this.calls.filter((c) => c === prefix || c.startsWith(`${prefix} `)).length;
  }

  private enter(call: string): void {
    if (this.dead) throw new RcError(call.split(' ')[0] ?? call, 'connect ECONNREFUSED 127.0.0.1:5572', undefined);
    this.calls.push(call);
  }

  private add(fields: Pick<FakeRcloneJob, 'kind' | 'group' | 'srcFs' | 'dstFs' | 'options'>): number {
    const id = this.nextId++;
    this.jobs.set(id, { id, ...fields, finished: false, success: false, error: '', stopped: false, stats: { bytes: 0, transfers: 0, checks: 0 } });
    return id;
  }
}

// ---- storages, remotes, tokens -----------------------------------------------------------------

export class FakeCatalog implements Pick<StorageCatalog, 'byId' | 'isOAuth' | 'fsPath' | 'desiredRemote'> {
  readonly rows = new Map<number, Storage>();

  constructor(
    storages: Storage[],
    private readonly tokens?: FakeTokens,
  ) {
    for (const s of storages) this.rows.set(s.id, s);
  }

  byId(id: number): Storage | undefined {
    return this.rows.get(id);
  }

  isOAuth(storage: Storage): boolean {
    return OAUTH_TECHNOLOGIES.has(storage.technology);
  }

  fsPath(storage: Storage, path: string): string {
    return `${storage.uriSchema}:${path}`;
  }

  /** OAuth remotes carry the token the broker holds now, as the real catalog builds them. */
  async desiredRemote(storage: Storage): Promise<RemoteSpec> {
    const oauth = this.isOAuth(storage);
    const parameters: Record<string, string> = oauth && this.tokens ? { token: JSON.stringify(this.tokens.current) } : {};
    return { name: storage.uriSchema, type: storage.technology, parameters, oauth, obscuredKeys: [] };
  }
}

export class FakeRemotes implements Pick<RemoteManager, 'apply' | 'reloadRemote' | 'diff'> {
  /** Remotes rclone does not have yet (`diff` says missing). */
  readonly missing = new Set<string>();

  constructor(private readonly events: string[]) {}

  async diff(spec: RemoteSpec): ReturnType<RemoteManager['diff']> {
    return this.missing.has(spec.name) ? { kind: 'missing' } : { kind: 'token-only' };
  }

  async apply(spec: RemoteSpec): ReturnType<RemoteManager['apply']> {
    this.events.push(`apply ${spec.name}`);
    return { action: 'unchanged', diff: { kind: 'equal' } };
  }

  async reloadRemote(spec: RemoteSpec): Promise<void> {
    this.events.push(`reload ${spec.name}`);
  }
}

/** Tenancy as the guard decides it: a job is ours unless its user is MALLORY. */
export class FakeTenancy implements Pick<TenantGuard, 'whose'> {
  whose(j: Job): Ownership {
    return j.userId === MALLORY ? { ours: false, reason: 'the job belongs to another user' } : { ours: true };
  }
}

const TOKEN: RcloneToken = { access_token: 'EwB-test-access', token_type: 'Bearer', expiry: '2026-03-02T10:00:00Z' };

export class FakeTokens implements Pick<TokenBroker, 'lease' | 'forceRefresh' | 'reauthReason' | 'ensureFresh'> {
  /** Errors the next `ensureFresh` / `forceRefresh` calls for a storage throw, in order. */
  readonly ensureFreshFailures = new Map<number, Error[]>();
  readonly forceRefreshFailures = new Map<number, Error[]>();
  /** When set, `ensureFresh` waits for it before answering. */
  ensureFreshGate: Deferred | undefined;
  readonly forceRefreshed: { storageId: number; cause: string }[] = [];
  /** The token held now (one for all storages: enough for these tests). */
  current: RcloneToken = TOKEN;
  /** When true, a forced refresh only re-pushes the current token, as the broker does right after another refresh. */
  forceRefreshRepushes = false;
  private readonly active = new Map<number, number>();
  private issued = 0;

  constructor(private readonly events: string[]) {}

  async ensureFresh(storageId: number): Promise<RcloneToken> {
    this.events.push(`ensureFresh ${storageId}`);
    if (this.ensureFreshGate) await this.ensureFreshGate.promise;
    const failure = this.ensureFreshFailures.get(storageId)?.shift();
    if (failure) throw failure;
    return this.current;
  }

  async forceRefresh(storageId: number, cause: string): Promise<RcloneToken> {
    this.events.push(`forceRefresh ${storageId}`);
    this.forceRefreshed.push({ storageId, cause });
    const failure = this.forceRefreshFailures.get(storageId)?.shift();
    if (failure) throw failure;
    if (!this.forceRefreshRepushes) {
      this.issued += 1;
      this.current = { ...TOKEN, access_token: `EwB-forced-${this.issued}` };
    }
    return this.current;
  }

  failEnsureFresh(storageId: number, ...errors: Error[]): void {
    this.ensureFreshFailures.set(storageId, errors);
  }

  failForceRefresh(storageId: number, ...errors: Error[]): void {
    this.forceRefreshFailures.set(storageId, errors);
  }

  reauthReason(): string | undefined {
    return undefined;
  }

  lease(storageId: number): () => void {
    this.events.push(`lease ${storageId}`);
    this.active.set(storageId, this.leases(storageId) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.events.push(`release ${storageId}`);
      this.active.set(storageId, this.leases(storageId) - 1);
    };
  }

  /** Leases held now on a storage. */
  leases(storageId: number): number {
    return this.active.get(storageId) ?? 0;
  }
}

// ---- harness -----------------------------------------------------------------------------------


export interface HarnessOptions {
  settings?: Partial<JobSettings>;
  storages?: Storage[];
  reloadStorages?: () => Promise<void>;
  /** A hub queue shared with other harnesses (acquisitions, reports, NewJobAvailable). */
  queue?: HubQueue;
  acquire?: AcquireParams;
}

/** A `JobRunner` on fakes. Create it after `vi.useFakeTimers()`: its timers start at once. */
const liveHarnesses = new Set<Harness>();

/**
 * The hooks every job-runner test file needs: faked timers for each test, and afterwards the
 * runner timers of every harness the test made are stopped and real timers restored.
 */
export function useJobRunnerHarnesses(): void {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    for (const harness of liveHarnesses) harness.runner.stopTimers();
    liveHarnesses.clear();
    vi.useRealTimers();
  });
}

export class Harness {
  readonly events: string[] = [];
  readonly hub = new FakeHub();
  readonly outbox = new FakeOutbox();
  readonly catalog: FakeCatalog;
  readonly remotes = new FakeRemotes(this.events);
  readonly tokens = new FakeTokens(this.events);
  readonly settings: JobSettings;
  readonly runner: JobRunner;
  readonly log = recordingLogger();
  /** Every rclone process so far; the last one is current unless `rcloneDown()`. */
  readonly processes: FakeRclone[] = [new FakeRclone(this.events)];
  private up = true;

  constructor(options: HarnessOptions = {}) {
    liveHarnesses.add(this);
    this.settings = { ...SETTINGS, ...options.settings };
    this.catalog = new FakeCatalog(options.storages ?? ALL_STORAGES, this.tokens);
    this.runner = new JobRunner({
      hub: this.hub,
      outbox: this.outbox,
      rclone: () => (this.up ? this.rclone.client() : undefined),
      catalog: this.catalog,
      remotes: this.remotes,
      tokens: this.tokens,
      tenancy: new FakeTenancy(),
      ...(options.reloadStorages ? { reloadStorages: options.reloadStorages } : {}),
      acquire: options.acquire ?? ACQUIRE,
      settings: this.settings,
      logger: this.log.logger,
    });
    if (options.queue) {
      const queue = options.queue;
      this.hub.queue = queue;
      this.outbox.queue = queue;
      queue.announce.push(() => {
        this.runner.requestAcquire('NewJobAvailable');
      });
    }
  }

  /** The current (or last) rclone process. */
  get rclone(): FakeRclone {
    const last = this.processes.at(-1);
    if (!last) throw new Error('no rclone');
    return last;
  }

  /** The rclone process exits: its calls fail and the runner sees no client. */
  rcloneDown(): void {
    this.rclone.dead = true;
    this.up = false;
  }

  /** A new rclone process (job ids start at 1 again). */
  rcloneUp(): FakeRclone {
    this.processes.push(new FakeRclone(this.events));
    this.up = true;
    return this.rclone;
  }

  /** Hub jobs the runner acquires next. */
  offer(...jobs: Job[]): void {
    this.hub.acquireScript.push(...jobs);
  }

  /** `offer` + `start()` + settle: the jobs are in rclone when this resolves. */
  async startWith(...jobs: Job[]): Promise<void> {
    this.offer(...jobs);
    this.runner.start();
    await settle();
  }

  /** The hub states reported (terminally, through the outbox) for a job. */
  terminal(jobId: number): number[] {
    return this.outbox.of(jobId).map((r) => r.state);
  }
}

/** Lets every queued promise continuation run; no fake time passes. */
export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

export async function elapse(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

/** Lets one poll cycle run. */
export async function poll(h: Harness): Promise<void> {
  await elapse(h.settings.pollSeconds * SECOND);
}
