import { describe, expect, it } from 'vitest';
import { detectAuthFailure, parseRcloneLogLine } from '../../src/rclone/log-line.js';

describe('parseRcloneLogLine', () => {
  it('reads a JSON record with object fields (rclone 1.60 --use-json-log)', () => {
    const line =
      '{"level":"error","msg":"Failed to copy: Update mkParentDir failed: Unauthorized: 401 Unauthorized","object":"s048.txt","objectType":"*local.Object","source":"operations/operations.go:538","time":"2026-11-22T10:42:28.1+00:00"}';
    expect(parseRcloneLogLine(line)).toEqual({
      level: 'error',
      msg: 'Failed to copy: Update mkParentDir failed: Unauthorized: 401 Unauthorized',
      object: 's048.txt',
      objectType: '*local.Object',
      source: 'operations/operations.go:538',
      time: '2026-11-22T10:42:28.1+00:00',
      json: true,
    });
  });

  it.each([
    ['debug', 'debug'],
    ['info', 'info'],
    ['warning', 'warning'],
    ['error', 'error'],
    ['fatal', 'critical'],
  ] as const)('maps JSON level %s to %s', (level, expected) => {
    expect(parseRcloneLogLine(JSON.stringify({ level, msg: 'm' })).level).toBe(expected);
  });

  it('treats rclone NOTICE (logged as "warning") as a warning', () => {
    const line = '{"level":"warning","msg":"Serving remote control on http://127.0.0.1:15999/","source":"rcserver/rcserver.go:141","time":"2026-11-22T19:42:11.60891+00:00"}';
    expect(parseRcloneLogLine(line)).toMatchObject({ level: 'warning', msg: 'Serving remote control on http://127.0.0.1:15999/', json: true });
  });

  it.each([
    [
      '2026/11/22 10:48:20 Failed to start remote control: start server failed: listen tcp 127.0.0.1:15572: bind: address already in use',
      { level: 'critical', msg: 'Failed to start remote control: start server failed: listen tcp 127.0.0.1:15572: bind: address already in use', json: false },
    ],
    [
      '2026/11/22 19:43:34 Failed to create file system for "nosuchremote:": didn\'t find section in config file',
      { level: 'critical', msg: 'Failed to create file system for "nosuchremote:": didn\'t find section in config file', json: false },
    ],
    ['2026/11/22 10:16:54 INFO  : Using --user u --pass XXXX as authenticated user', { level: 'info', msg: 'Using --user u --pass XXXX as authenticated user', json: false }],
    ['2026/11/22 10:16:54 NOTICE: Serving remote control on http://127.0.0.1:15572/', { level: 'warning', msg: 'Serving remote control on http://127.0.0.1:15572/', json: false }],
    ['ERROR : big/big1.bin: Failed to copy: context canceled', { level: 'error', msg: 'big/big1.bin: Failed to copy: context canceled', json: false }],
    ['goroutine 1 [running]:', { level: 'info', msg: 'goroutine 1 [running]:', json: false }],
    ['panic: runtime error: invalid memory address', { level: 'critical', msg: 'panic: runtime error: invalid memory address', json: false }],
    ['{"not":"a log record"}', { level: 'info', msg: '{"not":"a log record"}', json: false }],
    ['{truncated json', { level: 'info', msg: '{truncated json', json: false }],
  ])('reads the plain-text line %j', (line, expected) => {
    expect(parseRcloneLogLine(line)).toEqual(expected);
  });
});

describe('detectAuthFailure', () => {
  // Messages as observed from rclone 1.60.1 (research/rclone-lab.md Q6).
  it.each([
    ['webdav 401 at Fs creation', 'read metadata failed: Unauthorized: 401 Unauthorized', '401 Unauthorized', undefined],
    [
      'webdav sabre-style 401',
      'read metadata failed: Bearer token invalid or expired: NotAuthenticated: 401 Unauthorized',
      'NotAuthenticated',
      undefined,
    ],
    ['webdav token revoked mid-job', 'Update mkParentDir failed: Unauthorized: 401 Unauthorized', '401 Unauthorized', undefined],
    [
      'webdav per-file log line',
      'Failed to copy: Update mkParentDir failed: Unauthorized: 401 Unauthorized',
      '401 Unauthorized',
      undefined,
    ],
    [
      'bearer_token_command failing',
      'failed to get bearer token using "/tmp/q6/failcmd.sh": idp unreachable: connection refused: exit status 3',
      'failed to get bearer token using',
      undefined,
    ],
    [
      'OAuth refresh rejected with invalid_grant',
      'Get "http://127.0.0.1:18090/storage/v1/b/bkt/o?alt=json": couldn\'t fetch token - maybe it has expired? - refresh with "rclone config reconnect gcs_refresh_fails:": oauth2: cannot fetch token: 400 Bad Request\nResponse: {"error":"invalid_grant","error_description":"Token has been expired or revoked."}',
      'invalid_grant',
      'gcs_refresh_fails',
    ],
    [
      'OAuth refresh failing without invalid_grant',
      'error reading destination root directory: Get "http://x": couldn\'t fetch token - maybe it has expired? - refresh with "rclone config reconnect gcsA:": oauth2: cannot fetch token: 503 Service Unavailable',
      "couldn't fetch token",
      'gcsA',
    ],
    [
      'OAuth token expired with no refresh token',
      'Post "http://127.0.0.1:18090/upload/storage/v1/b/bkt/o?uploadType=multipart": token expired and there\'s no refresh token - manually refresh with "rclone config reconnect gcsB:"',
      "token expired and there's no refresh token",
      'gcsB',
    ],
    ['OAuth 401 from the API', 'googleapi: Error 401: Invalid Credentials, authError', 'Error 401', undefined],
    [
      'OAuth 401 in a log line',
      'error reading destination root directory: googleapi: Error 401: Invalid Credentials, authError',
      'Error 401',
      undefined,
    ],
    ['token refresh debug line', 'Token refresh failed try 1/5: oauth2: cannot fetch token: 400 Bad Request', undefined, undefined],
    // Other providers (rclone-providers-lab.md Q2, side-by-side.md T1): none says "401".
    ['OneDrive 401 on a file (side-by-side S2)', 'Failed to copy: InvalidAuthenticationToken: Access token has expired or is not yet valid.', 'InvalidAuthenticationToken', undefined],
    ['OneDrive 401 at Fs creation', 'failed to get root: InvalidAuthenticationToken: Access token has expired or is not yet valid.', 'InvalidAuthenticationToken', undefined],
    [
      'Drive 401',
      "couldn't find root directory ID: googleapi: Error 401: Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential., authError",
      'Error 401',
      undefined,
    ],
    ['Drive body seen raw', '{"error":{"code":401,"status":"UNAUTHENTICATED"}}', 'UNAUTHENTICATED', undefined],
    ['Dropbox expired token', 'error listing: expired_access_token/', 'expired_access_token', undefined],
    ['Dropbox invalid token', 'upload failed: invalid_access_token/..', 'invalid_access_token', undefined],
    ['SMB logon refused (go-smb2)', 'response error: The attempted logon is invalid. This is either due to a bad username or authentication information.', 'The attempted logon is invalid', undefined],
  ])('%s', (_situation, text, signature, remote) => {
    const signal = detectAuthFailure(text);
    if (signature === undefined) {
      expect(signal).toBeUndefined();
      return;
    }
    expect(signal?.signature).toBe(signature);
    expect(signal?.remote).toBe(remote);
  });

  it.each([
    ['InvalidAuthenticationToken: Access token has expired or is not yet valid.', ['onedrive']],
    ['error listing: expired_access_token/', ['dropbox']],
    ['googleapi: Error 401: Invalid Credentials, authError', ['googledrive', 'gcs']],
    ["token expired and there's no refresh token", ['onedrive', 'dropbox', 'googledrive', 'gcs']],
    ['read metadata failed: Bearer token invalid or expired: NotAuthenticated: 401 Unauthorized', ['nextcloud']],
    ['response error: The attempted logon is invalid.', ['smb']],
  ])('names the storage technologies whose backend writes %j', (text, technologies) => {
    expect(detectAuthFailure(text)?.technologies).toEqual(technologies);
  });

  it('names none for a text any HTTP backend writes', () => {
    expect(detectAuthFailure('Update mkParentDir failed: Unauthorized: 401 Unauthorized')).toEqual({ signature: '401 Unauthorized' });
  });

  it.each([
    'directory not found',
    'didn\'t find section in config file',
    'context canceled',
    '127.0.0.1:41816: Unauthorized request from u',
    'Post "http://x": context canceled',
  ])('ignores the non-auth error %j', (text) => {
    expect(detectAuthFailure(text)).toBeUndefined();
  });

  it('names a remote whose name has spaces and dots', () => {
    expect(detectAuthFailure('token expired and there\'s no refresh token - manually refresh with "rclone config reconnect my drive.v2:"')).toMatchObject({
      signature: "token expired and there's no refresh token",
      remote: 'my drive.v2',
    });
  });
});
