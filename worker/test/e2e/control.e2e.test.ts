/**
 * The local control endpoint: liveness and readiness, status, abort → Cancelled, operator
 * stop/start — and the lock: without the token nothing changes.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { controlOf } from './control-support.js';
import { expectNoSecretsLeaked, JobState, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

describe('control endpoint', () => {
  it('refuses a running job abort without the token (the job runs on), aborts it with the token, and stops/resumes job processing', async () => {
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 50_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'carol', 'carol-e2e-password-3');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, 30, 20_000);
    const slow = sandbox.addRule('slow', { storage: laptop, path: source }, { storage: nextcloud, path: 'slow' });
    const quick = sandbox.addRule('quick', { storage: laptop, path: source }, { storage: laptop, path: join(sandbox.dir, 'quick') });

    const worker = sandbox.spawnWorker('a', { WORKER_CONTROL_PORT: '0' });
    const control = await controlOf(worker);
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    await expect.poll(async () => (await control.get('/readyz')).status, { timeout: 10_000 }).toBe(200);
    expect((await control.get('/healthz')).status).toBe(200);

    const job = sandbox.hub.createJob(slow.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
    const running = { state: 'Running', hubConnected: true, jobs: [expect.objectContaining({ id: job.id, phase: 'running' })] };
    expect((await control.get('/status')).body).toMatchObject(running);

    // Another local user, without the token or with a guess: refused, and the job runs on.
    expect((await control.post(`/jobs/${job.id}/abort`, null)).status).toBe(401);
    expect((await control.post(`/jobs/${job.id}/abort`, 'Bearer guessed-token-0123456789')).status).toBe(401);
    expect((await control.post('/stop', null)).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await control.get('/status')).body).toMatchObject(running);
    expect(terminalReports(sandbox, job.id)).toHaveLength(0);
    expect(worker.find((r) => r.msg === 'abort requested')).toHaveLength(0);

    expect((await control.post(`/jobs/${job.id}/abort`)).status).toBe(202);
    expect(await waitForTerminalReport(sandbox, job.id, 30_000)).toEqual([expect.objectContaining({ state: JobState.Cancelled })]);
    expect((await control.post('/jobs/999/abort')).status).toBe(404);

    // Operator stop: alive but not ready, no new job is taken; start resumes.
    expect((await control.post('/stop')).status).toBe(202);
    await expect.poll(async () => (await control.get('/healthz')).body.state, { timeout: 10_000 }).toBe('WaitStart');
    expect((await control.get('/healthz')).status).toBe(200);
    expect(await control.get('/readyz')).toMatchObject({ status: 503, body: { status: 'not-ready', state: 'WaitStart' } });
    const later = sandbox.hub.createJob(quick.id);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(terminalReports(sandbox, later.id)).toHaveLength(0);
    expect(sandbox.hub.job(later.id)?.owner).toBe('');
    expect((await control.post('/start')).status).toBe(202);
    expect(await waitForTerminalReport(sandbox, later.id, 30_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], [control.token]);
  }, 90_000);
});
