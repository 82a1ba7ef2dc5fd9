/**
 * `/metrics` of the worker process as users run it, scraped while real things happen: a job in
 * rclone, rclone SIGKILLed under it, the hub refusing the job's report, the hub going away.
 * Every figure is asserted to move as it should, and not to move when it should not.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTree } from '../../../scripts/sandbox.js';
import type { Exposition } from '../support/prometheus-text.js';
import { controlOf } from './control-support.js';
import { expectNoSecretsLeaked, JobState, logsOf, sandboxPerTest, terminalReports, waitForTerminalReport } from './support.js';

const startSandbox = sandboxPerTest();

/** The one machine state whose gauge is 1. */
function machineState(page: Exposition): string[] {
  return page.find('rclone_sync_worker_machine_state').filter((s) => s.value === 1).map((s) => s.labels.state ?? '');
}

describe('metrics', () => {
  it('follow a job through an rclone crash, a hub that refuses its report, and a hub that goes away', { timeout: 180_000 }, async () => {
    const sandbox = await startSandbox({ webdav: { bytesPerSecond: 50_000 } });
    const laptop = sandbox.addLocalStorage('laptop');
    const nextcloud = sandbox.addNextcloudStorage('nextcloud', 'carol', 'carol-e2e-password-3');
    const source = join(sandbox.dir, 'src');
    await makeTree(source, 30, 20_000);
    const rule = sandbox.addRule('slow', { storage: laptop, path: source }, { storage: nextcloud, path: 'slow' });

    const worker = sandbox.spawnWorker('a', { WORKER_CONTROL_PORT: '0' });
    const control = await controlOf(worker);
    await expect.poll(async () => (await control.get('/readyz')).status, { timeout: 30_000 }).toBe(200);

    // Idle and ready.
    let page = await control.metrics();
    expect(machineState(page)).toEqual(['Running']);
    expect(page.value('rclone_sync_worker_hub_signalr_connected')).toBe(1);
    expect(page.value('rclone_sync_worker_rclone_up')).toBe(1);
    expect(page.value('rclone_sync_worker_rclone_restarts_total', { cause: 'crash' })).toBe(0);
    expect(page.value('rclone_sync_worker_rc_call_duration_seconds_count', { path: 'rc/noop' })).toBeGreaterThanOrEqual(1);
    expect(page.value('rclone_sync_worker_hub_calls_total', { route: 'current-user' })).toBeGreaterThanOrEqual(1);
    expect(page.value('rclone_sync_worker_report_outbox_pending')).toBe(0);
    expect(page.sum('rclone_sync_worker_jobs')).toBe(0);
    expect(page.value('process_resident_memory_bytes')).toBeGreaterThan(0);

    // A job runs.
    const job = sandbox.hub.createJob(rule.id);
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id && r.run === 1);
    page = await control.metrics();
    expect(page.value('rclone_sync_worker_jobs', { phase: 'running' })).toBe(1);
    expect(page.value('rclone_sync_worker_rc_call_duration_seconds_count', { path: 'sync/copy' })).toBe(1);
    expect(page.value('rclone_sync_worker_hub_events_total', { event: 'NewJobAvailable' })).toBeGreaterThanOrEqual(1);
    expect(page.value('rclone_sync_worker_hub_calls_total', { route: 'acquire-next-job' })).toBeGreaterThanOrEqual(1);

    // rclone is SIGKILLed mid-job: one restart, the job runs again.
    const firstRclone = worker.rclonePid();
    expect(firstRclone).toBeDefined();
    process.kill(firstRclone!, 'SIGKILL');
    await worker.waitForLog((r) => r.msg === 'job started in rclone' && r.jobId === job.id && r.run === 2);
    expect(logsOf(worker, 'rclone ready')).toHaveLength(2);
    page = await control.metrics();
    expect(page.value('rclone_sync_worker_rclone_restarts_total', { cause: 'crash' })).toBe(1);
    expect(page.value('rclone_sync_worker_rclone_restarts_total', { cause: 'reauth' })).toBe(0);
    expect(machineState(page)).toEqual(['Running']);
    expect(page.value('rclone_sync_worker_jobs', { phase: 'running' })).toBe(1);
    expect(page.value('rclone_sync_worker_rc_call_duration_seconds_count', { path: 'sync/copy' })).toBe(2);

    // The hub refuses every REST call while the job ends: its report waits in the outbox.
    sandbox.hub.setRestOutage({ status: 503 });
    await worker.waitForLog((r) => r.msg === 'job finished' && r.jobId === job.id, 60_000);
    await expect.poll(async () => (await control.metrics()).value('rclone_sync_worker_report_outbox_pending'), { timeout: 10_000 }).toBe(1);
    page = await control.metrics();
    expect(page.value('rclone_sync_worker_hub_call_errors_total', { route: 'report-job', kind: 'http-5xx' })).toBeGreaterThanOrEqual(1);
    expect(page.sum('rclone_sync_worker_jobs')).toBe(0);
    expect(terminalReports(sandbox, job.id)).toHaveLength(0);

    // The hub takes reports again: the outbox drains, the job is reported once.
    sandbox.hub.setRestOutage(null);
    await expect.poll(async () => (await control.metrics()).value('rclone_sync_worker_report_outbox_pending'), { timeout: 90_000, interval: 500 }).toBe(0);
    expect(await waitForTerminalReport(sandbox, job.id, 5000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);

    // The hub goes away: SignalR is down; the worker is still ready (it polls for jobs).
    await sandbox.hub.close();
    await expect.poll(async () => (await control.metrics()).value('rclone_sync_worker_hub_signalr_connected'), { timeout: 30_000 }).toBe(0);
    expect(await control.get('/readyz')).toMatchObject({ status: 200, body: { checks: { signalr: false } } });
    expect((await control.metrics()).value('rclone_sync_worker_rclone_restarts_total', { cause: 'crash' })).toBe(1);

    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], [control.token]);
  });

  it('count a finished job once, by outcome, with the bytes and files it moved', { timeout: 90_000 }, async () => {
    const sandbox = await startSandbox();
    const laptop = sandbox.addLocalStorage('laptop');
    const source = join(sandbox.dir, 'src');
    const files = await makeTree(source, 20, 10_000);
    const rule = sandbox.addRule('quick', { storage: laptop, path: source }, { storage: laptop, path: join(sandbox.dir, 'copy') });
    const worker = sandbox.spawnWorker('a', { WORKER_CONTROL_PORT: '0' });
    const control = await controlOf(worker);
    await expect.poll(async () => (await control.get('/readyz')).status, { timeout: 30_000 }).toBe(200);
    expect((await control.metrics()).value('rclone_sync_worker_jobs_finished_total', { outcome: 'DoneSuccess' })).toBe(0);

    const job = sandbox.hub.createJob(rule.id);
    expect(await waitForTerminalReport(sandbox, job.id, 30_000)).toEqual([expect.objectContaining({ state: JobState.DoneSuccess })]);
    const bytes = [...files.values()].reduce((total, b) => total + b.length, 0);
    for (let scrape = 0; scrape < 2; scrape++) {
      const page = await control.metrics();
      expect(page.value('rclone_sync_worker_jobs_finished_total', { outcome: 'DoneSuccess' })).toBe(1);
      expect(page.sum('rclone_sync_worker_jobs_finished_total')).toBe(1);
      expect(page.value('rclone_sync_worker_job_transferred_bytes_total')).toBe(bytes);
      expect(page.value('rclone_sync_worker_job_transferred_files_total')).toBe(files.size);
      // Several poll cycles later, still counted once.
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
    expect(await worker.stop()).toBe(0);
    expectNoSecretsLeaked(sandbox, [worker], [control.token]);
  });
});
