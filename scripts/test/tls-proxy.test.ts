/**
 * The TLS-terminating proxy, through Node's own HTTPS clients (undici's ProxyAgent and
 * `node:https` over a CONNECT socket) and through the real rclone 1.60.1 against the GCS
 * stand-in behind `storage.googleapis.com` / `oauth2.googleapis.com`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { ProxyAgent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CLIENT, GcsStandin } from '../standins/gcs/server.js';
import { closeServer, listen, readBody, sendJson } from '../standins/http-util.js';
import { PROVIDER_HOSTS, TlsProxy } from '../standins/tls-proxy/proxy.js';
import { RcloneSandbox, rcloneToken } from './gcs-rclone-support.js';

const MiB = 1024 * 1024;
const HOST = 'graph.microsoft.com';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startProxy(routes: Record<string, string>): Promise<TlsProxy> {
  const proxy = await TlsProxy.start({ routes });
  cleanups.push(() => proxy.close());
  return proxy;
}

function proxyAgent(proxy: TlsProxy, connections?: number): ProxyAgent {
  const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: proxy.caPem }, ...(connections === undefined ? {} : { connections }) });
  cleanups.push(() => agent.close());
  return agent;
}

interface Seen {
  host: string | undefined;
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
}

/** A stand-in that records what reaches it; `handler` answers (default: a JSON echo of the request). */
async function startStandin(handler?: (req: IncomingMessage, res: Parameters<Parameters<typeof listen>[0]>[1]) => Promise<void>) {
  const seen: Seen[] = [];
  const { server, url } = await listen(async (req, res) => {
    seen.push({ host: req.headers.host, method: req.method, url: req.url, headers: req.headers });
    if (handler) return handler(req, res);
    const body = await readBody(req);
    sendJson(res, 200, { host: req.headers.host, url: req.url, bytes: body.length, sha256: sha256(body) });
  });
  cleanups.push(() => closeServer(server));
  return { server, url, seen };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Opens a CONNECT tunnel by hand; resolves with the proxy's status and the raw socket. */
function connectTunnel(proxy: TlsProxy, authority: string): Promise<{ status: number; socket: Socket }> {
  const { hostname, port } = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method: 'CONNECT', path: authority });
    req.on('connect', (res: IncomingMessage, socket: Socket) => {
      cleanups.push(async () => socket.destroy());
      resolve({ status: res.statusCode ?? 0, socket });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS-terminating CONNECT proxy', () => {
  it('forwards decrypted requests to the mapped stand-in with the Host header kept, and answers the stand-in’s response', async () => {
    const standin = await startStandin();
    const proxy = await startProxy({ [HOST]: standin.url });
    const body = randomBytes(3 * MiB);

    const response = await request(`https://${HOST}/v1.0/drives/D/items/root:/a%20b.bin:/createUploadSession?x=1`, {
      method: 'POST',
      body,
      dispatcher: proxyAgent(proxy),
    });
    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toEqual({ host: HOST, url: '/v1.0/drives/D/items/root:/a%20b.bin:/createUploadSession?x=1', bytes: body.length, sha256: sha256(body) });
    expect(standin.seen).toHaveLength(1);
    expect(standin.seen[0]!.headers['proxy-connection']).toBeUndefined();
    expect(proxy.stats).toMatchObject({ tunnels: 1, tlsFailures: 0, upstreamErrors: 0, requestsByHost: new Map([[HOST, 1]]), refused: new Map() });
  });

  it('streams request and response bodies as they flow, not after buffering them', async () => {
    let firstUploadChunkSeen!: () => void;
    const uploadStarted = new Promise<void>((resolve) => (firstUploadChunkSeen = resolve));
    let clientGotFirstChunk!: () => void;
    const downloadStarted = new Promise<void>((resolve) => (clientGotFirstChunk = resolve));
    const standin = await startStandin(async (req, res) => {
      if (req.method === 'PUT') {
        let received = 0;
        for await (const chunk of req as AsyncIterable<Buffer>) {
          received += chunk.length;
          firstUploadChunkSeen();
        }
        sendJson(res, 201, { received });
        return;
      }
      // The rest of the download is sent only once the client has the first part.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(64 * 1024, 1));
      await downloadStarted;
      res.end(Buffer.alloc(64 * 1024, 2));
    });
    const proxy = await startProxy({ [HOST]: standin.url });
    const dispatcher = proxyAgent(proxy);

    // The second half of the upload is produced only once the stand-in has seen the first.
    const upload = Readable.from(
      (async function* () {
        yield Buffer.alloc(256 * 1024, 3);
        await uploadStarted;
        yield Buffer.alloc(256 * 1024, 4);
      })(),
    );
    const put = await request(`https://${HOST}/rup/session`, { method: 'PUT', body: upload, dispatcher });
    expect(await put.body.json()).toEqual({ received: 512 * 1024 });

    const get = await request(`https://${HOST}/content`, { dispatcher });
    let downloaded = 0;
    for await (const chunk of get.body as AsyncIterable<Buffer>) {
      downloaded += chunk.length;
      if (downloaded >= 64 * 1024) clientGotFirstChunk();
    }
    expect(downloaded).toBe(128 * 1024);
  });

  it('keeps a tunnel alive across requests, and carries many concurrent tunnels', async () => {
    const CONCURRENT = 20;
    let arrived = 0;
    let allArrived!: () => void;
    const barrier = new Promise<void>((resolve) => (allArrived = resolve));
    const standin = await startStandin(async (req, res) => {
      await readBody(req);
      if (req.url?.startsWith('/barrier')) {
        // Each request is held until all of them are in flight at once.
        if (++arrived === CONCURRENT) allArrived();
        await barrier;
      }
      sendJson(res, 200, { url: req.url });
    });
    const proxy = await startProxy({ [HOST]: standin.url });

    const serial = proxyAgent(proxy, 1);
    for (let i = 0; i < 5; i++) expect((await request(`https://${HOST}/serial/${i}`, { dispatcher: serial })).statusCode).toBe(200);
    expect(proxy.stats.tunnels).toBe(1);

    const parallel = proxyAgent(proxy, CONCURRENT);
    const answers = await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => request(`https://${HOST}/barrier/${i}`, { dispatcher: parallel })));
    expect(answers.map((answer) => answer.statusCode)).toEqual(Array<number>(CONCURRENT).fill(200));
    await Promise.all(answers.map((answer) => answer.body.dump()));
    expect(proxy.stats.tunnels).toBe(1 + CONCURRENT);
    expect(proxy.stats.requestsByHost.get(HOST)).toBe(5 + CONCURRENT);
  });

  it('refuses unmapped hosts, other ports and plain proxy requests, so nothing leaves the machine', async () => {
    const standin = await startStandin();
    const proxy = await startProxy({ [HOST]: standin.url });

    expect((await connectTunnel(proxy, 'example.com:443')).status).toBe(403);
    expect((await connectTunnel(proxy, `${HOST}:80`)).status).toBe(403);
    // A forward-proxy request (absolute URI), as an HTTP_PROXY client sends for http:// URLs.
    const plainStatus = await new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(proxy.url);
      const req = httpRequest({ hostname, port, path: 'http://example.com/', headers: { host: 'example.com' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(plainStatus).toBe(403);
    await expect(request('https://www.example.org/', { dispatcher: proxyAgent(proxy) })).rejects.toThrow(/403/);

    expect(standin.seen).toEqual([]);
    expect(proxy.stats.tunnels).toBe(0);
    expect(proxy.stats.refused).toEqual(
      new Map([
        ['example.com:443', 1],
        [`${HOST}:80`, 1],
        ['example.com', 1],
        ['www.example.org:443', 1],
      ]),
    );
  });

  it('serves node:https over a hand-made CONNECT socket: the leaf verifies for the host against the test CA only', async () => {
    const standin = await startStandin();
    const proxy = await startProxy({ [HOST]: standin.url, 'api.onedrive.com': standin.url });

    const { status, socket } = await connectTunnel(proxy, 'api.onedrive.com:443');
    expect(status).toBe(200);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: 'api.onedrive.com',
          defaultPort: 443,
          path: '/rup/abc',
          method: 'PUT',
          headers: { 'content-type': 'application/octet-stream' },
          createConnection: () => tlsConnect({ socket, servername: 'api.onedrive.com', ca: proxy.caPem }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
          });
        },
      );
      req.on('error', reject);
      req.end('chunk');
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ host: 'api.onedrive.com', url: '/rup/abc', bytes: 5 });

    // Without the test CA the client refuses the proxy's certificate. (Node's client hangs up
    // without an alert, so only Go's refusals show in `tlsFailures`: see the rclone test.)
    const untrusted = await connectTunnel(proxy, `${HOST}:443`);
    await expect(
      new Promise((resolve, reject) => {
        const tls = tlsConnect({ socket: untrusted.socket, servername: HOST }, () => {
          resolve('connected');
        });
        tls.on('error', reject);
      }),
    ).rejects.toThrow(/self-signed|unable to get local issuer|certificate/i);
  });

  it('re-points a route at a restarted stand-in, answers 502 while none listens, and only routes names its certificate covers', async () => {
    const first = await startStandin();
    const proxy = await startProxy({ [HOST]: first.url });
    const dispatcher = proxyAgent(proxy);
    expect((await request(`https://${HOST}/a`, { dispatcher })).statusCode).toBe(200);

    await closeServer(first.server as Server);
    const down = await request(`https://${HOST}/b`, { dispatcher });
    expect(down.statusCode).toBe(502);
    await down.body.dump();
    expect(proxy.stats.upstreamErrors).toBe(1);

    const second = await startStandin();
    proxy.route(HOST, second.url);
    expect((await request(`https://${HOST}/c`, { dispatcher })).statusCode).toBe(200);
    expect(second.seen.map((seen) => seen.url)).toEqual(['/c']);
    expect(proxy.routes()).toEqual(new Map([[HOST, second.url]]));

    expect(() => {
      proxy.route('not-covered.example', second.url);
    }).toThrow(RangeError);
    expect(proxy.hosts).toEqual(expect.arrayContaining([...PROVIDER_HOSTS]));
  });

  it('exposes the environment for child processes, and close() cuts tunnels and removes the CA file', async () => {
    const standin = await startStandin(async () => {
      // Never answers: the tunnel stays busy until the proxy closes.
    });
    const proxy = await TlsProxy.start({ routes: { [HOST]: standin.url } });
    expect(proxy.env()).toEqual({ HTTPS_PROXY: proxy.url, SSL_CERT_FILE: proxy.caFile, NODE_EXTRA_CA_CERTS: proxy.caFile, NO_PROXY: '127.0.0.1,localhost,::1' });
    expect(existsSync(proxy.caFile)).toBe(true);

    const agent = proxyAgent(proxy);
    const pending = request(`https://${HOST}/hang`, { dispatcher: agent });
    await expect.poll(() => standin.seen.length).toBe(1);
    expect(proxy.stats.openTunnels).toBe(1);
    const cut = expect(pending).rejects.toThrow();
    await proxy.close();
    await cut;
    expect(existsSync(proxy.caFile)).toBe(false);
    expect(proxy.stats.openTunnels).toBe(0);
  });
});

describe('the real rclone through the proxy', () => {
  it('copies to and checks the GCS stand-in behind storage.googleapis.com, refreshing at oauth2.googleapis.com', async () => {
    const gcs = await GcsStandin.start();
    cleanups.push(() => gcs.close());
    gcs.createBucket('bkt');
    const proxy = await startProxy({ 'storage.googleapis.com': gcs.url, 'oauth2.googleapis.com': gcs.url });
    const sandbox = await RcloneSandbox.create();
    cleanups.push(() => sandbox.cleanup());
    const grant = gcs.issueGrant();
    // No `endpoint` and no `token_url`: rclone uses Google's real hosts. The token is expired by
    // rclone's reckoning, so its first request refreshes at Google's token URL, through the proxy.
    await sandbox.writeRemotes({
      gcs: {
        type: 'gcs',
        bucket_policy_only: 'true',
        client_id: DEFAULT_CLIENT.clientId,
        client_secret: DEFAULT_CLIENT.clientSecret,
        token: JSON.stringify(rcloneToken(grant.accessToken, new Date(Date.now() - 60_000), grant.refreshToken)),
      },
    });
    const source = join(sandbox.dir, 'source');
    await mkdir(join(source, 'sub'), { recursive: true });
    const files = new Map([
      ['a.txt', Buffer.from('alpha')],
      ['sub/b.bin', randomBytes(200_000)],
      ['sub/c.bin', randomBytes(20 * MiB)],
    ]);
    for (const [path, data] of files) await writeFile(join(source, path), data);

    const copy = await sandbox.rclone(['copy', source, 'gcs:bkt/backup'], { HTTPS_PROXY: proxy.url, SSL_CERT_FILE: proxy.caFile });
    expect(copy.stderr).toBe('');
    expect(copy.exitCode).toBe(0);
    for (const [path, data] of files) expect(gcs.object('bkt', `backup/${path}`)?.equals(data), path).toBe(true);
    // rclone's `--ca-cert` works as well as SSL_CERT_FILE.
    const check = await sandbox.rclone(['check', source, 'gcs:bkt/backup', '--ca-cert', proxy.caFile], { HTTPS_PROXY: proxy.url });
    expect(check.exitCode).toBe(0);
    expect(check.stderr).toContain('0 differences found');
    expect(check.stderr).toContain('3 matching files');

    expect(gcs.stats).toMatchObject({ tokenRequests: 1, tokenRequestsByRclone: 1, tokenSuccesses: 1, unauthorized: 0 });
    expect(proxy.stats.requestsByHost.get('oauth2.googleapis.com')).toBe(1);
    expect(proxy.stats.requestsByHost.get('storage.googleapis.com')).toBeGreaterThanOrEqual(files.size);
    expect(proxy.stats).toMatchObject({ refused: new Map(), tlsFailures: 0, upstreamErrors: 0 });
    const apiRequestsThroughProxy = proxy.stats.requestsByHost.get('storage.googleapis.com') ?? 0;

    // Without the CA rclone refuses the proxy's certificate: it really verifies.
    const untrusted = await sandbox.rclone(['lsjson', 'gcs:bkt/backup'], { HTTPS_PROXY: proxy.url });
    expect(untrusted.exitCode).not.toBe(0);
    expect(untrusted.stderr).toContain('x509: certificate signed by unknown authority');
    expect(proxy.stats.tlsFailures).toBeGreaterThanOrEqual(1);
    expect(proxy.stats.requestsByHost.get('storage.googleapis.com')).toBe(apiRequestsThroughProxy);
  });
});
