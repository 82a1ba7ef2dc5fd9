/**
 * What the re-authentication end-to-end tests observe beyond support.ts: the coordinator's
 * decisions, job runs and rclone restarts from the worker's logs, and which OAuth grant rclone's
 * API requests used, from the GCS stand-in's counters.
 */
import { afterEach } from 'vitest';
import { fingerprint } from '../../src/log/fingerprint.js';
import type { Sandbox, WorkerProcess, LogRecord } from '../../../scripts/sandbox.js';
import type { GcsStandinStats } from '../../../scripts/standins/gcs/server.js';

/** The coordinator's decision records (`re-authentication: <decision> (<reason>)`) for one storage. */
export function decisionsFor(worker: WorkerProcess, uriSchema: string): LogRecord[] {
  return worker.find((r) => r.component === 'reauth' && r.storage === uriSchema && typeof r.decision === 'string');
}

/** Just the decision names, in order. */
export function decisionNames(worker: WorkerProcess, uriSchema: string): string[] {
  return decisionsFor(worker, uriSchema).map((r) => String(r.decision));
}

/** The runs of a job the worker started in rclone ('job started in rclone' lines). */
export function runsOf(worker: WorkerProcess, jobId: number): LogRecord[] {
  return worker.find((r) => r.msg === 'job started in rclone' && r.jobId === jobId);
}

/** How often the worker started rclone ('rclone ready' lines): 1 means no restart. */
export function rcloneStarts(worker: WorkerProcess): number {
  return worker.find((r) => r.msg === 'rclone ready').length;
}

export { loggedAt } from '../../../scripts/sandbox.js';

/** True while a process with this pid exists. */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Files rclone reported copied ("Copied (new)" / "Copied (replaced …)") in the worker's log. */
export function copiedObjects(worker: WorkerProcess): string[] {
  return worker.find((r) => r.component === 'rclone' && r.msg.startsWith('Copied') && typeof r.object === 'string').map((r) => String(r.object));
}

/** rclone's own ERROR (or worse) lines relayed into the worker's log. */
export function rcloneErrors(worker: WorkerProcess): LogRecord[] {
  return worker.find((r) => r.component === 'rclone' && r.level >= 50);
}

/** Fingerprints of every access token the GCS stand-in has issued so far. */
export function issuedAccessTokenFingerprints(sandbox: Sandbox): Set<string> {
  return new Set(sandbox.gcs.issuedSecrets().filter((s) => s.startsWith('ya29.')).map((s) => fingerprint(s)));
}

/** Token endpoint requests made with a refresh token, at or after `since` (epoch ms). */
export function refreshesWith(sandbox: Sandbox, refreshToken: string, since = 0): { at: number; status: number }[] {
  const fp = fingerprint(refreshToken);
  return sandbox.gcs.tokenLog.filter((e) => e.refreshTokenFingerprint === fp && e.at >= since).map((e) => ({ at: e.at, status: e.status }));
}

/** A TokenUseTimeline per test, stopped after the test whatever its outcome. */
export function timelinePerTest(): (stats: GcsStandinStats) => TokenUseTimeline {
  let current: TokenUseTimeline | undefined;
  afterEach(() => {
    current?.stop();
    current = undefined;
  });
  return (stats) => {
    current = new TokenUseTimeline(stats);
    return current;
  };
}

/**
 * When rclone used which access token: samples the stand-in's per-token request counters and
 * records, per sample, the fingerprints whose count grew. The counters have no time of their
 * own; this gives them one, to the sampling interval.
 */
export class TokenUseTimeline {
  /** One entry per sample in which some token was used: when, and which tokens. */
  readonly samples: { at: number; tokens: Set<string> }[] = [];
  private readonly seen = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly stats: GcsStandinStats,
    intervalMs = 200,
  ) {
    this.sample();
    this.timer = setInterval(() => {
      this.sample();
    }, intervalMs);
  }

  /** Takes a last sample and stops. */
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** Sample times at which any token matching `predicate` was used. */
  usesWhere(predicate: (tokenFingerprint: string) => boolean): number[] {
    return this.samples.filter((s) => [...s.tokens].some(predicate)).map((s) => s.at);
  }

  private sample(): void {
    const grown = new Set<string>();
    for (const [fp, count] of this.stats.requestsByAccessToken) {
      if (count > (this.seen.get(fp) ?? 0)) grown.add(fp);
      this.seen.set(fp, count);
    }
    if (grown.size > 0) this.samples.push({ at: Date.now(), tokens: grown });
  }
}
