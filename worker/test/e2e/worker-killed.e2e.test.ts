/**
 * The worker process alone SIGKILLed mid-upload (OOM killer, `kill -9`): its rclone must die with
 * it, so that nothing more reaches the destination and the job, resumed by a new worker on the
 * same state directory, is never written by two rclones at once. Counted: rclone's life
 * after the kill, bytes at the stand-in after that, reports at the hub, files at the end.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuleOperation } from '../../../shared/hannibal.js';
import { makeTree, type WorkerProcess } from '../../../scripts/sandbox.js';
import { goneWithin, isLive, processesMentioning } from '../../../scripts/processes.js';
import { expectNoSecretsLeaked, JobState, logsOf, rcPasswordOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

/** The hub's heartbeat deadline in this test (Hannibal's is 120 s): the dead worker's job times out soon. */
const HEARTBEAT_DEADLINE_SECONDS = 4;

/** One rc call to the worker's current rclone, with the credentials from its environment. */
async function rcCall(worker: WorkerProcess, path: string, body: Record<string, unknown>): Promise<unknown> {
  const ready = worker.find((r) => r.msg === 'rclone ready').at(-1);
  const password = rcPasswordOf(ready?.rclonePid as number);
  const response = await fetch(`http://127.0.0.1:${String(ready?.port)}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`worker:${password ?? ''}`).toString('base64')}` },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return response.json();
}

describe('the worker SIGKILLed during an upload', () => {
  it('takes its rclone along at once: no byte arrives after, and the job, resumed by a new worker, finishes once with every file intact', { timeout: 180_000 }, async () => {
    const sandbox = await startSandbox({ hub: { heartbeatTimeoutSeconds: HEARTBEAT_DEADLINE_SECONDS } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'erin', 'erin-e2e-password-7');
    const source = join(sandbox.dir, 'src');
    // Three large files uploaded side by side (~12 s each): until one completes, rclone logs
    // nothing, so its broken stderr pipe cannot end it; only the parent-death signal can.
    // rclone itself is throttled (not the server, whose slow reading would only pile the bytes
    // up in loopback socket buffers): what the server has received is what rclone has sent.
    const files = await makeTree(source, 3, 600_000, 1);
    // The hub plans the rule's next job `minRetryTime` after a timed-out one (Hannibal's default: 15 min).
    const rule = sandbox.addRule('to nextcloud', { storage: laptop, path: source }, { storage: nextcloud, path: 'backup' }, RuleOperation.Copy, {
      minRetryTime: '00:00:01',
    });
    const stateDir = join(sandbox.dir, 'state-a');

    const first = sandbox.spawnWorker('a', { WORKER_HEARTBEAT_SECONDS: '1' });
    await first.waitForLog((r) => r.msg === 'rclone ready');
    const rclone = first.rclonePid()!;
    const rcPasswords = [rcPasswordOf(rclone) ?? ''];
    expect(first.find((r) => r.msg === 'rclone is ready').at(-1)?.diesWithWorker).toBe('setpriv');
    await rcCall(first, 'core/bwlimit', { rate: '150k' });
    const job = sandbox.hub.createJob(rule.id);
    await first.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
    await expect.poll(() => sandbox.webdav.stats.bytesReceived, { timeout: 30_000, interval: 50 }).toBeGreaterThan(100_000);
    expect(sandbox.webdav.files('erin').size).toBe(0);

    process.kill(first.pid!, 'SIGKILL');
    expect(await first.exited).toBeNull();
    // rclone logs nothing while it uploads; only the kernel (setpriv --pdeathsig) can end it this soon.
    expect(await goneWithin([rclone], 5_000)).toBe(true);
    expect(processesMentioning(stateDir)).toEqual([]);

    const bytesAtDeath = sandbox.webdav.stats.bytesReceived;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(sandbox.webdav.stats.bytesReceived).toBe(bytesAtDeath);
    expect(bytesAtDeath).toBeLessThan(3 * 600_000);
    expect(sandbox.webdav.files('erin').size).toBe(0);
    expect(terminalReports(sandbox, job.id)).toEqual([]);

    // A new worker on the same state directory resumes the job from its owned-jobs record
    // (jobs/owned-jobs.ts) before it asks for work: the same job, finished once, no hub timeout.
    const second = sandbox.spawnWorker('a', { WORKER_HEARTBEAT_SECONDS: '1', WORKER_ACQUIRE_POLL_SECONDS: '5' });
    await second.waitForLog((r) => r.component === 'machine' && r.to === 'Running');
    rcPasswords.push(rcPasswordOf(second.rclonePid()) ?? '');
    // The pidfile named a dead process: nothing was left to terminate.
    expect(logsOf(second, 'terminating an rclone left behind by a previous run')).toEqual([]);

    const reports = await waitForTerminalReport(sandbox, job.id, 120_000);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.DoneSuccess, owner: 'worker-a' })]);
    expect(logsOf(second, 'hub still has the job as ours; resuming it with a fresh run').map((r) => r.jobId)).toEqual([job.id]);
    expect(sandbox.hub.timeouts).toEqual([]);
    expect(sandbox.hub.jobs().filter((j) => j.fromRuleId === rule.id)).toHaveLength(1);
    expect(sandbox.hub.acquisitions.filter((a) => a.jobId === job.id)).toHaveLength(1);

    const stored = sandbox.webdav.files('erin');
    let intact = 0;
    for (const [rel, bytes] of files) if (stored.get(`backup/${rel}`)?.equals(bytes)) intact += 1;
    expect(intact).toBe(files.size);
    expect(stored.size).toBe(files.size);

    expect(await second.stop()).toBe(0);
    expect(isLive(rclone)).toBe(false);
    expect(processesMentioning(stateDir)).toEqual([]);
    expectNoSecretsLeaked(sandbox, [first, second], rcPasswords);
  });
});
