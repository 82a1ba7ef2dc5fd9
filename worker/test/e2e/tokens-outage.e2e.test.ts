/**
 * The token endpoint fails for 30 s in the middle of a job, end to end (issue "Tokens stay valid
 * for the whole life of a job, without restarting rclone"): 503 with Retry-After, 503 without,
 * then requests that never get an answer, on real rclone, the GCS stand-in and the worker.
 *
 * With 20 s tokens a 30 s outage necessarily outlasts the token rclone holds (rclone stops using
 * it at expiry − 10 s), so rclone fails the run with "token expired and there's no refresh
 * token". The worker's safety net must then refresh once the endpoint is back and re-run that
 * job only, on the same rclone.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { RCLONE_SWITCH_BEFORE_EXPIRY_MS } from '../../src/tokens/schedule.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';
import { expectOneRclone, finishedRecord, loggedAt, sameObjects } from './tokens-support.js';

const TOKEN_LIFETIME_S = 20;
const RETRY_AFTER_S = 3;
const REQUEST_TIMEOUT_S = 4;
/** The worker's smallest retry delay (half its 1 s initial backoff). */
const BACKOFF_FLOOR_MS = 500;
const OUTAGE_MS = { withRetryAfter: 14_000, total: 30_000 };

const startSandbox = sandboxPerTest();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('a 30 s token-endpoint outage during a job', () => {
  it('ends DoneSuccess after one auth-caused re-run on the same rclone, with Retry-After and backoff honoured', { timeout: 240_000 }, async () => {
    // 44 × 25 kB through a 20 kB/s link: at least 55 s of copying, so the outage falls mid-job.
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_S, bytesPerSecond: 20_000 } });
    const gcsStandin = sandbox.gcs;
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs } = sandbox.addGcsStorage('gcs', { bucket: 'backups' });
    const source = join(sandbox.dir, 'docs');
    const files = await makeTree(source, 44, 25_000);
    const rule = sandbox.addRule('docs to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'backups/docs' });

    const worker = sandbox.spawnWorker('a', {
      TOKEN_REFRESH_THRESHOLD_SECONDS: '5',
      TOKEN_REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_S),
    });
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    const job = sandbox.hub.createJob(rule.id);
    const started = await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
    // The outage starts right after a proactive refresh of the running job: the token just
    // pushed is the last one rclone gets before its switch point passes inside the outage.
    const lastGood = await worker.waitForLog((r) => r.msg === 'token refreshed' && r.reason === 'proactive' && loggedAt(r) > loggedAt(started));

    // Phase 1: 503 with Retry-After (the proactive retries at +7, +10, +13 s get it). Phase 2:
    // 503 with an HTML body and no Retry-After, until one request got it. Phase 3: requests are
    // held without an answer (the worker gives up after its request timeout) until 30 s.
    const outage = { start: Date.now(), plain: 0, timeout: 0, end: 0 };
    gcsStandin.setTokenEndpointFault({ kind: 'status', status: 503, retryAfterSeconds: RETRY_AFTER_S });
    await sleep(OUTAGE_MS.withRetryAfter);
    outage.plain = Date.now();
    gcsStandin.setTokenEndpointFault({ kind: 'status', status: 503, contentType: 'text/html', body: '<html><body>Service Unavailable</body></html>' });
    await expect.poll(() => gcsStandin.tokenLog.some((e) => e.at >= outage.plain && e.status === 503), { timeout: 10_000, interval: 50 }).toBe(true);
    outage.timeout = Date.now();
    gcsStandin.setTokenEndpointFault({ kind: 'timeout' });
    await sleep(outage.start + OUTAGE_MS.total - Date.now());
    outage.end = Date.now();
    gcsStandin.setTokenEndpointFault(null);

    const reports = await waitForTerminalReport(sandbox, job.id, 180_000);

    // The job succeeded, reported once, every byte in place, on the one rclone.
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    expect(terminalReports(sandbox, job.id)).toHaveLength(1);
    expect(sameObjects(gcsStandin, 'backups', 'docs', files)).toBe(files.size);
    expectOneRclone(worker, rclonePid);
    expect(gcsStandin.stats.unauthorized).toBe(0);
    expect(gcsStandin.stats.tokenRequestsByRclone).toBe(0);

    // How it succeeded: rclone stopped using the last good token at its expiry − 10 s, inside
    // the outage, and failed the run for want of a token. That failure was recognised as an
    // auth failure, and the job alone was started again in rclone once a refresh succeeded.
    const recoveries = logsOf(worker, 'job failed with an auth error; refreshing its token and re-running it').filter((r) => r.jobId === job.id);
    expect(recoveries).toEqual([expect.objectContaining({ run: 1, remote: 'gcs', signature: "token expired and there's no refresh token" })]);
    const failedAt = loggedAt(recoveries[0]!);
    expect(failedAt).toBeGreaterThanOrEqual(Date.parse(String(lastGood.expiresAt)) - RCLONE_SWITCH_BEFORE_EXPIRY_MS);
    expect(failedAt).toBeLessThan(outage.end);
    const runsInRclone = logsOf(worker, 'job started in rclone').filter((r) => r.jobId === job.id);
    expect(runsInRclone).toHaveLength(2);
    expect(finishedRecord(worker, job.id)?.state).toBe('DoneSuccess');
    const firstGoodRefresh = logsOf(worker, 'token refreshed').find((r) => loggedAt(r) > failedAt);
    expect(firstGoodRefresh).toBeDefined();
    expect(loggedAt(firstGoodRefresh!)).toBeGreaterThanOrEqual(outage.end);
    expect(loggedAt(runsInRclone[1]!)).toBeGreaterThanOrEqual(loggedAt(firstGoodRefresh!));
    expect(runsInRclone[1]?.rcloneJobId).not.toBe(runsInRclone[0]?.rcloneJobId);

    // How the worker treated the endpoint: one request at a time, never faster than its
    // backoff floor, Retry-After waited out in full, held requests abandoned after the timeout.
    const requests = gcsStandin.tokenLog.filter((e) => e.at >= outage.start && e.at < outage.end).sort((a, b) => a.at - b.at);
    const next = (i: number): number => requests[i + 1]?.at ?? Number.POSITIVE_INFINITY;
    expect(requests.length).toBeGreaterThanOrEqual(4);
    expect(requests.length).toBeLessThanOrEqual(8);
    expect(requests.every((e) => e.status !== 200 || e.at >= outage.timeout)).toBe(true);
    const withRetryAfter = requests.map((e, i) => ({ e, i })).filter(({ e }) => e.status === 503 && e.at < outage.plain - 100);
    expect(withRetryAfter.length).toBeGreaterThanOrEqual(2);
    for (const { e, i } of withRetryAfter) expect(next(i) - e.at).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000);
    for (let i = 0; i + 1 < requests.length; i++) expect(next(i) - requests[i]!.at).toBeGreaterThanOrEqual(BACKOFF_FLOOR_MS);
    const heldRequests = requests.map((e, i) => ({ e, i })).filter(({ e }) => e.at >= outage.timeout && e.status === 0);
    expect(heldRequests.length).toBeGreaterThanOrEqual(1);
    for (const { e, i } of heldRequests) expect(next(i) - e.at).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_S * 1000);
    expect(logsOf(worker, 'token refresh failed').some((r) => /timeout/i.test(String(r.cause)))).toBe(true);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
