/**
 * The WebDAV stand-in at the HTTP level: authentication, the WebDAV methods and the Nextcloud
 * headers rclone's nextcloud vendor uses (what rclone sends was taken from `--dump headers,bodies`).
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../worker/src/log/fingerprint.js';
import { WebdavStandin } from '../standins/webdav/webdav-standin.js';

/** The PROPFIND body rclone 1.60.1 sends with `vendor = nextcloud`. */
const RCLONE_PROPFIND = `<?xml version="1.0"?>
<d:propfind  xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:prop>
  <d:displayname />
  <d:getlastmodified />
  <d:getcontentlength />
  <d:resourcetype />
  <d:getcontenttype />
  <oc:checksums />
 </d:prop>
</d:propfind>`;

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('WebdavStandin over HTTP', () => {
  let standin: WebdavStandin;
  let dav: string;
  const auth = { authorization: basic('nc-user', 'nc-password') };

  async function request(method: string, path: string, init: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Response> {
    return fetch(`${dav}${path}`, {
      method,
      headers: { ...auth, ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
    });
  }

  beforeEach(async () => {
    standin = await WebdavStandin.start();
    dav = standin.davUrl('nc-user');
  });

  afterEach(async () => {
    await standin.close();
  });

  it('serves the files root at /remote.php/dav/files/<user>/', () => {
    expect(dav).toBe(`${standin.url}/remote.php/dav/files/nc-user/`);
    expect(standin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers 401 with a Basic challenge and a sabre body without or with wrong credentials', async () => {
    for (const headers of [{}, { authorization: basic('nc-user', 'wrong') }, { authorization: basic('nobody', 'nc-password') }]) {
      const response = await fetch(dav, { method: 'PROPFIND', headers: { depth: '0', ...headers } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="Nextcloud"/);
      const body = await response.text();
      expect(body).toContain('<s:exception>Sabre\\DAV\\Exception\\NotAuthenticated</s:exception>');
    }
    expect(standin.stats.unauthorized).toBe(3);
    expect(standin.stats.requests).toBe(3);
    expect(standin.stats.byPasswordFingerprint.size).toBe(0);
  });

  it("refuses a user access to another user's files with 403", async () => {
    standin.addUser('alice', 'alice-password');
    const response = await request('PROPFIND', '', { headers: { depth: '0' } });
    expect(response.status).toBe(207);
    const other = await fetch(standin.davUrl('alice'), { method: 'PROPFIND', headers: { ...auth, depth: '0' } });
    expect(other.status).toBe(403);
  });

  it('applies a password change at once and counts requests per password fingerprint', async () => {
    expect((await request('PROPFIND', '', { headers: { depth: '0' } })).status).toBe(207);
    standin.setPassword('nc-user', 'changed');
    expect((await request('PROPFIND', '', { headers: { depth: '0' } })).status).toBe(401);
    const fresh = await fetch(dav, { method: 'PROPFIND', headers: { depth: '0', authorization: basic('nc-user', 'changed') } });
    expect(fresh.status).toBe(207);
    expect(standin.stats.byPasswordFingerprint).toEqual(
      new Map([
        [fingerprint('nc-password'), 1],
        [fingerprint('changed'), 1],
      ]),
    );
    expect(standin.stats.unauthorized).toBe(1);
  });

  it('stores a PUT with X-OC-Mtime and OC-Checksum and lists it in PROPFIND like Nextcloud', async () => {
    const data = Buffer.from('hello nextcloud');
    const sha1 = createHash('sha1').update(data).digest('hex');
    const md5 = createHash('md5').update(data).digest('hex');
    expect((await request('MKCOL', 'docs/')).status).toBe(201);
    const put = await request('PUT', 'docs/h%C3%A9llo%20world.txt', {
      headers: { 'x-oc-mtime': '1700000000', 'oc-checksum': `SHA1:${sha1}` },
      body: data,
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('x-oc-mtime')).toBe('accepted');
    expect(put.headers.get('etag')).toMatch(/^"[0-9a-f]+"$/);
    expect(standin.file('nc-user', 'docs/héllo world.txt')).toEqual(data);

    const listing = await request('PROPFIND', 'docs/', { headers: { depth: '1' }, body: RCLONE_PROPFIND });
    expect(listing.status).toBe(207);
    const xml = await listing.text();
    const responses = xml.split('<d:response>').slice(1);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toContain('<d:href>/remote.php/dav/files/nc-user/docs/</d:href>');
    expect(responses[0]).toContain('<d:resourcetype><d:collection/></d:resourcetype>');
    expect(responses[0]).toMatch(/<d:propstat><d:prop><d:getcontentlength\/><d:getcontenttype\/><oc:checksums\/><\/d:prop><d:status>HTTP\/1.1 404 Not Found/);
    expect(responses[1]).toContain('<d:href>/remote.php/dav/files/nc-user/docs/h%C3%A9llo%20world.txt</d:href>');
    expect(responses[1]).toContain('<d:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT</d:getlastmodified>');
    expect(responses[1]).toContain(`<d:getcontentlength>${data.length}</d:getcontentlength>`);
    expect(responses[1]).toContain(`<oc:checksums><oc:checksum>SHA1:${sha1} MD5:${md5}</oc:checksum></oc:checksums>`);
    expect(responses[1]).toContain('<d:resourcetype/>');

    const depth0 = await (await request('PROPFIND', 'docs', { headers: { depth: '0' }, body: RCLONE_PROPFIND })).text();
    expect(depth0.split('<d:response>')).toHaveLength(2);
  });

  it('refuses a PUT whose OC-Checksum does not match the body', async () => {
    const response = await request('PUT', 'bad.txt', { headers: { 'oc-checksum': `SHA1:${'0'.repeat(40)}` }, body: 'data' });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('The computed checksum does not match');
    expect(standin.file('nc-user', 'bad.txt')).toBeUndefined();
  });

  it('follows sabre/dav rules for MKCOL and PUT parents', async () => {
    expect((await request('MKCOL', 'a/b/')).status).toBe(409);
    expect((await request('PUT', 'a/b/c.txt', { body: 'x' })).status).toBe(409);
    expect((await request('MKCOL', 'a/')).status).toBe(201);
    expect((await request('MKCOL', 'a/')).status).toBe(405);
    expect((await request('PUT', 'a', { body: 'x' })).status).toBe(409);
    expect((await request('PUT', 'a/c.txt', { body: 'one' })).status).toBe(201);
    expect((await request('PUT', 'a/c.txt', { body: 'two' })).status).toBe(204);
    expect(standin.file('nc-user', 'a/c.txt')?.toString()).toBe('two');
  });

  it('serves GET, HEAD and single byte ranges', async () => {
    standin.putFile('nc-user', 'x/y/data.bin', Buffer.from('0123456789'));
    const full = await request('GET', 'x/y/data.bin');
    expect(full.status).toBe(200);
    expect(await full.text()).toBe('0123456789');
    const head = await request('HEAD', 'x/y/data.bin');
    expect(head.headers.get('content-length')).toBe('10');
    const range = await request('GET', 'x/y/data.bin', { headers: { range: 'bytes=2-4' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await range.text()).toBe('234');
    expect(await (await request('GET', 'x/y/data.bin', { headers: { range: 'bytes=-3' } })).text()).toBe('789');
    expect((await request('GET', 'x/y/data.bin', { headers: { range: 'bytes=10-' } })).status).toBe(416);
    expect((await request('GET', 'x/y/missing.bin')).status).toBe(404);
  });

  it('moves and copies with Destination and Overwrite', async () => {
    standin.putFile('nc-user', 'src/one.txt', Buffer.from('1'));
    standin.putFile('nc-user', 'src/deep/two.txt', Buffer.from('2'));
    standin.putFile('nc-user', 'taken.txt', Buffer.from('t'));

    const copy = await request('COPY', 'src/', { headers: { destination: `${dav}copy/` } });
    expect(copy.status).toBe(201);
    const refused = await request('MOVE', 'src/one.txt', { headers: { destination: `${dav}taken.txt`, overwrite: 'F' } });
    expect(refused.status).toBe(412);
    const replaced = await request('MOVE', 'src/one.txt', { headers: { destination: `${dav}taken.txt`, overwrite: 'T' } });
    expect(replaced.status).toBe(204);
    expect((await request('MOVE', 'src/', { headers: { destination: `${dav}nowhere/src/` } })).status).toBe(409);
    expect((await request('MOVE', 'src/', { headers: { destination: `${dav}src/inside/` } })).status).toBe(409);
    const elsewhere = await request('COPY', 'taken.txt', { headers: { destination: `${standin.url}/remote.php/dav/files/someone/x.txt` } });
    expect(elsewhere.status).toBe(403);

    expect(standin.files('nc-user')).toEqual(
      new Map([
        ['copy/deep/two.txt', Buffer.from('2')],
        ['copy/one.txt', Buffer.from('1')],
        ['src/deep/two.txt', Buffer.from('2')],
        ['taken.txt', Buffer.from('1')],
      ]),
    );
  });

  it('deletes collections recursively', async () => {
    standin.putFile('nc-user', 'tree/a/b/c.txt', Buffer.from('c'));
    standin.putFile('nc-user', 'keep.txt', Buffer.from('k'));
    expect((await request('DELETE', 'tree/')).status).toBe(204);
    expect((await request('DELETE', 'tree/')).status).toBe(404);
    expect((await request('PROPFIND', 'tree/a/', { headers: { depth: '0' } })).status).toBe(404);
    expect([...standin.files('nc-user').keys()]).toEqual(['keep.txt']);
  });

  it('answers OPTIONS with the DAV classes and methods', async () => {
    const response = await request('OPTIONS', '');
    expect(response.status).toBe(200);
    expect(response.headers.get('dav')).toContain('1');
    expect(response.headers.get('allow')).toContain('PROPFIND');
  });

  it('reports quota on collections and answers allprop for an empty PROPFIND body', async () => {
    standin.putFile('nc-user', 'q/file.txt', Buffer.alloc(1234));
    const quota = await (
      await request('PROPFIND', '', {
        headers: { depth: '0' },
        body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>',
      })
    ).text();
    expect(quota).toContain('<d:quota-used-bytes>1234</d:quota-used-bytes>');
    expect(quota).toMatch(/<d:quota-available-bytes>\d+<\/d:quota-available-bytes>/);
    const allprop = await (await request('PROPFIND', 'q/file.txt', { headers: { depth: '0' } })).text();
    expect(allprop).toContain('<d:getcontentlength>1234</d:getcontentlength>');
    expect(allprop).not.toContain('404 Not Found');
  });

  it('delays every answer by requestLatencyMs', async () => {
    const slow = await WebdavStandin.start({ requestLatencyMs: 200 });
    try {
      const started = performance.now();
      const response = await fetch(slow.davUrl('nc-user'), { method: 'PROPFIND', headers: { ...auth, depth: '0' } });
      expect(response.status).toBe(207);
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    } finally {
      await slow.close();
    }
  });

  it('rejects a malformed PROPFIND body with 400', async () => {
    const response = await request('PROPFIND', '', { headers: { depth: '0' }, body: '<d:propfind xmlns:d="DAV:"><d:prop>' });
    expect(response.status).toBe(400);
  });
});
