/**
 * REST client for the Hannibal hub (anchor-backer.md §4.1–§4.5): camelCase JSON, integer enums,
 * JWT bearer from `POST /api/authb/v1/token`. On a 401 it logs in once and retries the request
 * once, as the .NET `AutoAuthHandler` does; a failed login is a `HubAuthError` (permanent).
 */
import { request, type Dispatcher } from 'undici';
import {
  HubPaths,
  type AcquireParams,
  type Job,
  type JobStatusReport,
  type LoginRequest,
  type LoginResponse,
  type ReportResult,
  type Storage,
} from '../../../shared/hannibal.js';
import { HubAuthError, HubError, errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';

export interface HubClientOptions {
  baseUrl: string;
  username: string;
  password: string;
  logger: Logger;
  timeoutMs?: number;
  dispatcher?: Dispatcher;
}

/** What the job runner needs from the hub. */
export interface JobsHub {
  acquireNextJob(params: AcquireParams): Promise<Job | null>;
  reportJob(report: JobStatusReport): Promise<ReportResult>;
}

/** What storage handling (remotes, tokens, re-authentication) needs from the hub. */
export interface StoragesHub {
  storages(): Promise<Storage[]>;
  saveStorage(storage: Storage): Promise<Storage>;
}

export interface OnlineHub {
  checkOnline(): Promise<void>;
}

interface HubResponse {
  status: number;
  text: string;
}

export class HubClient implements JobsHub, StoragesHub, OnlineHub {
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private jwt: string | undefined;
  private loginFlight: Promise<string> | undefined;

  constructor(private readonly options: HubClientOptions) {
    this.log = options.logger.child({ component: 'hub-rest' });
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async checkOnline(): Promise<void> {
    await this.currentUser();
  }

  /**
   * Our hub user (`GET /users/-1`). The answer is ASP.NET's whole IdentityUser (password hash
   * included, real-hannibal.md §10); only the id is kept: it tells our storages and jobs apart.
   */
  async currentUser(): Promise<{ id: string }> {
    const res = await this.authorized('GET', HubPaths.currentUser);
    expectOk(res, 'GET current user');
    if (res.text.trim() === '') throw new HubError('hub answered the current-user check with an empty body', res.status);
    const parsed = parseJson(res, 'GET current user') as { id?: unknown } | null;
    if (typeof parsed?.id !== 'string' || parsed.id === '') {
      throw new HubError("hub's current user has no id; without it this worker cannot tell its storages and jobs from other users'", res.status);
    }
    return { id: parsed.id };
  }

  async storages(): Promise<Storage[]> {
    const res = await this.authorized('GET', HubPaths.storages);
    expectOk(res, 'GET storages');
    const parsed = parseJson(res, 'GET storages');
    if (!Array.isArray(parsed)) throw new HubError('hub storages response is not an array', res.status, { permanent: true });
    return parsed as Storage[];
  }

  async saveStorage(storage: Storage): Promise<Storage> {
    const res = await this.authorized('PUT', HubPaths.storage(storage.id), storage);
    expectOk(res, `PUT storage ${storage.id}`);
    return parseJson(res, `PUT storage ${storage.id}`) as Storage;
  }

  /** `null` when the hub has no job for us (404). */
  async acquireNextJob(params: AcquireParams): Promise<Job | null> {
    const res = await this.authorized('POST', HubPaths.acquireNextJob, params);
    if (res.status === 404) return null;
    expectOk(res, 'acquireNextJob');
    return parseJson(res, 'acquireNextJob') as Job;
  }

  async reportJob(report: JobStatusReport): Promise<ReportResult> {
    const res = await this.authorized('POST', HubPaths.reportJob, report);
    expectOk(res, 'reportJob');
    return parseJson(res, 'reportJob') as ReportResult;
  }

  private async authorized(method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown): Promise<HubResponse> {
    const token = this.jwt ?? (await this.login());
    const first = await this.send(method, path, body, token);
    if (first.status !== 401) return first;
    this.log.debug({ path }, 'hub answered 401; logging in again');
    if (this.jwt === token) this.jwt = undefined;
    // A concurrent request may have logged in again meanwhile: reuse its token.
    return this.send(method, path, body, this.jwt ?? (await this.login()));
  }

  /** One login at a time; concurrent callers share it. */
  private login(): Promise<string> {
    this.loginFlight ??= (async () => {
      try {
        const body: LoginRequest = {
          Email: this.options.username,
          Password: this.options.password,
          TwoFactorCode: null,
          TwoFactorRecoveryCode: null,
        };
        const res = await this.send('POST', HubPaths.login, body, undefined);
        if (res.status === 401 || res.status === 403) {
          throw new HubAuthError(`hub rejected the login of ${this.options.username} (HTTP ${res.status})`);
        }
        expectOk(res, 'login');
        const parsed = parseJson(res, 'login') as Partial<LoginResponse>;
        if (typeof parsed.accessToken !== 'string' || parsed.accessToken === '') {
          throw new HubError('hub login answer carries no accessToken', res.status, { permanent: true });
        }
        this.jwt = parsed.accessToken;
        this.log.info({ user: this.options.username }, 'logged in to the hub');
        return parsed.accessToken;
      } finally {
        this.loginFlight = undefined;
      }
    })();
    return this.loginFlight;
  }

  private async send(method: string, path: string, body: unknown, token: string | undefined): Promise<HubResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      // Appended, not resolved: a path prefix of the base URL (a reverse proxy's) must stay.
      const res = await request(new URL(this.options.baseUrl.replace(/\/+$/, '') + path), {
        method: method as Dispatcher.HttpMethod,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
        ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
      });
      return { status: res.statusCode, text: await res.body.text() };
    } catch (err) {
      throw new HubError(`hub ${method} ${path} failed: ${errorMessage(err)}`, undefined, { cause: err });
    }
  }
}

/** 5xx, 408 and 429 are worth retrying; any other non-2xx is not. */
function expectOk(res: HubResponse, what: string): void {
  if (res.status >= 200 && res.status < 300) return;
  const transient = res.status >= 500 || res.status === 408 || res.status === 429;
  throw new HubError(`hub ${what} answered HTTP ${res.status}`, res.status, { permanent: !transient });
}

function parseJson(res: HubResponse, what: string): unknown {
  try {
    return JSON.parse(res.text) as unknown;
  } catch (err) {
    throw new HubError(`hub ${what} answered a body that is not JSON`, res.status, { cause: err });
  }
}
