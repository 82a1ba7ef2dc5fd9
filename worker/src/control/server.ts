/**
 * The local control endpoint for operators, service managers and Prometheus, on 127.0.0.1 or a
 * unix socket, never on other interfaces (the .NET agent served this on all interfaces without
 * auth, anchor-backer.md §12.23):
 *
 *   GET  /healthz              liveness: 200 while the state machine runs (health.ts)
 *   GET  /readyz               readiness: 200 while the worker takes jobs
 *   GET  /status               state, owned jobs with their phase, hub connection
 *   GET  /metrics              Prometheus text format (metrics/)
 *   POST /jobs/<id>/abort      stop a job and report it Cancelled            (token)
 *   POST /stop | POST /start   stop / resume job processing (jobs handed back) (token)
 *
 * Reading is open to every local process; changing state needs `Authorization: Bearer <token>`
 * (token.ts), because any local user can reach a loopback port. Answers follow RFC 6750 §3.1:
 * 401 with a `WWW-Authenticate` challenge when credentials are missing or wrong (the token did
 * not authenticate anyone), 403 for requests refused whoever sends them: a browser's (an
 * `Origin` header) or one addressed to a name that is not loopback (DNS rebinding), so no web
 * page can read or drive the worker. 503 when the token file is unusable: nothing is let in.
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { MetricsPage } from '../metrics/registry.js';
import { liveness, readiness, type HealthFacts, type Probe } from './health.js';
import type { TokenVerdict } from './token.js';

export interface ControlTarget {
  health(): HealthFacts;
  status(): unknown;
  metrics(): Promise<MetricsPage>;
  abort(jobId: number): Promise<boolean>;
  stop(): void;
  start(): void;
}

/** TCP on 127.0.0.1 (`port` 0 = any free port), or a unix socket created with `mode`. */
export type ControlListen = { port: number } | { socket: string; mode: number };

export interface ControlServerOptions {
  listen: ControlListen;
  token: { verify(authorization: string | undefined): Promise<TokenVerdict> };
  logger: Logger;
}

type Reply = { status: number; json: unknown; headers?: Record<string, string> } | { status: number; text: string; contentType: string };

interface RouteContext {
  target: ControlTarget;
  /** The path's captures. */
  params: string[];
  log: Logger;
}

interface Route {
  method: 'GET' | 'POST';
  path: RegExp;
  /** `operate` calls change the worker's state and need the token. */
  access: 'read' | 'operate';
  handle(context: RouteContext): Reply | Promise<Reply>;
}

const ROUTES: readonly Route[] = [
  { method: 'GET', path: /^\/healthz$/, access: 'read', handle: ({ target }) => probeReply(liveness(target.health())) },
  { method: 'GET', path: /^\/readyz$/, access: 'read', handle: ({ target }) => probeReply(readiness(target.health())) },
  { method: 'GET', path: /^\/status$/, access: 'read', handle: ({ target }) => ({ status: 200, json: target.status() }) },
  {
    method: 'GET',
    path: /^\/metrics$/,
    access: 'read',
    handle: async ({ target }) => {
      const page = await target.metrics();
      return { status: 200, text: page.body, contentType: page.contentType };
    },
  },
  {
    method: 'POST',
    path: /^\/jobs\/(\d+)\/abort$/,
    access: 'operate',
    handle: async ({ target, params, log }) => {
      const jobId = Number(params[0]);
      const found = await target.abort(jobId);
      log.info({ jobId, found }, 'abort requested');
      return { status: found ? 202 : 404, json: { jobId, aborted: found } };
    },
  },
  ...(['stop', 'start'] as const).map(
    (action): Route => ({
      method: 'POST',
      path: new RegExp(`^/${action}$`),
      access: 'operate',
      handle: ({ target, log }) => {
        target[action]();
        log.info({ action }, 'operator request');
        return { status: 202, json: { accepted: action } };
      },
    }),
  ),
];

const REALM = 'Bearer realm="rclone-sync-worker"';
/** Names a loopback client uses; anything else reached us through a rebinding DNS name. */
const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/i;

export class ControlServer {
  private constructor(
    private readonly server: Server,
    /** The TCP port, undefined on a unix socket. */
    readonly port: number | undefined,
  ) {}

  static async start(target: ControlTarget, options: ControlServerOptions): Promise<ControlServer> {
    const log = options.logger.child({ component: 'control' });
    const tcp = 'port' in options.listen;
    const server = createServer((req, res) => {
      void (async () => {
        let reply: Reply;
        try {
          reply = await handle(req, tcp, target, options.token, log);
        } catch (err) {
          log.error({ err, path: req.url }, 'control request failed');
          reply = { status: 500, json: { error: 'internal error; see the worker log' } };
        }
        send(res, reply);
      })();
    });
    if ('port' in options.listen) {
      await listen(server, options.listen.port, '127.0.0.1');
      const port = (server.address() as AddressInfo).port;
      log.info({ port }, 'control endpoint listening on 127.0.0.1');
      return new ControlServer(server, port);
    }
    const { socket, mode } = options.listen;
    await removeStaleSocket(socket);
    // The umask makes the socket private from its creation; the chmod makes the mode exact.
    const umask = process.umask(0o777 & ~mode);
    try {
      await listen(server, socket);
    } finally {
      process.umask(umask);
    }
    await chmod(socket, mode);
    log.info({ socket, mode: `0${mode.toString(8)}` }, 'control endpoint listening on a unix socket');
    return new ControlServer(server, undefined);
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

async function handle(req: IncomingMessage, tcp: boolean, target: ControlTarget, token: ControlServerOptions['token'], log: Logger): Promise<Reply> {
  const refused = foreignRequest(req, tcp);
  if (refused) {
    log.warn({ method: req.method, reason: refused }, 'control request refused');
    return { status: 403, json: { error: `forbidden: ${refused}` } };
  }
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const onPath = ROUTES.map((route) => ({ route, match: route.path.exec(path) })).filter((r) => r.match !== null);
  if (onPath.length === 0) return { status: 404, json: { error: 'not found' } };
  const found = onPath.find((r) => r.route.method === req.method);
  if (!found?.match) {
    const allow = onPath.map((r) => r.route.method).join(', ');
    return { status: 405, json: { error: 'method not allowed' }, headers: { allow } };
  }
  const { route, match } = found;
  if (route.access === 'operate') {
    const verdict = await token.verify(req.headers.authorization);
    if (verdict !== 'ok') {
      if (verdict === 'invalid') log.warn({ method: req.method, path }, 'control request with a wrong token refused');
      return refusal(verdict);
    }
  }
  return route.handle({ target, params: match.slice(1), log });
}

/** Why a request is refused whatever its credentials, or undefined. */
function foreignRequest(req: IncomingMessage, tcp: boolean): string | undefined {
  if (req.headers.origin !== undefined) return 'requests from web pages (with an Origin header) are not accepted';
  const host = req.headers.host;
  if (tcp && host !== undefined && !LOOPBACK_HOST.test(host)) return 'the Host header is not a loopback address';
  return undefined;
}

function refusal(verdict: Exclude<TokenVerdict, 'ok'>): Reply {
  switch (verdict) {
    case 'missing':
      return { status: 401, json: { error: 'this call needs Authorization: Bearer <control token>' }, headers: { 'www-authenticate': REALM } };
    case 'invalid':
      return { status: 401, json: { error: 'wrong control token' }, headers: { 'www-authenticate': `${REALM}, error="invalid_token"` } };
    case 'unavailable':
      return { status: 503, json: { error: 'the control token file is unusable; see the worker log' } };
  }
}

function probeReply(probe: Probe): Reply {
  return { status: probe.ok ? 200 : 503, json: probe.body };
}

function send(res: ServerResponse, reply: Reply): void {
  if ('text' in reply) {
    res.writeHead(reply.status, { 'content-type': reply.contentType });
    res.end(reply.text);
    return;
  }
  res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
  res.end(JSON.stringify(reply.json));
}

function listen(server: Server, ...args: [port: number, host: string] | [path: string]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const ready = () => {
      server.off('error', reject);
      resolve();
    };
    if (args.length === 2) server.listen(args[0], args[1], ready);
    else server.listen(args[0], ready);
  });
}

/** A socket file left by a crashed worker is removed; a live one, or any other file, is not. */
async function removeStaleSocket(path: string): Promise<void> {
  const info = await lstat(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  });
  if (!info) return;
  if (!info.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      resolve(false);
    });
  });
  if (live) throw new Error(`${path} is in use by another process`);
  await unlink(path);
}
