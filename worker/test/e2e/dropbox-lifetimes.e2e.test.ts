/**
 * A Dropbox copy that outlives many access tokens, end to end (issue 8, item 4): the worker
 * process, the real rclone in its default `batch_mode=sync` reaching the Dropbox stand-in
 * through the TLS proxy, 20 s tokens and a throttled link. Every new token reaches rclone
 * without `config/update` (which would shut the job's upload batcher down, research/
 * rclone-providers-lab.md Q4); nothing may be lost: every file committed exactly once, byte for
 * byte, no byte sent twice, no session left uncommitted.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import type { DropboxStandin } from '../../../scripts/standins/dropbox/server.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';
import { expectOneRclone, finishedRecord } from './tokens-support.js';

const TOKEN_LIFETIME_S = 20;

const startSandbox = sandboxPerTest();

function tokensUsed(dropbox: DropboxStandin): Map<string, number> {
  return new Map(dropbox.stats.requestsByAccessToken);
}

describe('a Dropbox job lasting many access-token lifetimes', () => {
  it('commits every file exactly once on one rclone, tokens pushed live without touching its batcher', { timeout: 360_000 }, async () => {
    // 50 × 50 kB through a 20 kB/s link: at least 125 s, over 6 token lifetimes.
    const sandbox = await startSandbox({ dropbox: { tokenLifetimeSeconds: TOKEN_LIFETIME_S, bytesPerSecond: 20_000 } });
    const dropbox = sandbox.dropbox!;
    const laptop = sandbox.addLocalStorage('laptop');
    const { storage: box } = sandbox.addDropboxStorage('dropbox');
    const source = join(sandbox.dir, 'photos');
    const files = await makeTree(source, 50, 50_000);
    const rule = sandbox.addRule('photos to dropbox', { storage: laptop, path: source }, { storage: box, path: 'backups/photos' });

    const worker = sandbox.spawnWorker('a', { TOKEN_REFRESH_THRESHOLD_SECONDS: '5', WORKER_HEARTBEAT_SECONDS: '5' });
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);
    const before = tokensUsed(dropbox);

    const job = sandbox.hub.createJob(rule.id);
    const reports = await waitForTerminalReport(sandbox, job.id, 300_000);

    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    const finished = finishedRecord(worker, job.id);
    expect(finished?.durationS).toBeGreaterThanOrEqual(6 * TOKEN_LIFETIME_S);
    expect(finished?.runs).toBe(1);

    // Every file committed exactly once, byte for byte; no byte sent twice, no session wasted.
    const stored = dropbox.files();
    for (const [rel, bytes] of files) {
      const path = `/backups/photos/${rel}`;
      expect(stored.get(path)?.equals(bytes), path).toBe(true);
      expect(dropbox.fileStats(path), path).toEqual({ bytesReceived: bytes.length, sessions: 1, commits: 1 });
    }
    expect(stored.size).toBe(files.size);
    expect(dropbox.uncommittedSessions()).toEqual([]);
    expect(dropbox.stats.discardedUploadBytes).toBe(0);
    // rclone batched the commits (its default), so the batcher was alive for the whole job.
    expect(dropbox.stats.batchSizes.reduce((sum, n) => sum + n, 0)).toBe(files.size);
    expect(dropbox.stats.requestsByRoute.get('files/upload') ?? 0).toBe(0);
    expect(worker.find((r) => r.component === 'rclone' && r.level >= 50)).toEqual([]);

    expectOneRclone(worker, rclonePid);
    expect(dropbox.stats.unauthorized).toBe(0);
    expect(dropbox.stats.tokenRequestsByRclone).toBe(0);
    expect(dropbox.tokenLog.every((entry) => entry.userAgent === 'rclone-sync-worker' && entry.status === 200)).toBe(true);

    // The running rclone adopted at least six pushed tokens during the one run.
    const used = [...dropbox.stats.requestsByAccessToken].filter(([fp, n]) => n > (before.get(fp) ?? 0)).map(([fp]) => fp);
    expect(used.length).toBeGreaterThanOrEqual(6);
    expect(logsOf(worker, 'token pushed to rclone').length).toBeGreaterThanOrEqual(6);
    expect(terminalReports(sandbox, job.id)).toHaveLength(1);

    // A new run on the same remote, once the token the cached Fs last used has expired: rclone
    // reuses its cached Fs, which re-reads the newest token at its first request.
    await new Promise((resolve) => setTimeout(resolve, TOKEN_LIFETIME_S * 1000));
    const again = sandbox.hub.createJob(rule.id);
    expect(await waitForTerminalReport(sandbox, again.id, 60_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(dropbox.stats.unauthorized).toBe(0);
    expect([...dropbox.stats.files.values()].every((f) => f.commits === 1)).toBe(true);
    expectOneRclone(worker, rclonePid);

    // The figures behind the README's claim, in the test output.
    console.info(
      `dropbox e2e: job ${String(finished?.durationS)} s, ${used.length} access tokens used, ${logsOf(worker, 'token pushed to rclone').length} pushes, ` +
        `${dropbox.stats.batchSizes.length} batch commits, ${dropbox.stats.unauthorized} × 401, ${dropbox.stats.tokenRequestsByRclone} token requests by rclone`,
    );
    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
