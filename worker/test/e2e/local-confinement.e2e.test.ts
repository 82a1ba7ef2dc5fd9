/**
 * Local paths confined (issue 9.6), end to end: a hub account names local endpoint paths that
 * escape the operator's root in every way rclone would follow — `..`, a symlink inside the root,
 * a source outside it, an on-the-fly `:local:` backend, and a path naming another remote — next
 * to one honest job. Real worker, real rclone, the stand-in hub. What is counted: files written
 * outside the root (must be 0), files read from outside it into the root (0), and one terminal
 * report per job, each refused one `DoneWithErrors` with its reason and one log line.
 */
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { expectNoSecretsLeaked, JobState, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

/** Every file (not directory) below `dir`, symlinks not followed. */
async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('local paths outside the roots', () => {
  it('end each job DoneWithErrors with one clear line, write nothing outside the root and read nothing from outside it', { timeout: 180_000 }, async () => {
    const sandbox = await startSandbox();
    const root = join(sandbox.dir, 'root');
    const outside = join(sandbox.dir, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'host-secret.txt'), 'not for the hub');
    const files = await makeTree(join(root, 'src'), 12, 2000);
    await symlink(outside, join(root, 'link'));
    const outsideBefore = await filesBelow(outside);

    const disk = sandbox.addLocalStorage('disk');
    const nextcloud = sandbox.addNextcloudStorage('nc', 'alice', 'alice-confine-password-1');
    const src = { storage: disk, path: join(root, 'src') };
    const rules = {
      honest: sandbox.addRule('honest', src, { storage: disk, path: join(root, 'backup') }),
      dotdot: sandbox.addRule('dot-dot', src, { storage: disk, path: `${root}/../outside/dotdot` }),
      symlink: sandbox.addRule('symlink', src, { storage: disk, path: join(root, 'link', 'via-link') }),
      steal: sandbox.addRule('steal', { storage: disk, path: outside }, { storage: disk, path: join(root, 'stolen') }),
      onTheFly: sandbox.addRule('on-the-fly backend', src, { storage: disk, path: `:local:${outside}/fly` }),
      otherRemote: sandbox.addRule('other remote', src, { storage: disk, path: `nc:${outside}/remote` }),
      // On a non-local storage everything after the remote's colon is a path on that remote: a WebDAV path, never the disk.
      remoteColon: sandbox.addRule('colon on webdav', src, { storage: nextcloud, path: `other:${outside}/webdav` }),
    };

    const worker = sandbox.spawnWorker('a', { WORKER_LOCAL_ROOTS: root });
    await worker.waitForLog((r) => r.msg === 'local storages confined to these roots (the state directory excluded)');
    await expect.poll(() => sandbox.hub.acquisitions.filter((a) => a.owner === 'worker-a').length, { timeout: 30_000, interval: 50 }).toBeGreaterThan(0);
    const jobs = Object.fromEntries(Object.entries(rules).map(([name, rule]) => [name, sandbox.hub.createJob(rule.id).id])) as Record<keyof typeof rules, number>;
    for (const id of Object.values(jobs)) await waitForTerminalReport(sandbox, id, 90_000);

    const reports = Object.fromEntries(Object.entries(jobs).map(([name, id]) => [name, terminalReports(sandbox, id)]));
    expect(reports.honest).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(reports.remoteColon).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    const refused = { dotdot: 'it contains ".."', symlink: 'is a symbolic link', steal: 'it is outside the allowed roots', onTheFly: 'a local path must be absolute', otherRemote: 'a local path must be absolute' };
    for (const [name, why] of Object.entries(refused)) {
      const [report, ...more] = reports[name] ?? [];
      expect(more).toEqual([]);
      expect(report).toMatchObject({ state: JobState.DoneWithErrors });
      expect(report?.reason).toMatch(/^local path refused: (source|destination) path .* refused: /);
      expect(report?.reason).toContain(why);
      const lines = worker.find((r) => r.jobId === jobs[name as keyof typeof jobs] && r.level >= 40);
      expect(lines.map((r) => r.msg)).toEqual(['job finished']);
    }

    const outsideAfter = await filesBelow(outside);
    const stolen = await filesBelow(join(root, 'stolen'));
    expect(await filesBelow(join(root, 'backup'))).toHaveLength(files.size);
    expect(sandbox.webdav.files('alice').size).toBe(files.size);
    console.log('[local confinement]', JSON.stringify({ refusedJobs: Object.keys(refused).length, writtenOutside: outsideAfter.length - outsideBefore.length, readFromOutside: stolen.length }));
    expect(outsideAfter).toEqual(outsideBefore);
    expect(stolen).toEqual([]);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker]);
  });
});
