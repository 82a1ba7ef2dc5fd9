/**
 * The stand-in's storage API driven with plain fetch, for what rclone does not exercise on its
 * own: pagination, the strict token check and its accounting, resumable chunking by the
 * documented protocol, byte ranges, server-side copies and latency.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { crc32c, crc32cBase64 } from '../standins/gcs/crc32c.js';
import { GcsStandin, type GcsStandinOptions } from '../standins/gcs/server.js';

let standin: GcsStandin | undefined;

afterEach(async () => {
  await standin?.close();
  standin = undefined;
});

async function start(options: GcsStandinOptions = {}): Promise<{ server: GcsStandin; auth: Record<string, string> }> {
  standin = await GcsStandin.start(options);
  standin.createBucket('bkt');
  return { server: standin, auth: { authorization: `Bearer ${standin.issueGrant().accessToken}` } };
}

interface ListResponse {
  items?: { name: string }[];
  prefixes?: string[];
  nextPageToken?: string;
}

describe('storage API', () => {
  it('rejects a missing, unknown, expired or revoked access token with Google 401 and counts it', async () => {
    const { server } = await start();
    const statuses: number[] = [];
    const getBucket = async (accessToken?: string): Promise<Response> => {
      const response = await fetch(`${server.apiEndpoint}b/bkt`, accessToken === undefined ? {} : { headers: { authorization: `Bearer ${accessToken}` } });
      statuses.push(response.status);
      return response;
    };

    const missing = await getBucket();
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({
      error: {
        code: 401,
        message: 'Invalid Credentials',
        errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', locationType: 'header', location: 'Authorization' }],
      },
    });
    expect((await getBucket('ya29.made-up')).status).toBe(401);
    const revoked = server.issueGrant().accessToken;
    server.revokeAccessToken(revoked);
    expect((await getBucket(revoked)).status).toBe(401);

    server.setTokenLifetime(1);
    const shortLived = server.issueGrant().accessToken;
    expect((await getBucket(shortLived)).status).toBe(200);
    await expect.poll(async () => (await getBucket(shortLived)).status, { timeout: 3000, interval: 100 }).toBe(401);

    expect(server.stats.apiRequests).toBe(statuses.length);
    expect(server.stats.unauthorized).toBe(statuses.filter((status) => status === 401).length);
    expect(server.stats.requestsByAccessToken.get(fingerprint('ya29.made-up'))).toBe(1);
    expect(server.stats.requestsByAccessToken.get(fingerprint(revoked))).toBe(1);
    expect(server.stats.requestsByAccessToken.get(fingerprint(shortLived))).toBe(statuses.length - 3);
  });

  it('lists with prefix, delimiter and page tokens in name order', async () => {
    const { server, auth } = await start();
    for (const name of ['a/1', 'a/2', 'b/x/1', 'c', 'd/1', 'e', 'f']) server.putObject('bkt', name, Buffer.from(name));

    const pages: ListResponse[] = [];
    let pageToken: string | undefined;
    do {
      const url = new URL(`${server.apiEndpoint}b/bkt/o`);
      url.searchParams.set('delimiter', '/');
      url.searchParams.set('maxResults', '2');
      if (pageToken) url.searchParams.set('pageToken', pageToken);
      const page = (await (await fetch(url, { headers: auth })).json()) as ListResponse;
      pages.push(page);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(pages.map((page) => [...(page.prefixes ?? []), ...(page.items ?? []).map((item) => item.name)].sort())).toEqual([['a/', 'b/'], ['c', 'd/'], ['e', 'f']]);

    const nested = (await (await fetch(`${server.apiEndpoint}b/bkt/o?prefix=b%2F&delimiter=%2F`, { headers: auth })).json()) as ListResponse;
    expect(nested).toEqual({ kind: 'storage#objects', prefixes: ['b/x/'] });
    const recursive = (await (await fetch(`${server.apiEndpoint}b/bkt/o?prefix=a%2F`, { headers: auth })).json()) as ListResponse;
    expect(recursive.items?.map((item) => item.name)).toEqual(['a/1', 'a/2']);
    expect((await fetch(`${server.apiEndpoint}b/bkt/o?pageToken=bogus`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${server.apiEndpoint}b/nope/o`, { headers: auth })).status).toBe(404);
  });

  it('reports size, md5Hash, crc32c and a mediaLink on this server; downloads whole objects and byte ranges', async () => {
    const { server, auth } = await start();
    const data = randomBytes(10_000);
    server.putObject('bkt', 'dir/file name.bin', data);

    const resource = (await (await fetch(`${server.apiEndpoint}b/bkt/o/dir%2Ffile%20name.bin`, { headers: auth })).json()) as Record<string, string>;
    expect(resource).toMatchObject({
      name: 'dir/file name.bin',
      bucket: 'bkt',
      size: '10000',
      md5Hash: createHash('md5').update(data).digest('base64'),
      crc32c: crc32cBase64(data),
    });
    expect(resource.mediaLink!.startsWith(`${server.url}/`)).toBe(true);
    const whole = await fetch(resource.mediaLink!, { headers: auth });
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
    const range = await fetch(`${server.apiEndpoint}b/bkt/o/dir%2Ffile%20name.bin?alt=media`, { headers: { ...auth, range: 'bytes=100-199' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe('bytes 100-199/10000');
    expect(Buffer.from(await range.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);

    server.putObject('bkt', 'dir/file name.bin', Buffer.from('newer'));
    expect((await fetch(resource.mediaLink!, { headers: auth })).status).toBe(404);
  });

  it('computes CRC-32C (Castagnoli)', () => {
    expect(crc32c(Buffer.from('123456789')).toString(16)).toBe('e3069283');
    expect(crc32cBase64(Buffer.alloc(0))).toBe('AAAAAA==');
  });

  it('takes a resumable upload in chunks: 308 with Range until complete, or 200 + override for X-GUploader-No-308', async () => {
    const { server, auth } = await start();
    const data = randomBytes(300_000);
    const initiation = await fetch(`${server.url}/upload/storage/v1/b/bkt/o?uploadType=resumable`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'x-upload-content-type': 'application/x-test' },
      body: JSON.stringify({ name: 'chunked.bin', metadata: { mtime: '2024-01-02T03:04:05Z' } }),
    });
    expect(initiation.status).toBe(200);
    const session = initiation.headers.get('location')!;
    expect(session.startsWith(server.url)).toBe(true);

    const first = await fetch(session, { method: 'PUT', headers: { ...auth, 'content-range': 'bytes 0-99999/*' }, body: data.subarray(0, 100_000), redirect: 'manual' });
    expect(first.status).toBe(308);
    expect(first.headers.get('range')).toBe('bytes=0-99999');
    const second = await fetch(session, {
      method: 'POST',
      headers: { ...auth, 'content-range': 'bytes 100000-199999/*', 'x-guploader-no-308': 'yes' },
      body: data.subarray(100_000, 200_000),
    });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-http-status-code-override')).toBe('308');
    expect(second.headers.get('range')).toBe('bytes=0-199999');
    const last = await fetch(session, { method: 'PUT', headers: { ...auth, 'content-range': 'bytes 200000-299999/300000' }, body: data.subarray(200_000) });
    expect(last.status).toBe(200);
    expect(await last.json()).toMatchObject({ name: 'chunked.bin', size: '300000', contentType: 'application/x-test', metadata: { mtime: '2024-01-02T03:04:05Z' } });
    expect(server.object('bkt', 'chunked.bin')?.equals(data)).toBe(true);
    expect(server.stats.uploads.resumable).toBe(1);
    expect((await fetch(session, { method: 'PUT', headers: { ...auth, 'content-range': 'bytes */300000' } })).status).toBe(404);
  });

  it('patches metadata (null removes a key) and replaces it with PUT', async () => {
    const { server, auth } = await start();
    server.putObject('bkt', 'obj', Buffer.from('payload'));
    const patch = (method: 'PATCH' | 'PUT', body: unknown) =>
      fetch(`${server.apiEndpoint}b/bkt/o/obj`, { method, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    expect(await (await patch('PATCH', { metadata: { a: '1', b: '2' } })).json()).toMatchObject({ metageneration: '2', metadata: { a: '1', b: '2' } });
    const removed = (await (await patch('PATCH', { metadata: { a: null } })).json()) as Record<string, unknown>;
    expect(removed.metadata).toEqual({ b: '2' });
    const replaced = (await (await patch('PUT', { metadata: { c: '3' }, contentType: 'text/plain' })).json()) as Record<string, unknown>;
    expect(replaced).toMatchObject({ metageneration: '4', contentType: 'text/plain', metadata: { c: '3' } });
    expect(server.object('bkt', 'obj')?.toString()).toBe('payload');
  });

  it('copies server-side with copyTo and rewriteTo, and deletes', async () => {
    const { server, auth } = await start();
    server.putObject('bkt', 'src', Buffer.from('payload'));
    const copied = await fetch(`${server.apiEndpoint}b/bkt/o/src/copyTo/b/bkt/o/dst1`, { method: 'POST', headers: auth, body: 'null' });
    expect(copied.status).toBe(200);
    const rewritten = await fetch(`${server.apiEndpoint}b/bkt/o/src/rewriteTo/b/bkt/o/dst2`, { method: 'POST', headers: auth, body: '{"metadata":{"k":"v"}}' });
    expect(await rewritten.json()).toMatchObject({ kind: 'storage#rewriteResponse', done: true, resource: { name: 'dst2', metadata: { k: 'v' } } });
    expect((await fetch(`${server.apiEndpoint}b/bkt/o/src`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect((await fetch(`${server.apiEndpoint}b/bkt/o/src`, { method: 'DELETE', headers: auth })).status).toBe(404);
    expect([...server.objects('bkt').entries()].map(([name, data]) => [name, data.toString()])).toEqual([
      ['dst1', 'payload'],
      ['dst2', 'payload'],
    ]);
  });

  it('adds the configured latency to API requests', async () => {
    const { server, auth } = await start({ requestLatencyMs: 200 });
    const began = performance.now();
    expect((await fetch(`${server.apiEndpoint}b/bkt`, { headers: auth })).status).toBe(200);
    expect(performance.now() - began).toBeGreaterThanOrEqual(190);
  });
});
