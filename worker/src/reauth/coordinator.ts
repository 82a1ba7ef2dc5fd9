/**
 * Applies `StorageReauthenticated(uriSchema)` with the least disruption (DESIGN.md §1.5), never
 * by a blind restart. For each storage in a burst:
 *
 * 1. fetch the hub's storages once per burst;
 * 2. let the token broker judge the row (same grant, later token, new grant — which also closes
 *    a re-authentication breaker), and build the remote the storage should be; a new grant that
 *    replaces a dead one gets the jobs on it fresh runs at once (jobs/auth-recovery.ts);
 * 3. diff it semantically against what the running rclone has (`config/dump`), then:
 *    - nothing differs (this includes the echo of the worker's own token save) → nothing;
 *    - only the OAuth token → push it; running jobs adopt it at the old token's switch point;
 *    - other parameters, no job on the remote → `config/update`, no restart;
 *    - other parameters, jobs on the remote → stop those jobs, *then* update, then re-run them
 *      (the update clears rclone's Fs cache, which breaks a running job on backends whose Fs
 *      has Shutdown: dropbox, smb, sftp, ftp); jobs waiting for new credentials run too;
 *    - the rc call failed → full `RestartingForReauth`, rate-limited.
 * A storage the hub no longer has loses its remote once no job uses it; a malformed storage is an
 * error for that storage alone.
 */
import type { Storage } from '../../../shared/hannibal.js';
import type { RcConfigDump } from '../../../shared/rclone-rc.js';
import { errorMessage } from '../errors.js';
import type { StoragesHub } from '../hub/rest-client.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { Logger } from '../log/logger.js';
import type { StorageCatalog } from '../storage/catalog.js';
import type { RemoteManager } from '../storage/remote-manager.js';

export type ReauthDecision =
  | 'nothing-changed'
  | 'token-pushed'
  | 'remote-created'
  | 'remote-updated'
  | 'jobs-rerun'
  | 'remote-removed'
  | 'removal-deferred'
  | 'storage-unusable'
  | 'restart-requested';

export interface ReauthRecord {
  uriSchema: string;
  decision: ReauthDecision;
  reason: string;
}

export interface ReauthCoordinatorOptions {
  hub: Pick<StoragesHub, 'storages'>;
  catalog: Pick<StorageCatalog, 'byUriSchema' | 'forget' | 'upsert' | 'desiredRemote'>;
  remotes: Pick<RemoteManager, 'dump' | 'diff' | 'apply' | 'remove'>;
  jobs: Pick<JobRunner, 'remotesInUse' | 'restartJobsOn' | 'credentialsReplaced'>;
  /** Full RestartingForReauth: stop jobs (kept for re-run), restart rclone, rebuild remotes. */
  requestRestart: (reason: string) => void;
  logger: Logger;
  /** Events within this window are one burst. */
  debounceMs: number;
  /** At most one full restart per this interval. */
  restartMinIntervalMs?: number;
  now?: () => number;
}

export class ReauthCoordinator {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly pending = new Set<string>();
  private readonly pendingRemovals = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private burstStartedAt = 0;
  private processing: Promise<void> | undefined;
  private lastRestartAt = Number.NEGATIVE_INFINITY;
  private removalTimer: NodeJS.Timeout | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Every decision, for tests and the control endpoint; bounded. */
  readonly history: ReauthRecord[] = [];
  /** Hub fetches made, for tests and benchmarks. */
  fetches = 0;

  constructor(private readonly options: ReauthCoordinatorOptions) {
    this.log = options.logger.child({ component: 'reauth' });
    this.now = options.now ?? Date.now;
  }

  /** A `StorageReauthenticated(uriSchema)` arrived. */
  enqueue(uriSchema: string): void {
    if (this.stopped) return;
    if (this.pending.size === 0) this.burstStartedAt = this.now();
    this.pending.add(uriSchema);
    this.arm();
  }

  /** Resolves when everything enqueued so far has been handled. */
  async idle(): Promise<void> {
    while (this.pending.size > 0 || this.processing) {
      if (this.processing) await this.processing;
      else {
        clearTimeout(this.timer);
        this.timer = undefined;
        await this.runBurst();
      }
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.removalTimer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    this.pending.clear();
  }

  /** Trailing debounce, capped so a never-ending stream of events still gets handled. */
  private arm(): void {
    if (this.processing) return;
    clearTimeout(this.timer);
    const maxWait = this.options.debounceMs * 4;
    const wait = Math.max(0, Math.min(this.options.debounceMs, this.burstStartedAt + maxWait - this.now()));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runBurst();
    }, wait);
  }

  private runBurst(): Promise<void> {
    this.processing ??= (async () => {
      try {
        const batch = [...this.pending];
        this.pending.clear();
        await this.handle(batch);
      } catch (err) {
        this.log.error({ reason: errorMessage(err) }, 're-authentication handling failed');
      } finally {
        this.processing = undefined;
        if (this.pending.size > 0) {
          this.burstStartedAt = this.now();
          this.arm();
        }
      }
    })();
    return this.processing;
  }

  private async handle(batch: string[]): Promise<void> {
    let rows: Storage[];
    try {
      this.fetches += 1;
      rows = await this.options.hub.storages();
    } catch (err) {
      this.log.warn({ storages: batch, reason: errorMessage(err) }, 'could not fetch storages from the hub; will try again');
      for (const uri of batch) this.pending.add(uri);
      await new Promise((resolve) => setTimeout(resolve, Math.max(1000, this.options.debounceMs)));
      return;
    }
    let dump: RcConfigDump | undefined;
    try {
      dump = await this.options.remotes.dump();
    } catch (err) {
      this.log.warn({ reason: errorMessage(err) }, 'rclone config not readable now; remotes are rebuilt when rclone is back');
    }
    for (const uriSchema of batch) {
      const record = await this.handleOne(uriSchema, rows, dump);
      this.history.push(record);
      if (this.history.length > 1000) this.history.shift();
      const level = record.decision === 'storage-unusable' || record.decision === 'restart-requested' ? 'warn' : 'info';
      this.log[level]({ storage: uriSchema, decision: record.decision }, `re-authentication: ${record.decision} (${record.reason})`);
    }
  }

  private async handleOne(uriSchema: string, rows: Storage[], dump: RcConfigDump | undefined): Promise<ReauthRecord> {
    const row = rows.find((s) => s.uriSchema === uriSchema);
    if (!row) return this.removeStorage(uriSchema, dump);

    const grant = this.options.catalog.upsert(row);
    if (grant === 'new-grant') this.options.jobs.credentialsReplaced(row.id);
    if (!dump) return { uriSchema, decision: 'nothing-changed', reason: `grant ${grant}; rclone is not running, remotes are rebuilt at its start` };
    let spec;
    try {
      spec = await this.options.catalog.desiredRemote(row);
    } catch (err) {
      return { uriSchema, decision: 'storage-unusable', reason: errorMessage(err) };
    }
    try {
      const diff = await this.options.remotes.diff(spec, dump);
      if (diff.kind === 'equal') return { uriSchema, decision: 'nothing-changed', reason: `rclone already has this configuration (grant ${grant})` };
      if (diff.kind === 'missing') {
        await this.options.remotes.apply(spec, diff);
        return { uriSchema, decision: 'remote-created', reason: 'new storage' };
      }
      if (diff.kind === 'token-only') {
        await this.options.remotes.apply(spec, diff);
        return { uriSchema, decision: 'token-pushed', reason: `only the OAuth token changed (grant ${grant}); running jobs keep going` };
      }
      const keys = diff.keys.join(', ');
      const rerun = await this.options.jobs.restartJobsOn([uriSchema], `remote ${uriSchema} changed (${keys})`, async () => {
        await this.options.remotes.apply(spec, diff);
      });
      if (rerun.length === 0) return { uriSchema, decision: 'remote-updated', reason: `changed ${keys}; no job uses it` };
      return { uriSchema, decision: 'jobs-rerun', reason: `changed ${keys} cannot reach running jobs; re-ran jobs ${rerun.join(', ')}` };
    } catch (err) {
      return this.restart(uriSchema, `applying the change failed: ${errorMessage(err)}`);
    }
  }

  private async removeStorage(uriSchema: string, dump: RcConfigDump | undefined): Promise<ReauthRecord> {
    const known = this.options.catalog.byUriSchema(uriSchema);
    if (known) this.options.catalog.forget(known.id);
    if (!dump?.[uriSchema]) return { uriSchema, decision: 'remote-removed', reason: 'the hub no longer has this storage' };
    if (this.options.jobs.remotesInUse().has(uriSchema)) {
      this.pendingRemovals.add(uriSchema);
      this.removalTimer ??= setInterval(() => {
        void this.retryRemovals();
      }, 10_000);
      return { uriSchema, decision: 'removal-deferred', reason: 'the hub no longer has this storage; its remote goes when its jobs end' };
    }
    await this.options.remotes.remove(uriSchema).catch((err: unknown) => {
      this.log.warn({ remote: uriSchema, reason: errorMessage(err) }, 'could not remove remote');
    });
    return { uriSchema, decision: 'remote-removed', reason: 'the hub no longer has this storage' };
  }

  private async retryRemovals(): Promise<void> {
    const inUse = this.options.jobs.remotesInUse();
    for (const uri of [...this.pendingRemovals]) {
      if (inUse.has(uri) || this.options.catalog.byUriSchema(uri)) {
        if (this.options.catalog.byUriSchema(uri)) this.pendingRemovals.delete(uri);
        continue;
      }
      this.pendingRemovals.delete(uri);
      await this.options.remotes.remove(uri).catch(() => undefined);
      this.log.info({ remote: uri }, 'remote of a deleted storage removed now that its jobs ended');
    }
    if (this.pendingRemovals.size === 0) {
      clearInterval(this.removalTimer);
      this.removalTimer = undefined;
    }
  }

  private restart(uriSchema: string, reason: string): ReauthRecord {
    const minInterval = this.options.restartMinIntervalMs ?? 5 * 60_000;
    const since = this.now() - this.lastRestartAt;
    if (since < minInterval) {
      const retryIn = minInterval - since;
      this.log.error({ storage: uriSchema, retryInMs: retryIn }, `full restart suppressed (rate limit): ${reason}`);
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.enqueue(uriSchema);
      }, retryIn);
      timer.unref();
      this.retryTimers.add(timer);
      return { uriSchema, decision: 'restart-requested', reason: `${reason}; rate-limited, retrying in ${Math.round(retryIn / 1000)} s` };
    }
    this.lastRestartAt = this.now();
    this.options.requestRestart(`${uriSchema}: ${reason}`);
    return { uriSchema, decision: 'restart-requested', reason };
  }
}
