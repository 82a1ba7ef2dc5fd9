import { describe, expect, it } from 'vitest';
import { obscure } from '../../src/rclone/obscure.js';
import { diffRemote, sameToken } from '../../src/storage/remote-diff.js';
import type { RemoteSpec } from '../../src/storage/remote-spec.js';

const TOKEN = JSON.stringify({ access_token: 'EwB-1', token_type: 'Bearer', expiry: '2026-03-02T10:00:00Z' });

function gcsSpec(token = TOKEN): RemoteSpec {
  return {
    name: 'g',
    type: 'gcs',
    parameters: { bucket_policy_only: 'true', endpoint: 'http://127.0.0.1:9/storage/v1/', token_url: 'http://127.0.0.1:9/token', token },
    oauth: true,
    obscuredKeys: [],
  };
}

function webdavSpec(password = 's3cret'): RemoteSpec {
  return {
    name: 'nc',
    type: 'webdav',
    parameters: { url: 'https://cloud/remote.php/dav/files/alice/', vendor: 'nextcloud', user: 'alice', pass: obscure(password) },
    oauth: false,
    obscuredKeys: ['pass'],
  };
}

/** What `config/dump` would hold for a spec: its parameters plus `type`. */
function stored(spec: RemoteSpec, changes: Record<string, string | undefined> = {}): Record<string, string> {
  const entry: Record<string, string> = { type: spec.type, ...spec.parameters };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) Reflect.deleteProperty(entry, key);
    else entry[key] = value;
  }
  return entry;
}

describe('diffRemote', () => {
  it('no remote in rclone → missing', () => {
    expect(diffRemote(gcsSpec(), undefined)).toEqual({ kind: 'missing' });
  });

  it('the same remote → equal, whatever the key order', () => {
    const spec = gcsSpec();
    const reversed = Object.fromEntries(Object.entries(stored(spec)).reverse());
    expect(diffRemote(spec, reversed)).toEqual({ kind: 'equal' });
  });

  it('a local remote with only its type → equal', () => {
    expect(diffRemote({ name: 'd', type: 'local', parameters: {}, oauth: false, obscuredKeys: [] }, { type: 'local' })).toEqual({ kind: 'equal' });
  });

  describe('token JSON is compared by content', () => {
    const variants: [string, string][] = [
      ['key order', JSON.stringify({ expiry: '2026-03-02T10:00:00Z', token_type: 'Bearer', access_token: 'EwB-1' })],
      ['whitespace', JSON.stringify(JSON.parse(TOKEN), null, 2)],
      ['token type case', JSON.stringify({ access_token: 'EwB-1', token_type: 'bearer', expiry: '2026-03-02T10:00:00Z' })],
      ['Go’s nanosecond expiry', JSON.stringify({ access_token: 'EwB-1', token_type: 'Bearer', expiry: '2026-03-02T10:00:00.000000000Z' })],
      ['millisecond expiry', JSON.stringify({ access_token: 'EwB-1', token_type: 'Bearer', expiry: '2026-03-02T10:00:00.000Z' })],
      ['an offset instead of Z', JSON.stringify({ access_token: 'EwB-1', token_type: 'Bearer', expiry: '2026-03-02T11:00:00+01:00' })],
    ];
    it.each(variants)('%s does not matter', (_what, token) => {
      expect(sameToken(TOKEN, token)).toBe(true);
      expect(diffRemote(gcsSpec(), stored(gcsSpec(), { token }))).toEqual({ kind: 'equal' });
    });

    it('another access token → token-only', () => {
      const token = JSON.stringify({ access_token: 'EwB-2', token_type: 'Bearer', expiry: '2026-03-02T10:00:00Z' });
      expect(diffRemote(gcsSpec(), stored(gcsSpec(), { token }))).toEqual({ kind: 'token-only' });
    });

    it('another expiry instant → token-only', () => {
      const token = JSON.stringify({ access_token: 'EwB-1', token_type: 'Bearer', expiry: '2026-03-02T10:00:01Z' });
      expect(diffRemote(gcsSpec(), stored(gcsSpec(), { token }))).toEqual({ kind: 'token-only' });
    });

    it('a refresh token rclone still holds (an old config) → token-only, so it gets replaced', () => {
      const token = JSON.stringify({ ...JSON.parse(TOKEN), refresh_token: 'M.C5-old' });
      expect(diffRemote(gcsSpec(), stored(gcsSpec(), { token }))).toEqual({ kind: 'token-only' });
    });

    it('no token in rclone → token-only', () => {
      expect(diffRemote(gcsSpec(), stored(gcsSpec(), { token: undefined }))).toEqual({ kind: 'token-only' });
    });

    it('text that is not JSON is compared as text', () => {
      expect(sameToken('not json', 'not json')).toBe(true);
      expect(sameToken('not json', TOKEN)).toBe(false);
      expect(diffRemote(gcsSpec(), stored(gcsSpec(), { token: '{broken' }))).toEqual({ kind: 'token-only' });
    });
  });

  describe('obscured passwords are compared by their revealed value', () => {
    it('two obscured forms of the same password → equal', () => {
      const spec = webdavSpec('s3cret');
      const other = obscure('s3cret');
      expect(other).not.toBe(spec.parameters.pass);
      expect(diffRemote(spec, stored(spec, { pass: other }))).toEqual({ kind: 'equal' });
    });

    it('another password → params naming `pass`, not its value', () => {
      const spec = webdavSpec('s3cret');
      const diff = diffRemote(spec, stored(spec, { pass: obscure('other-secret') }));
      expect(diff).toEqual({ kind: 'params', keys: ['pass'] });
      expect(JSON.stringify(diff)).not.toContain('secret');
    });

    it('a value rclone stores in clear (not obscured) still compares by meaning', () => {
      const spec = webdavSpec('s3cret');
      expect(diffRemote(spec, stored(spec, { pass: 'not obscured!' }))).toEqual({ kind: 'params', keys: ['pass'] });
    });

    it('only keys the spec declares obscured are revealed', () => {
      const spec = webdavSpec();
      // `user` compares as text: an obscured form of the same user name is a change.
      expect(diffRemote(spec, stored(spec, { user: obscure('alice') }))).toEqual({ kind: 'params', keys: ['user'] });
    });
  });

  describe('other changes are reported by key name', () => {
    it('a changed key', () => {
      const spec = webdavSpec();
      expect(diffRemote(spec, stored(spec, { url: 'https://old/remote.php/dav/files/alice/' }))).toEqual({ kind: 'params', keys: ['url'] });
    });

    it('a key rclone lacks (added) and a key rclone has too many (removed), sorted', () => {
      const spec = webdavSpec();
      const diff = diffRemote(spec, stored(spec, { vendor: undefined, bearer_token: 'stale-bearer' }));
      expect(diff).toEqual({ kind: 'params', keys: ['bearer_token', 'vendor'] });
      expect(JSON.stringify(diff)).not.toContain('stale-bearer');
    });

    it('token plus another key → params naming both', () => {
      const spec = gcsSpec();
      const token = JSON.stringify({ access_token: 'EwB-2', token_type: 'Bearer', expiry: '2026-03-02T10:00:00Z' });
      expect(diffRemote(spec, stored(spec, { token, endpoint: 'http://elsewhere/' }))).toEqual({ kind: 'params', keys: ['endpoint', 'token'] });
    });

    it('a type change → params including `type`', () => {
      const spec = webdavSpec();
      const diff = diffRemote(spec, { type: 'local' });
      expect(diff.kind).toBe('params');
      expect(diff.kind === 'params' && diff.keys).toContain('type');
    });

    it('a type change with the same keys is still params', () => {
      const spec = gcsSpec();
      expect(diffRemote(spec, stored(spec, { type: 'drive' }))).toEqual({ kind: 'params', keys: ['type'] });
    });

    it('config_refresh_token, which only steers config/create, is never a difference', () => {
      const spec = gcsSpec();
      const withFlag: RemoteSpec = { ...spec, parameters: { ...spec.parameters, config_refresh_token: 'false' } };
      expect(diffRemote(withFlag, stored(spec))).toEqual({ kind: 'equal' });
      expect(diffRemote(spec, stored(spec, { config_refresh_token: 'false' }))).toEqual({ kind: 'equal' });
    });
  });
});
