/**
 * In-memory data of the hub stand-in and Hannibal's server semantics for storages and jobs
 * (research/anchor-backer.md §4.5 and §7.1): job acquisition with heartbeat timeout, network and
 * overlap filters; job reports; storage updates that announce changed credentials.
 *
 * Everything here is synchronous, so two acquisitions can never interleave: Node runs one request
 * handler at a time up to its first `await`, which gives the same exclusivity as Hannibal's
 * database transaction.
 */
import {
  HubMethods,
  JobState,
  jobStateName,
  type RuleOperation,
  type AcquireParams,
  type Endpoint,
  type Job,
  type JobStatusReport,
  type ReportResult,
  type Rule,
  type Storage,
} from '../../../shared/hannibal.js';
import { EndpointAccess, type EndpointLocation } from './endpoint-access.js';

/** A request the hub refuses, with the HTTP status Hannibal answers it with. */
export class HubRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HubRequestError';
  }
}

export interface ReportRecord {
  at: number;
  jobId: number;
  owner: string;
  state: number;
  reason?: string;
  /** The `status` answered: 0 applied, -1 unknown job or not Executing. */
  status: number;
}

export interface AcquisitionRecord {
  at: number;
  owner: string;
  networks: string;
  /** The job handed out, `null` when the hub answered 404. */
  jobId: number | null;
}

export interface StoragePutRecord {
  at: number;
  id: number;
  body: Storage;
  /** Whether the save broadcast `StorageReauthenticated`. */
  broadcast: boolean;
}

export interface HubStoreOptions {
  heartbeatTimeoutSeconds: number;
  /** See `HannibalStandinOptions.rescheduleAfterMs`. */
  rescheduleAfterMs: number | null;
  /** Owner of storages (and thus of endpoints, rules and jobs) created without a `userId`. */
  defaultUserId: string;
  /** Sends a SignalR message to every connected client. */
  broadcast: (target: string, ...args: unknown[]) => void;
}

/** Storage members a save replaces. Hannibal binds the whole body: an absent member reads as null. */
const NULLABLE_STORAGE_FIELDS = [
  'networks',
  'oAuth2Email',
  'clientId',
  'clientSecret',
  'accessToken',
  'refreshToken',
  'expiresAt',
  'username',
  'password',
  'host',
  'port',
  'domain',
] as const;

/** Credentials other than tokens whose change counts as a re-authentication (§7.1). */
const CREDENTIAL_FIELDS = ['host', 'username', 'password', 'domain', 'port'] as const;

/** States after which a job is no longer running; reports of them announce `NewJobAvailable`. */
const FINISHED_STATES: ReadonlySet<number> = new Set([JobState.DoneFailure, JobState.DoneSuccess, JobState.DoneWithErrors, JobState.Cancelled]);

/** Outcomes after which the scheduler plans the rule's next run (ScheduleCalculator, §4.5). */
const COMPLETED_STATES: ReadonlySet<number> = new Set([JobState.DoneSuccess, JobState.DoneWithErrors]);

export class HubStore {
  readonly reports: ReportRecord[] = [];
  readonly acquisitions: AcquisitionRecord[] = [];
  readonly storagePuts: StoragePutRecord[] = [];
  /** When each `GET /storages` was answered: how often a client fetched the storage list. */
  readonly storageFetches: number[] = [];

  private readonly storagesById = new Map<number, Storage>();
  private readonly endpointsById = new Map<number, Endpoint>();
  private readonly rulesById = new Map<number, Rule>();
  private readonly jobsById = new Map<number, Job>();
  private readonly nextId = { storage: 1, endpoint: 1, rule: 1, job: 1 };
  private readonly rescheduleTimers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly options: HubStoreOptions) {}

  // ---- storages -------------------------------------------------------------------------------

  /** Adds a storage with a fresh id; members not given get Hannibal-like defaults. */
  addStorage(init: Partial<Storage> & { technology: string; uriSchema: string }): Storage {
    const now = new Date().toISOString();
    const storage: Storage = {
      userId: this.options.defaultUserId,
      networks: '',
      oAuth2Email: null,
      clientId: null,
      clientSecret: null,
      accessToken: null,
      refreshToken: null,
      expiresAt: null,
      username: null,
      password: null,
      host: null,
      port: null,
      domain: null,
      createdAt: now,
      updatedAt: now,
      isActive: true,
      ...init,
      id: this.nextId.storage++,
    };
    this.storagesById.set(storage.id, storage);
    return structuredClone(storage);
  }

  getStorage(id: number): Storage | undefined {
    const storage = this.storagesById.get(id);
    return storage === undefined ? undefined : structuredClone(storage);
  }

  storages(): Storage[] {
    return [...this.storagesById.values()].map((storage) => structuredClone(storage));
  }

  /** `GET /storages`: every storage of every user, secrets included; the fetch is recorded. */
  fetchStorages(): Storage[] {
    this.storageFetches.push(Date.now());
    return this.storages();
  }

  removeStorage(id: number): void {
    this.storagesById.delete(id);
  }

  /** `PUT /storages/{id}`: saves the whole body and records the request. */
  putStorage(id: number, body: Storage): Storage {
    const { storage, credentialsChanged } = this.saveStorage(id, body);
    this.storagePuts.push({ at: Date.now(), id, body: structuredClone(body), broadcast: credentialsChanged });
    return storage;
  }

  /** An edit in the hub's UI: the patch over the current storage, saved as a PUT would save it. */
  editStorage(id: number, patch: Partial<Storage>): Storage {
    const current = this.storagesById.get(id);
    if (current === undefined) throw new HubRequestError(404, `storage ${id} not found`);
    return this.saveStorage(id, { ...structuredClone(current), ...patch, id }).storage;
  }

  /**
   * Hannibal's `UpdateStorageAsync`: 404 for an unknown id, 500 when the body would move the
   * storage to another user; otherwise save, and broadcast `StorageReauthenticated(uriSchema)`
   * when a token (null ≡ '') or a credential changed. Members absent from the body are saved as
   * null (only `isActive` keeps its value), so a client that drops a token clears it.
   */
  private saveStorage(id: number, body: Storage): { storage: Storage; credentialsChanged: boolean } {
    const existing = this.storagesById.get(id);
    if (existing === undefined) throw new HubRequestError(404, `storage ${id} not found`);
    if ((body.userId ?? null) !== (existing.userId ?? null)) throw new HubRequestError(500, `storage ${id} cannot change its user`);
    const replaced = Object.fromEntries(NULLABLE_STORAGE_FIELDS.map((field) => [field, body[field] ?? null]));
    const saved: Storage = {
      ...existing,
      ...replaced,
      technology: body.technology,
      uriSchema: body.uriSchema,
      updatedAt: new Date().toISOString(),
      isActive: body.isActive ?? existing.isActive ?? true,
    };
    const credentialsChanged =
      (existing.accessToken ?? '') !== (saved.accessToken ?? '') ||
      (existing.refreshToken ?? '') !== (saved.refreshToken ?? '') ||
      CREDENTIAL_FIELDS.some((field) => (existing[field] ?? null) !== (saved[field] ?? null));
    this.storagesById.set(id, saved);
    if (credentialsChanged) this.options.broadcast(HubMethods.storageReauthenticated, saved.uriSchema);
    return { storage: structuredClone(saved), credentialsChanged };
  }

  // ---- endpoints and rules --------------------------------------------------------------------

  addEndpoint(init: { storageId: number; path: string; name?: string }): Endpoint {
    const storage = this.requireStorage(init.storageId);
    const now = new Date().toISOString();
    const endpoint: Endpoint = {
      id: this.nextId.endpoint++,
      name: init.name ?? `${storage.userId ?? ''}:${storage.technology}:${init.path}`,
      userId: storage.userId ?? this.options.defaultUserId,
      storageId: storage.id,
      path: init.path,
      comment: '',
      createdAt: now,
      updatedAt: now,
      isActive: true,
    };
    this.endpointsById.set(endpoint.id, endpoint);
    return structuredClone(endpoint);
  }

  addRule(init: { name: string; sourceEndpointId: number; destinationEndpointId: number; operation: RuleOperation; maxDestinationAge?: string }): Rule {
    const source = this.requireEndpoint(init.sourceEndpointId);
    this.requireEndpoint(init.destinationEndpointId);
    // Rejects a malformed TimeSpan here rather than when the first job is created.
    if (init.maxDestinationAge !== undefined) timeSpanMs(init.maxDestinationAge);
    const rule: Rule = {
      id: this.nextId.rule++,
      name: init.name,
      comment: '',
      userId: source.userId ?? this.options.defaultUserId,
      sourceEndpointId: init.sourceEndpointId,
      destinationEndpointId: init.destinationEndpointId,
      operation: init.operation,
      maxDestinationAge: init.maxDestinationAge ?? '1.00:00:00',
      minRetryTime: '00:15:00',
      maxTimeAfterSourceModification: '00:00:00',
      dailyTriggerTime: '00:00:00',
    };
    this.rulesById.set(rule.id, rule);
    return structuredClone(rule);
  }

  // ---- jobs -----------------------------------------------------------------------------------

  /** A Ready, unowned job for a rule, as the rule scheduler creates it; announces `NewJobAvailable`. */
  createJob(ruleId: number, options: { startFrom?: Date; broadcast?: boolean } = {}): Job {
    const rule = this.rulesById.get(ruleId);
    if (rule === undefined) throw new Error(`rule ${ruleId} not found`);
    const startFrom = options.startFrom ?? new Date();
    const job: Job = {
      id: this.nextId.job++,
      userId: rule.userId ?? this.options.defaultUserId,
      tag: rule.name,
      operation: rule.operation,
      fromRuleId: rule.id,
      owner: '',
      state: JobState.Ready,
      startFrom: startFrom.toISOString(),
      // The deadline by which the destination should be fresh again; workers do not use it.
      endBy: new Date(startFrom.getTime() + timeSpanMs(rule.maxDestinationAge ?? '1.00:00:00')).toISOString(),
      lastReported: new Date().toISOString(),
      sourceEndpointId: rule.sourceEndpointId,
      destinationEndpointId: rule.destinationEndpointId,
      status: 0,
    };
    this.jobsById.set(job.id, job);
    if (options.broadcast ?? true) this.options.broadcast(HubMethods.newJobAvailable);
    return structuredClone(job);
  }

  job(id: number): Job | undefined {
    const job = this.jobsById.get(id);
    return job === undefined ? undefined : structuredClone(job);
  }

  jobs(): Job[] {
    return [...this.jobsById.values()].map((job) => structuredClone(job));
  }

  /**
   * `acquireNextJob`: the next due Ready job this worker may run, now Executing and owned by it,
   * with endpoints, storages and rule embedded as Hannibal's lazy-loading serialiser does; or
   * `undefined` (the route answers 404).
   */
  acquireNextJob(params: AcquireParams, userId: string): Job | undefined {
    const now = Date.now();
    const access = this.gatherEndpointAccess(userId, now);
    const candidates = [...this.jobsById.values()]
      .filter((job) => job.state === JobState.Ready && job.owner === '' && Date.parse(job.startFrom ?? '') <= now)
      .sort((a, b) => Date.parse(a.startFrom ?? '') - Date.parse(b.startFrom ?? '') || a.id - b.id);
    // Hannibal's loop has no `break` and so hands out the LAST passing candidate
    // (HannibalServiceJobs.cs:172, "TXWTODO: Why not just break here?"), a known bug. The
    // stand-in takes the first one, the earliest due job, which is what the loop intends.
    const job = candidates.find((candidate) => this.mayRun(candidate, params.networks, access));
    this.acquisitions.push({ at: now, owner: params.owner, networks: params.networks, jobId: job?.id ?? null });
    if (job === undefined) return undefined;
    job.owner = params.owner;
    job.state = JobState.Executing;
    job.lastReported = new Date(now).toISOString();
    this.options.broadcast(HubMethods.jobUpdated, job.id, jobStateName(JobState.Executing));
    return this.withNavigation(job);
  }

  /**
   * `reportJob`: applies a report to the job if it is Executing (the owner is not checked, as in
   * Hannibal). A heartbeat only refreshes `lastReported`; DoneFailure puts the job back to Ready
   * for immediate re-acquisition; the other finished states end it.
   */
  reportJob(report: JobStatusReport): ReportResult {
    const job = this.jobsById.get(report.jobId);
    const status = job?.state === JobState.Executing ? this.applyReport(job, report) : -1;
    this.reports.push({
      at: Date.now(),
      jobId: report.jobId,
      owner: report.owner,
      state: report.state,
      ...(report.reason === undefined ? {} : { reason: report.reason }),
      status,
    });
    return { status };
  }

  /** Cancels pending reschedules; later calls change nothing outside. */
  close(): void {
    this.closed = true;
    for (const timer of this.rescheduleTimers) clearTimeout(timer);
    this.rescheduleTimers.clear();
  }

  private applyReport(job: Job, report: JobStatusReport): number {
    job.lastReported = new Date().toISOString();
    if (report.state === JobState.DoneFailure) {
      job.state = JobState.Ready;
      job.owner = '';
    } else if (FINISHED_STATES.has(report.state)) {
      job.state = report.state;
      job.owner = '';
    }
    this.options.broadcast(HubMethods.jobUpdated, job.id, jobStateName(report.state));
    if (FINISHED_STATES.has(report.state)) this.options.broadcast(HubMethods.newJobAvailable);
    if (COMPLETED_STATES.has(report.state) && job.fromRuleId !== undefined) this.scheduleNextRun(job.fromRuleId);
    return 0;
  }

  private scheduleNextRun(ruleId: number): void {
    const delayMs = this.options.rescheduleAfterMs;
    if (delayMs === null || this.closed) return;
    const timer = setTimeout(() => {
      this.rescheduleTimers.delete(timer);
      if (this.rulesById.has(ruleId)) this.createJob(ruleId);
    }, delayMs);
    this.rescheduleTimers.add(timer);
  }

  /**
   * Times out the user's Executing jobs whose last report is older than the heartbeat deadline
   * (they become DoneFailure, not Ready, as in Hannibal) and maps what the rest read and write.
   */
  private gatherEndpointAccess(userId: string, now: number): EndpointAccess {
    const access = new EndpointAccess();
    const deadlineMs = this.options.heartbeatTimeoutSeconds * 1000;
    for (const job of this.jobsById.values()) {
      if (job.state !== JobState.Executing || job.userId !== userId) continue;
      if (now - Date.parse(job.lastReported ?? '') > deadlineMs) {
        job.state = JobState.DoneFailure;
        job.owner = '';
        continue;
      }
      const source = this.location(job.sourceEndpointId);
      const destination = this.location(job.destinationEndpointId);
      if (source !== undefined && destination !== undefined) access.addRunningJob(source, destination);
    }
    return access;
  }

  /** Network filter and overlap filter of Hannibal's acquisition loop. */
  private mayRun(job: Job, workerNetworks: string, access: EndpointAccess): boolean {
    const source = this.location(job.sourceEndpointId);
    const destination = this.location(job.destinationEndpointId);
    if (source === undefined || destination === undefined) return false;
    const reachable = [source, destination].every((location) => {
      const required = (this.storagesById.get(location.storageId)?.networks ?? '').trim();
      return required === '' || required === workerNetworks.trim();
    });
    return reachable && access.allowsSource(source) && access.allowsDestination(destination);
  }

  private location(endpointId: number): EndpointLocation | undefined {
    const endpoint = this.endpointsById.get(endpointId);
    return endpoint === undefined ? undefined : { storageId: endpoint.storageId, path: endpoint.path };
  }

  private withNavigation(job: Job): Job {
    const endpoint = (id: number): Endpoint | null => {
      const found = this.endpointsById.get(id);
      return found === undefined ? null : { ...found, storage: this.storagesById.get(found.storageId) ?? null };
    };
    const rule = job.fromRuleId === undefined ? undefined : this.rulesById.get(job.fromRuleId);
    return structuredClone({
      ...job,
      sourceEndpoint: endpoint(job.sourceEndpointId),
      destinationEndpoint: endpoint(job.destinationEndpointId),
      fromRule:
        rule === undefined
          ? null
          : { ...rule, sourceEndpoint: endpoint(rule.sourceEndpointId), destinationEndpoint: endpoint(rule.destinationEndpointId) },
    });
  }

  private requireStorage(id: number): Storage {
    const storage = this.storagesById.get(id);
    if (storage === undefined) throw new Error(`storage ${id} not found`);
    return storage;
  }

  private requireEndpoint(id: number): Endpoint {
    const endpoint = this.endpointsById.get(id);
    if (endpoint === undefined) throw new Error(`endpoint ${id} not found`);
    return endpoint;
  }
}

/** Milliseconds of a .NET `TimeSpan` string, `[d.]hh:mm:ss[.fffffff]`. */
export function timeSpanMs(value: string): number {
  const match = /^(-)?(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.(\d+))?$/.exec(value);
  if (match === null) throw new Error(`not a TimeSpan: ${value}`);
  const [, sign, days = '0', hours = '0', minutes = '0', seconds = '0', fraction = '0'] = match;
  const ms =
    ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 + Number(seconds) * 1000 + Number(`0.${fraction}`) * 1000;
  return sign === '-' ? -ms : ms;
}
