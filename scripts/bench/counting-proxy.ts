/**
 * A reverse proxy in front of the stand-in hub's REST API that counts requests by method and
 * path, so a benchmark can tell how often the worker fetched from the hub. SignalR does not go
 * through it (the worker takes `HANNIBAL_SIGNALR_URL` separately).
 */
import { request, type Server } from 'node:http';
import { closeServer, listen } from '../standins/http-util.js';

export class CountingProxy {
  private constructor(
    readonly url: string,
    private readonly server: Server,
    /** Requests per `METHOD /path`, filled by the request handler. */
    private readonly counts: Map<string, number>,
  ) {}

  static async start(target: string): Promise<CountingProxy> {
    const upstream = new URL(target);
    const counts = new Map<string, number>();
    const { server, url } = await listen((req, res) => {
      const key = `${req.method ?? 'GET'} ${new URL(req.url ?? '/', 'http://proxy').pathname}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const forward = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => {
        res.destroy();
      });
      req.pipe(forward);
    });
    return new CountingProxy(url, server, counts);
  }

  /** Requests seen for `method path` since the last reset. */
  count(method: string, path: string): number {
    return this.counts.get(`${method} ${path}`) ?? 0;
  }

  /** Every request seen since the last reset. */
  total(): number {
    return [...this.counts.values()].reduce((sum, n) => sum + n, 0);
  }

  reset(): void {
    this.counts.clear();
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
