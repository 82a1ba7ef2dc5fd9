/**
 * The grant journal: a rotated refresh token is a grant the hub does not have yet, and with
 * strict rotation the provider has already invalidated the one the hub holds. Until the hub has
 * stored it, the journal is its only durable copy (issue 9.1, DESIGN.md §4).
 *
 * One file per storage, `<state dir>/grants/<storageId>.json`, mode 0600 in a 0700 directory,
 * written durably (temp file, fsync, rename, fsync of the directory) *before* the new token is
 * used or pushed, and removed once the hub has stored that refresh token (`FileJournalMedium`;
 * `GrantJournal` keeps the bookkeeping: which refresh token each entry holds, what was found at
 * start). What a restart finds
 * here is "recovered": the grant custody reconciles each entry with the hub's row before the
 * broker refreshes anything (grant-custody.ts, grant-lineage.ts).
 *
 * The files hold refresh tokens, like rclone.conf holds access tokens: the state directory is
 * private to the worker's user. A file that cannot be parsed is moved aside (`.corrupt-<time>`)
 * for an operator, never deleted.
 */
import { chmod, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OAUTH_TECHNOLOGIES, type OAuthTechnology } from '../config/settings.js';
import { WorkerError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { removeFileDurable, writeFileDurable } from '../util/durable-file.js';
import { Mutex } from '../util/mutex.js';

export interface JournaledGrant {
  storageId: number;
  /** For log lines only. */
  uriSchema: string;
  technology: OAuthTechnology;
  /** `clientFingerprint` of the client the grant belongs to (the secret itself is not kept). */
  client: string;
  refreshToken: string;
  /** Refresh tokens this one replaced, newest first: a hub row holding one of them is behind. */
  supersededRefreshTokens: string[];
  accessToken: string;
  tokenType: string;
  /** Epoch ms. */
  expiresAt: number;
  issuedAt: number;
  journaledAt: number;
}

/**
 * Where journal entries live: files in production (`FileJournalMedium`), memory in tests. A
 * medium only stores; what an entry means and when it may go is the journal's.
 */
export interface JournalMedium {
  /** What a previous run left; entries that cannot be read are the medium's to report and set aside. */
  readAll(): Promise<JournaledGrant[]>;
  /** Durable once resolved; replaces the storage's entry. */
  put(grant: JournaledGrant): Promise<void>;
  /** Durable once resolved; a missing entry counts as deleted. */
  delete(storageId: number): Promise<void>;
}

/** A journal write or removal failed (ENOSPC, EACCES, EROFS, …); `errno` is the system code. */
export class GrantJournalError extends WorkerError {
  readonly errno: string | undefined;
  constructor(message: string, errno: string | undefined, options: { cause?: unknown } = {}) {
    super('WORKER_ERR_GRANT_JOURNAL', message, options);
    this.errno = errno;
  }
}

export class GrantJournal {
  private readonly log: Logger;
  /** The refresh token each storage's entry holds, as far as this process wrote or read it. */
  private readonly held = new Map<number, string>();
  private readonly recovered = new Map<number, JournaledGrant>();
  /** Writes and removals go one at a time, so a removal never races the write that replaces it. */
  private readonly lock = new Mutex();

  constructor(
    private readonly medium: JournalMedium,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'grant-journal' });
  }

  /**
   * Reads what a previous run left. Never throws: an unreadable journal is logged as an error
   * (its grants cannot be recovered) and the worker carries on with the hub's.
   */
  async load(): Promise<void> {
    let grants: JournaledGrant[];
    try {
      grants = await this.medium.readAll();
    } catch (err) {
      this.log.error({ errno: errnoOf(err), reason: errorMessage(err) }, 'grant journal cannot be read; rotated refresh tokens a previous run kept there are not recovered');
      return;
    }
    for (const grant of grants) {
      this.recovered.set(grant.storageId, grant);
      this.held.set(grant.storageId, grant.refreshToken);
    }
    if (grants.length > 0) {
      this.log.warn(
        { storages: grants.map((g) => g.uriSchema) },
        'grant journal holds rotated refresh tokens a previous run had not saved to the hub; reconciling them with the hub before any refresh',
      );
    }
  }

  /** Makes `grant` durable; resolves only once it is. Throws a `GrantJournalError`. */
  write(grant: JournaledGrant): Promise<void> {
    return this.lock.runExclusive(async () => {
      try {
        await this.medium.put(grant);
      } catch (err) {
        throw new GrantJournalError(`cannot journal the rotated grant of ${grant.uriSchema}: ${errorMessage(err)}`, errnoOf(err), { cause: err });
      }
      this.held.set(grant.storageId, grant.refreshToken);
      this.recovered.delete(grant.storageId);
    });
  }

  /** Removes the storage's entry if it still holds `refreshToken` (whatever it holds when omitted). */
  remove(storageId: number, refreshToken?: string): Promise<void> {
    return this.lock.runExclusive(async () => {
      const held = this.held.get(storageId);
      if (held === undefined || (refreshToken !== undefined && held !== refreshToken)) return;
      try {
        await this.medium.delete(storageId);
      } catch (err) {
        throw new GrantJournalError(`cannot remove the journal entry of storage ${storageId}: ${errorMessage(err)}`, errnoOf(err), { cause: err });
      }
      this.held.delete(storageId);
      this.recovered.delete(storageId);
    });
  }

  /** A grant found at `load` that nobody has settled yet; its entry stays until removed. */
  takeRecovered(storageId: number): JournaledGrant | undefined {
    const grant = this.recovered.get(storageId);
    this.recovered.delete(storageId);
    return grant;
  }

  /** Storages whose recovered grant nobody has settled (the hub no longer lists them). */
  unsettled(): number[] {
    return [...this.recovered.keys()];
  }
}

const FILE = /^(\d+)\.json$/;
const FORMAT = 1;

/** One file per storage, `<dir>/<storageId>.json`, 0600 in a 0700 directory, written durably. */
export class FileJournalMedium implements JournalMedium {
  private readonly log: Logger;

  constructor(
    readonly dir: string,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'grant-journal' });
  }

  async readAll(): Promise<JournaledGrant[]> {
    await this.ensureDir();
    const grants: JournaledGrant[] = [];
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.tmp')) {
        // A write interrupted before its rename: the previous entry (if any) is still whole.
        await rm(join(this.dir, name), { force: true }).catch(() => undefined);
        continue;
      }
      const match = FILE.exec(name);
      if (!match) continue;
      const path = join(this.dir, name);
      try {
        grants.push(parseGrant(await readFile(path, 'utf8'), Number(match[1])));
      } catch (err) {
        const aside = `${path}.corrupt-${Date.now()}`;
        await rename(path, aside).catch(() => undefined);
        // V8's JSON errors can quote the text they choke on, which may be a token: no details.
        const reason = err instanceof SyntaxError ? 'not valid JSON' : errorMessage(err);
        this.log.error({ file: aside, reason }, 'grant journal entry cannot be read; moved aside for an operator');
      }
    }
    return grants;
  }

  async put(grant: JournaledGrant): Promise<void> {
    await this.ensureDir();
    await writeFileDurable(this.fileOf(grant.storageId), `${JSON.stringify({ format: FORMAT, ...grant })}\n`);
  }

  delete(storageId: number): Promise<void> {
    return removeFileDurable(this.fileOf(storageId));
  }

  private fileOf(storageId: number): string {
    return join(this.dir, `${storageId}.json`);
  }

  private async ensureDir(): Promise<void> {
    const created = await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask; a directory we created gets exactly 0700.
    if (created !== undefined) await chmod(this.dir, 0o700);
  }
}

function parseGrant(text: string, storageId: number): JournaledGrant {
  const raw = JSON.parse(text) as Record<string, unknown>;
  if (raw.format !== FORMAT) throw new Error(`unknown format ${String(raw.format)}`);
  if (raw.storageId !== storageId) throw new Error('storage id does not match the file name');
  const field = (key: string): string => {
    const value = raw[key];
    if (typeof value !== 'string' || value === '') throw new Error(`${key} missing`);
    return value;
  };
  const number = (key: string): number => {
    const value = raw[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${key} missing`);
    return value;
  };
  const technology = OAUTH_TECHNOLOGIES.find((t) => t === raw.technology);
  if (!technology) throw new Error('unknown technology');
  const superseded = Array.isArray(raw.supersededRefreshTokens) ? raw.supersededRefreshTokens.filter((t): t is string => typeof t === 'string' && t !== '') : [];
  return {
    storageId,
    uriSchema: field('uriSchema'),
    technology,
    client: field('client'),
    refreshToken: field('refreshToken'),
    supersededRefreshTokens: superseded,
    accessToken: field('accessToken'),
    tokenType: field('tokenType'),
    expiresAt: number('expiresAt'),
    issuedAt: number('issuedAt'),
    journaledAt: number('journaledAt'),
  };
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
