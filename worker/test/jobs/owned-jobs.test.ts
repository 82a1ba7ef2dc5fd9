import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OwnedJobs } from '../../src/jobs/owned-jobs.js';
import { job, recordingLogger } from './job-runner-fakes.js';

let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'owned-jobs-'));
  dir = join(root, 'jobs');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('OwnedJobs', () => {
  it('records a job without the storage rows the hub embedded (no secrets), 0600, and gives it back after a restart', async () => {
    const first = new OwnedJobs(dir, recordingLogger().logger);
    const acquired = job(7);
    const withRow = { ...acquired, sourceEndpoint: { ...acquired.sourceEndpoint, storage: { id: 20, technology: 'gcs', uriSchema: 'g', refreshToken: 'rt-secret' } } };
    await first.record(withRow as typeof acquired);
    expect(statSync(join(dir, '7.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, '7.json'), 'utf8')).not.toContain('rt-secret');

    const second = new OwnedJobs(dir, recordingLogger().logger);
    await second.load();
    expect(second.takeRecovered()).toEqual([acquired]);
    expect(second.takeRecovered()).toEqual([]);
  });

  it('drops at load the records of jobs whose report is pending, and moves an unreadable record aside', async () => {
    const first = new OwnedJobs(dir, recordingLogger().logger);
    await first.record(job(1));
    await first.record(job(2));
    writeFileSync(join(dir, '3.json'), '{"format":1,"job":{"id":4}}');

    const log = recordingLogger();
    const second = new OwnedJobs(dir, log.logger);
    await second.load([1]);
    expect(second.takeRecovered().map((j) => j.id)).toEqual([2]);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toEqual(['2.json']);
    expect(readdirSync(dir).some((n) => n.startsWith('3.json.corrupt-'))).toBe(true);
    expect(log.records.filter((r) => r.level === 50).map((r) => r.msg)).toEqual(['owned job record cannot be read; moved aside for an operator']);
  });

  it('release removes the record', async () => {
    const owned = new OwnedJobs(dir, recordingLogger().logger);
    await owned.record(job(1));
    await owned.release(1);
    await owned.release(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});
