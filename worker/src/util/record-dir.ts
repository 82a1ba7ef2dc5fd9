/**
 * A directory of small JSON records, one file each, that must survive a crash: written durably
 * (durable-file.ts), mode 0600 in a 0700 directory. One file per record, not one file for all:
 * adding a record needs room for that record only, and removing one is an unlink, which works on
 * a full disk — so a full state directory never keeps a record that was done with.
 *
 * Reading back: a temp file is a write that a crash interrupted before its rename (the record it
 * was replacing, if any, is still whole) and is removed; a file that cannot be parsed is moved
 * aside (`<name>.corrupt-<time>`) for an operator, never deleted, and named in one error line
 * without its content (records may hold what the worker keeps private).
 */
import { chmod, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { removeFileDurable, writeFileDurable } from './durable-file.js';

export class RecordDir {
  constructor(
    readonly dir: string,
    /** What the records are, for log lines ("job report", "owned job"). */
    private readonly what: string,
    private readonly log: Logger,
  ) {}

  /** Every record `parse` accepts, by file name; `parse` throws for a record it cannot read. */
  async readAll<T>(parse: (value: unknown, name: string) => T): Promise<{ name: string; record: T }[]> {
    await this.ensure();
    const records: { name: string; record: T }[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      const path = join(this.dir, name);
      if (name.endsWith('.tmp')) {
        await rm(path, { force: true }).catch(() => undefined);
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        records.push({ name, record: parse(JSON.parse(await readFile(path, 'utf8')) as unknown, name) });
      } catch (err) {
        const aside = `${path}.corrupt-${Date.now()}`;
        await rename(path, aside).catch(() => undefined);
        // V8's JSON errors can quote the text they choke on: no details of the content.
        const reason = err instanceof SyntaxError ? 'not valid JSON' : errorMessage(err);
        this.log.error({ file: aside, reason }, `${this.what} record cannot be read; moved aside for an operator`);
      }
    }
    return records;
  }

  /** Durable once resolved; replaces a record of the same name. */
  async put(name: string, value: unknown): Promise<void> {
    await this.ensure();
    await writeFileDurable(join(this.dir, name), `${JSON.stringify(value)}\n`);
  }

  /** Durable once resolved; a missing record counts as removed. */
  remove(name: string): Promise<void> {
    return removeFileDurable(join(this.dir, name));
  }

  private async ensure(): Promise<void> {
    const created = await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask; a directory we created gets exactly 0700.
    if (created !== undefined) await chmod(this.dir, 0o700);
  }
}

/** The system error code of a failed file operation (`ENOSPC`, `EROFS`, …), for log lines. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
