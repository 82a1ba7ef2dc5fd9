/**
 * The Drive stand-in driven with plain HTTP, with requests shaped as rclone 1.60.1 sends them:
 * the token check and its accounting, folder lookups and listings by query with paging and
 * `fields`, multipart and resumable uploads (POST chunks, 308 + Range), updates, downloads
 * with ranges, trash, deletes, moves, copies, faults and the shared upload throttle.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { DEFAULT_DRIVE_CLIENT, GdriveStandin, type GdriveStandinOptions } from '../standins/gdrive/server.js';
import { FOLDER, listUrl, multipartBody, PARTIAL_FIELDS, type DriveFileJson, type FileListJson } from './gdrive-support.js';

/** What Debian's rclone 1.60.1 sends as User-Agent. */
const RCLONE_UA = 'rclone/';

let standin: GdriveStandin | undefined;

afterEach(async () => {
  await standin?.close();
  standin = undefined;
});

async function start(options: GdriveStandinOptions = {}): Promise<{ server: GdriveStandin; token: string; auth: Record<string, string> }> {
  standin = await GdriveStandin.start(options);
  const token = standin.issueGrant().accessToken;
  return { server: standin, token, auth: { authorization: `Bearer ${token}`, 'user-agent': RCLONE_UA } };
}

async function json<T>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

function filesUrl(server: GdriveStandin, path = '', params: Record<string, string> = {}): string {
  const query = new URLSearchParams({ alt: 'json', prettyPrint: 'false', supportsAllDrives: 'true', ...params });
  return `${server.url}/drive/v3/files${path}?${query.toString()}`;
}

function uploadUrl(server: GdriveStandin, uploadType: string, fileId?: string, extra: Record<string, string> = {}): string {
  const query = new URLSearchParams({ alt: 'json', fields: PARTIAL_FIELDS, supportsAllDrives: 'true', uploadType, ...extra });
  return `${server.url}/upload/drive/v3/files${fileId === undefined ? '' : `/${fileId}`}?${query.toString()}`;
}

async function mkdir(server: GdriveStandin, auth: Record<string, string>, name: string, parent: string): Promise<string> {
  const response = await fetch(filesUrl(server, '', { fields: 'id' }), {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name, description: name, mimeType: FOLDER, parents: [parent] }),
  });
  expect(response.status).toBe(200);
  const body = await json<Record<string, string>>(response);
  expect(Object.keys(body)).toEqual(['id']);
  return body.id!;
}

async function multipartUpload(server: GdriveStandin, auth: Record<string, string>, metadata: Record<string, unknown>, data: Buffer, fileId?: string): Promise<Response> {
  const { body, contentType } = multipartBody(metadata, data);
  return fetch(uploadUrl(server, 'multipart', fileId, { keepRevisionForever: 'false', prettyPrint: 'false' }), {
    method: fileId === undefined ? 'POST' : 'PATCH',
    headers: { ...auth, 'content-type': contentType },
    body,
  });
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

describe('Drive API stand-in', () => {
  it('answers 401 UNAUTHENTICATED to a missing, unknown, expired or revoked token, counted by call, user agent and token', async () => {
    const { server, token, auth } = await start();
    const rootUrl = filesUrl(server, '/root', { fields: 'id' });
    const as = (accessToken: string, userAgent = RCLONE_UA) => ({ headers: { authorization: `Bearer ${accessToken}`, 'user-agent': userAgent } });

    const missing = await fetch(rootUrl, { headers: { 'user-agent': RCLONE_UA } });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="https://accounts.google.com/", error="invalid_token"');
    expect(await missing.json()).toEqual({
      error: {
        code: 401,
        message:
          'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
        errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }],
        status: 'UNAUTHENTICATED',
      },
    });
    expect((await fetch(rootUrl, as('ya29.made-up'))).status).toBe(401);
    // Revoking a grant (as Google does on re-authorisation) kills its access tokens too.
    const revoked = server.issueGrant();
    server.oauth.revokeGrant(revoked.grantId);
    expect((await fetch(listUrl(server.url, 'root'), as(revoked.accessToken, 'curl/8'))).status).toBe(401);
    server.oauth.setTokenLifetime(0.3);
    const shortLived = server.issueGrant().accessToken;
    expect((await fetch(rootUrl, as(shortLived))).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await fetch(rootUrl, as(shortLived))).status).toBe(401);
    expect((await fetch(rootUrl, { headers: auth })).status).toBe(200);

    expect(server.stats.apiRequests).toBe(6);
    expect(server.stats.unauthorized).toBe(4);
    expect(server.stats.unauthorizedByCall).toEqual(
      new Map([
        [`files.get ${RCLONE_UA}`, 3],
        ['files.list curl/8', 1],
      ]),
    );
    expect(server.tokenUse(shortLived)).toMatchObject({ requests: 2, unauthorized: 1 });
    expect(server.tokenUse(revoked.accessToken)).toMatchObject({ requests: 1, unauthorized: 1 });
    expect(server.stats.requestsByAccessToken.get(fingerprint(undefined))).toMatchObject({ requests: 1, unauthorized: 1 });
    expect(server.tokenUse(token)).toMatchObject({ requests: 1, unauthorized: 0 });
    expect(server.stats.requestLog.map((record) => [record.call, record.tokenState, record.status])).toEqual([
      ['files.get', 'missing', 401],
      ['files.get', 'unknown', 401],
      ['files.list', 'revoked', 401],
      ['files.get', 'valid', 200],
      ['files.get', 'expired', 401],
      ['files.get', 'valid', 200],
    ]);
    // The shared OAuth counted the same requests.
    expect(server.oauth.stats).toMatchObject({ apiRequests: 6, unauthorized: 4, tokenRequests: 0 });
    expect(server.oauth.stats.unauthorizedByCall).toEqual(new Map([['files.get', 3], ['files.list', 1]]));
  });

  it('serves Google’s token endpoint: a refresh keeps the refresh token; a revoked grant is invalid_grant', async () => {
    const { server } = await start({ tokenLifetimeSeconds: 120 });
    const grant = server.issueGrant();
    const refresh = () =>
      fetch(server.tokenUrl, {
        method: 'POST',
        headers: { 'user-agent': 'rclone-sync-worker' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: DEFAULT_DRIVE_CLIENT.clientId, client_secret: DEFAULT_DRIVE_CLIENT.clientSecret }),
      });
    const refreshed = await refresh();
    expect(refreshed.status).toBe(200);
    const body = await json<Record<string, unknown>>(refreshed);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 120 });
    expect(body).not.toHaveProperty('refresh_token');
    expect((await fetch(filesUrl(server, '/root', { fields: 'id' }), { headers: { authorization: `Bearer ${String(body.access_token)}` } })).status).toBe(200);
    server.oauth.revokeGrant(grant.grantId);
    const refused = await refresh();
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_grant' });
    expect(server.oauth.stats).toMatchObject({ tokenRequests: 2, tokenSuccesses: 1, tokenRequestsByRclone: 0 });
  });

  it('finds the root, looks folders up by name and lists them as rclone does; `=` on names ignores case; trash hides whole subtrees', async () => {
    const { server, auth } = await start();
    const root = await json<{ id: string }>(await fetch(filesUrl(server, '/root', { fields: 'id' }), { headers: auth }));
    expect(root).toEqual({ id: server.rootId });
    const dir = await mkdir(server, auth, 'dir1', root.id);
    const data = randomBytes(1000);
    server.putFile('dir1/a.bin', data, { modifiedTime: new Date('2021-05-05T10:00:00.123Z') });
    server.putFile('dir1/sub/b.bin', Buffer.from('b'));
    server.putFile('other/c.bin', Buffer.from('c'));

    const lookup = await json<FileListJson>(await fetch(listUrl(server.url, root.id, { name: 'DIR1', folders: true }), { headers: auth }));
    expect(lookup.files.map((file) => file.id)).toEqual([dir]);
    expect((await json<FileListJson>(await fetch(listUrl(server.url, 'root', { name: 'dir1' }), { headers: auth }))).files).toHaveLength(1);
    expect((await json<FileListJson>(await fetch(listUrl(server.url, dir, { name: 'a.bin', folders: true }), { headers: auth }))).files).toEqual([]);

    const listing = await json<FileListJson>(await fetch(listUrl(server.url, dir), { headers: auth }));
    expect(listing.incompleteSearch).toBe(false);
    expect(listing.nextPageToken).toBeUndefined();
    expect(listing.files.map((file) => file.name)).toEqual(['a.bin', 'sub']);
    expect(listing.files[0]).toEqual({
      id: expect.any(String) as unknown,
      name: 'a.bin',
      size: '1000',
      md5Checksum: md5(data),
      trashed: false,
      explicitlyTrashed: false,
      modifiedTime: '2021-05-05T10:00:00.123Z',
      createdTime: expect.any(String) as unknown,
      mimeType: 'application/octet-stream',
      parents: [dir],
      webViewLink: expect.stringContaining('https://drive.google.com/file/d/') as unknown,
    });
    expect(listing.files[1]).not.toHaveProperty('size');
    expect(listing.files[1]).not.toHaveProperty('md5Checksum');

    const sub = listing.files[1]!.id;
    const trash = await fetch(filesUrl(server, `/${sub}`, { fields: '' }), {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"trashed":true}',
    });
    expect(trash.status).toBe(200);
    expect((await json<FileListJson>(await fetch(listUrl(server.url, dir), { headers: auth }))).files.map((file) => file.name)).toEqual(['a.bin']);
    const inTrash = await json<FileListJson>(await fetch(listUrl(server.url, sub).replace('trashed%3Dfalse', 'trashed%3Dtrue'), { headers: auth }));
    expect(inTrash.files).toMatchObject([{ name: 'b.bin', trashed: true, explicitlyTrashed: false }]);
    expect(server.trashedPaths().sort()).toEqual(['dir1/sub', 'dir1/sub/b.bin']);
    expect([...server.files().keys()].sort()).toEqual(['dir1/a.bin', 'other/c.bin']);
  });

  it('pages listings with pageToken, missing nothing when files arrive between pages', async () => {
    const { server, auth } = await start();
    for (let i = 0; i < 5; i++) server.putFile(`d/f${i}`, Buffer.from(String(i)));
    const dirId = server.mkdir('d').id;
    const names: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const url = new URL(listUrl(server.url, dirId));
      url.searchParams.set('pageSize', '2');
      if (pageToken) url.searchParams.set('pageToken', pageToken);
      const page = await json<FileListJson>(await fetch(url, { headers: auth }));
      names.push(...page.files.map((file) => file.name));
      pageToken = page.nextPageToken;
      if (++pages === 1) server.putFile('d/late', Buffer.from('late'));
    } while (pageToken);
    expect(names).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'late']);
    expect(pages).toBe(3);

    const bogus = new URL(listUrl(server.url, dirId));
    bogus.searchParams.set('pageToken', 'bogus');
    expect((await fetch(bogus, { headers: auth })).status).toBe(400);
    bogus.searchParams.set('pageToken', '');
    bogus.searchParams.set('pageSize', '1001');
    expect((await fetch(bogus, { headers: auth })).status).toBe(400);
  });

  it('answers the default fields without `fields`, and refuses unknown field selections, query terms and parameters by name', async () => {
    const { server, auth } = await start();
    server.putFile('x.bin', Buffer.from('x'));
    const id = server.file('x.bin')!.id;

    expect(await json(await fetch(`${server.url}/drive/v3/files/${id}`, { headers: auth }))).toEqual({
      kind: 'drive#file',
      id,
      name: 'x.bin',
      mimeType: 'application/octet-stream',
    });
    const nested = await json<FileListJson>(await fetch(`${server.url}/drive/v3/files?fields=files(id,owners/emailAddress),nextPageToken`, { headers: auth }));
    expect(nested).toEqual({ files: [{ id, owners: [{ emailAddress: 'drive-user@example.test' }] }] });

    const refusals: [string, number, string][] = [
      [`${server.url}/drive/v3/files/${id}?fields=id,colour`, 400, 'Invalid field selection colour'],
      [`${server.url}/drive/v3/files?q=${encodeURIComponent("name contains 'x'")}`, 400, "does not support 'name contains 'x''"],
      [`${server.url}/drive/v3/files?q=${encodeURIComponent('starred=true')}`, 400, "does not support 'starred=true'"],
      [`${server.url}/drive/v3/files?q=${encodeURIComponent("not name='x'")}`, 400, "does not support 'not"],
      [`${server.url}/drive/v3/files?q=${encodeURIComponent("(name='x'")}`, 400, 'query ends early'],
      [`${server.url}/drive/v3/files?orderBy=name`, 400, "the query parameter 'orderBy'"],
      [`${server.url}/drive/v3/files?corpora=drive`, 400, 'corpora=drive'],
      [`${server.url}/drive/v3/changes/startPageToken`, 404, 'no route for GET /drive/v3/changes/startPageToken'],
      [`${server.url}/drive/v3/about`, 400, "The 'fields' parameter is required"],
    ];
    for (const [url, status, message] of refusals) {
      const response = await fetch(url, { headers: auth });
      expect(response.status, url).toBe(status);
      expect((await json<{ error: { message: string } }>(response)).error.message, url).toContain(message);
    }
    const about = await json(await fetch(`${server.url}/drive/v3/about?fields=storageQuota,user(emailAddress)`, { headers: auth }));
    expect(about).toEqual({ user: { emailAddress: 'drive-user@example.test' }, storageQuota: expect.objectContaining({ usage: '1' }) as unknown });
  });

  it('takes a multipart upload: MD5, size, modifiedTime to the millisecond, parents; refuses fields it cannot write', async () => {
    const { server, auth } = await start();
    const dir = await mkdir(server, auth, 'dir1', server.rootId);
    const data = randomBytes(4321);
    const metadata = { name: 's0.bin', description: 's0.bin', mimeType: 'application/octet-stream', modifiedTime: '2024-02-03T04:05:06.123456789Z', parents: [dir] };

    const response = await multipartUpload(server, auth, metadata, data);
    expect(response.status).toBe(200);
    const file = await json<DriveFileJson>(response);
    expect(file).toMatchObject({ name: 's0.bin', size: '4321', md5Checksum: md5(data), modifiedTime: '2024-02-03T04:05:06.123Z', parents: [dir] });
    expect(server.files().get('dir1/s0.bin')?.equals(data)).toBe(true);
    expect(server.stats.uploads).toEqual({ multipart: 1, media: 0, resumable: 0 });
    expect(server.stats.uploadSessions.get('dir1/s0.bin')).toBe(1);
    expect(server.stats.bytesReceived.get('dir1/s0.bin')).toBe(4321);

    const changed = randomBytes(10);
    const update = await multipartUpload(server, auth, { modifiedTime: '2024-03-01T00:00:00.000000001Z', mimeType: 'application/octet-stream' }, changed, file.id);
    expect(update.status).toBe(200);
    expect(await json(update)).toMatchObject({ id: file.id, size: '10', md5Checksum: md5(changed), modifiedTime: '2024-03-01T00:00:00.000Z' });
    expect(server.stats.bytesReceived.get('dir1/s0.bin')).toBe(4331);

    expect((await multipartUpload(server, auth, { name: 'x', md5Checksum: 'abc' }, data)).status).toBe(403);
    const unknownField = await multipartUpload(server, auth, { name: 'x', appProperties: { a: '1' } }, data);
    expect(unknownField.status).toBe(400);
    expect((await json<{ error: { message: string } }>(unknownField)).error.message).toContain("'appProperties'");
    expect((await multipartUpload(server, auth, { name: 'x', parents: ['nope'] }, data)).status).toBe(404);
    expect((await multipartUpload(server, auth, { name: 'x', parents: [dir, server.rootId] }, data)).status).toBe(403);
    expect([...server.files().keys()]).toEqual(['dir1/s0.bin']);
  });

  it('takes a resumable upload in POSTed chunks: 308 with Range until the last, a status query, re-sent bytes counted but stored once', async () => {
    const { server, auth } = await start();
    const data = randomBytes(300_000);
    const opened = await fetch(uploadUrl(server, 'resumable'), {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json; charset=UTF-8', 'x-upload-content-type': 'application/octet-stream', 'x-upload-content-length': '300000' },
      body: JSON.stringify({ name: 'big.bin', mimeType: 'application/octet-stream', modifiedTime: '2024-01-01T00:00:00.5Z', parents: ['root'] }),
    });
    expect(opened.status).toBe(200);
    const session = opened.headers.get('location')!;
    expect(session).toMatch(new RegExp(`^${server.url}/upload/drive/v3/files\\?uploadType=resumable&upload_id=[\\w-]+$`));
    const chunk = (first: number, last: number, body: Buffer = data.subarray(first, last + 1)) =>
      fetch(session, { method: 'POST', headers: { ...auth, 'content-range': `bytes ${first}-${last}/300000` }, body, redirect: 'manual' });

    const first = await chunk(0, 99_999);
    expect(first.status).toBe(308);
    expect(first.headers.get('range')).toBe('bytes=0-99999');
    // The same chunk again (a retry after a lost answer): accepted, nothing stored twice.
    expect((await chunk(0, 99_999)).headers.get('range')).toBe('bytes=0-99999');
    const status = await fetch(session, { method: 'POST', headers: { ...auth, 'content-range': 'bytes */300000' }, redirect: 'manual' });
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe('bytes=0-99999');
    expect((await chunk(200_000, 299_999)).status).toBe(400);
    expect((await chunk(100_000, 199_999)).headers.get('range')).toBe('bytes=0-199999');
    const last = await chunk(200_000, 299_999);
    expect(last.status).toBe(200);
    expect(await json(last)).toMatchObject({ name: 'big.bin', size: '300000', md5Checksum: md5(data), modifiedTime: '2024-01-01T00:00:00.500Z', parents: [server.rootId] });
    expect(server.files().get('big.bin')?.equals(data)).toBe(true);
    // After the end, the session answers with the file again.
    expect((await fetch(session, { method: 'PUT', headers: { ...auth, 'content-range': 'bytes */300000' } })).status).toBe(200);

    expect(server.stats.uploadSessions.get('big.bin')).toBe(1);
    // 400 000 from the good chunks and the repeat, 100 000 from the refused out-of-order one.
    expect(server.stats.bytesReceived.get('big.bin')).toBe(500_000);
    expect(server.stats.uploads.resumable).toBe(1);
    const chunkRecords = server.stats.requestLog.filter((record) => record.call === 'upload.resumableChunk');
    expect(chunkRecords.map((record) => record.status)).toEqual([308, 308, 308, 400, 308, 200, 200]);
    expect(new Set(chunkRecords.map((record) => record.uploadId)).size).toBe(1);
  });

  it('updates an existing file through a resumable PATCH session, and builds session URLs on the host the client used', async () => {
    const { server, auth } = await start();
    const old = server.putFile('d/file.bin', Buffer.from('old'));
    const data = randomBytes(1000);
    const startUpdate = await fetch(uploadUrl(server, 'resumable', old.id, { setModifiedDate: 'true' }), {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/json; charset=UTF-8', 'x-upload-content-type': 'application/octet-stream', 'x-upload-content-length': '1000' },
      body: JSON.stringify({ modifiedTime: '2025-06-07T08:09:10.111222333Z' }),
    });
    expect(startUpdate.status).toBe(200);
    const session = startUpdate.headers.get('location')!;
    expect(session.startsWith(`${server.url}/upload/drive/v3/files/${old.id}?`)).toBe(true);
    const done = await fetch(session, { method: 'POST', headers: { ...auth, 'content-range': 'bytes 0-999/1000' }, body: data });
    expect(await json(done)).toMatchObject({ id: old.id, size: '1000', md5Checksum: md5(data), modifiedTime: '2025-06-07T08:09:10.111Z' });
    expect(server.files('d')).toEqual(new Map([['file.bin', data]]));

    // Through the TLS proxy the Host header is www.googleapis.com: chunks must go back that way.
    const proxied = await new Promise<string | undefined>((resolve, reject) => {
      const req = httpRequest(`${server.url}/upload/drive/v3/files?uploadType=resumable`, {
        method: 'POST',
        headers: { ...auth, host: 'www.googleapis.com', 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.headers.location);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ name: 'via-proxy.bin' }));
    });
    expect(proxied).toMatch(/^https:\/\/www\.googleapis\.com\/upload\/drive\/v3\/files\?uploadType=resumable&upload_id=/);
  });

  it('downloads with alt=media and byte ranges; a folder is not downloadable; a missing file is Drive’s 404', async () => {
    const { server, auth } = await start();
    const data = randomBytes(10_000);
    const file = server.putFile('f.bin', data);
    const whole = await fetch(`${server.url}/drive/v3/files/${file.id}?alt=media`, { headers: auth });
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
    const range = await fetch(`${server.url}/drive/v3/files/${file.id}?alt=media`, { headers: { ...auth, range: 'bytes=100-199' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe('bytes 100-199/10000');
    expect(Buffer.from(await range.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);
    expect((await fetch(`${server.url}/drive/v3/files/${file.id}?alt=media`, { headers: { ...auth, range: 'bytes=20000-' } })).status).toBe(416);
    expect((await fetch(`${server.url}/drive/v3/files/${server.mkdir('d').id}?alt=media`, { headers: auth })).status).toBe(403);

    const missing = await fetch(`${server.url}/drive/v3/files/nope?alt=media`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: {
        code: 404,
        message: 'File not found: nope.',
        errors: [{ message: 'File not found: nope.', domain: 'global', reason: 'notFound', location: 'fileId', locationType: 'parameter' }],
      },
    });
  });

  it('moves with addParents/removeParents, copies, deletes for good and empties the trash', async () => {
    const { server, auth } = await start();
    const file = server.putFile('a/f.bin', Buffer.from('payload'));
    const a = server.mkdir('a').id;
    const b = server.mkdir('b').id;
    const patch = (id: string, query: Record<string, string>, body: unknown) =>
      fetch(filesUrl(server, `/${id}`, { fields: PARTIAL_FIELDS, ...query }), { method: 'PATCH', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const moved = await patch(file.id, { addParents: b, removeParents: a }, { name: 'g.bin', modifiedTime: '2020-01-01T00:00:00Z' });
    expect(await json(moved)).toMatchObject({ name: 'g.bin', parents: [b], modifiedTime: '2020-01-01T00:00:00.000Z' });
    expect((await patch(file.id, { addParents: a }, {})).status).toBe(403);
    expect((await patch(b, { addParents: b, removeParents: server.rootId }, {})).status).toBe(400);

    const copy = await fetch(filesUrl(server, `/${file.id}/copy`, { fields: 'id,name,parents,md5Checksum' }), {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'copy.bin', parents: [a] }),
    });
    expect(await json(copy)).toMatchObject({ name: 'copy.bin', parents: [a], md5Checksum: md5(Buffer.from('payload')) });
    expect(server.files()).toEqual(
      new Map([
        ['b/g.bin', Buffer.from('payload')],
        ['a/copy.bin', Buffer.from('payload')],
      ]),
    );

    expect((await fetch(filesUrl(server, `/${b}`, { fields: '' }), { method: 'DELETE', headers: auth })).status).toBe(204);
    expect((await fetch(filesUrl(server, `/${file.id}`), { headers: auth })).status).toBe(404);
    expect((await patch(a, { fields: '' }, { trashed: true })).status).toBe(200);
    expect(server.trashedPaths().sort()).toEqual(['a', 'a/copy.bin']);
    expect((await fetch(`${server.url}/drive/v3/files/trash`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect(server.trashedPaths()).toEqual([]);
    expect(server.files()).toEqual(new Map());
  });

  it('injects rate-limit and backend errors and cut connections into the matching calls only, as many times as planned', async () => {
    const { server, auth } = await start();
    server.injectFault({ kind: 'rateLimit', calls: ['files.list'], times: 2 });
    server.injectFault({ kind: 'backendError', calls: ['files.get'] });
    const list = () => fetch(listUrl(server.url, 'root'), { headers: auth });

    const limited = await list();
    expect(limited.status).toBe(403);
    expect(await limited.json()).toEqual({
      error: {
        code: 403,
        message: 'User Rate Limit Exceeded',
        errors: [{ message: 'User Rate Limit Exceeded', domain: 'usageLimits', reason: 'userRateLimitExceeded' }],
      },
    });
    expect((await list()).status).toBe(403);
    expect((await list()).status).toBe(200);
    expect((await fetch(filesUrl(server, '/root'), { headers: auth })).status).toBe(503);
    expect((await fetch(filesUrl(server, '/root'), { headers: auth })).status).toBe(200);
    expect(server.stats.faultsInjected).toBe(3);
    // A bad token is a 401 whatever is planned, and does not use the fault up.
    server.injectFault({ kind: 'rateLimit' });
    expect((await fetch(listUrl(server.url, 'root'))).status).toBe(401);
    expect((await list()).status).toBe(403);

    server.injectFault({ kind: 'reset', calls: ['upload.multipart'] });
    await expect(multipartUpload(server, auth, { name: 'cut.bin' }, randomBytes(100_000))).rejects.toThrow();
    expect((await multipartUpload(server, auth, { name: 'cut.bin' }, Buffer.from('whole'))).status).toBe(200);
    expect(server.files()).toEqual(new Map([['cut.bin', Buffer.from('whole')]]));
    expect(server.stats.faultsInjected).toBe(5);
  });

  it('holds all concurrent uploads to one shared byte rate', async () => {
    const { server, auth } = await start({ uploadBytesPerSecond: 400_000 });
    const size = 100_000;
    const began = performance.now();
    const uploads = await Promise.all([0, 1].map((i) => multipartUpload(server, auth, { name: `f${i}` }, randomBytes(size))));
    const elapsedMs = performance.now() - began;
    expect(uploads.map((response) => response.status)).toEqual([200, 200]);
    // 200 000 media bytes (plus multipart framing) through a 400 000 B/s link: at least 0.5 s.
    expect(server.stats.throttleDelayMs).toBeGreaterThanOrEqual(500);
    expect(elapsedMs).toBeGreaterThanOrEqual(450);
  });
});
