/**
 * No grant lost to a crash (issue 9.1), end to end: the GCS stand-in invalidates each refresh
 * token the moment it is used (strict rotation), so a rotated refresh token that only the dead
 * worker knew would leave the storage needing re-authentication. The worker is SIGKILLed at the
 * worst instants — after the provider answered and before the hub stored the new grant (the
 * hub's `PUT /storages` held by a stalling proxy), and after the journal write but before the
 * token reached rclone (rclone stopped) — and started again on the same state directory.
 */
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/log/fingerprint.js';
import type { JournaledGrant } from '../../src/tokens/grant-journal.js';
import { JOURNAL_SANDBOX, journalWorld, type JournalWorld } from './grant-journal-support.js';
import { expectNoSecretsLeaked, JobState, logsOf, sandboxPerTest, waitForTerminalReport } from './support.js';
import { hubRefreshTokenStanding, loggedAt, sameObjects, workerTokenRequests } from './tokens-support.js';

const HEARTBEAT_TIMEOUT_S = 4;

const startSandbox = sandboxPerTest();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const world = async (): Promise<JournalWorld> => journalWorld(await startSandbox({ ...JOURNAL_SANDBOX, hub: { heartbeatTimeoutSeconds: HEARTBEAT_TIMEOUT_S } }));

/**
 * Restarts on the same state dir, runs a new job of the rule (the hub failed the killed run's
 * job by its heartbeat deadline, as Hannibal does; its scheduler would create the next one) and
 * checks what survived: the journaled grant reached the hub, no token request was refused,
 * every file arrived, the hub ends with the live refresh token, and the journal is empty.
 */
async function restartAndCount(w: JournalWorld, killedAt: number, journaled: JournaledGrant): Promise<Record<string, number | string>> {
  const { sandbox, gcs } = w;
  const worker = w.spawn();
  const recovered = await worker.waitForLog((r) => r.msg === 'recovered a rotated grant from the journal that the hub does not have; using it and saving it to the hub');
  const ready = await worker.waitForLog((r) => r.msg === 'rclone ready');
  // The journaled grant (or a refresh of it already) reaches the hub.
  await expect.poll(() => sandbox.hub.storagePuts.some((p) => p.id === gcs.id && p.at > killedAt), { timeout: 15_000 }).toBe(true);
  const firstSaveAt = sandbox.hub.storagePuts.find((p) => p.id === gcs.id && p.at > killedAt)?.at ?? 0;

  await sleep(HEARTBEAT_TIMEOUT_S * 1000 + 500);
  const job = sandbox.hub.createJob(w.ruleId);
  const reports = await waitForTerminalReport(sandbox, job.id, 120_000);
  expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
  expect(sameObjects(sandbox.gcs, 'backups', 'docs', w.files)).toBe(w.files.size);

  // The first request after the restart spent the journaled refresh token; none was refused.
  const requests = workerTokenRequests(sandbox.gcs);
  const afterRestart = requests.filter((e) => e.at > killedAt);
  expect(afterRestart.length).toBeGreaterThan(0);
  expect(afterRestart[0]?.refreshTokenFingerprint).toBe(fingerprint(journaled.refreshToken));
  expect(requests.map((e) => e.status).filter((s) => s !== 200)).toEqual([]);
  expect(worker.find((r) => r.msg === 'token refresh failed' || r.msg.endsWith('no further token requests for this storage until the hub brings new credentials'))).toEqual([]);

  expect(await worker.stop()).toBe(0);
  await expect.poll(() => w.journaled()).toBeUndefined();
  // The hub holds the last refresh token issued: never spent, and alive at the provider.
  const hubRefresh = sandbox.hub.getStorage(gcs.id)?.refreshToken;
  const spent = new Set(requests.map((e) => e.refreshTokenFingerprint));
  expect(spent.has(fingerprint(hubRefresh))).toBe(false);
  const standing = hubRefreshTokenStanding(sandbox.gcs, hubRefresh);
  expect(standing).toMatchObject({ live: true, generation: standing?.latestGeneration });
  expectNoSecretsLeaked(sandbox, [worker]);
  return {
    restartToRecoveredMs: loggedAt(recovered) - killedAt,
    restartToRcloneReadyMs: loggedAt(ready) - killedAt,
    killToHubSaveMs: firstSaveAt - killedAt,
    generationsBeforeKill: requests.filter((e) => e.at <= killedAt).length + 1,
    generationsAtEnd: requests.length + 1,
    hubGeneration: standing?.generation ?? 0,
  };
}

describe('a rotated refresh token survives a SIGKILL of the worker', () => {
  it('killed after the provider answered and before the hub stored the grant: the restart saves it, nothing is refused', { timeout: 240_000 }, async () => {
    const w = await world();
    const { sandbox, gcs, proxy } = w;
    const { worker: first } = await w.startJob();

    // The next save of the storage is held at the proxy: it comes after the next proactive
    // refresh, which the provider answers with a new refresh token, invalidating the old one.
    const hubRefreshBefore = sandbox.hub.getStorage(gcs.id)?.refreshToken;
    const held = proxy.hold('PUT', w.putPath);
    const { at: saveHeldAt } = await held.arrived;
    const answered = workerTokenRequests(sandbox.gcs).at(-1);
    expect(answered).toMatchObject({ status: 200, refreshTokenFingerprint: fingerprint(hubRefreshBefore) });
    process.kill(first.pid ?? 0, 'SIGKILL');
    const killedAt = Date.now();
    await first.exited;

    // What the crash left: the hub holds a refresh token the provider has already invalidated;
    // the only live one is in the journal (0600), and the hub never received it.
    const journaled = await w.journaled();
    expect(journaled).toBeDefined();
    const grant = journaled as JournaledGrant;
    expect(grant.supersededRefreshTokens[0]).toBe(hubRefreshBefore);
    expect(sandbox.hub.getStorage(gcs.id)?.refreshToken).toBe(hubRefreshBefore);
    expect(sandbox.hub.storagePuts.some((p) => p.body.refreshToken === grant.refreshToken)).toBe(false);
    await first.waitForLog((r) => r.msg === 'token refreshed' && r.rotated === true && r.journaled === true && r.tokenFp === fingerprint(grant.accessToken));
    held.release();

    const figures = await restartAndCount(w, killedAt, grant);
    console.log('[grant journal, kill before hub save]', JSON.stringify({ refreshToKillMs: killedAt - (answered?.at ?? 0), saveHeldToKillMs: killedAt - saveHeldAt, ...figures }));
    expectNoSecretsLeaked(sandbox, [first]);
  });

  it('killed after the journal write and before the token reached rclone: the restart saves it, nothing is refused', { timeout: 240_000 }, async () => {
    const w = await world();
    const { sandbox, gcs } = w;
    const { worker: first } = await w.startJob();
    const rclonePid = first.rclonePid() ?? 0;
    await expect.poll(() => w.journaled(), { timeout: 10_000 }).toBeUndefined();
    const hubRefreshBefore = sandbox.hub.getStorage(gcs.id)?.refreshToken;

    // rclone stopped: the push of the next token (a config/update over rc) cannot complete, and
    // the hub save only starts after it. The kill follows the journal write.
    process.kill(rclonePid, 'SIGSTOP');
    const putsBefore = sandbox.hub.storagePuts.length;
    let grant: JournaledGrant | undefined;
    await expect
      .poll(
        async () => {
          grant = await w.journaled();
          return grant?.refreshToken;
        },
        { timeout: 30_000, interval: 10 },
      )
      .toBeDefined();
    process.kill(first.pid ?? 0, 'SIGKILL');
    const killedAt = Date.now();
    await first.exited;
    // Stopped, it cannot act on the signal its dead parent left it; end it (it may be gone already).
    try {
      process.kill(rclonePid, 'SIGKILL');
    } catch {
      // ESRCH: already gone
    }

    const journaled = grant as JournaledGrant;
    expect(workerTokenRequests(sandbox.gcs).at(-1)).toMatchObject({ status: 200, refreshTokenFingerprint: fingerprint(hubRefreshBefore) });
    expect(journaled.supersededRefreshTokens[0]).toBe(hubRefreshBefore);
    expect(logsOf(first, 'token pushed to rclone').filter((r) => r.tokenFp === fingerprint(journaled.accessToken))).toEqual([]);
    expect(sandbox.hub.storagePuts.length).toBe(putsBefore);
    expect(sandbox.hub.getStorage(gcs.id)?.refreshToken).toBe(hubRefreshBefore);

    const figures = await restartAndCount(w, killedAt, journaled);
    console.log('[grant journal, kill before push]', JSON.stringify(figures));
    expectNoSecretsLeaked(sandbox, [first]);
  });
});
