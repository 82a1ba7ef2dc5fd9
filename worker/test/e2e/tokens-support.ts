/**
 * Shared pieces of the token end-to-end tests (issue "Tokens stay valid for the whole life of a
 * job, without restarting rclone"): what rclone's token use and the worker's logs must show.
 */
import { expect } from 'vitest';
import type { LogRecord, WorkerProcess } from '../../../scripts/sandbox.js';
import type { GcsStandin } from '../../../scripts/standins/gcs/server.js';
import { fingerprint } from '../../src/log/fingerprint.js';
import { logsOf } from './support.js';

export { loggedAt } from '../../../scripts/sandbox.js';

/** How many local files are stored byte for byte under `prefix/` in a stand-in bucket. */
export function sameObjects(gcs: GcsStandin, bucket: string, prefix: string, files: Map<string, Buffer>): number {
  const objects = gcs.objects(bucket);
  let same = 0;
  for (const [rel, bytes] of files) if (objects.get(`${prefix}/${rel}`)?.equals(bytes)) same += 1;
  return same;
}

/**
 * The worker ran one rclone for its whole life: one "rclone ready", never an unexpected exit,
 * never a state-machine transition caused by rclone exiting, and still the same pid.
 */
export function expectOneRclone(worker: WorkerProcess, pid: number | undefined): void {
  expect(pid).toBeGreaterThan(0);
  expect(logsOf(worker, 'rclone ready')).toHaveLength(1);
  expect(logsOf(worker, 'rclone exited unexpectedly')).toEqual([]);
  expect(worker.find((r) => r.component === 'machine' && r.event === 'RCLONE.EXITED')).toEqual([]);
  expect(worker.rclonePid()).toBe(pid);
}

/** Access tokens (by fingerprint) that reached the storage API, with their request counts. */
export function accessTokensUsed(gcs: GcsStandin): Map<string, number> {
  return new Map(gcs.stats.requestsByAccessToken);
}

/** Fingerprints of access tokens that reached the API after `before` was taken. */
export function accessTokensUsedSince(gcs: GcsStandin, before: Map<string, number>): string[] {
  return [...gcs.stats.requestsByAccessToken].filter(([fp, count]) => count > (before.get(fp) ?? 0)).map(([fp]) => fp);
}

/** Token-endpoint requests made with this refresh token (the log holds fingerprints only). */
export function tokenRequestsWith(gcs: GcsStandin, refreshToken: string): GcsStandin['tokenLog'] {
  const fp = fingerprint(refreshToken);
  return gcs.tokenLog.filter((entry) => entry.refreshTokenFingerprint === fp);
}

/** The worker's "job finished" record of a job. */
export function finishedRecord(worker: WorkerProcess, jobId: number): LogRecord | undefined {
  return logsOf(worker, 'job finished').find((r) => r.jobId === jobId);
}


/**
 * Where the hub's refresh token stands in its grant at the provider: its generation, the grant's
 * latest, and whether it is alive. The hub must hold the latest, alive.
 */
export function hubRefreshTokenStanding(gcs: GcsStandin, refreshToken: string | null | undefined): { generation: number; latestGeneration: number; live: boolean } | undefined {
  const info = refreshToken ? gcs.oauth.refreshTokenInfo(refreshToken) : undefined;
  return info && { generation: info.generation, latestGeneration: info.latestGeneration, live: info.live };
}

/** The worker's token requests, oldest first (probes and rclone left out). */
export function workerTokenRequests(gcs: GcsStandin): GcsStandin['tokenLog'] {
  return gcs.tokenLog.filter((e) => e.userAgent === 'rclone-sync-worker').sort((a, b) => a.at - b.at);
}
