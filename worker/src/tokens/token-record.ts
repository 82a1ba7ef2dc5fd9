/**
 * What the token broker knows about one OAuth storage's grant, and the small pure helpers that
 * turn it into what rclone and the hub receive. Kept apart from the broker so the parts that
 * handle a record (broker, grant custody) share one definition.
 */
import type { Storage } from '../../../shared/hannibal.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import type { OAuthTechnology } from '../config/settings.js';
import { Mutex } from '../util/mutex.js';
import type { FailureCategory, RefreshFailure } from './classify.js';

export interface Breaker {
  reason: string;
  category: FailureCategory;
  openedAt: number;
}

export interface TokenRecord {
  storage: Storage;
  technology: OAuthTechnology;
  accessToken: string | undefined;
  refreshToken: string | undefined;
  tokenType: string;
  /** Epoch ms; 0 when unknown. */
  expiresAt: number;
  issuedAt: number;
  /** True when `issuedAt` is the real issue time (we refreshed it), not "when we first saw it". */
  lifetimeKnown: boolean;
  /** Refresh tokens this worker replaced by rotation, newest first: if the hub shows one, it is behind. */
  supersededRefreshTokens: string[];
  breaker: Breaker | undefined;
  leases: number;
  timer: NodeJS.Timeout | undefined;
  /** Consecutive transient failures, whoever sent the request; drives the backoff. */
  failures: number;
  /** No token request before this (Retry-After or backoff of the last failure). */
  retryAt: number | undefined;
  lastFailure: RefreshFailure | undefined;
  /** Bumped by every adopted new grant: an answer to a request sent before it is discarded. */
  grant: number;
  lastRefreshAt: number;
  /** The hub has not yet confirmed our latest token. */
  unsaved: boolean;
  /** Expiry of the token last pushed to rclone (what rclone holds); 0 before the first push. */
  pushedExpiresAt: number;
  lock: Mutex;
}

/** How many superseded refresh tokens a record (and a journal entry) remembers. */
export const MAX_SUPERSEDED = 8;

/** The refresh-token lineage after a refresh that replaced `previous` by rotation, newest first. */
export function supersede(record: TokenRecord, previous: string): string[] {
  return [previous, ...record.supersededRefreshTokens.filter((t) => t !== previous)].slice(0, MAX_SUPERSEDED);
}

/** A record for a storage row as the hub delivered it. */
export function newTokenRecord(storage: Storage, technology: OAuthTechnology, now: number): TokenRecord {
  const expiresAt = parseExpiry(storage.expiresAt);
  return {
    storage,
    technology,
    accessToken: nonEmpty(storage.accessToken),
    refreshToken: nonEmpty(storage.refreshToken),
    tokenType: 'Bearer',
    expiresAt,
    // The hub does not say when a token was issued; count its lifetime from now.
    issuedAt: Math.min(now, expiresAt),
    lifetimeKnown: false,
    supersededRefreshTokens: [],
    breaker: undefined,
    leases: 0,
    timer: undefined,
    failures: 0,
    retryAt: undefined,
    lastFailure: undefined,
    grant: 0,
    lastRefreshAt: 0,
    unsaved: false,
    pushedExpiresAt: 0,
    lock: new Mutex(),
  };
}

/** What rclone gets: the access token and its real expiry, never the refresh token. */
export function rcloneToken(record: TokenRecord): RcloneToken {
  return {
    access_token: record.accessToken ?? '',
    token_type: record.tokenType,
    expiry: new Date(record.expiresAt).toISOString(),
  };
}

/** The hub row `row` carrying the record's tokens (Hannibal replaces the whole storage on a save). */
export function withRecordTokens(row: Storage, record: TokenRecord): Storage {
  return { ...row, accessToken: record.accessToken ?? null, refreshToken: record.refreshToken ?? null, expiresAt: isoOrNull(record.expiresAt) };
}

export function nonEmpty(value: string | null | undefined): string | undefined {
  return value === null || value === undefined || value === '' ? undefined : value;
}

export function parseExpiry(value: string | null | undefined): number {
  if (!value) return 0;
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : at;
}

export function isoOrNone(epochMs: number): string {
  return epochMs > 0 ? new Date(epochMs).toISOString() : 'none';
}

export function isoOrNull(epochMs: number): string | null {
  return epochMs > 0 ? new Date(epochMs).toISOString() : null;
}
