import { describe, expect, it } from 'vitest';
import type { Storage } from '../../../shared/hannibal.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import type { OAuthTechnology } from '../../src/config/settings.js';
import { ReauthRequiredError, WorkerError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { StorageCatalog, type CatalogOptions } from '../../src/storage/catalog.js';
import type { DriveLookup, OnedriveDrive } from '../../src/storage/onedrive-drive.js';
import { FakeTokenBroker } from './fake-token-broker.js';

const TOKEN_URLS: Record<OAuthTechnology, string> = {
  onedrive: 'http://127.0.0.1:9/onedrive/token',
  dropbox: 'http://127.0.0.1:9/dropbox/token',
  googledrive: 'http://127.0.0.1:9/google/token',
  gcs: 'http://127.0.0.1:9/gcs/token',
};

/** A Graph `me/drive` stand-in recording the access tokens it was asked with. */
function fakeDrives(): { lookup: DriveLookup; calls: { accessToken: string; uriSchema: string }[]; fail: { error: Error | undefined } } {
  const calls: { accessToken: string; uriSchema: string }[] = [];
  const fail: { error: Error | undefined } = { error: undefined };
  const lookup: DriveLookup = async (accessToken, uriSchema) => {
    calls.push({ accessToken, uriSchema });
    if (fail.error) throw fail.error;
    const drive: OnedriveDrive = { id: `drive-${calls.length}`, type: 'personal' };
    return drive;
  };
  return { lookup, calls, fail };
}

function setup(extra: Partial<CatalogOptions> = {}): { catalog: StorageCatalog; tokens: FakeTokenBroker; drives: ReturnType<typeof fakeDrives> } {
  const tokens = new FakeTokenBroker();
  const drives = fakeDrives();
  const options: CatalogOptions = { tokens, driveLookup: drives.lookup, tokenUrls: TOKEN_URLS, gcsApiUrl: 'http://127.0.0.1:9/storage/v1', logger: silentLogger(), ...extra };
  return { catalog: new StorageCatalog(options), tokens, drives };
}

const LOCAL: Storage = { id: 1, technology: 'local', uriSchema: 'disk' };
const NEXTCLOUD: Storage = { id: 2, technology: 'nextcloud', uriSchema: 'nc', host: 'cloud.example.com', username: 'alice', password: 'pw' };
const GCS: Storage = { id: 3, technology: 'gcs', uriSchema: 'bucketstore', accessToken: 'hub-at', refreshToken: 'hub-rt' };
const ONEDRIVE: Storage = { id: 4, technology: 'onedrive', uriSchema: 'od', accessToken: 'hub-at', refreshToken: 'hub-rt' };
const DROPBOX: Storage = { id: 5, technology: 'dropbox', uriSchema: 'dbx', accessToken: 'hub-at', refreshToken: 'hub-rt' };

const accessTokenOf = (parameters: Record<string, string>): string => (JSON.parse(parameters.token!) as RcloneToken).access_token;

describe('StorageCatalog.load', () => {
  it('takes the hub’s list and tracks its OAuth storages in the token broker', () => {
    const { catalog, tokens } = setup();
    expect(catalog.load([LOCAL, NEXTCLOUD, GCS, ONEDRIVE])).toEqual({ removed: [] });
    expect([...tokens.tracked].sort()).toEqual([GCS.id, ONEDRIVE.id]);
    expect(tokens.adopted.map((a) => a.result)).toEqual(['not-oauth', 'not-oauth', 'new-grant', 'new-grant']);
    expect(catalog.all().map((s) => s.uriSchema)).toEqual(['disk', 'nc', 'bucketstore', 'od']);
    expect(catalog.byId(3)).toBe(GCS);
    expect(catalog.byUriSchema('od')).toBe(ONEDRIVE);
    expect(catalog.byUriSchema('nope')).toBeUndefined();
  });

  it('returns the uriSchemas that disappeared and forgets them (token broker included)', () => {
    const { catalog, tokens } = setup();
    catalog.load([LOCAL, NEXTCLOUD, GCS, ONEDRIVE]);
    const { removed } = catalog.load([NEXTCLOUD, ONEDRIVE, DROPBOX]);
    expect(removed.sort()).toEqual(['bucketstore', 'disk']);
    expect(catalog.byId(LOCAL.id)).toBeUndefined();
    expect(catalog.byUriSchema('bucketstore')).toBeUndefined();
    expect([...tokens.tracked].sort()).toEqual([ONEDRIVE.id, DROPBOX.id]);
    expect(catalog.all().map((s) => s.uriSchema).sort()).toEqual(['dbx', 'nc', 'od']);
  });

  it('an updated row replaces the old one', () => {
    const { catalog } = setup();
    catalog.load([NEXTCLOUD]);
    catalog.load([{ ...NEXTCLOUD, host: 'new.example.com' }]);
    expect(catalog.byId(NEXTCLOUD.id)?.host).toBe('new.example.com');
  });

  it('knows OAuth storages and endpoint paths', () => {
    const { catalog } = setup();
    expect(catalog.isOAuth(GCS)).toBe(true);
    expect(catalog.isOAuth(NEXTCLOUD)).toBe(false);
    expect(catalog.fsPath(LOCAL, 'srv/data')).toBe('disk:/srv/data');
    expect(catalog.fsPath(GCS, '/bucket/dir')).toBe('bucketstore:bucket/dir');
  });
});

describe('StorageCatalog.desiredRemote', () => {
  it('builds non-OAuth remotes without the token broker', async () => {
    const { catalog, tokens } = setup();
    catalog.load([LOCAL, NEXTCLOUD]);
    expect((await catalog.desiredRemote(LOCAL)).type).toBe('local');
    expect((await catalog.desiredRemote(NEXTCLOUD)).type).toBe('webdav');
    expect(tokens.ensureFreshCalls).toEqual([]);
  });

  it('refreshes through ensureFresh and builds the remote with that token, token URL and API URL', async () => {
    const { catalog, tokens } = setup();
    catalog.load([GCS]);
    const spec = await catalog.desiredRemote(GCS);
    expect(tokens.ensureFreshCalls).toHaveLength(1);
    expect(tokens.ensureFreshCalls[0]!.id).toBe(GCS.id);
    // The token must outlive rclone's switch point (expiry − 10 s) by a margin.
    expect(tokens.ensureFreshCalls[0]!.minValidityMs).toBeGreaterThan(10_000);
    expect(accessTokenOf(spec.parameters)).toBe('fresh-3-1');
    expect(spec.parameters).toMatchObject({ token_url: TOKEN_URLS.gcs, endpoint: 'http://127.0.0.1:9/storage/v1/' });
    expect(JSON.stringify(spec)).not.toContain('hub-rt');
  });

  it('throws what ensureFresh throws', async () => {
    const { catalog, tokens } = setup();
    catalog.load([DROPBOX]);
    tokens.failures.set(DROPBOX.id, new ReauthRequiredError(DROPBOX.id, 'storage dbx needs re-authentication'));
    await expect(catalog.desiredRemote(DROPBOX)).rejects.toBeInstanceOf(ReauthRequiredError);
  });

  it('looks the OneDrive drive up with the fresh token and caches it per storage', async () => {
    const { catalog, drives } = setup();
    catalog.load([ONEDRIVE]);
    const first = await catalog.desiredRemote(ONEDRIVE);
    expect(drives.calls).toEqual([{ accessToken: 'fresh-4-1', uriSchema: 'od' }]);
    expect(first.parameters).toMatchObject({ drive_id: 'drive-1', drive_type: 'personal' });
    const second = await catalog.desiredRemote(ONEDRIVE);
    expect(drives.calls).toHaveLength(1);
    expect(second.parameters.drive_id).toBe('drive-1');
    expect(accessTokenOf(second.parameters)).toBe('fresh-4-1');
  });

  it('a new grant invalidates the cached drive; other adopt results keep it', async () => {
    const { catalog, tokens, drives } = setup();
    catalog.load([ONEDRIVE]);
    await catalog.desiredRemote(ONEDRIVE);

    for (const result of ['unchanged', 'newer-token', 'stale'] as const) {
      tokens.nextAdopt.set(ONEDRIVE.id, result);
      expect(catalog.upsert(ONEDRIVE)).toBe(result);
      await catalog.desiredRemote(ONEDRIVE);
    }
    expect(drives.calls).toHaveLength(1);

    tokens.nextAdopt.set(ONEDRIVE.id, 'new-grant');
    expect(catalog.upsert({ ...ONEDRIVE, refreshToken: 'another-account' })).toBe('new-grant');
    const spec = await catalog.desiredRemote(ONEDRIVE);
    expect(drives.calls).toHaveLength(2);
    expect(spec.parameters.drive_id).toBe('drive-2');
  });

  it('forgetting a storage drops its cached drive', async () => {
    const { catalog, drives } = setup();
    catalog.load([ONEDRIVE]);
    await catalog.desiredRemote(ONEDRIVE);
    catalog.load([]);
    catalog.load([ONEDRIVE]);
    await catalog.desiredRemote(ONEDRIVE);
    expect(drives.calls).toHaveLength(2);
  });

  it('a failed drive lookup is not cached', async () => {
    const { catalog, drives } = setup();
    catalog.load([ONEDRIVE]);
    drives.fail.error = new WorkerError('WORKER_ERR_GRAPH', 'graph down');
    await expect(catalog.desiredRemote(ONEDRIVE)).rejects.toThrow('graph down');
    drives.fail.error = undefined;
    expect((await catalog.desiredRemote(ONEDRIVE)).parameters.drive_id).toBe('drive-2');
  });
});

describe('StorageCatalog.desiredRemotes', () => {
  it('builds every storage; a broken one is a problem for that storage only', async () => {
    const { catalog, tokens } = setup();
    const unknown: Storage = { id: 9, technology: 'ftp', uriSchema: 'legacy' };
    const broken: Storage = { id: 10, technology: 'nextcloud', uriSchema: 'nc2', username: 'x', password: 'y' };
    catalog.load([LOCAL, unknown, NEXTCLOUD, broken, GCS]);
    const { specs, problems } = await catalog.desiredRemotes();
    expect(specs.map((s) => s.name).sort()).toEqual(['bucketstore', 'disk', 'nc']);
    expect([...problems.keys()].sort()).toEqual(['legacy', 'nc2']);
    expect(problems.get('legacy')).toContain('ftp');
    expect(problems.get('nc2')).toContain('host');
    expect(tokens.ensureFreshCalls.map((c) => c.id)).toEqual([GCS.id]);
  });

  it('an OAuth storage whose token cannot be refreshed keeps a remote with the token it has', async () => {
    const { catalog, tokens } = setup();
    catalog.load([GCS, DROPBOX]);
    tokens.current.set(GCS.id, { access_token: 'expired-but-known', token_type: 'Bearer', expiry: '2026-03-02T08:00:00.000Z' });
    tokens.failures.set(GCS.id, new ReauthRequiredError(GCS.id, 'storage bucketstore needs re-authentication: invalid_grant'));
    const { specs, problems } = await catalog.desiredRemotes();
    expect(specs.map((s) => s.name).sort()).toEqual(['bucketstore', 'dbx']);
    expect(accessTokenOf(specs.find((s) => s.name === 'bucketstore')!.parameters)).toBe('expired-but-known');
    expect(accessTokenOf(specs.find((s) => s.name === 'dbx')!.parameters)).toMatch(/^fresh-5-/);
    expect(problems.get('bucketstore')).toContain('invalid_grant');
    expect(problems.has('dbx')).toBe(false);
  });

  it('an OAuth storage without any token, or a OneDrive whose drive is unknown, gets no remote', async () => {
    const { catalog, tokens, drives } = setup();
    catalog.load([GCS, ONEDRIVE, LOCAL]);
    tokens.failures.set(GCS.id, new Error('token endpoint unreachable'));
    tokens.current.set(ONEDRIVE.id, { access_token: 'known', token_type: 'Bearer', expiry: '2026-03-02T10:00:00.000Z' });
    drives.fail.error = new WorkerError('WORKER_ERR_GRAPH', 'Microsoft Graph me/drive for od answered HTTP 503');
    const { specs, problems } = await catalog.desiredRemotes();
    expect(specs.map((s) => s.name)).toEqual(['disk']);
    expect(problems.get('bucketstore')).toBe('token endpoint unreachable');
    expect(problems.get('od')).toContain('503');
  });

  it('a OneDrive whose drive is known keeps its remote with the token it has when its refresh fails', async () => {
    const { catalog, tokens } = setup();
    catalog.load([ONEDRIVE]);
    await catalog.desiredRemote(ONEDRIVE); // drive-1 resolved and cached, token fresh-4-1 held
    tokens.failures.set(ONEDRIVE.id, new Error('token endpoint unreachable'));
    const { specs } = await catalog.desiredRemotes();
    expect(specs.map((s) => [s.name, s.parameters.drive_id, accessTokenOf(s.parameters)])).toEqual([['od', 'drive-1', 'fresh-4-1']]);
  });

  it('settles the grant journal after every full load', () => {
    const { catalog, tokens } = setup();
    catalog.load([GCS]);
    catalog.load([]);
    expect(tokens.journalSettled).toBe(2);
  });
});

describe('StorageCatalog.desiredRemotes at a start: no storage holds the others up', () => {
  it('gives each token one refresh attempt, without waiting for retries', async () => {
    const { catalog, tokens } = setup();
    catalog.load([GCS, DROPBOX]);
    await catalog.desiredRemotes();
    expect(tokens.ensureFreshCalls.map((c) => c.waitBudgetMs)).toEqual([0, 0]);
    // A job's just-in-time build keeps the broker's default wait.
    await catalog.desiredRemote(GCS);
    expect(tokens.ensureFreshCalls[2]?.waitBudgetMs).toBeUndefined();
  });

  it('builds the others at once and gives a storage whose refresh hangs the token it has, without waiting for it', async () => {
    const { catalog, tokens } = setup({ startGraceMs: 50 });
    catalog.load([GCS, DROPBOX, LOCAL]);
    tokens.current.set(GCS.id, { access_token: 'expired-but-known', token_type: 'Bearer', expiry: '2026-03-02T08:00:00.000Z' });
    let endpointAnswers: () => void = () => undefined;
    tokens.holds.set(GCS.id, new Promise<void>((resolve) => (endpointAnswers = resolve)));

    const { specs, problems } = await catalog.desiredRemotes();
    // Returned while the hung refresh is still in flight.
    expect(tokens.inFlight).toBe(1);
    expect(specs.map((s) => s.name).sort()).toEqual(['bucketstore', 'dbx', 'disk']);
    expect(accessTokenOf(specs.find((s) => s.name === 'bucketstore')!.parameters)).toBe('expired-but-known');
    expect(problems.get('bucketstore')).toContain('still preparing');
    expect(problems.has('dbx')).toBe(false);
    endpointAnswers();
    await expect.poll(() => tokens.inFlight).toBe(0);
  });

  it('prepares storages side by side, at most startConcurrency at once', async () => {
    const { catalog, tokens } = setup({ startConcurrency: 3, startGraceMs: 5_000 });
    const many = Array.from({ length: 10 }, (_, i): Storage => ({ id: 100 + i, technology: 'gcs', uriSchema: `g${i}`, accessToken: 'a', refreshToken: 'r' }));
    catalog.load(many);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    for (const s of many) tokens.holds.set(s.id, gate);
    const prepared = catalog.desiredRemotes();
    await expect.poll(() => tokens.inFlight).toBe(3);
    release();
    const { specs } = await prepared;
    expect(specs).toHaveLength(10);
    expect(tokens.maxInFlight).toBe(3);
  });
});
