/**
 * A TLS-terminating HTTP CONNECT proxy on 127.0.0.1 that lets the real rclone (and any other
 * client) talk to local stand-ins of providers whose API hosts are fixed in the client:
 * `graph.microsoft.com`, `www.googleapis.com`, `api.dropboxapi.com`, … (research/
 * rclone-providers-lab.md, Q1).
 *
 * A client configured with `HTTPS_PROXY=<url>` sends `CONNECT graph.microsoft.com:443`. For a
 * mapped host the proxy answers `200 Connection Established`, completes the TLS handshake
 * itself with a leaf certificate signed by a test CA made at start (clients trust it through
 * `SSL_CERT_FILE`, rclone's `--ca-cert`, or undici's `requestTls.ca`), and forwards each
 * decrypted HTTP/1.1 request, Host header unchanged, to the host's plain-HTTP stand-in. Every
 * other host, every other port and every non-CONNECT request is refused with 403: a test run
 * can never reach the internet through it.
 *
 *   const proxy = await TlsProxy.start({ routes: { 'graph.microsoft.com': onedrive.url } });
 *   spawn('rclone', [...], { env: { ...process.env, ...proxy.env() } });
 *
 * No ALPN is offered, so clients speak HTTP/1.1 (Go's client would otherwise try HTTP/2).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { forward, type ForwardTarget } from './forward.js';
import { createTestCertificates, type TestCertificates } from './test-ca.js';

/**
 * Provider hosts the leaf certificate always covers, so any stand-in can be routed later
 * (`route()`): the API, token and upload hosts rclone 1.60.1 and the worker use for OneDrive
 * personal, Google Drive, GCS and Dropbox.
 */
export const PROVIDER_HOSTS: readonly string[] = [
  'graph.microsoft.com',
  'api.onedrive.com',
  'login.microsoftonline.com',
  'www.googleapis.com',
  'oauth2.googleapis.com',
  'accounts.google.com',
  'storage.googleapis.com',
  'api.dropboxapi.com',
  'content.dropboxapi.com',
  'notify.dropboxapi.com',
  'api.dropbox.com',
  'www.dropbox.com',
];

export interface TlsProxyOptions {
  /** Host name → base URL of its plain-HTTP stand-in on loopback (`http://127.0.0.1:<port>`). */
  routes: Readonly<Record<string, string>>;
  /** Extra names for the leaf certificate beyond PROVIDER_HOSTS and the routed hosts. */
  extraHosts?: readonly string[];
  /** 0 (default) = any free port. */
  port?: number;
}

export interface TlsProxyStats {
  /** CONNECTs accepted (tunnels opened to a mapped host). */
  tunnels: number;
  /** Tunnels still open. */
  openTunnels: number;
  /** CONNECTs and plain requests refused, by `host:port` as asked. */
  refused: Map<string, number>;
  /** TLS handshakes that failed (e.g. a client that does not trust the test CA). */
  tlsFailures: number;
  /** Decrypted requests forwarded, by CONNECT host. */
  requestsByHost: Map<string, number>;
  /** Requests whose stand-in could not be reached (answered 502 or cut). */
  upstreamErrors: number;
}

interface Route {
  target: ForwardTarget;
  /** Terminates TLS for this host's tunnels; created with the route, never listens itself. */
  tls: HttpsServer;
}

export class TlsProxy {
  /** The value for `HTTPS_PROXY` (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** The test CA certificate, PEM. */
  readonly caPem: string;
  /** A file holding `caPem`, for `SSL_CERT_FILE`, rclone's `--ca-cert`, `NODE_EXTRA_CA_CERTS`. */
  readonly caFile: string;
  /** The names the leaf certificate is valid for: only these can be routed. */
  readonly hosts: readonly string[];
  readonly stats: TlsProxyStats = { tunnels: 0, openTunnels: 0, refused: new Map(), tlsFailures: 0, requestsByHost: new Map(), upstreamErrors: 0 };

  readonly #server: Server;
  readonly #caDir: string;
  readonly #leaf: { cert: string; key: string };
  readonly #routes = new Map<string, Route>();
  readonly #sockets = new Set<Duplex>();
  /** Keep-alive connections to the stand-ins, shared by every tunnel. */
  readonly #agent = new Agent({ keepAlive: true, maxSockets: Infinity });

  private constructor(server: Server, url: string, caDir: string, certificates: TestCertificates) {
    this.#server = server;
    this.url = url;
    this.#caDir = caDir;
    this.caPem = certificates.caPem;
    this.caFile = join(caDir, 'ca.pem');
    this.hosts = certificates.hosts;
    this.#leaf = { cert: certificates.leafPem, key: certificates.leafKeyPem };
  }

  static async start(options: TlsProxyOptions): Promise<TlsProxy> {
    const routed = Object.keys(options.routes).map((host) => host.toLowerCase());
    const certificates = certificatesFor([...PROVIDER_HOSTS, ...routed, ...(options.extraHosts ?? [])]);
    const caDir = await mkdtemp(join(tmpdir(), 'tls-proxy-'));
    await writeFile(join(caDir, 'ca.pem'), certificates.caPem, { mode: 0o644 });
    const server = createServer();
    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      proxy.#connect(req, socket, head);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      proxy.#refusePlainRequest(req, res);
    });
    server.on('connection', (socket: Socket) => {
      proxy.#track(socket);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await rm(caDir, { recursive: true, force: true });
      throw err;
    }
    const proxy = new TlsProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, caDir, certificates);
    for (const [host, target] of Object.entries(options.routes)) proxy.route(host, target);
    return proxy;
  }

  /**
   * Maps `host` to a stand-in (or re-points it, e.g. at a restarted stand-in on a new port).
   * New tunnels use it at once; requests on open tunnels too.
   */
  route(host: string, standinUrl: string): void {
    const name = host.toLowerCase();
    if (!this.hosts.includes(name)) throw new RangeError(`the proxy's certificate does not cover ${host}; pass it in routes or extraHosts at start`);
    const url = new URL(standinUrl);
    if (url.protocol !== 'http:') throw new RangeError(`stand-in URL must be plain http, got ${standinUrl}`);
    const target = { hostname: url.hostname, port: Number(url.port || 80) };
    const existing = this.#routes.get(name);
    if (existing) {
      existing.target = target;
      return;
    }
    const route: Route = { target, tls: this.#tlsServer(name, () => route.target) };
    this.#routes.set(name, route);
  }

  /** The routed hosts and their stand-ins. */
  routes(): Map<string, string> {
    return new Map([...this.#routes].map(([host, route]) => [host, `http://${route.target.hostname}:${route.target.port}`]));
  }

  /**
   * Environment for a child process (rclone, a worker) that should reach the stand-ins through
   * this proxy: `HTTPS_PROXY` (Go, undici's EnvHttpProxyAgent), `SSL_CERT_FILE` (Go replaces its
   * CA bundle with it), `NODE_EXTRA_CA_CERTS` (Node adds it), and `NO_PROXY` for loopback so
   * calls to stand-ins at 127.0.0.1 go direct (Go never proxies loopback anyway).
   */
  env(): Record<string, string> {
    return {
      HTTPS_PROXY: this.url,
      SSL_CERT_FILE: this.caFile,
      NODE_EXTRA_CA_CERTS: this.caFile,
      NO_PROXY: '127.0.0.1,localhost,::1',
    };
  }

  /** Stops listening, cuts every tunnel and removes the CA file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
    for (const socket of this.#sockets) socket.destroy();
    for (const route of this.#routes.values()) route.tls.close();
    this.#agent.destroy();
    await closed;
    await rm(this.#caDir, { recursive: true, force: true });
  }

  #connect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const authority = req.url ?? '';
    const { host, port } = splitAuthority(authority);
    const route = host === undefined ? undefined : this.#routes.get(host);
    if (!route || port !== 443) {
      this.#count(this.stats.refused, authority);
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nhost not routed by the test proxy\n');
      return;
    }
    this.stats.tunnels++;
    this.stats.openTunnels++;
    socket.once('close', () => {
      this.stats.openTunnels--;
    });
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    route.tls.emit('connection', socket);
  }

  #tlsServer(host: string, target: () => ForwardTarget): HttpsServer {
    const tls = createHttpsServer({ cert: this.#leaf.cert, key: this.#leaf.key }, (req, res) => {
      this.#count(this.stats.requestsByHost, host);
      void forward(req, res, target(), this.#agent).then((outcome) => {
        if (outcome === 'upstreamError') this.stats.upstreamErrors++;
      });
    });
    tls.keepAliveTimeout = 30_000;
    tls.on('tlsClientError', (_err, tlsSocket) => {
      this.stats.tlsFailures++;
      tlsSocket.destroy();
    });
    return tls;
  }

  #refusePlainRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#count(this.stats.refused, requestedHost(req));
    req.resume();
    const body = 'the test proxy only tunnels (CONNECT) to routed hosts\n';
    res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #count(counter: Map<string, number>, key: string): void {
    counter.set(key, (counter.get(key) ?? 0) + 1);
  }
}

/**
 * One CA and leaf per set of names per process: minting costs about a second of CPU on a busy
 * machine, and test files start many proxies. Each proxy still writes its own CA file.
 */
const minted = new Map<string, TestCertificates>();

function certificatesFor(hosts: readonly string[]): TestCertificates {
  const key = [...new Set(hosts.map((host) => host.toLowerCase()))].sort().join(',');
  let certificates = minted.get(key);
  if (!certificates) {
    certificates = createTestCertificates({ hosts });
    minted.set(key, certificates);
  }
  return certificates;
}

/** `host:port` of a CONNECT request (IPv6 literals in brackets); host lower-cased. */
function splitAuthority(authority: string): { host: string | undefined; port: number | undefined } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(authority);
  if (!match) return { host: undefined, port: undefined };
  return { host: match[1]!.toLowerCase(), port: Number(match[2]) };
}

/** The host a plain proxy request asked for: from its absolute URI, else its Host header. */
function requestedHost(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '').host;
  } catch {
    return req.headers.host ?? '';
  }
}
