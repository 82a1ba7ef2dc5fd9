/**
 * The Dropbox stand-in at the HTTP level, with requests shaped as rclone 1.60.1 sends them
 * (research/rclone-providers-lab.md Q2): routes, union tags, error shapes, content hash,
 * cursors, sessions and batch commits, the header's JSON escaping, and the counters.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_HOST, CONTENT_HOST, contentHash, DropboxStandin } from '../standins/dropbox/server.js';

let dropbox: DropboxStandin;
let token: string;

beforeEach(async () => {
  dropbox = await DropboxStandin.start();
  token = dropbox.issueGrant().accessToken;
});

afterEach(async () => {
  await dropbox.close();
});

interface Answer {
  status: number;
  headers: Headers;
  json: unknown;
  bytes: Buffer;
}

async function call(route: string, init: { rpc?: unknown; arg?: unknown; argHeader?: string; body?: Buffer; host?: string; headers?: Record<string, string>; bearer?: string | null }): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  const bearer = init.bearer === undefined ? token : init.bearer;
  if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
  if (init.host) headers.host = init.host;
  let body: Buffer | string | undefined;
  if (init.rpc !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.rpc);
  } else {
    headers['content-type'] = 'application/octet-stream';
    headers['dropbox-api-arg'] = init.argHeader ?? JSON.stringify(init.arg ?? {});
    body = init.body ?? Buffer.alloc(0);
  }
  // node:http rather than fetch: fetch drops a Host header and re-encodes raw header bytes.
  const url = new URL(`${dropbox.url}/2/${route}`);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        let json: unknown;
        try {
          json = JSON.parse(bytes.toString('utf8'));
        } catch {
          json = undefined;
        }
        const responseHeaders = new Headers();
        for (const [key, value] of Object.entries(res.headers)) if (typeof value === 'string') responseHeaders.set(key, value);
        resolve({ status: res.statusCode ?? 0, headers: responseHeaders, json, bytes });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** JSON with non-ASCII written as \uXXXX, as Dropbox documents for the header. */
function headerJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Uploads through a session the way rclone's batcher does: start, data, empty closing append. */
async function sessionWithData(data: Buffer): Promise<string> {
  const start = await call('files/upload_session/start', { arg: { close: false } });
  const sessionId = (start.json as { session_id: string }).session_id;
  expect((await call('files/upload_session/append_v2', { arg: { cursor: { session_id: sessionId, offset: 0 }, close: false }, body: data })).status).toBe(200);
  const close = await call('files/upload_session/append_v2', { arg: { cursor: { session_id: sessionId, offset: data.length }, close: true } });
  expect(close).toMatchObject({ status: 200, json: null });
  return sessionId;
}

function commit(path: string, offset: number, sessionId: string, clientModified = '2026-01-02T03:04:05Z'): unknown {
  return {
    cursor: { session_id: sessionId, offset },
    commit: { path, mode: { '.tag': 'overwrite' }, autorename: false, client_modified: clientModified, mute: false, strict_conflict: false },
  };
}

describe('content hash', () => {
  it('is the SHA-256 of the SHA-256 digests of the 4 MiB blocks', () => {
    const sha = (b: Buffer) => createHash('sha256').update(b).digest();
    expect(contentHash(Buffer.alloc(0))).toBe(createHash('sha256').digest('hex'));
    const data = randomBytes(4 * 1024 * 1024 + 10);
    const expected = createHash('sha256').update(Buffer.concat([sha(data.subarray(0, 4 * 1024 * 1024)), sha(data.subarray(4 * 1024 * 1024))])).digest('hex');
    expect(contentHash(data)).toBe(expected);
  });
});

describe('authorisation', () => {
  it('answers Dropbox’s 401 for a missing or unknown token, and counts it by route and user agent', async () => {
    const missing = await call('files/list_folder', { rpc: { path: '' }, bearer: null, headers: { 'user-agent': 'rclone/v1.60.1-DEV' } });
    expect(missing).toMatchObject({ status: 401, json: { error: { '.tag': 'invalid_access_token' } } });
    expect(dropbox.stats.unauthorizedByCall.get('files/list_folder')).toBe(1);
    expect(dropbox.stats.unauthorizedByUserAgent.get('rclone/v1.60.1-DEV')).toBe(1);
  });

  it('says expired_access_token once a token is past its expiry', async () => {
    dropbox.setTokenLifetime(0);
    const expired = dropbox.issueGrant().accessToken;
    const answer = await call('files/get_metadata', { rpc: { path: '/x' }, bearer: expired });
    expect(answer).toMatchObject({ status: 401, json: { error: { '.tag': 'expired_access_token' } } });
    expect((answer.json as { error_summary: string }).error_summary).toMatch(/^expired_access_token\//);
  });

  it('serves Dropbox’s token endpoint: a refresh grant keeps the refresh token', async () => {
    const grant = dropbox.issueGrant();
    const response = await fetch(dropbox.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: 'dropbox-standin-client', client_secret: 'dropbox-standin-secret' }),
    });
    const body = (await response.json()) as { access_token: string; refresh_token?: string };
    expect(response.status).toBe(200);
    expect(body.access_token).toMatch(/^sl\./);
    expect(body.refresh_token).toBeUndefined();
    expect((await call('files/list_folder', { rpc: { path: '' }, bearer: body.access_token })).status).toBe(200);
  });
});

describe('uploads', () => {
  it('commits sessions in a batch with the union tag "success" and FileMetadata flattened', async () => {
    const a = randomBytes(70_000);
    const b = randomBytes(5);
    const sa = await sessionWithData(a);
    const sb = await sessionWithData(b);
    const answer = await call('files/upload_session/finish_batch_v2', { rpc: { entries: [commit('/Dir/A.bin', a.length, sa), commit('/dir/b.bin', b.length, sb)] } });
    expect(answer.status).toBe(200);
    const entries = (answer.json as { entries: Record<string, unknown>[] }).entries;
    expect(entries).toEqual([
      expect.objectContaining({ '.tag': 'success', name: 'A.bin', path_display: '/Dir/A.bin', path_lower: '/dir/a.bin', size: a.length, content_hash: contentHash(a), client_modified: '2026-01-02T03:04:05Z', is_downloadable: true }),
      // The parent keeps the case it was created with.
      expect.objectContaining({ '.tag': 'success', path_display: '/Dir/b.bin', size: 5 }),
    ]);
    expect(entries[0]!.rev).toMatch(/^[0-9a-f]{9,}$/);
    expect(entries[0]!.id).toMatch(/^id:/);
    expect(dropbox.file('/DIR/a.BIN')?.equals(a)).toBe(true);
    expect(dropbox.fileStats('/dir/a.bin')).toEqual({ bytesReceived: a.length, sessions: 1, commits: 1 });
    expect(dropbox.stats.batchSizes).toEqual([2]);
    expect(dropbox.uncommittedSessions()).toEqual([]);
  });

  it('fails only the entry whose session is not closed or has another offset', async () => {
    const start = await call('files/upload_session/start', { arg: { close: false }, body: Buffer.from('abc') });
    const open = (start.json as { session_id: string }).session_id;
    const closed = await sessionWithData(Buffer.from('xyz'));
    const answer = await call('files/upload_session/finish_batch_v2', { rpc: { entries: [commit('/open.bin', 3, open), commit('/closed.bin', 2, closed)] } });
    expect((answer.json as { entries: unknown[] }).entries).toEqual([
      { '.tag': 'failure', failure: { '.tag': 'lookup_failed', lookup_failed: { '.tag': 'not_closed' } } },
      { '.tag': 'failure', failure: { '.tag': 'lookup_failed', lookup_failed: { '.tag': 'incorrect_offset', correct_offset: 3 } } },
    ]);
    expect(dropbox.uncommittedSessions().map((s) => s.received).sort()).toEqual([3, 3]);
  });

  it('answers an append at the wrong offset with incorrect_offset and the right one', async () => {
    const start = await call('files/upload_session/start', { arg: { close: false }, body: Buffer.from('12345') });
    const sessionId = (start.json as { session_id: string }).session_id;
    const answer = await call('files/upload_session/append_v2', { arg: { cursor: { session_id: sessionId, offset: 2 }, close: false }, body: Buffer.from('67') });
    expect(answer).toMatchObject({ status: 409, json: { error_summary: 'incorrect_offset/..', error: { '.tag': 'incorrect_offset', correct_offset: 5 } } });
  });

  it('runs the async finish_batch as a job polled with finish_batch/check', async () => {
    const data = Buffer.from('async');
    const sessionId = await sessionWithData(data);
    const launch = await call('files/upload_session/finish_batch', { rpc: { entries: [commit('/async.txt', data.length, sessionId)] } });
    const jobId = (launch.json as { async_job_id: string }).async_job_id;
    expect(launch.json).toEqual({ '.tag': 'async_job_id', async_job_id: jobId });
    expect(jobId).toMatch(/^dbjid:/);
    let status: { '.tag': string; entries?: unknown[] } = { '.tag': 'in_progress' };
    for (let i = 0; i < 50 && status['.tag'] === 'in_progress'; i++) {
      status = (await call('files/upload_session/finish_batch/check', { rpc: { async_job_id: jobId } })).json as typeof status;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(status).toEqual({ '.tag': 'complete', entries: [expect.objectContaining({ '.tag': 'success', path_display: '/async.txt' })] });
    expect((await call('files/upload_session/finish_batch/check', { rpc: { async_job_id: 'nope' } })).json).toMatchObject({ error: { '.tag': 'invalid_async_job_id' } });
  });

  it('files/upload: add conflicts with other content, overwrite keeps the id and makes a new rev', async () => {
    const first = await call('files/upload', { arg: { path: '/f.txt', mode: 'add' }, body: Buffer.from('one') });
    const again = await call('files/upload', { arg: { path: '/f.txt', mode: 'add' }, body: Buffer.from('two') });
    expect(again).toMatchObject({ status: 409, json: { error: { '.tag': 'path', reason: { '.tag': 'conflict', conflict: { '.tag': 'file' } } } } });
    const over = await call('files/upload', { arg: { path: '/f.txt', mode: { '.tag': 'overwrite' } }, body: Buffer.from('two') });
    const [a, b] = [first.json, over.json] as { id: string; rev: string }[];
    expect(b!.id).toBe(a!.id);
    expect(b!.rev).not.toBe(a!.rev);
    expect(dropbox.fileStats('/f.txt')).toEqual({ bytesReceived: 6, sessions: 0, commits: 2 });
    expect(dropbox.stats.discardedUploadBytes).toBe(3);
  });

  it('upload_session/finish appends its body and commits in one request', async () => {
    const start = await call('files/upload_session/start', { arg: { close: false }, body: Buffer.from('head-') });
    const sessionId = (start.json as { session_id: string }).session_id;
    const done = await call('files/upload_session/finish', { arg: commit('/big/one.bin', 5, sessionId), body: Buffer.from('tail') });
    expect(done).toMatchObject({ status: 200, json: { path_display: '/big/one.bin', size: 9 } });
    expect(dropbox.file('/big/one.bin')?.toString()).toBe('head-tail');
  });

  it('refuses commits with too_many_write_operations and Retry-After while a fault lasts', async () => {
    dropbox.rejectNextCommits(1, 2);
    const refused = await call('files/upload', { arg: { path: '/busy.txt', mode: 'overwrite' }, body: Buffer.from('x') });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(refused.json).toEqual({ error_summary: 'too_many_write_operations/..', error: { reason: { '.tag': 'too_many_write_operations' }, retry_after: 2 } });
    expect((await call('files/upload', { arg: { path: '/busy.txt', mode: 'overwrite' }, body: Buffer.from('x') })).status).toBe(200);
  });
});

describe('paths and headers', () => {
  it('decodes \\uXXXX escapes (surrogate pairs too) and accepts raw UTF-8, counting it', async () => {
    const name = '/ünï ☺ 𝄞.txt';
    const escaped = headerJson({ path: name, mode: 'overwrite' });
    expect((await call('files/upload', { argHeader: escaped, body: Buffer.from('e') })).status).toBe(200);
    expect(dropbox.file(name)?.toString()).toBe('e');
    expect(dropbox.stats.rawUtf8ArgHeaders).toBe(0);
    const raw = Buffer.from(JSON.stringify({ path: '/raw ü.txt', mode: 'overwrite' }), 'utf8').toString('latin1');
    expect((await call('files/upload', { argHeader: raw, body: Buffer.from('r') })).status).toBe(200);
    expect(dropbox.file('/raw ü.txt')?.toString()).toBe('r');
    expect(dropbox.stats.rawUtf8ArgHeaders).toBe(1);
    expect((await call('files/upload', { argHeader: '{"path":', body: Buffer.from('x') })).status).toBe(400);
  });

  it('downloads with Dropbox-API-Result in ASCII, by path or id, with single ranges', async () => {
    const data = randomBytes(1000);
    dropbox.putFile('/Ärger/daten.bin', data);
    const whole = await call('files/download', { argHeader: headerJson({ path: '/ärger/DATEN.bin' }) });
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(data)).toBe(true);
    const result = whole.headers.get('dropbox-api-result')!;
    expect(result).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(result)).toMatchObject({ path_display: '/Ärger/daten.bin', size: 1000, content_hash: contentHash(data) });
    const id = (JSON.parse(result) as { id: string }).id;
    const part = await call('files/download', { arg: { path: id }, headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect(part.bytes.equals(data.subarray(10, 20))).toBe(true);
    expect((await call('files/download', { argHeader: headerJson({ path: '/Ärger' }) })).json).toMatchObject({ error: { '.tag': 'path', path: { '.tag': 'not_file' } } });
  });

  it('refuses a route on the other host', async () => {
    expect((await call('files/list_folder', { rpc: { path: '' }, host: CONTENT_HOST })).status).toBe(400);
    expect((await call('files/upload', { arg: { path: '/h.txt' }, host: API_HOST })).status).toBe(400);
    expect((await call('files/list_folder', { rpc: { path: '' }, host: API_HOST })).status).toBe(200);
  });
});

describe('metadata, listings and relocations', () => {
  it('get_metadata: file, folder, and path/not_found', async () => {
    dropbox.putFile('/a/b.txt', Buffer.from('b'));
    expect((await call('files/get_metadata', { rpc: { path: '/A' } })).json).toMatchObject({ '.tag': 'folder', name: 'a', path_lower: '/a' });
    expect((await call('files/get_metadata', { rpc: { path: '/a/B.TXT' } })).json).toMatchObject({ '.tag': 'file', size: 1 });
    const missing = await call('files/get_metadata', { rpc: { path: '/nope' } });
    expect(missing).toMatchObject({ status: 409, json: { error_summary: 'path/not_found/..', error: { '.tag': 'path', path: { '.tag': 'not_found' } } } });
  });

  it('list_folder pages with cursors; recursive lists descendants; not_found and not_folder', async () => {
    for (let i = 0; i < 5; i++) dropbox.putFile(`/p/f${i}.txt`, Buffer.from(String(i)));
    dropbox.putFile('/p/sub/deep.txt', Buffer.from('d'));
    const first = (await call('files/list_folder', { rpc: { path: '/p', recursive: false, limit: 4 } })).json as { entries: { name: string }[]; cursor: string; has_more: boolean };
    expect(first.entries).toHaveLength(4);
    expect(first.has_more).toBe(true);
    const rest = (await call('files/list_folder/continue', { rpc: { cursor: first.cursor } })).json as typeof first;
    expect(rest.has_more).toBe(false);
    expect([...first.entries, ...rest.entries].map((e) => e.name).sort()).toEqual(['f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt', 'sub']);
    const all = (await call('files/list_folder', { rpc: { path: '', recursive: true } })).json as typeof first;
    expect(all.entries.map((e) => e.name)).toContain('deep.txt');
    expect((await call('files/list_folder', { rpc: { path: '/none' } })).json).toMatchObject({ error: { '.tag': 'path', path: { '.tag': 'not_found' } } });
    expect((await call('files/list_folder', { rpc: { path: '/p/f0.txt' } })).json).toMatchObject({ error: { '.tag': 'path', path: { '.tag': 'not_folder' } } });
    expect((await call('files/list_folder/continue', { rpc: { cursor: 'bogus' } })).json).toMatchObject({ error: { '.tag': 'reset' } });
  });

  it('create_folder_v2, move_v2, copy_v2 and delete_v2 with their conflicts', async () => {
    expect((await call('files/create_folder_v2', { rpc: { path: '/new', autorename: false } })).json).toMatchObject({ metadata: { name: 'new' } });
    expect((await call('files/create_folder_v2', { rpc: { path: '/new' } })).json).toMatchObject({ error: { '.tag': 'path', path: { '.tag': 'conflict', conflict: { '.tag': 'folder' } } } });
    dropbox.putFile('/new/x.txt', Buffer.from('x'));
    expect((await call('files/copy_v2', { rpc: { from_path: '/new/x.txt', to_path: '/other/y.txt' } })).json).toMatchObject({ metadata: { '.tag': 'file', path_display: '/other/y.txt' } });
    expect((await call('files/move_v2', { rpc: { from_path: '/new', to_path: '/moved' } })).json).toMatchObject({ metadata: { '.tag': 'folder', path_display: '/moved' } });
    expect(dropbox.file('/moved/x.txt')?.toString()).toBe('x');
    expect(dropbox.file('/new/x.txt')).toBeUndefined();
    expect((await call('files/move_v2', { rpc: { from_path: '/moved/x.txt', to_path: '/other/y.txt' } })).json).toMatchObject({ error: { '.tag': 'to', to: { '.tag': 'conflict', conflict: { '.tag': 'file' } } } });
    expect((await call('files/move_v2', { rpc: { from_path: '/gone', to_path: '/z' } })).json).toMatchObject({ error: { '.tag': 'from_lookup', from_lookup: { '.tag': 'not_found' } } });
    expect((await call('files/delete_v2', { rpc: { path: '/moved' } })).json).toMatchObject({ metadata: { '.tag': 'folder' } });
    expect(dropbox.file('/moved/x.txt')).toBeUndefined();
    expect((await call('files/delete_v2', { rpc: { path: '/moved' } })).json).toMatchObject({ error: { '.tag': 'path_lookup', path_lookup: { '.tag': 'not_found' } } });
  });

  it('counts requests per route and refuses bad input with a 400 in Dropbox’s words', async () => {
    expect((await call('files/get_metadata', { rpc: { path: 'relative' } })).status).toBe(400);
    expect((await call('files/nope', { rpc: {} })).status).toBe(404);
    expect(dropbox.stats.requestsByRoute.get('files/get_metadata')).toBe(1);
  });
});
