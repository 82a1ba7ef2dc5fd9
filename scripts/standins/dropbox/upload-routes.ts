/**
 * Uploads, commits and downloads:
 *
 *   content  files/upload                          small file in one request (rclone's batch_mode=off)
 *   content  files/upload_session/start            opens a session, optionally with data
 *   content  files/upload_session/append_v2        data at the cursor; the last append closes (may be empty)
 *   content  files/upload_session/append           the same with the v1 argument (the cursor itself)
 *   content  files/upload_session/finish           last data + commit of one session
 *   api      files/upload_session/finish_batch_v2  commits closed sessions together (rclone's default)
 *   api      files/upload_session/finish_batch     the same as an async job …
 *   api      files/upload_session/finish_batch/check  … polled until complete
 *   content  files/download                        body + `Dropbox-API-Result`, single byte ranges
 *
 * Every commit goes through the {@link CommitGate}. Per file the stand-in counts the body bytes
 * that went into each commit and the sessions and commits it took.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendRanged } from '../byte-ranges.js';
import { sendJson } from '../http-util.js';
import type { BandwidthPacer } from '../gcs/throttle.js';
import type { CommitGate } from './commit-gate.js';
import { BadInputError, sendRateLimited, sendRouteError, tag, type Tagged } from './errors.js';
import { lowerPath, type Commit, type FileEntry, type Namespace } from './namespace.js';
import type { UploadSessions } from './sessions.js';
import { fileStats, type DropboxStandinStats } from './stats.js';
import { asciiJson, boolArg, commitArg, cursorArg, fileMetadata, objectArg, pathArg, stringArg, uintArg, type Args } from './wire.js';

/** Dropbox's limit for one request body (files/upload and each append). */
const MAX_BODY_BYTES = 150 * 1024 * 1024;
const MAX_BATCH_ENTRIES = 1000;

export interface UploadRoutesOptions {
  /** How long an async finish_batch job stays `in_progress` before it commits. Default 0. */
  asyncBatchDelayMs: number;
}

export type ContentHandler = (req: IncomingMessage, res: ServerResponse, args: Args) => Promise<void>;
export type RpcHandler = (res: ServerResponse, args: Args) => Promise<void> | void;

/** One entry of a batch, checked and ready to commit (or already failed). */
type BatchItem = { commit: Commit; sessionId: string } | { failure: Tagged };

export class UploadRoutes {
  readonly #jobs = new Map<string, Tagged | 'in_progress'>();

  constructor(
    private readonly namespace: Namespace,
    private readonly sessions: UploadSessions,
    private readonly gate: CommitGate,
    private readonly pacer: BandwidthPacer,
    private readonly stats: DropboxStandinStats,
    private readonly options: UploadRoutesOptions,
  ) {}

  readonly content: Readonly<Record<string, ContentHandler>> = {
    'files/upload': (req, res, args) => this.#upload(req, res, args),
    'files/upload_session/start': (req, res, args) => this.#start(req, res, args),
    'files/upload_session/append_v2': (req, res, args) => this.#append(req, res, cursorArg(args), boolArg(args, 'close', false)),
    'files/upload_session/append': (req, res, args) => this.#append(req, res, { sessionId: stringArg(args, 'session_id'), offset: uintArg(args, 'offset') }, false),
    'files/upload_session/finish': (req, res, args) => this.#finish(req, res, args),
    'files/download': (req, res, args) => this.#download(req, res, args),
  };

  readonly rpc: Readonly<Record<string, RpcHandler>> = {
    'files/upload_session/finish_batch_v2': (res, args) => this.#finishBatchV2(res, args),
    'files/upload_session/finish_batch': (res, args) => this.#finishBatchAsync(res, args),
    'files/upload_session/finish_batch/check': (res, args) => { this.#finishBatchCheck(res, args); },
  };

  async #readBody(req: IncomingMessage): Promise<Buffer> {
    const body = await this.pacer.readBody(req, MAX_BODY_BYTES);
    this.stats.bytesReceived += body.length;
    return body;
  }

  async #upload(req: IncomingMessage, res: ServerResponse, args: Args): Promise<void> {
    const commit = commitArg(args);
    const data = await this.#readBody(req);
    const outcome = await this.gate.run(() => this.#commit(commit, data, data.length, 0));
    if ('refused' in outcome) { this.#refused(res, outcome.refused, data.length); return; }
    const result = outcome.done;
    if ('failure' in result) {
      this.stats.discardedUploadBytes += data.length;
      sendRouteError(res, tag('path', { reason: result.failure, upload_session_id: '' })); return;
    }
    sendJson(res, 200, fileMetadata(result.file));
  }

  async #start(req: IncomingMessage, res: ServerResponse, args: Args): Promise<void> {
    const close = boolArg(args, 'close', false);
    const data = await this.#readBody(req);
    this.stats.sessionsStarted += 1;
    sendJson(res, 200, { session_id: this.sessions.start(data, close) });
  }

  async #append(req: IncomingMessage, res: ServerResponse, cursor: { sessionId: string; offset: number }, close: boolean): Promise<void> {
    const data = await this.#readBody(req);
    const outcome = this.sessions.append(cursor.sessionId, cursor.offset, data, close);
    if (!outcome.ok) { sendRouteError(res, outcome.error); return; }
    sendJson(res, 200, null);
  }

  async #finish(req: IncomingMessage, res: ServerResponse, args: Args): Promise<void> {
    const cursor = cursorArg(args);
    const commit = commitArg(objectArg(args, 'commit'));
    const data = await this.#readBody(req);
    const appended = this.sessions.append(cursor.sessionId, cursor.offset, data, true);
    if (!appended.ok) { sendRouteError(res, tag('lookup_failed', { lookup_failed: appended.error })); return; }
    const outcome = await this.gate.run(() => this.#commitSession({ commit, sessionId: cursor.sessionId }));
    if ('refused' in outcome) { this.#refused(res, outcome.refused, 0); return; }
    const result = outcome.done;
    if ('failure' in result) { sendRouteError(res, result.failure); return; }
    sendJson(res, 200, fileMetadata(result.file));
  }

  /** Checks every entry before the gate: a lookup failure fails that entry only. */
  #batchItems(args: Args): BatchItem[] {
    const entries = args.entries;
    if (!Array.isArray(entries)) throw new BadInputError("request body: missing required field 'entries'");
    if (entries.length > MAX_BATCH_ENTRIES) throw new BadInputError(`request body: entries: ${entries.length} entries, at most ${MAX_BATCH_ENTRIES}`);
    this.stats.batchSizes.push(entries.length);
    return entries.map((entry: unknown): BatchItem => {
      if (typeof entry !== 'object' || entry === null) throw new BadInputError('request body: entries: expected objects');
      const cursor = cursorArg(entry as Args);
      const commit = commitArg(objectArg(entry as Args, 'commit'));
      const lookup = this.sessions.check(cursor.sessionId, cursor.offset, true);
      return lookup ? { failure: tag('lookup_failed', { lookup_failed: lookup }) } : { commit, sessionId: cursor.sessionId };
    });
  }

  /** All entries of one batch under one hold of the write lock. */
  #commitBatch(items: BatchItem[]): Tagged[] {
    return items.map((item) => {
      const result = 'failure' in item ? item : this.#commitSession(item);
      return 'failure' in result ? tag('failure', { failure: result.failure }) : tag('success', fileMetadata(result.file));
    });
  }

  async #finishBatchV2(res: ServerResponse, args: Args): Promise<void> {
    const items = this.#batchItems(args);
    const outcome = await this.gate.run(() => this.#commitBatch(items));
    if ('refused' in outcome) { this.#refused(res, outcome.refused, 0); return; }
    sendJson(res, 200, { entries: outcome.done });
  }

  async #finishBatchAsync(res: ServerResponse, args: Args): Promise<void> {
    const items = this.#batchItems(args);
    const jobId = `dbjid:${randomBytes(24).toString('base64url')}`;
    this.#jobs.set(jobId, 'in_progress');
    sendJson(res, 200, tag('async_job_id', { async_job_id: jobId }));
    const commitLater = async (): Promise<void> => {
      if (this.options.asyncBatchDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.options.asyncBatchDelayMs));
      for (;;) {
        const outcome = await this.gate.run(() => this.#commitBatch(items));
        if ('done' in outcome) {
          this.#jobs.set(jobId, tag('complete', { entries: outcome.done }));
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, outcome.refused * 1000));
      }
    };
    void commitLater();
  }

  #finishBatchCheck(res: ServerResponse, args: Args): void {
    const job = this.#jobs.get(stringArg(args, 'async_job_id'));
    if (!job) { sendRouteError(res, tag('invalid_async_job_id')); return; }
    sendJson(res, 200, job === 'in_progress' ? tag('in_progress') : job);
  }

  /** Commits a checked session (still there: checked just before, under the same gate turn). */
  #commitSession(item: { commit: Commit; sessionId: string }): { file: FileEntry } | { failure: Tagged } {
    if (!this.sessions.has(item.sessionId)) return { failure: tag('lookup_failed', { lookup_failed: tag('not_found') }) };
    const { data, received } = this.sessions.take(item.sessionId);
    const result = this.#commit(item.commit, data, received, 1);
    if ('failure' in result) this.stats.discardedUploadBytes += received;
    return 'failure' in result ? { failure: tag('path', { path: result.failure }) } : result;
  }

  /** Writes the file and counts it; a conflict is a `WriteError`. */
  #commit(commit: Commit, data: Buffer, received: number, sessions: number): { file: FileEntry } | { failure: Tagged } {
    const outcome = this.namespace.commit(commit, data);
    if (!outcome.ok) return { failure: tag('conflict', { conflict: tag(outcome.conflict) }) };
    const stats = fileStats(this.stats, lowerPath(outcome.file.pathDisplay));
    stats.bytesReceived += received;
    stats.sessions += sessions;
    stats.commits += 1;
    return { file: outcome.file };
  }

  #refused(res: ServerResponse, retryAfterSeconds: number, discardedBytes: number): void {
    this.stats.rateLimited += 1;
    this.stats.discardedUploadBytes += discardedBytes;
    sendRateLimited(res, 'too_many_write_operations', retryAfterSeconds);
  }

  async #download(req: IncomingMessage, res: ServerResponse, args: Args): Promise<void> {
    req.resume();
    const path = pathArg(args, 'path');
    const entry = this.namespace.get(path);
    if (!entry) { sendRouteError(res, tag('path', { path: tag('not_found') })); return; }
    if (entry.kind !== 'file') { sendRouteError(res, tag('path', { path: tag('not_file') })); return; }
    await sendRanged(
      req,
      res,
      entry.data,
      { 'content-type': 'application/octet-stream', 'dropbox-api-result': asciiJson(fileMetadata(entry)), 'accept-ranges': 'bytes', etag: `W/"${entry.rev}"` },
      (out, body) => this.pacer.writeBody(out, body),
    );
  }
}

