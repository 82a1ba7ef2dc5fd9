/** Whose grant is newer when the hub's row and the worker disagree (grant-lineage.ts). */
import { describe, expect, it } from 'vitest';
import type { Storage } from '../../../shared/hannibal.js';
import { clientFingerprint, compareWithHub, type HeldGrant } from '../../src/tokens/grant-lineage.js';

const ROW: Storage = {
  id: 3,
  technology: 'onedrive',
  uriSchema: 'od',
  clientId: 'app-1',
  clientSecret: 'app-1-secret',
  accessToken: 'at-1',
  refreshToken: 'rt-1',
  expiresAt: '2026-03-02T10:00:00.000Z',
  updatedAt: '2026-03-02T09:00:00.000Z',
};

/** We rotated rt-0 → rt-1 → rt-2. */
const HELD: HeldGrant = { refreshToken: 'rt-2', supersededRefreshTokens: ['rt-1', 'rt-0'], client: clientFingerprint(ROW), technology: 'onedrive' };

describe('compareWithHub', () => {
  it('calls the hub behind when it holds any refresh token we superseded, whatever its timestamps say', () => {
    expect(compareWithHub(ROW, HELD)).toBe('hub-behind');
    expect(compareWithHub({ ...ROW, refreshToken: 'rt-0' }, HELD)).toBe('hub-behind');
    // An unrelated edit after our rotation (a rename) moves updatedAt, not the grant.
    expect(compareWithHub({ ...ROW, uriSchema: 'renamed', updatedAt: '2030-01-01T00:00:00.000Z', expiresAt: '2030-01-01T00:00:00.000Z' }, HELD)).toBe('hub-behind');
  });

  it('calls it the same grant when the hub holds our refresh token and client', () => {
    expect(compareWithHub({ ...ROW, refreshToken: 'rt-2', accessToken: 'another-at' }, HELD)).toBe('same');
    expect(compareWithHub({ ...ROW, technology: 'OneDrive', refreshToken: 'rt-2' }, HELD)).toBe('same');
  });

  it('calls a refresh token we never had, none, or another client another grant (a re-authentication wins)', () => {
    expect(compareWithHub({ ...ROW, refreshToken: 'rt-reauth' }, HELD)).toBe('other-grant');
    // A re-authentication issued *before* our rotation is still another grant: the user may have moved the storage to another account.
    expect(compareWithHub({ ...ROW, refreshToken: 'rt-reauth', updatedAt: '2020-01-01T00:00:00.000Z' }, HELD)).toBe('other-grant');
    expect(compareWithHub({ ...ROW, refreshToken: null }, HELD)).toBe('other-grant');
    expect(compareWithHub({ ...ROW, refreshToken: 'rt-2', clientSecret: 'rotated-secret' }, HELD)).toBe('other-grant');
    expect(compareWithHub({ ...ROW, refreshToken: 'rt-0', clientId: 'app-2' }, HELD)).toBe('other-grant');
    expect(compareWithHub({ ...ROW, refreshToken: 'rt-2', technology: 'dropbox' }, HELD)).toBe('other-grant');
  });

  it('tags a client without revealing its secret', () => {
    expect(clientFingerprint(ROW)).toMatch(/^[0-9a-f]{8}$/);
    expect(clientFingerprint(ROW)).not.toBe(clientFingerprint({ ...ROW, clientSecret: 'other' }));
    expect(clientFingerprint({ clientId: null })).toBe(clientFingerprint({ clientId: '', clientSecret: '' }));
  });
});
