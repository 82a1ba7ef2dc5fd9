/**
 * A running worker's control endpoint as an operator uses it: its port and token from the log
 * and the state dir, plain fetch calls, and the metrics page parsed.
 */
import { readFile } from 'node:fs/promises';
import type { WorkerProcess } from '../../../scripts/sandbox.js';
import { Exposition } from '../support/prometheus-text.js';

export interface Control {
  port: number;
  /** The bearer token the worker generated into its state dir. */
  token: string;
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** POST with the token, or with `authorization` as given (undefined = no header). */
  post(path: string, authorization?: string | null): Promise<{ status: number; body: Record<string, unknown> }>;
  metrics(): Promise<Exposition>;
}

/** Waits until the worker's control endpoint listens (started with `WORKER_CONTROL_PORT: '0'`). */
export async function controlOf(worker: WorkerProcess): Promise<Control> {
  const listening = await worker.waitForLog((r) => r.msg === 'control endpoint listening on 127.0.0.1');
  const locked = await worker.waitForLog((r) => typeof r.tokenFile === 'string' && r.component === 'control');
  const port = listening.port as number;
  const token = (await readFile(locked.tokenFile as string, 'utf8')).trim();
  const base = `http://127.0.0.1:${port}`;
  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> });
  return {
    port,
    token,
    get: async (path) => json(await fetch(`${base}${path}`)),
    post: async (path, authorization = `Bearer ${token}`) =>
      json(await fetch(`${base}${path}`, { method: 'POST', headers: authorization === null ? {} : { authorization } })),
    metrics: async () => {
      const res = await fetch(`${base}/metrics`);
      if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
      return new Exposition(await res.text());
    },
  };
}
