/**
 * A reverse proxy in front of the stand-in hub's REST API that can hold a chosen request: it
 * arrives, is counted, and goes no further until the test releases it. That makes "the worker
 * crashed after the provider answered and before the hub stored the grant" a deterministic
 * instant instead of a race. A held request whose client goes away (the worker was killed) is
 * dropped, never forwarded: the hub does not get a save from a dead process.
 */
import { request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listen } from '../../../scripts/standins/http-util.js';

export interface HeldRequest {
  /** Resolves when a matching request has arrived (and is being held). */
  readonly arrived: Promise<{ at: number }>;
  /** Forwards it (and stops holding further ones). */
  release(): void;
}

interface Hold {
  method: string;
  path: string;
  arrivedAt: ((value: { at: number }) => void) | undefined;
  waiting: (() => void)[];
  released: boolean;
}

export class StallingProxy {
  /** Every request seen: `METHOD /path` with the time it arrived. */
  readonly requests: { at: number; key: string }[] = [];
  private readonly holds: Hold[] = [];

  private constructor(
    readonly url: string,
    private readonly server: Server,
  ) {}

  static async start(target: string): Promise<StallingProxy> {
    const upstream = new URL(target);
    // No request can arrive before `proxy` exists (requests are macrotasks, this a microtask).
    const { server, url } = await listen((req, res) => proxy.handle(upstream, req, res));
    const proxy = new StallingProxy(url, server);
    return proxy;
  }

  /** Holds the next requests matching `method path` (exact path) until `release()`. */
  hold(method: string, path: string): HeldRequest {
    let arrivedAt: ((value: { at: number }) => void) | undefined;
    const arrived = new Promise<{ at: number }>((resolve) => (arrivedAt = resolve));
    const hold: Hold = { method, path, arrivedAt, waiting: [], released: false };
    this.holds.push(hold);
    return {
      arrived,
      release: () => {
        hold.released = true;
        for (const go of hold.waiting.splice(0)) go();
      },
    };
  }

  count(method: string, path: string): number {
    return this.requests.filter((r) => r.key === `${method} ${path}`).length;
  }

  close(): Promise<void> {
    for (const hold of this.holds) hold.released = true;
    return closeServer(this.server);
  }

  private async handle(upstream: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    const at = Date.now();
    this.requests.push({ at, key: `${req.method ?? 'GET'} ${path}` });
    // The body is read now, so a held request is complete at the proxy, as if in flight to the hub.
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const hold = this.holds.find((h) => !h.released && h.method === req.method && h.path === path);
    if (hold) {
      const gone = new Promise<'gone'>((resolve) => {
        res.once('close', () => {
          resolve('gone');
        });
      });
      const go = new Promise<'go'>((resolve) => {
        hold.waiting.push(() => {
          resolve('go');
        });
      });
      hold.arrivedAt?.({ at });
      if ((await Promise.race([gone, go])) === 'gone') return;
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    forward.end(Buffer.concat(chunks));
  }
}
