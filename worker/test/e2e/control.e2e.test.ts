/**
 * The local control endpoint: health, status, abort → Cancelled, operator stop/start.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import { expectNoSecretsLeaked, JobState, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

async function call(port: number, method: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('control endpoint', () => {
  it('reports health and status, aborts a running job as Cancelled, and stops/resumes job processing', async () => {
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 50_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'carol', 'carol-e2e-password-3');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, 30, 20_000);
    const slow = sandbox.addRule('slow', { storage: laptop, path: source }, { storage: nextcloud, path: 'slow' });
    const quick = sandbox.addRule('quick', { storage: laptop, path: source }, { storage: laptop, path: join(sandbox.dir, 'quick') });

    const worker = sandbox.spawnWorker('a', { WORKER_CONTROL_PORT: '0' });
    const listening = await worker.waitForLog((r) => r.msg === 'control endpoint listening on 127.0.0.1');
    const port = listening.port as number;
    await worker.waitForLog((r) => r.msg === 'rclone ready');
    await expect.poll(async () => (await call(port, 'GET', '/healthz')).status, { timeout: 10_000 }).toBe(200);

    const job = sandbox.hub.createJob(slow.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id);
    const status = await call(port, 'GET', '/status');
    expect(status.body).toMatchObject({ state: 'Running', hubConnected: true, jobs: [expect.objectContaining({ id: job.id, phase: 'running' })] });

    expect((await call(port, 'POST', `/jobs/${job.id}/abort`)).status).toBe(202);
    const reports = await waitForTerminalReport(sandbox, job.id, 30_000);
    expect(reports).toEqual([expect.objectContaining({ state: JobState.Cancelled })]);
    expect((await call(port, 'POST', '/jobs/999/abort')).status).toBe(404);

    // Operator stop: no new job is taken; start resumes.
    expect((await call(port, 'POST', '/stop')).status).toBe(202);
    await expect.poll(async () => (await call(port, 'GET', '/healthz')).body.state, { timeout: 10_000 }).toBe('WaitStart');
    const later = sandbox.hub.createJob(quick.id);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(terminalReports(sandbox, later.id)).toHaveLength(0);
    expect(sandbox.hub.job(later.id)?.owner).toBe('');
    expect((await call(port, 'POST', '/start')).status).toBe(202);
    expect(await waitForTerminalReport(sandbox, later.id, 30_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker]);
  }, 90_000);
});
