/**
 * The provider end-to-end family (issue 8, "What it must show"): the same two scenarios for
 * OneDrive, Google Drive and Dropbox, each through the worker process as users run it, the real
 * rclone, the sandbox's TLS proxy and the provider's stand-in.
 *
 * - {@link copyAcrossLifetimes}: a copy spanning at least six access-token lifetimes ends
 *   `DoneSuccess` exactly once, every file stored byte for byte, uploaded in one session with no
 *   byte sent twice, 0 × 401, 0 token requests by rclone, one rclone for the whole test, and the
 *   hub holding the grant's current refresh token (Microsoft rotates it on every refresh).
 * - {@link reauthAfterRevocation}: side-by-side.md S2 — at ~30 % of the bytes the grant is
 *   revoked with its access tokens (as Google does on re-authorisation), 10 s later a new grant
 *   is saved at the hub; the job still ends `DoneSuccess` exactly once with every file, on the
 *   new grant, and only the uploads in flight at the revocation are sent again.
 *
 * What differs per provider (sandbox options, how to add the storage, where the stand-in keeps
 * files and per-file upload counters) is a {@link ProviderUnderTest}; the token story is read
 * from each stand-in's shared provider OAuth (`scripts/standins/oauth/`), the same for all three.
 * Each scenario asserts what the issue asks, prints its figures (`[providers] …` lines, quoted in
 * the README) and returns the run so a test can add its provider's own checks.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { loggedAt, makeTree, type LogRecord, type Sandbox, type SandboxOptions, type WorkerProcess } from '../../../scripts/sandbox.js';
import type { Grant } from '../../../scripts/standins/oauth/authority.js';
import type { ProviderOAuth } from '../../../scripts/standins/oauth/provider-oauth.js';
import { jobStateName, type Job, type Rule, type Storage } from '../../../shared/hannibal.js';
import { fingerprint } from '../../src/log/fingerprint.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, terminalReports, waitForTerminalReport } from './support.js';
import { expectOneRclone, finishedRecord } from './tokens-support.js';

/** Upload counters of one file at a stand-in. */
export interface FileUpload {
  /** Upload sessions (or single-request uploads) begun for the file. */
  sessions: number;
  /** Body bytes received for it, re-sent ones included. */
  bytesReceived: number;
}

/** What the family needs to know about one provider and its stand-in in a sandbox. */
export interface ProviderUnderTest {
  /** The hub's technology name. */
  readonly technology: 'onedrive' | 'googledrive' | 'dropbox';
  /** Sandbox options starting its stand-in: access tokens of `tokenLifetimeSeconds`, one shared upload link of `bytesPerSecond`. */
  sandboxOptions(tokenLifetimeSeconds: number, bytesPerSecond: number): SandboxOptions;
  /** A storage at the hub holding a fresh grant of the stand-in. */
  addStorage(sandbox: Sandbox, uriSchema: string): { storage: Storage; grant: Grant };
  /** The stand-in's OAuth (grants, revocation, token log, counters). */
  oauth(sandbox: Sandbox): ProviderOAuth;
  /** The files stored under `folder` (no leading slash), by path relative to it. */
  storedFiles(sandbox: Sandbox, folder: string): Map<string, Buffer>;
  /** Upload counters of the file at `path` (no leading slash); undefined when nothing arrived for it. */
  upload(sandbox: Sandbox, path: string): FileUpload | undefined;
  /** Upload body bytes the stand-in received so far, every file and every attempt. */
  bytesReceived(sandbox: Sandbox): number;
}

export const ONEDRIVE: ProviderUnderTest = {
  technology: 'onedrive',
  sandboxOptions: (tokenLifetimeSeconds, bytesPerSecond) => ({ onedrive: { tokenLifetimeSeconds, bytesPerSecond } }),
  addStorage: (sandbox, uriSchema) => sandbox.addOnedriveStorage(uriSchema),
  oauth: (sandbox) => standin(sandbox.onedrive).oauth,
  storedFiles: (sandbox, folder) => below(standin(sandbox.onedrive).files(), `/${folder}/`),
  upload: (sandbox, path) => {
    const stats = standin(sandbox.onedrive).stats;
    const sessions = stats.uploadSessionsByPath.get(`/${path}`);
    return sessions === undefined ? undefined : { sessions, bytesReceived: stats.bytesReceivedByPath.get(`/${path}`) ?? 0 };
  },
  bytesReceived: (sandbox) => sum(standin(sandbox.onedrive).stats.bytesReceivedByPath.values()),
};

export const GOOGLE_DRIVE: ProviderUnderTest = {
  technology: 'googledrive',
  sandboxOptions: (tokenLifetimeSeconds, bytesPerSecond) => ({ gdrive: { tokenLifetimeSeconds, uploadBytesPerSecond: bytesPerSecond } }),
  addStorage: (sandbox, uriSchema) => sandbox.addGoogleDriveStorage(uriSchema),
  oauth: (sandbox) => standin(sandbox.gdrive).standin.oauth,
  storedFiles: (sandbox, folder) => standin(sandbox.gdrive).standin.files(folder),
  upload: (sandbox, path) => {
    const stats = standin(sandbox.gdrive).standin.stats;
    const sessions = stats.uploadSessions.get(path);
    return sessions === undefined ? undefined : { sessions, bytesReceived: stats.bytesReceived.get(path) ?? 0 };
  },
  bytesReceived: (sandbox) => sum(standin(sandbox.gdrive).standin.stats.bytesReceived.values()),
};

export const DROPBOX: ProviderUnderTest = {
  technology: 'dropbox',
  sandboxOptions: (tokenLifetimeSeconds, bytesPerSecond) => ({ dropbox: { tokenLifetimeSeconds, bytesPerSecond } }),
  addStorage: (sandbox, uriSchema) => sandbox.addDropboxStorage(uriSchema),
  oauth: (sandbox) => standin(sandbox.dropbox).oauth,
  storedFiles: (sandbox, folder) => below(standin(sandbox.dropbox).files(), `/${folder}/`),
  upload: (sandbox, path) => {
    const stats = standin(sandbox.dropbox).fileStats(`/${path}`);
    return stats && { sessions: stats.sessions, bytesReceived: stats.bytesReceived };
  },
  bytesReceived: (sandbox) => standin(sandbox.dropbox).stats.bytesReceived,
};

function standin<T>(member: T | undefined): T {
  if (member === undefined) throw new Error('the sandbox was started without this provider’s stand-in');
  return member;
}

function below(files: Map<string, Buffer>, prefix: string): Map<string, Buffer> {
  return new Map([...files].filter(([path]) => path.startsWith(prefix)).map(([path, data]) => [path.slice(prefix.length), data]));
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

/** Where the test world's data goes at the provider. */
const FOLDER = 'backup/photos';

/** One run of a scenario, for a test's own checks after the family's. */
export interface ProviderRun {
  sandbox: Sandbox;
  worker: WorkerProcess;
  storage: Storage;
  /** The grant the storage was created with. */
  grant: Grant;
  rule: Rule;
  job: Job;
  files: Map<string, Buffer>;
  oauth: ProviderOAuth;
  rclonePid: number | undefined;
}

/** Fingerprints of the access tokens issued under a grant so far. */
export function accessTokensOf(oauth: ProviderOAuth, grantId: string): Set<string> {
  const prefix = oauth.dialect.format.accessTokenPrefix;
  return new Set(
    oauth
      .issuedSecrets()
      .filter((token) => token.startsWith(prefix) && oauth.authority.grantOf(token) === grantId)
      .map((token) => fingerprint(token)),
  );
}

/** The tokens whose accepted-request count grew since `before` (a snapshot of `acceptedByAccessToken`). */
function tokensAcceptedSince(oauth: ProviderOAuth, before: Map<string, number>): string[] {
  return [...oauth.stats.acceptedByAccessToken].filter(([fp, use]) => use.requests > (before.get(fp) ?? 0)).map(([fp]) => fp);
}

function acceptedCounts(oauth: ProviderOAuth): Map<string, number> {
  return new Map([...oauth.stats.acceptedByAccessToken].map(([fp, use]) => [fp, use.requests]));
}

/** The worker's own token requests (rclone's and the test's left out), oldest first. */
function workerTokenRequests(oauth: ProviderOAuth): ProviderOAuth['tokenLog'] {
  return oauth.tokenLog.filter((entry) => entry.userAgent === 'rclone-sync-worker').sort((a, b) => a.at - b.at);
}

/** Every file of the tree stored byte for byte under {@link FOLDER}, and nothing else there. */
function expectEveryFileStored(provider: ProviderUnderTest, sandbox: Sandbox, files: Map<string, Buffer>): void {
  const stored = provider.storedFiles(sandbox, FOLDER);
  for (const [rel, bytes] of files) expect(stored.get(rel)?.equals(bytes), rel).toBe(true);
  expect(stored.size).toBe(files.size);
}

/**
 * The hub holds the grant's current refresh token, alive, and — where the provider rotates it
 * (Microsoft) — received every generation the worker's refreshes produced, in order, right after
 * each refresh: generation n of n at the end, n − 1 being the worker's successful refreshes.
 * Returns n.
 */
function expectHubHoldsCurrentRefreshToken(run: Pick<ProviderRun, 'sandbox' | 'storage' | 'oauth'>, grant: Grant): number {
  const { sandbox, storage, oauth } = run;
  const rotates = oauth.authority.rotation !== 'keep';
  const refreshes = workerTokenRequests(oauth).filter((e) => e.grantId === grant.grantId && e.status === 200);
  const generations = rotates ? refreshes.length + 1 : 1;
  const hubRefreshToken = sandbox.hub.getStorage(storage.id)?.refreshToken ?? '';
  const standing = oauth.refreshTokenInfo(hubRefreshToken);
  expect(standing).toMatchObject({ grantId: grant.grantId, generation: generations, latestGeneration: generations, live: true });
  expect(oauth.stats.staleGenerationRefreshes).toBe(0);
  if (rotates) {
    // Each refresh spent the generation before it: never the same one twice, never an old one.
    expect(refreshes.map((e) => e.generation)).toEqual(refreshes.map((_, i) => i + 1));
    const saved = sandbox.hub.storagePuts
      .filter((put) => put.id === storage.id && oauth.authority.grantOf(put.body.refreshToken ?? '') === grant.grantId)
      .map((put) => oauth.refreshTokenInfo(put.body.refreshToken ?? '')?.generation);
    expect(saved.filter((g, i) => g !== saved[i - 1])).toEqual(refreshes.map((_, i) => i + 2));
  }
  return generations;
}

/** Prints a scenario's figures on one line, for the README and the report. */
function printFigures(provider: ProviderUnderTest, scenario: string, figures: Record<string, unknown>): void {
  console.info(`[providers] ${provider.technology} ${scenario}: ${JSON.stringify(figures)}`);
}

interface WorldOptions {
  tokenLifetimeSeconds: number;
  bytesPerSecond: number;
  fileCount: number;
  fileSize: number;
  workerEnv: Record<string, string>;
}

/** A local folder, a storage of the provider, a rule between them, and a worker whose rclone is ready. */
async function providerWorld(
  startSandbox: (options?: SandboxOptions) => Promise<Sandbox>,
  provider: ProviderUnderTest,
  options: WorldOptions,
): Promise<Omit<ProviderRun, 'job'>> {
  const sandbox = await startSandbox(provider.sandboxOptions(options.tokenLifetimeSeconds, options.bytesPerSecond));
  const laptop = sandbox.addLocalStorage('laptop');
  const { storage, grant } = provider.addStorage(sandbox, 'cloud');
  const source = join(sandbox.dir, 'photos');
  const files = await makeTree(source, options.fileCount, options.fileSize);
  const rule = sandbox.addRule(`photos to ${provider.technology}`, { storage: laptop, path: source }, { storage, path: FOLDER });
  const worker = sandbox.spawnWorker('a', options.workerEnv);
  await worker.waitForLog((r) => r.msg === 'rclone ready');
  return { sandbox, worker, storage, grant, files, oauth: provider.oauth(sandbox), rclonePid: worker.rclonePid(), rule };
}

/** SIGTERM: the worker drains and exits 0 in time; nothing secret in anything it wrote. */
async function stopAndScan(run: ProviderRun): Promise<void> {
  const rcPassword = rcPasswordOf(run.rclonePid);
  const stoppingAt = Date.now();
  expect(await run.worker.stop()).toBe(0);
  const warnings = run.worker.find((r) => r.level >= 40 && loggedAt(r) >= stoppingAt).map((r) => r.msg);
  console.info(`[providers] ${run.storage.technology} drain: exit 0 after ${Date.now() - stoppingAt} ms; warnings ${JSON.stringify(warnings)}`);
  expectNoSecretsLeaked(run.sandbox, [run.worker], rcPassword ? [rcPassword] : []);
}

export interface LifetimesOptions {
  tokenLifetimeSeconds: number;
  /** At least this many lifetimes: the job must last `lifetimes × tokenLifetimeSeconds` and use as many access tokens. */
  lifetimes: number;
  bytesPerSecond: number;
  fileCount: number;
  fileSize: number;
}

/**
 * Scenario 1: one copy job across `lifetimes` access-token lifetimes. The throttled link makes
 * the job last `fileCount × fileSize / bytesPerSecond` seconds at least, whatever rclone's
 * concurrency. `checks` runs the test's own assertions before the worker is stopped.
 */
export async function copyAcrossLifetimes(
  startSandbox: (options?: SandboxOptions) => Promise<Sandbox>,
  provider: ProviderUnderTest,
  options: LifetimesOptions,
  checks: (run: ProviderRun) => Promise<void> | void = () => undefined,
): Promise<void> {
  const startedAt = Date.now();
  expect(options.fileCount * options.fileSize).toBeGreaterThan(options.lifetimes * options.tokenLifetimeSeconds * options.bytesPerSecond);
  const world = await providerWorld(startSandbox, provider, { ...options, workerEnv: { TOKEN_REFRESH_THRESHOLD_SECONDS: '5' } });
  const { sandbox, worker, oauth, files } = world;
  const before = acceptedCounts(oauth);
  const job = sandbox.hub.createJob(world.rule.id);
  const reports = await waitForTerminalReport(sandbox, job.id, 1000 * (options.fileCount * options.fileSize) / options.bytesPerSecond + 120_000);
  const run: ProviderRun = { ...world, job };

  // Exactly once, DoneSuccess, in one run that spanned the lifetimes.
  expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
  const finished = finishedRecord(worker, job.id);
  expect(finished?.runs).toBe(1);
  expect(finished?.durationS).toBeGreaterThanOrEqual(options.lifetimes * options.tokenLifetimeSeconds);

  // Every file stored byte for byte, uploaded once: one session, no byte twice.
  expectEveryFileStored(provider, sandbox, files);
  for (const [rel, bytes] of files) expect(provider.upload(sandbox, `${FOLDER}/${rel}`), rel).toEqual({ sessions: 1, bytesReceived: bytes.length });
  const totalBytes = sum([...files.values()].map((b) => b.length));
  const resentBytes = provider.bytesReceived(sandbox) - totalBytes;
  expect(resentBytes).toBe(0);

  // The token story: only the worker asked for tokens, rclone never met an invalid one, and
  // the one running rclone adopted a new token per lifetime.
  expect(oauth.stats.unauthorized).toBe(0);
  expect(oauth.stats.tokenRequestsByRclone).toBe(0);
  expect(oauth.tokenLog.every((entry) => entry.userAgent === 'rclone-sync-worker' && entry.status === 200)).toBe(true);
  const used = tokensAcceptedSince(oauth, before);
  expect(used.length).toBeGreaterThanOrEqual(options.lifetimes);
  const pushes = logsOf(worker, 'token pushed to rclone').length;
  expect(pushes).toBeGreaterThanOrEqual(options.lifetimes);
  expect(worker.find((r) => r.component === 'rclone' && r.level >= 50)).toEqual([]);
  expectOneRclone(worker, world.rclonePid);
  const generations = expectHubHoldsCurrentRefreshToken(run, world.grant);
  expect(terminalReports(sandbox, job.id)).toHaveLength(1);

  await checks(run);
  printFigures(provider, 'lifetimes', {
    result: jobStateName(reports[0]!.state),
    terminalReports: terminalReports(sandbox, job.id).length,
    runs: finished?.runs,
    files: `${provider.storedFiles(sandbox, FOLDER).size}/${files.size}`,
    jobSeconds: finished?.durationS,
    lifetimes: Number(finished?.durationS) / options.tokenLifetimeSeconds,
    accessTokensUsed: used.length,
    pushes,
    unauthorized: oauth.stats.unauthorized,
    tokenRequestsByWorker: workerTokenRequests(oauth).length,
    tokenRequestsByRclone: oauth.stats.tokenRequestsByRclone,
    rcloneStarts: logsOf(worker, 'rclone ready').length,
    resentBytes,
    hubRefreshToken: `generation ${generations} of ${generations}, live`,
    wallSeconds: Math.round((Date.now() - startedAt) / 1000),
  });
  await stopAndScan(run);
}

export interface ReauthOptions {
  tokenLifetimeSeconds: number;
  bytesPerSecond: number;
  fileCount: number;
  fileSize: number;
  /** Share of the bytes received when the grant is revoked (side-by-side.md S2: 0.3). */
  revokeAtShare: number;
  /** From the revocation to the new grant saved at the hub (S2: 10 s). */
  reauthAfterMs: number;
  /**
   * The job's last run starts within this long of the new grant's save: the worker re-runs a job
   * on a dead grant as soon as new credentials are live, instead of leaving it to rclone, which
   * would switch tokens only at the revoked one's expiry − 10 s.
   */
  rerunWithinMs: number;
}

/** Figures of the re-authentication scenario, for the test's own checks. */
export interface ReauthRun extends ProviderRun {
  newGrant: Grant;
  revokedAt: number;
  reauthAt: number;
  runs: LogRecord[];
}

/** What the stand-in holds of each file of the tree at one instant. */
interface UploadSnapshot {
  stored: Set<string>;
  uploads: Map<string, FileUpload | undefined>;
}

function uploadsNow(provider: ProviderUnderTest, sandbox: Sandbox, files: Map<string, Buffer>): UploadSnapshot {
  const stored = provider.storedFiles(sandbox, FOLDER);
  return {
    stored: new Set([...files.keys()].filter((rel) => stored.get(rel)?.equals(files.get(rel)!))),
    uploads: new Map([...files.keys()].map((rel) => [rel, provider.upload(sandbox, `${FOLDER}/${rel}`)])),
  };
}

/**
 * Files stored at `before` have the same upload counters now; files with nothing received at
 * `before` were uploaded once (one session, their size). Returns how many were neither: in flight.
 * (Dropbox counts per file only at commit, so there "nothing received" means "not committed"
 * and a re-sent abandoned session shows only in the stand-in's total.)
 */
function expectUploadedOnceOutsideRevocation(provider: ProviderUnderTest, sandbox: Sandbox, files: Map<string, Buffer>, before: UploadSnapshot): number {
  let inFlight = 0;
  for (const [rel, bytes] of files) {
    const now = provider.upload(sandbox, `${FOLDER}/${rel}`);
    if (before.stored.has(rel)) expect(now, `${rel} (stored before the revocation)`).toEqual(before.uploads.get(rel));
    else if (before.uploads.get(rel) === undefined) expect(now, `${rel} (not begun at the revocation)`).toEqual({ sessions: 1, bytesReceived: bytes.length });
    else inFlight += 1;
  }
  return inFlight;
}

/**
 * Scenario 2 (side-by-side.md S2): the grant revoked with its access tokens mid-job, a new grant
 * saved at the hub `reauthAfterMs` later (`updateStorage`: the hub's save behind
 * `PUT /storages/{id}`, which broadcasts `StorageReauthenticated`). The job must end
 * `DoneSuccess` exactly once with every file, on the new grant: the new grant's tokens are
 * accepted after the re-authentication, no request with the old grant's tokens is accepted
 * after the revocation, and the old grant's refresh token is refused at most once (no storm).
 */
export async function reauthAfterRevocation(
  startSandbox: (options?: SandboxOptions) => Promise<Sandbox>,
  provider: ProviderUnderTest,
  options: ReauthOptions,
  checks: (run: ReauthRun) => Promise<void> | void = () => undefined,
): Promise<void> {
  const startedAt = Date.now();
  // A run stopped on a dead grant may never finish in rclone (Dropbox), and rc calls about it
  // then hang: the drain at the end spends its whole rclone stop budget before it SIGTERMs
  // rclone. 10 s keeps it inside the 30 s the test gives the worker to exit (the default 60 s
  // is for operators: systemd waits 90 s).
  const workerEnv = { WORKER_REAUTH_WAIT_SECONDS: '600', WORKER_SHUTDOWN_TIMEOUT_SECONDS: '10' };
  const world = await providerWorld(startSandbox, provider, { ...options, workerEnv });
  const { sandbox, worker, oauth, files, storage, grant } = world;
  const totalBytes = sum([...files.values()].map((b) => b.length));
  const job = sandbox.hub.createJob(world.rule.id);
  await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);

  await expect.poll(() => provider.bytesReceived(sandbox), { timeout: 120_000, interval: 100 }).toBeGreaterThanOrEqual(options.revokeAtShare * totalBytes);
  const bytesAtRevocation = provider.bytesReceived(sandbox);
  const revokedAt = Date.now();
  oauth.revokeGrant(grant.grantId);
  const atRevocation = uploadsNow(provider, sandbox, files);
  const oldTokens = accessTokensOf(oauth, grant.grantId);
  await new Promise((resolve) => setTimeout(resolve, options.reauthAfterMs));
  const newGrant = oauth.issueGrant();
  const reauthAt = Date.now();
  sandbox.hub.updateStorage(storage.id, { accessToken: newGrant.accessToken, refreshToken: newGrant.refreshToken, expiresAt: newGrant.expiresAt.toISOString() });

  const reports = await waitForTerminalReport(sandbox, job.id, 1000 * totalBytes / options.bytesPerSecond + 120_000);
  const runs = worker.find((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
  const run: ReauthRun = { ...world, job, newGrant, revokedAt, reauthAt, runs };

  // Exactly once, DoneSuccess, every file.
  expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
  expectEveryFileStored(provider, sandbox, files);

  // No byte twice where the counters can tell: a file stored before the revocation was never
  // sent again, and a file with nothing received by then was uploaded exactly once. Only the
  // uploads in flight at the revocation may be sent again (their sessions died with the run).
  const inFlight = expectUploadedOnceOutsideRevocation(provider, sandbox, files, atRevocation);

  // On the new grant: its tokens were accepted from the re-authentication on, and the job's
  // last run started after it; after the revocation no request got through on an old token.
  const newTokens = accessTokensOf(oauth, newGrant.grantId);
  const accepted = [...oauth.stats.acceptedByAccessToken];
  const newAccepted = accepted.filter(([fp]) => newTokens.has(fp));
  expect(newAccepted.length).toBeGreaterThan(0);
  const firstNewAcceptedAt = Math.min(...newAccepted.map(([, use]) => use.firstAt));
  expect(firstNewAcceptedAt).toBeGreaterThanOrEqual(reauthAt);
  const oldAcceptedAfterRevocation = accepted.filter(([fp, use]) => oldTokens.has(fp) && use.lastAt > revokedAt);
  expect(oldAcceptedAfterRevocation).toEqual([]);
  expect(loggedAt(runs.at(-1)!)).toBeGreaterThanOrEqual(reauthAt);
  expect(loggedAt(runs.at(-1)!) - reauthAt).toBeLessThan(options.rerunWithinMs);
  const finished = finishedRecord(worker, job.id);
  expect(finished?.runs).toBe(runs.length);

  // The dead grant was asked once at most (no retry storm, side-by-side.md N4), the new one
  // never refused; rclone never asked for a token; one rclone throughout.
  const refusedOld = workerTokenRequests(oauth).filter((e) => e.grantId === grant.grantId && e.at >= revokedAt);
  expect(refusedOld.every((e) => e.status !== 200)).toBe(true);
  expect(refusedOld.length).toBeLessThanOrEqual(1);
  expect(workerTokenRequests(oauth).filter((e) => e.grantId === newGrant.grantId).every((e) => e.status === 200)).toBe(true);
  expect(oauth.stats.tokenRequestsByRclone).toBe(0);
  expectOneRclone(worker, world.rclonePid);
  const generations = expectHubHoldsCurrentRefreshToken(run, newGrant);
  expect(terminalReports(sandbox, job.id)).toHaveLength(1);

  await checks(run);
  printFigures(provider, 're-auth after revocation', {
    result: jobStateName(reports[0]!.state),
    terminalReports: terminalReports(sandbox, job.id).length,
    runs: runs.length,
    files: `${provider.storedFiles(sandbox, FOLDER).size}/${files.size}`,
    revokedAtShare: Number((bytesAtRevocation / totalBytes).toFixed(2)),
    storedAtRevocation: atRevocation.stored.size,
    inFlightAtRevocation: inFlight,
    unauthorized: oauth.stats.unauthorized,
    accessTokensUsed: accepted.filter(([, use]) => use.requests > 0).length,
    tokenRequestsByWorker: workerTokenRequests(oauth).length,
    refusedOldGrantRefreshes: refusedOld.length,
    tokenRequestsByRclone: oauth.stats.tokenRequestsByRclone,
    rcloneStarts: logsOf(worker, 'rclone ready').length,
    resentBytes: provider.bytesReceived(sandbox) - totalBytes,
    reauthToFirstNewGrantRequestMs: firstNewAcceptedAt - reauthAt,
    reauthToLastRunMs: loggedAt(runs.at(-1)!) - reauthAt,
    jobSeconds: Math.round(((sandbox.hub.reports.find((r) => r.jobId === job.id && r.state !== JobState.Executing)?.at ?? Date.now()) - loggedAt(runs[0]!)) / 1000),
    hubRefreshToken: `new grant, generation ${generations} of ${generations}, live`,
    wallSeconds: Math.round((Date.now() - startedAt) / 1000),
  });
  await stopAndScan(run);
}
