/**
 * Bad input gets one clear line, nothing crashes, nothing else is affected (issue 9.8), end to
 * end: real worker, real rclone, the stand-in hub behind a front that rewrites chosen answers.
 * One worker meets, while honest jobs run beside them: storages whose values would break or
 * inject into rclone's config (a user name opening a section `[evil]` of type local, one adding a
 * `token =` line, an overlong host), a storage row of the wrong shape, a job on a storage the hub
 * no longer has, malformed acquire and heartbeat answers, and SignalR events with wrong
 * arguments. Counted: each honest job DoneSuccess with every file; each hostile one exactly one
 * DoneWithErrors; rclone's config never held the injected section or token; the worker process
 * stayed up and stopped cleanly.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { HubMethods, HubPaths, JobState } from '../../../shared/hannibal.js';
import { HubTamperFront } from './hub-tamper-front.js';
import { expectNoSecretsLeaked, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();
const fronts: HubTamperFront[] = [];

afterEach(async () => {
  await Promise.all(fronts.splice(0).map((f) => f.close()));
});

async function rcloneConfigs(stateDir: string): Promise<string[]> {
  const entries = await readdir(stateDir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile() && e.name === 'rclone.conf').map((e) => join(e.parentPath, e.name));
  return Promise.all(files.map((f) => readFile(f, 'utf8')));
}

describe('bad input from the hub', () => {
  it('is one clear line each; the worker stays up and every honest job completes', { timeout: 240_000 }, async () => {
    const sandbox = await startSandbox();
    const front = await HubTamperFront.start(sandbox.hub.url);
    fronts.push(front);

    const disk = sandbox.addLocalStorage('disk');
    const good = sandbox.addNextcloudStorage('ncgood', 'alice', 'alice-bad-input-password-1');
    sandbox.webdav.addUser('bob', 'bob-bad-input-password-1');
    const hostile = {
      section: sandbox.hub.addStorage({ technology: 'nextcloud', uriSchema: 'ncsection', host: sandbox.webdav.url, username: 'bob\n[evil]\ntype = local', password: 'bob-bad-input-password-1' }),
      token: sandbox.hub.addStorage({ technology: 'nextcloud', uriSchema: 'nctoken', host: sandbox.webdav.url, username: 'bob\ntoken = {"access_token":"injected-token"}', password: 'bob-bad-input-password-1' }),
      long: sandbox.hub.addStorage({ technology: 'nextcloud', uriSchema: 'nclong', host: `${sandbox.webdav.url}/${'x'.repeat(5000)}`, username: 'bob', password: 'bob-bad-input-password-1' }),
    };
    const gone = sandbox.addLocalStorage('gone');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 10, 3000);
    const src = { storage: disk, path: source };
    const rules = {
      local: sandbox.addRule('local', src, { storage: disk, path: join(sandbox.dir, 'copy') }),
      webdav: sandbox.addRule('webdav', src, { storage: good, path: 'backup' }),
      section: sandbox.addRule('section', src, { storage: hostile.section, path: 'x' }),
      token: sandbox.addRule('token', src, { storage: hostile.token, path: 'x' }),
      long: sandbox.addRule('long', src, { storage: hostile.long, path: 'x' }),
      gone: sandbox.addRule('gone', src, { storage: gone, path: join(sandbox.dir, 'gone') }),
    };

    // The storage disappears from the hub after its rule was made: the job names a storage that does not exist.
    sandbox.hub.removeStorage(gone.id);
    // Every storages answer carries a row of the wrong shape; the first acquisitions and heartbeats are answered with garbage.
    const badRow = front.tamper({ method: 'GET', path: HubPaths.storages, times: 1000, rewrite: (body) => body.replace(/^\[/, '[{"id":77,"technology":"gcs","uriSchema":"g77","accessToken":{"leak":"row-secret-77"}},') });
    // "No job" (404) answered 200 with garbage: a body that is not JSON, then a job without a usable id.
    const garbage = ['<html>502 Bad Gateway</html>', '{"id":"seven","operation":1}'];
    const acquire = front.tamper({ method: 'POST', path: HubPaths.acquireNextJob, status: 404, times: 2, rewrite: () => garbage.shift() ?? '' });
    const heartbeats = front.tamper({ method: 'POST', path: HubPaths.reportJob, when: (b) => b.includes('"state":2'), times: 3, rewrite: () => '{"status":"fine"}' });

    const worker = sandbox.spawnWorker('a', { HANNIBAL_URL: front.url, HANNIBAL_SIGNALR_URL: sandbox.hub.url, WORKER_HEARTBEAT_SECONDS: '1', WORKER_ACQUIRE_POLL_SECONDS: '5' });
    await worker.waitForLog((r) => r.msg === 'connected to the hub', 60_000);
    await expect.poll(() => sandbox.hub.acquisitions.filter((a) => a.owner === 'worker-a').length, { timeout: 30_000, interval: 50 }).toBeGreaterThan(0);

    const jobs: Record<string, number> = {};
    for (const [name, rule] of Object.entries(rules)) jobs[name] = sandbox.hub.createJob(rule.id).id;
    // Wrong arguments on every event the worker listens to.
    sandbox.hub.broadcast(HubMethods.storageReauthenticated, { uriSchema: 'ncgood', accessToken: 'event-secret-1' });
    sandbox.hub.broadcast(HubMethods.storageReauthenticated);
    sandbox.hub.broadcast(HubMethods.jobUpdated, 'seven', 5);
    sandbox.hub.broadcast(HubMethods.newJobAvailable, { unexpected: true }, 42);

    for (const id of Object.values(jobs)) await waitForTerminalReport(sandbox, id, 150_000);
    const reports = Object.fromEntries(Object.entries(jobs).map(([name, id]) => [name, terminalReports(sandbox, id)]));
    expect(reports.local).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(reports.webdav).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    expect(sandbox.webdav.files('alice').size).toBe(files.size);
    const reasons: Record<string, string> = {
      section: 'username contains a line break',
      token: 'username contains a line break',
      long: 'is longer than 4096 characters',
      gone: 'is unknown to the hub',
    };
    for (const [name, says] of Object.entries(reasons)) {
      expect(reports[name]).toEqual([expect.objectContaining({ state: JobState.DoneWithErrors })]);
      expect(reports[name]?.[0]?.reason).toContain(says);
    }
    // Nothing reached bob's WebDAV account through a hostile storage, nor rclone's config.
    expect(sandbox.webdav.files('bob').size).toBe(0);
    for (const config of await rcloneConfigs(join(sandbox.dir, 'state-a'))) {
      expect(config).not.toContain('[evil]');
      expect(config).not.toContain('injected-token');
    }

    // One clear line per problem, never its secret value.
    const lines = {
      malformedRow: worker.find((r) => r.msg.startsWith('storage row from the hub is malformed')).length,
      acquireErrors: worker.find((r) => r.level >= 40 && typeof r.reason === 'string' && r.reason.includes('acquireNextJob')).length,
      badEvents: worker.find((r) => r.msg === 'StorageReauthenticated without a usable uriSchema; ignored').length,
    };
    expect(badRow.rewritten).toBeGreaterThan(1);
    expect(lines.malformedRow).toBe(1);
    expect(acquire.rewritten).toBe(2);
    expect(lines.acquireErrors).toBe(acquire.rewritten);
    expect(heartbeats.rewritten).toBeGreaterThan(0);
    expect(worker.find((r) => r.msg === 'heartbeat failed' && String(r.reason).startsWith('hub reportJob answered'))).toHaveLength(heartbeats.rewritten);
    expect(lines.badEvents).toBe(2);
    console.log('[bad input]', JSON.stringify({ honestJobsDone: 2, hostileJobsDoneWithErrors: Object.keys(reasons).length, filesCopied: sandbox.webdav.files('alice').size, ...lines, rewrittenAnswers: badRow.rewritten + acquire.rewritten + heartbeats.rewritten }));

    expect(worker.find((r) => r.level >= 60)).toEqual([]);
    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], ['row-secret-77', 'event-secret-1', 'injected-token']);
  });
});
