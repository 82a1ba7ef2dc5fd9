/**
 * The one rule that says whose grant is newer when the hub's storage row and this worker
 * disagree. It decides what a hub row means when it arrives (`TokenBroker.adopt`), whether a
 * save may overwrite the row (`GrantCustody.save`), and what a grant recovered from the local
 * journal after a crash is worth (`GrantCustody.recover`).
 *
 * The hub has no version field or compare-and-set, and timestamps cannot stand in for one: the
 * hub's `updatedAt` changes on any edit (a renamed storage is not a newer grant), `expiresAt`
 * says nothing about which refresh token is alive, and the worker's clock is not the hub's.
 * What is sound is *lineage*: a refresh token we replaced by rotation is an ancestor of ours.
 *
 * - The hub holds our refresh token (and our client): **same** grant.
 * - The hub holds one of the refresh tokens we superseded: the hub is **behind** — nobody has
 *   written the row since our rotation (or only an echo of an older save of ours); ours wins.
 *   With strict rotation the hub's token is already dead at the provider.
 * - Anything else — a refresh token we never had, none at all, a different client — was written
 *   by someone else after we last agreed: a re-authentication in the hub UI, a changed client
 *   secret, another worker's rotation. That is **another** grant, and a human's or a peer's
 *   later act wins over ours, even when our refresh token was issued later: a re-authentication
 *   may have moved the storage to another account.
 */
import type { Storage } from '../../../shared/hannibal.js';
import { fingerprint } from '../log/fingerprint.js';

export type Lineage = 'same' | 'hub-behind' | 'other-grant';

/** What identifies the grant we hold. */
export interface HeldGrant {
  refreshToken: string | undefined;
  /** Refresh tokens we replaced by rotation, newest first. */
  supersededRefreshTokens: readonly string[];
  /** `clientFingerprint` of the client the grant was issued to. */
  client: string;
  /** Lower case, as the catalog normalises it. */
  technology: string;
}

/**
 * A non-reversible tag of the client a storage row names (id and secret), so a journal entry
 * can tell a changed client without storing the secret.
 */
export function clientFingerprint(row: Pick<Storage, 'clientId' | 'clientSecret'>): string {
  return fingerprint(`${row.clientId ?? ''}\u0000${row.clientSecret ?? ''}`);
}

export function compareWithHub(hub: Storage, held: HeldGrant): Lineage {
  const hubRefresh = hub.refreshToken === null || hub.refreshToken === undefined || hub.refreshToken === '' ? undefined : hub.refreshToken;
  if (clientFingerprint(hub) !== held.client || hub.technology.toLowerCase() !== held.technology) return 'other-grant';
  if (hubRefresh === held.refreshToken) return 'same';
  if (hubRefresh !== undefined && held.supersededRefreshTokens.includes(hubRefresh)) return 'hub-behind';
  return 'other-grant';
}
