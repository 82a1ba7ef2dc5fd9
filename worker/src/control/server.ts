/**
 * A small local control endpoint for operators and service managers, bound to 127.0.0.1 only
 * (the .NET agent served this on all interfaces without auth, anchor-backer.md §12.23):
 *
 *   GET  /healthz              liveness + the machine state (200, or 503 while not Running)
 *   GET  /status               state, owned jobs with their phase, hub connection
 *   POST /jobs/<id>/abort      stop a job and report it Cancelled
 *   POST /stop | POST /start   stop / resume job processing (jobs are handed back to the hub)
 */
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';

export interface ControlTarget {
  state(): string;
  hubConnected(): boolean;
  jobs(): unknown;
  abort(jobId: number): Promise<boolean>;
  stop(): void;
  start(): void;
}

export class ControlServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: ControlTarget, port: number, logger: Logger): Promise<ControlServer> {
    const log = logger.child({ component: 'control' });
    const server = createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const url = req.url ?? '/';
      const abort = /^\/jobs\/(\d+)\/abort$/.exec(url);
      if (req.method === 'GET' && url === '/healthz') {
        const state = target.state();
        send(state === 'Running' ? 200 : 503, { status: state === 'Running' ? 'ok' : 'not-running', state });
      } else if (req.method === 'GET' && url === '/status') {
        send(200, { state: target.state(), hubConnected: target.hubConnected(), jobs: target.jobs() });
      } else if (req.method === 'POST' && abort?.[1]) {
        const jobId = Number(abort[1]);
        void target.abort(jobId).then((found) => {
          log.info({ jobId, found }, 'abort requested');
          send(found ? 202 : 404, { jobId, aborted: found });
        });
      } else if (req.method === 'POST' && (url === '/stop' || url === '/start')) {
        if (url === '/stop') target.stop();
        else target.start();
        log.info({ action: url.slice(1) }, 'operator request');
        send(202, { accepted: url.slice(1) });
      } else {
        send(404, { error: 'not found' });
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        resolve();
      });
    });
    const bound = (server.address() as AddressInfo).port;
    log.info({ port: bound }, 'control endpoint listening on 127.0.0.1');
    return new ControlServer(server, bound);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
      this.server.closeAllConnections();
    });
  }
}
