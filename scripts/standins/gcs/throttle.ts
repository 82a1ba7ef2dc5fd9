/**
 * Bandwidth limit for object bodies. One pacer is shared by every transfer of a server, so it
 * behaves like a single network link: N bytes take at least N / bytesPerSecond seconds in
 * total, whatever the concurrency.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { delay, readBody } from '../http-util.js';

/** Counters the pacer feeds. */
export interface ThrottleStats {
  /** Total time transfers were held back by the limit, in milliseconds. */
  throttleDelayMs: number;
}

/** Slice size for paced writes: small enough that a low limit still flows smoothly. */
const WRITE_SLICE_BYTES = 16 * 1024;

export class BandwidthPacer {
  #bytesPerSecond: number | null = null;
  /** When the link is next free, in epoch milliseconds. */
  #nextFreeAt = 0;

  constructor(
    bytesPerSecond: number | null,
    private readonly stats: ThrottleStats,
  ) {
    this.setBytesPerSecond(bytesPerSecond);
  }

  get bytesPerSecond(): number | null {
    return this.#bytesPerSecond;
  }

  setBytesPerSecond(bytesPerSecond: number | null): void {
    if (bytesPerSecond !== null && !(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0)) {
      throw new RangeError(`bytesPerSecond must be a positive number or null, got ${bytesPerSecond}`);
    }
    this.#bytesPerSecond = bytesPerSecond;
  }

  /** Waits until `bytes` more bytes fit through the link. */
  async consume(bytes: number): Promise<void> {
    const bytesPerSecond = this.#bytesPerSecond;
    if (bytesPerSecond === null || bytes === 0) return;
    const now = Date.now();
    this.#nextFreeAt = Math.max(now, this.#nextFreeAt) + (bytes / bytesPerSecond) * 1000;
    const wait = this.#nextFreeAt - now;
    this.stats.throttleDelayMs += wait;
    await delay(wait);
  }

  /** Reads a request body at the link's pace (the socket is read no faster than the limit). */
  readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
    return readBody(req, limit, (bytes) => this.consume(bytes));
  }

  /** Writes `data` as the response body at the link's pace; stops early if the client goes away. */
  async writeBody(res: ServerResponse, data: Buffer): Promise<void> {
    if (this.#bytesPerSecond === null) {
      res.end(data);
      return;
    }
    for (let at = 0; at < data.length && !res.destroyed; at += WRITE_SLICE_BYTES) {
      const slice = data.subarray(at, at + WRITE_SLICE_BYTES);
      await this.consume(slice.length);
      if (!res.write(slice)) await drainedOrClosed(res);
    }
    res.end();
  }
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const settle = () => {
      res.off('drain', settle);
      res.off('close', settle);
      resolve();
    };
    res.once('drain', settle);
    res.once('close', settle);
  });
}
