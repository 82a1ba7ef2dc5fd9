import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobState, type JobStatusReport, type ReportResult } from '../../../shared/hannibal.js';
import { HubError } from '../../src/errors.js';
import { ReportOutbox } from '../../src/jobs/report-outbox.js';
import { Deferred, recordingLogger, type LogRecord } from './job-runner-fakes.js';

/** A disk that fills up: while `full`, every durable write fails as a full state directory does. */
const disk = vi.hoisted(() => ({ full: false }));
vi.mock('../../src/util/durable-file.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/util/durable-file.js')>();
  return {
    ...actual,
    writeFileDurable: async (path: string, data: string, mode?: number) => {
      if (disk.full) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC' });
      return actual.writeFileDurable(path, data, mode);
    },
  };
});

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
  readonly calls: { report: JobStatusReport; onDisk: JobStatusReport[] }[] = [];
  readonly script: Answer[] = [];
  fallback: () => Answer = () => ({ status: 0 });

  constructor(private readonly dir: string) {}

  async reportJob(r: JobStatusReport): Promise<ReportResult> {
    this.calls.push({ report: r, onDisk: readStored(this.dir) });
    const answer = this.script.shift() ?? this.fallback();
    if (answer instanceof Error) throw answer;
    if (answer instanceof Deferred) return answer.promise;
    return answer;
  }
}

/** The reports stored in the outbox directory, oldest first (by job id when stored in the same ms). */
function readStored(dir: string): JobStatusReport[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as { storedAt: number; report: JobStatusReport })
    .sort((a, b) => a.storedAt - b.storedAt || a.report.jobId - b.report.jobId)
    .map((r) => r.report);
}

const outage = () => new HubError('reportJob: connect ECONNREFUSED 127.0.0.1:5009', undefined);

let root: string;
let dir: string;
let hub: ScriptedHub;
let records: LogRecord[];
let outbox: ReportOutbox;

function newOutbox(options: { legacyFile?: string } = {}): ReportOutbox {
  const log = recordingLogger();
  records = log.records;
  return new ReportOutbox({ hub, dir, ...options, logger: log.logger, retry: { initialMs: 1000, maxMs: 8000 }, storeRetry: { initialMs: 1000, maxMs: 4000 } });
}

beforeEach(() => {
  vi.useFakeTimers();
  // Full jitter at its ceiling: retry delays are exactly 1 s, 2 s, 4 s, 8 s, 8 s …
  vi.spyOn(Math, 'random').mockReturnValue(1);
  disk.full = false;
  root = mkdtempSync(join(tmpdir(), 'outbox-test-'));
  dir = join(root, 'reports');
  hub = new ScriptedHub(dir);
  outbox = newOutbox();
});

afterEach(() => {
  outbox.stop();
  vi.useRealTimers();
  vi.restoreAllMocks();
  rmSync(root, { recursive: true, force: true });
});

const sentIds = () => hub.calls.map((c) => c.report.jobId);

describe('ReportOutbox', () => {
  it('stores a report in its own 0600 file (0700 directory) before sending it and removes it only once the hub answered', async () => {
    const answer = new Deferred<ReportResult>();
    hub.script.push(answer);

    expect(await outbox.store(report(1, JobState.DoneWithErrors, 'failed to copy 2 files'))).toBe(true);

    expect(hub.calls).toHaveLength(1);
    expect(hub.calls[0]?.onDisk).toEqual([report(1, JobState.DoneWithErrors, 'failed to copy 2 files')]);
    const [name] = readdirSync(dir);
    expect(statSync(join(dir, name ?? '')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // No answer yet: the report stays on disk.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(readStored(dir)).toEqual([report(1, JobState.DoneWithErrors, 'failed to copy 2 files')]);

    answer.resolve({ status: 0 });
    await expect.poll(() => readdirSync(dir)).toEqual([]);
    expect(outbox.pending()).toEqual([]);
  });

  it('keeps reports through a hub outage, retries with growing backoff, and delivers them later in order', async () => {
    let hubDown = true;
    hub.fallback = () => (hubDown ? outage() : { status: 0 });

    await outbox.store(report(1));
    await outbox.store(report(2, JobState.DoneFailure, 'directory not found'));
    await outbox.store(report(3, JobState.Cancelled, 'aborted'));
    expect(sentIds()).toEqual([1]);
    expect(readStored(dir).map((r) => r.jobId)).toEqual([1, 2, 3]);

    for (const [attempt, delayMs] of [[2, 1000], [3, 2000], [4, 4000], [5, 8000], [6, 8000]] as const) {
      await vi.advanceTimersByTimeAsync(delayMs - 1);
      expect(hub.calls).toHaveLength(attempt - 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(hub.calls).toHaveLength(attempt);
    }
    expect(sentIds()).toEqual([1, 1, 1, 1, 1, 1]);
    expect(records.filter((r) => r.msg === 'could not report job; keeping it for later')).toHaveLength(6);

    hubDown = false;
    await vi.advanceTimersByTimeAsync(8000);
    await expect.poll(() => readdirSync(dir)).toEqual([]);
    expect(sentIds()).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 3]);
    expect(hub.calls.at(-2)?.report).toEqual(report(2, JobState.DoneFailure, 'directory not found'));
  });

  it('logs a report the hub answers with status -1 and drops it', async () => {
    hub.script.push({ status: -1 });

    await outbox.store(report(1, JobState.DoneFailure, 'rclone crashed'));
    await outbox.store(report(2));

    await expect.poll(() => readdirSync(dir)).toEqual([]);
    expect(sentIds()).toEqual([1, 2]);
    expect(records.find((r) => r.jobId === 1 && r.status === -1)).toMatchObject({ level: 40, state: 'DoneFailure' });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(sentIds()).toEqual([1, 2]);
  });

  it('drops a report the hub refuses permanently, with an error log, and goes on with the next', async () => {
    hub.script.push(new HubError('reportJob: HTTP 400 The JSON value could not be converted', 400, { permanent: true }));

    await outbox.store(report(1));
    await outbox.store(report(2));

    await expect.poll(() => readdirSync(dir)).toEqual([]);
    expect(sentIds()).toEqual([1, 2]);
    expect(records.find((r) => r.level === 50 && r.jobId === 1)).toMatchObject({ msg: 'hub refused the report; dropping it' });
  });

  it('keeps a report whose answer is malformed (a bad answer, not a delivery) and sends it again', async () => {
    hub.script.push(new HubError('hub reportJob answered text, not {"status": <integer>}', 200));

    await outbox.store(report(1));
    expect(readStored(dir)).toEqual([report(1)]);
    await vi.advanceTimersByTimeAsync(1000);
    await expect.poll(() => readdirSync(dir)).toEqual([]);
    expect(sentIds()).toEqual([1, 1]);
  });

  it('delivers on load() the reports a previous run stored; a crashed write and an unreadable record are cleared away, the latter kept aside', async () => {
    // The hub never answers the first send before the "crash".
    hub.script.push(new Deferred<ReportResult>());
    await outbox.store(report(4, JobState.DoneFailure, 'worker shutting down'));
    await outbox.store(report(5));
    outbox.stop();
    // Both stored, neither delivered (the first send never got an answer before the "crash").
    hub = new ScriptedHub(dir);
    writeFileSync(join(dir, '6-abcd.json.1234.tmp'), '{"format":1,', { mode: 0o600 });
    writeFileSync(join(dir, '7-beef.json'), '{"format":1,"report":', { mode: 0o600 });

    outbox = newOutbox();
    await outbox.load();

    await expect.poll(() => readdirSync(dir).filter((n) => n.endsWith('.json') || n.endsWith('.tmp'))).toEqual([]);
    expect(hub.calls.map((c) => c.report)).toEqual([report(4, JobState.DoneFailure, 'worker shutting down'), report(5)]);
    expect(readdirSync(dir).filter((n) => n.startsWith('7-beef.json.corrupt-'))).toHaveLength(1);
    expect(records.filter((r) => r.level === 50).map((r) => r.msg)).toEqual(['job report record cannot be read; moved aside for an operator']);
  });

  it('takes over the single pending-reports file of an earlier version', async () => {
    const legacy = join(root, 'pending-reports.json');
    writeFileSync(legacy, JSON.stringify([report(4, JobState.DoneFailure, 'worker shutting down'), { jobId: 'x' }, report(5)]), { mode: 0o600 });

    outbox = newOutbox({ legacyFile: legacy });
    await outbox.load();

    await expect.poll(() => readdirSync(dir)).toEqual([]);
    expect(hub.calls.map((c) => c.report)).toEqual([report(4, JobState.DoneFailure, 'worker shutting down'), report(5)]);
    expect(() => statSync(legacy)).toThrow();
  });

  it('on a full disk: store() waits (one error line), sends nothing, and resolves once the report is stored', async () => {
    disk.full = true;
    let stored: boolean | undefined;
    void outbox.store(report(1, JobState.DoneSuccess)).then((s) => (stored = s));
    // The first attempt is real file I/O: wait for its error line, then let the backoff run.
    await expect.poll(() => records.filter((r) => r.level === 50)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(stored).toBeUndefined();
    expect(hub.calls).toEqual([]);
    expect(readStored(dir)).toEqual([]);
    const errors = records.filter((r) => r.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ jobId: 1, errno: 'ENOSPC' });

    disk.full = false;
    await vi.advanceTimersByTimeAsync(4000);
    await expect.poll(() => stored).toBe(true);
    await expect.poll(() => sentIds()).toEqual([1]);
    // The hub saw it only once it was on disk.
    expect(hub.calls[0]?.onDisk).toEqual([report(1)]);
  });

  it('on a full disk at shutdown: closing() lets store() give up, and flush() sends the report from memory', async () => {
    disk.full = true;
    const storing = outbox.store(report(1, JobState.DoneFailure, 'worker shutting down'));
    await expect.poll(() => records.filter((r) => r.level === 50)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(hub.calls).toEqual([]);

    outbox.closing();
    expect(await storing).toBe(false);
    expect(await outbox.flush(1000)).toBe(true);
    expect(sentIds()).toEqual([1]);
    expect(readStored(dir)).toEqual([]);
  });

  it('flush(timeout) resolves false when the hub stays down and true once everything is delivered', async () => {
    expect(await outbox.flush(1000)).toBe(true);

    let hubDown = true;
    hub.fallback = () => (hubDown ? outage() : { status: 0 });
    await outbox.store(report(1));
    await outbox.store(report(2));

    const timedOut = outbox.flush(5000);
    // flush retries at once instead of waiting for the backoff timer.
    expect(hub.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await timedOut).toBe(false);
    expect(readStored(dir).map((r) => r.jobId)).toEqual([1, 2]);

    hubDown = false;
    expect(await outbox.flush(5000)).toBe(true);
    expect(outbox.pending()).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
