/**
 * The part of the token broker the storage catalog uses, for catalog and re-authentication
 * tests. It tracks OAuth storages as the real broker does (the first `adopt` of a storage is a
 * new grant), lets a test script later adopt results, and hands out the token it holds — a new
 * `fresh-<id>-<n>` one when it holds none — or a scripted failure.
 */
import type { Storage } from '../../../shared/hannibal.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import { isOAuthTechnology, type AdoptResult, type TokenBroker } from '../../src/tokens/broker.js';

export class FakeTokenBroker implements Pick<TokenBroker, 'adopt' | 'forget' | 'ensureFresh' | 'currentToken' | 'settleJournal'> {
  readonly tracked = new Set<number>();
  readonly adopted: { id: number; result: AdoptResult }[] = [];
  readonly ensureFreshCalls: { id: number; minValidityMs: number | undefined; waitBudgetMs: number | undefined }[] = [];
  /** `ensureFresh` of these storages waits until the test resolves the promise (a hung token endpoint). */
  readonly holds = new Map<number, Promise<void>>();
  /** Calls of `ensureFresh` in progress now, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** The result of the next `adopt` of a tracked storage (default `unchanged`). */
  readonly nextAdopt = new Map<number, AdoptResult>();
  /** `ensureFresh` of these storages throws. */
  readonly failures = new Map<number, Error>();
  /** The token held per storage. */
  readonly current = new Map<number, RcloneToken>();
  /** How often the catalog asked to settle the grant journal (after each full load). */
  journalSettled = 0;
  private issued = 0;

  adopt(storage: Storage): AdoptResult {
    let result: AdoptResult;
    if (!isOAuthTechnology(storage.technology)) result = 'not-oauth';
    else if (!this.tracked.has(storage.id)) {
      this.tracked.add(storage.id);
      result = 'new-grant';
    } else {
      result = this.nextAdopt.get(storage.id) ?? 'unchanged';
      this.nextAdopt.delete(storage.id);
    }
    this.adopted.push({ id: storage.id, result });
    return result;
  }

  forget(storageId: number): void {
    this.tracked.delete(storageId);
  }

  async ensureFresh(storageId: number, minValidityMs?: number, waitBudgetMs?: number): Promise<RcloneToken> {
    this.ensureFreshCalls.push({ id: storageId, minValidityMs, waitBudgetMs });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.holds.get(storageId);
    } finally {
      this.inFlight -= 1;
    }
    const failure = this.failures.get(storageId);
    if (failure) throw failure;
    const held = this.current.get(storageId);
    if (held) return held;
    this.issued += 1;
    const token = { access_token: `fresh-${storageId}-${this.issued}`, token_type: 'Bearer', expiry: '2026-03-02T10:00:00.000Z' };
    this.current.set(storageId, token);
    return token;
  }

  currentToken(storageId: number): RcloneToken | undefined {
    return this.current.get(storageId);
  }

  settleJournal(): void {
    this.journalSettled += 1;
  }
}
