/**
 * How a run ended, from rclone 1.60.1's own texts: the research files quote them
 * (rclone-lab.md Q6, rclone-providers-lab.md Q2, side-by-side.md T1), and the WebDAV 503, 507,
 * 403 and refused-port texts were captured from Debian's rclone 1.60.1 against a loopback server
 * for this classifier. Texts marked "shape" are composed from the provider's documented error
 * code in rclone's message format, not captured.
 */
import { describe, expect, it } from 'vitest';
import { RcError, ReauthRequiredError, StorageError, TokenRefreshError } from '../../src/errors.js';
import { classifyRunEnd, classifyStartFailure, type RunEnd } from '../../src/jobs/failure.js';

function end(error: string, transfers = 0): RunEnd {
  return classifyRunEnd({ success: false, error }, { transfers });
}

describe('classifyRunEnd', () => {
  it('a successful run is a success, whatever the stats', () => {
    expect(classifyRunEnd({ success: true, error: '' }, { transfers: 0 })).toEqual({ class: 'success' });
    expect(classifyRunEnd({ success: true, error: '' }, undefined)).toEqual({ class: 'success' });
  });

  it.each([
    // [situation, rclone's error, kind]
    ['local source missing (rclone-lab Q3)', 'directory not found', 'not-found'],
    ['OneDrive item missing (shape)', 'itemNotFound: The resource could not be found.', 'not-found'],
    ['Dropbox path missing (shape)', 'error listing: path/not_found/..', 'not-found'],
    ['Drive/GCS 404 (shape)', 'googleapi: Error 404: No such object: bkt/x, notFound', 'not-found'],
    ['WebDAV 403 (captured)', 'Access denied: Sabre\\DAV\\Exception\\Forbidden: 403 Forbidden', 'permission'],
    ['local permission (Go)', 'open /srv/backup/a.txt: permission denied', 'permission'],
    ['Drive insufficient permissions (shape)', 'googleapi: Error 403: The user does not have sufficient permissions for this file., insufficientPermissions', 'permission'],
    ['WebDAV 507 (captured)', 'Insufficient space in /: Sabre\\DAV\\Exception\\InsufficientStorage: 507 Insufficient Storage', 'quota'],
    ['Drive storage quota (shape)', 'googleapi: Error 403: The user\'s Drive storage quota has been exceeded., storageQuotaExceeded', 'quota'],
    ['OneDrive quota (shape)', 'quotaLimitReached: Insufficient Space Available', 'quota'],
    ['Dropbox full (shape)', 'upload failed: path/insufficient_space/', 'quota'],
    ['local disk full (Go)', 'write /mnt/usb/a.bin: no space left on device', 'quota'],
    ['Dropbox malformed path (shape)', 'path/malformed_path/', 'invalid-path'],
    ['a file where a directory must go', 'mkdir /srv/out2/d1: not a directory', 'invalid-path'],
    ['remote missing in rclone config', "didn't find section in config file", 'misconfigured'],
    ['remote without type (F4)', "couldn't find type field in config", 'misconfigured'],
    ['overlapping sync', "can't sync or move files on overlapping remotes", 'unsupported'],
    ['backend cannot do it', 'server-side copy is not supported', 'unsupported'],
  ])('%s → deterministic %s', (_situation, error, kind) => {
    expect(end(error)).toEqual({ class: 'deterministic', kind, reason: error });
  });

  it.each([
    ['WebDAV 503 at Fs creation (captured)', 'read metadata failed: Service Unavailable: 503 Service Unavailable', 'server'],
    ['refused port (captured)', 'read metadata failed: Propfind "http://127.0.0.1:9/dst": dial tcp 127.0.0.1:9: connect: connection refused', 'network'],
    ['Google backend error (shape)', 'googleapi: Error 503: Backend Error, backendError', 'server'],
    ['502 from a proxy', 'Put "https://nc.example/remote.php/dav/files/a/x": 502 Bad Gateway', 'server'],
    ['connection reset', 'read tcp 10.0.0.2:50412->10.0.0.9:443: read: connection reset by peer', 'network'],
    ['DNS down', 'Get "https://graph.microsoft.com/v1.0/drives/x/root": dial tcp: lookup graph.microsoft.com: no such host', 'network'],
    ['timeout', 'Post "https://content.dropboxapi.com/2/files/upload": net/http: request canceled (Client.Timeout exceeded while awaiting headers)', 'network'],
    ['cut off', 'Put "https://x/y": unexpected EOF', 'network'],
    ['Google rate limit is a 403, not a permission error (shape)', 'googleapi: Error 403: User Rate Limit Exceeded., userRateLimitExceeded', 'rate-limit'],
    ['Graph 429 (shape)', 'activityLimitReached: The request has been throttled', 'rate-limit'],
    ['Dropbox write contention (shape)', 'upload failed: too_many_write_operations/', 'rate-limit'],
    ['unrecognised, nothing transferred', 'Dropbox root \'x\': batcher is shutting down', 'unrecognised'],
  ])('%s → transient %s', (_situation, error, kind) => {
    expect(end(error)).toEqual({ class: 'transient', kind, reason: error });
  });

  it('an unrecognised error after the run copied files of its own is done, with errors (partial)', () => {
    expect(end('failed to copy 2 files', 5)).toEqual({ class: 'deterministic', kind: 'partial', reason: 'failed to copy 2 files' });
  });

  it('a transient error wins over partial progress: the retry resumes the copy', () => {
    expect(end('read metadata failed: Service Unavailable: 503 Service Unavailable', 12)).toMatchObject({ class: 'transient', kind: 'server' });
  });

  it.each([
    ['OneDrive (side-by-side T1)', 'InvalidAuthenticationToken: Access token has expired or is not yet valid.', 'InvalidAuthenticationToken'],
    ['Drive (providers-lab Q2)', "couldn't find root directory ID: googleapi: Error 401: Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential., authError", 'Error 401'],
    ['Dropbox (providers-lab Q2)', 'error listing: expired_access_token/', 'expired_access_token'],
    ['WebDAV (rclone-lab Q6)', 'Update mkParentDir failed: Unauthorized: 401 Unauthorized', '401 Unauthorized'],
    ['GCS without refresh token (rclone-lab Q6)', 'Post "http://127.0.0.1:18090/upload": token expired and there\'s no refresh token - manually refresh with "rclone config reconnect gcsB:"', "token expired and there's no refresh token"],
  ])('an auth failure comes first, before any other reading: %s', (_situation, error, signature) => {
    expect(end(error)).toMatchObject({ class: 'auth', signal: { signature }, reason: error });
  });

  it('an auth failure rclone logged during the run decides when the final error is a follow-on', () => {
    const logged = { signature: 'InvalidAuthenticationToken', technologies: ['onedrive'] };
    expect(classifyRunEnd({ success: false, error: 'context canceled' }, { transfers: 16 }, logged)).toEqual({
      class: 'auth',
      signal: logged,
      reason: 'context canceled',
    });
  });

  it('gives the first line of the error as the reason, bounded, and names a failure without a message', () => {
    expect(end('directory not found\nmore')).toMatchObject({ reason: 'directory not found' });
    expect(end('')).toMatchObject({ class: 'transient', reason: 'rclone reported failure without a message' });
    const long = end(`connection refused ${'x'.repeat(2000)}`);
    expect(long).toMatchObject({ class: 'transient' });
    expect((long as { reason: string }).reason).toHaveLength(501);
  });
});

describe('classifyStartFailure', () => {
  it.each<[string, Error, string]>([
    ['breaker open', new ReauthRequiredError(10, 'storage od needs re-authentication: invalid_grant'), 'reauth'],
    ['permanent refresh error', new TokenRefreshError(10, 'token endpoint answered invalid_grant', { permanent: true }), 'reauth'],
    ['token endpoint down', new TokenRefreshError(10, 'token endpoint answered 503', { permanent: false, httpStatus: 503 }), 'transient'],
    ['malformed or unknown storage', new StorageError('job 1: source storage 99 is unknown to the hub', undefined), 'deterministic'],
    ['rc refused: remote missing', new RcError('sync/copy', "didn't find section in config file", 500), 'deterministic'],
    ['rc answered 500 for now', new RcError('sync/copy', 'failed to create file system: dial tcp: i/o timeout', 500), 'transient'],
    ['rc unanswered while rclone is up', new RcError('sync/copy', 'connect ECONNREFUSED 127.0.0.1:5572', undefined), 'transient'],
  ])('%s → %s', (_situation, err, cls) => {
    expect(classifyStartFailure(err, true).class).toBe(cls);
  });

  it('a storage error is misconfigured unless its text says more (an operation the hub invented: unsupported)', () => {
    expect(classifyStartFailure(new StorageError('job 1: source storage 99 is unknown to the hub', undefined), true)).toMatchObject({ kind: 'misconfigured' });
    expect(classifyStartFailure(new StorageError('job 1: operation 7 is not supported', undefined), true)).toMatchObject({ kind: 'unsupported' });
  });

  it('an unanswered rc call while rclone is down waits for rclone', () => {
    expect(classifyStartFailure(new RcError('sync/copy', 'connect ECONNREFUSED 127.0.0.1:5572', undefined), false).class).toBe('rclone-down');
  });
});
