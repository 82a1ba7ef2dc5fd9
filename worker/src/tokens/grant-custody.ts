/**
 * Grant custody: every rotated refresh token reaches a durable home before it is used — the
 * local grant journal at once, the hub as soon as it answers — and no grant is lost to a crash
 * between the provider's answer and the hub's save (issue 9.1, DESIGN.md §4).
 *
 * - `keep`: journals a rotated grant; the broker calls it before it applies, pushes or hands
 *   out the new token.
 * - `save`: writes the record's tokens to the hub (`PUT /storages/{id}`, the whole row), after
 *   re-reading the row: the hub has no compare-and-set, so a grant we do not descend from (a
 *   re-authentication, grant-lineage.ts) wins and is adopted instead of overwritten. Once the
 *   hub holds a refresh token, its journal entry is removed. A failed save is retried with
 *   backoff (2 s doubling to 60 s, full jitter) until the hub has it, not only at the sweep.
 * - `recover`: on the first sight of a storage after a start, reconciles the grant a previous run
 *   journaled with the hub's row, before the broker can refresh anything: hub behind → ours is
 *   used and saved; same → dropped; another grant at the hub → the hub's wins, ours is dropped.
 *
 * When the journal cannot be written (ENOSPC, EACCES, EROFS), the rotated token is used anyway,
 * and that is said loudly. Refusing it would protect nothing: the token is in memory either
 * way, and with strict rotation the provider has already invalidated the refresh token the hub
 * holds, so the new one is the only way the storage's jobs can go on. What shortens the
 * memory-only window is the hub save, which the broker starts right after the refresh and which
 * is retried every few seconds until it lands.
 */
import type { Storage } from '../../../shared/hannibal.js';
import { errorMessage } from '../errors.js';
import { fingerprint } from '../log/fingerprint.js';
import type { Logger } from '../log/logger.js';
import { fullJitterDelay } from '../util/backoff.js';
import { Mutex } from '../util/mutex.js';
import { clientFingerprint, compareWithHub, type HeldGrant } from './grant-lineage.js';
import type { GrantJournal, JournaledGrant } from './grant-journal.js';
import { isoOrNone, withRecordTokens, type TokenRecord } from './token-record.js';

/** What the broker and its custody need from the hub. */
export interface TokenHub {
  storages(): Promise<Storage[]>;
  saveStorage(storage: Storage): Promise<Storage>;
}

/** A refresh's result, before it is applied to the record. */
export interface RefreshedGrant {
  accessToken: string;
  tokenType: string;
  refreshToken: string;
  supersededRefreshTokens: string[];
  issuedAt: number;
  expiresAt: number;
}

export interface GrantCustodyOptions {
  hub: TokenHub;
  journal: GrantJournal;
  logger: Logger;
  /** Whether the record is still the broker's record for its storage (not forgotten). */
  isCurrent(record: TokenRecord): boolean;
  /** Hands a hub row that holds another grant to the broker, which adopts it. */
  adopt(row: Storage): void;
  now: () => number;
  random: () => number;
  /** Backoff of failed hub saves; default 2 s doubling to 60 s. */
  retry?: { initialMs: number; maxMs: number };
}

interface SaveState {
  lock: Mutex;
  timer: NodeJS.Timeout | undefined;
  failures: number;
}

export class GrantCustody {
  private readonly log: Logger;
  private readonly saves = new Map<TokenRecord, SaveState>();
  private stopped = false;

  constructor(private readonly options: GrantCustodyOptions) {
    this.log = options.logger.child({ component: 'tokens' });
  }

  /**
   * Journals a rotated grant. Resolves true once it is on disk, false when the journal failed
   * (logged as an error: the grant lives only in memory until the hub stores it).
   */
  async keep(record: TokenRecord, next: RefreshedGrant): Promise<boolean> {
    const grant: JournaledGrant = {
      storageId: record.storage.id,
      uriSchema: record.storage.uriSchema,
      technology: record.technology,
      client: clientFingerprint(record.storage),
      refreshToken: next.refreshToken,
      supersededRefreshTokens: next.supersededRefreshTokens,
      accessToken: next.accessToken,
      tokenType: next.tokenType,
      expiresAt: next.expiresAt,
      issuedAt: next.issuedAt,
      journaledAt: this.options.now(),
    };
    try {
      await this.options.journal.write(grant);
      this.log.debug({ storage: grant.uriSchema, refreshFp: fingerprint(grant.refreshToken) }, 'rotated grant journaled');
      return true;
    } catch (err) {
      this.log.error(
        { storage: grant.uriSchema, storageId: grant.storageId, errno: (err as { errno?: string }).errno, reason: errorMessage(err), refreshFp: fingerprint(grant.refreshToken) },
        'could not journal a rotated refresh token: until the hub stores it, its only copy is in memory and a crash would lose the grant; using it and saving it to the hub now',
      );
      return false;
    }
  }

  /**
   * Takes the grant a previous run journaled for this storage, if any, and reconciles it with
   * the hub's row the record was just built from. Returns true when the journal's grant won:
   * the record now holds it and must be saved to the hub.
   */
  recover(record: TokenRecord): boolean {
    const grant = this.options.journal.takeRecovered(record.storage.id);
    if (!grant) return false;
    const verdict = compareWithHub(record.storage, journaledAsHeld(grant));
    const context = { storage: record.storage.uriSchema, storageId: record.storage.id, verdict, journaledAt: isoOrNone(grant.journaledAt), refreshFp: fingerprint(grant.refreshToken) };
    if (verdict === 'hub-behind') {
      Object.assign(record, {
        accessToken: grant.accessToken,
        tokenType: grant.tokenType,
        refreshToken: grant.refreshToken,
        supersededRefreshTokens: grant.supersededRefreshTokens,
        issuedAt: grant.issuedAt,
        expiresAt: grant.expiresAt,
        lifetimeKnown: true,
        unsaved: true,
      });
      this.log.warn({ ...context, hubRefreshFp: fingerprint(record.storage.refreshToken) }, 'recovered a rotated grant from the journal that the hub does not have; using it and saving it to the hub');
      return true;
    }
    if (verdict === 'same') {
      // The save had landed; only the journal's clean-up was lost. Keep the later access token.
      if (grant.expiresAt > record.expiresAt) Object.assign(record, { accessToken: grant.accessToken, tokenType: grant.tokenType, expiresAt: grant.expiresAt, issuedAt: grant.issuedAt, lifetimeKnown: true });
      this.log.info(context, 'the journaled grant is already at the hub; journal entry dropped');
    } else {
      this.log.warn(context, 'the hub holds other credentials than the journaled grant (changed while the worker was down); the hub wins, the journaled grant is dropped');
    }
    this.dropJournaled(record.storage.id, grant.refreshToken);
    return false;
  }

  /** Drops recovered grants nobody claimed: their storage is gone from the hub (or no longer OAuth). */
  settleUnclaimed(): void {
    for (const storageId of this.options.journal.unsettled()) {
      const grant = this.options.journal.takeRecovered(storageId);
      if (!grant) continue;
      this.log.warn({ storage: grant.uriSchema, storageId }, 'the hub no longer has an OAuth storage for a journaled grant; journal entry dropped');
      this.dropJournaled(storageId, grant.refreshToken);
    }
  }

  /**
   * Saves the record's tokens to the hub (the whole storage as Hannibal wants it), after
   * re-reading the row; retried with backoff until it lands.
   */
  save(record: TokenRecord): Promise<void> {
    const state = this.state(record);
    clearTimeout(state.timer);
    state.timer = undefined;
    return state.lock.runExclusive(async () => {
      if (!record.unsaved || !this.options.isCurrent(record) || this.stopped) return;
      try {
        const latest = (await this.options.hub.storages()).find((s) => s.id === record.storage.id);
        if (!latest) return; // deleted at the hub: the next reload forgets the storage
        if (compareWithHub(latest, recordAsHeld(record)) === 'other-grant') {
          this.log.warn({ storage: record.storage.uriSchema }, 'hub holds credentials we never had; adopting them instead of saving ours');
          this.options.adopt(latest);
          return;
        }
        const body = withRecordTokens(latest, record);
        const stored = await this.options.hub.saveStorage(body);
        record.storage = { ...stored };
        state.failures = 0;
        if (record.accessToken === body.accessToken) record.unsaved = false;
        this.log.info({ storage: record.storage.uriSchema, tokenFp: fingerprint(body.accessToken), refreshFp: fingerprint(body.refreshToken) }, 'token saved to the hub');
        if (body.refreshToken) this.dropJournaled(record.storage.id, body.refreshToken);
      } catch (err) {
        state.failures += 1;
        const retry = this.options.retry ?? { initialMs: 2000, maxMs: 60_000 };
        const delay = fullJitterDelay(state.failures, { ...retry, floorMs: retry.initialMs / 2 }, this.options.random);
        this.log.warn({ storage: record.storage.uriSchema, reason: errorMessage(err), failures: state.failures, retryInMs: delay }, 'could not save token to the hub; will retry');
        // stop() clears it; a save after stop() returns at once anyway.
        state.timer = setTimeout(() => {
          state.timer = undefined;
          void this.save(record);
        }, delay);
        state.timer.unref();
      }
    });
  }

  /** The record's grant was replaced by the hub's or its storage is gone: nothing of ours to keep. */
  release(record: TokenRecord): void {
    const state = this.saves.get(record);
    if (state) {
      clearTimeout(state.timer);
      state.timer = undefined;
      state.failures = 0;
    }
    this.dropJournaled(record.storage.id);
  }

  /** Forgets the record's save bookkeeping (the broker dropped the record). */
  detach(record: TokenRecord): void {
    clearTimeout(this.saves.get(record)?.timer);
    this.saves.delete(record);
  }

  stop(): void {
    this.stopped = true;
    for (const state of this.saves.values()) clearTimeout(state.timer);
  }

  private state(record: TokenRecord): SaveState {
    let state = this.saves.get(record);
    if (!state) {
      state = { lock: new Mutex(), timer: undefined, failures: 0 };
      this.saves.set(record, state);
    }
    return state;
  }

  private dropJournaled(storageId: number, refreshToken?: string): void {
    this.options.journal.remove(storageId, refreshToken).catch((err: unknown) => {
      // Harmless: at the next start the entry is found to be at the hub (or superseded) and dropped.
      this.log.warn({ storageId, reason: errorMessage(err) }, 'could not remove a grant journal entry');
    });
  }
}

/** The lineage facts of the grant a record holds. */
export function recordAsHeld(record: TokenRecord): HeldGrant {
  return {
    refreshToken: record.refreshToken,
    supersededRefreshTokens: record.supersededRefreshTokens,
    client: clientFingerprint(record.storage),
    technology: record.technology,
  };
}

function journaledAsHeld(grant: JournaledGrant): HeldGrant {
  return { refreshToken: grant.refreshToken, supersededRefreshTokens: grant.supersededRefreshTokens, client: grant.client, technology: grant.technology };
}

