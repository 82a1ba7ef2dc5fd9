/**
 * Token metrics: refreshes by cause and result, pushes to rclone and how early they came, and
 * the breakers (storages waiting for re-authentication).
 *
 * The push lead is the one figure that says whether token hand-over works: rclone keeps using
 * an access token until its expiry − 10 s (tokens/schedule.ts), so a push must land before the
 * switch point of the token it replaces. A lead ≤ 0 on a storage in use means a job may have
 * met an expired token.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { switchPoint } from '../tokens/schedule.js';
import { LabelGuard } from './label-guard.js';
import { METRIC_PREFIX } from './names.js';
import type { TokenRecorder } from './recorders.js';

export interface TokenSources {
  /** Every OAuth storage the broker tracks, with whether its breaker is open. */
  breakers(): readonly { storage: string; technology: string; open: boolean }[];
}

/** Storages are a user's, so their number is small; the guard only stops a runaway. */
const MAX_STORAGE_LABELS = 200;
/**
 * Seconds. Negative: too late. Test tokens (20 s) land around 3 s, 1 h tokens around 890 s
 * (refreshed after 45 min, 15 min before expiry).
 */
const LEAD_BUCKETS = [-60, -10, 0, 1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600];
const REFRESH_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createTokenMetrics(registry: Registry, sources: TokenSources): TokenRecorder {
  const registers = [registry];
  const storages = new LabelGuard(MAX_STORAGE_LABELS);
  const refreshes = new Counter({
    name: `${METRIC_PREFIX}token_refreshes_total`,
    help: 'Token requests to the provider, by technology, cause (just-in-time, proactive, background, forced, sweep) and result (ok, transient, reauth, client-config).',
    labelNames: ['technology', 'cause', 'result'],
    registers,
  });
  const refreshDuration = new Histogram({
    name: `${METRIC_PREFIX}token_refresh_duration_seconds`,
    help: 'Duration of token requests to the provider.',
    labelNames: ['technology'],
    buckets: REFRESH_BUCKETS,
    registers,
  });
  const pushes = new Counter({
    name: `${METRIC_PREFIX}token_pushes_total`,
    help: 'Access tokens handed to rclone (config/update), by technology and result (pushed, no-rclone, failed).',
    labelNames: ['technology', 'result'],
    registers,
  });
  const lead = new Histogram({
    name: `${METRIC_PREFIX}token_push_lead_seconds`,
    help: "Time from a token push to the switch point (expiry − 10 s) of the token rclone held before; ≤ 0 is late. in_use: a running job held the storage.",
    labelNames: ['technology', 'in_use'],
    buckets: LEAD_BUCKETS,
    registers,
  });
  const openings = new Counter({
    name: `${METRIC_PREFIX}token_breaker_openings_total`,
    help: 'Permanent token errors that opened a storage breaker (re-authentication needed), by technology.',
    labelNames: ['technology'],
    registers,
  });
  new Gauge({
    name: `${METRIC_PREFIX}token_breaker_open`,
    help: 'Per OAuth storage: 1 while its breaker is open (no token requests until the user re-authenticates it in the hub), else 0.',
    labelNames: ['storage', 'technology'],
    registers,
    collect() {
      // Rebuilt on every scrape, so a storage the hub removed disappears.
      this.reset();
      for (const b of sources.breakers()) this.set({ storage: storages.value(b.storage), technology: b.technology }, b.open ? 1 : 0);
    },
  });

  return {
    refreshed({ technology, cause, result, durationSeconds }) {
      refreshes.inc({ technology, cause, result });
      refreshDuration.observe({ technology }, durationSeconds);
    },
    pushed({ technology, result, replacedExpiresAt, at, inUse }) {
      pushes.inc({ technology, result });
      if (result !== 'pushed' || replacedExpiresAt <= 0) return;
      lead.observe({ technology, in_use: String(inUse) }, (switchPoint(replacedExpiresAt) - at) / 1000);
    },
    breakerOpened(technology) {
      openings.inc({ technology });
    },
  };
}
