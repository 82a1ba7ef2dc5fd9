/**
 * A new password for a Nextcloud (WebDAV) storage that no job uses is applied to the running
 * rclone by updating the remote in place: no restart, and the next job on that remote
 * authenticates with the new password even though rclone had a cached connection for the very
 * same path (issue: "Re-authentication is applied with the least disruption, never by a blind
 * restart").
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { fingerprint } from '../../src/log/fingerprint.js';
import { decisionsFor, isAlive, rcloneStarts, runsOf } from './reauth-support.js';
import { expectNoSecretsLeaked, JobState, rcPasswordOf, sandboxPerTest, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

describe('a Nextcloud password change', () => {
  it('updates an idle remote in place, and the next job uses the new password', { timeout: 120_000 }, async () => {
    const oldPassword = 'carol-e2e-password-old-1';
    const newPassword = 'carol-e2e-password-new-2';
    const sandbox = await startSandbox();
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'carol', oldPassword);
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 20, 5_000);
    const rule = sandbox.addRule('to nextcloud', { storage: laptop, path: source }, { storage: nextcloud, path: 'backup' });

    const worker = sandbox.spawnWorker('a');
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    const rclonePid = worker.rclonePid();
    const rcPassword = rcPasswordOf(rclonePid);

    // A first job leaves rclone with a cached connection to `nextcloud:backup` on the old password.
    const before = sandbox.hub.createJob(rule.id);
    expect(await waitForTerminalReport(sandbox, before.id, 60_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(sandbox.webdav.stats.byPasswordFingerprint.get(fingerprint(oldPassword))).toBeGreaterThan(0);

    sandbox.setWebdavPassword('carol', newPassword);
    sandbox.hub.updateStorage(nextcloud.id, { password: newPassword });
    const decision = await worker.waitForLog((r) => r.component === 'reauth' && r.storage === 'nextcloud');
    expect(decision.decision).toBe('remote-updated');
    expect(decision.msg).toMatch(/changed pass;/);
    expect(rcloneStarts(worker)).toBe(1);
    expect(isAlive(rclonePid)).toBe(true);

    // The next job writes new files to the same path.
    await mkdir(join(source, 'added'), { recursive: true });
    const added = new Map<string, Buffer>();
    for (let i = 0; i < 5; i++) {
      const rel = `added/file-${i}.bin`;
      const bytes = Buffer.from(`added after the password change ${i} `.repeat(200));
      await writeFile(join(source, rel), bytes);
      added.set(rel, bytes);
    }
    const usedBefore = new Map(sandbox.webdav.stats.byPasswordFingerprint);
    const unauthorizedBefore = sandbox.webdav.stats.unauthorized;
    const after = sandbox.hub.createJob(rule.id);
    expect(await waitForTerminalReport(sandbox, after.id, 60_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    // Every request of that job authenticated with the new password, none was refused.
    const usedByJob = [...sandbox.webdav.stats.byPasswordFingerprint]
      .map(([fp, count]) => [fp, count - (usedBefore.get(fp) ?? 0)] as const)
      .filter(([, count]) => count > 0);
    expect(usedByJob.map(([fp]) => fp)).toEqual([fingerprint(newPassword)]);
    expect(sandbox.webdav.stats.unauthorized).toBe(unauthorizedBefore);
    expect(runsOf(worker, after.id)).toHaveLength(1);

    // Still the same rclone, and the remote was changed exactly once.
    expect(rcloneStarts(worker)).toBe(1);
    expect(isAlive(rclonePid)).toBe(true);
    expect(decisionsFor(worker, 'nextcloud').map((r) => r.decision)).toEqual(['remote-updated']);
    const stored = sandbox.webdav.files('carol');
    for (const [rel, bytes] of [...files, ...added]) expect(stored.get(`backup/${rel}`)?.equals(bytes), rel).toBe(true);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], rcPassword ? [rcPassword] : []);
  });
});
