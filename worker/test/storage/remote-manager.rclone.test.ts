/**
 * RemoteManager against a real rclone 1.60.1: what it sends for each kind of difference, and —
 * by diffing `config/dump` afterwards — that the specs built for every technology are exactly
 * what rclone stores (rclone adds or rewrites no key).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type { Storage } from '../../../shared/hannibal.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import { RcError } from '../../src/errors.js';
import { goTime, rcloneTokenJson } from '../../src/rclone/config-token.js';
import { silentLogger } from '../../src/log/logger.js';
import { obscure, reveal } from '../../src/rclone/obscure.js';
import { RcloneProcess } from '../../src/rclone/process.js';
import type { RcClient } from '../../src/rclone/rc-client.js';
import { RemoteManager } from '../../src/storage/remote-manager.js';
import { buildRemoteSpec, type RemoteContext, type RemoteSpec } from '../../src/storage/remote-spec.js';
import { TempDirs } from '../rclone/rclone-fixture.js';

const dirs = new TempDirs();
let rclone: RcloneProcess;
let rc: RcClient;
let remotes: RemoteManager;
let calls: { create: MockInstance<RcClient['configCreate']>; update: MockInstance<RcClient['configUpdate']>; remove: MockInstance<RcClient['configDelete']> };

beforeAll(async () => {
  rclone = await RcloneProcess.start({ rclonePath: 'rclone', stateDir: await dirs.make('remote-manager-'), logger: silentLogger() });
  rc = rclone.client;
  remotes = new RemoteManager(() => rc, () => rclone.configPath, silentLogger());
});

afterAll(async () => {
  await rclone.stop({ graceful: false });
  expect(await dirs.processesUsingThem()).toEqual([]);
  await dirs.removeAll();
});

beforeEach(async () => {
  vi.restoreAllMocks();
  for (const name of Object.keys(await rc.configDump())) await rc.configDelete(name);
  calls = { create: vi.spyOn(rc, 'configCreate'), update: vi.spyOn(rc, 'configUpdate'), remove: vi.spyOn(rc, 'configDelete') };
});

function configCalls(): number {
  return calls.create.mock.calls.length + calls.update.mock.calls.length + calls.remove.mock.calls.length;
}

function resetCalls(): void {
  calls.create.mockClear();
  calls.update.mockClear();
  calls.remove.mockClear();
}

const inAnHour = (): string => new Date(Date.now() + 3_600_000).toISOString();
const token = (access: string): RcloneToken => ({ access_token: access, token_type: 'Bearer', expiry: inAnHour() });

function context(access = 'EwB-1'): RemoteContext {
  return {
    token: token(access),
    tokenUrl: 'http://127.0.0.1:9/token',
    gcsApiUrl: 'http://127.0.0.1:9/storage/v1',
    onedriveDrive: { id: 'b!Zm9vYmFy', type: 'business' },
  };
}

const ROWS: Storage[] = [
  { id: 1, technology: 'local', uriSchema: 'disk' },
  { id: 2, technology: 'nextcloud', uriSchema: 'nc', host: 'cloud.example.com', port: 8443, username: 'alice@example.com', password: ' s3cret ' },
  { id: 3, technology: 'smb', uriSchema: 'nas', host: 'nas.lan', username: 'bob', password: 'pw', domain: 'WORKGROUP', port: 445 },
  { id: 4, technology: 'gcs', uriSchema: 'bucketstore' },
  { id: 5, technology: 'dropbox', uriSchema: 'dbx' },
  { id: 6, technology: 'googledrive', uriSchema: 'gdrive' },
  { id: 7, technology: 'onedrive', uriSchema: 'od' },
];

function spec(uriSchema: string, ctx: RemoteContext = context()): RemoteSpec {
  const row = ROWS.find((r) => r.uriSchema === uriSchema);
  if (!row) throw new Error(`no test row ${uriSchema}`);
  return buildRemoteSpec(row, ctx);
}

async function stored(name: string): Promise<Record<string, string> | undefined> {
  return (await rc.configDump())[name];
}

describe('RemoteManager.apply', () => {
  it.each(ROWS.map((r) => r.uriSchema))('creates a missing %s remote that rclone then stores exactly as specified', async (name) => {
    const wanted = spec(name);
    expect(await remotes.apply(wanted)).toEqual({ action: 'created', diff: { kind: 'missing' } });
    expect(calls.create).toHaveBeenCalledTimes(1);
    expect(await remotes.diff(wanted)).toEqual({ kind: 'equal' });
    // rclone stores the keys we sent and adds none (config_refresh_token is not stored).
    expect(Object.keys((await stored(name))!).sort()).toEqual(['type', ...Object.keys(wanted.parameters)].sort());
  });

  it('stores passwords obscured, revealing to the hub’s plain text', async () => {
    await remotes.apply(spec('nc'));
    const pass = (await stored('nc'))!.pass!;
    expect(pass).not.toContain('s3cret');
    expect(reveal(pass)).toBe(' s3cret ');
  });

  it('stores only the access token of an OAuth remote', async () => {
    await remotes.apply(spec('bucketstore'));
    const entry = (await stored('bucketstore'))!;
    expect(Object.keys(JSON.parse(entry.token!) as object).sort()).toEqual(['access_token', 'expiry', 'token_type']);
    expect(entry).not.toHaveProperty('client_secret');
  });

  it('leaves an equal remote untouched, without any config call', async () => {
    await remotes.apply(spec('nc'));
    resetCalls();
    // A fresh build obscures the password with another IV: still equal.
    expect(await remotes.apply(spec('nc'))).toEqual({ action: 'unchanged', diff: { kind: 'equal' } });
    expect(configCalls()).toBe(0);
  });

  it.each(['bucketstore', 'dbx', 'gdrive', 'od'])('pushes only the token of %s when only the token changed, without an rc config write', async (name) => {
    await remotes.apply(spec(name, context('EwB-1')));
    const before = (await stored(name))!;
    resetCalls();
    const next = spec(name, context('EwB-2'));
    expect(await remotes.apply(next)).toEqual({ action: 'token-pushed', diff: { kind: 'token-only' } });
    expect(configCalls()).toBe(0);
    const after = (await stored(name))!;
    expect(JSON.parse(after.token!)).toMatchObject({ access_token: 'EwB-2' });
    expect({ ...after, token: undefined }).toEqual({ ...before, token: undefined });
    expect(await remotes.diff(next)).toEqual({ kind: 'equal' });
  });

  it('updates only the changed keys', async () => {
    await remotes.apply(spec('nc'));
    resetCalls();
    const moved = buildRemoteSpec({ ...ROWS[1]!, host: 'new.example.com', password: 'changed' });
    const result = await remotes.apply(moved);
    expect(result).toEqual({ action: 'updated', diff: { kind: 'params', keys: ['pass', 'url'] } });
    expect(calls.remove).not.toHaveBeenCalled();
    expect(calls.create).not.toHaveBeenCalled();
    expect(Object.keys(calls.update.mock.calls[0]![1]).sort()).toEqual(['pass', 'url']);
    expect(await remotes.diff(moved)).toEqual({ kind: 'equal' });
    expect(reveal((await stored('nc'))!.pass!)).toBe('changed');
  });

  it('updates an OAuth remote’s other keys together with its token', async () => {
    await remotes.apply(spec('od', context('EwB-1')));
    resetCalls();
    const other = spec('od', { ...context('EwB-2'), onedriveDrive: { id: 'b!other', type: 'personal' } });
    expect(await remotes.apply(other)).toEqual({ action: 'updated', diff: { kind: 'params', keys: ['drive_id', 'drive_type', 'token'] } });
    expect(calls.create).not.toHaveBeenCalled();
    expect(await remotes.diff(other)).toEqual({ kind: 'equal' });
  });

  it('recreates the remote when a key must disappear', async () => {
    await rc.configCreate('nas', 'smb', { host: 'nas.lan', user: 'bob', pass: obscure('pw'), domain: 'OLD', port: '445', spn: 'cifs/nas' });
    resetCalls();
    const wanted = spec('nas');
    const result = await remotes.apply(wanted);
    expect(result).toEqual({ action: 'updated', diff: { kind: 'params', keys: ['domain', 'spn'] } });
    expect(calls.remove).toHaveBeenCalledWith('nas');
    expect(calls.create).toHaveBeenCalledTimes(1);
    expect(await stored('nas')).not.toHaveProperty('spn');
    expect(await remotes.diff(wanted)).toEqual({ kind: 'equal' });
  });

  it('recreates the remote when the type changed', async () => {
    await rc.configCreate('nc', 'local', {});
    resetCalls();
    const wanted = spec('nc');
    const result = await remotes.apply(wanted);
    expect(result.action).toBe('updated');
    expect(result.diff.kind === 'params' && result.diff.keys).toContain('type');
    expect(calls.remove).toHaveBeenCalledWith('nc');
    expect(calls.create).toHaveBeenCalledTimes(1);
    expect((await stored('nc'))!.type).toBe('webdav');
    expect(await remotes.diff(wanted)).toEqual({ kind: 'equal' });
  });

  it('uses a given diff and dump without asking rclone again', async () => {
    const wanted = spec('disk');
    const dumpSpy = vi.spyOn(rc, 'configDump');
    expect((await remotes.apply(wanted, { kind: 'missing' })).action).toBe('created');
    expect((await remotes.apply(wanted, undefined, { disk: { type: 'local' } })).action).toBe('unchanged');
    expect(dumpSpy).not.toHaveBeenCalled();
  });

  it('an rclone error is thrown even when rclone keeps the half-made remote in memory', async () => {
    const bogus: RemoteSpec = { name: 'bogus', type: 'no-such-backend', parameters: {}, oauth: false, obscuredKeys: [] };
    await expect(remotes.apply(bogus)).rejects.toMatchObject({ status: 500 });
    // rclone 1.60.1 keeps `{type}` of the failed create: it matches the spec, yet is no success.
    expect(await stored('bogus')).toEqual({ type: 'no-such-backend' });
  });

  it('without a running rclone every call is an RcError', async () => {
    const offline = new RemoteManager(() => undefined, () => undefined, silentLogger());
    await expect(offline.apply(spec('disk'))).rejects.toBeInstanceOf(RcError);
    await expect(offline.dump()).rejects.toBeInstanceOf(RcError);
  });

  it('without a running rclone a token push is a no-op that says so', async () => {
    const offline = new RemoteManager(() => undefined, () => undefined, silentLogger());
    await expect(offline.pushToken('od', token('x'))).resolves.toBe(false);
  });
});

describe('RemoteManager.pushToken', () => {
  it.each(['bucketstore', 'dbx', 'gdrive', 'od'])('changes only the token of %s, in rclone’s own encoding, without any rc config write', async (name) => {
    await remotes.apply(spec(name, context('EwB-1')));
    const before = (await stored(name))!;
    resetCalls();
    const pushed = token('EwB-pushed');
    await expect(remotes.pushToken(name, pushed)).resolves.toBe(true);
    expect(configCalls()).toBe(0);
    const after = (await stored(name))!;
    expect(after.token).toBe(rcloneTokenJson(pushed));
    expect(JSON.parse(after.token!)).toEqual({ ...pushed, expiry: goTime(Date.parse(pushed.expiry)) });
    expect({ ...after, token: undefined }).toEqual({ ...before, token: undefined });
  });

  it('to a remote rclone does not have yet pushes nothing (real-hannibal F4): the remote is created with its token later', async () => {
    resetCalls();
    await expect(remotes.pushToken('nowhere', token('x'))).resolves.toBe(false);
    expect(configCalls()).toBe(0);
    expect(await stored('nowhere')).toBeUndefined();
  });
});

describe('RemoteManager.reloadRemote', () => {
  it('rewrites the remote through config/update (which makes rclone drop its cached Fs) and leaves it as specified', async () => {
    const wanted = spec('dbx', context('EwB-1'));
    await remotes.apply(wanted);
    resetCalls();
    await remotes.reloadRemote(wanted);
    expect(calls.update).toHaveBeenCalledTimes(1);
    expect(await remotes.diff(wanted)).toEqual({ kind: 'equal' });
  });
});

describe('RemoteManager.syncAll', () => {
  it('creates and updates every spec and deletes remotes no spec explains; a failing spec does not stop the others', async () => {
    await rc.configCreate('stale', 'local', {});
    await rc.configCreate('nc', 'webdav', { url: 'https://old.example.com/', vendor: 'nextcloud', user: 'alice', pass: obscure('old') });
    await remotes.apply(spec('dbx', context('EwB-old')));
    const bogus: RemoteSpec = { name: 'bogus', type: 'no-such-backend', parameters: {}, oauth: false, obscuredKeys: [] };
    const specs = [bogus, ...ROWS.map((r) => spec(r.uriSchema))];

    expect(await remotes.syncAll(specs)).toEqual({ failed: ['bogus'] });

    const dump = await rc.configDump();
    expect(Object.keys(dump)).not.toContain('stale');
    expect(Object.keys(dump)).toEqual(expect.arrayContaining(ROWS.map((r) => r.uriSchema)));
    for (const wanted of specs.slice(1)) expect(await remotes.diff(wanted, dump), wanted.name).toEqual({ kind: 'equal' });
  });

  it('a second run with the same specs changes nothing', async () => {
    const ctx = context();
    await remotes.syncAll(ROWS.map((r) => spec(r.uriSchema, ctx)));
    resetCalls();
    // Built again: passwords get new IVs, the token is the same.
    expect(await remotes.syncAll(ROWS.map((r) => spec(r.uriSchema, ctx)))).toEqual({ failed: [] });
    expect(configCalls()).toBe(0);
  });
});
