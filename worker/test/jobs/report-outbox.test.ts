import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobState, type JobStatusReport, type ReportResult } from '../../../shared/hannibal.js';
import { HubError } from '../../src/errors.js';
import { ReportOutbox } from '../../src/jobs/report-outbox.js';
import { Deferred, recordingLogger, type LogRecord } from './job-runner-fakes.js';

const OWNER = 'worker-7f3a';
const report = (jobId: number, state: JobState = JobState.DoneSuccess, reason?: string): JobStatusReport => ({
  jobId,
  owner: OWNER,
  state,
  ...(reason ? { reason } : {}),
});

type Answer = ReportResult | Error | Deferred<ReportResult>;

/** The hub's `reportJob`: answers from a script, then `fallback`; records what was on disk at each call. */
class ScriptedHub {
  readonly calls: { report: JobStatusReport; onDisk: JobStatusReport[] | undefined }[] = [];
  readonly script: Answer[] = [];
  fallback: () => Answer = () => ({ status: 0 });

  constructor(private readonly file: string) {}

  async reportJob(r: JobStatusReport): Promise<ReportResult> {
    this.calls.push({ report: r, onDisk: readQueue(this.file) });
    const answer = this.script.shift() ?? this.fallback();
    if (answer instanceof Error) throw answer;
    if (answer instanceof Deferred) return answer.promise;
    return answer;
  }
}

function readQueue(file: string): JobStatusReport[] | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as JobStatusReport[];
  } catch {
    return undefined;
  }
}

const outage = () => new HubError('reportJob: connect ECONNREFUSED 127.0.0.1:5009', undefined);

let dir: string;
let file: string;
let hub: ScriptedHub;
let records: LogRecord[];
let outbox: ReportOutbox;

function newOutbox(): ReportOutbox {
  const log = recordingLogger();
  records = log.records;
  return new ReportOutbox({ hub, file, logger: log.logger, retry: { initialMs: 1000, maxMs: 8000 } });
}

beforeEach(() => {
  vi.useFakeTimers();
  // Full jitter at its ceiling: retry delays are exactly 1 s, 2 s, 4 s, 8 s, 8 s …
  vi.spyOn(Math, 'random').mockReturnValue(1);
  dir = mkdtempSync(join(tmpdir(), 'outbox-test-'));
  file = join(dir, 'pending-reports.json');
  hub = new ScriptedHub(file);
  outbox = newOutbox();
});

afterEach(() => {
  outbox.stop();
  vi.useRealTimers();
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const sentIds = () => hub.calls.map((c) => c.report.jobId);

describe('ReportOutbox', () => {
  it('writes a report to its 0600 file before sending it and removes it only once the hub answered', async () => {
    const answer = new Deferred<ReportResult>();
    hub.script.push(answer);

    await outbox.enqueue(report(1, JobState.DoneWithErrors, 'failed to copy 2 files'));

    expect(hub.calls).toHaveLength(1);
    expect(hub.calls[0]?.onDisk).toEqual([report(1, JobState.DoneWithErrors, 'failed to copy 2 files')]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // No answer yet: the report stays on disk.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(readQueue(file)).toEqual([report(1, JobState.DoneWithErrors, 'failed to copy 2 files')]);

    answer.resolve({ status: 0 });
    await expect.poll(() => readQueue(file)).toEqual([]);
    expect(outbox.pending()).toEqual([]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('keeps reports through a hub outage, retries with growing backoff, and delivers them later in order', async () => {
    let hubDown = true;
    hub.fallback = () => (hubDown ? outage() : { status: 0 });

    await outbox.enqueue(report(1));
    await outbox.enqueue(report(2, JobState.DoneFailure, 'directory not found'));
    await outbox.enqueue(report(3, JobState.Cancelled, 'aborted'));
    expect(sentIds()).toEqual([1]);
    expect(readQueue(file)?.map((r) => r.jobId)).toEqual([1, 2, 3]);

    for (const [attempt, delayMs] of [[2, 1000], [3, 2000], [4, 4000], [5, 8000], [6, 8000]] as const) {
      await vi.advanceTimersByTimeAsync(delayMs - 1);
      expect(hub.calls).toHaveLength(attempt - 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(hub.calls).toHaveLength(attempt);
    }
    expect(sentIds()).toEqual([1, 1, 1, 1, 1, 1]);
    expect(readQueue(file)?.map((r) => r.jobId)).toEqual([1, 2, 3]);
    expect(records.filter((r) => r.msg === 'could not report job; keeping it for later')).toHaveLength(6);

    hubDown = false;
    await vi.advanceTimersByTimeAsync(8000);
    await expect.poll(() => readQueue(file)).toEqual([]);
    expect(sentIds()).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 3]);
    expect(hub.calls.at(-2)?.report).toEqual(report(2, JobState.DoneFailure, 'directory not found'));
  });

  it('logs a report the hub answers with status -1 and drops it', async () => {
    hub.script.push({ status: -1 });

    await outbox.enqueue(report(1, JobState.DoneFailure, 'rclone crashed'));
    await outbox.enqueue(report(2));

    await expect.poll(() => readQueue(file)).toEqual([]);
    expect(sentIds()).toEqual([1, 2]);
    const warning = records.find((r) => r.jobId === 1 && r.status === -1);
    expect(warning).toMatchObject({ level: 40, state: 'DoneFailure' });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(sentIds()).toEqual([1, 2]);
  });

  it('drops a report the hub refuses permanently, with an error log, and goes on with the next', async () => {
    hub.script.push(new HubError('reportJob: HTTP 400 The JSON value could not be converted', 400, { permanent: true }));

    await outbox.enqueue(report(1));
    await outbox.enqueue(report(2));

    await expect.poll(() => readQueue(file)).toEqual([]);
    expect(sentIds()).toEqual([1, 2]);
    expect(records.find((r) => r.level === 50 && r.jobId === 1)).toMatchObject({ msg: 'hub refused the report; dropping it' });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(sentIds()).toEqual([1, 2]);
  });

  it('delivers on load() the reports a previous run left on disk, skipping malformed entries', async () => {
    writeFileSync(file, JSON.stringify([report(4, JobState.DoneFailure, 'worker shutting down'), { jobId: 'x' }, report(5)]), { mode: 0o600 });

    await outbox.load();

    await expect.poll(() => readQueue(file)).toEqual([]);
    expect(hub.calls.map((c) => c.report)).toEqual([report(4, JobState.DoneFailure, 'worker shutting down'), report(5)]);
  });

  it('starts empty on load() when the file is missing or unreadable', async () => {
    await outbox.load();
    expect(outbox.pending()).toEqual([]);
    expect(records.filter((r) => r.level >= 40)).toEqual([]);

    writeFileSync(file, '[{"jobId":4,', { mode: 0o600 });
    outbox = newOutbox();
    await outbox.load();
    expect(outbox.pending()).toEqual([]);
    expect(hub.calls).toEqual([]);
    expect(records.find((r) => r.level === 40)?.msg).toBe('pending reports file unreadable; starting empty');
  });

  it('flush(timeout) resolves false when the hub stays down and true once everything is delivered', async () => {
    expect(await outbox.flush(1000)).toBe(true);

    let hubDown = true;
    hub.fallback = () => (hubDown ? outage() : { status: 0 });
    await outbox.enqueue(report(1));
    await outbox.enqueue(report(2));

    const timedOut = outbox.flush(5000);
    // flush retries at once instead of waiting for the backoff timer.
    expect(hub.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await timedOut).toBe(false);
    expect(readQueue(file)?.map((r) => r.jobId)).toEqual([1, 2]);

    hubDown = false;
    // Resolves through delivery alone: no fake time passes, so its timeout cannot fire.
    expect(await outbox.flush(5000)).toBe(true);
    expect(outbox.pending()).toEqual([]);
    expect(readQueue(file)).toEqual([]);
  });
});
