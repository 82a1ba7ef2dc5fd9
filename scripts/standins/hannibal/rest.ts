/**
 * Hannibal's REST routes as the worker uses them (research/anchor-backer.md §4.2–§4.3,
 * research/real-hannibal.md §7): login, current user, storages, job acquisition and job
 * reports, plus `GET /jobs/{id}` to read a job as the hub serialises it. Every `/api/hannibal/v1`
 * route needs a live bearer session, else 401 with an empty body. JSON is camelCase, enums are
 * integers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HubPaths, type AcquireParams, type JobStatusReport, type Storage } from '../../../shared/hannibal.js';
import { bearerToken, readBody, sendJson, sendText } from '../http-util.js';
import { identityUserJson, type HubIdentity, type HubUser } from './identity.js';
import { HubRequestError } from './storages.js';
import type { HubStore } from './store.js';

/** Request bodies are small JSON documents; anything larger is refused. */
const BODY_LIMIT_BYTES = 1024 * 1024;

interface Route {
  method: string;
  /** Matched against the lower-cased path, as ASP.NET routing ignores case. */
  pattern: RegExp;
  authenticated: boolean;
  handle: (call: RouteCall) => Promise<void> | void;
}

interface RouteCall {
  req: IncomingMessage;
  res: ServerResponse;
  /** Captures of the route pattern. */
  params: string[];
  /** The session's user; set on authenticated routes. */
  user: HubUser | undefined;
}

export type RestHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

export function createRestHandler(identity: HubIdentity, store: HubStore): RestHandler {
  const routes: Route[] = [
    {
      method: 'POST',
      pattern: exactPath(HubPaths.login),
      authenticated: false,
      handle: async ({ req, res }) => {
        const credentials = parseLogin(await readJson(req));
        if (credentials === undefined) throw new HubRequestError(400, 'login needs an e-mail and a password');
        const session = identity.login(credentials.email, credentials.password);
        if (session === undefined) sendText(res, 401, '');
        else sendJson(res, 200, session);
      },
    },
    {
      method: 'GET',
      pattern: idPath('/api/hannibal/v1/users'),
      authenticated: true,
      // Only `-1`, "the caller", is served; any other id is refused with 401.
      handle: ({ res, params, user }) => {
        if (Number(params[0]) === -1) sendJson(res, 200, identityUserJson(user!));
        else sendText(res, 401, '');
      },
    },
    {
      method: 'GET',
      pattern: exactPath(HubPaths.storages),
      authenticated: true,
      // All storages of all users, secrets included, as Hannibal answers.
      handle: ({ res }) => {
        sendJson(res, 200, store.storages.fetch());
      },
    },
    {
      method: 'PUT',
      pattern: idPath(HubPaths.storages),
      authenticated: true,
      // The saved entity comes back through the EF proxy, `lazyLoader` included (§7).
      handle: async ({ req, res, params }) => {
        const body = await readJson(req);
        if (!isStorageBody(body)) throw new HubRequestError(400, 'the body must be a storage');
        sendJson(res, 200, { lazyLoader: {}, ...store.storages.put(Number(params[0]), body) });
      },
    },
    {
      method: 'GET',
      pattern: idPath('/api/hannibal/v1/jobs'),
      authenticated: true,
      handle: ({ res, params }) => {
        const job = store.jobJson(Number(params[0]));
        if (job === undefined) sendText(res, 404, '');
        else sendJson(res, 200, job);
      },
    },
    {
      method: 'POST',
      pattern: exactPath(HubPaths.acquireNextJob),
      authenticated: true,
      handle: async ({ req, res, user }) => {
        const params = parseAcquireParams(await readJson(req));
        if (params === undefined) throw new HubRequestError(400, 'acquireNextJob needs an owner');
        const job = store.acquireNextJob(params, user!.id);
        if (job === undefined) sendText(res, 404, '');
        else sendJson(res, 200, job);
      },
    },
    {
      method: 'POST',
      pattern: exactPath(HubPaths.reportJob),
      authenticated: true,
      handle: async ({ req, res, user }) => {
        const report = parseReport(await readJson(req));
        if (report === undefined) throw new HubRequestError(400, 'reportJob needs a jobId and a state');
        sendJson(res, 200, store.reportJob(report, user!.id));
      },
    },
  ];

  return async (req, res, url) => {
    const path = url.pathname.toLowerCase();
    const matching = routes.filter((route) => route.pattern.test(path));
    const route = matching.find((candidate) => candidate.method === req.method);
    if (route === undefined) {
      if (matching.length === 0) sendText(res, 404, '');
      else sendText(res, 405, '', { allow: matching.map((candidate) => candidate.method).join(', ') });
      return;
    }
    const user = identity.userForToken(bearerToken(req));
    if (route.authenticated && user === undefined) {
      sendText(res, 401, '', { 'www-authenticate': 'Bearer' });
      return;
    }
    try {
      await route.handle({ req, res, params: route.pattern.exec(path)?.slice(1) ?? [], user });
    } catch (error) {
      if (!(error instanceof HubRequestError)) throw error;
      sendJson(res, error.status, { title: error.message, status: error.status });
    }
  };
}

function exactPath(path: string): RegExp {
  return new RegExp(`^${escapeRegExp(path.toLowerCase())}$`);
}

/** `{base}/{id}` with an integer id, captured. */
function idPath(base: string): RegExp {
  return new RegExp(`^${escapeRegExp(base.toLowerCase())}/(-?\\d+)$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req, BODY_LIMIT_BYTES)).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HubRequestError(400, 'the body is not JSON');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The .NET client sends PascalCase members; camelCase is accepted too. */
function parseLogin(body: unknown): { email: string; password: string } | undefined {
  if (!isObject(body)) return undefined;
  const email = body.Email ?? body.email;
  const password = body.Password ?? body.password;
  return typeof email === 'string' && typeof password === 'string' ? { email, password } : undefined;
}

function isStorageBody(body: unknown): body is Storage {
  return isObject(body) && typeof body.technology === 'string' && typeof body.uriSchema === 'string';
}

function parseAcquireParams(body: unknown): AcquireParams | undefined {
  if (!isObject(body) || typeof body.owner !== 'string') return undefined;
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  return { username: text(body.username), capabilities: text(body.capabilities), owner: body.owner, networks: text(body.networks) };
}

function parseReport(body: unknown): JobStatusReport | undefined {
  if (!isObject(body) || !Number.isInteger(body.jobId) || !Number.isInteger(body.state)) return undefined;
  return {
    jobId: body.jobId as number,
    owner: typeof body.owner === 'string' ? body.owner : '',
    state: body.state as JobStatusReport['state'],
    ...(typeof body.reason === 'string' ? { reason: body.reason } : {}),
  };
}
