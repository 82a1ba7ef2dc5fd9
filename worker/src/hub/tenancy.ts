/**
 * Only our user's storages and jobs (real-hannibal.md F2). The real hub answers `GET /storages`
 * with every user's storages, secrets included, and `acquireNextJob` hands out any user's job.
 * The worker knows its user (`GET /users/-1` → `id`) and stands between the hub and everything
 * else:
 *
 * - storage rows of other users are dropped where they enter the worker, so no remote is built,
 *   no token refreshed and no secret kept for them; only their ids are remembered;
 * - a save of a storage that is not ours is refused;
 * - acquired jobs lose the storages the hub embeds in them (secrets, whoever owns them): the
 *   worker takes storages from its own filtered list only;
 * - `whose(job)` tells the job runner whether a job is ours to run (the job's user, its
 *   endpoints' users, their storages' users); a foreign job is handed back unrun.
 *
 * Rows or jobs without a user id are not ours: the guard fails closed. This defends one worker;
 * a hub shared by several users must also be fixed to scope these calls by user.
 */
import type { AcquireParams, Endpoint, Job, JobStatusReport, ReportResult, Storage } from '../../../shared/hannibal.js';
import { HubError, StorageError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { JobsHub, OnlineHub, StoragesHub } from './rest-client.js';

export type Ownership = { ours: true } | { ours: false; reason: string };

/** The hub as the guard needs it (the REST client). */
export interface GuardedHub extends JobsHub, StoragesHub {
  currentUser(): Promise<{ id: string }>;
}

export class TenantGuard implements JobsHub, StoragesHub, OnlineHub {
  private readonly log: Logger;
  private userId: string | undefined;
  private readonly foreignStorageIds = new Set<number>();
  private ignoredRows = 0;

  constructor(
    private readonly hub: GuardedHub,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'tenancy' });
  }

  /** Our user's id once known (after the first `checkOnline`). */
  get user(): string | undefined {
    return this.userId;
  }

  /** Checks that the hub answers and learns (or re-checks) our user's id. */
  async checkOnline(): Promise<void> {
    const { id } = await this.hub.currentUser();
    if (this.userId !== undefined && !sameUser(this.userId, id)) {
      this.log.error({ was: this.userId, now: id }, 'the hub login now belongs to another user; serving that user from now on');
      this.foreignStorageIds.clear();
    }
    this.userId = id;
  }

  /** Our user's storages; the other rows go no further than this function. */
  async storages(): Promise<Storage[]> {
    const me = this.me();
    const rows = await this.hub.storages();
    const own: Storage[] = [];
    let ignored = 0;
    for (const row of rows) {
      if (sameUser(row.userId, me)) {
        own.push(row);
        this.foreignStorageIds.delete(row.id);
      } else {
        ignored += 1;
        this.foreignStorageIds.add(row.id);
      }
    }
    if (ignored !== this.ignoredRows) {
      this.ignoredRows = ignored;
      this.log.info({ ours: own.length, ignored }, 'storages of other users ignored (the hub lists every user’s storages)');
    }
    return own;
  }

  async saveStorage(storage: Storage): Promise<Storage> {
    if (!sameUser(storage.userId, this.me())) {
      throw new StorageError(`refusing to save storage ${storage.id}: it does not belong to this worker's user`, storage.uriSchema);
    }
    return this.hub.saveStorage(storage);
  }

  async acquireNextJob(params: AcquireParams): Promise<Job | null> {
    const job = await this.hub.acquireNextJob(params);
    return job === null ? null : withoutEmbeddedStorages(job);
  }

  reportJob(report: JobStatusReport): Promise<ReportResult> {
    return this.hub.reportJob(report);
  }

  /** Whether a job the hub handed out is ours to run. */
  whose(job: Job): Ownership {
    const me = this.userId;
    if (me === undefined) return { ours: false, reason: 'this worker does not know its user yet' };
    if (!sameUser(job.userId, me)) return { ours: false, reason: 'the job belongs to another user' };
    for (const [side, endpoint] of [
      ['source', job.sourceEndpoint],
      ['destination', job.destinationEndpoint],
    ] as const) {
      if (!endpoint) continue;
      if (endpoint.userId !== undefined && !sameUser(endpoint.userId, me)) return { ours: false, reason: `its ${side} endpoint belongs to another user` };
      const storageUser = endpoint.storage?.userId;
      if ((storageUser !== undefined && !sameUser(storageUser, me)) || this.foreignStorageIds.has(endpoint.storageId)) {
        return { ours: false, reason: `its ${side} storage belongs to another user` };
      }
    }
    return { ours: true };
  }

  private me(): string {
    if (this.userId === undefined) throw new HubError('the hub user of this worker is not known yet', undefined);
    return this.userId;
  }
}

/** ASP.NET Identity ids are GUID strings; compare them without regard to case. */
function sameUser(a: string | undefined, b: string): boolean {
  return typeof a === 'string' && a !== '' && a.toLowerCase() === b.toLowerCase();
}

/** The job with each embedded storage cut down to who owns it and what it is: no secret stays. */
function withoutEmbeddedStorages(job: Job): Job {
  const slim = <T extends { sourceEndpoint?: Endpoint | null; destinationEndpoint?: Endpoint | null }>(holder: T): T => {
    const out = { ...holder };
    if (holder.sourceEndpoint) out.sourceEndpoint = slimEndpoint(holder.sourceEndpoint);
    if (holder.destinationEndpoint) out.destinationEndpoint = slimEndpoint(holder.destinationEndpoint);
    return out;
  };
  const slimmed = slim(job);
  if (job.fromRule) slimmed.fromRule = slim(job.fromRule);
  return slimmed;
}

function slimEndpoint(endpoint: Endpoint): Endpoint {
  if (!endpoint.storage) return endpoint;
  const { id, userId, technology, uriSchema } = endpoint.storage;
  return { ...endpoint, storage: { id, technology, uriSchema, ...(userId === undefined ? {} : { userId }) } };
}
