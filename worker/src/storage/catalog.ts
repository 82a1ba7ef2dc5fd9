/**
 * The storages the hub has, as this worker last saw them, and the rclone remote each should be.
 * One malformed storage (unknown technology, missing host, no token) is an error for that
 * storage only; the others keep working.
 */
import type { Storage } from '../../../shared/hannibal.js';
import type { OAuthTechnology } from '../config/settings.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { isOAuthTechnology, type AdoptResult, type TokenBroker } from '../tokens/broker.js';
import { mapConcurrent, settleWithin } from '../util/concurrency.js';
import type { DriveLookup, OnedriveDrive } from './onedrive-drive.js';
import { buildRemoteSpec, remotePath, type RemoteSpec } from './remote-spec.js';

export interface CatalogOptions {
  tokens: Pick<TokenBroker, 'adopt' | 'forget' | 'ensureFresh' | 'currentToken' | 'settleJournal'>;
  driveLookup: DriveLookup;
  tokenUrls: Record<OAuthTechnology, string>;
  gcsApiUrl: string | undefined;
  logger: Logger;
  /**
   * How long a start waits for one storage (its token refresh, OneDrive's drive lookup) before
   * it builds that storage's remote with what it has. Default 1000 ms.
   */
  startGraceMs?: number;
  /** Storages prepared at the same time at a start. Default 8. */
  startConcurrency?: number;
}

/**
 * A token must stay usable by rclone (past its switch point, expiry − 10 s) for this long to
 * build a remote with it; it is refreshed otherwise.
 */
const MIN_TOKEN_VALIDITY_FOR_REMOTE_MS = 20_000;

export class StorageCatalog {
  private readonly rows = new Map<number, Storage>();
  private readonly drives = new Map<number, OnedriveDrive>();
  private readonly log: Logger;

  constructor(private readonly options: CatalogOptions) {
    this.log = options.logger.child({ component: 'storages' });
  }

  /** Replaces the whole catalog with the hub's list; returns the uriSchemas that disappeared. */
  load(storages: readonly Storage[]): { removed: string[] } {
    const incoming = new Map(storages.map((s) => [s.id, s]));
    const removed: string[] = [];
    for (const [id, row] of this.rows) {
      if (!incoming.has(id)) {
        removed.push(row.uriSchema);
        this.forget(id);
      }
    }
    for (const storage of storages) this.upsert(storage);
    this.options.tokens.settleJournal();
    return { removed };
  }

  /**
   * Takes a storage row from the hub. For OAuth storages the token broker decides what the row
   * means for the grant in use (see `TokenBroker.adopt`); a new grant also invalidates the
   * OneDrive drive lookup, which belongs to the account.
   */
  upsert(row: Storage): AdoptResult {
    // Hannibal sends technologies in lower case; the .NET worker matched them case-insensitively.
    const technology = typeof row.technology === 'string' ? row.technology.toLowerCase() : row.technology;
    const storage = technology === row.technology ? row : { ...row, technology };
    this.rows.set(storage.id, storage);
    const result = this.options.tokens.adopt(storage);
    if (result === 'new-grant') this.drives.delete(storage.id);
    return result;
  }

  forget(storageId: number): void {
    this.rows.delete(storageId);
    this.drives.delete(storageId);
    this.options.tokens.forget(storageId);
  }

  byId(id: number): Storage | undefined {
    return this.rows.get(id);
  }

  byUriSchema(uriSchema: string): Storage | undefined {
    for (const row of this.rows.values()) if (row.uriSchema === uriSchema) return row;
    return undefined;
  }

  all(): Storage[] {
    return [...this.rows.values()];
  }

  isOAuth(storage: Storage): boolean {
    return isOAuthTechnology(storage.technology);
  }

  /** The rclone path of an endpoint path on a storage. */
  fsPath(storage: Storage, path: string): string {
    return remotePath(storage, path);
  }

  /**
   * The remote this storage should be now. For OAuth storages the token is made valid for rclone
   * first (a refresh when needed); throws when that is impossible. `waitBudgetMs` bounds the
   * wait for refresh retries (default: the broker's, the wait a job accepts).
   */
  async desiredRemote(storage: Storage, waitBudgetMs?: number): Promise<RemoteSpec> {
    if (!isOAuthTechnology(storage.technology)) return buildRemoteSpec(storage);
    const token = await this.options.tokens.ensureFresh(storage.id, MIN_TOKEN_VALIDITY_FOR_REMOTE_MS, waitBudgetMs);
    const technology = storage.technology;
    const onedriveDrive = technology === 'onedrive' ? await this.onedriveDrive(storage, token.access_token) : undefined;
    return buildRemoteSpec(storage, {
      token,
      onedriveDrive,
      tokenUrl: this.options.tokenUrls[technology],
      gcsApiUrl: this.options.gcsApiUrl,
    });
  }

  /**
   * Specs for every storage, for a start of rclone; no single storage can hold the start up
   * (side-by-side.md T3: one dead token endpoint delayed `Running` by 37–62 s). Storages are
   * prepared side by side (bounded), each token gets one refresh attempt without waiting for
   * retries, and a storage that is not ready within the start grace gets its remote with the
   * token it has — rclone accepts an expired one — or none (OneDrive, whose remote needs Graph),
   * so the remote exists when the token or new credentials arrive. Its refresh goes on in the
   * background (the broker retries and pushes), and a job on it refreshes and re-applies its
   * remote just in time, waiting as the job rules say.
   */
  async desiredRemotes(): Promise<{ specs: RemoteSpec[]; problems: Map<string, string> }> {
    const rows = [...this.rows.values()];
    const prepared = await mapConcurrent(rows, this.options.startConcurrency ?? 8, (storage) => this.remoteAtStart(storage));
    const specs: RemoteSpec[] = [];
    const problems = new Map<string, string>();
    rows.forEach((storage, i) => {
      const { spec, problem } = prepared[i] ?? {};
      if (spec) specs.push(spec);
      if (problem) problems.set(storage.uriSchema, problem);
    });
    return { specs, problems };
  }

  private async remoteAtStart(storage: Storage): Promise<{ spec?: RemoteSpec | undefined; problem?: string }> {
    const building = this.desiredRemote(storage, 0);
    const outcome = await settleWithin(building, this.options.startGraceMs ?? 1000);
    if (outcome.status === 'fulfilled') return { spec: outcome.value };
    const context = { storage: storage.uriSchema, storageId: storage.id };
    if (outcome.status === 'pending') {
      building.catch(() => undefined); // the broker logs how the refresh ends
      this.log.warn({ ...context, graceMs: this.options.startGraceMs ?? 1000 }, 'storage not ready at start; its remote gets the token it has while the refresh goes on in the background');
      return { spec: this.withCurrentToken(storage), problem: 'still preparing (token refresh or drive lookup in progress)' };
    }
    const reason = errorMessage(outcome.reason);
    this.log.error({ ...context, reason }, 'storage cannot be used now');
    return { spec: this.withCurrentToken(storage), problem: reason };
  }

  /** The remote with the token the broker holds now (OneDrive: only once its drive is known). */
  private withCurrentToken(storage: Storage): RemoteSpec | undefined {
    if (!isOAuthTechnology(storage.technology)) return undefined;
    const token = this.options.tokens.currentToken(storage.id);
    const onedriveDrive = this.drives.get(storage.id);
    if (!token || (storage.technology === 'onedrive' && !onedriveDrive)) return undefined;
    try {
      return buildRemoteSpec(storage, {
        token,
        onedriveDrive,
        tokenUrl: this.options.tokenUrls[storage.technology],
        gcsApiUrl: this.options.gcsApiUrl,
      });
    } catch {
      return undefined;
    }
  }

  private async onedriveDrive(storage: Storage, accessToken: string): Promise<OnedriveDrive> {
    const cached = this.drives.get(storage.id);
    if (cached) return cached;
    const drive = await this.options.driveLookup(accessToken, storage.uriSchema);
    this.drives.set(storage.id, drive);
    this.log.info({ storage: storage.uriSchema, driveType: drive.type }, 'OneDrive drive resolved');
    return drive;
  }
}
