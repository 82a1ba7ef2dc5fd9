/**
 * The OneDrive stand-in's Graph API driven with plain fetch on loopback: the drive lookup the
 * worker makes, item addressing, paging, Graph's error shapes, and the upload-session rules
 * rclone depends on (202 until the last chunk, then 201/200 with the item; 416 out of order;
 * status and cancel), plus the counters tests rely on.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { graphDriveLookup } from '../../worker/src/storage/onedrive-drive.js';
import { OnedriveStandin, type OnedriveStandinOptions } from '../standins/onedrive/server.js';

let standin: OnedriveStandin;
let auth: { authorization: string };

async function start(options: OnedriveStandinOptions = {}): Promise<void> {
  standin = await OnedriveStandin.start(options);
  auth = { authorization: `Bearer ${standin.oauth.issueGrant().accessToken}` };
}

beforeEach(async () => {
  await start({ maxPageSize: 2 });
});

afterEach(async () => {
  await standin.close();
});

function graph(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${standin.graphUrl}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
}

function drivePath(path: string): string {
  return `/drives/${standin.driveId}${path}`;
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

async function createSession(parentId: string, name: string, fileSystemInfo?: Record<string, string>): Promise<string> {
  const response = await graph(drivePath(`/items/${parentId}:/${encodeURIComponent(name)}:/createUploadSession`), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ item: fileSystemInfo ? { fileSystemInfo } : {} }),
  });
  expect(response.status).toBe(200);
  const body = await json(response);
  expect(body.nextExpectedRanges).toEqual(['0-']);
  return body.uploadUrl as string;
}

function putChunk(uploadUrl: string, data: Buffer, first: number, total: number, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(uploadUrl, { method: 'PUT', body: data, headers: { 'content-range': `bytes ${first}-${first + data.length - 1}/${total}`, ...headers } });
}

describe('drive and items', () => {
  it('answers the worker’s me/drive lookup with the drive id and type', async () => {
    expect(await graphDriveLookup(standin.graphUrl)(auth.authorization.slice(7), 'od')).toEqual({ id: standin.driveId, type: 'personal' });
    expect(await json(await graph('/me'))).toMatchObject({ id: expect.any(String) as unknown, displayName: 'Stand-in User' });
  });

  it('addresses items by id, by path from the root and from an item, with and without the closing colon', async () => {
    standin.putFile('/a/b c/d.txt', Buffer.from('data'), new Date('2020-01-02T03:04:05Z'));
    const root = await json(await graph(drivePath('/root')));
    expect(root).toMatchObject({ name: 'root', root: {}, folder: { childCount: 1 }, parentReference: { driveId: standin.driveId, driveType: 'personal' } });
    const folder = await json(await graph(drivePath('/root:/a')));
    const viaItem = await json(await graph(drivePath(`/items/${folder.id as string}:/b%20c/d.txt:`)));
    expect(viaItem).toMatchObject({
      name: 'd.txt',
      size: 4,
      file: { hashes: { sha1Hash: createHash('sha1').update('data').digest('hex').toUpperCase() } },
      fileSystemInfo: { lastModifiedDateTime: '2020-01-02T03:04:05Z' },
      parentReference: { driveId: standin.driveId, path: '/drive/root:/a/b%20c' },
    });
    expect(await json(await graph(drivePath(`/items/${viaItem.id as string}:`)))).toMatchObject({ id: viaItem.id });
    expect(await json(await graph(`/me/drive/root:/A/B%20C/D.TXT:`))).toMatchObject({ id: viaItem.id });

    const missing = await graph(drivePath('/root:/nope:'));
    expect(missing.status).toBe(404);
    expect(await json(missing)).toMatchObject({ error: { code: 'itemNotFound', message: 'Item does not exist' } });
    expect((await graph('/drives/0000000000000000/root')).status).toBe(404);
  });

  it('pages children with @odata.nextLink on the host the client used', async () => {
    for (const name of ['e', 'd', 'c', 'b', 'a']) standin.putFile(`/dir/${name}.txt`, Buffer.from(name));
    const names: string[] = [];
    let next: string | undefined = `${standin.graphUrl}${drivePath('/root:/dir:/children')}?$top=1000`;
    let pages = 0;
    while (next) {
      const page = await json(await fetch(next, { headers: auth }));
      names.push(...(page.value as { name: string }[]).map((item) => item.name));
      next = page['@odata.nextLink'] as string | undefined;
      if (next) expect(next.startsWith(standin.url)).toBe(true);
      pages++;
    }
    expect(names).toEqual(['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt']);
    expect(pages).toBe(3);
  });

  it('creates folders (409 nameAlreadyExists on conflict), renames, moves and sets times with PATCH, deletes recursively', async () => {
    const mkdir = (name: string) =>
      graph(drivePath('/root/children'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, folder: { childCount: 0 }, '@name.conflictBehavior': 'fail' }) });
    const created = await mkdir('Photos');
    expect(created.status).toBe(201);
    const photos = await json(created);
    const conflict = await mkdir('photos');
    expect(conflict.status).toBe(409);
    expect(await json(conflict)).toMatchObject({ error: { code: 'nameAlreadyExists' } });

    standin.putFile('/x.txt', Buffer.from('x'));
    const x = await json(await graph(drivePath('/root:/x.txt')));
    const moved = await graph(drivePath(`/items/${x.id as string}`), {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'y.txt', parentReference: { id: photos.id }, fileSystemInfo: { lastModifiedDateTime: '2019-09-09T09:09:09Z' } }),
    });
    expect(moved.status).toBe(200);
    expect(standin.file('/Photos/y.txt')?.toString()).toBe('x');
    expect(standin.modTime('/Photos/y.txt')).toEqual(new Date('2019-09-09T09:09:09Z'));

    expect((await graph(drivePath(`/items/${photos.id as string}`), { method: 'DELETE' })).status).toBe(204);
    expect(standin.files()).toEqual(new Map());
  });

  it('redirects …/content to a pre-authenticated download URL that honours ranges', async () => {
    const data = randomBytes(1000);
    standin.putFile('/f.bin', data);
    const item = await json(await graph(drivePath('/root:/f.bin')));
    const redirect = await graph(drivePath(`/items/${item.id as string}/content`), { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const location = redirect.headers.get('location')!;
    expect(location).toBe(item['@microsoft.graph.downloadUrl']);

    const whole = await fetch(location);
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
    const part = await fetch(location, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);
    expect((await fetch(location.replace(/\/[\w-]+$/, '/wrong-key'))).status).toBe(404);
  });

  it('answers 401 InvalidAuthenticationToken without a token, counted by call', async () => {
    const response = await fetch(`${standin.graphUrl}/me/drive`);
    expect(response.status).toBe(401);
    expect(await json(response)).toMatchObject({ error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' } });
    expect(standin.stats.unauthorizedByCall).toEqual(new Map([['me/drive', 1]]));
  });
});

describe('upload sessions', () => {
  it('answers 202 with nextExpectedRanges until the last chunk, then 201 with the item (200 for a new version)', async () => {
    const data = randomBytes(700);
    const uploadUrl = await createSession('root', 'up.bin', { lastModifiedDateTime: '2018-08-08T08:08:08.000Z' });
    expect(uploadUrl.startsWith(`${standin.url}/rup/`)).toBe(true);

    const first = await putChunk(uploadUrl, data.subarray(0, 320), 0, 700);
    expect(first.status).toBe(202);
    expect(await json(first)).toMatchObject({ nextExpectedRanges: ['320-'] });
    const status = await fetch(uploadUrl);
    expect(await json(status)).toMatchObject({ nextExpectedRanges: ['320-'] });
    const last = await putChunk(uploadUrl, data.subarray(320), 320, 700);
    expect(last.status).toBe(201);
    expect(await json(last)).toMatchObject({
      name: 'up.bin',
      size: 700,
      file: { hashes: { sha1Hash: createHash('sha1').update(data).digest('hex').toUpperCase() } },
      fileSystemInfo: { lastModifiedDateTime: '2018-08-08T08:08:08Z' },
    });
    expect(standin.file('/up.bin')?.equals(data)).toBe(true);

    const again = await createSession('root', 'up.bin');
    expect((await putChunk(again, Buffer.from('new'), 0, 3)).status).toBe(200);
    expect(standin.stats.uploadSessionsByPath.get('/up.bin')).toBe(2);
    expect(standin.stats.completedUploadsByPath.get('/up.bin')).toBe(2);
    expect(standin.resentBytes()).toBe(3);
  });

  it('refuses a chunk that does not start at the next expected byte with 416, and cancels on DELETE', async () => {
    const uploadUrl = await createSession('root', 'gap.bin');
    const gap = await putChunk(uploadUrl, Buffer.alloc(10), 5, 20);
    expect(gap.status).toBe(416);
    expect(await json(gap)).toMatchObject({ error: { code: 'invalidRange' } });
    expect((await putChunk(uploadUrl, Buffer.alloc(10), 0, 20)).status).toBe(202);
    expect((await putChunk(uploadUrl, Buffer.alloc(10), 0, 20)).status).toBe(416);

    expect((await fetch(uploadUrl, { method: 'DELETE' })).status).toBe(204);
    expect((await putChunk(uploadUrl, Buffer.alloc(10), 10, 20)).status).toBe(404);
    expect(standin.file('/gap.bin')).toBeUndefined();
    // 10 bytes arrived for a file that never completed: they count as sent in vain.
    expect(standin.resentBytes()).toBe(10);
  });

  it('treats the upload URL as its own credential: an expired token is counted, not refused (default)', async () => {
    const uploadUrl = await createSession('root', 'pre.bin');
    standin.oauth.setTokenLifetime(0);
    const expired = standin.oauth.issueGrant().accessToken;
    const answer = await putChunk(uploadUrl, Buffer.from('abc'), 0, 3, { authorization: `Bearer ${expired}` });
    expect(answer.status).toBe(201);
    expect(standin.stats.invalidTokenOnUploadUrl).toBe(1);
    expect(standin.stats.unauthorized).toBe(0);
  });

  it('with uploadUrlAuth "bearer", refuses a chunk carrying an expired token with 401', async () => {
    await standin.close();
    await start({ uploadUrlAuth: 'bearer' });
    const uploadUrl = await createSession('root', 'strict.bin');
    standin.oauth.setTokenLifetime(0);
    const expired = standin.oauth.issueGrant().accessToken;
    const answer = await putChunk(uploadUrl, Buffer.from('abc'), 0, 3, { authorization: `Bearer ${expired}` });
    expect(answer.status).toBe(401);
    expect(standin.stats.unauthorizedByCall).toEqual(new Map([['uploadChunk', 1]]));
    expect((await putChunk(uploadUrl, Buffer.from('abc'), 0, 3, auth)).status).toBe(201);
  });

  it('takes a simple PUT …:/content (rclone’s path for empty files), and counts requests by call', async () => {
    const response = await graph(drivePath('/root:/empty.txt:/content'), { method: 'PUT', body: Buffer.alloc(0) });
    expect(response.status).toBe(201);
    expect(standin.file('/empty.txt')?.length).toBe(0);
    expect(standin.stats.requestsByCall.get('putContent')).toBe(1);
  });
});
