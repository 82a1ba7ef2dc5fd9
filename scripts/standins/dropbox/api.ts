/**
 * The request pipeline of both Dropbox API hosts. Every call is `POST /2/<route>`; RPC routes
 * live on `api.dropboxapi.com` and take a JSON body, content routes live on
 * `content.dropboxapi.com` and take their argument in the `Dropbox-API-Arg` header. Each request
 * is counted, delayed by the simulated round trip, authorised by the injected bearer check (the
 * shared provider OAuth module, which answers Dropbox's 401 `expired_access_token` /
 * `invalid_access_token` itself), then routed. A request
 * addressed to the other host is refused, as Dropbox does; a request without a Host of either
 * (a test calling 127.0.0.1 directly) goes wherever its route lives.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { delay, readBody, sendText } from '../http-util.js';
import { BadInputError, sendBadInput } from './errors.js';
import type { FileRoutes } from './file-routes.js';
import { increment, type DropboxStandinStats } from './stats.js';
import type { UploadRoutes } from './upload-routes.js';
import { contentArgs, parseArgs } from './wire.js';

export const API_HOST = 'api.dropboxapi.com';
export const CONTENT_HOST = 'content.dropboxapi.com';

/**
 * The bearer check of an API request: true when its access token is valid now; otherwise it has
 * answered the provider's 401 itself. `call` names the route in the 401 counters.
 */
export interface Authorizer {
  authorize(req: IncomingMessage, res: ServerResponse, call: string): boolean;
}

const MAX_RPC_BODY_BYTES = 1024 * 1024;

export interface DropboxApiOptions {
  /** Added before each API request is handled (simulated network round trip). */
  requestLatencyMs: number;
}

export class DropboxApi {
  constructor(
    private readonly files: FileRoutes,
    private readonly uploads: UploadRoutes,
    private readonly authorizer: Authorizer,
    private readonly stats: DropboxStandinStats,
    readonly options: DropboxApiOptions,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = url.pathname.startsWith('/2/') ? url.pathname.slice(3) : undefined;
    const rpc = route === undefined ? undefined : (this.files.routes[route] ?? this.uploads.rpc[route]);
    const content = route === undefined ? undefined : this.uploads.content[route];
    if (route === undefined || (!rpc && !content)) {
      req.resume();
      sendText(res, 404, `Unknown API function: "${route ?? url.pathname}"`);
      return;
    }
    const host = (req.headers.host ?? '').split(':')[0];
    const home = rpc ? API_HOST : CONTENT_HOST;
    if ((host === API_HOST || host === CONTENT_HOST) && host !== home) {
      req.resume();
      sendBadInput(res, route, `this function is served by ${home}, not ${host}`);
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      sendText(res, 405, 'Method not allowed; use POST', { allow: 'POST' });
      return;
    }
    this.stats.requests += 1;
    increment(this.stats.requestsByRoute, route);
    if (this.options.requestLatencyMs > 0) await delay(this.options.requestLatencyMs);
    if (!this.authorizer.authorize(req, res, route)) return;
    try {
      if (rpc) {
        const contentType = req.headers['content-type'] ?? '';
        const body = (await readBody(req, MAX_RPC_BODY_BYTES)).toString('utf8');
        if (body.trim() !== '' && body.trim() !== 'null' && !contentType.toLowerCase().startsWith('application/json')) {
          throw new BadInputError(`Bad HTTP "Content-Type" header: "${contentType}". Expecting one of "application/json".`);
        }
        await rpc(res, body.trim() === 'null' ? {} : parseArgs(body));
      } else if (content) {
        const { args, rawUtf8 } = contentArgs(req, url);
        if (rawUtf8) this.stats.rawUtf8ArgHeaders += 1;
        await content(req, res, args);
      }
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      req.resume();
      if (!res.headersSent) sendBadInput(res, route, err.message);
    }
  }
}
