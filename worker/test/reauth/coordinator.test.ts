import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Storage } from '../../../shared/hannibal.js';
import type { RcConfigDump } from '../../../shared/rclone-rc.js';
import type { OAuthTechnology } from '../../src/config/settings.js';
import { HubError, RcError, ReauthRequiredError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { ReauthCoordinator, type ReauthCoordinatorOptions, type ReauthDecision } from '../../src/reauth/coordinator.js';
import { StorageCatalog } from '../../src/storage/catalog.js';
import { diffRemote, type RemoteDiff } from '../../src/storage/remote-diff.js';
import type { ApplyAction } from '../../src/storage/remote-manager.js';
import type { RemoteSpec } from '../../src/storage/remote-spec.js';
import { FakeTokenBroker } from '../storage/fake-token-broker.js';

const DEBOUNCE_MS = 1_000;
const RESTART_INTERVAL_MS = 60_000;
const REMOVAL_RETRY_MS = 10_000;

const TOKEN_URLS: Record<OAuthTechnology, string> = {
  onedrive: 'http://127.0.0.1:9/token',
  dropbox: 'http://127.0.0.1:9/token',
  googledrive: 'http://127.0.0.1:9/token',
  gcs: 'http://127.0.0.1:9/token',
};

// ---- fakes -------------------------------------------------------------------------------------

/** The hub's storage list; `storages()` can be made to fail or to wait for the test. */
class FakeHub {
  rows: Storage[] = [];
  fetches = 0;
  failNext = 0;
  gate: Promise<void> | undefined;

  async storages(): Promise<Storage[]> {
    this.fetches += 1;
    if (this.gate) await this.gate;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new HubError('GET storages: connect ECONNREFUSED', undefined);
    }
    return this.rows.map((r) => ({ ...r }));
  }
}

/** rclone's config in memory, changed only through the RemoteManager surface the coordinator uses. */
class FakeRemotes {
  config: RcConfigDump = {};
  readonly applied: { name: string; diff: RemoteDiff['kind'] }[] = [];
  readonly removed: string[] = [];
  readonly failing = new Set<string>();
  dumpFails = false;
  onApply: ((name: string) => void) | undefined;

  async dump(): Promise<RcConfigDump> {
    if (this.dumpFails) throw new RcError('config/dump', 'rc config/dump: connect ECONNREFUSED', undefined);
    return structuredClone(this.config);
  }

  async diff(spec: RemoteSpec, dump?: RcConfigDump): Promise<RemoteDiff> {
    return diffRemote(spec, (dump ?? this.config)[spec.name]);
  }

  async apply(spec: RemoteSpec, known?: RemoteDiff): Promise<{ action: ApplyAction; diff: RemoteDiff }> {
    const diff = known ?? diffRemote(spec, this.config[spec.name]);
    this.applied.push({ name: spec.name, diff: diff.kind });
    this.onApply?.(spec.name);
    if (this.failing.has(spec.name)) throw new RcError('config/update', `config/update "${spec.name}": connection reset`, undefined);
    this.config[spec.name] = { type: spec.type, ...spec.parameters };
    const action: ApplyAction = { equal: 'unchanged', missing: 'created', 'token-only': 'token-pushed', params: 'updated' }[diff.kind] as ApplyAction;
    return { action, diff };
  }

  async remove(name: string): Promise<void> {
    this.removed.push(name);
    Reflect.deleteProperty(this.config, name);
  }

  appliedTo(name: string): number {
    return this.applied.filter((a) => a.name === name).length;
  }
}

/** The job runner as the coordinator sees it: which remotes jobs use, and the order of a restart around a change. */
class FakeJobs {
  inUse = new Set<string>();
  readonly reruns: { uriSchema: string; reason: string }[] = [];
  /** What happened, in order: job stops, the change (its apply), job starts. */
  readonly order: string[] = [];
  readonly credentialsReplacedFor: number[] = [];

  remotesInUse(): Set<string> {
    return new Set(this.inUse);
  }

  async restartJobsOn(uriSchemas: readonly string[], reason: string, change: () => Promise<void>): Promise<number[]> {
    const affected = uriSchemas.filter((u) => this.inUse.has(u));
    for (const uriSchema of affected) {
      this.order.push(`stop jobs on ${uriSchema}`);
      this.reruns.push({ uriSchema, reason });
    }
    await change().finally(() => {
      for (const uriSchema of affected) this.order.push(`start jobs on ${uriSchema}`);
    });
    return affected.length > 0 ? [101] : [];
  }

  credentialsReplaced(storageId: number): void {
    this.credentialsReplacedFor.push(storageId);
  }
}

// ---- setup -------------------------------------------------------------------------------------

let hub: FakeHub;
let tokens: FakeTokenBroker;
let catalog: StorageCatalog;
let remotes: FakeRemotes;
let jobs: FakeJobs;
let restarts: string[];
let coordinator: ReauthCoordinator;

function nextcloud(id: number, uriSchema: string, host = 'cloud.example.com'): Storage {
  return { id, technology: 'nextcloud', uriSchema, host, username: 'alice', password: 'pw' };
}

function gcs(id: number, uriSchema: string): Storage {
  return { id, technology: 'gcs', uriSchema, accessToken: 'hub-at', refreshToken: 'hub-rt' };
}

/** Puts into rclone's config the remote this storage is now (what the worker configured earlier). */
async function configured(storage: Storage): Promise<void> {
  const spec = await catalog.desiredRemote(storage);
  remotes.config[spec.name] = { type: spec.type, ...spec.parameters };
}

/** The hub has these storages, and the catalog knows them (as after the worker's start). */
/** A configured storage disappears from the hub while a job uses its remote: the removal is deferred. */
async function removeWhileInUse(storage: Storage): Promise<void> {
  hubHas(storage);
  await configured(storage);
  hub.rows = [];
  jobs.inUse.add(storage.uriSchema);
  coordinator.enqueue(storage.uriSchema);
  await settle();
  expect(decisions()).toEqual({ [storage.uriSchema]: 'removal-deferred' });
}

function hubHas(...rows: Storage[]): void {
  hub.rows = rows;
  catalog.load(rows);
}

/** Lets the debounce window pass and waits until the burst is handled. */
async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(DEBOUNCE_MS);
  await coordinator.idle();
}

function decisions(): Record<string, ReauthDecision> {
  return Object.fromEntries(coordinator.history.map((r) => [r.uriSchema, r.decision]));
}

beforeEach(() => {
  vi.useFakeTimers();
  hub = new FakeHub();
  tokens = new FakeTokenBroker();
  catalog = new StorageCatalog({ tokens, driveLookup: () => Promise.reject(new Error('no Graph here')), tokenUrls: TOKEN_URLS, gcsApiUrl: undefined, logger: silentLogger() });
  remotes = new FakeRemotes();
  jobs = new FakeJobs();
  restarts = [];
  const options: ReauthCoordinatorOptions = {
    hub,
    catalog,
    remotes,
    jobs,
    requestRestart: (reason) => {
      restarts.push(reason);
    },
    logger: silentLogger(),
    debounceMs: DEBOUNCE_MS,
    restartMinIntervalMs: RESTART_INTERVAL_MS,
  };
  coordinator = new ReauthCoordinator(options);
});

afterEach(() => {
  coordinator.stop();
  vi.useRealTimers();
});

// ---- bursts ------------------------------------------------------------------------------------

describe('bursts', () => {
  it('50 events for one storage within the debounce window → one hub fetch, one apply', async () => {
    hubHas(nextcloud(1, 'nc'));
    for (let i = 0; i < 50; i++) {
      coordinator.enqueue('nc');
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(hub.fetches).toBe(0);
    await settle();
    expect(hub.fetches).toBe(1);
    expect(coordinator.fetches).toBe(1);
    expect(remotes.applied).toEqual([{ name: 'nc', diff: 'missing' }]);
    expect(coordinator.history).toHaveLength(1);
  });

  it('waits for the window after the last event (trailing debounce)', async () => {
    hubHas(nextcloud(1, 'nc'));
    coordinator.enqueue('nc');
    await vi.advanceTimersByTimeAsync(DEBOUNCE_MS - 1);
    coordinator.enqueue('nc');
    await vi.advanceTimersByTimeAsync(DEBOUNCE_MS - 1);
    expect(hub.fetches).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await coordinator.idle();
    expect(hub.fetches).toBe(1);
  });

  it('a never-ending stream of events is still handled, within 4 debounce windows', async () => {
    hubHas(nextcloud(1, 'nc'));
    coordinator.enqueue('nc');
    for (let t = 0; t < 4 * DEBOUNCE_MS; t += DEBOUNCE_MS / 2) {
      await vi.advanceTimersByTimeAsync(DEBOUNCE_MS / 2);
      coordinator.enqueue('nc');
    }
    expect(hub.fetches).toBe(1);
  });

  it('200 storages at once → one hub fetch, at most one apply per storage', async () => {
    const rows = Array.from({ length: 200 }, (_, i) => nextcloud(i + 1, `nc-${i}`));
    hubHas(...rows);
    for (const row of rows) coordinator.enqueue(row.uriSchema);
    await settle();
    expect(hub.fetches).toBe(1);
    expect(remotes.applied).toHaveLength(200);
    for (const row of rows) expect(remotes.appliedTo(row.uriSchema)).toBe(1);
    expect(new Set(Object.values(decisions()))).toEqual(new Set(['remote-created']));
  });

  it('events during processing start a new burst after it', async () => {
    hubHas(nextcloud(1, 'a'), nextcloud(2, 'b'));
    let open: () => void = () => undefined;
    hub.gate = new Promise((resolve) => {
      open = resolve;
    });
    coordinator.enqueue('a');
    await vi.advanceTimersByTimeAsync(DEBOUNCE_MS);
    expect(hub.fetches).toBe(1);

    coordinator.enqueue('b');
    coordinator.enqueue('a');
    await vi.advanceTimersByTimeAsync(5 * DEBOUNCE_MS);
    expect(hub.fetches).toBe(1);

    hub.gate = undefined;
    open();
    await vi.advanceTimersByTimeAsync(0);
    expect(remotes.applied).toEqual([{ name: 'a', diff: 'missing' }]);
    expect(hub.fetches).toBe(1);

    await settle();
    expect(hub.fetches).toBe(2);
    // `a` is configured now: the second event for it changes nothing.
    expect(remotes.applied).toEqual([
      { name: 'a', diff: 'missing' },
      { name: 'b', diff: 'missing' },
    ]);
    expect(coordinator.history.map((r) => `${r.uriSchema}:${r.decision}`)).toEqual(['a:remote-created', 'b:remote-created', 'a:nothing-changed']);
  });

  it('a failed hub fetch is retried later and loses no event', async () => {
    hubHas(nextcloud(1, 'a'), nextcloud(2, 'b'));
    hub.failNext = 1;
    coordinator.enqueue('a');
    await vi.advanceTimersByTimeAsync(DEBOUNCE_MS);
    expect(hub.fetches).toBe(1);
    expect(remotes.applied).toEqual([]);

    coordinator.enqueue('b');
    // The retry waits at least a second, then a debounce window.
    await vi.advanceTimersByTimeAsync(Math.max(1000, DEBOUNCE_MS) + DEBOUNCE_MS);
    await coordinator.idle();
    expect(hub.fetches).toBe(2);
    expect(decisions()).toEqual({ a: 'remote-created', b: 'remote-created' });
  });
});

// ---- decisions ---------------------------------------------------------------------------------

describe('decisions', () => {
  it('nothing-changed: rclone already has this remote (e.g. the echo of our own token save)', async () => {
    const row = gcs(1, 'g');
    hubHas(row);
    await configured(row);
    coordinator.enqueue('g');
    await settle();
    expect(decisions()).toEqual({ g: 'nothing-changed' });
    expect(remotes.applied).toEqual([]);
    expect(jobs.reruns).toEqual([]);
    expect(restarts).toEqual([]);
  });

  it('token-pushed: only the OAuth token differs; running jobs are not touched', async () => {
    const row = gcs(1, 'g');
    hubHas(row);
    await configured(row);
    jobs.inUse.add('g');
    tokens.current.set(1, { access_token: 'later-token', token_type: 'Bearer', expiry: '2026-03-02T11:00:00.000Z' });
    tokens.nextAdopt.set(1, 'newer-token');
    coordinator.enqueue('g');
    await settle();
    expect(decisions()).toEqual({ g: 'token-pushed' });
    expect(remotes.applied).toEqual([{ name: 'g', diff: 'token-only' }]);
    expect(JSON.parse(remotes.config.g!.token!)).toMatchObject({ access_token: 'later-token' });
    expect(jobs.reruns).toEqual([]);
    expect(tokens.adopted.at(-1)).toEqual({ id: 1, result: 'newer-token' });
  });

  it('remote-created: a new storage', async () => {
    hubHas();
    hub.rows = [nextcloud(1, 'nc')];
    coordinator.enqueue('nc');
    await settle();
    expect(decisions()).toEqual({ nc: 'remote-created' });
    expect(catalog.byUriSchema('nc')).toBeDefined();
    expect(remotes.config.nc?.type).toBe('webdav');
  });

  it('remote-updated: other parameters changed and no job uses the remote', async () => {
    hubHas(nextcloud(1, 'nc'));
    await configured(nextcloud(1, 'nc'));
    hub.rows = [nextcloud(1, 'nc', 'moved.example.com')];
    jobs.inUse.add('other');
    coordinator.enqueue('nc');
    await settle();
    expect(decisions()).toEqual({ nc: 'remote-updated' });
    expect(remotes.applied).toEqual([{ name: 'nc', diff: 'params' }]);
    expect(remotes.config.nc!.url).toBe('https://moved.example.com/remote.php/dav/files/alice/');
    expect(jobs.reruns).toEqual([]);
    expect(coordinator.history[0]!.reason).toContain('url');
  });

  it('jobs-rerun: other parameters changed and jobs use the remote → only those jobs are re-run', async () => {
    hubHas(nextcloud(1, 'nc'), nextcloud(2, 'nc2'));
    await configured(nextcloud(1, 'nc'));
    await configured(nextcloud(2, 'nc2'));
    hub.rows = [nextcloud(1, 'nc', 'moved.example.com'), nextcloud(2, 'nc2')];
    jobs.inUse = new Set(['nc', 'nc2']);
    coordinator.enqueue('nc');
    coordinator.enqueue('nc2');
    await settle();
    expect(decisions()).toEqual({ nc: 'jobs-rerun', nc2: 'nothing-changed' });
    expect(jobs.reruns.map((r) => r.uriSchema)).toEqual(['nc']);
    expect(jobs.reruns[0]!.reason).toContain('url');
    expect(remotes.config.nc!.url).toContain('moved.example.com');
  });

  it('jobs-rerun stops the jobs before the config/update and starts them after it (a running dropbox/smb job would break)', async () => {
    hubHas(nextcloud(1, 'nc'));
    await configured(nextcloud(1, 'nc'));
    hub.rows = [nextcloud(1, 'nc', 'moved.example.com')];
    jobs.inUse = new Set(['nc']);
    remotes.onApply = (name) => jobs.order.push(`config/update ${name}`);
    coordinator.enqueue('nc');
    await settle();
    expect(jobs.order).toEqual(['stop jobs on nc', 'config/update nc', 'start jobs on nc']);
  });

  it('a new grant is announced to the jobs (they re-run if the grant it replaces is known dead); a later token is not', async () => {
    hubHas(gcs(5, 'g'));
    await configured(gcs(5, 'g'));
    tokens.nextAdopt.set(5, 'newer-token');
    coordinator.enqueue('g');
    await settle();
    expect(jobs.credentialsReplacedFor).toEqual([]);

    tokens.nextAdopt.set(5, 'new-grant');
    coordinator.enqueue('g');
    await settle();
    expect(jobs.credentialsReplacedFor).toEqual([5]);
  });

  it('remote-removed: the hub no longer has the storage and no job uses it', async () => {
    hubHas(nextcloud(1, 'nc'), nextcloud(2, 'keep'));
    await configured(nextcloud(1, 'nc'));
    hub.rows = [nextcloud(2, 'keep')];
    coordinator.enqueue('nc');
    await settle();
    expect(decisions()).toEqual({ nc: 'remote-removed' });
    expect(remotes.removed).toEqual(['nc']);
    expect(catalog.byUriSchema('nc')).toBeUndefined();
    expect(catalog.byUriSchema('keep')).toBeDefined();
  });

  it('remote-removed without a config call when rclone never had the remote', async () => {
    hubHas(nextcloud(1, 'nc'));
    hub.rows = [];
    coordinator.enqueue('nc');
    await settle();
    expect(decisions()).toEqual({ nc: 'remote-removed' });
    expect(remotes.removed).toEqual([]);
    expect(catalog.byUriSchema('nc')).toBeUndefined();
  });

  it('forgetting a removed OAuth storage stops its token tracking', async () => {
    hubHas(gcs(1, 'g'));
    expect(tokens.tracked.has(1)).toBe(true);
    hub.rows = [];
    coordinator.enqueue('g');
    await settle();
    expect(tokens.tracked.has(1)).toBe(false);
  });

  it('removal-deferred: the remote goes once its jobs end', async () => {
    await removeWhileInUse(nextcloud(1, 'nc'));
    expect(remotes.removed).toEqual([]);

    await vi.advanceTimersByTimeAsync(3 * REMOVAL_RETRY_MS);
    expect(remotes.removed).toEqual([]);

    jobs.inUse.clear();
    await vi.advanceTimersByTimeAsync(REMOVAL_RETRY_MS);
    expect(remotes.removed).toEqual(['nc']);
    await vi.advanceTimersByTimeAsync(3 * REMOVAL_RETRY_MS);
    expect(remotes.removed).toEqual(['nc']);
  });

  it('a deferred removal is dropped when the storage comes back', async () => {
    await removeWhileInUse(nextcloud(1, 'nc'));

    hub.rows = [nextcloud(1, 'nc')];
    coordinator.enqueue('nc');
    await settle();
    jobs.inUse.clear();
    await vi.advanceTimersByTimeAsync(3 * REMOVAL_RETRY_MS);
    expect(remotes.removed).toEqual([]);
    expect(remotes.config.nc).toBeDefined();
  });

  it('storage-unusable: the remote cannot be built; the other storages of the burst are still handled', async () => {
    hubHas(gcs(1, 'g'), nextcloud(2, 'nc'), { id: 3, technology: 'ftp', uriSchema: 'legacy' });
    tokens.failures.set(1, new ReauthRequiredError(1, 'storage g needs re-authentication: invalid_grant'));
    coordinator.enqueue('g');
    coordinator.enqueue('legacy');
    coordinator.enqueue('nc');
    await settle();
    expect(decisions()).toEqual({ g: 'storage-unusable', legacy: 'storage-unusable', nc: 'remote-created' });
    expect(coordinator.history.find((r) => r.uriSchema === 'g')!.reason).toContain('invalid_grant');
    expect(restarts).toEqual([]);
    expect(remotes.applied).toEqual([{ name: 'nc', diff: 'missing' }]);
  });

  it('rclone not running: the row is taken in, the remote is rebuilt at rclone’s start', async () => {
    hubHas(gcs(1, 'g'));
    remotes.dumpFails = true;
    tokens.nextAdopt.set(1, 'new-grant');
    coordinator.enqueue('g');
    await settle();
    expect(decisions()).toEqual({ g: 'nothing-changed' });
    expect(tokens.adopted.at(-1)).toEqual({ id: 1, result: 'new-grant' });
    expect(remotes.applied).toEqual([]);
    expect(restarts).toEqual([]);
  });
});

describe('restart on a failed apply', () => {
  it('restart-requested when the apply throws; other storages of the burst are still handled', async () => {
    hubHas(nextcloud(1, 'bad'), nextcloud(2, 'good'));
    remotes.failing.add('bad');
    coordinator.enqueue('bad');
    coordinator.enqueue('good');
    await settle();
    expect(decisions()).toEqual({ bad: 'restart-requested', good: 'remote-created' });
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toContain('bad');
  });

  it('a second failure within the interval does not request another restart, and is retried after it', async () => {
    hubHas(nextcloud(1, 'bad'));
    remotes.failing.add('bad');
    coordinator.enqueue('bad');
    await settle();
    expect(restarts).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(RESTART_INTERVAL_MS / 4);
    coordinator.enqueue('bad');
    await settle();
    expect(coordinator.history).toHaveLength(2);
    expect(coordinator.history[1]).toMatchObject({ uriSchema: 'bad', decision: 'restart-requested' });
    expect(coordinator.history[1]!.reason).toContain('rate-limited');
    expect(restarts).toHaveLength(1);

    // Once the interval has passed the storage is tried again by itself.
    remotes.failing.delete('bad');
    await vi.advanceTimersByTimeAsync(RESTART_INTERVAL_MS);
    await coordinator.idle();
    expect(coordinator.history.at(-1)).toMatchObject({ uriSchema: 'bad', decision: 'remote-created' });
    expect(restarts).toHaveLength(1);
  });

  it('a failure after the interval requests a restart again', async () => {
    hubHas(nextcloud(1, 'bad'));
    remotes.failing.add('bad');
    coordinator.enqueue('bad');
    await settle();
    await vi.advanceTimersByTimeAsync(RESTART_INTERVAL_MS);
    coordinator.enqueue('bad');
    await settle();
    expect(restarts).toHaveLength(2);
  });
});
