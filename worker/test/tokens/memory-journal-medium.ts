/**
 * A journal medium in memory, for broker tests (the journal's bookkeeping is the real one): it
 * keeps what files would keep, records every change in order, can be seeded with what a
 * "previous run" left, holds writes like a slow disk, and fails them like a full or read-only one.
 */
import type { JournalMedium, JournaledGrant } from '../../src/tokens/grant-journal.js';

export class MemoryJournalMedium implements JournalMedium {
  /** What is "on disk" per storage. */
  readonly entries = new Map<number, JournaledGrant>();
  /** Every change, in order: `write <storageId> <refreshToken>` / `remove <storageId> <refreshToken>`. */
  readonly events: string[] = [];
  /** When set, writes fail with this system error code (e.g. `ENOSPC`, `EACCES`), as fs calls do. */
  failWrites: string | undefined;
  private gate: Promise<void> | undefined;

  /** As if a previous run had journaled `grant` and crashed before the hub saved it. */
  seed(grant: JournaledGrant): void {
    this.entries.set(grant.storageId, structuredClone(grant));
  }

  /** Writes from now on wait until the returned function is called. */
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

  async readAll(): Promise<JournaledGrant[]> {
    return [...this.entries.values()].map((g) => structuredClone(g));
  }

  async put(grant: JournaledGrant): Promise<void> {
    await this.gate;
    if (this.failWrites) throw Object.assign(new Error(`${this.failWrites}: no space left on device (simulated)`), { code: this.failWrites });
    this.entries.set(grant.storageId, structuredClone(grant));
    this.events.push(`write ${grant.storageId} ${grant.refreshToken}`);
  }

  async delete(storageId: number): Promise<void> {
    const held = this.entries.get(storageId);
    this.entries.delete(storageId);
    if (held) this.events.push(`remove ${storageId} ${held.refreshToken}`);
  }
}
