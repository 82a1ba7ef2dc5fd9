/**
 * A Hannibal-compatible hub on 127.0.0.1: Hannibal's REST contract and its SignalR hub on one
 * port, with Hannibal's server semantics (research/anchor-backer.md §4–§5, §7.1). Used by the
 * end-to-end tests, the `npm start` demo and the benchmarks; tests drive it through the methods
 * below and assert on the recorded requests.
 */
import type { Server } from 'node:http';
import { HUB_PATH, type Endpoint, type Job, type Rule, type RuleOperation, type Storage } from '../../../shared/hannibal.js';
import { closeServer, listen } from '../http-util.js';
import { HubIdentity, type LoginRecord } from './identity.js';
import { createRestHandler } from './rest.js';
import { SignalRHub } from './signalr-hub.js';
import { HubStore, type AcquisitionRecord, type ReportRecord, type StoragePutRecord } from './store.js';

export interface HannibalStandinOptions {
  /** 0 = any free port (default). */
  port?: number;
  /** Accounts that may log in; default one worker account. */
  users?: { email: string; password: string }[];
  /** Executing jobs without a report for this long are failed at the next acquisition; default 120 (Hannibal's). */
  heartbeatTimeoutSeconds?: number;
  /** Lifetime of a login token; default 3600. Expired tokens get 401, so clients log in again. */
  sessionTtlSeconds?: number;
  /** Interval of SignalR server pings; default 15000. */
  pingIntervalMs?: number;
  /**
   * Demo helper: when a job of a rule ends DoneSuccess or DoneWithErrors, create a new job for
   * that rule after this delay. Default null = never.
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

  /** Every successful `PUT /storages/{id}` (edits through `updateStorage` are not requests, not recorded). */
  get storagePuts(): StoragePutRecord[] {
    return this.store.storagePuts;
  }

  /** When each `GET /storages` was answered (epoch ms), in order. */
  get storageFetches(): readonly number[] {
    return this.store.storageFetches;
  }

  /** Every login attempt. */
  get logins(): LoginRecord[] {
    return this.identity.logins;
  }

  /** Adds a storage with a fresh id (an id in `s` is ignored); see `HubStore.addStorage` for defaults. */
  addStorage(s: Partial<Storage> & { technology: string; uriSchema: string }): Storage {
    return this.store.addStorage(s);
  }

  getStorage(id: number): Storage | undefined {
    return this.store.getStorage(id);
  }

  storages(): Storage[] {
    return this.store.storages();
  }

  /**
   * As if a user edited or re-authenticated the storage in the hub UI: the same save as
   * `PUT /storages/{id}`, which broadcasts `StorageReauthenticated(uriSchema)` when credentials
   * changed. Returns the saved storage; throws for an unknown id or a change of user.
   */
  updateStorage(id: number, patch: Partial<Storage>): Storage {
    return this.store.editStorage(id, patch);
  }

  /** Deletes the storage only; endpoints on it stay, and jobs using them are no longer handed out. */
  removeStorage(id: number): void {
    this.store.removeStorage(id);
  }

  addEndpoint(e: { storageId: number; path: string; name?: string }): Endpoint {
    return this.store.addEndpoint(e);
  }

  addRule(r: { name: string; sourceEndpointId: number; destinationEndpointId: number; operation: RuleOperation; maxDestinationAge?: string }): Rule {
    return this.store.addRule(r);
  }

  /** Creates a Ready job (owner '') for a rule and, unless `broadcast: false`, announces `NewJobAvailable`. */
  createJob(ruleId: number, options?: { startFrom?: Date; broadcast?: boolean }): Job {
    return this.store.createJob(ruleId, options);
  }

  /** The job's current server state. */
  job(id: number): Job | undefined {
    return this.store.job(id);
  }

  jobs(): Job[] {
    return this.store.jobs();
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
