/**
 * Shared pieces of the end-to-end tests: real rclone, the stand-ins, worker processes.
 */
import { readFileSync } from 'node:fs';
import { afterEach, expect } from 'vitest';
import { Sandbox, type LogRecord, type SandboxOptions, type WorkerProcess } from '../../../scripts/sandbox.js';

/** Job states on the wire (shared/hannibal.ts), for readable assertions. */
export { JobState } from '../../../shared/hannibal.js';

/**
 * One sandbox per test, closed after the test whatever its outcome, so a failing test leaves no
 * stand-in, worker or rclone behind. Call it at module level; call what it returns in a test.
 */
export function sandboxPerTest(): (options?: SandboxOptions) => Promise<Sandbox> {
  let current: Sandbox | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return async (options) => {
    current = await Sandbox.start(options);
    return current;
  };
}

/** The rc password of a running rclone, read from its environment (it is never in argv). */
export function rcPasswordOf(pid: number | undefined): string | undefined {
  if (pid === undefined) return undefined;
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return env.find((e) => e.startsWith('RCLONE_RC_PASS='))?.slice('RCLONE_RC_PASS='.length);
  } catch {
    return undefined;
  }
}

/**
 * Fails when any secret the test world handed out (hub password, every access and refresh
 * token ever issued, client secrets, storage passwords, rclone's rc password) appears in any
 * line a worker printed.
 */
export function expectNoSecretsLeaked(sandbox: Sandbox, workers: WorkerProcess[], extra: string[] = []): void {
  const secrets = [...sandbox.secrets(), ...extra].filter((s) => s.length >= 8);
  expect(secrets.length).toBeGreaterThan(0);
  const hits: string[] = [];
  for (const worker of workers) {
    for (const line of worker.rawLines) {
      for (const secret of secrets) {
        if (line.includes(secret)) hits.push(`${worker.name}: secret ${secret.slice(0, 4)}… in: ${line.slice(0, 160)}`);
      }
    }
  }
  expect(hits).toEqual([]);
}

/** Terminal reports (anything but Executing heartbeats) the hub received for a job. */
export function terminalReports(sandbox: Sandbox, jobId: number): { state: number; reason?: string; owner: string }[] {
  return sandbox.hub.reports.filter((r) => r.jobId === jobId && r.state !== 2);
}

/** Waits until the hub holds a terminal report for the job; returns the reports. */
export async function waitForTerminalReport(sandbox: Sandbox, jobId: number, timeoutMs: number): Promise<{ state: number; reason?: string; owner: string }[]> {
  await expect.poll(() => terminalReports(sandbox, jobId).length, { timeout: timeoutMs, interval: 250 }).toBeGreaterThan(0);
  return terminalReports(sandbox, jobId);
}

export function logsOf(worker: WorkerProcess, msg: string): LogRecord[] {
  return worker.find((r) => r.msg === msg);
}
