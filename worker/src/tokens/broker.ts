/**
 * The token broker: the single owner of every OAuth2 grant the worker uses (DESIGN.md §4).
 *
 * rclone only ever receives `{access_token, token_type, expiry}` — never a refresh token — so it
 * cannot race the worker or rotate a refresh token behind the hub's back. The broker:
 *
 * - refreshes just in time before a job (`ensureFresh`), proactively while jobs run (a timer per
 *   leased storage, see schedule.ts), and in a periodic backup sweep (`sweep`);
 * - hands every new access token to the running rclone (`TokenSink.pushToken`) and saves it to
 *   the hub, keeping the old refresh token when the provider sends none; a rotated refresh token
 *   is journaled on disk before it is used, so a crash never loses it (grant-custody.ts);
 * - sends at most one token request per storage at a time (a per-storage mutex with a re-check,
 *   plus single-flight for callers that wait);
 * - retries transient failures with full-jitter backoff, honours Retry-After and keeps using a
 *   still-valid token meanwhile;
 * - opens a per-storage breaker on a permanent error: no further token request for that storage
 *   until the hub brings new credentials (`adopt`);
 * - keeps retrying a failed refresh in the background, leased or not, so a storage whose token
 *   endpoint was down at start recovers without waiting for a job or the sweep.
 */
import type { Storage } from '../../../shared/hannibal.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import type { OAuthProviderSettings, OAuthTechnology } from '../config/settings.js';
import { OAUTH_TECHNOLOGIES } from '../config/settings.js';
import { ReauthRequiredError, StorageError, TokenRefreshError, errorMessage } from '../errors.js';
import { fingerprint } from '../log/fingerprint.js';
import type { Logger } from '../log/logger.js';
import { NO_TOKEN_RECORDER, refreshCause, type TokenRecorder } from '../metrics/recorders.js';
import { fullJitterDelay } from '../util/backoff.js';
import { SingleFlight } from '../util/single-flight.js';
import { sleep } from '../util/sleep.js';
import type { FailureCategory, RefreshFailure, RefreshOutcome } from './classify.js';
import { GrantCustody, recordAsHeld, type RefreshedGrant, type TokenHub } from './grant-custody.js';
import { compareWithHub } from './grant-lineage.js';
import type { GrantJournal } from './grant-journal.js';
import { RCLONE_SWITCH_BEFORE_EXPIRY_MS, refreshAt, switchPoint } from './schedule.js';
import type { TokenEndpoint } from './token-endpoint.js';
import { isoOrNone, newTokenRecord, nonEmpty, parseExpiry, rcloneToken, supersede, withRecordTokens, type TokenRecord } from './token-record.js';

export type { TokenHub } from './grant-custody.js';

/** Hands a token to whatever runs the storage's remote (the rclone config). */
export interface TokenSink {
  /** Resolves false when there is nothing to push to (no rclone running now). */
  pushToken(uriSchema: string, token: RcloneToken): Promise<boolean>;
}

export interface TokenBrokerListener {
  /** A permanent error opened the storage's breaker. */
  reauthRequired?(storageId: number, reason: string): void;
  /** New credentials closed the breaker (or a grant arrived for a storage that had none). */
  reauthorized?(storageId: number): void;
}

export interface TokenBrokerOptions {
  endpoint: TokenEndpoint;
  hub: TokenHub;
  /** Where rotated refresh tokens are kept until the hub has them (grant-journal.ts). */
  journal: GrantJournal;
  sink: TokenSink;
  logger: Logger;
  providers: Record<OAuthTechnology, OAuthProviderSettings>;
  /** Just-in-time threshold: a job does not start on a token expiring sooner than this. */
  refreshThresholdMs: number;
  /** Largest margin before rclone's switch point (see schedule.ts). */
  refreshMarginMs: number;
  /**
   * Interval of the backup sweep. A sweep refreshes every token that would otherwise expire
   * within the threshold before the *next* sweep, so an idle storage never sits with a dead
   * token (when the provider's tokens outlive the interval). Default 0: the threshold alone.
   */
  sweepIntervalMs?: number;
  /** Backoff of transient failures (full jitter). Default 1 s doubling to 60 s. */
  retry?: { initialMs: number; maxMs: number };
  /** How long a caller that has no usable token waits for retries before giving up. */
  waitBudgetMs?: number;
  /** A forced refresh within this long of the last one only re-pushes the token. */
  forcedRefreshMinIntervalMs?: number;
  /** Refreshes and pushes, for the metrics. */
  recorder?: TokenRecorder;
  now?: () => number;
  random?: () => number;
}

export type AdoptResult =
  /** Not an OAuth storage: nothing to do here. */
  | 'not-oauth'
  /** Same grant and same (or older) token as ours. */
  | 'unchanged'
  /** The hub holds a token of ours that we already replaced (a save in flight, an echo). */
  | 'stale'
  /** Same grant, but the hub holds a later access token (another worker refreshed). */
  | 'newer-token'
  /** A different grant or client: re-authentication. Closes the breaker. */
  | 'new-grant';

/** A token counts as usable by rclone when it outlives the switch point by this much. */
const USABLE_SLACK_MS = 5_000;
const ASSUMED_LIFETIME_S = 3600;

export function isOAuthTechnology(technology: string): technology is OAuthTechnology {
  return (OAUTH_TECHNOLOGIES as readonly string[]).includes(technology);
}

export class TokenBroker {
  private readonly records = new Map<number, TokenRecord>();
  private readonly waits = new SingleFlight<number, RcloneToken>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly retry: { initialMs: number; maxMs: number };
  private readonly listeners: TokenBrokerListener[] = [];
  private readonly custody: GrantCustody;
  private readonly recorder: TokenRecorder;
  private stopped = false;

  constructor(private readonly options: TokenBrokerOptions) {
    this.log = options.logger.child({ component: 'tokens' });
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.retry = options.retry ?? { initialMs: 1000, maxMs: 60_000 };
    this.recorder = options.recorder ?? NO_TOKEN_RECORDER;
    this.custody = new GrantCustody({
      hub: options.hub,
      journal: options.journal,
      logger: options.logger,
      isCurrent: (record) => this.records.get(record.storage.id) === record,
      adopt: (row) => {
        this.adopt(row);
      },
      now: this.now,
      random: this.random,
    });
  }

  addListener(listener: TokenBrokerListener): void {
    this.listeners.push(listener);
  }

  /** Starts tracking an OAuth storage as the hub delivered it (first load). */
  track(storage: Storage): void {
    if (!isOAuthTechnology(storage.technology)) return;
    const existing = this.records.get(storage.id);
    if (existing) {
      this.adopt(storage);
      return;
    }
    const record = newTokenRecord(storage, storage.technology, this.now());
    // Before anything can refresh it: a grant a previous run journaled may be newer than the hub's.
    const recovered = this.custody.recover(record);
    this.records.set(storage.id, record);
    this.log.info(
      { storage: storage.uriSchema, storageId: storage.id, expiresAt: isoOrNone(record.expiresAt), tokenFp: fingerprint(record.accessToken), recovered },
      'tracking OAuth storage',
    );
    if (recovered) void this.custody.save(record);
  }

  /** After a full load from the hub: journaled grants of storages the hub no longer has are dropped. */
  settleJournal(): void {
    this.custody.settleUnclaimed();
  }

  /** Stops tracking a storage the hub no longer has. */
  forget(storageId: number): void {
    const record = this.records.get(storageId);
    if (!record) return;
    clearTimeout(record.timer);
    this.records.delete(storageId);
    this.custody.release(record);
    this.custody.detach(record);
  }

  isTracked(storageId: number): boolean {
    return this.records.has(storageId);
  }

  /** The breaker's reason when the storage needs re-authentication. */
  reauthReason(storageId: number): string | undefined {
    return this.records.get(storageId)?.breaker?.reason;
  }

  /** The token rclone should hold for this storage now (no refresh token, real expiry). */
  currentToken(storageId: number): RcloneToken | undefined {
    const record = this.records.get(storageId);
    return record?.accessToken ? rcloneToken(record) : undefined;
  }

  /**
   * A token valid for at least `minValidityMs` (default: the just-in-time threshold). Refreshes
   * when needed; concurrent callers share one refresh. When the refresh fails transiently but
   * the current token is still usable, returns it and keeps retrying in the background.
   * `waitBudgetMs` bounds how long a caller without a usable token waits for retries (0: one
   * attempt); the default is the broker's.
   */
  async ensureFresh(storageId: number, minValidityMs = this.options.refreshThresholdMs, waitBudgetMs?: number): Promise<RcloneToken> {
    return this.freshFor(storageId, minValidityMs, 'just-in-time', waitBudgetMs);
  }

  /** `ensureFresh` with the cause named (the sweep's refreshes are counted as `sweep`). */
  private async freshFor(storageId: number, minValidityMs: number, reason: string, waitBudgetMs?: number): Promise<RcloneToken> {
    const record = this.record(storageId);
    this.assertClosed(record);
    const required = this.attainableValidity(record, minValidityMs);
    if (record.accessToken && record.expiresAt - this.now() >= required) return rcloneToken(record);
    return this.waits.run(storageId, () => this.refreshAndWait(record, required, reason, waitBudgetMs));
  }

  /**
   * A token cannot be asked to outlive its own lifetime: with 20 s tokens a 15 min threshold
   * would refresh on every call, and each refresh's hub save echoes back as another event. The
   * requirement is capped at half the lifetime of the tokens this provider issues (known once
   * we refreshed one), but never below "usable by rclone".
   */
  private attainableValidity(record: TokenRecord, minValidityMs: number): number {
    const lifetime = record.expiresAt - record.issuedAt;
    if (!record.lifetimeKnown || lifetime <= 0) return minValidityMs;
    return Math.min(minValidityMs, Math.max(lifetime / 2, RCLONE_SWITCH_BEFORE_EXPIRY_MS + USABLE_SLACK_MS));
  }

  /**
   * Safety net after rclone reported an auth failure for this storage: obtain a new token and
   * push it, unless we refreshed moments ago (then only push again).
   */
  async forceRefresh(storageId: number, cause: string): Promise<RcloneToken> {
    const record = this.record(storageId);
    this.assertClosed(record);
    const minInterval = this.options.forcedRefreshMinIntervalMs ?? 30_000;
    if (record.accessToken && this.now() - record.lastRefreshAt < minInterval && this.usable(record)) {
      this.log.info({ storage: record.storage.uriSchema, cause }, 'token was refreshed moments ago; pushing it again');
      await this.push(record);
      return rcloneToken(record);
    }
    return this.waits.run(storageId, () => this.refreshAndWait(record, Number.POSITIVE_INFINITY, `forced: ${cause}`));
  }

  /** A running job uses this storage: keep its token fresh proactively until released. */
  lease(storageId: number): () => void {
    const record = this.records.get(storageId);
    if (!record) return () => undefined;
    record.leases += 1;
    this.schedule(record);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      record.leases -= 1;
      if (record.leases === 0) {
        clearTimeout(record.timer);
        record.timer = undefined;
      }
    };
  }

  /**
   * Backup sweep over every OAuth storage, used or not: refresh each token that expires within
   * the threshold before the next sweep, and retry hub saves that failed.
   */
  async sweep(): Promise<void> {
    const horizon = this.options.refreshThresholdMs + (this.options.sweepIntervalMs ?? 0);
    const due = [...this.records.values()].filter(
      (r) => !r.breaker && r.refreshToken && (!r.accessToken || r.expiresAt - this.now() < horizon),
    );
    const unsaved = [...this.records.values()].filter((r) => r.unsaved && !due.includes(r));
    this.log.debug({ due: due.length, unsaved: unsaved.length }, 'token sweep');
    await Promise.all([
      ...due.map((r) =>
        this.freshFor(r.storage.id, horizon, 'sweep').catch((err: unknown) => {
          this.log.warn({ storage: r.storage.uriSchema, reason: errorMessage(err) }, 'sweep could not refresh token');
        }),
      ),
      ...unsaved.map((r) => this.custody.save(r)),
    ]);
  }

  /**
   * Takes in a storage row fetched from the hub (re-authentication or any reload) and decides
   * what it means for the grant we hold. A new grant closes the breaker and is pushed.
   */
  adopt(storage: Storage): AdoptResult {
    if (!isOAuthTechnology(storage.technology)) return 'not-oauth';
    const record = this.records.get(storage.id);
    if (!record) {
      this.track(storage);
      return 'new-grant';
    }
    const hubAccess = nonEmpty(storage.accessToken);
    const hubExpiry = parseExpiry(storage.expiresAt);

    let result: AdoptResult;
    if (compareWithHub(storage, recordAsHeld(record)) === 'other-grant') {
      result = 'new-grant';
    } else if (hubAccess === record.accessToken) {
      result = 'unchanged';
    } else if (hubAccess && hubExpiry > record.expiresAt) {
      result = 'newer-token';
    } else {
      result = 'stale';
    }

    const context = { storage: storage.uriSchema, storageId: storage.id, decision: result };
    if (result === 'new-grant') {
      const fresh = newTokenRecord(storage, storage.technology as OAuthTechnology, this.now());
      const wasOpen = record.breaker !== undefined;
      // The hub's grant wins; one we journaled and never saved is abandoned with the old one.
      this.custody.release(record);
      Object.assign(record, {
        storage,
        technology: fresh.technology,
        accessToken: fresh.accessToken,
        refreshToken: fresh.refreshToken,
        tokenType: fresh.tokenType,
        expiresAt: fresh.expiresAt,
        issuedAt: fresh.issuedAt,
        lifetimeKnown: false,
        supersededRefreshTokens: [],
        breaker: undefined,
        failures: 0,
        retryAt: undefined,
        lastFailure: undefined,
        grant: record.grant + 1,
        unsaved: false,
      });
      this.log.info(
        { ...context, tokenFp: fingerprint(record.accessToken), expiresAt: isoOrNone(record.expiresAt), breakerWasOpen: wasOpen },
        'adopted new credentials from the hub',
      );
      this.schedule(record);
      if (this.usable(record)) void this.push(record);
      if (wasOpen) for (const l of this.listeners) l.reauthorized?.(storage.id);
    } else if (result === 'newer-token') {
      record.storage = storage;
      record.accessToken = hubAccess;
      record.expiresAt = hubExpiry;
      record.issuedAt = Math.min(this.now(), hubExpiry);
      record.lifetimeKnown = false;
      this.log.info({ ...context, tokenFp: fingerprint(hubAccess) }, 'adopted a later access token from the hub');
      this.schedule(record);
      // The schedule now follows this token's expiry: rclone must hold it, not the earlier one.
      if (this.usable(record)) void this.push(record);
    } else {
      // Keep our tokens; take the row's other fields so later saves do not undo hub edits.
      record.storage = withRecordTokens(storage, record);
      this.log.debug(context, 'hub storage matches the grant in use');
    }
    return result;
  }

  stop(): void {
    this.stopped = true;
    this.custody.stop();
    for (const record of this.records.values()) clearTimeout(record.timer);
  }

  // ----------------------------------------------------------------------------------------

  private record(storageId: number): TokenRecord {
    const record = this.records.get(storageId);
    if (!record) throw new StorageError(`storage ${storageId} is not an OAuth storage known to the token broker`, undefined);
    return record;
  }

  private assertClosed(record: TokenRecord): void {
    if (record.breaker) {
      throw new ReauthRequiredError(
        record.storage.id,
        `storage ${record.storage.uriSchema} needs re-authentication: ${record.breaker.reason}`,
      );
    }
  }

  private usable(record: TokenRecord): boolean {
    return record.accessToken !== undefined && switchPoint(record.expiresAt) - this.now() > USABLE_SLACK_MS;
  }

  /**
   * Retries until the token is valid for `minValidityMs`, the token is usable, or the budget ends.
   * No request goes out before `record.retryAt`, whichever caller's failure set it: a job start
   * during a Retry-After gets the still-usable token, or waits.
   */
  private async refreshAndWait(record: TokenRecord, minValidityMs: number, reason: string, waitBudgetMs = this.options.waitBudgetMs ?? 60_000): Promise<RcloneToken> {
    const deadline = this.now() + waitBudgetMs;
    const startedAt = this.now();
    const validEnough = (): boolean => record.accessToken !== undefined && record.expiresAt - this.now() >= minValidityMs;
    for (;;) {
      const holdMs = (record.retryAt ?? 0) - this.now();
      if (holdMs > 0) {
        if (this.usable(record) && Number.isFinite(minValidityMs)) return rcloneToken(record);
        if (this.now() + holdMs > deadline || this.stopped) {
          const failure = record.lastFailure;
          throw new TokenRefreshError(
            record.storage.id,
            `token refresh for ${record.storage.uriSchema} keeps failing: ${failure?.reason ?? 'the token endpoint asked to wait'}`,
            { permanent: false, oauthError: failure?.oauthError, httpStatus: failure?.httpStatus, retryAfterSeconds: failure?.retryAfterSeconds },
          );
        }
        await sleep(holdMs);
        this.assertClosed(record);
      }
      // Under the lock: skip the request when another caller refreshed since we started, or
      // failed and set a new retry time meanwhile.
      const outcome = await this.attempt(
        record,
        reason,
        () => !(validEnough() && record.lastRefreshAt >= startedAt) && !((record.retryAt ?? 0) > this.now()),
      );
      if (outcome.ok) {
        if (!('skipped' in outcome) || validEnough()) return rcloneToken(record);
        continue;
      }
      if (outcome.permanent) throw this.permanentError(record, outcome.reason, outcome);
    }
  }

  /**
   * One token request, under the storage's lock. `needed` is re-checked after the lock is
   * taken: when another caller refreshed meanwhile, no request is sent.
   */
  private attempt(record: TokenRecord, reason: string, needed: () => boolean): Promise<RefreshOutcome | { ok: true; skipped: true }> {
    return record.lock.runExclusive(async () => {
      if (record.breaker) {
        return { ok: false, permanent: true, category: record.breaker.category, reason: record.breaker.reason, oauthError: undefined, httpStatus: undefined, retryAfterSeconds: undefined } as const;
      }
      if (!needed()) return { ok: true, skipped: true } as const;
      const refreshToken = record.refreshToken;
      if (!refreshToken) {
        const failure = { ok: false, permanent: true, category: 'reauth', reason: 're-authentication needed: the storage has no refresh token', oauthError: undefined, httpStatus: undefined, retryAfterSeconds: undefined } as const;
        this.openBreaker(record, failure.reason, failure.category);
        return failure;
      }
      const provider = this.options.providers[record.technology];
      const grant = record.grant;
      const sentAt = this.now();
      const outcome = await this.options.endpoint.refresh({
        tokenUrl: provider.tokenUrl,
        refreshToken,
        clientId: nonEmpty(record.storage.clientId) ?? provider.clientId,
        clientSecret: nonEmpty(record.storage.clientSecret) ?? provider.clientSecret,
        scope: provider.scope,
      });
      const latencyMs = this.now() - sentAt;
      this.recorder.refreshed({ technology: record.technology, cause: refreshCause(reason), result: outcome.ok ? 'ok' : outcome.category, durationSeconds: latencyMs / 1000 });
      const context = { storage: record.storage.uriSchema, storageId: record.storage.id, reason, latencyMs };
      if (record.grant !== grant) {
        // The hub brought new credentials while the request was out: its answer is about a grant
        // we no longer hold (an invalid_grant must not open the breaker on the new one).
        this.log.info({ ...context, classification: outcome.ok ? 'ok' : outcome.category }, 'credentials changed during the token request; its answer is discarded');
        return { ok: true, skipped: true } as const;
      }
      if (!outcome.ok) {
        if (outcome.permanent) this.openBreaker(record, outcome.reason, outcome.category);
        else {
          this.noteFailure(record, outcome);
          this.log.warn(
            { ...context, classification: 'transient', cause: outcome.reason, httpStatus: outcome.httpStatus, oauthError: outcome.oauthError, retryAfterSeconds: outcome.retryAfterSeconds, failures: record.failures, retryInMs: (record.retryAt ?? 0) - this.now(), validForMs: switchPoint(record.expiresAt) - this.now() },
            'token refresh failed',
          );
        }
        return outcome;
      }
      const expiresIn = outcome.expiresIn ?? ASSUMED_LIFETIME_S;
      if (outcome.expiresIn === undefined) this.log.warn(context, `token endpoint sent no expires_in; assuming ${ASSUMED_LIFETIME_S} s`);
      const rotatedTo = outcome.refreshToken !== refreshToken ? outcome.refreshToken : undefined;
      const rotated = rotatedTo !== undefined;
      const next: RefreshedGrant = {
        accessToken: outcome.accessToken,
        tokenType: outcome.tokenType,
        refreshToken: rotatedTo ?? refreshToken,
        supersededRefreshTokens: rotated ? supersede(record, refreshToken) : record.supersededRefreshTokens,
        issuedAt: sentAt,
        expiresAt: sentAt + expiresIn * 1000,
      };
      // A rotated refresh token is a grant the hub does not have yet: on disk before any use.
      const journaled = rotated ? await this.custody.keep(record, next) : undefined;
      if (record.grant !== grant) {
        // New credentials arrived while it was written; their adoption dropped the entry.
        this.log.info(context, 'credentials changed during the token request; its answer is discarded');
        return { ok: true, skipped: true } as const;
      }
      Object.assign(record, next);
      record.lifetimeKnown = true;
      record.lastRefreshAt = this.now();
      record.failures = 0;
      record.retryAt = undefined;
      record.lastFailure = undefined;
      record.unsaved = true;
      this.log.info(
        { ...context, classification: 'ok', tokenFp: fingerprint(record.accessToken), expiresAt: isoOrNone(record.expiresAt), lifetimeS: expiresIn, rotated, journaled },
        'token refreshed',
      );
      this.schedule(record);
      await this.push(record);
      void this.custody.save(record);
      return outcome;
    });
  }

  private openBreaker(record: TokenRecord, reason: string, category: FailureCategory): void {
    record.breaker = { reason, category, openedAt: this.now() };
    clearTimeout(record.timer);
    record.timer = undefined;
    this.log.error(
      { storage: record.storage.uriSchema, storageId: record.storage.id, classification: category },
      `${reason}; no further token requests for this storage until the hub brings new credentials`,
    );
    for (const l of this.listeners) l.reauthRequired?.(record.storage.id, reason);
  }

  private permanentError(record: TokenRecord, reason: string, outcome: { oauthError?: string | undefined; httpStatus?: number | undefined }): Error {
    return new TokenRefreshError(record.storage.id, `storage ${record.storage.uriSchema}: ${reason}`, {
      permanent: true,
      oauthError: outcome.oauthError,
      httpStatus: outcome.httpStatus,
    });
  }

  private backoff(attempt: number, retryAfterSeconds: number | undefined): number {
    const jitter = fullJitterDelay(attempt, { ...this.retry, floorMs: this.retry.initialMs / 2 }, this.random);
    return Math.max(jitter, (retryAfterSeconds ?? 0) * 1000);
  }

  /** A transient failure: no request before the backoff (or Retry-After) has passed. */
  private noteFailure(record: TokenRecord, failure: RefreshFailure): void {
    record.failures += 1;
    record.lastFailure = failure;
    record.retryAt = this.now() + this.backoff(record.failures, failure.retryAfterSeconds);
    this.schedule(record);
  }

  /**
   * Arms the storage's timer: the next proactive refresh of a leased storage, or the next retry
   * of a failed refresh, leased or not.
   */
  private schedule(record: TokenRecord): void {
    clearTimeout(record.timer);
    record.timer = undefined;
    const retrying = record.retryAt !== undefined;
    if (this.stopped || (record.leases === 0 && !retrying) || record.breaker || !record.refreshToken) return;
    const at = this.dueAt(record);
    record.timer = setTimeout(() => {
      record.timer = undefined;
      void this.backgroundRefresh(record);
    }, Math.max(0, at - this.now()));
    record.timer.unref();
  }

  /** When the proactive timer should next refresh (or retry) this storage's token. */
  private dueAt(record: TokenRecord): number {
    return record.retryAt ?? refreshAt(record.issuedAt, record.expiresAt, this.options.refreshMarginMs);
  }

  private async backgroundRefresh(record: TokenRecord): Promise<void> {
    const reason = record.failures > 0 ? `${record.leases > 0 ? 'proactive' : 'background'} retry ${record.failures}` : 'proactive';
    // Re-checked under the lock: a just-in-time refresh may have renewed the token meanwhile.
    const outcome = await this.attempt(record, reason, () => this.records.get(record.storage.id) === record && this.now() >= this.dueAt(record));
    if (outcome.ok) {
      if ('skipped' in outcome) this.schedule(record);
      return;
    }
    if (outcome.permanent || record.leases === 0) return;
    const untilSwitch = switchPoint(record.expiresAt) - this.now();
    const context = { storage: record.storage.uriSchema, failures: record.failures, retryInMs: (record.retryAt ?? 0) - this.now(), validForMs: untilSwitch };
    if (untilSwitch <= 0) this.log.error(context, 'rclone has no valid token for this storage any more; jobs on it will fail and be re-run once a refresh succeeds');
    else if (record.retryAt !== undefined && record.retryAt > switchPoint(record.expiresAt)) this.log.error(context, 'token refresh keeps failing and the next retry comes after rclone stops using the current token');
  }

  private async push(record: TokenRecord): Promise<void> {
    if (!record.accessToken) return;
    const started = this.now();
    const pushed = (result: 'pushed' | 'no-rclone' | 'failed') => {
      this.recorder.pushed({ technology: record.technology, result, replacedExpiresAt: record.pushedExpiresAt, at: this.now(), inUse: record.leases > 0 });
      if (result === 'pushed') record.pushedExpiresAt = record.expiresAt;
    };
    try {
      if (!(await this.options.sink.pushToken(record.storage.uriSchema, rcloneToken(record)))) {
        pushed('no-rclone');
        this.log.debug({ storage: record.storage.uriSchema }, 'rclone not running; its remote gets the token when it starts');
        return;
      }
      pushed('pushed');
      this.log.info(
        { storage: record.storage.uriSchema, tokenFp: fingerprint(record.accessToken), expiresAt: isoOrNone(record.expiresAt), latencyMs: this.now() - started },
        'token pushed to rclone',
      );
    } catch (err) {
      pushed('failed');
      this.log.warn({ storage: record.storage.uriSchema, reason: errorMessage(err) }, 'could not push token to rclone; the remote gets it when it is next (re)created');
    }
  }
}
