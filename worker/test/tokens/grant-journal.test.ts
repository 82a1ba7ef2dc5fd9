/** The grant journal on a real file system (grant-journal.ts). */
import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileJournalMedium, GrantJournal, GrantJournalError, type JournaledGrant } from '../../src/tokens/grant-journal.js';
import type { Logger } from '../../src/log/logger.js';
import { recordingLogger } from '../support/recording-logger.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'grant-journal-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

function grant(storageId: number, refreshToken: string, overrides: Partial<JournaledGrant> = {}): JournaledGrant {
  return {
    storageId,
    uriSchema: `od-${storageId}`,
    technology: 'onedrive',
    client: 'c0ffee00',
    refreshToken,
    supersededRefreshTokens: ['M.C5-rt-0'],
    accessToken: `EwB-at-for-${refreshToken}`,
    tokenType: 'Bearer',
    expiresAt: 1_800_000_000_000,
    issuedAt: 1_799_999_000_000,
    journaledAt: 1_799_999_000_100,
    ...overrides,
  };
}

/** The journal as the worker builds it: files under `dir`. */
const fileJournal = (dir: string, logger: Logger) => new GrantJournal(new FileJournalMedium(dir, logger), logger);

describe('GrantJournal on files', () => {
  it('writes one private file per storage in a private directory, and a new run recovers it', async () => {
    const dir = join(root, 'grants');
    const journal = fileJournal(dir, recordingLogger().logger);
    await journal.load();
    await journal.write(grant(7, 'M.C5-rt-1'));
    await journal.write(grant(7, 'M.C5-rt-2', { supersededRefreshTokens: ['M.C5-rt-1', 'M.C5-rt-0'] }));
    await journal.write(grant(9, 'M.C5-rt-9'));

    expect((await readdir(dir)).sort()).toEqual(['7.json', '9.json']);
    expect(await modeOf(dir)).toBe(0o700);
    expect(await modeOf(join(dir, '7.json'))).toBe(0o600);
    // Written by this run: nothing to recover.
    expect(journal.unsettled()).toEqual([]);

    const { logger, records } = recordingLogger();
    const next = fileJournal(dir, logger);
    await next.load();
    expect(next.unsettled().sort()).toEqual([7, 9]);
    expect(next.takeRecovered(7)).toEqual(grant(7, 'M.C5-rt-2', { supersededRefreshTokens: ['M.C5-rt-1', 'M.C5-rt-0'] }));
    expect(next.takeRecovered(7)).toBeUndefined();
    expect(next.unsettled()).toEqual([9]);
    expect(records.filter((r) => r.msg.startsWith('grant journal holds rotated refresh tokens'))).toHaveLength(1);
    expect(JSON.stringify(records)).not.toContain('M.C5-rt');
  });

  it('removes an entry only while it still holds the refresh token the hub stored', async () => {
    const dir = join(root, 'grants');
    const journal = fileJournal(dir, recordingLogger().logger);
    await journal.write(grant(7, 'M.C5-rt-1'));
    await journal.write(grant(7, 'M.C5-rt-2'));
    // The save of rt-1 lands after rt-2 was journaled: rt-2 must stay.
    await journal.remove(7, 'M.C5-rt-1');
    expect(await readdir(dir)).toEqual(['7.json']);
    await journal.remove(7, 'M.C5-rt-2');
    expect(await readdir(dir)).toEqual([]);
    await journal.remove(7); // nothing left: no error
  });

  it('drops temp files of an interrupted write and moves an unreadable entry aside without logging its content', async () => {
    const dir = join(root, 'grants');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '7.json'), JSON.stringify({ format: 1, ...grant(7, 'M.C5-rt-1') }));
    await writeFile(join(dir, '7.json.1a2b3c4d.tmp'), '{"format":1,"storageId":7,"refreshToken":"M.C5-rt-half');
    await writeFile(join(dir, '8.json'), '{"format":1,"refreshToken":"M.C5-rt-secret-in-broken-json" oops}');
    await writeFile(join(dir, '9.json'), JSON.stringify({ format: 1, ...grant(10, 'M.C5-rt-10') }));

    const { logger, records } = recordingLogger();
    const journal = fileJournal(dir, logger);
    await journal.load();

    expect(journal.unsettled()).toEqual([7]);
    const names = (await readdir(dir)).sort();
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(names.filter((n) => n.startsWith('8.json.corrupt-'))).toHaveLength(1);
    expect(names.filter((n) => n.startsWith('9.json.corrupt-'))).toHaveLength(1);
    const problems = records.filter((r) => r.msg === 'grant journal entry cannot be read; moved aside for an operator');
    expect(problems.map((r) => r.reason).sort()).toEqual(['not valid JSON', 'storage id does not match the file name']);
    expect(JSON.stringify(records)).not.toContain('M.C5-rt');
  });

  it('fails a write with a coded error naming the system error, and leaves no temp file', async () => {
    // A regular file where the journal's directory should be: every write fails (ENOTDIR/EEXIST).
    const dir = join(root, 'grants');
    await writeFile(dir, 'not a directory');
    const { logger, records } = recordingLogger();
    const journal = fileJournal(dir, logger);
    await journal.load(); // never throws
    expect(records.some((r) => r.msg.startsWith('grant journal cannot be read') && r.level === 50)).toBe(true);

    const failure = await journal.write(grant(7, 'M.C5-rt-1')).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(GrantJournalError);
    expect(failure).toMatchObject({ code: 'WORKER_ERR_GRANT_JOURNAL' });
    expect((failure as GrantJournalError).errno).toMatch(/^E[A-Z]+$/);
    expect((failure as Error).message).not.toContain('M.C5-rt');
    expect(await readFile(dir, 'utf8')).toBe('not a directory');
    expect((await readdir(root)).sort()).toEqual(['grants']);
  });
});
