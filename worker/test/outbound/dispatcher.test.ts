/**
 * The worker's token refresh behind a corporate proxy and with a private CA, through real
 * servers: a CONNECT proxy on 127.0.0.1 that alone resolves the token host's name, the GCS
 * stand-in's token endpoint, and an HTTPS front signed by a CA made for the test.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer as createTcpServer, connect, type Server as TcpServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { GcsStandin } from '../../../scripts/standins/gcs/server.js';
import { OutboundDispatcher, type OutboundSettings } from '../../src/outbound/dispatcher.js';
import { HttpTokenEndpoint } from '../../src/tokens/token-endpoint.js';
import { ConnectProxy } from '../support/connect-proxy.js';
import { createTestCertificates, type TestCertificates } from '../../../scripts/standins/tls-proxy/test-ca.js';

/** A name no resolver knows: only the proxy maps it, so a success proves the request went through it. */
const PROXIED_HOST = 'oauth.proxied.test';
const NONE: OutboundSettings = { httpsProxy: undefined, httpProxy: undefined, noProxy: undefined, caPem: undefined };

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function standin(): Promise<{ gcs: GcsStandin; port: number; refreshToken: string }> {
  const gcs = await GcsStandin.start();
  cleanups.push(() => gcs.close());
  return { gcs, port: Number(new URL(gcs.url).port), refreshToken: gcs.issueGrant().refreshToken };
}

async function proxy(routes: Record<string, number | { host: string; port: number }>): Promise<ConnectProxy> {
  const p = await ConnectProxy.start(routes);
  cleanups.push(() => p.close());
  return p;
}

function endpointVia(settings: OutboundSettings): HttpTokenEndpoint {
  const dispatcher = new OutboundDispatcher(settings);
  cleanups.push(() => dispatcher.destroy());
  return new HttpTokenEndpoint({ timeoutMs: 5000, dispatcher });
}

const refresh = (endpoint: HttpTokenEndpoint, tokenUrl: string, refreshToken: string) =>
  endpoint.refresh({ tokenUrl, refreshToken, clientId: 'gcs-standin-client', clientSecret: 'gcs-standin-secret', scope: undefined });

/** A TCP relay on `host` to 127.0.0.1:`port`, counting connections: the stand-in as seen on another address. */
async function relay(host: string, port: number): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server: TcpServer = createTcpServer((client) => {
    connections += 1;
    const upstream = connect(port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, connections: () => connections };
}

/** An HTTPS front with a certificate of `ca` that relays to the stand-in over plain HTTP. */
async function httpsFront(ca: TestCertificates, port: number): Promise<number> {
  const server: HttpsServer = createHttpsServer({ key: ca.leafKeyPem, cert: ca.leafPem }, (req, res) => {
    const forward = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** A non-loopback IPv4 address of this machine, if it has one. */
const LAN_ADDRESS = Object.values(networkInterfaces())
  .flat()
  .find((a) => a?.family === 'IPv4' && !a.internal)?.address;

describe('OutboundDispatcher: the token refresh behind a proxy', () => {
  it('tunnels a refresh through the CONNECT proxy (HTTP_PROXY for an http token URL)', async () => {
    const { gcs, port, refreshToken } = await standin();
    const corp = await proxy({ [PROXIED_HOST]: port });
    const outcome = await refresh(endpointVia({ ...NONE, httpProxy: corp.url }), `http://${PROXIED_HOST}:${port}/token`, refreshToken);
    expect(outcome).toMatchObject({ ok: true });
    expect(corp.targets()).toEqual([`${PROXIED_HOST}:${port}`]);
    expect(gcs.tokenLog.map((e) => e.status)).toEqual([200]);
  });

  it('never sends loopback through the proxy', async () => {
    const { port, refreshToken } = await standin();
    const corp = await proxy({});
    const endpoint = endpointVia({ ...NONE, httpProxy: corp.url, httpsProxy: corp.url });
    expect(await refresh(endpoint, `http://127.0.0.1:${port}/token`, refreshToken)).toMatchObject({ ok: true });
    expect(await refresh(endpoint, `http://localhost:${port}/token`, refreshToken)).toMatchObject({ ok: true });
    expect(corp.connects).toEqual([]);
  });

  it.skipIf(LAN_ADDRESS === undefined)('honours NO_PROXY: a listed host is reached directly, an unlisted one through the proxy', async () => {
    const lan = LAN_ADDRESS ?? '';
    const { port, refreshToken } = await standin();
    const onLan = await relay(lan, port);
    const corp = await proxy({});
    const tokenUrl = `http://${lan}:${onLan.port}/token`;

    expect(await refresh(endpointVia({ ...NONE, httpProxy: corp.url, noProxy: `hub.corp.example,${lan}` }), tokenUrl, refreshToken)).toMatchObject({ ok: true });
    expect(corp.connects).toEqual([]);
    expect(onLan.connections()).toBe(1);

    expect(await refresh(endpointVia({ ...NONE, httpProxy: corp.url, noProxy: 'hub.corp.example,10.0.0.0/8' }), tokenUrl, refreshToken)).toMatchObject({ ok: true });
    expect(corp.targets()).toEqual([`${lan}:${onLan.port}`]);
    expect(onLan.connections()).toBe(2);
  });

  it('uses HTTPS_PROXY for https URLs only, as rclone does: HTTP_PROXY alone leaves https direct', () => {
    const onlyHttp = new OutboundDispatcher({ ...NONE, httpProxy: 'http://proxy.corp.example:3128' });
    cleanups.push(() => onlyHttp.destroy());
    expect(onlyHttp.describe('https://login.microsoftonline.com/consumers/oauth2/v2.0/token')).toBe('direct');
    expect(onlyHttp.describe('http://token.example/token')).toBe('via proxy http://proxy.corp.example:3128');
    const both = new OutboundDispatcher({ ...NONE, httpsProxy: 'http://user:Pr0xyPass@proxy.corp.example:3128', noProxy: 'hub.corp.example' });
    cleanups.push(() => both.destroy());
    expect(both.describe('https://graph.microsoft.com/v1.0')).toBe('via proxy http://proxy.corp.example:3128');
    expect(both.describe('https://hub.corp.example/api')).toBe('direct');
  });
});

describe('OutboundDispatcher: a private CA', () => {
  it('trusts SSL_CERT_FILE for an HTTPS token endpoint reached directly, and refuses it without', async () => {
    const ca = createTestCertificates({ hosts: ['localhost'], validDays: 1 });
    const { port, refreshToken } = await standin();
    const front = await httpsFront(ca, port);
    const tokenUrl = `https://localhost:${front}/token`;

    const untrusted = await refresh(endpointVia(NONE), tokenUrl, refreshToken);
    expect(untrusted).toMatchObject({ ok: false, permanent: false });
    expect(untrusted.ok ? '' : untrusted.reason).toMatch(/certificate/i);
    expect(await refresh(endpointVia({ ...NONE, caPem: ca.caPem }), tokenUrl, refreshToken)).toMatchObject({ ok: true });
  });

  it('trusts it through the proxy tunnel too (HTTPS_PROXY, TLS end to end to the token host)', async () => {
    const ca = createTestCertificates({ hosts: [PROXIED_HOST], validDays: 1 });
    const { port, refreshToken } = await standin();
    const front = await httpsFront(ca, port);
    const corp = await proxy({ [PROXIED_HOST]: front });
    const tokenUrl = `https://${PROXIED_HOST}/token`;

    expect(await refresh(endpointVia({ ...NONE, httpsProxy: corp.url }), tokenUrl, refreshToken)).toMatchObject({ ok: false, permanent: false });
    expect(await refresh(endpointVia({ ...NONE, httpsProxy: corp.url, caPem: ca.caPem }), tokenUrl, refreshToken)).toMatchObject({ ok: true });
    expect(corp.targets()).toEqual([`${PROXIED_HOST}:443`, `${PROXIED_HOST}:443`]);
  });
});
