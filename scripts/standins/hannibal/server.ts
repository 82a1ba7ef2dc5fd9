/**
 * A Hannibal-compatible hub on 127.0.0.1: Hannibal's REST contract and its SignalR hub on one
 * port, with the real hub's server semantics, quirks included (research/real-hannibal.md is the
 * truth, research/anchor-backer.md §4–§5 the contract). Used by the end-to-end tests, the
 * `npm start` demo and the benchmarks; tests drive it through the methods below and assert on
 * the recorded requests.
 */
import type { Server } from 'node:http';
import { HUB_PATH, type Endpoint, type Job, type Rule, type Storage } from '../../../shared/hannibal.js';
import { closeServer, listen } from '../http-util.js';
import { HubIdentity, type HubUser, type LoginRecord } from './identity.js';
import type { AcquisitionRecord, ConcurrentRun, JobRun, ReportRecord, TimeoutRecord } from './job-ledger.js';
import { createRestHandler } from './rest.js';
import { SignalRHub } from './signalr-hub.js';
import type { StoragePutRecord } from './storages.js';
import { HubStore, type JobScope, type RuleInit } from './store.js';

export type { HubUser } from './identity.js';
export type { AcquisitionRecord, ConcurrentRun, JobRun, ReportRecord, TimeoutRecord } from './job-ledger.js';
export type { JobScope, RuleInit } from './store.js';

/** What the hub recorded about one job (see `HannibalStandin.jobHistory`). */
export interface JobHistory {
  /** Owners of the successful acquisitions of the job, in order; its length is how often it was handed out. */
  acquiredBy: string[];
  /** Every report received for the job, heartbeats included, in order. */
  reports: ReportRecord[];
  /** Each owner's run of the job, in order of acquisition. */
  runs: JobRun[];
  /** Heartbeat timeouts the hub applied to it. */
  timeouts: TimeoutRecord[];
}

export interface HannibalStandinOptions {
  /** 0 = any free port (default). */
  port?: number;
  /** Accounts that may log in; default one worker account. */
  users?: { email: string; password: string }[];
  /**
   * Executing jobs without a heartbeat for this long are failed (DoneFailure, owner kept) when a
   * user of theirs next calls `acquireNextJob`; default 120 (Hannibal's).
   */
  heartbeatTimeoutSeconds?: number;
  /** Whose jobs `acquireNextJob` hands out; default `'any-user'`, as the real hub (see `JobScope`). */
  jobScope?: JobScope;
  /** Lifetime of a login token; default 3600. Expired tokens get 401, so clients log in again. */
  sessionTtlSeconds?: number;
  /** Interval of SignalR server pings; default 15000. */
  pingIntervalMs?: number;
  /**
   * Test and demo override of the rule scheduler: when a job of a rule ends DoneSuccess or
   * DoneWithErrors, the rule's next job comes this long after the report. Default null = as the
   * real hub, at the job's `lastReported + maxDestinationAge`.
   */
  rescheduleAfterMs?: number | null;
}

/** How the REST side fails during a simulated outage: a status for every request, or a dropped connection. */
export type RestOutage = null | { status: number } | 'reset';

const DEFAULT_USERS = [{ email: 'worker@example.test', password: 'worker-password' }];

export class HannibalStandin {
  private constructor(
    /** `http://127.0.0.1:<port>`: the REST base and the SignalR base (hub at `${url}/hannibal`). */
    readonly url: string,
    private readonly server: Server,
    private readonly store: HubStore,
    private readonly identity: HubIdentity,
    private readonly hub: SignalRHub,
    /** Shared with the request handler, which exists before this object. */
    private readonly rest: { outage: RestOutage },
  ) {}

  static async start(options: HannibalStandinOptions = {}): Promise<HannibalStandin> {
    const identity = new HubIdentity(options.users ?? DEFAULT_USERS, options.sessionTtlSeconds ?? 3600);
    const hub = new SignalRHub({ path: HUB_PATH, pingIntervalMs: options.pingIntervalMs ?? 15_000 });
    const store = new HubStore({
      heartbeatTimeoutSeconds: options.heartbeatTimeoutSeconds ?? 120,
      rescheduleAfterMs: options.rescheduleAfterMs ?? null,
      jobScope: options.jobScope ?? 'any-user',
      defaultUserId: identity.users[0]?.id ?? '',
      broadcast: (target, ...args) => {
        hub.broadcast(target, ...args);
      },
    });
    const routeRest = createRestHandler(identity, store);
    const rest: { outage: RestOutage } = { outage: null };
    const { server, url } = await listen(async (req, res) => {
      const requestUrl = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (hub.isNegotiatePath(requestUrl.pathname)) {
        hub.negotiate(req, res, requestUrl);
        return;
      }
      const { outage } = rest;
      if (outage === 'reset') req.socket.destroy();
      else if (outage !== null) res.writeHead(outage.status, { 'content-length': 0 }).end();
      else await routeRest(req, res, requestUrl);
    }, options.port ?? 0);
    server.on('upgrade', (req, socket, head) => {
      hub.upgrade(req, socket, head);
    });
    return new HannibalStandin(url, server, store, identity, hub, rest);
  }

  /** Every `reportJob` received, in order, with the status answered. */
  get reports(): ReportRecord[] {
    return this.store.reports;
  }

  /** Every `acquireNextJob` received, with the job handed out (`null` = 404). */
  get acquisitions(): AcquisitionRecord[] {
    return this.store.acquisitions;
  }

  /** Every job the hub failed for missing heartbeats, in order. */
  get timeouts(): TimeoutRecord[] {
    return this.store.timeouts;
  }

  /** Every successful `PUT /storages/{id}` (edits through `updateStorage` are not requests, not recorded). */
  get storagePuts(): StoragePutRecord[] {
    return this.store.storages.puts;
  }

  /** When each `GET /storages` was answered (epoch ms), in order. */
  get storageFetches(): readonly number[] {
    return this.store.storages.fetches;
  }

  /** Every login attempt. */
  get logins(): LoginRecord[] {
    return this.identity.logins;
  }

  /** The accounts that may log in; the first owns what is created without a `userId`. */
  users(): readonly HubUser[] {
    return this.identity.users;
  }

  /** Registers another account (a second user of the same hub); returns it with its id. */
  addUser(account: { email: string; password: string }): HubUser {
    return this.identity.addUser(account.email, account.password);
  }

  /** Adds a storage with a fresh id (an id in `s` is ignored); see `HubStorages.add` for defaults. */
  addStorage(s: Partial<Storage> & { technology: string; uriSchema: string }): Storage {
    return this.store.storages.add(s);
  }

  getStorage(id: number): Storage | undefined {
    return this.store.storages.get(id);
  }

  storages(): Storage[] {
    return this.store.storages.list();
  }

  /**
   * As if a user edited or re-authenticated the storage in the hub UI: the same save as
   * `PUT /storages/{id}` (so `isActive` and `updatedAt` stay), which broadcasts
   * `StorageReauthenticated(uriSchema)` when credentials changed. Returns the saved storage;
   * throws for an unknown id or a change of user.
   */
  updateStorage(id: number, patch: Partial<Storage>): Storage {
    return this.store.storages.edit(id, patch);
  }

  /** Deletes the storage only; endpoints on it stay, and jobs using them are no longer handed out. */
  removeStorage(id: number): void {
    this.store.storages.remove(id);
  }

  /** An endpoint on a storage; it belongs to the storage's user. */
  addEndpoint(e: { storageId: number; path: string; name?: string }): Endpoint {
    return this.store.addEndpoint(e);
  }

  /** A rule between two endpoints; it belongs to the source endpoint's user. */
  addRule(r: RuleInit): Rule {
    return this.store.addRule(r);
  }

  /**
   * Creates a Ready job (owner '') for a rule, as the hub's scheduler would, and unless
   * `broadcast: false` announces `NewJobAvailable`. The hub itself creates a rule's later jobs
   * (see `plannedRuns`).
   */
  createJob(ruleId: number, options?: { startFrom?: Date; broadcast?: boolean }): Job {
    return this.store.createJob(ruleId, options);
  }

  /** The job's current server state (without the embedded rule, endpoints and storages). */
  job(id: number): Job | undefined {
    return this.store.job(id);
  }

  jobs(): Job[] {
    return this.store.jobs();
  }

  /** Rules whose next job the hub's scheduler has planned (rule id → epoch ms when due). */
  plannedRuns(): Map<number, number> {
    return this.store.plannedRuns();
  }

  /** Who acquired the job how often, its reports, runs and timeouts. */
  jobHistory(jobId: number): JobHistory {
    return {
      acquiredBy: this.store.acquisitions.filter((a) => a.jobId === jobId).map((a) => a.owner),
      reports: this.store.reports.filter((r) => r.jobId === jobId),
      runs: this.store.runs(jobId),
      timeouts: this.store.timeouts.filter((t) => t.jobId === jobId),
    };
  }

  /** Every owner's run of every job, in order of acquisition (see `JobRun`). */
  runs(): JobRun[] {
    return this.store.runs();
  }

  /**
   * Pairs of runs of one job by two owners that overlapped in time, from the hub's records: two
   * workers ran the same job at once. A test of exclusivity expects `[]`.
   */
  concurrentRuns(): ConcurrentRun[] {
    return this.store.concurrentRuns();
  }

  /** As if a user flushed their rule states in the UI: broadcasts `RulesFlushed()` to every client. */
  flushRules(): void {
    this.store.flushRules();
  }

  /** Sends `target(...args)` to every connected SignalR client. */
  broadcast(target: string, ...args: unknown[]): void {
    this.hub.broadcast(target, ...args);
  }

  /** SignalR connections that completed the handshake. */
  connectedClients(): number {
    return this.hub.connectedClients();
  }

  /** Cuts every SignalR WebSocket without a close message (a network drop); clients reconnect. */
  dropHubConnections(): void {
    this.hub.dropConnections();
  }

  /**
   * Simulates an outage of the REST API: every request gets `status`, or with `'reset'` its
   * connection is dropped, until called with `null`. SignalR negotiation is not affected.
   */
  setRestOutage(mode: RestOutage): void {
    this.rest.outage = mode;
  }

  /** Stops timers, closes SignalR connections (reconnect allowed) and the HTTP server. */
  async close(): Promise<void> {
    this.store.close();
    await this.hub.close();
    await closeServer(this.server);
  }
}
