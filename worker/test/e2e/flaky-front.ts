/**
 * A reverse proxy on 127.0.0.1 in front of a stand-in, for transient failures: it forwards every
 * request as it is, or answers each with a status (503, 502 …), or drops the connection, as the
 * test switches it. It counts what it answered itself.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FrontMode = 'pass' | { status: number } | 'drop';

export class FlakyFront {
  mode: FrontMode = 'pass';
  /** Requests answered by the front itself, by status ('drop' counts as 0). */
  readonly faults = new Map<number, number>();
  forwarded = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<FlakyFront> {
    const upstream = new URL(target);
    const holder: { front?: FlakyFront } = {};
    const server = createServer((req, res) => {
      holder.front?.handle(req, res, upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.front = new FlakyFront(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return holder.front;
  }

  faultCount(status: number): number {
    return this.faults.get(status) ?? 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse, upstream: URL): void {
    const mode = this.mode;
    if (mode !== 'pass') {
      const status = mode === 'drop' ? 0 : mode.status;
      this.faults.set(status, this.faultCount(status) + 1);
      req.resume();
      if (mode === 'drop') req.socket.destroy();
      else res.writeHead(mode.status, { 'content-type': 'text/plain' }).end(`${mode.status} from the flaky front`);
      return;
    }
    this.forwarded += 1;
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  }
}
