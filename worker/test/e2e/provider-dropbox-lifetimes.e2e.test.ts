/**
 * Dropbox end to end (issue 8, items 4 and "What it must show"): a copy spanning six 20 s
 * access-token lifetimes, through the worker process, the real rclone in its default
 * `batch_mode=sync` reaching the Dropbox stand-in through the sandbox's TLS proxy
 * (api.dropboxapi.com, content.dropboxapi.com). Every new token reaches rclone without
 * `config/update`, which would shut the job's upload batcher down (research/
 * rclone-providers-lab.md Q4). The family's checks are in provider-support.ts; Dropbox adds that
 * nothing was lost to the batcher: every file committed exactly once, all through batches, no
 * session left uncommitted, and a later job on the same cached Fs.
 */
import { describe, expect, it } from 'vitest';
import { copyAcrossLifetimes, DROPBOX } from './provider-support.js';
import { JobState, sandboxPerTest, waitForTerminalReport } from './support.js';
import { expectOneRclone } from './tokens-support.js';

const TOKEN_LIFETIME_S = 20;

const startSandbox = sandboxPerTest();

describe('Dropbox: a copy across six token lifetimes', () => {
  it('commits every file exactly once on one rclone, tokens pushed live without touching its batcher', { timeout: 360_000 }, async () => {
    // 50 × 50 kB through a 20 kB/s link: at least 125 s.
    const options = { tokenLifetimeSeconds: TOKEN_LIFETIME_S, lifetimes: 6, bytesPerSecond: 20_000, fileCount: 50, fileSize: 50_000 };
    await copyAcrossLifetimes(startSandbox, DROPBOX, options, async ({ sandbox, worker, rule, files, rclonePid }) => {
      const dropbox = sandbox.dropbox!;
      for (const rel of files.keys()) expect(dropbox.fileStats(`/backup/photos/${rel}`)?.commits, rel).toBe(1);
      expect(dropbox.uncommittedSessions()).toEqual([]);
      expect(dropbox.stats.discardedUploadBytes).toBe(0);
      // rclone batched the commits (its default), so the batcher was alive for the whole job.
      expect(dropbox.stats.batchSizes.reduce((sum, n) => sum + n, 0)).toBe(files.size);
      expect(dropbox.stats.requestsByRoute.get('files/upload') ?? 0).toBe(0);

      // A new run on the same remote, once the token the cached Fs last used has expired: rclone
      // reuses its cached Fs, which re-reads the newest token at its first request.
      await new Promise((resolve) => setTimeout(resolve, TOKEN_LIFETIME_S * 1000));
      const again = sandbox.hub.createJob(rule.id);
      expect(await waitForTerminalReport(sandbox, again.id, 60_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
      expect(dropbox.stats.unauthorized).toBe(0);
      expect([...dropbox.stats.files.values()].every((f) => f.commits === 1)).toBe(true);
      expectOneRclone(worker, rclonePid);
      console.info(`[providers] dropbox lifetimes: ${dropbox.stats.batchSizes.length} batch commits of ${files.size} files; a second job on the cached Fs: DoneSuccess, 0 × 401`);
    });
  });
});
