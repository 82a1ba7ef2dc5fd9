/**
 * One run of the strategies benchmark: a fresh world (stand-in hub, GCS stand-in with 20 s
 * access tokens and rotating refresh tokens, one local → GCS rule), one executor — this worker
 * as users run it (`push`) or a baseline driver (`restart`, `rclone-refresh`) — and one long job,
 * optionally with a re-authentication in the middle. Everything is measured by the stand-ins'
 * own counters, so the three executors are judged by the same ruler.
 */
import { join } from 'node:path';
import { JobState, jobStateName } from '../../shared/hannibal.js';
import { HUB_USER, makeTree, Sandbox, type WorkerProcess } from '../sandbox.js';
import type { BaselineDriver, DriverOptions, DriverStats } from './baseline/driver.js';
import { startRcloneRefreshDriver } from './baseline/rclone-refresh.js';
import { startRestartDriver } from './baseline/restart.js';
import { pause, untilRunning, waitFor } from './probes.js';

export type Strategy = 'push' | 'restart' | 'rclone-refresh';
export const STRATEGIES: readonly Strategy[] = ['push', 'restart', 'rclone-refresh'];

export interface Scenario {
  /** Label in the figures. */
  name: string;
  /** How long the paced upload takes when nothing goes wrong. */
  jobSeconds: number;
  /** Revoke the grant (refresh and access tokens) once this share of the data arrived; then save a new grant at the hub. */
  reauth?: { atShare: number; newGrantAfterMs: number };
}

export const TOKEN_LIFETIME_SECONDS = 20;
export const FILES = 60;
export const FILE_BYTES = 100_000;
const BUCKET = 'bench';
const PREFIX = 'photos';
/** Terminal for the hub: a reported DoneFailure puts the job back to Ready, so it is not an end. */
const ENDED: ReadonlySet<number> = new Set([JobState.DoneSuccess, JobState.DoneWithErrors, JobState.Cancelled, JobState.DoneFailure]);

export interface RunResult {
  /** The job's state at the hub at the end; `no end` when the cap ran out first. */
  outcome: string;
  succeeded: boolean;
  objectsStored: number;
  wallSeconds: number;
  /** (bytes of the stored objects + bytes sent again) ÷ data size. */
  uploadedRatio: number;
  resentBytes: number;
  objectsResent: number;
  /** Acquisitions of the job: 1 = it ran once. */
  jobRuns: number;
  rcloneRestarts: number;
  unauthorized: number;
  tokenRequestsByRclone: number;
  tokenRequestsByWorker: number;
  longestStallSeconds: number;
  hubHasCurrentRefreshToken: boolean;
  /** Generation of the hub's refresh token and its grant's latest. */
  hubGeneration: number;
  latestGeneration: number;
  /** For the method text: when the grant was revoked and the new one saved (s after the job was created). */
  reauthAt?: { revokedS: number; savedS: number };
  restartReasons: string[];
}

export async function runStrategy(strategy: Strategy, scenario: Scenario): Promise<RunResult> {
  const bytesPerSecond = Math.floor((FILES * FILE_BYTES) / scenario.jobSeconds);
  const sandbox = await Sandbox.start({ gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, bytesPerSecond, rotation: 'rotate' } });
  let driver: BaselineDriver | undefined;
  let driverStats: DriverStats | undefined;
  try {
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs } = sandbox.addGcsStorage('cloud-gcs', { bucket: BUCKET });
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, FILES, FILE_BYTES);
    const rule = sandbox.addRule('to gcs', { storage: laptop, path: source }, { storage: gcs, path: `${BUCKET}/${PREFIX}` });

    let worker: WorkerProcess | undefined;
    if (strategy === 'push') {
      worker = sandbox.spawnWorker('push', { TOKEN_REFRESH_THRESHOLD_SECONDS: '10' });
      await untilRunning(worker);
    } else {
      driver = await startDriver(strategy, sandbox);
      driverStats = driver.stats;
    }

    const createdAt = Date.now();
    const job = sandbox.hub.createJob(rule.id);
    let over = false;
    const reauth = scenario.reauth ? reauthenticate(sandbox, gcs.id, scenario.reauth, createdAt, () => over) : undefined;
    const capMs = scenario.jobSeconds * 3_000 + 60_000;
    const ended = await waitFor(`the end of job ${job.id}`, () => endOf(sandbox, job.id), capMs, 200).catch(() => undefined);
    over = true;
    const reauthAt = reauth ? await reauth : undefined;
    const endedAt = ended?.at ?? Date.now();

    await worker?.stop();
    await driver?.stop();
    driver = undefined;

    const stats = sandbox.gcs.stats;
    let stored = 0;
    let storedBytes = 0;
    let resentBytes = 0;
    let objectsResent = 0;
    for (const [rel, bytes] of files) {
      const key = `${BUCKET}/${PREFIX}/${rel}`;
      if (sandbox.gcs.object(BUCKET, `${PREFIX}/${rel}`)?.equals(bytes)) {
        stored += 1;
        storedBytes += bytes.length;
      }
      const again = (stats.uploadBodyBytes.get(key) ?? 0) - (stats.storedUploadBodyBytes.get(key) ?? 0);
      resentBytes += again;
      if (again > 0) objectsResent += 1;
    }
    const dataBytes = FILES * FILE_BYTES;
    const hubRefreshToken = sandbox.hub.getStorage(gcs.id)?.refreshToken ?? '';
    const info = sandbox.gcs.oauth.refreshTokenInfo(hubRefreshToken);
    const rcloneRestarts = worker ? Math.max(0, worker.find((r) => r.msg === 'rclone ready').length - 1) : (driverStats?.restarts ?? 0);
    return {
      outcome: ended ? jobStateName(ended.state) : 'no end',
      succeeded: ended?.state === JobState.DoneSuccess,
      objectsStored: stored,
      wallSeconds: (endedAt - createdAt) / 1000,
      uploadedRatio: (storedBytes + resentBytes) / dataBytes,
      resentBytes,
      objectsResent,
      jobRuns: sandbox.hub.jobHistory(job.id).acquiredBy.length,
      rcloneRestarts,
      unauthorized: stats.unauthorized,
      tokenRequestsByRclone: stats.tokenRequestsByRclone,
      tokenRequestsByWorker: stats.tokenRequests - stats.tokenRequestsByRclone,
      longestStallSeconds: stats.longestUploadGapMs / 1000,
      hubHasCurrentRefreshToken: info !== undefined && info.live && info.generation === info.latestGeneration,
      hubGeneration: info?.generation ?? 0,
      latestGeneration: info?.latestGeneration ?? 0,
      ...(reauthAt ? { reauthAt } : {}),
      restartReasons: driverStats?.restartReasons ?? [],
    };
  } finally {
    await driver?.stop();
    await sandbox.close();
  }
}

async function startDriver(strategy: Exclude<Strategy, 'push'>, sandbox: Sandbox): Promise<BaselineDriver> {
  const options: Omit<DriverOptions, 'custody'> = {
    owner: `driver-${strategy}`,
    hubUrl: sandbox.hub.url,
    account: HUB_USER,
    networks: 'sandbox',
    stateDir: join(sandbox.dir, `state-${strategy}`),
    gcs: { apiEndpoint: sandbox.gcs.apiEndpoint, tokenUrl: sandbox.gcs.tokenUrl },
  };
  return strategy === 'restart' ? startRestartDriver(options) : startRcloneRefreshDriver(options);
}

function endOf(sandbox: Sandbox, jobId: number): { state: number; at: number } | undefined {
  const state = sandbox.hub.job(jobId)?.state;
  if (state === undefined || !ENDED.has(state)) return undefined;
  const report = sandbox.hub.reports.find((r) => r.jobId === jobId && r.state === state && r.status === 0);
  return { state, at: report?.at ?? Date.now() };
}

/**
 * The re-authentication: once `atShare` of the data arrived, the grant the hub holds is revoked
 * with every token issued under it (as Google does when a user re-authorises); `newGrantAfterMs`
 * later a new grant is saved at the hub, which broadcasts `StorageReauthenticated`.
 */
async function reauthenticate(
  sandbox: Sandbox,
  storageId: number,
  plan: NonNullable<Scenario['reauth']>,
  createdAt: number,
  jobOver: () => boolean,
): Promise<{ revokedS: number; savedS: number } | undefined> {
  const dataBytes = FILES * FILE_BYTES;
  const arrived = () => [...sandbox.gcs.stats.uploadBodyBytes.values()].reduce((sum, n) => sum + n, 0);
  const point = await waitFor('the re-authentication point', () => (jobOver() ? 'over' : arrived() >= plan.atShare * dataBytes ? 'now' : undefined), 3_600_000, 50);
  if (point === 'over') return undefined;
  const grant = sandbox.gcs.oauth.authority.grantOf(sandbox.hub.getStorage(storageId)?.refreshToken ?? '');
  if (grant === undefined) throw new Error('the hub holds a refresh token the stand-in never issued');
  sandbox.gcs.oauth.revokeGrant(grant);
  const revokedAt = Date.now();
  await pause(plan.newGrantAfterMs);
  const fresh = sandbox.gcs.issueGrant();
  sandbox.hub.updateStorage(storageId, { accessToken: fresh.accessToken, refreshToken: fresh.refreshToken, expiresAt: fresh.expiresAt.toISOString() });
  return { revokedS: (revokedAt - createdAt) / 1000, savedS: (Date.now() - createdAt) / 1000 };
}
