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
import type { DriveLookup, OnedriveDrive } from './onedrive-drive.js';
import { buildRemoteSpec, remotePath, type RemoteSpec } from './remote-spec.js';

export interface CatalogOptions {
  tokens: Pick<TokenBroker, 'adopt' | 'forget' | 'ensureFresh' | 'currentToken' | 'settleJournal'>;
  driveLookup: DriveLookup;
  tokenUrls: Record<OAuthTechnology, string>;
  gcsApiUrl: string | undefined;
  logger: Logger;
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
   * The remote this storage should be now. For OAuth storages the token is made valid for at
   * least a minute first (a refresh when needed); throws when that is impossible.
   */
  async desiredRemote(storage: Storage): Promise<RemoteSpec> {
    if (!isOAuthTechnology(storage.technology)) return buildRemoteSpec(storage);
    const token = await this.options.tokens.ensureFresh(storage.id, MIN_TOKEN_VALIDITY_FOR_REMOTE_MS);
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
   * Specs for every storage that can be built now. OAuth storages whose token cannot be made
   * valid still get a remote with the token they have (rclone accepts an expired one; a job
   * will refresh before it starts), so the remote exists when new credentials arrive.
   */
  async desiredRemotes(): Promise<{ specs: RemoteSpec[]; problems: Map<string, string> }> {
    const specs: RemoteSpec[] = [];
    const problems = new Map<string, string>();
    for (const storage of this.rows.values()) {
      try {
        specs.push(await this.desiredRemote(storage));
      } catch (err) {
        const fallback = this.withCurrentToken(storage);
        if (fallback) specs.push(fallback);
        problems.set(storage.uriSchema, errorMessage(err));
        this.log.error({ storage: storage.uriSchema, storageId: storage.id, reason: errorMessage(err) }, 'storage cannot be used now');
      }
    }
    return { specs, problems };
  }

  private withCurrentToken(storage: Storage): RemoteSpec | undefined {
    if (!isOAuthTechnology(storage.technology) || storage.technology === 'onedrive') return undefined;
    const token = this.options.tokens.currentToken(storage.id);
    if (!token) return undefined;
    try {
      return buildRemoteSpec(storage, {
        token,
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
