/**
 * Auth failures and new credentials: which jobs get fresh runs, and when.
 *
 * rclone keeps using an access token until that token's expiry − 10 s and only then re-reads its
 * config; a 401 never makes it re-read (rclone-providers-lab.md Q3, Q5). So once the grant rclone
 * holds for a storage is known dead — the token broker's breaker opened, or rclone met auth
 * failures on it — waiting costs the running jobs on it up to ~50 min (1 h tokens) of failing
 * requests (side-by-side.md T1, T2). Instead, as soon as a working token is live (a forced
 * refresh succeeded, or new credentials arrived), those jobs get fresh runs on a reloaded remote:
 * stop them, `config/update` the remote (which clears rclone's Fs cache; a new run would
 * otherwise reuse the cached Fs and its dead token), start them again. Each job gets at most a
 * few such fresh-token runs; after that its runs end and the lifecycle reports them.
 *
 * A forced refresh right after another one only re-pushes the current token (the broker's
 * throttle). That still helps when rclone held an older token, but when the token that failed is
 * the current one (a grant revoked with its access tokens, as Google does) it is no fresh token:
 * the recovery remembers the token each reload gave rclone, and a second failure on the same one
 * makes the job retry later (transient) instead of burning its fresh-token runs in seconds; new
 * credentials end that wait at once.
 *
 * rclone's per-file log lines name a file, not a remote: a line is matched to the running jobs'
 * storages by the remote it names (`rclone config reconnect <remote>:`), else by the storage
 * technologies that produce its text (log-line.ts).
 */
import type { Storage } from '../../../shared/hannibal.js';
import { TokenRefreshError, errorMessage } from '../errors.js';
import { fingerprint } from '../log/fingerprint.js';
import type { Logger } from '../log/logger.js';
import type { AuthFailureSignal } from '../rclone/log-line.js';
import type { StorageCatalog } from '../storage/catalog.js';
import type { RemoteManager } from '../storage/remote-manager.js';
import type { TokenBroker } from '../tokens/broker.js';
import { uniqueStorages, type TrackedJob } from './tracked-job.js';

/** What recovery needs from the job runner. */
export interface RecoveryHost {
  /** Owned jobs in a phase. */
  inPhase(phase: TrackedJob['phase']): TrackedJob[];
  storagesOf(t: TrackedJob): Storage[];
  /** Stop the jobs on these remotes, apply `change`, start fresh runs (and `also`). */
  restartJobsOn(uriSchemas: readonly string[], reason: string, change: () => Promise<void>, also?: readonly TrackedJob[]): Promise<number[]>;
  /** A recovery could not get a token: the lifecycle decides (usually: wait for re-authentication). */
  recoveryFailed(t: TrackedJob, err: unknown): Promise<void>;
}

export interface AuthRecoveryOptions {
  host: RecoveryHost;
  catalog: Pick<StorageCatalog, 'byId' | 'isOAuth' | 'desiredRemote'>;
  remotes: Pick<RemoteManager, 'reloadRemote' | 'diff' | 'apply'>;
  tokens: Pick<TokenBroker, 'forceRefresh'>;
  maxRecoveries: number;
  logger: Logger;
  now?: () => number;
}

/** rclone's log lines reach us a moment late: an auth failure logged this soon after a run started belongs to the run before it. */
const RUN_SETTLE_MS = 2_000;

export class AuthRecovery {
  private readonly log: Logger;
  private readonly now: () => number;
  /** OAuth storages whose grant, as rclone holds it, is known dead. */
  private readonly deadGrants = new Set<number>();
  /** Storages with a recovery after logged auth failures in flight. */
  private readonly recovering = new Set<number>();
  /** Fingerprint of the token the last recovery reloaded each remote with. */
  private readonly reloadedWith = new Map<number, string | undefined>();

  constructor(private readonly options: AuthRecoveryOptions) {
    this.log = options.logger.child({ component: 'jobs' });
    this.now = options.now ?? Date.now;
  }

  /** The token broker opened a storage's breaker, or a job waits for its re-authentication. */
  grantDead(storageId: number): void {
    this.deadGrants.add(storageId);
  }

  /**
   * New credentials (a new grant) for a storage. If the grant they replace is known dead, or jobs
   * wait for them, the jobs on the storage get fresh runs on the reloaded remote now.
   */
  credentialsReplaced(storageId: number): void {
    const storage = this.options.catalog.byId(storageId);
    if (!storage) return;
    const dead = this.deadGrants.delete(storageId);
    this.reloadedWith.delete(storageId);
    const uses = (t: TrackedJob) => this.options.host.storagesOf(t).some((s) => s.id === storageId);
    const waiting = [...this.options.host.inPhase('waiting-reauth'), ...this.options.host.inPhase('waiting-retry')].some(uses);
    const inRclone = ['running', 'starting', 'stopping'].some((phase) => this.options.host.inPhase(phase as TrackedJob['phase']).some(uses));
    // A routine re-authentication leaves running jobs alone; an idle remote is still reloaded, so
    // the next run does not start on a cached Fs that holds the old grant's token.
    if (!dead && !waiting && inRclone) return;
    const reason = dead || waiting ? `new credentials replace a dead grant of ${storage.uriSchema}` : `new credentials for ${storage.uriSchema}`;
    this.options.host.restartJobsOn([storage.uriSchema], reason, () => this.reload([storage])).catch((err: unknown) => {
      this.log.warn({ storage: storage.uriSchema, reason: errorMessage(err) }, 'could not reload the remote for the new credentials; runs use what rclone has');
    });
  }

  /** rclone logged an auth failure (see the module comment). */
  logged(signal: AuthFailureSignal): void {
    const now = this.now();
    const hit = this.options.host.inPhase('running').filter((t) => now - t.runStartedAt >= RUN_SETTLE_MS && this.storagesFor(t, signal).length > 0);
    for (const t of hit) t.loggedAuth ??= signal;
    const storages = uniqueStorages(hit.flatMap((t) => this.storagesFor(t, signal).filter((s) => this.options.catalog.isOAuth(s))));
    for (const storage of storages) {
      if (!this.recovering.has(storage.id)) void this.recoverRemote(storage, signal);
    }
  }

  /**
   * A run ended with an auth failure the lifecycle lets us recover from: fresh tokens for the
   * OAuth storages it names, then fresh runs of every job on them, this one included.
   */
  async afterFailedRun(t: TrackedJob, signal: AuthFailureSignal, reason: string): Promise<void> {
    const storages = this.storagesFor(t, signal).filter((s) => this.options.catalog.isOAuth(s));
    t.phase = 'starting';
    this.log.warn(
      { jobId: t.id, run: t.run, signature: signal.signature, remote: signal.remote, remotes: storages.map((s) => s.uriSchema), recovery: t.counters.authRecoveries, error: reason },
      'job failed with an auth error; refreshing its token and re-running it',
    );
    try {
      for (const storage of storages) {
        this.deadGrants.add(storage.id);
        const token = await this.options.tokens.forceRefresh(storage.id, `job ${t.id} failed: ${signal.signature}`);
        if (this.alreadyFailed(storage, token.access_token)) {
          throw new TokenRefreshError(storage.id, `the current token of ${storage.uriSchema} is refused and cannot be renewed yet`, { permanent: false });
        }
        this.deadGrants.delete(storage.id);
      }
    } catch (err) {
      await this.options.host.recoveryFailed(t, err);
      return;
    }
    const remotes = storages.map((s) => s.uriSchema);
    await this.options.host.restartJobsOn(remotes, `fresh token after an auth failure (${signal.signature})`, () => this.reload(storages), [t]).catch((err: unknown) => {
      this.log.warn({ jobId: t.id, reason: errorMessage(err) }, 'could not reload the remote for the fresh token; the run uses what rclone has');
    });
  }

  /** Whether a fresh token can help: an OAuth storage of the job matches the failure. */
  canRefresh(t: TrackedJob, signal: AuthFailureSignal): boolean {
    return this.storagesFor(t, signal).some((s) => this.options.catalog.isOAuth(s));
  }

  /** The job's storages a failure can be about: the remote it names, else those of the technologies that produce it. */
  private storagesFor(t: TrackedJob, signal: AuthFailureSignal): Storage[] {
    return this.options.host
      .storagesOf(t)
      .filter((s) => (signal.remote !== undefined ? s.uriSchema === signal.remote : signal.technologies === undefined || signal.technologies.includes(s.technology)));
  }

  private async recoverRemote(storage: Storage, signal: AuthFailureSignal): Promise<void> {
    this.recovering.add(storage.id);
    this.deadGrants.add(storage.id);
    try {
      this.log.warn({ remote: storage.uriSchema, signature: signal.signature }, 'rclone reports an auth failure; refreshing the token now');
      try {
        const token = await this.options.tokens.forceRefresh(storage.id, `rclone logged "${signal.signature}"`);
        if (this.alreadyFailed(storage, token.access_token)) {
          this.log.warn({ remote: storage.uriSchema }, 'the current token is refused too and cannot be renewed yet; the runs end on their own');
          return;
        }
      } catch (err) {
        // A dead grant opened the breaker: the runs end with auth errors and wait for new credentials.
        this.log.warn({ remote: storage.uriSchema, reason: errorMessage(err) }, 'refresh after an rclone auth failure did not succeed');
        return;
      }
      this.deadGrants.delete(storage.id);
      const jobs = this.options.host.inPhase('running').filter((t) => this.options.host.storagesOf(t).some((s) => s.id === storage.id));
      if (jobs.length === 0) return;
      if (jobs.some((t) => t.counters.authRecoveries >= this.options.maxRecoveries)) {
        this.log.warn({ remote: storage.uriSchema, jobs: jobs.map((t) => t.id) }, 'auth failures persist after fresh tokens; the runs end on their own');
        return;
      }
      for (const t of jobs) t.counters = { ...t.counters, authRecoveries: t.counters.authRecoveries + 1 };
      await this.options.host.restartJobsOn([storage.uriSchema], `fresh token after rclone logged "${signal.signature}"`, () => this.reload([storage]));
    } catch (err) {
      this.log.warn({ remote: storage.uriSchema, reason: errorMessage(err) }, 'could not reload the remote for the fresh token');
    } finally {
      this.recovering.delete(storage.id);
    }
  }

  /** Whether rclone already failed with this token on a remote a recovery had reloaded with it. */
  private alreadyFailed(storage: Storage, accessToken: string): boolean {
    return this.reloadedWith.get(storage.id) === fingerprint(accessToken);
  }

  /**
   * Writes each storage's remote with its current token by a call that drops rclone's cached Fs
   * of it (`reloadRemote`); a remote rclone does not have yet is created, which is as fresh.
   */
  private async reload(storages: readonly Storage[]): Promise<void> {
    for (const storage of storages) {
      const spec = await this.options.catalog.desiredRemote(storage);
      const diff = await this.options.remotes.diff(spec);
      if (diff.kind === 'missing') await this.options.remotes.apply(spec, diff);
      else await this.options.remotes.reloadRemote(spec);
      this.reloadedWith.set(storage.id, fingerprint(tokenOf(spec.parameters.token)));
    }
  }
}

function tokenOf(json: string | undefined): string | undefined {
  try {
    return (JSON.parse(json ?? '') as { access_token?: string }).access_token;
  } catch {
    return undefined;
  }
}
