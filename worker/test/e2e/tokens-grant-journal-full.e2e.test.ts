/**
 * The grant journal on a full disk (issue 9.1, 9.8), end to end: the journal's directory is a
 * tiny tmpfs filled to the last byte mid-job, so the next rotated refresh token cannot be
 * journaled (ENOSPC) while the rest of the state directory (rclone.conf) still works. Needs root
 * for `mount`; skipped otherwise.
 *
 * What must hold: the failure is said loudly at once, the rotated token is still used (the
 * provider has already invalidated the old one), and the hub save that follows is the grant's
 * durable home. If the worker also crashes before the hub has it, the grant is lost — the test
 * counts that too, and that the log had said so before the crash.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/log/fingerprint.js';
import { JOURNAL_SANDBOX, journalWorld, type JournalWorld } from './grant-journal-support.js';
import { expectNoSecretsLeaked, JobState, logsOf, sandboxPerTest, waitForTerminalReport } from './support.js';
import { hubRefreshTokenStanding, loggedAt, sameObjects, workerTokenRequests } from './tokens-support.js';

const run = promisify(execFile);
const startSandbox = sandboxPerTest();

const JOURNAL_FAILED = 'could not journal a rotated refresh token: until the hub stores it, its only copy is in memory and a crash would lose the grant; using it and saving it to the hub now';

/** The journal world with a 64 KiB tmpfs mounted where worker a keeps its journal; undefined when mounting is not allowed. */
async function world(): Promise<JournalWorld | undefined> {
  const sandbox = await startSandbox(JOURNAL_SANDBOX);
  const w = await journalWorld(sandbox);
  await mkdir(w.grantsDir, { recursive: true, mode: 0o700 });
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', w.grantsDir]);
  } catch {
    await w.proxy.close();
    return undefined;
  }
  return w;
}

/** Fills the tmpfs: every further write in it fails with ENOSPC. */
async function fill(dir: string): Promise<void> {
  await run('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k']).catch(() => undefined);
}

async function unmount(w: JournalWorld): Promise<void> {
  await w.proxy.close();
  await run('umount', ['-l', w.grantsDir]).catch(() => undefined);
}

describe('a rotated refresh token when the journal cannot be written (ENOSPC)', () => {
  it('is used, said loudly, and saved to the hub at once: the grant survives and the job succeeds', { timeout: 240_000 }, async (ctx) => {
    const w = await world();
    if (!w) {
      ctx.skip();
      return;
    }
    const { sandbox, gcs } = w;
    try {
      const { worker, jobId } = await w.startJob();
      await worker.waitForLog((r) => r.msg === 'token saved to the hub');
      await fill(w.grantsDir);
      const filledAt = Date.now();

      const alarm = await worker.waitForLog((r) => r.msg === JOURNAL_FAILED && loggedAt(r) > filledAt, 30_000);
      expect(alarm).toMatchObject({ level: 50, storage: 'gcs', errno: 'ENOSPC' });
      const refreshed = await worker.waitForLog((r) => r.msg === 'token refreshed' && r.journaled === false);
      const saved = await worker.waitForLog((r) => r.msg === 'token saved to the hub' && loggedAt(r) >= loggedAt(refreshed));

      const reports = await waitForTerminalReport(sandbox, jobId, 120_000);
      expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
      expect(sameObjects(sandbox.gcs, 'backups', 'docs', w.files)).toBe(w.files.size);
      const requests = workerTokenRequests(sandbox.gcs);
      expect(requests.map((e) => e.status).filter((s) => s !== 200)).toEqual([]);
      expect(await worker.stop()).toBe(0);

      const hubRefresh = sandbox.hub.getStorage(gcs.id)?.refreshToken;
      expect(requests.some((e) => e.refreshTokenFingerprint === fingerprint(hubRefresh))).toBe(false);
      const standing = hubRefreshTokenStanding(sandbox.gcs, hubRefresh);
      expect(standing).toMatchObject({ live: true, generation: standing?.latestGeneration });
      console.log(
        '[grant journal full]',
        JSON.stringify({ refreshToHubSaveMs: loggedAt(saved) - loggedAt(refreshed), journalFailures: logsOf(worker, JOURNAL_FAILED).length, generations: requests.length + 1, hubHoldsLatest: true }),
      );
      expectNoSecretsLeaked(sandbox, [worker]);
    } finally {
      await unmount(w);
    }
  });

  it('is lost if the worker also dies before the hub has it — and the log said so before the crash', { timeout: 240_000 }, async (ctx) => {
    const w = await world();
    if (!w) {
      ctx.skip();
      return;
    }
    const { sandbox, gcs, proxy } = w;
    try {
      const { worker: first } = await w.startJob();
      await first.waitForLog((r) => r.msg === 'token saved to the hub');
      const hubRefreshBefore = sandbox.hub.getStorage(gcs.id)?.refreshToken;
      await fill(w.grantsDir);
      const held = proxy.hold('PUT', w.putPath);
      await held.arrived;
      const alarm = await first.waitForLog((r) => r.msg === JOURNAL_FAILED);
      process.kill(first.pid ?? 0, 'SIGKILL');
      const killedAt = Date.now();
      await first.exited;
      held.release();
      expect(loggedAt(alarm)).toBeLessThan(killedAt);

      // The hub's refresh token is the one the provider invalidated; the new one died with the worker.
      expect(sandbox.hub.getStorage(gcs.id)?.refreshToken).toBe(hubRefreshBefore);
      const second = w.spawn();
      const breaker = await second.waitForLog((r) => r.msg.endsWith('no further token requests for this storage until the hub brings new credentials'), 60_000);
      const refused = workerTokenRequests(sandbox.gcs).filter((e) => e.at > killedAt);
      expect(refused[0]).toMatchObject({ status: 400, refreshTokenFingerprint: fingerprint(hubRefreshBefore) });
      expect(refused).toHaveLength(1); // the breaker stops further requests
      console.log('[grant journal full + crash]', JSON.stringify({ grantsSurvived: 0, alarmBeforeKillMs: killedAt - loggedAt(alarm), restartToBreakerMs: loggedAt(breaker) - killedAt }));
      expectNoSecretsLeaked(sandbox, [first, second]);
    } finally {
      await unmount(w);
    }
  });
});
