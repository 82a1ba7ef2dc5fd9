/**
 * Every rotated refresh token reaches the hub (issue 8, side-by-side.md S1), end to end: a copy
 * spanning several 20 s token lifetimes against a provider that rotates the refresh token on
 * every refresh and invalidates the old one. Counted by generation: each refresh token the
 * provider issued was saved to the hub, in order, the hub ends on the latest (alive), and the
 * grant journal is empty once the hub has everything.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { fingerprint } from '../../src/log/fingerprint.js';
import { expectNoSecretsLeaked, JobState, logsOf, sandboxPerTest, waitForTerminalReport } from './support.js';
import { finishedRecord, hubRefreshTokenStanding, sameObjects, workerTokenRequests } from './tokens-support.js';

const TOKEN_LIFETIME_S = 20;
const startSandbox = sandboxPerTest();

describe('refresh-token rotation through a job of several token lifetimes', () => {
  it('saves every generation to the hub, in order, and leaves the hub on the live one', { timeout: 240_000 }, async () => {
    const sandbox = await startSandbox({ gcs: { tokenLifetimeSeconds: TOKEN_LIFETIME_S, rotateRefreshTokens: true, bytesPerSecond: 20_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: gcs, grant } = sandbox.addGcsStorage('gcs', { bucket: 'backups' });
    const source = join(sandbox.dir, 'photos');
    const files = await makeTree(source, 40, 25_000); // ≥ 50 s at 20 kB/s: several lifetimes
    const rule = sandbox.addRule('photos to gcs', { storage: laptop, path: source }, { storage: gcs, path: 'backups/photos' });

    const worker = sandbox.spawnWorker('a', { TOKEN_REFRESH_THRESHOLD_SECONDS: '5' });
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const job = sandbox.hub.createJob(rule.id);
    const reports = await waitForTerminalReport(sandbox, job.id, 200_000);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(finishedRecord(worker, job.id)?.durationS).toBeGreaterThanOrEqual(2 * TOKEN_LIFETIME_S);
    expect(sameObjects(sandbox.gcs, 'backups', 'photos', files)).toBe(files.size);
    expect(await worker.stop()).toBe(0);

    // The generations: gen 1 is the grant; each refresh spends gen n and returns gen n+1.
    const requests = workerTokenRequests(sandbox.gcs);
    expect(requests.every((e) => e.status === 200)).toBe(true);
    expect(sandbox.gcs.stats.tokenRequestsByRclone).toBe(0);
    const spent = requests.map((e) => e.refreshTokenFingerprint);
    expect(spent[0]).toBe(fingerprint(grant.refreshToken));
    expect(new Set(spent).size).toBe(spent.length); // never the same generation twice
    const generations = requests.length + 1;
    expect(generations).toBeGreaterThanOrEqual(4);

    // Every generation after the first reached the hub, in the order they were issued.
    const savedFps = sandbox.hub.storagePuts.filter((p) => p.id === gcs.id).map((p) => fingerprint(p.body.refreshToken));
    const distinctSaved = savedFps.filter((fp, i) => fp !== savedFps[i - 1]);
    const hubRefresh = sandbox.hub.getStorage(gcs.id)?.refreshToken;
    expect(distinctSaved).toEqual([...spent.slice(1), fingerprint(hubRefresh)]);
    // The last one is the live one: never spent, accepted by the provider.
    expect(spent).not.toContain(fingerprint(hubRefresh));
    expect(hubRefreshTokenStanding(sandbox.gcs, hubRefresh)).toEqual({ generation: generations, latestGeneration: generations, live: true });

    // Each rotation was journaled before use and left the journal once the hub had it.
    const refreshed = logsOf(worker, 'token refreshed');
    expect(refreshed).toHaveLength(requests.length);
    expect(refreshed.every((r) => r.rotated === true && r.journaled === true)).toBe(true);
    expect(await readdir(join(sandbox.dir, 'state-a', 'grants'))).toEqual([]);
    console.log('[rotation]', JSON.stringify({ generations, hubGeneration: generations, savesToHub: savedFps.length, jobDurationS: finishedRecord(worker, job.id)?.durationS }));
    expectNoSecretsLeaked(sandbox, [worker]);
  });
});
