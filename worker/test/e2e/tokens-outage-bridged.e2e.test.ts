/**
 * A 30 s token-endpoint outage bridged live, end to end (issue "Tokens stay valid for the whole
 * life of a job, without restarting rclone"): real rclone, the GCS stand-in and the worker with
 * its default settings, with 130 s tokens instead of 20 s ones.
 *
 * The worker refreshes a 130 s token at 75 % of its life (+97.5 s); rclone keeps using it until
 * expiry − 10 s (+120 s). An outage from +85 s to +115 s covers the refresh point and ends
 * before the switch point, so the worker retries while rclone goes on with the still-valid
 * token, and the job is not re-run. The window between refresh point and switch point is
 * 25 % of the lifetime − 10 s; an outage that starts at the refresh point and lasts 30 s plus
 * the retry backoff would need tokens of over 200 s, and this test over 3.5 minutes.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { RCLONE_SWITCH_BEFORE_EXPIRY_MS } from '../../src/tokens/schedule.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';
import { expectOneRclone, finishedRecord, loggedAt, sameObjects } from './tokens-support.js';

const TOKEN_LIFETIME_S = 130;
const RETRY_AFTER_S = 3;
/** Offsets from the token's refresh at job start. */
const OUTAGE_FROM_MS = 85_000;
const OUTAGE_UNTIL_MS = 115_000;

const startSandbox = sandboxPerTest();

const sleepUntil = (at: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

describe('a 30 s token-endpoint outage around the refresh point of a 130 s token', () => {
  it('is bridged by the still-valid token: one run, no auth failure, the post-outage token adopted live', { timeout: 240_000 }, async () => {
    // 54 × 50 kB through a 20 kB/s link: at least 135 s, past the switch point at +120 s.
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_S, bytesPerSecond: 20_000 } });
    const gcsStandin = sandbox.gcs;
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs } = sandbox.addGcsStorage('gcs', { bucket: 'backups' });
    const source = join(sandbox.dir, 'music');
    const files = await makeTree(source, 54, 50_000);
    const rule = sandbox.addRule('music to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'backups/music' });

    const worker = sandbox.spawnWorker('a');
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    const job = sandbox.hub.createJob(rule.id);
    // The default 15 min just-in-time threshold refreshes the hub's token before the job starts.
    const atStart = await worker.waitForLog((r) => r.msg === 'token refreshed' && r.reason === 'just-in-time');
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
    const issuedAt = loggedAt(atStart);
    const switchAt = Date.parse(String(atStart.expiresAt)) - RCLONE_SWITCH_BEFORE_EXPIRY_MS;

    // 503 with Retry-After for the first two retries, 503 (HTML) for one, then held requests.
    await sleepUntil(issuedAt + OUTAGE_FROM_MS);
    const outage = { start: Date.now(), plain: 0, held: 0, end: 0 };
    gcsStandin.setTokenEndpointFault({ kind: 'status', status: 503, retryAfterSeconds: RETRY_AFTER_S });
    await expect.poll(() => gcsStandin.tokenLog.filter((e) => e.at >= outage.start && e.status === 503).length, { timeout: 25_000, interval: 50 }).toBeGreaterThanOrEqual(2);
    outage.plain = Date.now();
    gcsStandin.setTokenEndpointFault({ kind: 'status', status: 503, contentType: 'text/html', body: '<html><body>Service Unavailable</body></html>' });
    await expect.poll(() => gcsStandin.tokenLog.some((e) => e.at >= outage.plain && e.status === 503), { timeout: 10_000, interval: 50 }).toBe(true);
    outage.held = Date.now();
    gcsStandin.setTokenEndpointFault({ kind: 'timeout' });
    await sleepUntil(issuedAt + OUTAGE_UNTIL_MS);
    outage.end = Date.now();
    gcsStandin.setTokenEndpointFault(null);

    const reports = await waitForTerminalReport(sandbox, job.id, 120_000);

    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    expect(terminalReports(sandbox, job.id)).toHaveLength(1);
    expect(sameObjects(gcsStandin, 'backups', 'music', files)).toBe(files.size);
    expectOneRclone(worker, rclonePid);
    expect(gcsStandin.stats.unauthorized).toBe(0);
    expect(gcsStandin.stats.tokenRequestsByRclone).toBe(0);

    // Bridged live: one run in rclone, no auth failure, no rclone error.
    expect(finishedRecord(worker, job.id)?.runs).toBe(1);
    expect(logsOf(worker, 'job started in rclone').filter((r) => r.jobId === job.id)).toHaveLength(1);
    expect(logsOf(worker, 'job failed with an auth error; refreshing its token and re-running it')).toEqual([]);
    expect(worker.find((r) => r.component === 'rclone' && r.level >= 50)).toEqual([]);

    // The outage really met the refresh: the worker's requests failed (Retry-After waited out)
    // until the endpoint recovered, and the token obtained then reached rclone before the switch
    // point, which the job ran past, so rclone went on with that token.
    const requests = gcsStandin.tokenLog.filter((e) => e.at >= outage.start && e.at < outage.end).sort((a, b) => a.at - b.at);
    const answered503 = requests.filter((e) => e.status === 503);
    expect(answered503.length).toBe(3);
    for (const [first, second] of [[requests[0], requests[1]], [requests[1], requests[2]]] as const) {
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000);
    }
    expect(requests.slice(3).every((e) => e.at >= outage.held)).toBe(true);
    const recovered = logsOf(worker, 'token refreshed').find((r) => loggedAt(r) >= outage.start);
    expect(recovered).toBeDefined();
    expect(loggedAt(recovered!)).toBeGreaterThanOrEqual(outage.end);
    expect(loggedAt(recovered!)).toBeLessThan(switchAt);
    const finished = finishedRecord(worker, job.id);
    expect(finished).toBeDefined();
    expect(loggedAt(finished!)).toBeGreaterThan(switchAt + 5_000);
    expect(gcsStandin.stats.requestsByAccessToken.get(String(recovered!.tokenFp))).toBeGreaterThan(0);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
