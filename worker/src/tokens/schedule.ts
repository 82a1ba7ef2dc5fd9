/**
 * When to refresh an access token that a running rclone uses (DESIGN.md §4, rclone-lab.md Q5).
 *
 * rclone keeps using an access token until its expiry − 10 s (golang/oauth2's expiryDelta),
 * then re-reads the token from its config. The new token must be there before that switch
 * point, with a margin for the refresh itself. So refresh at the earlier of
 *   - 75 % of the lifetime, and
 *   - the switch point minus a margin of 15 % of the lifetime, at most `maxMarginMs` (60 s).
 * A 1 h token is refreshed after 45 min; a 20 s test token after 7 s (not 10 s: that would
 * leave nothing for the refresh round trip and lose the race).
 */

/** rclone stops using an access token this long before its expiry. */
export const RCLONE_SWITCH_BEFORE_EXPIRY_MS = 10_000;

const LIFETIME_FRACTION = 0.75;
const MARGIN_FRACTION = 0.15;
/**
 * Tokens shorter than ~12 s cannot be handed over before rclone's switch point at all; they are
 * still refreshed no earlier than a tenth of their life, so the worker never loops hot on them.
 */
const FLOOR_FRACTION = 0.1;

/** Whole milliseconds, rounded down: earlier is always on the safe side of both bounds. */
export function refreshAt(issuedAt: number, expiresAt: number, maxMarginMs: number): number {
  const lifetime = Math.max(0, expiresAt - issuedAt);
  const margin = Math.min(maxMarginMs, MARGIN_FRACTION * lifetime);
  const target = Math.min(issuedAt + LIFETIME_FRACTION * lifetime, expiresAt - RCLONE_SWITCH_BEFORE_EXPIRY_MS - margin);
  return Math.floor(Math.max(issuedAt + FLOOR_FRACTION * lifetime, target));
}

/** The moment rclone stops using this token. */
export function switchPoint(expiresAt: number): number {
  return expiresAt - RCLONE_SWITCH_BEFORE_EXPIRY_MS;
}
