import { describe, expect, it } from 'vitest';
import { RCLONE_SWITCH_BEFORE_EXPIRY_MS, refreshAt, switchPoint } from '../../src/tokens/schedule.js';

const ISSUED = Date.parse('2026-03-02T09:30:00Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** The production margin cap (settings: refreshMarginSeconds = 60). */
const MAX_MARGIN = 60 * SECOND;

describe('refreshAt', () => {
  it('refreshes a 20 s token 7 s after issue, not 10 s', () => {
    expect(refreshAt(ISSUED, ISSUED + 20 * SECOND, MAX_MARGIN) - ISSUED).toBe(7 * SECOND);
  });

  it('refreshes a 1 h token after 45 min', () => {
    expect(refreshAt(ISSUED, ISSUED + HOUR, MAX_MARGIN) - ISSUED).toBe(45 * MINUTE);
  });

  it('refreshes a 5 min token after 3 min 45 s (75 % of its lifetime)', () => {
    expect(refreshAt(ISSUED, ISSUED + 5 * MINUTE, MAX_MARGIN) - ISSUED).toBe(225 * SECOND);
  });

  it('lets the margin cap decide once 75 % of a lifetime comes too close to the switch point', () => {
    // 75 % of 60 s would be 45 s, which is after the switch point minus a 15 % margin (41 s).
    expect(refreshAt(ISSUED, ISSUED + MINUTE, MAX_MARGIN) - ISSUED).toBe(41 * SECOND);
    // A smaller cap keeps less margin: 4 h − 10 s − 10 s is later than 75 % of 4 h, so 75 % wins.
    expect(refreshAt(ISSUED, ISSUED + 4 * HOUR, 10 * SECOND) - ISSUED).toBe(3 * HOUR);
  });

  it('refreshes as early as allowed when the token is born past its switch point, but never in a hot loop', () => {
    // A 5 s token cannot be handed over before rclone's switch point (expiry − 10 s); refreshing
    // at once would loop on every new token, so it waits a tenth of its life.
    const expiresAt = ISSUED + 5 * SECOND;
    expect(refreshAt(ISSUED, expiresAt, MAX_MARGIN)).toBe(ISSUED + 500);
    expect(refreshAt(ISSUED, ISSUED, MAX_MARGIN)).toBe(ISSUED);
  });

  it('lands before the switch point by at least the margin, and never later than 75 % of the lifetime, for 15 s … 24 h', () => {
    const lifetimes: number[] = [];
    // Dense around the short test tokens (odd milliseconds included), then geometric up to a day.
    for (let ms = 15 * SECOND; ms <= 2 * MINUTE; ms += 997) lifetimes.push(ms);
    for (let ms = 2 * MINUTE; ms <= 24 * HOUR; ms = Math.round(ms * 1.07) + 1) lifetimes.push(ms);
    lifetimes.push(20 * SECOND, HOUR, 14_400 * SECOND, 3599 * SECOND, 24 * HOUR);

    for (const lifetime of lifetimes) {
      const expiresAt = ISSUED + lifetime;
      const at = refreshAt(ISSUED, expiresAt, MAX_MARGIN);
      const margin = Math.min(MAX_MARGIN, 0.15 * lifetime);
      const context = `lifetime ${lifetime} ms, refresh at +${at - ISSUED} ms`;
      expect(Number.isInteger(at), context).toBe(true);
      expect(at, context).toBeGreaterThan(ISSUED);
      expect(switchPoint(expiresAt) - at, context).toBeGreaterThanOrEqual(margin);
      expect(at - ISSUED, context).toBeLessThanOrEqual(0.75 * lifetime);
      // Not needlessly early either: one of the two bounds is met (to the millisecond).
      const latest = Math.min(ISSUED + 0.75 * lifetime, switchPoint(expiresAt) - margin);
      expect(latest - at, context).toBeLessThan(1);
    }
  });
});

describe('switchPoint', () => {
  it('is 10 s before expiry, as golang/oauth2 expiryDelta in rclone 1.60', () => {
    expect(RCLONE_SWITCH_BEFORE_EXPIRY_MS).toBe(10 * SECOND);
    expect(switchPoint(ISSUED + 20 * SECOND)).toBe(ISSUED + 10 * SECOND);
  });
});
