/**
 * What the benchmarks observe from outside the worker: the times in its JSON log, the memory and
 * CPU time of its processes (/proc), the number of rc calls its rclone served, and its
 * Prometheus metrics on the control endpoint.
 */
import { readFileSync } from 'node:fs';
import { procStat } from '../processes.js';
import type { LogRecord, WorkerProcess } from '../sandbox.js';

export { loggedAt } from '../sandbox.js';

/** Polls `probe` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}


/** Waits until the worker's machine has entered `Running`. */
export function untilRunning(worker: WorkerProcess, timeoutMs = 60_000): Promise<LogRecord> {
  return worker.waitForLog((r) => r.component === 'machine' && r.to === 'Running', timeoutMs);
}

export interface Memory {
  /** Resident set size now, MB. */
  rssMb: number;
  /** Peak resident set size of the process's life (VmHWM), MB. */
  peakMb: number;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** CPU time (user + system) the process has used so far, in seconds; NaN once it is gone. */
export function cpuSecondsOf(pid: number): number {
  return (procStat(pid)?.cpuMs ?? Number.NaN) / 1000;
}

/**
 * The worker's Prometheus metrics (`GET /metrics` on the control endpoint it logged; start it
 * with `WORKER_CONTROL_PORT=0`), as `name{labels}` → value. Empty when there is no endpoint.
 */
export async function scrapeMetrics(worker: WorkerProcess): Promise<Map<string, number>> {
  const port = worker.find((r) => r.msg === 'control endpoint listening on 127.0.0.1').at(-1)?.port;
  const samples = new Map<string, number>();
  if (typeof port !== 'number') return samples;
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Sum of a metric's samples by one label's value (e.g. rc calls by `path`). */
export function sumByLabel(samples: Map<string, number>, name: string, label: string): Map<string, number> {
  const sums = new Map<string, number>();
  const pattern = new RegExp(`${label}="([^"]*)"`);
  for (const [key, value] of samples) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    const labelValue = pattern.exec(key)?.[1] ?? '';
    sums.set(labelValue, (sums.get(labelValue) ?? 0) + value);
  }
  return sums;
}

/**
 * Counts the rc calls a worker's rclone served. rclone 1.60 gives every rc call, synchronous
 * ones included, the next id of one sequence and returns it in `X-Rclone-Jobid`
 * (research/rclone-lab.md); so the calls made by others between two of our marks are the
 * difference of the two ids minus one. The rc credentials are read from rclone's environment
 * (/proc/<pid>/environ, readable by its owner only) and never printed.
 */
export class RcCallCounter {
  private constructor(
    private readonly url: string,
    private readonly authorization: string,
  ) {}

  /** For the rclone the worker last logged as ready. */
  static forWorker(worker: WorkerProcess): RcCallCounter {
    const ready = worker.find((r) => r.msg === 'rclone ready').at(-1);
    const pid = ready?.rclonePid;
    const port = ready?.port;
    if (typeof pid !== 'number' || typeof port !== 'number') throw new Error(`worker ${worker.name} has no ready rclone`);
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const value = (name: string) => env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
    const user = value('RCLONE_RC_USER');
    const password = value('RCLONE_RC_PASS');
    if (user === undefined || password === undefined) throw new Error(`rclone ${pid} has no rc credentials in its environment`);
    return new RcCallCounter(`http://127.0.0.1:${port}/rc/noop`, `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
  }

  /** Makes one rc call and returns the job id rclone gave it. */
  async mark(): Promise<number> {
    const response = await fetch(this.url, { method: 'POST', headers: { authorization: this.authorization, 'content-type': 'application/json' }, body: '{}' });
    await response.arrayBuffer();
    const id = Number(response.headers.get('x-rclone-jobid'));
    if (!response.ok || !Number.isInteger(id)) throw new Error(`rc/noop answered ${response.status} without a job id`);
    return id;
  }

  /** rc calls made by others between two marks. */
  static between(first: number, second: number): number {
    return second - first - 1;
  }
}
