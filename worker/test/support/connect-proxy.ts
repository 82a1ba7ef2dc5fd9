/**
 * A forward proxy for tests, as corporate proxies are: it answers `CONNECT host:port` and then
 * relays bytes both ways (TLS, if any, stays end to end). Host names can be mapped to local
 * ports, so a client can reach a stand-in under a name only the proxy resolves — proof that the
 * request really went through the proxy. Every CONNECT is recorded.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface ConnectRecord {
  at: number;
  /** `host:port` as the client asked for it. */
  target: string;
  /** Status the proxy answered. */
  status: number;
  /** `Proxy-Authorization` the client sent, if any. */
  authorization: string | undefined;
}

export class ConnectProxy {
  readonly connects: ConnectRecord[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    /** `host` (lower case) → where the proxy really connects. */
    private readonly routes: Map<string, { host: string; port: number }>,
  ) {}

  /** `routes`: host name → local port (or `{host, port}`); unmapped hosts are dialled as asked. */
  static async start(routes: Record<string, number | { host: string; port: number }> = {}): Promise<ConnectProxy> {
    const map = new Map(Object.entries(routes).map(([name, to]) => [name.toLowerCase(), typeof to === 'number' ? { host: '127.0.0.1', port: to } : to]));
    const server = createServer((_req, res) => {
      // Only tunnels: a plain request through the proxy is a test failure worth seeing.
      res.writeHead(405, { 'content-type': 'text/plain' }).end('CONNECT only\n');
    });
    const proxy = await new Promise<ConnectProxy>((resolve) => {
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        resolve(new ConnectProxy(server, `http://127.0.0.1:${port}`, map));
      });
    });
    server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      proxy.tunnel(req, client, head);
    });
    return proxy;
  }

  /** CONNECT targets asked for, in order. */
  targets(): string[] {
    return this.connects.map((c) => c.target);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    this.track(client);
    const target = req.url ?? '';
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    const record: ConnectRecord = { at: Date.now(), target, status: 0, authorization: req.headers['proxy-authorization'] };
    this.connects.push(record);
    if (!match) {
      record.status = 400;
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const to = this.routes.get((match[1] ?? '').toLowerCase()) ?? { host: match[1] ?? '', port: Number(match[2]) };
    const upstream = connect(to.port, to.host, () => {
      record.status = 200;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    this.track(upstream);
    upstream.on('error', () => {
      if (record.status === 0) {
        record.status = 502;
        client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      } else client.destroy();
    });
    client.on('error', () => upstream.destroy());
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }
}
