/**
 * An in-memory grant journal for broker tests: it keeps what a file journal would keep, records
 * every write and removal in order, can be seeded with what a "previous run" left, and fails
 * writes on demand the way a full or read-only state directory does.
 */
import { GrantJournalError, type GrantJournal, type JournaledGrant } from '../../src/tokens/grant-journal.js';

export class MemoryGrantJournal implements GrantJournal {
  /** What is "on disk" per storage. */
  readonly entries = new Map<number, JournaledGrant>();
  /** Every change, in order: `write <storageId> <refreshToken>` / `remove <storageId> <refreshToken>`. */
  readonly events: string[] = [];
  /** When set, writes fail with this system error code (e.g. `ENOSPC`, `EACCES`). */
  failWrites: string | undefined;
  private readonly recovered = new Map<number, JournaledGrant>();
  private gate: Promise<void> | undefined;

  /** Writes from now on wait (as on a slow disk) until the returned function is called. */
  hold(): () => void {
    let release: () => void = () => undefined;
    this.gate = new Promise((resolve) => {
      release = () => {
        this.gate = undefined;
        resolve();
      };
    });
    return release;
  }

  /** As if a previous run had journaled `grant` and crashed before the hub saved it. */
  seed(grant: JournaledGrant): void {
    this.entries.set(grant.storageId, structuredClone(grant));
    this.recovered.set(grant.storageId, structuredClone(grant));
  }

  async write(grant: JournaledGrant): Promise<void> {
    await this.gate;
    if (this.failWrites) {
      const cause = Object.assign(new Error(`${this.failWrites}: simulated`), { code: this.failWrites });
      throw new GrantJournalError(`cannot journal the rotated grant of ${grant.uriSchema}: ${cause.message}`, this.failWrites, { cause });
    }
    this.entries.set(grant.storageId, structuredClone(grant));
    this.recovered.delete(grant.storageId);
    this.events.push(`write ${grant.storageId} ${grant.refreshToken}`);
  }

  async remove(storageId: number, refreshToken?: string): Promise<void> {
    const held = this.entries.get(storageId);
    if (!held || (refreshToken !== undefined && held.refreshToken !== refreshToken)) return;
    this.entries.delete(storageId);
    this.recovered.delete(storageId);
    this.events.push(`remove ${storageId} ${held.refreshToken}`);
  }

  takeRecovered(storageId: number): JournaledGrant | undefined {
    const grant = this.recovered.get(storageId);
    this.recovered.delete(storageId);
    return grant;
  }

  unsettled(): number[] {
    return [...this.recovered.keys()];
  }
}
