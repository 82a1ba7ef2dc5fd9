import { describe, expect, it } from 'vitest';
import type { Storage } from '../../../shared/hannibal.js';
import type { RcloneToken } from '../../../shared/rclone-rc.js';
import { StorageError } from '../../src/errors.js';
import { reveal } from '../../src/rclone/obscure.js';
import { buildRemoteSpec, validateRemoteName, type RemoteContext } from '../../src/storage/remote-spec.js';

function storage(fields: Partial<Storage> & Pick<Storage, 'technology' | 'uriSchema'>): Storage {
  return { id: 1, ...fields };
}

/** A hub row as Hannibal sends it for an OAuth storage: refresh token and client secret included. */
function oauthStorage(technology: string, uriSchema: string): Storage {
  return storage({
    technology,
    uriSchema,
    accessToken: 'hub-access',
    refreshToken: 'M.C5-refresh-secret',
    clientId: 'client-id',
    clientSecret: 'client-secret-value',
    expiresAt: '2026-03-02T10:00:00Z',
  });
}

const TOKEN: RcloneToken = { access_token: 'EwB-access-1', token_type: 'Bearer', expiry: '2026-03-02T10:00:00.000Z' };
/** A token as the broker might hand it over, with fields rclone must never get. */
const TOKEN_WITH_REFRESH = { ...TOKEN, refresh_token: 'M.C5-refresh-secret' };

function storageErrorOf(fn: () => unknown): StorageError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(StorageError);
  return caught as StorageError;
}

function expectOnlyAccessToken(parameters: Record<string, string>): void {
  expect(JSON.parse(parameters.token!)).toEqual(TOKEN);
  const all = JSON.stringify(parameters);
  expect(all).not.toContain('refresh');
  expect(all).not.toContain('M.C5-refresh-secret');
  expect(all).not.toContain('client-secret-value');
  expect(Object.keys(parameters)).not.toContain('client_secret');
  expect(Object.keys(parameters)).not.toContain('client_id');
}

describe('buildRemoteSpec: local', () => {
  it('is a local remote without parameters, named after the uriSchema', () => {
    expect(buildRemoteSpec(storage({ technology: 'local', uriSchema: 'backup-disk' }))).toEqual({
      name: 'backup-disk',
      type: 'local',
      parameters: {},
      oauth: false,
      obscuredKeys: [],
    });
  });

  it('accepts the technology in any case', () => {
    expect(buildRemoteSpec(storage({ technology: 'Local', uriSchema: 'disk' })).type).toBe('local');
  });
});

describe('buildRemoteSpec: nextcloud', () => {
  const nextcloud = (fields: Partial<Storage>): Storage =>
    storage({ technology: 'nextcloud', uriSchema: 'nc', host: 'cloud.example.com', username: 'alice', password: 's3cret', ...fields });

  it('is a webdav remote of vendor nextcloud at the user’s DAV files URL, https by default', () => {
    const spec = buildRemoteSpec(nextcloud({}));
    expect(spec).toMatchObject({ name: 'nc', type: 'webdav', oauth: false, obscuredKeys: ['pass'] });
    expect(spec.parameters).toMatchObject({
      url: 'https://cloud.example.com/remote.php/dav/files/alice/',
      vendor: 'nextcloud',
      user: 'alice',
    });
    expect(Object.keys(spec.parameters).sort()).toEqual(['pass', 'url', 'user', 'vendor']);
  });

  it('keeps an explicit scheme', () => {
    expect(buildRemoteSpec(nextcloud({ host: 'http://cloud.lan' })).parameters.url).toBe('http://cloud.lan/remote.php/dav/files/alice/');
  });

  it('appends the port when the host has none', () => {
    expect(buildRemoteSpec(nextcloud({ port: 8443 })).parameters.url).toBe('https://cloud.example.com:8443/remote.php/dav/files/alice/');
    expect(buildRemoteSpec(nextcloud({ host: 'http://cloud.lan', port: 8080 })).parameters.url).toBe('http://cloud.lan:8080/remote.php/dav/files/alice/');
  });

  it('keeps the host’s own port over the storage port', () => {
    expect(buildRemoteSpec(nextcloud({ host: 'http://cloud.lan:9000', port: 8080 })).parameters.url).toBe('http://cloud.lan:9000/remote.php/dav/files/alice/');
  });

  it('ignores a zero or missing port', () => {
    expect(buildRemoteSpec(nextcloud({ port: 0 })).parameters.url).toBe('https://cloud.example.com/remote.php/dav/files/alice/');
    expect(buildRemoteSpec(nextcloud({ port: null })).parameters.url).toBe('https://cloud.example.com/remote.php/dav/files/alice/');
  });

  it('URL-encodes the user name in the path, not in `user`', () => {
    const spec = buildRemoteSpec(nextcloud({ username: 'bob smith@example.com' }));
    expect(spec.parameters.url).toBe('https://cloud.example.com/remote.php/dav/files/bob%20smith%40example.com/');
    expect(spec.parameters.user).toBe('bob smith@example.com');
  });

  it('obscures the password: reveal() gives the plain text, two builds differ (random IV)', () => {
    const a = buildRemoteSpec(nextcloud({})).parameters.pass!;
    const b = buildRemoteSpec(nextcloud({})).parameters.pass!;
    expect(a).not.toContain('s3cret');
    expect(reveal(a)).toBe('s3cret');
    expect(reveal(b)).toBe('s3cret');
    expect(a).not.toBe(b);
  });

  it('keeps the password exactly as the hub has it, surrounding spaces included', () => {
    expect(reveal(buildRemoteSpec(nextcloud({ password: '  pass phrase  ' })).parameters.pass!)).toBe('  pass phrase  ');
  });

  it.each(['host', 'username', 'password'] as const)('a missing %s is a StorageError naming the storage', (field) => {
    for (const value of [undefined, null, '', '   ']) {
      const err = storageErrorOf(() => buildRemoteSpec(nextcloud({ [field]: value })));
      expect(err.uriSchema).toBe('nc');
      expect(err.code).toBe('WORKER_ERR_STORAGE');
      expect(err.permanent).toBe(true);
      expect(err.message).toContain('nc');
      expect(err.message).toContain(field);
    }
  });

  it('an unparseable host is a StorageError naming the storage', () => {
    const err = storageErrorOf(() => buildRemoteSpec(nextcloud({ host: 'https://exa mple.com' })));
    expect(err.uriSchema).toBe('nc');
    expect(err.message).toContain('nc');
  });

  it('never puts the plain password into an error message', () => {
    const err = storageErrorOf(() => buildRemoteSpec(nextcloud({ host: '', password: 'hunter2' })));
    expect(err.message).not.toContain('hunter2');
  });
});

describe('buildRemoteSpec: smb', () => {
  it('carries host, user, obscured pass, domain and port', () => {
    const spec = buildRemoteSpec(
      storage({ technology: 'smb', uriSchema: 'nas', host: 'nas.lan', username: 'bob', password: 'pw', domain: 'WORKGROUP', port: 4450 }),
    );
    expect(spec).toMatchObject({ name: 'nas', type: 'smb', oauth: false, obscuredKeys: ['pass'] });
    expect(spec.parameters).toEqual({ host: 'nas.lan', user: 'bob', pass: spec.parameters.pass, domain: 'WORKGROUP', port: '4450' });
    expect(reveal(spec.parameters.pass!)).toBe('pw');
  });

  it('leaves out what the hub does not set (guest access, default port)', () => {
    expect(buildRemoteSpec(storage({ technology: 'smb', uriSchema: 'nas', host: 'nas.lan', port: 0 })).parameters).toEqual({ host: 'nas.lan' });
  });

  it('a missing host is a StorageError naming the storage', () => {
    const err = storageErrorOf(() => buildRemoteSpec(storage({ technology: 'smb', uriSchema: 'nas', username: 'bob' })));
    expect(err.uriSchema).toBe('nas');
    expect(err.message).toContain('host');
  });
});

describe('buildRemoteSpec: OAuth technologies', () => {
  const context: RemoteContext = { token: TOKEN_WITH_REFRESH, tokenUrl: 'http://127.0.0.1:9/token' };

  it('onedrive carries the drive id/type and only the access token', () => {
    const spec = buildRemoteSpec(oauthStorage('onedrive', 'od'), { ...context, onedriveDrive: { id: 'b!drive', type: 'business' } });
    expect(spec).toMatchObject({ name: 'od', type: 'onedrive', oauth: true, obscuredKeys: [] });
    expect(Object.keys(spec.parameters).sort()).toEqual(['drive_id', 'drive_type', 'token', 'token_url']);
    expect(spec.parameters).toMatchObject({ drive_id: 'b!drive', drive_type: 'business', token_url: 'http://127.0.0.1:9/token' });
    expectOnlyAccessToken(spec.parameters);
  });

  it('onedrive without a known drive is a StorageError', () => {
    const err = storageErrorOf(() => buildRemoteSpec(oauthStorage('onedrive', 'od'), context));
    expect(err.uriSchema).toBe('od');
  });

  it('dropbox has only the token (and token_url)', () => {
    const spec = buildRemoteSpec(oauthStorage('dropbox', 'dbx'), context);
    expect(spec).toMatchObject({ type: 'dropbox', oauth: true });
    expect(Object.keys(spec.parameters).sort()).toEqual(['token', 'token_url']);
    expectOnlyAccessToken(spec.parameters);
  });

  it('googledrive is rclone type drive with scope drive', () => {
    const spec = buildRemoteSpec(oauthStorage('googledrive', 'gd'), context);
    expect(spec).toMatchObject({ type: 'drive', oauth: true });
    expect(spec.parameters.scope).toBe('drive');
    expectOnlyAccessToken(spec.parameters);
  });

  it('gcs has bucket_policy_only and the endpoint with a trailing slash', () => {
    const spec = buildRemoteSpec(oauthStorage('gcs', 'bucketstore'), { ...context, gcsApiUrl: 'http://127.0.0.1:9/storage/v1' });
    expect(spec).toMatchObject({ type: 'gcs', oauth: true });
    expect(spec.parameters).toMatchObject({ bucket_policy_only: 'true', endpoint: 'http://127.0.0.1:9/storage/v1/' });
    expect(buildRemoteSpec(oauthStorage('gcs', 'b'), { ...context, gcsApiUrl: 'http://127.0.0.1:9/storage/v1/' }).parameters.endpoint).toBe(
      'http://127.0.0.1:9/storage/v1/',
    );
    expectOnlyAccessToken(spec.parameters);
  });

  it('gcs without an API URL leaves rclone’s default endpoint; no token_url without one', () => {
    const spec = buildRemoteSpec(oauthStorage('gcs', 'b'), { token: TOKEN });
    expect(Object.keys(spec.parameters).sort()).toEqual(['bucket_policy_only', 'token']);
  });

  it('uses the broker’s token, never the hub row’s', () => {
    const spec = buildRemoteSpec(oauthStorage('dropbox', 'dbx'), context);
    expect(JSON.stringify(spec)).not.toContain('hub-access');
  });

  it.each(['onedrive', 'dropbox', 'googledrive', 'gcs'])('%s without an access token is a StorageError', (technology) => {
    const drive = { id: 'd', type: 'personal' };
    expect(storageErrorOf(() => buildRemoteSpec(oauthStorage(technology, 'oa'), { onedriveDrive: drive })).uriSchema).toBe('oa');
    expect(
      storageErrorOf(() => buildRemoteSpec(oauthStorage(technology, 'oa'), { onedriveDrive: drive, token: { ...TOKEN, access_token: '' } })).uriSchema,
    ).toBe('oa');
  });
});

describe('buildRemoteSpec: invalid rows', () => {
  it('an unknown technology is a StorageError naming the storage and the technology', () => {
    const err = storageErrorOf(() => buildRemoteSpec(storage({ technology: 'ftp', uriSchema: 'legacy' })));
    expect(err.uriSchema).toBe('legacy');
    expect(err.message).toContain('legacy');
    expect(err.message).toContain('ftp');
  });

  // rclone 1.60.1 itself refuses a leading `-`, `+`, `@` and non-ASCII letters (config/create answers an error).
  it.each(['-dash-first', 'a+b', 'user@host', 'é', ' space-first', 'trailing-space ', 'has:colon', 'has/slash', 'x'.repeat(201)])('uriSchema %j is refused', (uriSchema) => {
    const err = storageErrorOf(() => buildRemoteSpec(storage({ technology: 'local', uriSchema })));
    expect(err.uriSchema).toBe(uriSchema);
    expect(err.message).toContain(uriSchema);
  });

  it('an empty uriSchema is a StorageError naming the storage id', () => {
    const err = storageErrorOf(() => buildRemoteSpec({ id: 42, technology: 'local', uriSchema: '' }));
    expect(err.message).toContain('42');
  });

  it.each(['nc', 'my remote', '.hidden', '_x', 'a.b_c-d e', 'X'.repeat(200)])('uriSchema %j is a valid remote name', (uriSchema) => {
    expect(() => {
      validateRemoteName(uriSchema);
    }).not.toThrow();
  });
});

describe("values rclone's config file cannot hold (issue 9.8)", () => {
  const nextcloud = (fields: Partial<Storage>) =>
    storage({ technology: 'nextcloud', uriSchema: 'nc', host: 'cloud.example.com', username: 'ann', password: 'pw', ...fields });

  it.each([
    ['a user name that opens a section of its own', { username: 'x\n[evil]\ntype = local' }, 'username contains a line break'],
    ['a user name that injects a token line', { username: 'ann\ntoken = {"access_token":"stolen"}' }, 'username contains a line break'],
    ['a carriage return', { username: 'ann\rtoken = x' }, 'username contains a line break'],
    ['a backtick', { username: 'an`n' }, 'username contains a backtick'],
    ['a very long user name', { username: 'a'.repeat(5000) }, 'username is longer than 4096 characters'],
    ['a host with a line break', { host: 'cloud.example.com\n[evil]' }, 'host contains a line break'],
    ['a host with "]"', { host: 'cloud]example.com' }, 'is not a valid host or URL'],
    ['a port that is text', { port: '443\n' as unknown as number }, 'port is not a whole number'],
    ['a user name that is not text', { username: { $ne: null } as unknown as string }, 'username is not text'],
  ])('refuses %s, naming the field and never the value', (_what, fields, says) => {
    const error = (() => {
      try {
        buildRemoteSpec(nextcloud(fields));
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toContain(says);
    expect((error as Error).message).not.toContain('stolen');
    expect((error as Error).message).not.toContain('[evil]');
  });

  it('keeps "]", "=", "#", ";", quotes and non-ASCII, which rclone stores and reads back intact', () => {
    const spec = buildRemoteSpec(nextcloud({ username: 'a]b=c#d;e"f\'g-ü' }));
    expect(spec.parameters.user).toBe('a]b=c#d;e"f\'g-ü');
  });

  it('a password may hold anything: it reaches rclone obscured', () => {
    const spec = buildRemoteSpec(nextcloud({ password: ' p\nw\ntoken = x ' }));
    expect(reveal(spec.parameters.pass ?? '')).toBe(' p\nw\ntoken = x ');
  });

  it('an access token with a line break stays inside the JSON of the token line', () => {
    const spec = buildRemoteSpec(oauthStorage('gcs', 'g'), { token: { ...TOKEN, access_token: 'a\n[evil]\ntype = local' } });
    expect(spec.parameters.token).not.toMatch(/\n/);
    expect((JSON.parse(spec.parameters.token ?? '{}') as { access_token: string }).access_token).toBe('a\n[evil]\ntype = local');
  });
});
