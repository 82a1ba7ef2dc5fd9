/**
 * Client of rclone's remote-control API as spoken by `rclone rcd` 1.60.1
 * (research/rclone-lab.md Q1–Q3).
 *
 * Every call is `POST <base>/<path>` with a JSON body and HTTP Basic auth. rclone answers with
 * JSON labelled `text/plain`, so bodies are parsed as JSON whatever the content type. Failures
 * become {@link RcError}: with rclone's HTTP status and message when rclone answered with its
 * error envelope, with `status` undefined (transient) when there was no answer.
 */
import { request, type Dispatcher } from 'undici';
import type { RcConfigDump, RcCoreStats, RcErrorBody, RcJobList, RcJobStatus, RcTransferredEntry } from '../../../shared/rclone-rc.js';
import { RcError, errorMessage } from '../errors.js';
import { NO_RC_OBSERVER, type RcCallObserver } from '../metrics/recorders.js';
import { timed } from '../util/timed.js';

export interface RcClientOptions {
  /** e.g. `http://127.0.0.1:5572` */
  baseUrl: string;
  user: string;
  password: string;
  /** Per-call deadline for the whole exchange (request and body). Default 30 000 ms. */
  timeoutMs?: number;
  /** undici dispatcher to use instead of the global one (tests pass a `MockAgent`). */
  dispatcher?: Dispatcher;
  /** Told of every call: its path, duration and error (metrics). */
  observer?: RcCallObserver | undefined;
}

export interface RcCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface RcVersion {
  version: string;
  decomposed: number[];
}

export interface RcTransferOptions {
  /** rclone stats group (`_group`); the worker uses its own job id so stats stay per job. */
  group: string;
  /** Per-job `_config` (fs.ConfigInfo fields, e.g. `{ Transfers: 2 }`). */
  config?: Record<string, unknown>;
  /** Per-job `_filter` (filter.Options fields, e.g. `{ ExcludeRule: [...] }`). */
  filter?: Record<string, unknown>;
  createEmptySrcDirs?: boolean;
}

/** Answer of `config/create` / `config/update` when rclone's config state machine has a question. */
interface RcConfigAnswer {
  State?: string;
  Error?: string;
  Option?: { Name?: string } | null;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class RcClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly observer: RcCallObserver;
  /** The Basic auth header; a private field so it never shows up when the client is logged. */
  readonly #authorization: string;
  /** Async jobs started through this client and not yet seen finished by a `job/status` answer. */
  readonly #unfinishedJobs = new Set<number>();

  constructor(options: RcClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.dispatcher = options.dispatcher;
    this.observer = options.observer ?? NO_RC_OBSERVER;
    this.#authorization = `Basic ${Buffer.from(`${options.user}:${options.password}`).toString('base64')}`;
  }

  /** Calls rc method `path` (e.g. `core/stats`) with `params` as the JSON body. */
  call<T = Record<string, unknown>>(path: string, params: Record<string, unknown> = {}, options: RcCallOptions = {}): Promise<T> {
    return timed(
      () => this.exchange<T>(path, params, options),
      (durationSeconds, error) => {
        this.observer.called(path, durationSeconds, error);
      },
    );
  }

  private async exchange<T>(path: string, params: Record<string, unknown>, options: RcCallOptions): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    const timeout = new Error(`no answer within ${timeoutMs} ms`);
    const timer = setTimeout(() => {
      controller.abort(timeout);
    }, timeoutMs);
    const onCallerAbort = () => {
      controller.abort(options.signal?.reason);
    };
    if (options.signal?.aborted) onCallerAbort();
    else options.signal?.addEventListener('abort', onCallerAbort, { once: true });

    let statusCode: number;
    let text: string;
    try {
      const response = await request(`${this.baseUrl}/${path}`, {
        method: 'POST',
        headers: { authorization: this.#authorization, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(params),
        signal: controller.signal,
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
      statusCode = response.statusCode;
      text = await response.body.text();
    } catch (err) {
      const reason = !controller.signal.aborted ? errorMessage(err) : controller.signal.reason === timeout ? timeout.message : 'aborted';
      throw new RcError(path, `rc ${path}: ${reason}`, undefined, { cause: err });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
    }

    const body = parseJson(text);
    if (statusCode >= 400) {
      const envelope = isErrorEnvelope(body) ? body : undefined;
      const message = envelope?.error ?? (text.trim() || `HTTP ${statusCode}`);
      // An expired job will never be seen finished.
      if (path === 'job/status' && message === 'job not found' && typeof params.jobid === 'number') this.#unfinishedJobs.delete(params.jobid);
      throw new RcError(path, message, envelope?.status ?? statusCode);
    }
    if (typeof body !== 'object' || body === null) {
      throw new RcError(path, `rc ${path}: answer is not a JSON object`, statusCode);
    }
    this.trackJobs(path, params, body as Record<string, unknown>);
    return body as T;
  }

  /**
   * Ids of async jobs started through this client whose end it has not seen yet. rclone 1.60.1's
   * `job/list` does not say which jobs run (no `runningIds`) and lists every call, synchronous
   * ones included, until it expires; this is the short list worth asking about on shutdown.
   */
  unfinishedJobIds(): number[] {
    return [...this.#unfinishedJobs];
  }

  private trackJobs(path: string, params: Record<string, unknown>, body: Record<string, unknown>): void {
    if (params._async === true && typeof body.jobid === 'number') this.#unfinishedJobs.add(body.jobid);
    if (path === 'job/status' && body.finished === true && typeof body.id === 'number') this.#unfinishedJobs.delete(body.id);
  }

  async noop(): Promise<void> {
    await this.call('rc/noop');
  }

  version(): Promise<RcVersion> {
    return this.call<RcVersion>('core/version');
  }

  /** Ids of jobs rclone still remembers. rclone 1.60.1 sends `jobids` only, no `runningIds`. */
  jobList(): Promise<RcJobList> {
    return this.call<RcJobList>('job/list');
  }

  jobStatus(jobid: number): Promise<RcJobStatus> {
    return this.call<RcJobStatus>('job/status', { jobid });
  }

  /** Cancels a job; rclone removes partially written files and the job ends with "context canceled". */
  async jobStop(jobid: number): Promise<void> {
    await this.call('job/stop', { jobid });
  }

  /**
   * Transfer statistics of one group, or the sum over all groups without `group`. Asking for an
   * unknown group creates it. In 1.60.1 `errors`/`lastError` are never counted per group.
   */
  coreStats(group?: string): Promise<RcCoreStats> {
    return this.call<RcCoreStats>('core/stats', group === undefined ? {} : { group });
  }

  /** Drops a stats group. Never use `core/stats-reset` without a group: it breaks error counting in 1.60. */
  async coreStatsDelete(group: string): Promise<void> {
    await this.call('core/stats-delete', { group });
  }

  /** The last ~100 completed transfers (of one group), with per-file `error` strings. */
  async coreTransferred(group?: string): Promise<RcTransferredEntry[]> {
    const answer = await this.call<{ transferred?: RcTransferredEntry[] }>('core/transferred', group === undefined ? {} : { group });
    return answer.transferred ?? [];
  }

  /** Asks rclone to exit (it does so ~1.5 s later). Running jobs are not cancelled cleanly. */
  async coreQuit(exitCode?: number): Promise<void> {
    await this.call('core/quit', exitCode === undefined ? {} : { exitCode });
  }

  configDump(): Promise<RcConfigDump> {
    return this.call<RcConfigDump>('config/dump');
  }

  /**
   * Creates remote `name`. Parameters are stored as given: password-type values must already be
   * obscured (`opt.noObscure`). Always non-interactive; for OAuth remotes (`oauth: true`) also
   * `config_refresh_token: "false"`, without which rclone starts a browser flow and blocks.
   * A question from rclone's config state machine (non-empty `State`) is an error.
   */
  async configCreate(name: string, type: string, parameters: Record<string, string>, options: { oauth?: boolean } = {}): Promise<void> {
    const answer = await this.call<RcConfigAnswer>('config/create', {
      name,
      type,
      parameters: configParameters(parameters, options.oauth),
      opt: { nonInteractive: true, noObscure: true },
    });
    assertConfigDone('config/create', name, answer);
  }

  /** Merges `parameters` into remote `name`; same rules as {@link configCreate}. Written to disk at once. */
  async configUpdate(name: string, parameters: Record<string, string>, options: { oauth?: boolean } = {}): Promise<void> {
    const answer = await this.call<RcConfigAnswer>('config/update', {
      name,
      parameters: configParameters(parameters, options.oauth),
      opt: { nonInteractive: true, noObscure: true },
    });
    assertConfigDone('config/update', name, answer);
  }

  /** Deletes remote `name`; succeeds when it does not exist. */
  async configDelete(name: string): Promise<void> {
    await this.call('config/delete', { name });
  }

  /** Starts an async `sync/copy` or `sync/sync` in stats group `options.group`; returns rclone's job id. */
  async startTransfer(kind: 'copy' | 'sync', srcFs: string, dstFs: string, options: RcTransferOptions): Promise<number> {
    const params: Record<string, unknown> = { srcFs, dstFs, _async: true, _group: options.group };
    if (options.config !== undefined) params._config = options.config;
    if (options.filter !== undefined) params._filter = options.filter;
    if (options.createEmptySrcDirs !== undefined) params.createEmptySrcDirs = options.createEmptySrcDirs;
    return jobIdOf(`sync/${kind}`, await this.call(`sync/${kind}`, params));
  }

  /** Starts an async `rc/noop`: the hub's "Nop" operation, a job that succeeds at once. */
  async startNoop(options: { group: string }): Promise<number> {
    return jobIdOf('rc/noop', await this.call('rc/noop', { _async: true, _group: options.group }));
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isErrorEnvelope(body: unknown): body is RcErrorBody {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
}

function configParameters(parameters: Record<string, string>, oauth: boolean | undefined): Record<string, string> {
  return oauth ? { ...parameters, config_refresh_token: 'false' } : parameters;
}

function assertConfigDone(path: string, name: string, answer: RcConfigAnswer): void {
  if (answer.State) {
    const question = answer.Option?.Name ? ` "${answer.Option.Name}"` : '';
    const detail = answer.Error ? `: ${answer.Error}` : '';
    throw new RcError(path, `${path} "${name}": rclone asked the question${question} (state "${answer.State}")${detail}`, 200, {
      permanent: true,
    });
  }
}

function jobIdOf(path: string, answer: Record<string, unknown>): number {
  const { jobid } = answer;
  if (typeof jobid !== 'number') throw new RcError(path, `rc ${path}: answer has no job id`, 200);
  return jobid;
}
