/**
 * Upload sessions (`upload_session/start`, `append_v2`, then a finish): bytes accumulate at the
 * cursor offset, a session closes with its last append, and a commit consumes it. Sessions that
 * were never committed stay visible (`uncommitted()`): bytes a client sent for nothing.
 */
import { randomBytes } from 'node:crypto';
import { tag, type Tagged } from './errors.js';

interface Session {
  readonly id: string;
  readonly chunks: Buffer[];
  offset: number;
  /** Body bytes received for this session, rejected appends included. */
  received: number;
  closed: boolean;
}

export type AppendOutcome = { ok: true } | { ok: false; error: Tagged };

export class UploadSessions {
  readonly #sessions = new Map<string, Session>();

  start(data: Buffer, close: boolean): string {
    const id = `pid_upload_session:${randomBytes(18).toString('base64url')}`;
    this.#sessions.set(id, { id, chunks: [data], offset: data.length, received: data.length, closed: close });
    return id;
  }

  /** Appends at `offset`; `close` marks the last append. Errors are `UploadSessionAppendError` tags. */
  append(id: string, offset: number, data: Buffer, close: boolean): AppendOutcome {
    const session = this.#sessions.get(id);
    if (!session) return { ok: false, error: tag('not_found') };
    session.received += data.length;
    if (offset !== session.offset) return { ok: false, error: tag('incorrect_offset', { correct_offset: session.offset }) };
    if (session.closed && data.length > 0) return { ok: false, error: tag('closed') };
    session.chunks.push(data);
    session.offset += data.length;
    if (close) session.closed = true;
    return { ok: true };
  }

  has(id: string): boolean {
    return this.#sessions.has(id);
  }

  /**
   * Checks that a finish may commit the session at `offset` (`requireClosed` for batch
   * finishes); the error is a `lookup_failed` reason (`UploadSessionLookupError`).
   */
  check(id: string, offset: number, requireClosed: boolean): Tagged | undefined {
    const session = this.#sessions.get(id);
    if (!session) return tag('not_found');
    if (offset !== session.offset) return tag('incorrect_offset', { correct_offset: session.offset });
    if (requireClosed && !session.closed) return tag('not_closed');
    return undefined;
  }

  /**
   * The session's content and the body bytes received for it; the session is gone afterwards
   * (a committed session cannot be reused).
   */
  take(id: string): { data: Buffer; received: number } {
    const session = this.#sessions.get(id);
    if (!session) throw new Error(`no upload session ${id}`);
    this.#sessions.delete(id);
    return { data: Buffer.concat(session.chunks), received: session.received };
  }

  /** Sessions started and never committed, with the bytes they hold. */
  uncommitted(): { id: string; bytes: number; received: number; closed: boolean }[] {
    return [...this.#sessions.values()].map((s) => ({ id: s.id, bytes: s.offset, received: s.received, closed: s.closed }));
  }
}
