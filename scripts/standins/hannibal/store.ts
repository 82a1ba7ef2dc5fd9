/**
 * In-memory data of the hub stand-in and Hannibal's server semantics for endpoints, rules and
 * jobs (research/anchor-backer.md §4.5, research/real-hannibal.md §3, §7, §8): job acquisition
 * with the lazy heartbeat timeout, network and overlap filters; job reports; the rule scheduler's
 * next job; the JSON the hub serialises a job as.
 *
 * Everything here is synchronous, so two acquisitions can never interleave: Node runs one request
 * handler at a time up to its first `await`, which gives the same exclusivity as Hannibal's
 * database transaction.
 */
import {
  HubMethods,
  JobState,
  jobStateName,
  type AcquireParams,
  type Endpoint,
  type Job,
  type JobStatusReport,
  type ReportResult,
  type Rule,
  type RuleOperation,
} from '../../../shared/hannibal.js';
import { EndpointAccess, type EndpointLocation } from './endpoint-access.js';
import { concurrentRuns, jobRuns, type AcquisitionRecord, type ConcurrentRun, type JobRun, type ReportRecord, type TimeoutRecord } from './job-ledger.js';
import { RuleScheduler } from './scheduler.js';
import { HubStorages } from './storages.js';
import { timeSpanMs } from './time-span.js';

/**
 * Whose jobs `acquireNextJob` hands out. `'any-user'` is the real hub (F2): any user's Ready job
 * goes to whoever asks. `'per-user'` is a hub fixed for multi-user use: only the caller's own.
 */
export type JobScope = 'any-user' | 'per-user';

export interface HubStoreOptions {
  heartbeatTimeoutSeconds: number;
  /** See `HannibalStandinOptions.rescheduleAfterMs`. */
  rescheduleAfterMs: number | null;
  jobScope: JobScope;
  /** Owner of storages (and thus of endpoints, rules and jobs) created without a `userId`. */
  defaultUserId: string;
  /** Sends a SignalR message to every connected client. */
  broadcast: (target: string, ...args: unknown[]) => void;
}

/** What a rule may be created with; unset TimeSpans get the Poe UI's defaults. */
export interface RuleInit {
  name: string;
  sourceEndpointId: number;
  destinationEndpointId: number;
  operation: RuleOperation;
  maxDestinationAge?: string;
  minRetryTime?: string;
}

/** Endpoint dates are never set by the hub and serialise as .NET's `DateTime.MinValue`, without `Z` (§7). */
const UNSET_DATE = '0001-01-01T00:00:00';

/** Reported states that end a run; each announces `NewJobAvailable` (a DoneFailure job is Ready again). */
const FINISHED_STATES: ReadonlySet<number> = new Set([JobState.DoneFailure, JobState.DoneSuccess, JobState.DoneWithErrors, JobState.Cancelled]);

export class HubStore {
  readonly storages: HubStorages;
  readonly reports: ReportRecord[] = [];
  readonly acquisitions: AcquisitionRecord[] = [];
  readonly timeouts: TimeoutRecord[] = [];

  private readonly endpointsById = new Map<number, Endpoint>();
  private readonly rulesById = new Map<number, Rule>();
  private readonly jobsById = new Map<number, Job>();
  /** The rule scheduler's `RuleState.RecentJob`: the last job created for each rule. */
  private readonly recentJobOfRule = new Map<number, number>();
  private readonly nextId = { endpoint: 1, rule: 1, job: 1 };
  private readonly scheduler: RuleScheduler;

  constructor(private readonly options: HubStoreOptions) {
    this.storages = new HubStorages(options.defaultUserId, options.broadcast);
    this.scheduler = new RuleScheduler({
      completedDelayMs: options.rescheduleAfterMs,
      lookup: (ruleId) => {
        const rule = this.rulesById.get(ruleId);
        const recentId = this.recentJobOfRule.get(ruleId);
        return rule === undefined ? undefined : { rule, recentJob: recentId === undefined ? undefined : this.jobsById.get(recentId) };
      },
      createJob: (ruleId) => {
        this.createJob(ruleId);
      },
    });
  }

  // ---- endpoints and rules --------------------------------------------------------------------

  addEndpoint(init: { storageId: number; path: string; name?: string }): Endpoint {
    const storage = this.storages.row(init.storageId);
    if (storage === undefined) throw new Error(`storage ${init.storageId} not found`);
    const endpoint: Endpoint = {
      id: this.nextId.endpoint++,
      name: init.name ?? `${storage.userId ?? ''}:${storage.technology}:${init.path}`,
      userId: storage.userId ?? this.options.defaultUserId,
      storageId: storage.id,
      path: init.path,
      comment: '',
      createdAt: UNSET_DATE,
      updatedAt: UNSET_DATE,
      isActive: true,
    };
    this.endpointsById.set(endpoint.id, endpoint);
    return structuredClone(endpoint);
  }

  addRule(init: RuleInit): Rule {
    const source = this.requireEndpoint(init.sourceEndpointId);
    this.requireEndpoint(init.destinationEndpointId);
    // Rejects a malformed TimeSpan here rather than when the rule is next scheduled.
    for (const span of [init.maxDestinationAge, init.minRetryTime]) if (span !== undefined) timeSpanMs(span);
    const rule: Rule = {
      id: this.nextId.rule++,
      name: init.name,
      comment: '',
      userId: source.userId ?? this.options.defaultUserId,
      sourceEndpointId: init.sourceEndpointId,
      destinationEndpointId: init.destinationEndpointId,
      operation: init.operation,
      maxDestinationAge: init.maxDestinationAge ?? '1.00:00:00',
      minRetryTime: init.minRetryTime ?? '00:15:00',
      maxTimeAfterSourceModification: '00:00:00',
      dailyTriggerTime: '00:00:00',
    };
    this.rulesById.set(rule.id, rule);
    return structuredClone(rule);
  }

  // ---- jobs -----------------------------------------------------------------------------------

  /**
   * A Ready, unowned job for a rule, as the rule scheduler creates it (`Tag "[Scheduler] <rule
   * name>"`, `EndBy = StartFrom + 1 day`); it becomes the rule's most recent job. Announces
   * `NewJobAvailable` unless `broadcast: false`.
   */
  createJob(ruleId: number, options: { startFrom?: Date; broadcast?: boolean } = {}): Job {
    const rule = this.rulesById.get(ruleId);
    if (rule === undefined) throw new Error(`rule ${ruleId} not found`);
    const startFrom = options.startFrom ?? new Date();
    const job: Job = {
      id: this.nextId.job++,
      userId: rule.userId ?? this.options.defaultUserId,
      tag: `[Scheduler] ${rule.name}`,
      operation: rule.operation,
      fromRuleId: rule.id,
      owner: '',
      state: JobState.Ready,
      startFrom: startFrom.toISOString(),
      endBy: new Date(startFrom.getTime() + 86_400_000).toISOString(),
      lastReported: new Date().toISOString(),
      sourceEndpointId: rule.sourceEndpointId,
      destinationEndpointId: rule.destinationEndpointId,
      status: 0,
    };
    this.jobsById.set(job.id, job);
    this.recentJobOfRule.set(rule.id, job.id);
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

  /** `GET /jobs/{id}`: the job as the hub serialises it (any user's; no owner check), or `undefined`. */
  jobJson(id: number): Record<string, unknown> | undefined {
    const job = this.jobsById.get(id);
    return job === undefined ? undefined : this.serialise(job);
  }

  /**
   * `acquireNextJob`: first the lazy heartbeat timeout of the caller's Executing jobs, then the
   * Ready unowned job to hand out, now Executing and owned by `params.owner`, as the hub
   * serialises it; or `undefined` (the route answers 404). `username` and `capabilities` are
   * ignored (F11); which users' jobs qualify is the `jobScope`.
   */
  acquireNextJob(params: AcquireParams, userId: string): Record<string, unknown> | undefined {
    const now = Date.now();
    const access = this.gatherEndpointAccess(userId, now);
    // No StartFrom filter: the hub hands out a Ready job whatever its StartFrom (it only orders by it).
    const candidates = [...this.jobsById.values()]
      .filter((job) => job.state === JobState.Ready && job.owner === '')
      .filter((job) => this.options.jobScope === 'any-user' || job.userId === userId)
      .sort((a, b) => Date.parse(a.startFrom ?? '') - Date.parse(b.startFrom ?? '') || a.id - b.id);
    // Hannibal's loop has no `break` and so hands out the LAST passing candidate, the one that
    // starts latest (HannibalServiceJobs.cs, "TXWTODO: Why not just break here?").
    const job = candidates.filter((candidate) => this.mayRun(candidate, params.networks, access)).at(-1);
    this.acquisitions.push({ at: now, owner: params.owner, networks: params.networks, userId, jobId: job?.id ?? null });
    if (job === undefined) return undefined;
    job.owner = params.owner;
    job.state = JobState.Executing;
    job.lastReported = new Date(now).toISOString();
    this.options.broadcast(HubMethods.jobUpdated, job.id, jobStateName(job.state));
    return this.serialise(job);
  }

  /**
   * `reportJob`: applies a report to the job if it is Executing, whoever reports (the owner is
   * not checked); else status -1. Only a heartbeat (Executing) sets `lastReported` (F9).
   * DoneFailure puts the job back to Ready for immediate re-acquisition (F1); DoneSuccess,
   * DoneWithErrors and Cancelled end it; other states change nothing. Every applied report
   * broadcasts `JobUpdated(jobId, <state name after the report>)` — `Ready` for a DoneFailure —
   * and a finished one also `NewJobAvailable`, then lets the scheduler plan the rule's next job.
   */
  reportJob(report: JobStatusReport, userId: string): ReportResult {
    const now = Date.now();
    const job = this.jobsById.get(report.jobId);
    const applies = job?.state === JobState.Executing;
    if (applies) this.applyReport(job, report, now);
    const status = applies ? 0 : -1;
    this.reports.push({
      at: now,
      jobId: report.jobId,
      owner: report.owner,
      state: report.state,
      ...(report.reason === undefined ? {} : { reason: report.reason }),
      status,
      userId,
    });
    return { status };
  }

  /**
   * `FlushRulesAsync`: the real hub resets the caller's rule states' `ExpiredAfter` (which its
   * scheduler does not read) and broadcasts `RulesFlushed()` to every client.
   */
  flushRules(): void {
    this.options.broadcast(HubMethods.rulesFlushed);
  }

  /** Rules whose next job the scheduler has planned, and when (epoch ms). */
  plannedRuns(): Map<number, number> {
    return this.scheduler.planned();
  }

  /** Every owner's run of the job (or of every job), from the records. */
  runs(jobId?: number): JobRun[] {
    return jobRuns(this.ledger(), jobId);
  }

  /** Runs of one job by different owners that overlapped in time; empty if none ever did. */
  concurrentRuns(): ConcurrentRun[] {
    return concurrentRuns(this.ledger());
  }

  /** Cancels planned jobs; later calls change nothing outside. */
  close(): void {
    this.scheduler.close();
  }

  private ledger(): Parameters<typeof jobRuns>[0] {
    return {
      acquisitions: this.acquisitions,
      reports: this.reports,
      timeouts: this.timeouts,
      holder: (jobId) => {
        const job = this.jobsById.get(jobId);
        return job?.state === JobState.Executing ? job.owner : undefined;
      },
    };
  }

  private applyReport(job: Job, report: JobStatusReport, now: number): void {
    if (report.state === JobState.Executing) job.lastReported = new Date(now).toISOString();
    else if (report.state === JobState.DoneFailure) {
      job.state = JobState.Ready;
      job.owner = '';
    } else if (FINISHED_STATES.has(report.state)) {
      job.state = report.state;
      job.owner = '';
    }
    this.options.broadcast(HubMethods.jobUpdated, job.id, jobStateName(job.state));
    if (!FINISHED_STATES.has(report.state)) return;
    this.options.broadcast(HubMethods.newJobAvailable);
    if (job.fromRuleId !== undefined) this.scheduler.jobEnded(job.fromRuleId);
  }

  /**
   * Hannibal's `_gatherEndpointAccess(callerUserId)`: the caller's Executing jobs whose last
   * report is older than the heartbeat deadline become DoneFailure, their owner left set and
   * nothing broadcast (F7); what the caller's other Executing jobs read and write is mapped for
   * the overlap filter. Other users' jobs are neither timed out nor mapped.
   */
  private gatherEndpointAccess(userId: string, now: number): EndpointAccess {
    const access = new EndpointAccess();
    const deadlineMs = this.options.heartbeatTimeoutSeconds * 1000;
    for (const job of this.jobsById.values()) {
      if (job.state !== JobState.Executing || job.userId !== userId) continue;
      if (now - Date.parse(job.lastReported ?? '') > deadlineMs) {
        job.state = JobState.DoneFailure;
        this.timeouts.push({ at: now, jobId: job.id, owner: job.owner });
        if (job.fromRuleId !== undefined) this.scheduler.jobEnded(job.fromRuleId);
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
      const required = (this.storages.row(location.storageId)?.networks ?? '').trim();
      return required === '' || required === workerNetworks.trim();
    });
    return reachable && access.allowsSource(source) && access.allowsDestination(destination);
  }

  private location(endpointId: number): EndpointLocation | undefined {
    const endpoint = this.endpointsById.get(endpointId);
    return endpoint === undefined ? undefined : { storageId: endpoint.storageId, path: endpoint.path };
  }

  /**
   * A job as the hub's lazy-loading serialiser writes it (§8): the rule, both endpoints and
   * their storages (secrets included) embedded, the EF proxy's `lazyLoader`, members in the
   * order the hub writes them.
   */
  private serialise(job: Job): Record<string, unknown> {
    const endpoint = (id: number): Record<string, unknown> | null => {
      const found = this.endpointsById.get(id);
      if (found === undefined) return null;
      const { id: endpointId, name, userId, storageId, ...rest } = found;
      return { id: endpointId, name, userId, storageId, storage: this.storages.row(storageId) ?? null, ...rest };
    };
    const rule = job.fromRuleId === undefined ? undefined : this.rulesById.get(job.fromRuleId);
    const ruleJson = (found: Rule): Record<string, unknown> => {
      const { id, name, comment, userId, sourceEndpointId: from, destinationEndpointId: to, operation, ...timeSpans } = found;
      return {
        id,
        name,
        comment,
        userId,
        sourceEndpointId: from,
        sourceEndpoint: endpoint(from),
        destinationEndpointId: to,
        destinationEndpoint: endpoint(to),
        operation,
        ...timeSpans,
      };
    };
    const { sourceEndpointId, destinationEndpointId, status, ...members } = job;
    return structuredClone({
      fromRule: rule === undefined ? null : ruleJson(rule),
      sourceEndpoint: endpoint(sourceEndpointId),
      destinationEndpoint: endpoint(destinationEndpointId),
      lazyLoader: {},
      ...members,
      sourceEndpointId,
      destinationEndpointId,
      status: status ?? 0,
    });
  }

  private requireEndpoint(id: number): Endpoint {
    const endpoint = this.endpointsById.get(id);
    if (endpoint === undefined) throw new Error(`endpoint ${id} not found`);
    return endpoint;
  }
}
