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
      '401 Unauthorized',
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
  ])('%s', (_situation, text, signature, remote) => {
    const signal = detectAuthFailure(text);
    if (signature === undefined) {
      expect(signal).toBeUndefined();
      return;
    }
    expect(signal).toEqual(remote === undefined ? { signature } : { signature, remote });
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
    expect(detectAuthFailure('token expired and there\'s no refresh token - manually refresh with "rclone config reconnect my drive.v2:"')).toEqual({
      signature: "token expired and there's no refresh token",
      remote: 'my drive.v2',
    });
  });
});
